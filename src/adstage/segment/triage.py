"""Catalog triage: is a photo *staged* (a scene) or *un-staged* (a product on a plain background)?

An ad platform must know which catalog items to stage (Ku et al., AdKDD 2023, §3: 11,927 solid
background and 6,972 staged images among 18,899 ads). A plain-background shot has a border made of
one colour or a smooth studio gradient; a scene has texture, objects and light along its border.

The score is the probability-like *stagedness* ``1 − plain_fraction`` of the border, where
``plain_fraction`` is the share of border pixels within ``tolerance`` of the fitted background
(:func:`adstage.segment.background.estimate_background`). An image is staged when the score
exceeds ``threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adstage.errors import InputError
from adstage.io.images import read_image
from adstage.segment.background import downscale, estimate_background
from adstage.types import as_rgb

DEFAULT_THRESHOLD = 0.2
DEFAULT_TOLERANCE = 12.0


@dataclass(frozen=True)
class Triage:
    """The triage verdict for one image. ``score`` in [0, 1]: 0 = perfectly plain border."""

    staged: bool
    score: float
    plain_fraction: float
    background: tuple[float, float, float]


def triage(
    image: Any,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    tolerance: float = DEFAULT_TOLERANCE,
    work_size: int = 256,
) -> Triage:
    """Classify ``image`` (PIL image, RGB array, or path) as staged or un-staged."""
    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold: expected a value in (0, 1), got {threshold}")
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        image = read_image(image)
    small, _ = downscale(as_rgb(image), work_size)
    bg = estimate_background(small, tolerance=tolerance, band_frac=0.03)
    score = 1.0 - bg.plain_fraction
    return Triage(
        staged=score > threshold,
        score=round(score, 4),
        plain_fraction=round(bg.plain_fraction, 4),
        background=(float(bg.color[0]), float(bg.color[1]), float(bg.color[2])),
    )
