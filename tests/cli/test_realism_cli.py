"""``adstage eval realism``: a labelled real folder against a stage output, no weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adstage.cli import app
from adstage.evaluate.realism import RealismCritic
from adstage.io.images import write_image, write_mask

runner = CliRunner()


def _room(rng: np.random.Generator) -> np.ndarray:
    ramp = np.linspace(0, 1, 96)[None, :, None] * rng.uniform(60, 200, 3)
    return np.clip(ramp + rng.normal(0, 4, (72, 96, 3)), 0, 255).astype(np.uint8)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """``real/``: rooms with a soft grey object and its mask (labels.csv); ``staged/``: a stage
    output whose candidates have a hard white square at their placement."""
    rng = np.random.default_rng(0)
    real, staged = tmp_path / "real", tmp_path / "staged"
    rows = ["path,category,mask_path"]
    for i in range(12):
        image = _room(rng)
        image[20:50, 30:60] = (image[20:50, 30:60] * 0.6).astype(np.uint8)
        mask = np.zeros(image.shape[:2], np.uint8)
        mask[20:50, 30:60] = 255
        write_image(real / "images" / f"{i}.png", image)
        write_mask(real / "masks" / f"{i}.png", mask)
        rows.append(f"images/{i}.png,room,masks/{i}.png")
    (real / "labels.csv").write_text("\n".join(rows) + "\n")
    for p in range(6):
        candidates = []
        for c in range(2):
            image = _room(rng)
            image[20:50, 30:60] = 255
            write_image(staged / f"product-{p}" / f"candidate-{c}.png", image)
            candidates.append({"path": f"candidate-{c}.png", "placement": [30, 20, 60, 50]})
        manifest = {"input": f"product-{p}.png", "candidates": candidates}
        (staged / f"product-{p}" / "manifest.json").write_text(json.dumps(manifest))
    return real, staged


def test_eval_realism_json_and_critic(folders: tuple[Path, Path], tmp_path: Path) -> None:
    real, staged = folders
    critic_path = tmp_path / "critic.npz"
    args = ["eval", "realism", str(real), str(staged), "--features", "colour-gradient"]
    args += ["--crop-size", "64", "--splits", "3", "-o", str(critic_path), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"accuracy", "interval", "p_value", "n_real", "n_fake", "features"} <= set(out)
    assert out["features"] == "colour-gradient"
    assert (out["n_real"], out["n_fake"]) == (12, 12)
    assert out["inputs"]["real"]["kind"] == "labelled"
    assert out["inputs"]["fake"]["kind"] == "stage"
    assert out["accuracy"] > 0.9 and out["interval"][0] <= out["accuracy"] <= out["interval"][1]
    critic = RealismCritic.load(critic_path)
    assert critic.features == "colour-gradient" and critic.size == 64
    assert "real" in result.stderr and "stage output" in result.stderr

    best = runner.invoke(app, [*args[:-3], "--best", "--json"])
    assert best.exit_code == 0, best.stderr
    assert json.loads(best.stdout)["n_fake"] == 6


def test_eval_realism_boxes_and_errors(folders: tuple[Path, Path], tmp_path: Path) -> None:
    real, staged = folders
    boxes = tmp_path / "boxes.csv"
    boxes.write_text(
        "path,x0,y0,x1,y1\n" + "".join(f"images/{i}.png,30,20,60,50\n" for i in range(12))
    )
    base = ["eval", "realism", str(real), str(staged), "--features", "colour-gradient"]
    ok = runner.invoke(app, [*base, "--real-boxes", str(boxes), "--splits", "1", "--json"])
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["inputs"]["real"]["kind"] == "boxes"

    unknown = runner.invoke(app, [*base[:4], "--features", "clip"])
    assert unknown.exit_code == 2 and "--features: expected one of" in unknown.stderr
    missing = runner.invoke(app, [*base[:2], str(tmp_path / "nowhere"), str(staged)])
    assert missing.exit_code == 2 and "is not a folder" in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("path,x\nimages/0.png,1\n")
    refused = runner.invoke(app, [*base, "--real-boxes", str(bad)])
    assert refused.exit_code == 2 and "path,x0,y0,x1,y1" in refused.stderr
