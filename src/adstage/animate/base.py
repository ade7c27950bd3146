"""The animation's options and the checks at its boundary: :class:`AnimationOptions`, the named
ad sizes, :func:`parse_size` and :func:`check_mask` (the product mask an animation accepts).

Every check raises :class:`~adstage.errors.InputError` naming the argument, the value and what
was expected, before any heavy work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from adstage.animate.motion import EASINGS, MOTIONS
from adstage.errors import AdstageError, InputError
from adstage.inpaint.base import DEFAULT_INPAINTER, INPAINTERS
from adstage.types import THRESHOLD, as_alpha

__all__ = [
    "AD_SIZES",
    "SHADOW_STRENGTH",
    "AnimationOptions",
    "check_mask",
    "even_size",
    "parse_size",
]

AD_SIZES: dict[str, tuple[int, int]] = {
    "square": (1080, 1080),
    "portrait": (1080, 1350),
    "story": (1080, 1920),
    "landscape": (1920, 1080),
    "link": (1200, 628),
}
"""Named ad sizes ``(width, height)``: feed 1:1 and 4:5, stories 9:16, 16:9, link ads 1.91:1."""

MIN_SIDE, MAX_SIDE = 16, 4096
SHADOW_STRENGTH = 0.3
"""Default darkening at the centre of the contact shadow (``--shadow``)."""
MAX_DURATION = 60.0


def parse_size(text: str) -> tuple[int, int] | None:
    """``"1080x1080"`` (or ``×``), a name of :data:`AD_SIZES`, or ``"source"`` (``None``: the
    image's own size) → ``(width, height)``."""
    value = str(text).strip().lower()
    if value in ("source", "original"):
        return None
    if value in AD_SIZES:
        return AD_SIZES[value]
    match = re.fullmatch(r"(\d+)\s*[x×]\s*(\d+)", value)
    if not match:
        raise InputError(
            f"size: expected WIDTHxHEIGHT (e.g. 1080x1080), one of {', '.join(AD_SIZES)} or "
            f"'source', got {text!r}"
        )
    return _check_size((int(match.group(1)), int(match.group(2))))


def _check_size(size: Any) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InputError(f"size: expected (width, height), got {size!r}") from None
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise InputError(f"size: each side must lie in {MIN_SIDE}..{MAX_SIDE} px, got {w}×{h}")
    return (w, h)


def _unit(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InputError(f"{name}: expected a number in [0, 1], got {value!r}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class AnimationOptions:
    """How to animate. Every field is checked on construction (:class:`InputError` naming it).

    ``motion``: a name in :data:`MOTIONS`. ``duration``: seconds of one loop, in (0, 60].
    ``fps``: frames per second, 1..120; the loop has ``round(duration × fps)`` frames.
    ``size``: output ``(width, height)``, each side 16..4096, or ``None`` for the image's size
    (scaled down to 4096 px a side if larger) rounded down to even sides (H.264 needs them).
    ``parallax``: the background's share of the product's motion, in
    [0, 1]. ``amplitude``: the motion's size (see :class:`Motion`; ``None``: its default), in
    (0, 0.25]. ``easing``: a name in :data:`EASINGS`. ``shadow``: strength of the contact shadow
    that follows the product (0: none). ``inpainter``: the backend that builds the clean plate.
    ``dilate_px``: how far the hole reaches beyond the mask (``None``: 2 % of the product's longer
    side, at least 3 px).
    """

    motion: str = "sway"
    duration: float = 3.0
    fps: int = 30
    size: tuple[int, int] | None = (1080, 1080)
    parallax: float = 0.3
    amplitude: float | None = None
    easing: str = "sine"
    shadow: float = SHADOW_STRENGTH
    inpainter: str = DEFAULT_INPAINTER
    dilate_px: int | None = None

    def __post_init__(self) -> None:
        if self.motion not in MOTIONS:
            raise InputError(
                f"motion: unknown motion {self.motion!r}; known: {', '.join(MOTIONS.names())}"
            )
        if self.easing not in EASINGS:
            raise InputError(
                f"easing: unknown easing {self.easing!r}; known: {', '.join(sorted(EASINGS))}"
            )
        d = self.duration
        if isinstance(d, bool) or not isinstance(d, int | float) or not 0 < d <= MAX_DURATION:
            raise InputError(f"duration: expected seconds in (0, {MAX_DURATION:g}], got {d!r}")
        if isinstance(self.fps, bool) or not isinstance(self.fps, int) or not 1 <= self.fps <= 120:
            raise InputError(f"fps: expected an integer in 1..120, got {self.fps!r}")
        if round(d * self.fps) < 2:
            raise InputError(f"duration × fps: {d:g} s at {self.fps} fps gives fewer than 2 frames")
        if self.size is not None:
            object.__setattr__(self, "size", _check_size(self.size))
        _unit(self.parallax, "parallax")
        _unit(self.shadow, "shadow")
        a = self.amplitude
        if a is not None and (
            isinstance(a, bool) or not isinstance(a, int | float) or not 0 < a <= 0.25
        ):
            raise InputError(f"amplitude: expected a fraction in (0, 0.25], got {a!r}")
        dil = self.dilate_px
        if dil is not None and (isinstance(dil, bool) or not isinstance(dil, int) or dil < 0):
            raise InputError(f"dilate_px: expected an int >= 0 or None, got {dil!r}")
        try:
            INPAINTERS.resolve(self.inpainter)
        except AdstageError as exc:
            raise InputError(f"inpainter: {exc}") from exc

    @property
    def frames(self) -> int:
        """Frames in one loop: ``round(duration × fps)``."""
        return round(self.duration * self.fps)

    @property
    def motion_amplitude(self) -> float:
        cls = MOTIONS.resolve(self.motion)
        return float(self.amplitude if self.amplitude is not None else cls.default_amplitude)


def check_mask(mask: Any, shape: tuple[int, int], *, name: str = "mask") -> NDArray[np.float32]:
    """``mask`` as ``float32`` ``H×W`` alpha, refused when it cannot be animated.

    Raises :class:`InputError` when its size differs from the image's ``shape`` (``(H, W)``), when
    no pixel reaches 0.5 (no product) or when every pixel does (no background to move behind).
    """
    arr = np.asarray(mask)
    if arr.ndim >= 2 and arr.shape[:2] != tuple(shape):
        raise InputError(
            f"{name}: is {arr.shape[1]}×{arr.shape[0]} (W×H) but the image is "
            f"{shape[1]}×{shape[0]}; the mask must have the image's size"
        )
    alpha = as_alpha(arr, shape, name=name)
    binary = alpha >= THRESHOLD
    if not binary.any():
        raise InputError(
            f"{name}: empty (no pixel >= 0.5), so there is no product to move; "
            "check the mask (255 = product) or leave it out to segment the image"
        )
    if binary.all():
        raise InputError(
            f"{name}: covers the whole {shape[1]}×{shape[0]} image, so there is no background "
            "to show behind the product; the mask must mark only the product (255 = product)"
        )
    return alpha


def even_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """The image's own size with even sides (H.264 needs them), at most :data:`MAX_SIDE`."""
    h, w = shape[:2]
    f = min(1.0, MAX_SIDE / max(h, w))
    w, h = int(w * f), int(h * f)
    return _check_size((max(MIN_SIDE, w - w % 2), max(MIN_SIDE, h - h % 2)))
