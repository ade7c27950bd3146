"""Fitting the picture to the output size, and the clean plate: the background with the product
removed, inpainted once.

1. **Fit** the image and its product mask to the output size (cropped around the product, or the
   canvas extended, as for the ad formats of :mod:`adstage.composite.formats`, then scaled).
2. **Clean plate**: the product's mask, dilated, is filled by an inpainter of
   :data:`adstage.inpaint.INPAINTERS` (default :data:`~adstage.inpaint.DEFAULT_INPAINTER`).
   :meth:`Animation.prepare <adstage.animate.render.Animation.prepare>` then pads the plate by
   reflection by as many pixels as the background moves, so the still keeps its framing exactly.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.composite.formats import to_format
from adstage.errors import InputError
from adstage.inpaint.base import DEFAULT_INPAINTER, inpaint
from adstage.types import RGB, THRESHOLD, as_alpha, as_rgb

log = logging.getLogger(__name__)

__all__ = ["Plate", "clean_plate", "fit_to_size", "mask_box"]


def mask_box(binary: NDArray[np.bool_]) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``, ``x1`` and ``y1`` exclusive: the box of the ``True`` pixels."""
    ys, xs = np.nonzero(binary)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def fit_to_size(
    image: RGB, alpha: NDArray[np.float32], size: tuple[int, int]
) -> tuple[RGB, NDArray[np.float32]]:
    """``image`` and ``alpha`` at ``size`` ``(width, height)``.

    The aspect ratio is reached as for ad formats (:func:`~adstage.composite.formats.to_format`:
    crop around the product when it fits the safe area, else extend the canvas), then the picture
    is scaled to cover the canvas (area when shrinking, linear when enlarging; the mask alike) and
    cropped around the product.
    """
    cw, ch = size
    box = mask_box(alpha >= THRESHOLD)
    if abs(image.shape[1] / image.shape[0] - cw / ch) > 1e-3:
        fitted, new_box = to_format(image, box, cw / ch)
        ox, oy = new_box[0] - box[0], new_box[1] - box[1]  # > 0: canvas extended; < 0: cropped
        fh, fw = fitted.shape[:2]
        placed = np.zeros((fh, fw), np.float32)
        sy0, sx0 = max(0, -oy), max(0, -ox)
        dy0, dx0 = max(0, oy), max(0, ox)
        ph, pw = min(fh - dy0, alpha.shape[0] - sy0), min(fw - dx0, alpha.shape[1] - sx0)
        placed[dy0 : dy0 + ph, dx0 : dx0 + pw] = alpha[sy0 : sy0 + ph, sx0 : sx0 + pw]
        image, alpha, box = fitted, placed, new_box
    f = max(cw / image.shape[1], ch / image.shape[0])
    rw, rh = (
        max(cw, math.ceil(image.shape[1] * f - 1e-6)),
        max(ch, math.ceil(image.shape[0] * f - 1e-6)),
    )
    if (rw, rh) != (image.shape[1], image.shape[0]):
        method = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
        # cv2's stubs type every result as MatLike; resize keeps the uint8 RGB layout.
        image = cast(RGB, cv2.resize(image, (rw, rh), interpolation=method))
        alpha = np.clip(cv2.resize(alpha, (rw, rh), interpolation=method), 0.0, 1.0)
    cx, cy = (box[0] + box[2]) / 2 * f, (box[1] + box[3]) / 2 * f
    left = round(min(max(cx - cw / 2, 0), rw - cw))
    top = round(min(max(cy - ch / 2, 0), rh - ch))
    return (
        np.ascontiguousarray(image[top : top + ch, left : left + cw]),
        np.ascontiguousarray(alpha[top : top + ch, left : left + cw]),
    )


@dataclass(frozen=True)
class Plate:
    """The background with the product removed: ``image`` (``H×W×3`` uint8) equals the input
    outside ``hole`` (``bool``, the dilated product mask) and is inpainted inside it. An
    :class:`~adstage.animate.render.Animation`'s plate is padded by ``anim.margin`` pixels on
    each side."""

    image: RGB = field(repr=False)
    hole: NDArray[np.bool_] = field(repr=False)
    inpainter: str
    seconds: float


def clean_plate(
    image: Any,
    alpha: Any,
    *,
    inpainter: str = DEFAULT_INPAINTER,
    dilate_px: int | None = None,
) -> Plate:
    """Inpaint behind the product once: the hole is the product's mask (alpha >= 0.5) dilated by
    ``dilate_px`` (``None``: 2 % of the product's longer side, at least 3 px), which takes in its
    soft edge."""
    rgb = as_rgb(image)
    a = as_alpha(alpha, rgb.shape[:2], name="mask")
    binary = a >= THRESHOLD
    if not binary.any():
        raise InputError("mask: empty (no pixel >= 0.5), so there is no product to remove")
    if dilate_px is None:
        x0, y0, x1, y1 = mask_box(binary)
        dilate_px = max(3, round(0.02 * max(x1 - x0, y1 - y0)))
    hole = binary
    if dilate_px:
        kernel = cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1)
        )
        hole = cv2.dilate(binary.astype(np.uint8), kernel) > 0
    if hole.all():
        raise InputError(
            f"mask: the product, grown by {dilate_px} px, covers the whole "
            f"{rgb.shape[1]}×{rgb.shape[0]} frame, so there is no background to show behind it"
        )
    started = time.perf_counter()
    filled = inpaint(rgb, hole, backend=inpainter)
    seconds = time.perf_counter() - started
    log.info("clean plate: %d px inpainted by %s in %.2f s", int(hole.sum()), inpainter, seconds)
    return Plate(image=filled, hole=hole, inpainter=inpainter, seconds=seconds)
