"""A retrieval embedding without learned weights: shape (HOG) first, colour a little.

Each image is :func:`~adstage.retrieve.base.prepare`-d (cut-out on white, cropped, square) and
resized to 128×128 with ``INTER_AREA``; its mask goes through the same crop and padding. Four
blocks are computed, each L2-normalised and multiplied by its weight, then the concatenation is
L2-normalised:

* ``colour``: HSV histogram (8 hue × 4 saturation × 4 value bins) of the product pixels only;
* ``hog_grey``: HOG of the grey image (Dalal & Triggs, CVPR 2005; :func:`hog`: 16-px cells,
  2×2-cell blocks at a stride of one cell, 9 unsigned orientation bins, L2-Hys);
* ``hog_mask``: the same HOG of the mask (the silhouette);
* ``hu``: the seven Hu moments of the mask (Hu, 1962), log-scaled ``-sign(h)·log10|h|``.

Default weights follow the measurement in ``../shared/REFERENCES.md`` §5 (1,557 IKEA products,
24 categories, leave-one-out cosine P@1): HOG of the grey image + HOG of the mask 0.692; adding the
HSV histogram at equal weight *lowered* it to 0.575; the histogram alone 0.239. So the two HOG
blocks get weight 1 and colour and Hu moments a small weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.retrieve.base import EMBEDDERS, Mode, l2_normalize, paired_masks, prepare
from adstage.types import RGB, as_rgb

SIDE = 128
HSV_BINS = (8, 4, 4)
_CELL, _BLOCK, _NBINS = 16, 32, 9


def hog(image: NDArray[Any], *, cell: int = _CELL, nbins: int = _NBINS) -> NDArray[np.float32]:
    """HOG of a ``uint8`` grey ``H×W`` image (Dalal & Triggs, CVPR 2005), in numpy.

    Central-difference gradients; unsigned orientation (0–180°) voted into ``nbins`` bins with
    linear interpolation between neighbouring bins, weighted by magnitude; ``cell×cell`` cells;
    2×2-cell blocks at a stride of one cell, each L2-Hys normalised (clip at 0.2, renormalise).
    (OpenCV 5's wheels here have no ``HOGDescriptor``.) Length ``(H/cell-1)·(W/cell-1)·4·nbins``.
    """
    g = np.asarray(image, np.float32)
    gx = np.zeros_like(g)
    gy = np.zeros_like(g)
    gx[:, 1:-1] = g[:, 2:] - g[:, :-2]
    gy[1:-1, :] = g[2:, :] - g[:-2, :]
    mag = np.hypot(gx, gy)
    pos = (np.degrees(np.arctan2(gy, gx)) % 180.0) / (180.0 / nbins) - 0.5
    lo = np.floor(pos)
    frac = pos - lo
    lo = lo.astype(np.int64) % nbins
    hi = (lo + 1) % nbins
    ch, cw = g.shape[0] // cell, g.shape[1] // cell
    cell_id = (np.arange(ch * cell)[:, None] // cell) * cw + np.arange(cw * cell)[None, :] // cell
    m, f = mag[: ch * cell, : cw * cell], frac[: ch * cell, : cw * cell]
    idx = cell_id * nbins
    hist = np.bincount(
        np.concatenate(
            [
                (idx + lo[: ch * cell, : cw * cell]).ravel(),
                (idx + hi[: ch * cell, : cw * cell]).ravel(),
            ]
        ),
        weights=np.concatenate([(m * (1 - f)).ravel(), (m * f).ravel()]),
        minlength=ch * cw * nbins,
    ).reshape(ch, cw, nbins)
    blocks = np.concatenate(
        [hist[:-1, :-1], hist[:-1, 1:], hist[1:, :-1], hist[1:, 1:]], axis=2
    ).reshape(-1, 4 * nbins)
    blocks = blocks / np.sqrt((blocks**2).sum(1, keepdims=True) + 1e-6)
    blocks = np.minimum(blocks, 0.2)
    blocks = blocks / np.sqrt((blocks**2).sum(1, keepdims=True) + 1e-6)
    out: NDArray[np.float32] = blocks.ravel().astype(np.float32)
    return out


HOG_DIM = (SIDE // _CELL - 1) ** 2 * 4 * _NBINS
HSV_DIM = int(np.prod(HSV_BINS))
HU_DIM = 7


def _unit(v: NDArray[Any]) -> NDArray[np.float32]:
    v = np.asarray(v, np.float32).ravel()
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-12 else v


def prepare_with_mask(
    image: RGB, mask: NDArray[Any] | None, *, mode: Mode, side: int = SIDE
) -> tuple[RGB, NDArray[np.uint8]]:
    """The prepared ``side×side`` image and its ``uint8`` mask (255 = product), aligned.

    The mask goes through the same crop and padding as the image: :func:`prepare` of a white
    image composited on black by ``mask`` is ``255·mask`` on exactly the image's box. Without a
    mask (or with an empty one) the whole image counts as product.
    """
    image = as_rgb(image)
    prepared = prepare(image, mask, mode=mode)
    white = np.full_like(image, 255)
    alpha = prepare(white, mask, mode=mode, background=(0, 0, 0))
    prepared = cast(RGB, cv2.resize(prepared, (side, side), interpolation=cv2.INTER_AREA))
    alpha = cast(RGB, cv2.resize(alpha[:, :, 0], (side, side), interpolation=cv2.INTER_AREA))
    return prepared, alpha


@EMBEDDERS.register("classical")
@dataclass(frozen=True)
class Classical:
    """HSV histogram + HOG (grey) + HOG (mask) + Hu moments; no weights. See the module doc."""

    mode: Mode = "cutout"
    colour: float = 0.25
    hog_grey: float = 1.0
    hog_mask: float = 1.0
    hu: float = 0.1

    name: ClassVar[str] = "classical"
    dim: int = field(default=HSV_DIM + 2 * HOG_DIM + HU_DIM, init=False)

    def __post_init__(self) -> None:
        if self.mode not in ("cutout", "whole"):
            raise InputError(f"mode: expected 'cutout' or 'whole', got {self.mode!r}")
        weights = {k: getattr(self, k) for k in ("colour", "hog_grey", "hog_mask", "hu")}
        for key, value in weights.items():
            if not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
                raise InputError(f"{key}: expected a finite weight >= 0, got {value!r}")
        if not any(weights.values()):
            raise InputError("Classical: at least one block weight must be > 0")

    def describe(self, image: RGB, mask: NDArray[Any] | None = None) -> NDArray[np.float32]:
        """The un-normalised concatenation of the weighted blocks for one image."""
        rgb, alpha = prepare_with_mask(image, mask, mode=self.mode)
        product = (alpha >= 128).astype(np.uint8)
        if not product.any():
            product[:] = 1
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        counts = cv2.calcHist([hsv], [0, 1, 2], product, list(HSV_BINS), [0, 180, 0, 256, 0, 256])
        hist = counts.ravel() / max(float(counts.sum()), 1.0)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        hu = cv2.HuMoments(cv2.moments(alpha.astype(np.float32) / 255.0)).ravel()
        hu = -np.sign(hu) * np.log10(np.abs(hu) + 1e-30)
        hu = np.where(np.abs(hu) > 29, 0.0, hu)  # an exactly-zero moment (symmetry) → 0
        return np.concatenate(
            [
                self.colour * _unit(hist),
                self.hog_grey * _unit(hog(grey)),
                self.hog_mask * _unit(hog(alpha)),
                self.hu * _unit(hu),
            ]
        ).astype(np.float32)

    def embed(
        self, images: Sequence[RGB], masks: Sequence[NDArray[Any] | None] | None = None
    ) -> NDArray[np.float32]:
        """``N×dim`` ``float32`` unit-length descriptors."""
        images = list(images)
        masks = paired_masks(images, masks)
        out = np.zeros((len(images), self.dim), np.float32)
        for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
            out[i] = self.describe(image, mask)
        return l2_normalize(out)
