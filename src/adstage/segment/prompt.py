"""Products photographed in the wild: a box prompt, and a check that a cut-out is one product.

A seller's phone photo shows the product on a table, in a hand or on a person. A saliency
segmenter then cuts out whatever stands out — the teapot with its plate, the clock with the hand
holding it — and staging pastes all of it. Two remedies (issue 13, step 6):

- :func:`segment_in_box`: the user draws a box around the product (``--box``); the segmenter sees
  only the box and a small margin, and nothing outside the box is kept;
- :func:`check_cutout`: for batch work, where nobody draws boxes, a cut-out is refused when its
  mask shows what a lone product on its own does not: it runs into two or more sides of the photo
  (a person, a table, a background that continues out of the frame), it falls apart into several
  large pieces (a hand and the product; two products), or it covers almost the whole photo.
  Products shot on a studio backdrop pass: they sit inside the frame, in one piece.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.types import RGB, THRESHOLD, as_alpha

BOX_MARGIN = 0.1
"""The segmenter sees the box grown by this share of its size on each side (context)."""


def parse_box(text: str, size: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
    """``"x0,y0,x1,y1"`` (pixels) as a box; checked against ``size`` = ``(width, height)``."""
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isascii() and p.strip().isdecimal() for p in parts):
        raise InputError(f"box: expected x0,y0,x1,y1 in pixels, got {text!r}")
    x0, y0, x1, y1 = (int(p) for p in parts)
    return check_box((x0, y0, x1, y1), size)


def check_box(
    box: tuple[int, int, int, int], size: tuple[int, int] | None = None
) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise InputError(f"box: {box} is empty or under 8 pixels a side (x0 < x1, y0 < y1)")
    if size is not None and (x0 < 0 or y0 < 0 or x1 > size[0] or y1 > size[1]):
        raise InputError(f"box: {box} is not inside the {size[0]}×{size[1]} image")
    return box


def segment_in_box(image: RGB, box: tuple[int, int, int, int], segmenter: Any) -> Any:
    """``segmenter`` run on the box (grown by :data:`BOX_MARGIN`) only; its alpha pasted back into
    an image-sized alpha that is 0 outside the box. Returns ``(alpha, segmentation)``."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = check_box(box, (w, h))
    mx, my = round(BOX_MARGIN * (x1 - x0)), round(BOX_MARGIN * (y1 - y0))
    cx0, cy0, cx1, cy1 = max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)
    seg = segmenter(np.ascontiguousarray(image[cy0:cy1, cx0:cx1]))
    alpha = np.zeros((h, w), np.float32)
    crop = as_alpha(seg.alpha, (cy1 - cy0, cx1 - cx0), name="alpha")
    alpha[cy0:cy1, cx0:cx1] = crop
    inside = np.zeros((h, w), bool)
    inside[y0:y1, x0:x1] = True
    alpha[~inside] = 0.0
    return alpha, seg


@dataclass(frozen=True)
class CutoutCheck:
    """What :func:`check_cutout` measured: ``ok``, the reasons it is not, and the values."""

    ok: bool
    reasons: list[str]
    sides: int
    pieces: int
    area: float


MAX_SIDES = 1
"""A cut-out may touch at most this many sides of the photo (a product cut by one edge happens)."""
MIN_PIECE = 0.15
"""A second piece of the mask counts when it is at least this share of the largest piece."""
MAX_AREA = 0.9


def check_cutout(alpha: NDArray[np.floating], *, edge: float = 0.01) -> CutoutCheck:
    """Whether the mask of ``alpha`` looks like one product on its own (module docstring).

    ``edge``: a side is touched when mask pixels lie within this share of the photo's size of it.
    """
    mask = as_alpha(alpha, name="alpha") >= THRESHOLD
    h, w = mask.shape
    if not mask.any():
        return CutoutCheck(False, ["the mask is empty"], 0, 0, 0.0)
    ex, ey = max(1, round(edge * w)), max(1, round(edge * h))
    sides = int(mask[:ey].any()) + int(mask[-ey:].any())
    sides += int(mask[:, :ex].any()) + int(mask[:, -ex:].any())
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    areas = sorted((int(a) for a in stats[1:n, cv2.CC_STAT_AREA]), reverse=True)
    pieces = sum(a >= MIN_PIECE * areas[0] for a in areas)
    area = float(mask.mean())
    reasons = []
    if sides > MAX_SIDES:
        reasons.append(
            f"it runs into {sides} sides of the photo (a person, a table or a background that "
            "continues out of the frame)"
        )
    if pieces > 1:
        reasons.append(f"it falls apart into {pieces} large pieces (a hand, a second object)")
    if area > MAX_AREA:
        reasons.append(f"it covers {area:.0%} of the photo")
    return CutoutCheck(not reasons, reasons, sides, pieces, area)
