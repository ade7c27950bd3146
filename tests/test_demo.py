"""The demo writes inputs, masks, cut-outs and a page that shows them, and says which backend ran."""

from __future__ import annotations

import json
import re

import numpy as np

from adstage.demo import run_demo
from adstage.io.images import read_image, read_mask


def test_demo_writes_page_and_outputs(tmp_path) -> None:
    summary = run_demo(tmp_path, n_synthetic=4, samples=False)
    assert summary["items"] == 4 and summary["mean_iou_synthetic"] > 0.5
    page = (tmp_path / "segmentation.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 12  # input, mask, cut-out per item
    for src in images:
        assert (tmp_path / src).is_file(), src
    for backend in summary["backends"]:
        assert f"<b>{backend}</b>" in page
    first = re.findall(r'src="(cutouts/[^"]+)"', page)[0]
    rgba = read_image(tmp_path / first)  # composited; the file itself has alpha
    assert rgba.shape[2] == 3
    mask = read_mask(tmp_path / first.replace("cutouts/", "masks/").replace(".png", ".mask.png"))
    assert 0.0 < float(np.mean(mask >= 0.5)) < 1.0
    record = json.loads((tmp_path / "adstage-run.json").read_text())
    assert record["command"] == "demo" and "numpy" in record["versions"]


def test_demo_without_isnet_says_how_to_get_it(tmp_path) -> None:
    # The test run isolates ADSTAGE_WEIGHTS, so staged items fall back to GrabCut.
    summary = run_demo(tmp_path, n_synthetic=3, samples=False)  # items 1 and 2 are staged rooms
    assert summary["backends"].get("grabcut", 0) >= 1
    assert "make weights-isnet" in (tmp_path / "segmentation.html").read_text()


def test_staging_demo_stages_products_end_to_end(tmp_path) -> None:
    from adstage.demo import run_staging_demo

    # Six rooms are enough for two candidates each (this demo renders 512-px scenes).
    summary = run_staging_demo(tmp_path, n_catalog=6, n_products=2, k=2)
    assert summary["products"] == 2 and summary["catalog_slots"] >= 6
    assert read_image(summary["montage"]).shape == (2 * 192, 4 * 192, 3)
    assert summary["embedder"] == "classical"  # the test run has no weights installed
    page = (tmp_path / "index.html").read_text()
    assert "classical" in page and "segmentation.html" in page
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 2 * 3  # product + two candidates per row
    for src in images:
        assert (tmp_path / src).is_file(), src
    manifests = list((tmp_path / "staged").glob("*/manifest.json"))
    assert len(manifests) == 2
    assert all(len(json.loads(m.read_text())["candidates"]) == 2 for m in manifests)
    # The parallax page: one decodable 2-second loop per product, next to its still.
    animation = (tmp_path / "animation" / "index.html").read_text()
    videos = re.findall(r'<video src="([^"]+)"', animation)
    assert summary["animation_page"] and len(videos) == 2
    import imageio_ffmpeg

    for src in videos:
        reader = imageio_ffmpeg.read_frames(str(tmp_path / "animation" / src))
        meta = next(reader)
        assert meta["fps"] == 24 and sum(1 for _ in reader) == 48
    # Re-run: no duplicates (the videos were checked above; not made again).
    again = run_staging_demo(tmp_path, n_catalog=6, n_products=2, k=2, animate=False)
    assert again["catalog_slots"] == summary["catalog_slots"] and again["ingested"] == 0
