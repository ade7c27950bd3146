"""Free-space placement: the product stands beside a similar object, nothing is removed.

When no retrieved slot passes the screen (:mod:`adstage.stage.screen`) — usually because the
product's shape covers none of them well — painting an object out would leave more generated
pixels than the copy-paste premise allows (Ku et al., AdKDD 2023, §5.3: only "small parts of the
image" are generated). The alternative that generates nothing: keep the scene whole and stand the
product on the floor *next to* the retrieved object, on the same base line (so on the same floor
at the same depth), at the scale the alignment would give it in that object's place, kept within
the heights the scene's camera allows for its kind when they are given (``heights``: an object
retrieved for its *likeness* need not be of the product's size — a step stool beside an ottoman).

:func:`place_beside` tries positions left and right of the slot, nearest first, and keeps the
first where the product stays inside the frame (clear of its edges), overlaps none of the scene's
other objects (the union of every slot mask of that scene, grown by a gap), and where the floor
strip under its base looks like the floor under the slot's base (mean colour within
``max_floor_delta`` in Lab, so the product does not end up on a wall, a window or another
surface).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.composite.align import Fit, align
from adstage.errors import InputError
from adstage.stage.objects import box_share
from adstage.types import RGB, Cutout, Placement, as_rgb

MIN_HEIGHT_PX = 8
"""A product sized to ``heights`` shorter than this many pixels has no place (it would be a dot)."""

STEPS = 4
"""Positions tried on each side: the slot's neighbour, then further out by half a product width."""


MIN_SEEN = 0.2
"""The floor strip under a product partly hidden by nearer objects is compared where it is seen,
when at least this share of it is; less, and the anchor's base line is trusted."""


def _strip_colour(
    scene: RGB,
    x0: int,
    x1: int,
    y: int,
    depth: int,
    seen: NDArray[np.bool_] | None = None,
) -> NDArray[np.float32] | None:
    """The mean Lab colour of the strip ``depth`` rows deep under row ``y`` between ``x0`` and
    ``x1`` (only its ``seen`` pixels, when given: ``None`` if fewer than :data:`MIN_SEEN`)."""
    h, w = scene.shape[:2]
    y0, y1 = min(y, h - 1), min(h, y + depth)
    x0, x1 = max(0, x0), min(w, x1)
    if y1 <= y0 or x1 <= x0:
        return None
    lab = cv2.cvtColor(scene[y0:y1, x0:x1], cv2.COLOR_RGB2LAB).astype(np.float32)
    pixels = lab.reshape(-1, 3)
    if seen is not None:
        visible = seen[y0:y1, x0:x1].ravel()
        if visible.mean() < MIN_SEEN:
            return None
        pixels = pixels[visible]
    return np.asarray(pixels.mean(axis=0), np.float32)


def _floor_ahead(
    scene: RGB,
    columns: tuple[int, int],
    base: int,
    depth: int,
    floor: NDArray[np.float32],
    max_delta: float,
    seen: NDArray[np.bool_] | None,
) -> bool:
    """Whether the strip ``depth`` rows deep just in front of the floor strip under ``base`` (rows
    ``base + depth`` on) between ``columns`` looks like ``floor`` (Lab within ``max_delta``): true
    when the photo ends before it or nearer objects hide it (nothing seen to say otherwise)."""
    if base + depth >= scene.shape[0]:
        return True
    ahead = _strip_colour(scene, columns[0], columns[1], base + depth, depth, seen)
    return ahead is None or float(np.linalg.norm(ahead - floor)) <= max_delta


def _not_behind(mask: NDArray[np.bool_], row: float) -> NDArray[np.bool_]:
    """The connected parts of ``mask`` whose lowest row is at or below ``row`` (nearer the
    camera than an object standing on that row, or level with it)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    lowest = stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT] - 1
    keep = lowest >= row
    keep[0] = False  # the background
    out: NDArray[np.bool_] = keep[labels]
    return out


def nearer_than(
    occupied: Sequence[NDArray[np.bool_]] | NDArray[np.bool_], row: float
) -> NDArray[np.bool_]:
    """The union of the connected parts of the ``occupied`` masks whose lowest row is at or below
    ``row``: objects standing nearer the camera than an object whose base is above that row,
    which hide it where they overlap it (a sofa in front of a bookcase)."""
    masks = [occupied] if isinstance(occupied, np.ndarray) else list(occupied)
    if not masks:
        raise InputError("nearer_than: no masks")
    out = np.zeros(masks[0].shape, bool)
    for mask in masks:
        out |= _not_behind(mask, row)
    return out


def _hides(
    labels: NDArray[np.int32],
    sizes: NDArray[np.int64],
    box: tuple[int, int, int, int],
    most: float | None,
) -> bool:
    """Whether ``box`` covers more than ``most`` of any labelled object (label 0: none)."""
    if most is None:
        return False
    x0, y0, x1, y1 = box
    inside = np.bincount(labels[max(0, y0) : y1, max(0, x0) : x1].ravel(), minlength=len(sizes))
    share = inside[1:] / np.maximum(sizes[1:], 1)
    return bool((share > most).any())


MAX_CLEAR_COVERED = 0.1
"""The share of a box to keep clear (:func:`place_beside`'s ``keep_clear``) a product may cover."""


def _covers(box: tuple[int, int, int, int], clear: tuple[int, int, int, int]) -> bool:
    """Whether ``box`` covers more than :data:`MAX_CLEAR_COVERED` of the box ``clear``."""
    w = min(box[2], clear[2]) - max(box[0], clear[0])
    h = min(box[3], clear[3]) - max(box[1], clear[1])
    area = max(1, (clear[2] - clear[0]) * (clear[3] - clear[1]))
    return w > 0 and h > 0 and w * h > MAX_CLEAR_COVERED * area


SCREEN_SIDE = 512
""":func:`screens` looks at the scene scaled to this longer side."""
SCREEN_ASPECT = (1.15, 2.1)
"""A screen's width over its height, read along its four sides (a 16:9 set seen at an angle)."""
SCREEN_AREA = (0.015, 0.15)
"""…and its share of the photo."""


def _corners(poly: NDArray[np.generic]) -> NDArray[np.float32] | None:
    """A quadrilateral's four points in order round it, the top-left (least x + y) first and
    then clockwise on screen (top-right, bottom-right, bottom-left for an upright one); ``None``
    when two of them coincide."""
    q = poly.reshape(4, 2).astype(np.float32)
    if len({(float(x), float(y)) for x, y in q}) < 4:
        return None
    centre = q.mean(axis=0)
    q = q[np.argsort(np.arctan2(q[:, 1] - centre[1], q[:, 0] - centre[0]))]  # clockwise: y is down
    start = int(np.argmin(q.sum(axis=1)))
    return np.asarray(np.roll(q, -start, axis=0), np.float32)


def screens(scene: RGB) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1, scene pixels) of the television screens in ``scene``: dark convex
    quadrilaterals (at three darkness thresholds) :data:`SCREEN_ASPECT` times wider than tall
    along their sides, :data:`SCREEN_AREA` of the photo, not in its top 5 % nor its bottom 20 %,
    whose rim, seen straightened, is dark (a bezel) and whose inside is dark (a mean below 140 of
    255) and smooth (an unlit screen reflects in gradients, a picture has texture). A heuristic written for this
    project and checked by eye on the 215 dev rooms: it finds the three sets in their living
    rooms and a kids' room, and also some oven doors and black panels, which a product should
    not stand in front of either; it misses a screen whose bezel merges with dark furniture."""
    scene = as_rgb(scene, name="scene")
    h, w = scene.shape[:2]
    if h == 0 or w == 0:
        raise InputError(f"screens: the scene is empty ({w}×{h})")
    f = SCREEN_SIDE / max(h, w)
    small = cv2.resize(
        scene, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
    )
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    sh, sw = gray.shape
    square = np.array([[0, 0], [99, 0], [99, 59], [0, 59]], np.float32)
    rim = np.zeros((60, 100), bool)
    rim[:3], rim[-3:], rim[:, :3], rim[:, -3:] = True, True, True, True
    found: list[tuple[int, int, int, int]] = []
    for dark in (35, 50, 70):
        contours, _ = cv2.findContours(
            (gray < dark).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        for contour in contours:
            area = cv2.contourArea(contour)
            if not SCREEN_AREA[0] * sh * sw <= area <= SCREEN_AREA[1] * sh * sw:
                continue
            poly = cv2.approxPolyDP(contour, 0.04 * cv2.arcLength(contour, True), True)
            if len(poly) != 4 or not cv2.isContourConvex(poly):
                continue
            q = _corners(poly)
            if q is None:
                continue
            across = np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])
            down = np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])
            if down <= 0 or not SCREEN_ASPECT[0] <= across / down <= SCREEN_ASPECT[1]:
                continue
            if abs(cv2.contourArea(q) - area) > 0.1 * area:  # the quadrilateral is the contour
                continue
            x, y, bw, bh = cv2.boundingRect(poly)
            if y < 0.05 * sh or y + bh > 0.8 * sh:
                continue
            flat = cv2.warpPerspective(gray, cv2.getPerspectiveTransform(q, square), (100, 60))
            inner = flat[8:-8, 8:-8].astype(np.float32)
            if (flat[rim] < dark + 10).mean() < 0.75 or inner.mean() > 140:
                continue
            if np.abs(cv2.Laplacian(inner, cv2.CV_32F)).mean() > 6:
                continue
            box = (round(x / f), round(y / f), round((x + bw) / f), round((y + bh) / f))
            if not any(_covers(box, other) for other in found):
                found.append(box)
    return found


def below_screen(
    box: tuple[int, int, int, int], height: int, below: float
) -> tuple[int, int, int, int]:
    """A screen's box (x0, y0, x1, y1) reaching ``below`` of its own heights further down (to the
    scene's ``height`` at most): the screen and the furniture it stands on."""
    if below < 0:
        raise InputError(f"below_screen: below must be >= 0, got {below}")
    x0, y0, x1, y1 = box
    return x0, y0, x1, min(height, y1 + round(below * (y1 - y0)))


def place_beside(
    scene: RGB,
    product_mask: NDArray[np.bool_],
    slot_mask: NDArray[np.bool_],
    occupied: Sequence[NDArray[np.bool_]] | NDArray[np.bool_],
    *,
    fit: Fit = "footprint",
    gap: float = 0.02,
    frame: float = 0.01,
    max_overlap: float = 0.01,
    max_floor_delta: float = 18.0,
    behind: float | None = 0.03,
    max_hidden: float | None = None,
    heights: tuple[float, float] | None = None,
    grow: bool = True,
    least: float = 0.0,
    in_front: float | None = None,
    max_occluded: float = 0.4,
    keep_clear: Sequence[tuple[int, int, int, int]] = (),
    cleared: list[tuple[int, int, int, int]] | None = None,
    off_frame: float = 0.0,
    edge_first: bool = False,
    edges_only: bool = False,
    floor_ahead: bool = False,
    objects: NDArray[np.bool_] | None = None,
    max_covered: float = 1.0,
    clear_only: bool = False,
    steps: int | None = None,
    covered: Callable[[tuple[int, int, int, int]], float] | None = None,
) -> Placement | None:
    """Where the product goes beside the object of ``slot_mask`` in ``scene``, or ``None``.

    ``occupied``: the scene's object masks (every slot of the scene, the slot itself included),
    scene-sized. ``gap``: clearance from other objects and from the slot, as a share of the
    scene's width. ``max_overlap``: share of the product's box (the part inside the frame) allowed
    over occupied pixels.
    ``behind``: an occupied object (a connected part of a mask) whose lowest row is more than
    this share of the scene's height above the product's base stands farther from the camera,
    so the product may hide part of it, as a chair in front of a bookcase does; ``None``: every
    occupied pixel is taken. ``max_hidden``: the largest share of such an object (its pixels)
    the product's box may cover (a chair in front of a TV bench hides most of it); ``None``: any
    (and with ``behind`` ``None`` nothing stands behind, so it has no effect). ``heights``: the
    product's box height, in pixels, is kept between these two (low, high) by scaling it about its
    base, when the slot's scale would make it taller or shorter (a step stool as wide as the
    ottoman it stands beside; :func:`adstage.stage.scale.size_range`); ``None``: the slot's scale.
    ``grow``: whether a product the slot's scale makes shorter than ``heights`` allows is grown
    to fit (else it keeps the slot's scale: only the upper bound holds). ``least``: without
    ``grow``, a product the slot's scale makes shorter than this share of the lower height has no
    place here (a 179 cm bookcase 48 cm tall beside a step stool); ``0``: any. ``in_front``: an
    occupied object whose lowest row is more than this share of the scene's height *below* the
    product's base stands nearer the camera, so it may hide part of the product, which is then
    drawn behind it (:func:`nearer_than` gives the occluding pixels), at most ``max_occluded`` of
    the product's pixels, and the floor under the product is checked where it is seen; ``None``:
    every nearer object is taken, as one level with the product. ``keep_clear``: boxes of the
    scene (x0, y0, x1, y1) the product may cover no more than :data:`MAX_CLEAR_COVERED` of, in
    front or behind: a television's screen (:func:`screens`). ``cleared``: when given, each box
    refused *only* for covering a ``keep_clear`` box is appended to it (empty after the call: no
    place was lost to them, so the same call without ``keep_clear`` gives the same answer).
    ``off_frame``: the largest share of the product's width that may lie beyond the frame's left
    or right edge, as furniture near the camera is cut by a photo's frame; such places are tried
    only after every place inside the frame failed, and the placement's box then reaches outside
    the scene (:func:`crop_to_frame` gives the part that is seen). ``0``: inside the frame only.
    ``edge_first``: with ``off_frame``, places cut by the frame are tried *first*, and with them
    the two where the product is cut by half that share at either side, however far from the slot
    (furniture against a side wall out of view, not in the open middle of the room).
    ``edges_only``: with ``off_frame``, only those places at the frame's edges are tried (none
    inside the frame); without ``off_frame`` there are none.
    ``floor_ahead``: at a place cut by the frame, the strip just in front of the floor strip
    under the product's base (as deep again, nearer the camera) must look like the slot's floor
    too, when the photo shows it: furniture nearest the camera is cut by the frame's bottom
    corners, and a white seat under a grey sheepskin there passed the strip under the base by its
    mean colour while the strip in front of it, the sheepskin's fold, did not (issue 13).
    ``objects``: a scene-sized map of the scene's objects (:func:`adstage.stage.objects.object_map`)
    with ``max_covered``: a place whose box covers more than ``max_covered`` of its area in
    ``objects`` (:func:`covered_share`) is returned only when no place that passes all else
    covers less (the first such; with ``clear_only``, never): a product in clear floor rather
    than in front of or over furniture the catalog has no mask of. ``steps``: positions tried on
    each side of the slot, each half a product width further out (``None``: :data:`STEPS`).
    ``covered``: instead of ``objects``, a function giving a place's box the share of it over
    the scene's objects (:class:`adstage.stage.objects.LocalObjects`: segmented around that box
    only), called only for places that pass all else; ``max_covered`` and ``clear_only`` as with
    ``objects``.
    """
    if heights is not None and not 0 < heights[0] <= heights[1]:
        raise InputError(f"place_beside: heights must be 0 < low <= high, got {heights}")
    if not 0.0 <= least <= 1.0:
        raise InputError(f"place_beside: least must be in [0, 1], got {least}")
    if not 0.0 <= off_frame < 1.0:
        raise InputError(f"place_beside: off_frame must be in [0, 1), got {off_frame}")
    steps = STEPS if steps is None else steps
    if steps < 1:
        raise InputError(f"place_beside: steps must be at least 1, got {steps}")
    if not 0.0 <= max_covered <= 1.0:
        raise InputError(f"place_beside: max_covered must be in [0, 1], got {max_covered}")
    if edges_only and off_frame == 0:
        return None  # no place at the frame's edges is allowed
    if scene.ndim != 3 or slot_mask.shape != scene.shape[:2]:
        raise InputError(
            f"place_beside: the slot mask {slot_mask.shape} does not match the scene "
            f"{scene.shape[:2]}"
        )
    h, w = slot_mask.shape
    if not slot_mask.any():
        raise InputError("place_beside: the slot mask is empty")
    if objects is not None and covered is not None:
        raise InputError("place_beside: give objects or covered, not both")
    if objects is not None:
        if objects.shape != (h, w):
            raise InputError(f"place_beside: the object map is {objects.shape}, expected {(h, w)}")
        covered = functools.partial(covered_share, np.asarray(objects, bool))
    ys, xs = np.nonzero(slot_mask)
    sx0, sx1, base = int(xs.min()), int(xs.max()) + 1, int(ys.max()) + 1
    taken = slot_mask.copy()
    hiding = np.zeros((h, w), bool) if in_front is not None else None  # nearer: may hide it
    farther: list[tuple[NDArray[np.int32], NDArray[np.int64]]] = []  # labels, pixels per label
    for mask in [occupied] if isinstance(occupied, np.ndarray) else occupied:
        if mask.shape != (h, w):
            raise InputError(f"place_beside: an occupied mask is {mask.shape}, expected {(h, w)}")
        near = mask if behind is None else _not_behind(mask, base - behind * h)
        if hiding is None:
            taken |= near
        else:  # nearer objects are not taken: they hide the product instead
            nearer = _not_behind(mask, base + in_front * h)
            hiding |= nearer
            taken |= near & ~nearer
        if max_hidden is not None and behind is not None:
            n, labels = cv2.connectedComponents((mask & ~near).astype(np.uint8), connectivity=8)
            if n > 1:
                ids = np.asarray(labels, np.int32)
                farther.append((ids, np.bincount(ids.ravel(), minlength=n)))
    pad = max(1, round(gap * w))
    grown = cv2.dilate(taken.astype(np.uint8), np.ones((2 * pad + 1, 2 * pad + 1), np.uint8)) > 0
    integral = cv2.integral(grown.astype(np.uint8))

    in_place = align(product_mask, slot_mask, fit=fit, stand=True)
    x0, y0, x1, y1 = in_place.box
    pw, ph = x1 - x0, y1 - y0
    scale = in_place.scale
    if heights is not None:
        low, high = heights
        wanted = min(max(float(ph), low if grow else 0.0), high)
        if not grow and wanted < least * low:
            return None  # far smaller than it is: not shown at this anchor's scale
        if wanted < MIN_HEIGHT_PX:
            return None  # a product a few pixels tall: no place for it here
        if round(wanted) != ph:
            factor = wanted / ph
            pw, ph, scale = max(1, round(pw * factor)), max(1, round(wanted)), scale * factor
    floor = _strip_colour(scene, sx0, sx1, base, max(2, ph // 10))
    margin_x, margin_y = round(frame * w), round(frame * h)
    top = base - ph
    if floor is None or top < margin_y or base > h - margin_y:
        return None
    shape = None
    if hiding is not None:
        ys, xs = np.nonzero(product_mask)
        crop = product_mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.uint8)
        shape = cv2.resize(crop, (pw, ph), interpolation=cv2.INTER_NEAREST) > 0
    offsets = []
    for step in range(steps):
        shift = pad + step * (pw // 2)
        offsets += [sx1 + shift, sx0 - shift - pw]  # right of the slot, left of it
    inside = [x for x in offsets if x >= margin_x and x + pw <= w - margin_x]
    cut_by_frame = [
        x for x in offsets if (x < 0 or x + pw > w) and max(0, -x, x + pw - w) <= off_frame * pw
    ]  # one side cut, within the share (a product wider than the frame is not)
    order = inside + (cut_by_frame if off_frame > 0 else [])
    if (edge_first or edges_only) and off_frame > 0:
        half = round(off_frame * pw / 2)
        extra = [x for x in (-half, w - pw + half) if half > 0 and x not in cut_by_frame]
        edges = cut_by_frame + extra
        order = edges if edges_only else edges + inside
    crowded: Placement | None = None  # the first place that passed all but ``clear``
    for bx0 in order:
        bx1 = bx0 + pw
        vx0, vx1 = max(0, bx0), min(w, bx1)  # the columns seen
        if bx0 < 0 and bx1 > w:
            continue  # cut on both sides: wider than the frame
        busy = integral[base, vx1] - integral[top, vx1] - integral[base, vx0] + integral[top, vx0]
        if busy > max_overlap * (vx1 - vx0) * ph:
            continue
        if any(
            _hides(labels, sizes, (bx0, top, bx1, base), max_hidden) for labels, sizes in farther
        ):
            continue
        seen = None
        if hiding is not None and shape is not None:
            seen_shape = shape[:, vx0 - bx0 : vx1 - bx0]  # the columns inside the frame
            hidden = hiding[top:base, vx0:vx1]
            if (seen_shape & hidden).sum() > max_occluded * max(1, int(seen_shape.sum())):
                continue
            seen = ~hiding
        under = _strip_colour(scene, vx0, vx1, base, max(2, ph // 10), seen)
        if under is None:
            if seen is None:
                continue
            # the floor under it is hidden by what stands in front: the anchor's base line holds
        elif float(np.linalg.norm(under - floor)) > max_floor_delta:
            continue
        if (
            floor_ahead
            and (bx0 < 0 or bx1 > w)
            and not _floor_ahead(
                scene, (vx0, vx1), base, max(2, ph // 10), floor, max_floor_delta, seen
            )
        ):
            continue
        if any(_covers((bx0, top, bx1, base), clear) for clear in keep_clear):
            if cleared is not None:
                cleared.append((bx0, top, bx1, base))
            continue  # checked last: a place lost only to a screen is known as such
        found = Placement(box=(bx0, top, bx1, base), scale=scale, fit=fit, scene_size=(w, h))
        if covered is None or covered(found.box) <= max_covered:
            return found
        if crowded is None:
            crowded = found
    return None if clear_only else crowded


def covered_share(objects: NDArray[np.bool_], box: tuple[int, int, int, int]) -> float:
    """The share of ``box`` (its part inside the frame) that ``objects`` (any dtype: non-zero is
    an object) marks: how much of the scene's furniture a product stood there would stand in front
    of or over (issue 13, session 34: docs/staging.md "Free space in clear floor first")."""
    h, w = objects.shape
    return box_share(objects, (0, 0, w, h), box)


def crop_to_frame(cut: Cutout, placement: Placement) -> tuple[Cutout, Placement]:
    """The part of ``cut`` (drawn over ``placement.box``) the scene's frame shows, and its
    placement: a box reaching past the left or right edge (:func:`place_beside`'s ``off_frame``)
    is clipped to it and the cut-out's columns beyond it are dropped, at the same scale (its
    ``center_of_mass`` is kept: the whole product's). A box inside the frame: both as they are."""
    x0, y0, x1, y1 = placement.box
    w, h = placement.scene_size
    if x1 <= x0 or y1 <= y0 or cut.rgba.ndim != 3 or not cut.rgba.size:
        raise InputError(f"crop_to_frame: an empty box {placement.box} or cut-out {cut.rgba.shape}")
    if y0 < 0 or y1 > h or x1 <= 0 or x0 >= w:
        raise InputError(f"crop_to_frame: the box {placement.box} is not seen in a {w}×{h} scene")
    if x0 >= 0 and x1 <= w:
        return cut, placement
    vx0, vx1 = max(0, x0), min(w, x1)
    cols = cut.rgba.shape[1]
    per = cols / (x1 - x0)  # cut-out columns per scene column
    c0 = min(cols - 1, round((vx0 - x0) * per))
    c1 = max(c0 + 1, min(cols, round((vx1 - x0) * per)))
    bx0, by0, _, by1 = cut.bbox
    seen = replace(
        cut,
        rgba=np.ascontiguousarray(cut.rgba[:, c0:c1]),
        mask=np.ascontiguousarray(cut.mask[:, c0:c1]),
        bbox=(bx0 + c0, by0, bx0 + c1, by1),
    )
    return seen, replace(placement, box=(vx0, y0, vx1, y1))
