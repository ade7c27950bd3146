"""RefAdGen checkpoints: adstage's folder reproduces a model bit for bit, the released DeepSpeed
layout (parity state dict, fp32 and fp16) loads and matches the release's forward, conversion
keeps every key and value, and a checkpoint of another architecture is one clear InputError."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import refadgen_parity as parity  # noqa: E402
from adstage.errors import InputError  # noqa: E402
from adstage.generate.checkpoints import (  # noqa: E402
    CONFIG_NAME,
    FORMAT,
    RELEASE_NAME,
    SD15_UNET_CONFIG,
    WEIGHTS_NAME,
    checkpoint_kind,
    convert,
    infer_resampler,
    load_refadgen,
    save_refadgen,
    save_release,
)
from adstage.generate.refadgen import RefAdGen, build  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RESAMPLER = {"dim": 32, "depth": 2, "dim_head": 64, "heads": 2, "num_queries": 4,
             "embedding_dim": 24, "output_dim": 32, "ff_mult": 2}  # fmt: skip
"""A small Resampler with the released head width (64), so it can be inferred from shapes."""
ALIAS = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_k_ref.weight"


def tiny(seed: int = 0, resampler: dict | None = RESAMPLER, unet: dict | None = None) -> RefAdGen:
    """A tiny random model with every weight perturbed (the zero mask channel, the to_k copies
    and the default norms included), so a path that drops or swaps a tensor shows."""
    torch.manual_seed(seed)
    model = build(unet or parity.TINY_UNET, resampler)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.02)
    return model.eval()


def inputs(model: RefAdGen, seed: int = 1) -> tuple:
    g = torch.Generator().manual_seed(seed)
    cross = model.info.unet_config["cross_attention_dim"]
    image = None if model.proj is None else torch.randn(2, 9, model.proj.config.embedding_dim, generator=g)  # fmt: skip
    return (
        torch.randn(2, 7, cross, generator=g),
        torch.randn(2, 5, 16, 16, generator=g),
        torch.randn(2, 4, 16, 16, generator=g),
        image,
        torch.tensor([10, 500]),
    )


def run(model: RefAdGen, args: tuple) -> torch.Tensor:
    with torch.no_grad():
        return model(*args)


def write_release(path: Path, state_dict: dict, **more) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"module": state_dict, **more}, path)
    return path


# --- the adstage folder -----------------------------------------------------------------------


def test_save_load_reproduces_the_model_bit_for_bit(tmp_path: Path) -> None:
    model = tiny()
    model.set_fusion_scale(0.7)
    args = inputs(model)
    before = run(model, args)
    folder = save_refadgen(model, tmp_path / "m", extra={"note": "seed 0"})
    assert folder == tmp_path / "m"
    meta = json.loads((folder / CONFIG_NAME).read_text())
    assert meta["format"] == FORMAT and meta["note"] == "seed 0"
    assert meta["fusion_scale"] == 0.7 and meta["dtype"] == "float32"
    assert meta["model"] == json.loads(json.dumps(model.info.as_dict()))
    from safetensors.torch import load_file

    stored = load_file(folder / WEIGHTS_NAME)
    assert not any(k.startswith("adapter_modules.") for k in stored)
    assert set(stored) | {k for k in model.state_dict() if k.startswith("adapter_modules.")} == set(
        model.state_dict()
    )
    for where in (folder, folder / CONFIG_NAME, folder / WEIGHTS_NAME):
        assert checkpoint_kind(where) == "adstage"
        loaded = load_refadgen(where)
        assert loaded.fusion_scale == 0.7 and not loaded.training
        assert torch.equal(run(loaded, args), before)
    sd = loaded.state_dict()  # the duplicates are one tensor again, as released
    assert sd[ALIAS].data_ptr() == sd["adapter_modules.0.to_k_ref.weight"].data_ptr()
    assert list(sd) == list(model.state_dict())


def test_save_without_resampler_and_in_another_dtype(tmp_path: Path) -> None:
    model = tiny(resampler=None)
    args = inputs(model)
    save_refadgen(model, tmp_path / "m")
    loaded = load_refadgen(tmp_path / "m")
    assert loaded.proj is None and torch.equal(run(loaded, args), run(model, args))
    half = load_refadgen(tmp_path / "m", dtype=torch.float16)
    assert {p.dtype for p in half.parameters()} == {torch.float16}


def test_extra_may_not_replace_the_own_fields(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="format"):
        save_refadgen(tiny(), tmp_path / "m", extra={"format": "mine"})
    assert not (tmp_path / "m" / CONFIG_NAME).exists()


# --- the released layout ----------------------------------------------------------------------


def test_resampler_config_is_inferred_from_the_release_shapes() -> None:
    assert infer_resampler(parity.tensors("state_dict")) == parity.resampler_config()
    assert infer_resampler(tiny().state_dict()) == RESAMPLER
    assert infer_resampler(tiny(resampler=None).state_dict()) is None


def _parity_forward(model: RefAdGen, scale: float = 1.0) -> torch.Tensor:
    i = parity.tensors("inputs")
    model.set_fusion_scale(scale)
    return run(
        model,
        (
            i["forward.encoder_hidden_states"],
            i["forward.latents_5ch"],
            i["forward.ref_latents"],
            i["forward.clip_image_embeddings"],
            i["forward.timesteps"],
        ),
    )


def test_the_release_file_of_the_parity_state_dict_matches_the_release(tmp_path: Path) -> None:
    sd = parity.tensors("state_dict")
    path = write_release(tmp_path / RELEASE_NAME, sd)
    model = load_refadgen(path, unet_config=parity.config()["unet_config_requested"])
    assert model.info.resampler == parity.resampler_config()
    tol = parity.atol("forward.noise_pred.*")
    for scale in (1.0, 0.5):
        golden = parity.tensors("outputs")[f"forward.noise_pred.scale_{scale}"]
        assert float((_parity_forward(model, scale) - golden).abs().max()) <= tol


def test_the_fp16_release_file_loads_as_its_fp16_weights(tmp_path: Path) -> None:
    """fp16 as released: loaded in fp32 it is exactly the model with the fp16-rounded weights
    (rounding moves the parity output by ~1e-3, more than the fp32 tolerance, so the golden
    output is checked loosely)."""
    sd = parity.tensors("state_dict")
    path = write_release(tmp_path / RELEASE_NAME, {k: v.half() for k, v in sd.items()})
    config = parity.config()["unet_config_requested"]
    model = load_refadgen(path, unet_config=config)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    reference = build(config, parity.resampler_config())
    reference.load_state_dict({k: v.half().float() for k, v in sd.items()}, strict=True)
    pred = _parity_forward(model)
    assert torch.equal(pred, _parity_forward(reference.eval()))
    golden = parity.tensors("outputs")["forward.noise_pred.scale_1.0"]
    assert float((pred - golden).abs().max()) <= 1e-2
    kept = load_refadgen(path, unet_config=config, dtype=None)
    assert {p.dtype for p in kept.parameters()} == {torch.float16}


def test_release_to_adstage_to_release_keeps_every_key_and_value(tmp_path: Path) -> None:
    source = tiny().half().state_dict()
    release = write_release(tmp_path / "rel" / RELEASE_NAME, source)
    folder = convert(release, tmp_path / "ad", to="adstage", unet_config=parity.TINY_UNET)
    assert checkpoint_kind(folder) == "adstage"
    assert json.loads((folder / CONFIG_NAME).read_text())["dtype"] == "float16"
    back = convert(folder, tmp_path / "back.pt", to="release")
    assert back == tmp_path / "back.pt"
    again = torch.load(back, weights_only=True)["module"]
    assert list(again) == list(source)
    for key, value in source.items():
        assert again[key].dtype == value.dtype and torch.equal(again[key], value), key
    assert again[ALIAS].data_ptr() == again["adapter_modules.0.to_k_ref.weight"].data_ptr()
    (tmp_path / "dir").mkdir()  # an existing folder gets the DeepSpeed file name
    assert convert(folder, tmp_path / "dir", to="release") == tmp_path / "dir" / RELEASE_NAME


def test_save_release_writes_the_released_layout(tmp_path: Path) -> None:
    model = tiny(resampler=None)
    path = save_release(model, tmp_path / "r.pt")
    sd = torch.load(path, weights_only=True)["module"]
    assert list(sd) == list(model.state_dict())
    loaded = load_refadgen(path, unet_config=parity.TINY_UNET)
    assert loaded.proj is None  # no proj.* keys: the text fallback
    args = inputs(model)
    assert torch.equal(run(loaded, args), run(model, args))


def test_a_folder_of_deepspeed_checkpoints_loads_the_latest_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    early, late = tiny(seed=0), tiny(seed=1)
    write_release(tmp_path / "checkpoint-900" / "pytorch_model" / RELEASE_NAME, early.state_dict())
    write_release(tmp_path / "checkpoint-1200" / "pytorch_model" / RELEASE_NAME, late.state_dict())
    with caplog.at_level(logging.INFO, logger="adstage.generate.checkpoints"):
        loaded = load_refadgen(tmp_path, unet_config=parity.TINY_UNET)
    assert "checkpoint-1200" in caplog.text and "2 DeepSpeed checkpoints" in caplog.text
    args = inputs(late)
    assert torch.equal(run(loaded, args), run(late, args))


def test_a_pickle_with_other_objects_needs_trust(tmp_path: Path) -> None:
    model = tiny(resampler=None)
    path = write_release(tmp_path / "ds.pt", model.state_dict(), args=argparse.Namespace(lr=1e-5))
    with pytest.raises(InputError, match="trust=True") as info:
        load_refadgen(path, unet_config=parity.TINY_UNET)
    assert "--trust-checkpoint" in str(info.value) and str(path) in str(info.value)
    loaded = load_refadgen(path, unet_config=parity.TINY_UNET, trust=True)
    args = inputs(model)
    assert torch.equal(run(loaded, args), run(model, args))


# --- the wrong checkpoint ---------------------------------------------------------------------


def test_another_architecture_is_one_clear_input_error(tmp_path: Path) -> None:
    wider = dict(parity.TINY_UNET, block_out_channels=[16, 32])
    path = write_release(tmp_path / "other.pt", tiny(unet=wider).state_dict())
    with pytest.raises(InputError) as info:
        load_refadgen(path, unet_config=parity.TINY_UNET)
    message = str(info.value)
    assert str(path) in message and "expected architecture" in message
    assert "U-Net blocks (32, 64)" in message and "keys of another shape" in message
    assert "unet.conv_in.weight is [16, 5, 3, 3], expected [32, 5, 3, 3]" in message
    assert len(message.splitlines()) == 1
    # without a config, SD-1.5 is expected, and the message says how to give another
    with pytest.raises(InputError, match="--unet-config") as info:
        load_refadgen(path)
    widths = tuple(SD15_UNET_CONFIG["block_out_channels"])
    assert f"U-Net blocks {widths}" in str(info.value) and "missing keys" in str(info.value)


def test_missing_and_unexpected_keys_are_counted_and_named(tmp_path: Path) -> None:
    sd = tiny(resampler=None).state_dict()
    del sd["unet.conv_in.bias"], sd["ref_unet.conv_out.weight"]
    sd["unet.extra.weight"] = torch.zeros(1)
    path = write_release(tmp_path / "bad.pt", sd)
    with pytest.raises(InputError) as info:
        load_refadgen(path, unet_config=parity.TINY_UNET)
    message = str(info.value)
    assert "2 missing keys (unet.conv_in.bias, ref_unet.conv_out.weight)" in message
    assert "1 unexpected keys (unet.extra.weight)" in message
    # a Resampler where the file has none (resampler given explicitly)
    with pytest.raises(InputError, match=r"missing keys \(proj\.latents"):
        load_refadgen(write_release(tmp_path / "ok.pt", tiny(resampler=None).state_dict()),
                      unet_config=parity.TINY_UNET, resampler=RESAMPLER)  # fmt: skip


def test_differing_duplicates_are_a_damaged_file(tmp_path: Path) -> None:
    sd = {k: v.clone() for k, v in tiny(resampler=None).state_dict().items()}
    sd["adapter_modules.0.to_k_ref.weight"] += 1
    with pytest.raises(InputError, match="two copies of the fusion weights differ"):
        load_refadgen(write_release(tmp_path / "x.pt", sd), unet_config=parity.TINY_UNET)


def test_files_that_are_not_checkpoints(tmp_path: Path) -> None:
    good = save_release(tiny(resampler=None), tmp_path / "good.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(good[: len(good) // 2])
    (tmp_path / "random.pt").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "text.pt").write_text("hello\n")
    for name in ("truncated.pt", "random.pt", "text.pt"):
        with pytest.raises(InputError, match="checkpoint: .*" + name):
            load_refadgen(tmp_path / name, unet_config=parity.TINY_UNET)
    torch.save({"weights": [1, 2]}, tmp_path / "foreign.pt")
    with pytest.raises(InputError, match="no \\['module'\\] state dict"):
        load_refadgen(tmp_path / "foreign.pt")
    with pytest.raises(InputError, match="does not exist"):
        load_refadgen(tmp_path / "absent.pt")
    with pytest.raises(InputError, match="holds neither"):
        load_refadgen(tmp_path)  # a folder of neither format
    folder = save_refadgen(tiny(resampler=None), tmp_path / "m")
    (folder / WEIGHTS_NAME).write_bytes(b"\0" * 64)
    with pytest.raises(InputError, match="not a safetensors file"):
        load_refadgen(folder)
    (folder / CONFIG_NAME).write_text(json.dumps({"format": "something/9"}))
    with pytest.raises(InputError, match="format 'something/9', expected 'adstage-refadgen/1'"):
        load_refadgen(folder)


def test_ip_adapter_image_proj_initialises_the_resampler(tmp_path):
    """The .bin (torch pickle) and .safetensors IP-Adapter-Plus layouts; wrong shapes refused."""
    from safetensors.torch import save_file

    from adstage.generate.checkpoints import load_ip_adapter_resampler
    from adstage.generate.refadgen import Resampler, ResamplerConfig

    torch.manual_seed(5)
    donor = Resampler(ResamplerConfig.for_unet(32, image_hidden_size=48))
    weights = donor.state_dict()
    binary, flat = tmp_path / "ip.bin", tmp_path / "ip.safetensors"
    torch.save({"image_proj": weights, "ip_adapter": {}}, binary)
    save_file({f"image_proj.{k}": v.contiguous() for k, v in weights.items()}, flat)
    for path in (binary, flat):
        model = build(parity.TINY_UNET, {"dim": 32, "embedding_dim": 48, "output_dim": 32})
        load_ip_adapter_resampler(model, path)
        assert all(torch.equal(model.proj.state_dict()[k], v) for k, v in weights.items())
    other = build(parity.TINY_UNET, {"dim": 32, "embedding_dim": 64, "output_dim": 32})
    with pytest.raises(InputError, match=r"does not fit .*proj_in\.weight"):
        load_ip_adapter_resampler(other, binary)
    with pytest.raises(InputError, match="no Resampler"):
        load_ip_adapter_resampler(build(parity.TINY_UNET, None), binary)
    (tmp_path / "junk.bin").write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="not an IP-Adapter file"):
        load_ip_adapter_resampler(other, tmp_path / "junk.bin")
