"""The tiny pixel-space configuration: the U-Net config, the hashing tokenizer (pinned ids), the
text encoder, the seeded build and the tiny base folder round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from adstage.errors import InputError  # noqa: E402
from adstage.generate.base import PixelSpace, TextEncoder  # noqa: E402
from adstage.generate.refadgen import CONTEXT_TEXT  # noqa: E402
from adstage.generate.tiny import (  # noqa: E402
    TEXT_ENCODER_FILE,
    TINY_BASE_FILE,
    HashTokenizer,
    TinyConfig,
    TinyTextEncoder,
    build_tiny,
    load_tiny_base,
    save_tiny_base,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = TinyConfig(resolution=32, block_out_channels=(16, 32, 32))


def test_unet_config_is_pixel_space_with_attention_at_the_lowest_levels():
    """Attention (fusion and cross) only at the ``attention_levels`` lowest resolutions: by
    default the lowest (16² at 64 px), the full resolution never."""
    config = TinyConfig().unet_config()
    assert config["in_channels"] == config["out_channels"] == 3
    assert config["cross_attention_dim"] == TinyConfig().cross_attention_dim
    assert config["down_block_types"] == ["DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"]
    assert config["up_block_types"] == ["CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"]
    two = TinyConfig(attention_levels=2).unet_config()
    assert two["down_block_types"] == [
        "DownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
    ]
    assert TinyConfig().multiple == 4
    with pytest.raises(InputError, match="attention_levels"):
        TinyConfig(attention_levels=3)
    # a tiny-base.json written before attention_levels existed keeps its architecture
    old = TinyConfig().as_dict()
    del old["attention_levels"]
    assert TinyConfig.from_dict(old).attention_levels == 2


def test_bad_configs_are_input_errors():
    with pytest.raises(InputError, match="block_out_channels"):
        TinyConfig(block_out_channels=(12, 32))
    with pytest.raises(InputError, match="text_heads"):
        TinyConfig(text_heads=5)
    with pytest.raises(InputError, match="resolution"):
        TinyConfig(resolution=30)
    with pytest.raises(InputError, match="unknown keys"):
        TinyConfig.from_dict({"width": 3})


def test_hash_tokenizer_is_pinned_and_truncates():
    tok = HashTokenizer(vocab_size=4096, max_tokens=6)
    # pinned: CRC-32 of the lower-cased words, the same in every process and on every machine
    assert tok.ids("A red Vase!") == [1, 2280, 2721, 1701, 2, 0]
    assert tok.ids("") == [1, 2, 0, 0, 0, 0]
    assert tok.ids("one two three four five six") == [1, *tok.ids("one two three four")[1:5], 2]
    ids = tok(["a red vase", ""])
    assert ids.dtype == torch.long and ids.shape == (2, 6)
    with pytest.raises(InputError, match="list of strings"):
        tok("a red vase")


def test_text_encoder_implements_the_protocol():
    encoder = TinyTextEncoder(SMALL)
    assert isinstance(encoder.name, str)
    protocol: TextEncoder = encoder
    out = protocol(["a red vase", "", "a chair"])
    assert out.shape == (3, SMALL.max_tokens, SMALL.cross_attention_dim)
    assert not torch.equal(out[0], out[1])


def test_build_is_seeded_and_leaves_the_global_stream_alone():
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    model, text = build_tiny(SMALL, seed=0)
    assert torch.equal(torch.rand(4), expected)
    again, text2 = build_tiny(SMALL, seed=0)
    other, _ = build_tiny(SMALL, seed=1)
    sd, sd2 = model.state_dict(), again.state_dict()
    assert all(torch.equal(sd[k], sd2[k]) for k in sd)
    assert not torch.equal(sd["unet.conv_in.weight"], other.state_dict()["unet.conv_in.weight"])
    assert all(
        torch.equal(a, b) for a, b in zip(text.parameters(), text2.parameters(), strict=True)
    )
    assert model.proj is None and model.context == CONTEXT_TEXT
    assert model.unet.conv_in.in_channels == 4 and model.ref_unet.conv_in.in_channels == 3
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    mask = torch.zeros(2, 1, 32, 32)
    with torch.no_grad():
        pred = model(text(["a", "b"]), torch.cat([x, mask], 1), x, None, torch.tensor([1, 900]))
    assert pred.shape == (2, 3, 32, 32)


def test_tiny_base_round_trip(tmp_path: Path):
    _, text = build_tiny(SMALL, seed=3)
    folder = save_tiny_base(tmp_path / "base", SMALL, text)
    assert {p.name for p in folder.iterdir()} == {TINY_BASE_FILE, TEXT_ENCODER_FILE}
    record = json.loads((folder / TINY_BASE_FILE).read_text())
    assert record["config"]["block_out_channels"] == [16, 32, 32]
    base = load_tiny_base(folder)
    assert base.config == SMALL and base.unet_config == SMALL.unet_config()
    assert isinstance(base.autoencoder, PixelSpace)
    prompts = ["a red vase", ""]
    with torch.no_grad():
        assert torch.equal(base.text_encoder(prompts), text.eval()(prompts))


def test_not_a_tiny_base(tmp_path: Path):
    with pytest.raises(InputError, match="not a tiny base"):
        load_tiny_base(tmp_path)
    (tmp_path / TINY_BASE_FILE).write_text('{"format": "adstage-tiny-base", "version": 1, '
                                           '"config": {}}')  # fmt: skip
    with pytest.raises(InputError, match="cannot read the tiny text encoder"):
        load_tiny_base(tmp_path)
