"""Align a product cut-out with a slot in a staged scene: scale, centre of mass, base line.

Ku et al. (AdKDD 2023, §5.3, step 3) paste the input product into the scene whose product was
removed, "aligning the shape and the centre of mass" of the two products. Here:

- **scale** (``fit``): ``"footprint"`` (default) — the largest scale at which the cut-out fits
  inside the slot's box, aspect ratio kept, so the new product covers the old one's footprint
  without overflowing it; ``"height"`` / ``"width"`` — match the slot's height / width;
  ``"area"`` — match the slot's mask area.
- **position**: the cut-out's centre of mass goes to the slot's centre of mass horizontally;
  vertically its base sits on the slot's base line (``stand=True``, products stand on the floor)
  or its centre of mass goes to the slot's (``stand=False``).
- **never crop**: the box is shifted (and, if it is larger than the scene, shrunk) to lie inside
  the scene.

:func:`hole_coverage` measures how much of the slot the aligned product covers: the part it
leaves uncovered has to be inpainted, so a higher coverage means less generated area.
"""

from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.types import THRESHOLD, Placement, as_alpha

Fit = Literal["footprint", "height", "width", "area"]
FITS: tuple[str, ...] = ("footprint", "height", "width", "area")


def _binary(mask: NDArray[Any], name: str) -> NDArray[np.bool_]:
    if isinstance(mask, np.ndarray) and mask.dtype == bool:
        if mask.ndim != 2:
            raise InputError(f"{name}: expected a 2-D mask, got shape {mask.shape}")
        return mask
    return as_alpha(mask, name=name) >= THRESHOLD


def _stats(mask: NDArray[np.bool_]) -> tuple[tuple[int, int, int, int], tuple[float, float], int]:
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return box, (float(xs.mean()) + 0.5, float(ys.mean()) + 0.5), int(ys.size)


def align(
    product_mask: NDArray[Any],
    slot_mask: NDArray[Any],
    *,
    fit: Fit = "footprint",
    stand: bool = True,
) -> Placement:
    """Where ``product_mask`` (the cut-out's own ``h×w`` mask, cropped to the product or not)
    goes to replace the product in ``slot_mask`` (``H×W``, the scene's size).

    Raises :class:`InputError` when either mask is empty or ``fit`` is unknown.
    """
    if fit not in FITS:
        raise InputError(f"fit: expected one of {', '.join(FITS)}, got {fit!r}")
    product = _binary(product_mask, "product_mask")
    slot = _binary(slot_mask, "slot_mask")
    if not product.any():
        raise InputError("product_mask: empty (no product pixels to place)")
    if not slot.any():
        raise InputError("slot_mask: empty (no slot to place the product in)")
    (px0, py0, px1, py1), (pcx, pcy), p_area = _stats(product)
    (sx0, sy0, sx1, sy1), (scx, scy), s_area = _stats(slot)
    pw, ph = px1 - px0, py1 - py0
    sw, sh = sx1 - sx0, sy1 - sy0
    scene_h, scene_w = slot.shape
    scale = {
        "footprint": min(sw / pw, sh / ph),
        "height": sh / ph,
        "width": sw / pw,
        "area": float(np.sqrt(s_area / p_area)),
    }[fit]
    scale = min(scale, scene_w / pw, scene_h / ph)  # never larger than the scene
    w = max(1, round(pw * scale))
    h = max(1, round(ph * scale))
    # Centre of mass of the product relative to its own box, in scene pixels.
    x0 = scx - (pcx - px0) * scale
    y0 = sy1 - h if stand else scy - (pcy - py0) * scale
    x0 = round(min(max(x0, 0.0), scene_w - w))
    y0 = round(min(max(y0, 0.0), scene_h - h))
    return Placement(
        box=(x0, y0, x0 + w, y0 + h), scale=scale, fit=fit, scene_size=(scene_w, scene_h)
    )


def render_mask(product_mask: NDArray[Any], placement: Placement) -> NDArray[np.bool_]:
    """The product's mask drawn at ``placement`` on a scene-sized canvas."""
    product = _binary(product_mask, "product_mask")
    if not product.any():
        raise InputError("product_mask: empty (no product pixels to place)")
    (px0, py0, px1, py1), _, _ = _stats(product)
    crop = product[py0:py1, px0:px1].astype(np.uint8)
    x0, y0, x1, y1 = placement.box
    scaled = cv2.resize(crop, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    w, h = placement.scene_size
    canvas = np.zeros((h, w), bool)
    canvas[y0:y1, x0:x1] = scaled.astype(bool)
    return canvas


def shape_mask(mask: NDArray[Any], side: int = 256) -> NDArray[np.bool_]:
    """``mask`` cropped to its box and scaled down so its longer side is at most ``side``: the same
    shape for :func:`align` and :func:`hole_coverage` (they use only the product's shape; its box
    and centre of mass are relative), and far cheaper to align onto many slots."""
    binary = _binary(mask, "mask")
    if not binary.any():
        raise InputError("mask: empty (no product pixels)")
    (x0, y0, x1, y1), _, _ = _stats(binary)
    crop = binary[y0:y1, x0:x1]
    factor = side / max(crop.shape)
    if factor >= 1.0:
        return np.ascontiguousarray(crop)
    size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
    # any coverage counts: a thin part (a leg, a rail) must not vanish, or the product's box and
    # base line would move
    return cv2.resize(crop.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA) > 0


def work_slot(slot_mask: NDArray[Any], work_size: int) -> NDArray[np.bool_]:
    """``slot_mask`` (the scene's size) scaled so its longer side is at most ``work_size``, any
    coverage counting; the full-size mask when the scaled one would be empty. What
    :func:`hole_coverage` measures on."""
    slot = _binary(slot_mask, "slot_mask")
    h, w = slot.shape
    factor = work_size / max(h, w)
    if factor < 1.0:
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        small = cv2.resize(slot.astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
        if small.any():
            return small
    return slot


def hole_coverage(
    product_mask: NDArray[Any],
    slot_mask: NDArray[Any],
    *,
    fit: Fit = "footprint",
    stand: bool = True,
    work_size: int = 128,
) -> float:
    """The share of the slot's pixels that the aligned product covers, in [0, 1].

    Computed on masks scaled so the scene's longer side is ``work_size`` pixels (the answer is a
    ratio; full resolution changes it by well under a percent and costs far more).
    """
    if work_size < 16:
        raise InputError(f"work_size: expected at least 16, got {work_size}")
    product = _binary(product_mask, "product_mask")
    slot = work_slot(slot_mask, work_size)
    if not slot.any():
        raise InputError("slot_mask: empty (no slot to place the product in)")
    placement = align(product, slot, fit=fit, stand=stand)
    placed = render_mask(product, placement)
    return float((placed & slot).sum()) / float(slot.sum())
