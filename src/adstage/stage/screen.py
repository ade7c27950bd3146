"""Screen a retrieved slot before staging into it: refuse slots that cannot look real.

Copy-paste staging looks real because only "small parts of the image" are generated (Ku et al.,
AdKDD 2023, §5.3). A blind study of adstage's earlier outputs (issue 13) traced what gave staged
images away to the slot, not the paste: a saliency mask covering only pieces of the old object
(its ghost or leftover parts stay), a slot cut by the frame (the product is pushed inside and
floats, or fills the foreground at an absurd scale), a slot covering much of the room (a giant
product), and a slot the new product covers badly (a lampshade over a bed: most of the bed is
painted out, and the fill smears). Each is measurable from the masks alone, before any pixel is
inpainted, so :func:`screen` runs on every retrieved slot and only those that pass are staged.

Checks (thresholds in :class:`Screen`; each refusal names its reason and the measured value):

- ``area``: the slot covers more than ``max_area`` of the scene (a giant product), or less than
  ``min_area`` (a knob, a speck: the product would be a few pixels tall);
- ``frame``: the slot's box touches the left, right or bottom edge of the scene (its extent and
  its base line are unknown);
- ``fragment``: the slot's solidity (area / convex-hull area) is below ``min_solidity``: the mask
  is an outline or pieces of an object, and removing it leaves the rest behind;
- ``uncovered``: more than ``max_uncovered`` of the old object (the slot's mask) is left
  uncovered by the aligned product, around it or through its open parts, and must be painted
  out (the margin grown around the slot is left out of the share, or thin objects would always
  fail);
- ``others``, only when the scene's other objects are given: more than ``max_over_others`` of
  the aligned product stands over them (their catalog masks, beyond the old object's): the
  product would hide a desk, a sofa or a crib that the old object stood in front of or beside
  (report sets AA and BB, issue 13: "a cabinet blocks the desk", "a sideboard pasted in front of
  the sofa"). ``max_over_others`` 1.0 (the default) turns it off;
- ``floating``: the aligned product's base is more than ``max_lift`` of the scene's height away
  from the slot's base line (the alignment had to move it to keep it inside the scene);
- ``support`` and ``scale``, only when the product's kind is known
  (:mod:`adstage.stage.scale`): a product that stands on the floor would stand above eye level,
  or its size would be implausible for its kind under ``camera``'s prior, narrowed by the
  scene's horizon when ``horizon`` is on and its lines give one (:mod:`adstage.stage.horizon`);
  a product that hangs on a wall would take the place of an object standing on the floor (its
  base at least ``wall_max_base`` down the photo);
- ``setting``, only when the product's kind and the slot's catalog category are known: an indoor
  product in an outdoor scene, or a kind in a room it is not staged in (a bed in a kitchen:
  :data:`adstage.stage.scale.NOT_IN_ROOMS`); checked first, before any mask work.

Everything is measured on the masks downscaled so the longer side is ``work_side`` pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.composite.align import Fit, align, render_mask
from adstage.errors import InputError
from adstage.stage.scale import (
    FLOOR,
    TOP,
    WALL,
    Camera,
    Kind,
    check_box,
    check_setting,
    size_range,
    standing,
    typical,
    typical_per_cm,
)

REASONS: tuple[str, ...] = (
    "area",
    "frame",
    "fragment",
    "uncovered",
    "others",
    "floating",
    "support",
    "scale",
    "setting",
)


MAX_OVER_OTHERS = 1.0
"""The default of ``Screen.max_over_others`` (read when a :class:`Screen` is made): 1.0, off
(issue 13, session 32: tried at 0.15)."""


OFF_THE_FLOOR: tuple[str, ...] = (WALL, TOP)
"""The supports of kinds that never take the place of an object standing on the floor
(``Screen.wall_max_base``): a wall cabinet, and a table lamp or a vase, which would stand on the
floor in its place."""


@dataclass(frozen=True)
class Screen:
    """Thresholds of :func:`screen` (see the module docstring)."""

    max_area: float = 0.30
    min_area: float = 0.005
    frame_px: float = 0.01
    """A box side within this share of the scene's width/height of an edge touches it."""
    min_solidity: float = 0.25
    max_uncovered: float = 0.5
    prefer_uncovered: float = 0.3
    """Slots leaving at most this share of the old object uncovered are preferred: screening goes
    on down the retrieved list until ``2k`` of them pass, and their candidates rank before the
    others (which ``max_uncovered`` still admits). A value at or above ``max_uncovered`` turns
    the preference off."""
    max_over_others: float = field(default_factory=lambda: MAX_OVER_OTHERS)
    """The largest share of the aligned product that may stand over the scene's other objects
    (``others`` of :func:`screen`; 1.0: not checked). Default: :data:`MAX_OVER_OTHERS`."""
    max_lift: float = 0.02
    wall_max_base: float = 0.85
    """A product that hangs on a wall or stands on other furniture (:data:`OFF_THE_FLOOR`: a
    wall cabinet, a table lamp) does not replace an object whose base is at least this far down
    the photo (a share of its height; the share a free-space anchor's base must reach to surely
    stand on the floor): that object stands on the floor, and a wall cabinet in its place
    hovers in the room ("an oversized white cabinet pasted into the middle of the room", set P,
    issue 13), a wall shelf lies on the rug. A box or basket of known height in such a place
    stands on the floor and is size-checked (:func:`adstage.stage.scale.standing`). 1.0: off
    (both)."""
    work_side: int = 256
    camera: Camera = field(default_factory=Camera)
    """The camera prior of the ``support`` and ``scale`` checks (:mod:`adstage.stage.scale`)."""
    horizon: bool = False
    """For a floor-standing kind, estimate each scene's horizon from its lines and narrow
    ``camera``'s horizon range to it (:mod:`adstage.stage.horizon`; the prior stands when the
    lines do not agree or the estimate falls outside it). Off by default: on the dev photos it
    changed no product's first slot (``benchmarks/horizon.py``)."""

    typical: float | None = None
    """For a floor-standing kind, also refuse (``scale``) a slot where the product's height at the
    scene's typical camera (:func:`adstage.stage.scale.size_range`: the middle of ``camera``'s
    horizon range, narrowed by ``horizon``, and its middle eye height) is outside the kind's
    heights widened by this factor; ``None``: off (only the prior's whole range is checked).
    Tried at 1.3 with ``horizon`` on (issue 13): on sets A and A2 it took the only candidate of
    10 of 56 products, and 6 of the 16 pictures it changed were preferred; so off."""

    def __post_init__(self) -> None:
        if self.typical is not None and (
            isinstance(self.typical, bool)
            or not isinstance(self.typical, (int, float))
            or not self.typical >= 1.0
        ):
            raise InputError(f"screen typical: expected at least 1 or None, got {self.typical!r}")
        for name in (
            "max_area",
            "min_area",
            "frame_px",
            "min_solidity",
            "max_uncovered",
            "prefer_uncovered",
            "max_lift",
            "wall_max_base",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise InputError(f"screen {name}: expected a value in [0, 1], got {value!r}")
        if self.work_side < 32:
            raise InputError(f"screen work_side: expected at least 32, got {self.work_side}")
        if isinstance(self.camera, dict):  # as read back from as_dict() / JSON
            object.__setattr__(self, "camera", Camera(**self.camera))
        if not isinstance(self.camera, Camera):
            raise InputError(f"screen camera: expected a Camera, got {self.camera!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    """What :func:`screen` found: ``passed``; the first failed check's ``reason`` (one of
    :data:`REASONS`) and a sentence ``why``; every measured value in ``measures``."""

    passed: bool
    reason: str | None
    why: str
    measures: dict[str, float]


def _shrink(mask: NDArray[np.bool_], side: int) -> NDArray[np.bool_]:
    h, w = mask.shape
    f = side / max(h, w)
    if f >= 1.0:
        return mask
    size = (max(1, round(w * f)), max(1, round(h * f)))
    small = cv2.resize(mask.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA) >= 128
    return small if small.any() else mask


def solidity(mask: NDArray[np.bool_]) -> float:
    """Area of ``mask`` over the area of the convex hull of its pixels (1 for a convex blob)."""
    points = cv2.findNonZero(mask.astype(np.uint8))
    if points is None:
        return 0.0
    hull = cv2.convexHull(points)
    hull_area = float(cv2.contourArea(hull)) + 0.5 * float(cv2.arcLength(hull, True)) + 1.0
    return min(1.0, float(mask.sum()) / hull_area)


def screen(
    product_mask: NDArray[np.bool_],
    slot_mask: NDArray[np.bool_],
    thresholds: Screen | None = None,
    *,
    fit: Fit = "footprint",
    stand: bool = True,
    kind: Kind | None = None,
    category: str | None = None,
    camera: Camera | Callable[[], Camera | None] | None = None,
    others: NDArray[np.bool_] | Callable[[], NDArray[np.bool_] | None] | None = None,
) -> Verdict:
    """Whether the slot ``slot_mask`` (scene-sized, bool) can take the product ``product_mask``
    (its cut-out's mask) and still look real; ``kind``: the product's kind, for the ``support``,
    ``scale`` and ``setting`` checks (``None``: not checked); ``category``: the slot's catalog
    category, for ``setting``; ``camera``: the scene's camera for ``support`` and ``scale``, or a
    function giving it, called only when those checks are reached (``None``: the thresholds'
    prior); ``others``: the scene's other objects (scene-sized, bool), or a function giving them,
    called only when ``max_over_others`` is below 1 (``None``: not checked)."""
    t = thresholds or Screen()
    if product_mask.ndim != 2 or slot_mask.ndim != 2:
        raise InputError("screen: expected 2-D product and slot masks")
    if not product_mask.any() or not slot_mask.any():
        raise InputError("screen: empty product or slot mask")
    misplaced = check_setting(kind, category)
    if misplaced:
        return Verdict(False, "setting", misplaced, {})
    slot = _shrink(slot_mask, t.work_side)
    h, w = slot.shape
    ys, xs = np.nonzero(slot)
    x0, x1, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.max()) + 1
    measures: dict[str, float] = {"area": float(slot.mean()), "solidity": solidity(slot)}
    edges = {
        "left": x0 <= t.frame_px * w,
        "right": x1 >= w - t.frame_px * w,
        "bottom": y1 >= h - t.frame_px * h,
    }
    measures["frame"] = float(sum(edges.values()))

    placement = align(_shrink(product_mask, t.work_side), slot, fit=fit, stand=stand)
    placed = render_mask(_shrink(product_mask, t.work_side), placement)
    measures["uncovered"] = float((slot & ~placed).sum()) / float(slot.sum())
    measures["lift"] = abs(placement.box[3] - y1) / h if stand else 0.0
    over = None
    if t.max_over_others < 1.0 and others is not None:
        around = others() if callable(others) else others
        if around is not None:
            if around.shape != slot_mask.shape:
                raise InputError(
                    f"screen: others {around.shape} is not the slot mask's {slot_mask.shape}"
                )
            small = cv2.resize(
                around.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST
            ).astype(bool)
            grown = cv2.dilate(slot.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            over = float((placed & small & ~grown).sum()) / max(1.0, float(placed.sum()))
            measures["over_others"] = over

    checks: list[tuple[str, bool, str]] = [
        (
            "area",
            measures["area"] < t.min_area,
            f"the slot covers {measures['area']:.2%} of the scene (less than "
            f"{t.min_area:.1%}): the product would be a few pixels tall",
        ),
        (
            "area",
            measures["area"] > t.max_area,
            f"the slot covers {measures['area']:.0%} of the scene (more than "
            f"{t.max_area:.0%}): the product would be giant",
        ),
        (
            "frame",
            measures["frame"] > 0,
            "the slot is cut by the frame ("
            + ", ".join(side for side, hit in edges.items() if hit)
            + " edge): its extent and base line are unknown",
        ),
        (
            "fragment",
            measures["solidity"] < t.min_solidity,
            f"the slot's mask is fragmented (solidity {measures['solidity']:.2f} < "
            f"{t.min_solidity}): removing it would leave the rest of the object behind",
        ),
        (
            "uncovered",
            measures["uncovered"] > t.max_uncovered,
            f"the product would leave {measures['uncovered']:.0%} of the old object uncovered "
            f"(more than {t.max_uncovered:.0%}) to be painted out",
        ),
        (
            "others",
            over is not None and over > t.max_over_others,
            f"the product would stand over other objects of the scene ({over or 0:.0%} of it, "
            f"more than {t.max_over_others:.0%}): it would hide the furniture the old object "
            "stood beside",
        ),
        (
            "floating",
            measures["lift"] > t.max_lift,
            f"the product's base would be {measures['lift']:.0%} of the scene's height off the "
            "slot's base line",
        ),
    ]
    for reason, failed, why in checks:
        if failed:
            return Verdict(False, reason, why, measures)
    base = y1 / h  # the old object's base line
    if (
        kind is not None
        and kind.support in OFF_THE_FLOOR
        and t.wall_max_base < 1.0
        and base >= t.wall_max_base
    ):
        where = "hangs on a wall" if kind.support == WALL else "stands on other furniture"
        return Verdict(
            False,
            "support",
            f"a {kind.name} {where}, but the slot's object stands on the floor (its base is "
            f"{base:.0%} of the scene's height down, at least {t.wall_max_base:.0%})",
            measures,
        )
    if base >= t.wall_max_base:
        kind = standing(kind)  # a box of known height, in the place of a floor object
    if kind is None or kind.support != FLOOR:
        return Verdict(True, None, "", measures)
    # the size checks last: the scene's camera may have to be estimated from its pixels
    cam = (camera() if callable(camera) else camera) or t.camera
    scaled = check_box(kind, placement.box, h, cam)
    measures |= scaled.measures | {"horizon_low": cam.horizon[0], "horizon_high": cam.horizon[1]}
    if scaled.reason is not None:
        return Verdict(False, scaled.reason, scaled.why, measures)
    if t.typical is not None:
        base = min(1.0, placement.box[3] / h)
        allowed = size_range(kind, base, cam, t.typical)
        tall = (placement.box[3] - placement.box[1]) / h
        per_cm = typical_per_cm(base, cam)
        if allowed is not None and per_cm is not None and not allowed[0] <= tall <= allowed[1]:
            _, eye = typical(cam)
            cm = tall / per_cm
            return Verdict(
                False,
                "scale",
                f"a {kind.name} is {kind.low_cm:.0f}–{kind.high_cm:.0f} cm tall, but here it would "
                f"be about {cm:.0f} cm at the scene's typical camera (eye {eye:.0f} cm)",
                measures,
            )
    return Verdict(True, None, "", measures)
