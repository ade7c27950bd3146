"""OpenCV's diffusion-style inpainting: ``telea`` and ``ns``. No weights, always available.

- ``telea``: Telea, "An image inpainting technique based on the fast marching method",
  J. Graphics Tools 9(1), 2004 — fills from the boundary inwards with a weighted average of the
  known neighbourhood within ``radius``.
- ``ns``: Bertalmio, Bertozzi & Sapiro, "Navier-Stokes, fluid dynamics, and image and video
  inpainting", CVPR 2001 — continues isophotes (lines of equal brightness) into the hole.

Both give smooth fills (no texture) and cost a few milliseconds for a product-sized hole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from adstage.errors import InputError
from adstage.inpaint.base import INPAINTERS, Hole
from adstage.types import RGB


def _opencv_inpaint(image: RGB, hole: Hole, radius: float, flags: int) -> RGB:
    # cv2.inpaint is channel-order agnostic: the RGB array goes in and out unchanged in layout.
    out = cv2.inpaint(image, hole.astype(np.uint8), float(radius), flags)
    return np.ascontiguousarray(out)


def _check_radius(radius: float) -> None:
    if isinstance(radius, bool) or not isinstance(radius, int | float) or not 0 < radius <= 64:
        raise InputError(f"radius: expected a number in (0, 64], got {radius!r}")


@INPAINTERS.register("telea")
@dataclass(frozen=True)
class Telea:
    """Fast-marching inpainting (Telea 2004); ``radius``: neighbourhood radius in pixels."""

    radius: float = 3.0
    name: str = field(default="telea", init=False)

    def __post_init__(self) -> None:
        _check_radius(self.radius)

    def __call__(self, image: RGB, hole: Hole) -> RGB:
        return _opencv_inpaint(image, hole, self.radius, cv2.INPAINT_TELEA)


@INPAINTERS.register("ns")
@dataclass(frozen=True)
class NavierStokes:
    """Navier-Stokes inpainting (Bertalmio et al. 2001); ``radius``: neighbourhood radius."""

    radius: float = 3.0
    name: str = field(default="ns", init=False)

    def __post_init__(self) -> None:
        _check_radius(self.radius)

    def __call__(self, image: RGB, hole: Hole) -> RGB:
        return _opencv_inpaint(image, hole, self.radius, cv2.INPAINT_NS)
