"""The adstage CLI: outputs, JSON lines, exit codes, and one clear line per bad file."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adstage import __version__
from adstage.cli import app
from adstage.io.images import read_image, read_mask, write_image
from scenes import iou, product_on_white, staged_scene

runner = CliRunner()


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    product, _ = product_on_white()
    write_image(d / "good.png", product)
    write_image(d / "scene.jpg", staged_scene()[0])
    write_image(d / "big.jpg", product_on_white(400, 520)[0])
    (d / "zero.jpg").write_bytes(b"")
    (d / "text.png").write_text("this is not an image\n")
    (d / "trunc.jpg").write_bytes((d / "big.jpg").read_bytes()[:1500])
    from PIL import Image

    Image.new("RGB", (1, 1)).save(d / "one.png")
    (d / "huge.png").write_bytes(_png_header(30000, 30000))
    return d


BAD = ["zero.jpg", "text.png", "trunc.jpg", "one.png", "huge.png"]


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.stdout


def test_segment_bad_files_one_line_each_exit_1_others_done(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["segment", str(folder), "-o", str(out), "--segmenter", "solid-background", "--json"]
    )
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(BAD)
    for name in BAD:
        assert sum(name in line for line in errors) == 1, f"no single error line for {name}"
    records = [json.loads(line) for line in result.stdout.splitlines()]
    done = {Path(r["path"]).name for r in records if "error" not in r}
    assert done == {"good.png", "scene.jpg", "big.jpg"}
    for stem in ("good", "scene", "big"):
        assert (out / f"{stem}.png").exists() and (out / f"{stem}.mask.png").exists()
    assert (
        json.loads((out / "adstage-run.json").read_text())["config"]["segmenter"]
        == "solid-background"
    )
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert sorted(Path(row["path"]).name for row in failures) == sorted(BAD)
    assert all(row["error"] and "Traceback" in row["traceback"] for row in failures)


def test_segment_writes_a_correct_cutout_and_mask(tmp_path: Path) -> None:
    image, truth = product_on_white()
    write_image(tmp_path / "p.png", image)
    result = runner.invoke(
        app, ["segment", str(tmp_path / "p.png"), "-o", str(tmp_path / "o"), "--json"]
    )
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["backend"] == "solid-background"
    assert record["provenance"]["auto"]["chosen"] == "solid-background"
    mask = read_mask(tmp_path / "o" / "p.mask.png") >= 0.5
    assert iou(mask, truth) > 0.97
    from PIL import Image

    rgba = np.asarray(Image.open(tmp_path / "o" / "p.png"))
    assert rgba.shape == (*truth.shape, 4)
    assert (rgba[..., :3][truth] == image[truth]).all(), "product pixels are unchanged"


def test_segment_skips_done_items_unless_overwrite(tmp_path: Path) -> None:
    write_image(tmp_path / "p.png", product_on_white()[0])
    args = ["segment", str(tmp_path / "p.png"), "-o", str(tmp_path / "o"), "--json"]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and json.loads(again.stdout)["skipped"] is True
    redo = runner.invoke(app, [*args, "--overwrite"])
    assert redo.exit_code == 0 and "skipped" not in json.loads(redo.stdout)


def test_segment_unknown_backend_is_a_usage_error(tmp_path: Path) -> None:
    write_image(tmp_path / "p.png", product_on_white()[0])
    result = runner.invoke(
        app, ["segment", str(tmp_path / "p.png"), "-o", str(tmp_path), "--segmenter", "isnett"]
    )
    assert result.exit_code == 2 and "did you mean 'isnet'" in result.stderr


def test_triage_json_lines_and_bad_files(folder: Path) -> None:
    result = runner.invoke(app, ["triage", str(folder), "--json"])
    assert result.exit_code == 1
    records = {Path(r["path"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert records["good.png"]["staged"] is False and records["scene.jpg"]["staged"] is True
    assert set(records["good.png"]) == {"path", "staged", "score"}
    assert all("error" in records[name] for name in BAD)
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == len(
        BAD
    )


def test_missing_input_is_reported(tmp_path: Path) -> None:
    result = runner.invoke(app, ["triage", str(tmp_path / "nope.jpg")])
    assert result.exit_code == 1 and "nope.jpg" in result.stderr


def test_weights_verb_is_mounted(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ADSTAGE_WEIGHTS", str(tmp_path))
    result = runner.invoke(app, ["weights", "path", "isnet-general"])
    assert result.exit_code == 1 and "adstage weights fetch isnet-general" in result.stderr


def test_read_back_cutout_is_rgba(tmp_path: Path) -> None:
    write_image(tmp_path / "p.png", product_on_white()[0])
    runner.invoke(app, ["segment", str(tmp_path / "p.png"), "-o", str(tmp_path / "o"), "--crop"])
    assert read_image(tmp_path / "o" / "p.png").shape[0] < 240  # cropped to the product


def test_max_pixels_option_refuses_large_images(tmp_path: Path) -> None:
    write_image(tmp_path / "p.png", product_on_white()[0])  # 320×240 = 76,800 pixels
    result = runner.invoke(app, ["triage", str(tmp_path / "p.png"), "--max-pixels", "50000"])
    assert result.exit_code == 1 and "max_pixels" in result.stderr
    assert (
        runner.invoke(app, ["triage", str(tmp_path / "p.png"), "--max-pixels", "80000"]).exit_code
        == 0
    )
