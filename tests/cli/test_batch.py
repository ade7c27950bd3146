"""Batch runs never abort: any exception on one item (a bug, an OpenCV or torch error) is
recorded with its traceback in failures.jsonl beside the outputs, gets one ``error:`` line, and the
run goes on (exit 1). Also: paths print verbatim, bugs are not reported as bad input, every
output folder gets adstage-run.json, and ``eval fid`` reads a stage output's candidates."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import adstage.io.images
from adstage.cli import app
from adstage.io.images import write_image
from scenes import product_on_white

runner = CliRunner()

_read_image = adstage.io.images.read_image


def _failing_reads(monkeypatch, failures: dict[str, BaseException]) -> None:
    """``read_image`` raises ``failures[name]`` for the files so named."""

    def read_image(path: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(str(path)).name in failures:
            raise failures[Path(str(path)).name]
        return _read_image(path, *args, **kwargs)

    monkeypatch.setattr(adstage.io.images, "read_image", read_image)


def _failures(folder: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in (folder / "failures.jsonl").read_text().splitlines()]
    return {Path(row["path"]).name: row for row in rows}


def _errors(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    for name in ("a.png", "b.png", "c.png", "d.png"):
        write_image(folder / name, product_on_white(96, 128)[0])
    return folder


def test_segment_goes_on_past_a_runtime_error_and_an_opencv_error(
    photos: Path, tmp_path: Path, monkeypatch
) -> None:
    boom = cv2.error("OpenCV(4.x) resize.cpp:4155: error: (-215:Assertion failed) !ssize.empty()")
    _failing_reads(monkeypatch, {"b.png": RuntimeError("a bug"), "c.png": boom})
    out = tmp_path / "out"
    result = runner.invoke(app, ["segment", str(photos), "-o", str(out), "--json"])
    assert result.exit_code == 1, result.stderr
    records = {Path(r["path"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert "cutout" in records["a.png"] and "cutout" in records["d.png"]
    assert records["b.png"]["internal"] and records["c.png"]["internal"]
    assert (out / "a.png").exists() and (out / "d.png").exists() and not (out / "b.png").exists()
    errors = _errors(result)
    assert len(errors) == 2 and all("internal error" in line for line in errors)
    assert any("b.png" in line and "RuntimeError: a bug" in line for line in errors)
    rows = _failures(out)
    assert set(rows) == {"b.png", "c.png"}
    assert "RuntimeError: a bug" in rows["b.png"]["traceback"]
    assert "cv2.error" in rows["c.png"]["traceback"] and rows["c.png"]["type"] == "cv2.error"
    assert "Assertion failed" in rows["c.png"]["error"]
    record = json.loads((out / "adstage-run.json").read_text())
    assert record["summary"] == {"done": 2, "skipped": 0, "failed": 2}
    again = runner.invoke(app, ["segment", str(photos), "-o", str(out), "--json"])
    skipped = [r for r in map(json.loads, again.stdout.splitlines()) if r.get("skipped")]
    assert len(skipped) == 2  # the done ones; the failed ones are tried again


def test_triage_goes_on_past_a_runtime_error(photos: Path, monkeypatch) -> None:
    _failing_reads(monkeypatch, {"c.png": RuntimeError("a bug")})
    result = runner.invoke(app, ["triage", str(photos), "--json"])
    assert result.exit_code == 1
    records = {Path(r["path"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert records["c.png"]["internal"] and records["d.png"]["staged"] is False
    assert len(_errors(result)) == 1 and "c.png: internal error" in result.stderr


def test_a_traceback_under_verbose(photos: Path, monkeypatch) -> None:
    _failing_reads(monkeypatch, {"c.png": RuntimeError("a bug")})
    result = runner.invoke(app, ["-v", "triage", str(photos)])
    assert result.exit_code == 1 and "Traceback (most recent call last)" in result.stderr


def test_stage_goes_on_past_an_opencv_error(
    small_catalog: Path, tmp_path: Path, monkeypatch
) -> None:
    pipeline = importlib.import_module("adstage.stage.pipeline")

    products = tmp_path / "products"
    shutil.copytree(small_catalog / "products", products)
    first = sorted(products.iterdir())[0]
    marked = _read_image(first)
    marked[0, 0] = (1, 2, 3)  # the product the pipeline will fail on
    write_image(products / "boom.png", marked)
    real = pipeline.stage

    def stage(product: Any, catalog: Any, **options: Any) -> Any:
        if np.asarray(product)[0, 0].tolist() == [1, 2, 3]:
            raise cv2.error("OpenCV(4.x) inpaint.cpp:1: error: (-215:Assertion failed) in inpaint")
        return real(product, catalog, **options)

    monkeypatch.setattr(pipeline, "stage", stage)
    out = tmp_path / "staged"
    args = ["stage", str(products), "-c", str(small_catalog / "cat"), "-o", str(out)]
    result = runner.invoke(app, [*args, "-k", "1", "--inpainter", "ns"])
    assert result.exit_code == 1, result.stderr
    assert "staged 2 products" in result.stdout and "1 failed" in result.stdout
    errors = _errors(result)
    assert len(errors) == 1 and "boom.png: internal error: error: OpenCV" in errors[0]
    rows = _failures(out)
    assert set(rows) == {"boom.png"} and "cv2.error" in rows["boom.png"]["traceback"]
    assert len(list(out.glob("*/manifest.json"))) == 2
    record = json.loads((out / "adstage-run.json").read_text())
    assert record["command"] == "stage" and record["config"]["inpainter"] == "ns"
    assert record["summary"] == {"done": 2, "skipped": 0, "failed": 1}


def test_animate_several_images_goes_on_past_a_failure(
    photos: Path, tmp_path: Path, monkeypatch
) -> None:
    _failing_reads(monkeypatch, {"b.png": RuntimeError("a bug")})
    out = tmp_path / "videos"
    args = ["animate", str(photos), "-o", str(out), "--size", "32x32", "--duration", "0.4"]
    args += ["--fps", "5", "--container", "gif", "--inpainter", "ns", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.stderr
    assert sorted(p.name for p in out.glob("*.gif")) == ["a.gif", "c.gif", "d.gif"]
    records = {Path(r["path"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert records["a.png"]["video"] == str(out / "a.gif") and records["b.png"]["internal"]
    assert "RuntimeError: a bug" in _failures(out)["b.png"]["traceback"]
    assert json.loads((out / "adstage-run.json").read_text())["command"] == "animate"
    again = runner.invoke(app, args)
    assert sum(bool(json.loads(line).get("skipped")) for line in again.stdout.splitlines()) == 3


def test_animate_one_mask_for_several_images_is_a_usage_error(photos: Path, tmp_path) -> None:
    mask = tmp_path / "m.png"
    shutil.copy(photos / "a.png", mask)
    result = runner.invoke(app, ["animate", str(photos), "-o", str(tmp_path), "-m", str(mask)])
    assert result.exit_code == 2 and "--mask: for one image only" in result.stderr


def test_ingest_goes_on_past_an_exception_in_the_analysis(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("lancedb")
    from adstage.segment import SEGMENTERS

    class Explode:
        """Segments like solid-background, but has a bug on red products."""

        name = "explode"

        def __call__(self, image: Any) -> Any:
            if ((image[..., 0] > 200) & (image[..., 1] < 60)).sum() > 50:
                raise RuntimeError("explode: a bug")
            return SEGMENTERS.create("solid-background")(image)

    monkeypatch.setitem(SEGMENTERS._targets, "explode", Explode)
    folder = tmp_path / "in"
    for name, fill in [("a", (40, 90, 160)), ("b", (230, 20, 20)), ("c", (30, 140, 60))]:
        write_image(folder / f"{name}.png", product_on_white(96, 128, fill=fill)[0])
    write_image(folder / "d.png", product_on_white(120, 100, fill=(90, 60, 160))[0])
    cat = tmp_path / "cat"
    args = ["ingest", str(folder), "-c", str(cat), "-e", "classical", "--segmenter", "explode"]
    result = runner.invoke(app, [*args, "--staged", "false", "--json"])
    assert result.exit_code == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["added"] == 3 and summary["rows"] == 3 and summary["skipped"] == 0
    assert [Path(row["path"]).name for row in summary["failed"]] == ["b.png"]
    assert "b.png: internal error: RuntimeError: explode: a bug" in result.stderr
    rows = _failures(cat)
    assert "RuntimeError: explode: a bug" in rows["b.png"]["traceback"]
    assert json.loads((cat / "adstage-run.json").read_text())["summary"]["added"] == 3
    again = json.loads(runner.invoke(app, [*args, "--staged", "false", "--json"]).stdout)
    assert again["skipped"] == 3 and again["rows"] == 3


def test_bracketed_paths_print_verbatim(small_catalog: Path, tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "[b]chair.jpg").write_bytes(b"not a jpeg")
    segmented = runner.invoke(app, ["segment", str(shop), "-o", str(tmp_path / "cut")])
    assert segmented.exit_code == 1
    assert f"error: {shop / '[b]chair.jpg'}: " in segmented.stderr
    staged = runner.invoke(
        app, ["stage", str(shop), "-c", str(small_catalog / "cat"), "-o", str(tmp_path / "st")]
    )
    assert staged.exit_code == 1
    assert f"error: {shop / '[b]chair.jpg'}: " in staged.stderr
    assert _failures(tmp_path / "st")["[b]chair.jpg"]["error"]


def test_a_bug_under_where_is_not_a_bad_filter(small_catalog: Path, monkeypatch) -> None:
    search = importlib.import_module("adstage.retrieve.search")
    query = sorted((small_catalog / "products").iterdir())[0]
    args = ["retrieve", str(query), "-c", str(small_catalog / "cat"), "--where", "staged = true"]
    assert runner.invoke(app, args).exit_code == 0
    bad = runner.invoke(app, [*args[:-1], "nonsense ==="])
    assert bad.exit_code == 2 and "--where 'nonsense ==='" in bad.stderr

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(search, "retrieve", broken)
    bug = runner.invoke(app, args)
    assert bug.exit_code == 1
    assert "--where" not in bug.stderr and "internal error: KeyError" in bug.stderr
    assert "Traceback" in runner.invoke(app, ["-v", *args]).stderr


def test_eval_fid_on_a_stage_output_uses_its_candidates(
    small_catalog: Path, tmp_path: Path, monkeypatch
) -> None:
    fid = importlib.import_module("adstage.evaluate.fid")

    class Colours:
        """Stand-in for Inception features: the mean and spread of each channel."""

        def __init__(self, batch_size: int) -> None:
            self.seen = 0

        def __call__(self, images: Any, **_: Any) -> Any:
            rows = [np.r_[im.reshape(-1, 3).mean(0), im.reshape(-1, 3).std(0)] for im in images]
            return np.asarray(rows, np.float64)

    monkeypatch.setattr(fid, "InceptionFeatures", Colours)
    out = tmp_path / "staged"
    staged = runner.invoke(
        app,
        ["stage", str(small_catalog / "products"), "-c", str(small_catalog / "cat"),
         "-o", str(out), "-k", "2", "--inpainter", "ns", "--no-screen"],
    )  # fmt: skip
    assert staged.exit_code == 0, staged.stderr
    manifests = sorted(out.glob("*/manifest.json"))
    n = sum(len(json.loads(m.read_text())["candidates"]) for m in manifests)
    assert len(manifests) == 2 and n >= 3
    real = small_catalog / "syn" / "images"
    result = runner.invoke(app, ["eval", "fid", str(real), str(out), "--no-kid", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n_gen"] == n and report["inputs"]["generated"]["kind"] == "stage"
    assert report["inputs"]["generated"]["manifests"] == 2
    assert report["inputs"]["real"] == {
        "folder": str(real),
        "kind": "images",
        "images": report["n_real"],
        "description": f"{real}: {report['n_real']} images",
    }
    assert f"{n} staged candidates from 2 products' manifests" in result.stderr
    best = runner.invoke(app, ["eval", "fid", str(real), str(out), "--no-kid", "--best"])
    assert best.exit_code == 0 and "(12 real, 2 generated)" in best.stdout


def test_a_bug_in_a_one_item_verb_is_internal(tmp_path: Path, monkeypatch) -> None:
    inpaint = importlib.import_module("adstage.inpaint")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(inpaint, "inpaint", broken)
    image = write_image(tmp_path / "i.png", product_on_white(64, 64)[0])
    hole = np.zeros((64, 64), bool)
    hole[10:20, 10:20] = True
    mask = adstage.io.images.write_mask(tmp_path / "m.png", hole)
    result = runner.invoke(app, ["inpaint", str(image), "-m", str(mask), "-o", "x.png"])
    assert result.exit_code == 1
    assert "error: internal error: ZeroDivisionError: a bug" in result.stderr


def test_max_pixels_reaches_the_images_library_code_reads(
    small_catalog: Path, tmp_path: Path
) -> None:
    import os

    cat = ["-c", str(small_catalog / "cat")]
    products = str(small_catalog / "products")
    staged = runner.invoke(app, ["stage", products, *cat, "-o", str(tmp_path / "s"), "--json"])
    small = runner.invoke(
        app, ["stage", products, *cat, "-o", str(tmp_path / "t"), "--max-pixels", "100"]
    )
    assert staged.exit_code == 0 and small.exit_code == 1
    assert len(_errors(small)) == 2 and "max_pixels=100" in small.stderr
    ingest = ["ingest", products, "-c", str(tmp_path / "cat"), "-e", "classical", "--json"]
    refused = runner.invoke(app, [*ingest, "--max-pixels", "100"])
    assert refused.exit_code == 1 and len(json.loads(refused.stdout)["failed"]) == 2
    assert "ADSTAGE_MAX_PIXELS" not in os.environ  # restored after the run
    assert json.loads(runner.invoke(app, ingest).stdout)["added"] == 2


@pytest.mark.parametrize("flag, share", [([], 0.25), (["--whole-product"], 0.0)])
def test_stage_whole_product_keeps_free_space_inside_the_frame(
    small_catalog: Path, tmp_path: Path, monkeypatch, flag: list[str], share: float
) -> None:
    pipeline = importlib.import_module("adstage.stage.pipeline")
    shares: list[float] = []
    real = pipeline.place_beside

    def spy(*args: Any, **kwargs: Any) -> Any:
        shares.append(kwargs["off_frame"])
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "place_beside", spy)
    product = next((small_catalog / "products").glob("*.png"))
    out = tmp_path / "staged"
    result = runner.invoke(
        app,
        ["stage", str(product), "-c", str(small_catalog / "cat"), "-o", str(out),
         "--inpainter", "ns", *flag],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert shares and set(shares) == {share}
