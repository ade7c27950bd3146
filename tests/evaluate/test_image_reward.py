"""ImageReward on a tiny random configuration written in the release's own checkpoint layout
(``ImageReward.pt`` key names, written here by hand from the released modules' names): the
key mapping (every key used, none missing), a second implementation of the released forward
(BLIP's ViT and ``med.py``'s BERT in plain torch on the checkpoint's tensors), the normalisation
by hand, batching and the errors. No real weights exist here."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
F = torch.nn.functional

from adstage.errors import InputError, WeightsNotFound  # noqa: E402
from adstage.evaluate.clip_score import clip_preprocess  # noqa: E402
from adstage.evaluate.image_reward import (  # noqa: E402
    REWARD_MEAN,
    REWARD_STD,
    ImageRewardModel,
    checkpoint_to_model,
    load_image_reward,
    text_config_from_med,
)

VISION = {"image_size": 32, "patch_size": 16, "hidden_size": 32, "num_hidden_layers": 2,
          "num_attention_heads": 4, "intermediate_size": 64, "layer_norm_eps": 1e-6,
          "hidden_act": "gelu"}  # fmt: skip
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "box", "on", "the", "table",
         "chair", "##s", "lamp"]  # fmt: skip
MED = {"architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
       "hidden_dropout_prob": 0.1, "hidden_size": 24, "initializer_range": 0.02,
       "intermediate_size": 40, "layer_norm_eps": 1e-12, "max_position_embeddings": 40,
       "model_type": "bert", "num_attention_heads": 4, "num_hidden_layers": 2, "pad_token_id": 0,
       "type_vocab_size": 2, "vocab_size": len(WORDS) + 2, "encoder_width": 768,
       "add_cross_attention": True}  # fmt: skip
"""A tiny ``med_config.json`` of BLIP's form (vocabulary + [DEC] + [ENC])."""


def checkpoint_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict with ImageReward.pt's key names, from the released modules
    (``BLIP_Pretrain``'s ``visual_encoder`` / ``text_encoder`` / ``vision_proj`` / ``text_proj``
    under ``blip.``, the head under ``mlp.layers.{0,2,4,6,7}``)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int, scale: float = 0.2) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    def norm(prefix: str, width: int) -> dict[str, torch.Tensor]:
        return {f"{prefix}.weight": 1 + r(width, scale=0.1), f"{prefix}.bias": r(width, scale=0.1)}

    def linear(prefix: str, out: int, inp: int) -> dict[str, torch.Tensor]:
        return {f"{prefix}.weight": r(out, inp, scale=1 / math.sqrt(inp)), f"{prefix}.bias": r(out)}

    d, p, iv = VISION["hidden_size"], VISION["patch_size"], VISION["intermediate_size"]
    n = (VISION["image_size"] // p) ** 2 + 1
    v = "blip.visual_encoder."
    sd = {v + "cls_token": r(1, 1, d), v + "pos_embed": r(1, n, d)}
    sd |= linear(v + "patch_embed.proj", d, 3 * p * p)
    sd[v + "patch_embed.proj.weight"] = sd[v + "patch_embed.proj.weight"].reshape(d, 3, p, p)
    for i in range(VISION["num_hidden_layers"]):
        b = f"{v}blocks.{i}."
        sd |= norm(b + "norm1", d) | linear(b + "attn.qkv", 3 * d, d)
        sd |= linear(b + "attn.proj", d, d) | norm(b + "norm2", d)
        sd |= linear(b + "mlp.fc1", iv, d) | linear(b + "mlp.fc2", d, iv)
    sd |= norm(v + "norm", d)
    h, it, m = MED["hidden_size"], MED["intermediate_size"], MED["max_position_embeddings"]
    t = "blip.text_encoder."
    sd[t + "embeddings.word_embeddings.weight"] = r(MED["vocab_size"], h, scale=1.0)
    sd[t + "embeddings.position_embeddings.weight"] = r(m, h)
    sd[t + "embeddings.position_ids"] = torch.arange(m).expand(1, -1).clone()
    sd |= norm(t + "embeddings.LayerNorm", h)
    for i in range(MED["num_hidden_layers"]):
        b = f"{t}encoder.layer.{i}."
        for kind, kv_width in (("attention", h), ("crossattention", d)):
            sd |= linear(f"{b}{kind}.self.query", h, h)
            sd |= linear(f"{b}{kind}.self.key", h, kv_width)
            sd |= linear(f"{b}{kind}.self.value", h, kv_width)
            sd |= linear(f"{b}{kind}.output.dense", h, h) | norm(f"{b}{kind}.output.LayerNorm", h)
        sd |= linear(b + "intermediate.dense", it, h) | linear(b + "output.dense", h, it)
        sd |= norm(b + "output.LayerNorm", h)
    sd |= linear("blip.vision_proj", 256, d) | linear("blip.text_proj", 256, h)
    widths = [h, 1024, 128, 64, 16, 1]
    for k, index in enumerate((0, 2, 4, 6, 7)):
        sd |= linear(f"mlp.layers.{index}", widths[k + 1], widths[k])
    return sd


def write_files(folder: Path, state: dict[str, torch.Tensor] | None = None) -> dict[str, Path]:
    """``ImageReward.pt``, ``med_config.json`` and ``bert/vocab.txt`` of the tiny configuration."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state if state is not None else checkpoint_state(), folder / "ImageReward.pt")
    (folder / "med_config.json").write_text(json.dumps(MED))
    (folder / "bert").mkdir(exist_ok=True)
    (folder / "bert" / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    return {
        "checkpoint": folder / "ImageReward.pt",
        "med_config": folder / "med_config.json",
        "tokenizer": folder / "bert",
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return write_files(tmp_path_factory.mktemp("image-reward"))


def _load(paths: dict[str, Path]):
    return load_image_reward(
        paths["checkpoint"], paths["med_config"], paths["tokenizer"], vision=VISION
    )


# --- a second implementation of the released forward, on the checkpoint's own tensors ----------


def _ln(x, sd, prefix, eps):
    return F.layer_norm(x, x.shape[-1:], sd[prefix + ".weight"], sd[prefix + ".bias"], eps)


def _lin(x, sd, prefix):
    return x @ sd[prefix + ".weight"].T + sd[prefix + ".bias"]


def _heads(x, n):
    b, length, c = x.shape
    return x.view(b, length, n, c // n).transpose(1, 2)


def reference_reward(sd, pixels, ids, mask):
    """BLIP's ViT (vit.py) → med.py's BertModel, mode 'multimodal' → [CLS] → MLP → normalise."""
    v, p = "blip.visual_encoder.", VISION["patch_size"]
    x = F.conv2d(pixels, sd[v + "patch_embed.proj.weight"], sd[v + "patch_embed.proj.bias"],
                 stride=p).flatten(2).transpose(1, 2)  # fmt: skip
    x = torch.cat([sd[v + "cls_token"].expand(len(x), -1, -1), x], 1) + sd[v + "pos_embed"]
    heads = VISION["num_attention_heads"]
    for i in range(VISION["num_hidden_layers"]):
        b = f"{v}blocks.{i}."
        bsz, n, c = x.shape
        qkv = _lin(_ln(x, sd, b + "norm1", 1e-6), sd, b + "attn.qkv")
        q, k, vv = qkv.reshape(bsz, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-2, -1) * (c // heads) ** -0.5).softmax(-1)
        x = x + _lin((att @ vv).transpose(1, 2).reshape(bsz, n, c), sd, b + "attn.proj")
        hid = F.gelu(_lin(_ln(x, sd, b + "norm2", 1e-6), sd, b + "mlp.fc1"))
        x = x + _lin(hid, sd, b + "mlp.fc2")
    image = _ln(x, sd, v + "norm", 1e-6)

    t, eps, nh = "blip.text_encoder.", 1e-12, MED["num_attention_heads"]
    h = sd[t + "embeddings.word_embeddings.weight"][ids]
    h = _ln(h + sd[t + "embeddings.position_embeddings.weight"][: ids.shape[1]], sd,
            t + "embeddings.LayerNorm", eps)  # fmt: skip
    ext = (1.0 - mask[:, None, None, :].float()) * -10000.0

    def attend(hidden, context, prefix, bias):
        q = _heads(_lin(hidden, sd, prefix + ".self.query"), nh)
        k = _heads(_lin(context, sd, prefix + ".self.key"), nh)
        val = _heads(_lin(context, sd, prefix + ".self.value"), nh)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) + bias
        ctx = (scores.softmax(-1) @ val).transpose(1, 2).flatten(2)
        return _ln(_lin(ctx, sd, prefix + ".output.dense") + hidden, sd,
                   prefix + ".output.LayerNorm", eps)  # fmt: skip

    for i in range(MED["num_hidden_layers"]):
        b = f"{t}encoder.layer.{i}."
        h = attend(h, h, b + "attention", ext)
        h = attend(h, image, b + "crossattention", 0.0)
        inter = F.gelu(_lin(h, sd, b + "intermediate.dense"))
        h = _ln(_lin(inter, sd, b + "output.dense") + h, sd, b + "output.LayerNorm", eps)
    r = h[:, 0]
    for index in (0, 2, 4, 6, 7):
        r = _lin(r, sd, f"mlp.layers.{index}")
    return (r.squeeze(-1) - REWARD_MEAN) / REWARD_STD


def _images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (36 + 5 * i, 48, 3), dtype=np.uint8) for i in range(n)]


# --- tests ---------------------------------------------------------------------------------------


def test_every_checkpoint_key_fills_exactly_one_model_tensor() -> None:
    state = checkpoint_state()
    model = ImageRewardModel(VISION, text_config_from_med(MED, encoder_width=32))
    targets = [checkpoint_to_model(k) for k in state]
    used = [t for t in targets if t is not None]
    assert len(used) == len(set(used)), "two checkpoint keys map to one tensor"
    assert set(used) == set(model.state_dict()), "unmapped or missing keys"
    ignored = sorted(k for k, t in zip(state, targets, strict=True) if t is None)
    assert ignored == [
        "blip.text_encoder.embeddings.position_ids",
        "blip.text_proj.bias",
        "blip.text_proj.weight",
        "blip.vision_proj.bias",
        "blip.vision_proj.weight",
    ]
    with pytest.raises(InputError, match=r"unexpected key 'blip\.text_decoder\.x'"):
        checkpoint_to_model("blip.text_decoder.x")


def test_matches_a_second_implementation_of_the_release(files: dict[str, Path]) -> None:
    scorer = _load(files)
    images, prompts = _images(3), ["a red box", "the lamps on a table", "chair"]
    got = scorer(images, prompts).rewards
    sd = torch.load(files["checkpoint"], weights_only=True)
    pixels = torch.from_numpy(np.stack([clip_preprocess(im, 32) for im in images]))
    tokens = scorer.tokenizer(prompts, padding="max_length", truncation=True, max_length=35,
                              return_tensors="pt")  # fmt: skip
    assert tokens.input_ids.shape == (3, 35)
    assert tokens.input_ids[0, :5].tolist() == [2, 5, 6, 7, 3]  # [CLS] a red box [SEP]
    assert scorer.tokenizer("A RED Lamps").input_ids == [2, 5, 6, 13, 12, 3]  # uncased WordPiece
    with torch.no_grad():
        expected = reference_reward(sd, pixels, tokens.input_ids, tokens.attention_mask)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)
    assert len(set(np.round(got, 6))) == 3  # the rewards depend on the pair


def test_normalisation_by_hand(tmp_path: Path) -> None:
    # a head whose weights are all zero outputs its last bias: reward = (b − mean) / std
    state = checkpoint_state()
    for index in (0, 2, 4, 6, 7):
        state[f"mlp.layers.{index}.weight"].zero_()
    state["mlp.layers.7.bias"] = torch.tensor([1.2])
    scorer = _load(write_files(tmp_path, state))
    got = scorer(_images(2), ["a box", "red"]).rewards
    expected = (1.2 - 0.16717362830052426) / 1.0333394966054072
    assert got == pytest.approx([expected, expected], abs=1e-6)
    report = scorer(_images(2), ["a box", "red"]).as_dict()
    assert report["image_reward"] == pytest.approx(expected, abs=1e-6)
    assert report["normalisation"] == {"mean": REWARD_MEAN, "std": REWARD_STD}
    assert report["sha256"][str(tmp_path / "ImageReward.pt")] and report["n"] == 2


def test_batch_equals_one_by_one(files: dict[str, Path]) -> None:
    scorer = _load(files)
    images, prompts = _images(4, seed=3), ["a", "red chair", "box on the table", "lamps"]
    together = scorer(images, prompts, batch_size=4).rewards
    alone = [scorer([im], [p]).rewards[0] for im, p in zip(images, prompts, strict=True)]
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_errors(files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFound, match=r"ImageReward\.pt.*THUDM/ImageReward"):
        load_image_reward(tmp_path / "nope.pt", files["med_config"], files["tokenizer"])
    with pytest.raises(WeightsNotFound, match="bert-base-uncased"):
        load_image_reward(files["checkpoint"], files["med_config"], tmp_path, vision=VISION)
    # a key the release does not have, a missing tensor, a wrong shape: refused, never ignored
    extra = checkpoint_state() | {"blip.itm_head.weight": torch.zeros(2, 24)}
    with pytest.raises(InputError, match=r"unexpected key 'blip\.itm_head\.weight'"):
        _load(write_files(tmp_path / "extra", extra))
    short = checkpoint_state()
    del short["blip.text_encoder.encoder.layer.1.crossattention.self.key.weight"]
    with pytest.raises(InputError, match="lacks 1 of ImageReward's tensors"):
        _load(write_files(tmp_path / "short", short))
    with pytest.raises(InputError, match=r"width 32, 2 blocks and 5 tokens; .* 1024, 24 and 197"):
        load_image_reward(files["checkpoint"], files["med_config"], files["tokenizer"])
    # a pickle that is not plain tensors
    bad = write_files(tmp_path / "bad")
    bad["checkpoint"].write_bytes(pickle.dumps({"x": object()}, protocol=2))
    with pytest.raises(InputError, match="weights_only"):
        _load(bad)
    med = dict(MED, add_cross_attention=False)
    bad["med_config"].write_text(json.dumps(med))
    with pytest.raises(InputError, match="add_cross_attention"):
        _load(bad)
    scorer = _load(files)
    with pytest.raises(InputError, match="1 prompts for 2 images"):
        scorer(_images(2), ["a"])
