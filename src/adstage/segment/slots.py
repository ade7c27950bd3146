"""Slots: the products of a staged photo, one region each.

A staged photo can hold several products (a room: sofa, table, lamp). Copy-paste staging replaces
one of them, so the catalog stores each salient region of a staged image as its own *slot*, with
its own mask and embedding; a chair query can then retrieve "the chair in this living room", not
the whole room. An un-staged photo is one product, so one slot, whatever its mask's shape (a set of
four chairs is one product).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.types import THRESHOLD, as_alpha

DEFAULT_MIN_AREA = 0.01
"""Smallest slot, as a share of the image: smaller salient specks are not products to replace."""

DEFAULT_MAX_SLOTS = 8


def split_slots(
    alpha: NDArray[np.floating],
    *,
    staged: bool,
    min_area: float = DEFAULT_MIN_AREA,
    max_slots: int = DEFAULT_MAX_SLOTS,
) -> list[NDArray[np.float32]]:
    """The slot masks of an image with product alpha ``alpha``, largest first.

    Un-staged: the whole alpha is one slot. Staged: each 8-connected region of ``alpha ≥ 0.5``
    covering at least ``min_area`` of the image is a slot (at most ``max_slots``), keeping the soft
    alpha of its own pixels and of the soft edge around it. When no region is large enough the
    whole alpha is one slot, so the image is still recorded (a slot with area 0 is never a match).
    """
    alpha = as_alpha(alpha, name="alpha")
    if not 0.0 <= min_area < 1.0:
        raise InputError(f"min_area: expected a share of the image in [0, 1), got {min_area}")
    if max_slots < 1:
        raise InputError(f"max_slots: expected at least 1, got {max_slots}")
    if not staged:
        return [alpha]
    binary = (alpha >= THRESHOLD).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    h, w = alpha.shape
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area * h * w]
    keep.sort(key=lambda i: -int(stats[i, cv2.CC_STAT_AREA]))
    if not keep:
        return [alpha]
    # Soft edge pixels (alpha below the threshold) belong to the nearest region: a few pixels'
    # dilation of each region, never into another region's core.
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    core = binary.astype(bool)
    slots = []
    for i in keep[:max_slots]:
        own = labels == i
        grown = cv2.dilate(own.astype(np.uint8), kernel).astype(bool) & ~(core & ~own)
        slots.append(np.where(grown, alpha, 0.0).astype(np.float32))
    return slots
