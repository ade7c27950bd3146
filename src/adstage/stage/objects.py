"""Where a room photo has objects: saliency run on the whole photo and on overlapping tiles.

A saliency network (U²-Net, Qin et al., Pattern Recognition 2020) marks the *most* salient object
of what it is shown: on a whole room photo a sofa or a TV bench, rarely the crib or the wardrobe
beside it, so a catalog made from it knows two or three objects of a room. Free space
(:mod:`adstage.stage.freespace`) takes every object it does not know for floor: products stood
over a crib's rail or in front of a dining table the catalog has no mask of (issue 13). Shown a
tile of the room, the same network marks the salient object *of that tile*; the union over tiles
of a few sizes (:data:`TILES`) and the whole photo covers most of the furniture, at the price of one
network run per tile, so the maps are computed once per scene and kept on disk
(:func:`cached_object_map`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.io.atomic import atomic_write_bytes
from adstage.segment.base import Segmenter
from adstage.types import RGB

TILES: tuple[tuple[float, float, int, int], ...] = ((0.5, 0.6, 3, 2), (0.34, 0.5, 3, 2))
"""Tiles as (width share, height share, columns, rows): each size laid out evenly from one edge
of the photo to the other, overlapping (3 × 2 tiles of half the width and 60 % of the height, and
3 × 2 of a third and a half): 12 tiles and the whole photo, 13 runs of the network."""


def tile_boxes(
    width: int, height: int, tiles: tuple[tuple[float, float, int, int], ...] = TILES
) -> list[tuple[int, int, int, int]]:
    """The ``(x0, y0, x1, y1)`` boxes of the whole photo and of every tile of ``tiles``."""
    if width < 2 or height < 2:
        raise InputError(f"tile_boxes: a {width}×{height} photo is too small")
    boxes = [(0, 0, width, height)]
    for fx, fy, cols, rows in tiles:
        if not (0 < fx <= 1 and 0 < fy <= 1 and cols >= 1 and rows >= 1):
            raise InputError(f"tile_boxes: bad tile {(fx, fy, cols, rows)}")
        tw, th = max(1, round(width * fx)), max(1, round(height * fy))
        for x0 in np.linspace(0, width - tw, cols).round().astype(int):
            for y0 in np.linspace(0, height - th, rows).round().astype(int):
                boxes.append((int(x0), int(y0), int(x0) + tw, int(y0) + th))
    return boxes


def object_map(scene: RGB, segmenter: Segmenter) -> NDArray[np.bool_]:
    """The union of ``segmenter``'s masks of the whole ``scene`` and of each tile of
    :func:`tile_boxes`, scene-sized."""
    h, w = scene.shape[:2]
    out = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in tile_boxes(w, h):
        out[y0:y1, x0:x1] |= np.asarray(segmenter(scene[y0:y1, x0:x1]).mask, bool)
    return out


def cached_object_map(
    scene: RGB, segmenter: Segmenter, cache: str | Path, key: str
) -> NDArray[np.bool_]:
    """:func:`object_map` of ``scene``, read from ``cache`` when computed before (a PNG named
    after ``key``, e.g. the scene's file name, the backend and the size) and written there
    atomically otherwise. A map of another size than ``scene`` is an error, not a resize."""
    h, w = scene.shape[:2]
    digest = hashlib.sha256(f"{key}|{segmenter.name}|{w}x{h}|{TILES}".encode()).hexdigest()[:16]
    path = Path(cache) / f"{digest}.png"
    if path.is_file():
        found = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if found is None or found.shape != (h, w):
            raise InputError(f"{path}: not a {w}×{h} object map; delete it to recompute")
        return np.asarray(found > 127, bool)
    mask = object_map(scene, segmenter)
    ok, png = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    if not ok:
        raise InputError(f"{path}: the object map could not be encoded")
    atomic_write_bytes(path, png.tobytes())
    return mask
