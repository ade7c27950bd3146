"""Product motions: easing curves, the periodic waves built from them, and the registry of
motions (``sway``, ``orbit``, ``push-in``, ``rise``).

A motion gives the product's :class:`Pose` at the loop's phase ``t`` in ``[0, 1)``. Every motion
is periodic (the pose at ``t = 1`` is the pose at ``t = 0``, so the video loops without a jump)
and starts at rest (frame 0 is the still). Easing (:data:`EASINGS`) shapes each half swing.

A :class:`Pose` moves the product by ``(dx, dy)`` output pixels, scales it by ``scale`` about
the centre of its box and lifts it ``lift`` pixels off the floor (the shadow stays on the floor
and fades).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from adstage.registry import Registry

__all__ = ["EASINGS", "MOTIONS", "Easing", "Motion", "Pose", "pulse", "swing"]

Easing = Callable[[float], float]


def _linear(u: float) -> float:
    return u


def _sine(u: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * u)


def _quad(u: float) -> float:
    return 2 * u * u if u < 0.5 else 1 - 2 * (1 - u) * (1 - u)


def _cubic(u: float) -> float:
    return 4 * u**3 if u < 0.5 else 1 - 4 * (1 - u) ** 3


EASINGS: dict[str, Easing] = {"sine": _sine, "linear": _linear, "quad": _quad, "cubic": _cubic}
"""Easing curves on ``[0, 1]`` (``f(0) = 0``, ``f(1) = 1``), in-out. ``sine`` makes
:func:`swing` exactly ``sin(2πt)``; ``linear`` makes it a triangle wave."""


def swing(t: float, easing: Easing = _sine) -> float:
    """A wave of period 1 in ``[-1, 1]``: 0 at ``t = 0``, +1 at 0.25, 0 at 0.5, −1 at 0.75.

    Each half swing (−1 → +1 and back) follows ``easing``.
    """
    phase = (t + 0.25) % 1.0
    if phase < 0.5:
        return -1.0 + 2.0 * easing(phase / 0.5)
    return 1.0 - 2.0 * easing((phase - 0.5) / 0.5)


def pulse(t: float, easing: Easing = _sine) -> float:
    """A wave of period 1 in ``[0, 1]``: 0 at ``t = 0``, 1 at 0.5, back to 0 at 1."""
    phase = t % 1.0
    return easing(1.0 - abs(1.0 - 2.0 * phase))


@dataclass(frozen=True)
class Pose:
    """Where the product is in one frame, relative to where it is in the still.

    ``dx``, ``dy``: pixels (``+y`` down). ``scale``: about the centre of the product's box.
    ``lift``: pixels off the floor (moves the product up, not its shadow).
    """

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    lift: float = 0.0


class Motion:
    """A periodic product motion. ``amplitude``: a fraction of the frame's shorter side for
    translations (of the scale for ``push-in``); ``None`` in the options means
    :attr:`default_amplitude`."""

    default_amplitude: ClassVar[float]

    def pose(self, t: float, *, amplitude: float, side: float, easing: Easing) -> Pose:
        raise NotImplementedError


MOTIONS: Registry[Motion] = Registry("motion")


@MOTIONS.register("sway")
@dataclass(frozen=True)
class Sway(Motion):
    """Side to side: ``dx = A·swing(t)``."""

    default_amplitude: ClassVar[float] = 0.04

    def pose(self, t: float, *, amplitude: float, side: float, easing: Easing) -> Pose:
        return Pose(dx=amplitude * side * swing(t, easing))


@MOTIONS.register("orbit")
@dataclass(frozen=True)
class Orbit(Motion):
    """A loop around the product: sideways ``A·swing(t)``, back (up the image, smaller) by
    ``depth·A·pulse(t)``, so the product traces an ellipse through its resting place."""

    default_amplitude: ClassVar[float] = 0.05
    depth: float = 0.3

    def pose(self, t: float, *, amplitude: float, side: float, easing: Easing) -> Pose:
        back = pulse(t, easing)
        return Pose(
            dx=amplitude * side * swing(t, easing),
            dy=-self.depth * amplitude * side * back,
            scale=1.0 - amplitude * back,
        )


@MOTIONS.register("push-in")
@dataclass(frozen=True)
class PushIn(Motion):
    """The camera moves towards the product and back: ``scale = 1 + A·pulse(t)``."""

    default_amplitude: ClassVar[float] = 0.08

    def pose(self, t: float, *, amplitude: float, side: float, easing: Easing) -> Pose:
        return Pose(scale=1.0 + amplitude * pulse(t, easing))


@MOTIONS.register("rise")
@dataclass(frozen=True)
class Rise(Motion):
    """The product floats up off the floor and settles: ``lift = A·pulse(t)``."""

    default_amplitude: ClassVar[float] = 0.04

    def pose(self, t: float, *, amplitude: float, side: float, easing: Easing) -> Pose:
        return Pose(lift=amplitude * side * pulse(t, easing))
