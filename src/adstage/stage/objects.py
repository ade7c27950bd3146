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
import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.io.atomic import atomic_write_bytes
from adstage.segment.base import Segmenter
from adstage.types import RGB

log = logging.getLogger(__name__)

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
        return _read_map(path, (h, w), "object map")
    mask = object_map(scene, segmenter)
    atomic_write_bytes(path, _png(mask, path, "object map"))
    return mask


def _read_map(path: Path, shape: tuple[int, int], what: str) -> NDArray[np.bool_]:
    """A map kept as a 0/255 PNG at ``path``; one of another ``shape`` (rows, columns) than
    asked is an error naming ``what`` it is, not a resize."""
    found = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if found is None or found.shape != shape:
        raise InputError(f"{path}: not a {shape[1]}×{shape[0]} {what}; delete it to recompute")
    return np.asarray(found > 127, bool)


def _png(mask: NDArray[np.bool_], path: Path, what: str) -> bytes:
    """``mask`` as the 0/255 PNG :func:`_read_map` reads, for ``path``."""
    ok, png = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    if not ok:
        raise InputError(f"{path}: the {what} could not be encoded")
    return bytes(png.tobytes())


LOCAL_GROW: tuple[float, float, float] = (0.5, 0.5, 0.25)
"""How far :func:`local_crop` reaches beyond a box: (each side, above, below), as shares of the
box's width, height and height."""

LOCAL_SNAP = 32
""":func:`local_crop` widens its crop outward to multiples of this many pixels: places a few
pixels apart (products of about the same size beside the same object) share one crop, so one
network run and one file of the cache serve them all."""


def local_crop(
    box: tuple[int, int, int, int],
    width: int,
    height: int,
    grow: tuple[float, float, float] = LOCAL_GROW,
    snap: int = LOCAL_SNAP,
) -> tuple[int, int, int, int]:
    """The ``(x0, y0, x1, y1)`` crop of a ``width`` × ``height`` photo around ``box`` (which may
    reach past the frame), grown by ``grow``, widened outward to multiples of ``snap`` and
    clipped to the photo."""
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        raise InputError(f"local_crop: an empty box {box}")
    if snap < 1:
        raise InputError(f"local_crop: snap must be at least 1, got {snap}")
    side, above, below = grow
    bw, bh = x1 - x0, y1 - y0
    cx0, cy0 = x0 - side * bw, y0 - above * bh
    cx1, cy1 = x1 + side * bw, y1 + below * bh
    cx0, cy0 = max(0, int(cx0 // snap) * snap), max(0, int(cy0 // snap) * snap)
    cx1, cy1 = min(width, -int(-cx1 // snap) * snap), min(height, -int(-cy1 // snap) * snap)
    if cx1 - cx0 < 2 or cy1 - cy0 < 2:
        raise InputError(f"local_crop: the box {box} is not seen in a {width}×{height} photo")
    return cx0, cy0, cx1, cy1


def _described(segmenter: Segmenter) -> str:
    """A segmenter's name with the settings that change its masks (a variant, an input size,
    its own weights file), for a cache key: U²-Netp and IS-Net at 512² are not their defaults."""
    parts = [segmenter.name]
    for field in ("variant", "input_size", "weights"):
        value = getattr(segmenter, field, None)
        if value is not None:
            parts.append(f"{field}={value}")
    return ",".join(parts)


class LocalObjects:
    """What stands where a product would go, found by showing the segmenters only that part of
    the room (issue 13, session 35). A saliency network marks the most salient object of what it is
    shown; on the whole photo, or on fixed tiles (:func:`object_map`), a white armchair against a
    white wall or a TV bench beside a grey ottoman is often not it, and free space stood products
    in front of them. Shown a crop around the product's box (:func:`local_crop`), U²-Net marks what
    stands there. Calling it with a box gives the share of the box over the union of the
    ``segmenters``' masks of that crop (:func:`adstage.stage.freespace.covered_share`'s
    measure). Crops are kept by box in memory and, with ``cache`` (a folder) and ``key`` (the
    scene's name), on disk as PNGs, written atomically: a catalog's rooms are staged into again
    and again, so a crop costs its network runs once. A file that cannot be written is logged and
    skipped; one of another size is an error."""

    def __init__(
        self,
        scene: RGB,
        segmenters: list[Segmenter],
        cache: str | Path | None = None,
        key: str = "",
    ) -> None:
        if scene.ndim != 3 or scene.shape[0] < 2 or scene.shape[1] < 2:
            raise InputError(f"LocalObjects: expected an RGB scene, got shape {scene.shape}")
        if not segmenters:
            raise InputError("LocalObjects: no segmenter given")
        if cache is not None and not key:
            raise InputError("LocalObjects: a cache needs the scene's key")
        self.scene = scene
        self.segmenters = segmenters
        self.cache = None if cache is None else Path(cache)
        self.key = key
        self.runs = 0
        self._maps: dict[tuple[int, int, int, int], NDArray[np.bool_]] = {}

    @property
    def backends(self) -> list[str]:
        """The segmenters' names, as the provenance records them."""
        return [s.name for s in self.segmenters]

    def _path(self, crop: tuple[int, int, int, int]) -> Path | None:
        if self.cache is None:
            return None
        h, w = self.scene.shape[:2]
        names = "+".join(_described(s) for s in self.segmenters)
        digest = hashlib.sha256(f"{self.key}|{names}|{w}x{h}|{crop}".encode()).hexdigest()[:16]
        return self.cache / f"{digest}.png"

    def crop_map(self, crop: tuple[int, int, int, int]) -> NDArray[np.bool_]:
        """The union of the segmenters' masks of the scene's ``crop``, crop-sized."""
        if crop in self._maps:
            return self._maps[crop]
        x0, y0, x1, y1 = crop
        path = self._path(crop)
        if path is not None and path.is_file():
            self._maps[crop] = _read_map(path, (y1 - y0, x1 - x0), "crop map")
            return self._maps[crop]
        part = np.ascontiguousarray(self.scene[y0:y1, x0:x1])
        mask = np.zeros(part.shape[:2], bool)
        for segmenter in self.segmenters:
            mask |= np.asarray(segmenter(part).mask, bool)
            self.runs += 1
        self._maps[crop] = mask
        if path is not None:
            try:
                atomic_write_bytes(path, _png(mask, path, "crop map"))
            except (OSError, InputError) as exc:
                log.warning("local object map not kept at %s: %s", path, exc)
        return mask

    def __call__(self, box: tuple[int, int, int, int]) -> float:
        """The share of ``box`` (its part inside the frame) over what the segmenters mark in the
        crop around it."""
        h, w = self.scene.shape[:2]
        crop = local_crop(box, w, h)
        return box_share(self.crop_map(crop), crop, box)


def box_share(
    found: NDArray[Any], crop: tuple[int, int, int, int], box: tuple[int, int, int, int]
) -> float:
    """The share of ``box`` (scene pixels; its part inside ``crop``, which lies inside the frame)
    that the crop-sized map ``found`` (any dtype: non-zero is an object) marks."""
    x0, y0 = max(box[0], crop[0]) - crop[0], max(box[1], crop[1]) - crop[1]
    x1, y1 = min(box[2], crop[2]) - crop[0], min(box[3], crop[3]) - crop[1]
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return float((found[y0:y1, x0:x1] != 0).mean())
