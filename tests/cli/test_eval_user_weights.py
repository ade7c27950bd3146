"""``adstage eval clip-score`` and ``adstage eval image-reward`` on tiny random models (the
builders of tests/evaluate/test_clip_score.py and test_image_reward.py): outputs, provenance,
exit codes. No real weights exist here."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("transformers")

from adstage.cli import app
from adstage.io.images import write_image
from adstage.weights import sha256_file

runner = CliRunner()
HERE = Path(__file__).resolve().parents[1] / "evaluate"


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_uw_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("user-weights")
    clip = _module("test_clip_score").write_tiny_clip(root / "clip")
    reward = _module("test_image_reward")
    files = reward.write_files(root / "image-reward")
    return {"clip": clip, **files}


@pytest.fixture
def images(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    for i in range(3):
        write_image(folder / f"{i}.png", rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
    (tmp_path / "prompts.csv").write_text(
        'path,prompt\n0.png,a red box\n1.png,box\n2.png,"red, red box"\n'
    )
    return folder


def test_clip_score_json_and_text(weights: dict[str, Path], images: Path) -> None:
    csv = images.parent / "prompts.csv"
    args = ["eval", "clip-score", str(images), "--prompts", str(csv), "--model",
            str(weights["clip"])]  # fmt: skip
    result = runner.invoke(app, [*args, "--json", "--batch-size", "2"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["n"] == 3 and out["model"] == str(weights["clip"])
    digest = sha256_file(weights["clip"] / "model.safetensors")
    assert out["sha256"] == {"model.safetensors": digest}
    per = out["images"]
    assert [Path(p["path"]).name for p in per] == ["0.png", "1.png", "2.png"]
    assert per[2]["prompt"] == "red, red box"
    for item in per:
        assert item["clip_100"] == pytest.approx(100 * item["cosine"])
        assert item["clip_score"] == pytest.approx(2.5 * max(item["cosine"], 0.0))
    assert out["clip_100"] == pytest.approx(max(np.mean([p["clip_100"] for p in per]), 0.0))
    # batch size does not change the values; the text output has the means and each image
    text = runner.invoke(app, args)
    assert text.exit_code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("CLIP (100·cos) ") and len(lines) == 4
    assert f"{per[1]['clip_100']:.2f}" in lines[2]


def test_image_reward_json_one_prompt(weights: dict[str, Path], images: Path) -> None:
    args = ["eval", "image-reward", str(images), "--prompt", "a red box",
            "--checkpoint", str(weights["checkpoint"]), "--med-config", str(weights["med_config"]),
            "--tokenizer", str(weights["tokenizer"]), "--json"]  # fmt: skip
    # the released model is ViT-L/16: the tiny checkpoint is refused with its shapes (exit 2)
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "1024, 24 and 197" in refused.stderr
    from adstage.evaluate import image_reward

    tiny = _module("test_image_reward").VISION
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(image_reward, "IMAGE_REWARD_VISION", tiny)
        result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["n"] == 3 and out["checkpoint"] == str(weights["checkpoint"])
    assert out["sha256"][str(weights["checkpoint"])] == sha256_file(weights["checkpoint"])
    values = [p["image_reward"] for p in out["images"]]
    assert out["image_reward"] == pytest.approx(np.mean(values))
    assert all(p["prompt"] == "a red box" for p in out["images"]) and len(set(values)) == 3


def test_exit_codes(weights: dict[str, Path], images: Path, tmp_path: Path) -> None:
    base = ["eval", "clip-score", str(images), "--prompt", "a box"]
    missing = runner.invoke(app, [*base, "--model", str(tmp_path / "no-clip")])
    assert missing.exit_code == 1
    assert "openai/clip-vit-large-patch14" in missing.stderr and "no-clip" in missing.stderr
    wrong = runner.invoke(app, [*base, "--model", str(images)])  # a folder, not CLIP
    assert wrong.exit_code == 2 and "not a Hugging Face CLIP folder" in wrong.stderr
    both = runner.invoke(app, [*base, "--prompts", "x.csv", "--model", str(weights["clip"])])
    assert both.exit_code == 2 and "exactly one of --prompts" in both.stderr
    not_dir = runner.invoke(app, ["eval", "clip-score", str(tmp_path / "none"), "--prompt", "a",
                                  "--model", str(weights["clip"])])  # fmt: skip
    assert not_dir.exit_code == 2
    # an unreadable image is reported, the others measured, exit 1
    (images / "3.png").write_bytes(b"not a png")
    partial = runner.invoke(app, [*base, "--model", str(weights["clip"]), "--json"])
    assert partial.exit_code == 1
    out = json.loads(partial.stdout)
    assert out["n"] == 3 and len(out["failed"]) == 1 and "3.png" in out["failed"][0]["path"]
    no_ckpt = runner.invoke(app, ["eval", "image-reward", str(images), "--prompt", "a",
                                  "--checkpoint", str(tmp_path / "ImageReward.pt"),
                                  "--med-config", str(weights["med_config"]),
                                  "--tokenizer", str(weights["tokenizer"])])  # fmt: skip
    assert no_ckpt.exit_code == 1 and "THUDM/ImageReward" in no_ckpt.stderr
