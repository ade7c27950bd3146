"""Checks on the real development photos in ../shared/data (non-commercial; never copied here).

Marked ``data``: deselected by default, run by ``make test-all``; skipped when the folder is absent.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from adstage.evaluate.segmentation import score
from adstage.io.images import read_image
from adstage.segment import SEGMENTERS
from adstage.segment.triage import triage

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
pytestmark = [
    pytest.mark.data,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} not found (licensed development data)"),
]


def rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name / "labels.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_triage_on_real_catalog_and_room_photos() -> None:
    plain = rows("ikea-sa-products")[::15]
    staged = rows("ikea-room-scenes")[::5]
    correct = sum(
        not triage(read_image(DATA / "ikea-sa-products" / r["path"])).staged for r in plain
    )
    correct += sum(triage(read_image(DATA / "ikea-room-scenes" / r["path"])).staged for r in staged)
    assert correct / (len(plain) + len(staged)) >= 0.98


def test_grabcut_with_a_box_on_grabcut50() -> None:
    ious = []
    for r in rows("grabcut-50")[::5]:
        raw = cv2.imread(str(DATA / "grabcut-50" / r["mask_path"]), cv2.IMREAD_GRAYSCALE)
        truth, valid = raw > 128, raw != 128
        ys, xs = np.nonzero(truth)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        seg = SEGMENTERS.create("grabcut", box=box)(read_image(DATA / "grabcut-50" / r["path"]))
        ious.append(score(seg.alpha, truth, valid).iou)
    assert np.mean(ious) > 0.7


def test_solid_background_finds_real_products_on_white() -> None:
    seg = SEGMENTERS.create("solid-background")
    for r in rows("ikea-sa-products")[::74]:
        cut = seg(read_image(DATA / "ikea-sa-products" / r["path"])).cutout(
            read_image(DATA / "ikea-sa-products" / r["path"])
        )
        assert not cut.empty and 0.01 < cut.area_fraction < 0.99, r["path"]
