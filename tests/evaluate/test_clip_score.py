"""CLIP-score on a tiny random CLIP saved as a Hugging Face folder: the loader, the math against
the model's own embeddings, the clamp, batching and the errors. No real weights exist here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from adstage.errors import InputError, WeightsNotFound  # noqa: E402
from adstage.evaluate.clip_score import (  # noqa: E402
    CLIP_MEAN,
    CLIP_STD,
    ClipScores,
    clip_preprocess,
    hessel_clip_score,
    load_clip,
)
from tiny_clip import write_clip_tokenizer  # noqa: E402


def write_tiny_clip(folder: Path, image_size: int = 32) -> Path:
    """A random 2-layer CLIP (width 32, projection 16) and its tokenizer, as an HF folder."""
    vocab = write_clip_tokenizer(folder)
    torch.manual_seed(0)
    config = transformers.CLIPConfig(
        text_config={"vocab_size": vocab, "hidden_size": 32, "intermediate_size": 37,
                     "num_hidden_layers": 2, "num_attention_heads": 4,
                     "max_position_embeddings": 77, "bos_token_id": 0, "eos_token_id": 1,
                     "pad_token_id": 1},
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                       "num_attention_heads": 4, "image_size": image_size, "patch_size": 8},
        projection_dim=16,
    )  # fmt: skip
    transformers.CLIPModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    return write_tiny_clip(tmp_path_factory.mktemp("clip") / "clip")


def _images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (40 + 7 * i, 50, 3), dtype=np.uint8) for i in range(n)]


def test_score_is_the_cosine_of_the_models_own_embeddings(tiny_clip: Path) -> None:
    scorer = load_clip(tiny_clip)
    images, prompts = _images(3), ["a red box", "box", "red, red"]
    got = scorer(images, prompts)
    # by hand: the raw CLIPModel, the preprocessed pixels, its tokenizer, then the cosine
    model = transformers.CLIPModel.from_pretrained(str(tiny_clip)).eval()
    tok = transformers.CLIPTokenizer.from_pretrained(str(tiny_clip))
    pixels = torch.from_numpy(np.stack([clip_preprocess(im, 32) for im in images]))
    ids = tok(prompts, padding="max_length", max_length=77, return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=ids.input_ids, attention_mask=ids.attention_mask,
                    pixel_values=pixels)  # fmt: skip
    a, b = out.image_embeds.double(), out.text_embeds.double()
    expected = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))
    np.testing.assert_allclose(got.cosine, expected.numpy(), atol=1e-6)
    np.testing.assert_allclose(got.clip_100, 100 * expected.numpy(), atol=1e-4)
    np.testing.assert_allclose(got.clip_score, 2.5 * np.maximum(expected.numpy(), 0), atol=1e-6)
    report = got.as_dict()
    assert report["n"] == 3 and report["model"] == str(tiny_clip)
    assert report["sha256"] and all(len(v) == 64 for v in report["sha256"].values())
    assert report["cosine"] == pytest.approx(float(expected.mean()), abs=1e-6)


def test_batch_equals_one_by_one(tiny_clip: Path) -> None:
    scorer = load_clip(tiny_clip)
    images, prompts = _images(5, seed=1), ["a box", "red", "box red", "a", "red box"]
    together = scorer(images, prompts, batch_size=5).cosine
    alone = [scorer([im], [p]).cosine[0] for im, p in zip(images, prompts, strict=True)]
    in_twos = scorer(images, prompts, batch_size=2).cosine
    np.testing.assert_allclose(together, alone, atol=1e-6)
    np.testing.assert_allclose(in_twos, alone, atol=1e-6)


def test_the_clamp_and_the_two_scales_by_hand() -> None:
    np.testing.assert_allclose(hessel_clip_score(np.array([0.3, -0.2, 0.0])), [0.75, 0.0, 0.0])
    scores = ClipScores([0.3, -0.2, 0.5], model="m")
    assert scores.clip_100 == pytest.approx([30.0, -20.0, 50.0])
    assert scores.clip_score == pytest.approx([0.75, 0.0, 1.25])
    report = scores.as_dict()
    assert report["clip_100"] == pytest.approx(20.0)  # mean of 100·cos (torchmetrics)
    assert report["clip_score"] == pytest.approx(2.0 / 3.0)  # mean of 2.5·max(cos, 0)
    # torchmetrics clamps the mean of 100·cos at 0; never a silent zero for an empty set
    assert ClipScores([-0.4, -0.1], model="m").as_dict()["clip_100"] == 0.0
    assert ClipScores([], model="m").as_dict()["clip_100"] is None


def test_preprocess_resizes_the_short_side_crops_the_centre_and_normalises() -> None:
    # a 2:1 image with a left half 0 and right half 255: after resize to 32 × 64 and centre crop,
    # columns 0–15 come from the left half, 16–31 from the right (CLIP's mean/std applied)
    image = np.zeros((64, 128, 3), np.uint8)
    image[:, 64:] = 255
    x = clip_preprocess(image, 32)
    assert x.shape == (3, 32, 32) and x.dtype == np.float32
    mean, std = np.asarray(CLIP_MEAN), np.asarray(CLIP_STD)
    np.testing.assert_allclose(x[:, 5, 2], (0 - mean) / std, atol=1e-6)
    np.testing.assert_allclose(x[:, 5, 29], (1 - mean) / std, atol=1e-6)
    # a square image of the model's size is not resampled at all
    flat = np.full((32, 32, 3), 128, np.uint8)
    np.testing.assert_allclose(clip_preprocess(flat, 32)[:, 0, 0], (128 / 255 - mean) / std,
                               rtol=1e-6)  # fmt: skip
    with pytest.raises(InputError, match="H×W×3 uint8"):
        clip_preprocess(np.zeros((8, 8), np.uint8), 32)


def test_errors_name_the_folder_and_what_to_bring(tiny_clip: Path, tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFound, match=r"clip-vit-large-patch14.*--model DIR"):
        load_clip(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no config\.json"):
        load_clip(tmp_path / "empty")
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (other / "model.safetensors").write_bytes(b"")
    write_clip_tokenizer(other)
    with pytest.raises(InputError, match="'bert' model, not CLIP"):
        load_clip(other)
    no_weights = tmp_path / "no-weights"
    write_clip_tokenizer(no_weights)
    (no_weights / "config.json").write_text((tiny_clip / "config.json").read_text())
    with pytest.raises(InputError, match="holds no weights"):
        load_clip(no_weights)
    scorer = load_clip(tiny_clip)
    with pytest.raises(InputError, match="2 prompts for 1 images"):
        scorer(_images(1), ["a", "b"])
