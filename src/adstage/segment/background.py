"""A model of a plain photo background, estimated from the image border.

Shared by the classical segmenter (:mod:`adstage.segment.solid_background`) and catalog triage
(:mod:`adstage.triage`): a product shot on a plain background has a border made almost entirely of
one colour, possibly with a smooth studio gradient; a staged scene does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.types import RGB


def border_band(height: int, width: int, frac: float = 0.02, min_px: int = 2) -> NDArray[np.bool_]:
    """A boolean mask of the outer band of an image: ``frac`` of the shorter side, at least ``min_px``."""
    b = max(min_px, round(min(height, width) * frac))
    band = np.zeros((height, width), bool)
    band[:b] = band[-b:] = True
    band[:, :b] = band[:, -b:] = True
    return band


def _design(xs: NDArray[np.float32], ys: NDArray[np.float32]) -> NDArray[np.float32]:
    """Quadratic surface terms in normalised coordinates: 1, x, y, x², xy, y²."""
    return np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], axis=1)


@dataclass(frozen=True)
class BackgroundModel:
    """The estimated background of an image.

    ``color``: median RGB of the border pixels that agree with the dominant border colour.
    ``plain_fraction``: fraction of border pixels within ``tolerance`` of the fitted background
    (1.0 for a clean studio shot). ``noise``: robust spread (MAD-based sigma) of those pixels.
    ``coeffs``: 6×3 quadratic surface fitted to the agreeing border pixels, so gradients and
    vignetting of studio backdrops are followed; ``None`` when the surface is flat.
    """

    color: NDArray[np.float32]
    plain_fraction: float
    noise: float
    tolerance: float
    coeffs: NDArray[np.float32] | None

    def render(self, height: int, width: int) -> RGB:
        """The background as an ``H×W×3`` uint8 RGB image.

        The quadratic surface is smooth, so it is evaluated on a coarse grid and resized.
        """
        if self.coeffs is None:
            color = np.clip(np.rint(self.color), 0, 255).astype(np.uint8)
            return np.broadcast_to(color, (height, width, 3))
        gh, gw = min(height, 48), min(width, 48)
        ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
        xs = xs.ravel() / max(gw - 1, 1) * 2 - 1
        ys = ys.ravel() / max(gh - 1, 1) * 2 - 1
        coarse = (_design(xs, ys) @ self.coeffs).reshape(gh, gw, 3)
        coarse = np.clip(np.rint(coarse), 0, 255).astype(np.uint8)
        return cast(RGB, cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR))

    def distance(self, image: RGB) -> NDArray[np.uint8]:
        """Per-pixel colour distance to the background: the largest channel difference, 0..255."""
        h, w = image.shape[:2]
        if self.coeffs is None:  # a scalar backdrop: no H×W×3 image to build
            c = np.clip(np.rint(self.color), 0, 255)
            scalar = (float(c[0]), float(c[1]), float(c[2]), 0.0)
            # cv2 takes a Scalar for src2 (a per-channel constant); its stub says MatLike only
            diff = cv2.absdiff(image, scalar)  # type: ignore[call-overload]
        else:
            diff = cv2.absdiff(image, np.ascontiguousarray(self.render(h, w)))
        return cast(
            NDArray[np.uint8], cv2.max(cv2.max(diff[:, :, 0], diff[:, :, 1]), diff[:, :, 2])
        )


def estimate_background(
    image: RGB, *, tolerance: float = 12.0, band_frac: float = 0.02
) -> BackgroundModel:
    """Estimate a plain background from the border of ``image`` (``H×W×3`` uint8 RGB)."""
    h, w = image.shape[:2]
    band = border_band(h, w, band_frac)
    ys, xs = np.nonzero(band)
    pix = image[ys, xs].astype(np.float32)
    # Dominant colour: the median of the border, then of the pixels that agree with it.
    color = np.median(pix, axis=0)
    agree = np.abs(pix - color).max(axis=1) <= tolerance
    if agree.sum() >= 16:
        color = np.median(pix[agree], axis=0)
        agree = np.abs(pix - color).max(axis=1) <= tolerance
    coeffs = None
    if agree.sum() >= 64:
        lo, hi = np.percentile(pix[agree], [2, 98], axis=0)
        spread = float((hi - lo).max())
        if spread > 6.0:  # a gradient or vignette: fit a smooth surface to the agreeing pixels
            xn = xs[agree].astype(np.float32) / max(w - 1, 1) * 2 - 1
            yn = ys[agree].astype(np.float32) / max(h - 1, 1) * 2 - 1
            sol, *_ = np.linalg.lstsq(_design(xn, yn), pix[agree], rcond=None)
            coeffs = sol.astype(np.float32)
            fitted = (
                _design(
                    xs.astype(np.float32) / max(w - 1, 1) * 2 - 1,
                    ys.astype(np.float32) / max(h - 1, 1) * 2 - 1,
                )
                @ coeffs
            )
            agree = np.abs(pix - fitted).max(axis=1) <= tolerance
    if coeffs is None:
        residual = pix[agree] - color
    else:
        residual = (
            pix[agree]
            - _design(
                xs[agree].astype(np.float32) / max(w - 1, 1) * 2 - 1,
                ys[agree].astype(np.float32) / max(h - 1, 1) * 2 - 1,
            )
            @ coeffs
        )
    if residual.size:
        noise = float(1.4826 * np.median(np.abs(residual - np.median(residual, axis=0))))
    else:
        noise = 0.0
    return BackgroundModel(
        color=color.astype(np.float32),
        plain_fraction=float(agree.mean()) if agree.size else 0.0,
        noise=noise,
        tolerance=tolerance,
        coeffs=coeffs,
    )


def downscale(image: RGB, max_side: int) -> tuple[RGB, float]:
    """Shrink ``image`` so its longer side is at most ``max_side`` (area filter); return the scale."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cast(RGB, cv2.resize(image, size, interpolation=cv2.INTER_AREA)), scale
