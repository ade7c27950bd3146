"""adstage inpaint: output file, JSON record, exit codes and one clear line per bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adstage.cli import app
from adstage.inpaint import DEFAULT_INPAINTER
from adstage.io.images import read_image, write_image, write_mask

runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(128, 25, (80, 100, 3)), 0, 255).astype(np.uint8)
    hole = np.zeros((80, 100), bool)
    hole[20:50, 30:60] = True
    write_image(tmp_path / "scene.png", image)
    write_mask(tmp_path / "hole.png", hole)
    return tmp_path / "scene.png", tmp_path / "hole.png", image, hole


def test_inpaint_writes_the_result_and_a_json_record(files, tmp_path: Path) -> None:
    scene, mask, image, hole = files
    out = tmp_path / "out" / "filled.png"
    result = runner.invoke(
        app,
        ["inpaint", str(scene), "--mask", str(mask), "-o", str(out), "--inpainter", "ns", "--json"],
    )
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert set(record) == {"input", "mask", "output", "backend", "seconds", "hole_fraction"}
    assert record["backend"] == "ns" and record["output"] == str(out)
    assert record["hole_fraction"] == pytest.approx(hole.mean(), abs=1e-6)
    filled = read_image(out)
    assert np.array_equal(filled[~hole], image[~hole])
    assert not np.array_equal(filled[hole], image[hole])


def test_inpaint_default_backend_without_json(files, tmp_path: Path) -> None:
    scene, mask, _, _ = files
    out = tmp_path / "filled.jpg"
    result = runner.invoke(app, ["inpaint", str(scene), "-m", str(mask), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert out.exists() and result.stdout == ""
    assert DEFAULT_INPAINTER in result.stderr


def test_mask_of_another_size_is_a_usage_error(files, tmp_path: Path) -> None:
    scene, _, _, _ = files
    write_mask(tmp_path / "small.png", np.ones((40, 50), bool))
    out = tmp_path / "x.png"
    result = runner.invoke(
        app, ["inpaint", str(scene), "-m", str(tmp_path / "small.png"), "-o", str(out)]
    )
    assert result.exit_code == 2
    assert "small.png: mask is 50×40 (W×H) but" in result.stderr and "100×80" in result.stderr
    assert not out.exists()


def test_unreadable_mask_and_full_hole_are_usage_errors(files, tmp_path: Path) -> None:
    scene, _, _, _ = files
    (tmp_path / "bad.png").write_text("not an image")
    bad = runner.invoke(
        app, ["inpaint", str(scene), "-m", str(tmp_path / "bad.png"), "-o", "x.png"]
    )
    assert bad.exit_code == 2 and "bad.png" in bad.stderr
    write_mask(tmp_path / "all.png", np.ones((80, 100), bool))
    full = runner.invoke(
        app, ["inpaint", str(scene), "-m", str(tmp_path / "all.png"), "-o", "x.png", "--json"]
    )
    assert full.exit_code == 2 and "covers the whole image" in full.stderr
    assert "error" in json.loads(full.stdout)


def test_unknown_backend_is_a_usage_error(files, tmp_path: Path) -> None:
    scene, mask, _, _ = files
    result = runner.invoke(
        app,
        [
            "inpaint",
            str(scene),
            "-m",
            str(mask),
            "-o",
            str(tmp_path / "x.png"),
            "--inpainter",
            "nss",
        ],
    )
    assert result.exit_code == 2 and "did you mean 'ns'" in result.stderr


def test_unreadable_image_is_a_failed_item(files, tmp_path: Path) -> None:
    _, mask, _, _ = files
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    result = runner.invoke(
        app,
        ["inpaint", str(tmp_path / "broken.jpg"), "-m", str(mask), "-o", str(tmp_path / "x.png")],
    )
    assert result.exit_code == 1 and "broken.jpg" in result.stderr


def test_unwritable_output_suffix_is_a_failed_item(files, tmp_path: Path) -> None:
    scene, mask, _, _ = files
    result = runner.invoke(
        app, ["inpaint", str(scene), "-m", str(mask), "-o", str(tmp_path / "x.gif")]
    )
    assert result.exit_code == 1 and "unknown image suffix" in result.stderr
