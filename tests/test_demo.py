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
    page = (tmp_path / "index.html").read_text()
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
    assert "make weights-isnet" in (tmp_path / "index.html").read_text()
