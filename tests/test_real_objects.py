"""benchmarks/real_objects.py: an object is cut out of its room photo by its catalog mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from adstage.catalog.store import encode_mask
from benchmark_module import load_benchmark


@pytest.fixture
def real_objects(monkeypatch):  # type: ignore[no-untyped-def]
    pytest.importorskip("lancedb")
    module = load_benchmark(monkeypatch, "real_objects")
    return module


def test_an_object_is_cut_by_its_mask_scaled_to_the_photo(real_objects, tmp_path) -> None:
    photo = np.zeros((200, 300, 3), np.uint8)
    photo[80:140, 100:160] = (0, 0, 255)  # a red object (BGR on disk)
    path = tmp_path / "room.jpg"
    cv2.imwrite(str(path), photo)
    mask = np.zeros((100, 150), bool)  # the catalog's mask, at half the photo's size
    mask[40:70, 50:80] = True
    row = {"id": "x-0", "uri": str(path), "mask_png": encode_mask(mask)}
    crop, cut, room = real_objects.cut_object(row)
    pad = real_objects.PAD
    assert room == "room.jpg"
    assert crop.shape == (60 + 2 * pad, 60 + 2 * pad, 3) and cut.shape == crop.shape[:2]
    assert cut[pad:-pad, pad:-pad].all() and not cut[:pad].any()
    assert crop[pad + 5, pad + 5, 0] > 200  # read as RGB: red first
    row["mask_png"] = encode_mask(np.zeros((100, 150), bool))
    with pytest.raises(ValueError, match="empty mask"):
        real_objects.cut_object(row)
