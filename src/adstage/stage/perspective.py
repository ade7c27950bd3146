"""Turn a pasted product to the room's perspective where it stands.

A catalog photo shows the product from its own camera: most are taken square-on (the front's
horizontal edges are horizontal in the picture), some from three-quarters (they meet at a
vanishing point to one side). In a room photographed at an angle, the edges of everything that
stands along one wall meet at one vanishing point on the horizon (Hartley & Zisserman, *Multiple
View Geometry*, 2nd ed., §8.6), and a square-on product beside a TV bench whose edges recede to
the right stands turned towards the camera, as no real piece of furniture there would.

:func:`front_vanishing` reads the vanishing point of an object's front from its straight edges
(OpenCV's LSD, as :mod:`adstage.stage.horizon` does for the whole room, with its
:func:`~adstage.stage.horizon.meeting_points`): every pair of non-parallel segments that meets
beyond both gives a candidate, and so does "at infinity" (edges
parallel to the picture); a candidate's support is the squared length of the segments pointing at
it. An object shows two families, its front and the side or top receding from the camera: the
best candidate is the first family's point, the best among the segments it leaves the second's,
and the front is the farther of the two when the second has at least :data:`FRONT_SUPPORT` of the
first's support (a square-on front: at infinity).

:func:`turn_homography` is the plane projective map that keeps the product's centre column where
it is, pixel for pixel, keeps vertical lines vertical (a level camera) and sends the lines through
the product's own vanishing point to lines through the room's; :func:`turn_cutout` applies it to a
placed cut-out, at most :data:`MAX_TURN` of the height changed at either side (a partial turn
beyond), and gives the warped cut-out and its new box. With the product's centre column kept, its
base stays on the anchor's floor line there, and the near side reaches lower, as it does in a
photograph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.composite.blend import scale_cutout
from adstage.errors import InputError
from adstage.stage.horizon import line_segments, meeting_points
from adstage.types import Cutout, Placement

WORK_SIDE = 512
"""Edges are read on the region scaled so its longer side is at most this many pixels."""
MIN_LENGTH = 0.12
"""Segments shorter than this share of the region's diagonal are left out."""
MAX_SLOPE_DEG = 60.0
"""Segments steeper than this (degrees from the picture's horizontal) are verticals."""
INLIER_DEG = 1.5
"""A segment points at a candidate when its direction is within this many degrees of it."""
MIN_INLIERS = 3
"""A front needs at least this many segments pointing at its vanishing point."""
MIN_SHARE = 0.25
"""… and at least this share of all segments' support."""
FRONT_SUPPORT = 0.5
"""The second family is the front when it lies farther and has at least this share of the first's
support."""
MIN_SPAN = 1.5
"""A front's edges add up to at least this many of the object's widths (a cabinet's top, bottom
and shelves each run across it; a round table's rim gives short chords, and no front)."""
MIN_FAR = 2.0
"""A front's vanishing point lies at least this many of the object's widths from its centre: the
edges of a top or a side seen at a steep angle meet nearer, and a front turned that far would
show its side, which a turned picture cannot."""
MAX_TURN = 0.1
"""The largest change of the product's height at either side, as a share of its height at the
centre column; a larger turn is made partly."""
MIN_SHIFT_PX = 1.5
"""A turn that moves no corner of the product's box by this many scene pixels is not made."""
ROWS = (-0.5, 1.5)
"""A horizontal edge's vanishing point lies on the horizon: candidates outside these rows (share
of the picture's height) are not tried."""


@dataclass(frozen=True)
class Vanishing:
    """Where an object's front edges meet: ``point`` homogeneous ``(x, y, w)`` in the pixels of
    the picture read (``w`` 0: at infinity, in direction ``(x, y)``); ``share``: its support over
    all segments'; ``segments``: how many point at it."""

    point: tuple[float, float, float]
    share: float
    segments: int

    @property
    def at_infinity(self) -> bool:
        return self.point[2] == 0.0


def front_vanishing(
    rgb: NDArray[np.uint8],
    region: NDArray[np.bool_] | None = None,
    *,
    rows: tuple[float, float] | None = ROWS,
) -> Vanishing | None:
    """The vanishing point of the front of the object ``region`` (bool, H×W) covers in ``rgb``
    (H×W×3 uint8; ``None``: the whole picture), or ``None`` when its edges do not agree on one
    (see the module docstring). ``rows``: where the horizon may lie, as shares of the picture's
    height (``None``: anywhere; a product's cut-out is cropped tight, so its horizon may lie
    far above it)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"front_vanishing: expected an H×W×3 uint8 image, got {rgb.shape}")
    h, w = rgb.shape[:2]
    if region is None:
        region = np.ones((h, w), bool)
    if region.shape != (h, w):
        raise InputError(f"front_vanishing: region {region.shape} is not the image's {(h, w)}")
    if region.dtype != np.bool_:
        raise InputError(f"front_vanishing: region must be a bool mask, got {region.dtype}")
    ys, xs = np.nonzero(region)
    if len(xs) == 0:
        return None
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    f = min(1.0, WORK_SIDE / max(x1 - x0, y1 - y0))
    crop = rgb[y0:y1, x0:x1]
    inside = region[y0:y1, x0:x1]
    if f < 1.0:
        size = (max(1, round((x1 - x0) * f)), max(1, round((y1 - y0) * f)))
        crop = cast(NDArray[np.uint8], cv2.resize(crop, size, interpolation=cv2.INTER_AREA))
        inside = cv2.resize(inside.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    gray = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    seg = line_segments(gray)
    d = seg[:, 2:] - seg[:, :2]
    length = np.hypot(d[:, 0], d[:, 1])
    mid = seg[:, :2] + d / 2
    mx = np.clip(np.rint(mid[:, 0]).astype(int), 0, inside.shape[1] - 1)
    my = np.clip(np.rint(mid[:, 1]).astype(int), 0, inside.shape[0] - 1)
    slope = np.degrees(np.arctan2(np.abs(d[:, 1]), np.abs(d[:, 0]) + 1e-12))
    keep = (length >= max(8.0, MIN_LENGTH * math.hypot(*inside.shape))) & inside[my, mx]
    keep &= slope <= MAX_SLOPE_DEG
    p, d, length, mid = seg[keep, :2], d[keep], length[keep], mid[keep]
    if len(p) < MIN_INLIERS:
        return None
    weight = length**2
    sin_in = math.sin(math.radians(INLIER_DEG))
    # candidates: at infinity (edges parallel to the picture), and pairs' meeting points
    flat = np.abs(d[:, 1]) / length < sin_in
    vp, ok, pair_weight = meeting_points(p, d, length)  # beyond both segments
    # a front's vanishing point lies on the horizon's rows of the picture…
    row = (vp[:, 1] + y0 * f) / (h * f)
    # … at least MIN_FAR of the object's width from its centre (nearer: a top or a side)
    ok &= np.abs(vp[:, 0] - inside.shape[1] / 2) >= MIN_FAR * inside.shape[1]
    if rows is not None:
        ok &= (row > rows[0]) & (row < rows[1])
    vp = vp[ok]
    if len(vp) > 2000:
        vp = vp[np.argsort(-pair_weight[ok])[:2000]]
    to = vp[:, None, :] - mid[None, :, :]
    sine = np.abs(to[..., 0] * d[None, :, 1] - to[..., 1] * d[None, :, 0]) / (
        np.hypot(to[..., 0], to[..., 1]) * length[None, :] + 1e-9
    )
    inlier = np.vstack([flat[None, :], sine < sin_in])
    support = inlier @ weight
    first = int(np.argmax(support))
    if support[first] <= 0:
        return None
    # the second family: the best candidate among the segments the first leaves
    rest = (inlier & ~inlier[first][None, :]) @ weight
    second = int(np.argmax(rest))
    centre = inside.shape[1] / 2
    far = np.concatenate([[np.inf], np.abs(vp[:, 0] - centre)])
    pick = first
    if rest[second] >= FRONT_SUPPORT * support[first] and far[second] > far[first]:
        pick = second
    count = int(inlier[pick].sum())
    share = float(support[pick] / weight.sum())
    span = float(length[inlier[pick]].sum()) / inside.shape[1]
    if count < MIN_INLIERS or share < MIN_SHARE or span < MIN_SPAN:
        return None
    if pick == 0:
        return Vanishing((1.0, 0.0, 0.0), share, count)
    x, y = vp[pick - 1]
    return Vanishing((float(x / f + x0), float(y / f + y0), 1.0), share, count)


def turn_homography(
    own: tuple[float, float, float], room: tuple[float, float, float], origin: tuple[float, float]
) -> NDArray[np.float64] | None:
    """The 3×3 map that fixes the column through ``origin`` point by point, keeps verticals
    vertical and sends lines through the vanishing point ``own`` to lines through ``room`` (both
    homogeneous, in the same pixels); ``None`` when either lies on the kept column."""
    ox, oy = origin
    rel = []
    for x, y, w in (own, room):
        rel.append((x - ox * w, y - oy * w, w))
    (px, py, pw), (vx, vy, vw) = rel
    if abs(px) < 1e-9 or abs(vx) < 1e-9:
        return None
    g = vw / vx - pw / px
    b = vy / vx - py / px
    m = np.array([[1.0, 0.0, 0.0], [b, 1.0, 0.0], [g, 0.0, 1.0]])
    shift = np.array([[1.0, 0.0, ox], [0.0, 1.0, oy], [0.0, 0.0, 1.0]])
    back = np.array([[1.0, 0.0, -ox], [0.0, 1.0, -oy], [0.0, 0.0, 1.0]])
    return cast(NDArray[np.float64], shift @ m @ back)


def _apply(hom: NDArray[np.float64], pts: NDArray[np.float64]) -> NDArray[np.float64]:
    q = np.c_[pts, np.ones(len(pts))] @ hom.T
    return cast(NDArray[np.float64], q[:, :2] / q[:, 2:3])


@dataclass(frozen=True)
class Turn:
    """What :func:`turn_cutout` did: the product's and the room's vanishing points (scene pixels,
    homogeneous), the share of the full turn made (1: its lines meet the room's), and the height
    at the product's left and right sides over its centre's."""

    own: tuple[float, float, float]
    room: tuple[float, float, float]
    made: float
    sides: tuple[float, float]

    def record(self) -> dict[str, Any]:
        return {
            "own": [round(float(v), 1) for v in self.own],
            "room": [round(float(v), 1) for v in self.room],
            "made": round(float(self.made), 3),
            "sides": [round(float(v), 3) for v in self.sides],
        }


def turn_cutout(
    cut: Cutout,
    placement: Placement,
    own: Vanishing,
    room: Vanishing,
    *,
    off_frame: bool = False,
) -> tuple[Cutout, Placement, Turn] | str:
    """``cut`` drawn over ``placement.box`` turned so that its front's vanishing point ``own``
    (in the cut-out's pixels) goes to ``room``'s (in the scene's), about its centre column at its
    base: the turned cut-out (at the placement's scale when that shrinks it, else at its own), its
    box and what was done. The turned cut-out's ``bbox``, ``center_of_mass`` and
    ``area_fraction`` still describe the source photo's crop. A string says why nothing was
    turned: the two fronts meet on the kept column, the turn would move no corner by
    :data:`MIN_SHIFT_PX`, or the box would leave the scene's top or bottom, or its left or right
    side unless ``off_frame`` (free space may be cut by the frame)."""
    x0, y0, x1, y1 = placement.box
    if x1 <= x0 or y1 <= y0 or not cut.rgba.size:
        raise InputError(f"turn_cutout: an empty box {placement.box} or cut-out {cut.rgba.shape}")
    ch, cw = cut.rgba.shape[:2]
    sx, sy = (x1 - x0) / cw, (y1 - y0) / ch
    ox, oy, ow = own.point
    # pixel centres: cut-out pixel u covers scene x0 + (u + 0.5)·sx − 0.5 (cv2.resize's convention)
    own_scene = (
        ox * sx + (x0 + 0.5 * sx - 0.5) * ow,
        oy * sy + (y0 + 0.5 * sy - 0.5) * ow,
        ow,
    )
    origin = ((x0 + x1) / 2, float(y1))
    hom = turn_homography(own_scene, room.point, origin)
    if hom is None:
        return "the fronts' points lie on the product's centre column"
    about = _about(origin)
    rel = np.linalg.inv(about) @ hom @ about  # [[1, 0, 0], [b, 1, 0], [g, 0, 1]] about the origin
    half = (x1 - x0) / 2
    grow = abs(rel[2, 0]) * half  # the growing side's height is 1 / (1 − grow)
    made = 1.0
    if grow >= 1.0 or grow / (1.0 - grow) > MAX_TURN:
        # a partial turn: the perspective and shear scaled so the growing side is 1 + MAX_TURN
        made = MAX_TURN / ((1.0 + MAX_TURN) * grow)
        rel = np.array(
            [[1.0, 0.0, 0.0], [rel[1, 0] * made, 1.0, 0.0], [rel[2, 0] * made, 0.0, 1.0]]
        )
        hom = about @ rel @ np.linalg.inv(about)
    g = rel[2, 0]
    left, right = 1.0 / (1.0 - g * half), 1.0 / (1.0 + g * half)
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    moved = _apply(hom, corners)
    if np.abs(moved - corners).max() < MIN_SHIFT_PX:
        return "the turn would move no corner by a pixel and a half"
    nx0, ny0 = np.floor(moved.min(axis=0)).astype(int)
    nx1, ny1 = np.ceil(moved.max(axis=0)).astype(int)
    w, h = placement.scene_size
    if ny0 < 0 or ny1 > h or nx1 <= 0 or nx0 >= w or (not off_frame and (nx0 < 0 or nx1 > w)):
        return "the turned product would leave the frame"
    rgba, mask = cut.rgba, cut.mask
    if sx < 1.0 and sy < 1.0:  # warp at the placement's scale, not the catalog photo's
        rgba = scale_cutout(rgba, placement)
        size = (x1 - x0, y1 - y0)
        shrunk = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        mask = np.asarray(shrunk >= 0.5)
        sx = sy = 1.0
    # the warp in the cut-out's pixels: cut → scene, turned, → the new box's cut-out pixels
    to_scene = np.array([[sx, 0, x0 + 0.5 * sx - 0.5], [0, sy, y0 + 0.5 * sy - 0.5], [0, 0, 1.0]])
    to_new = np.linalg.inv(
        np.array([[sx, 0, nx0 + 0.5 * sx - 0.5], [0, sy, ny0 + 0.5 * sy - 0.5], [0, 0, 1.0]])
    )
    warp = to_new @ hom @ to_scene
    out_w = max(1, round((nx1 - nx0) / sx))
    out_h = max(1, round((ny1 - ny0) / sy))
    colour = rgba.astype(np.float32)
    a = colour[..., 3:] / 255.0
    pre = np.concatenate([colour[..., :3] * a, colour[..., 3:]], axis=2)
    warped = cv2.warpPerspective(
        pre, warp, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    alpha = np.clip(warped[..., 3:] / 255.0, 0.0, 1.0)
    un = np.where(alpha > 1e-3, warped[..., :3] / np.maximum(alpha, 1e-3), 0.0)
    out = np.clip(np.rint(np.dstack([un, alpha[..., 0] * 255.0])), 0, 255).astype(np.uint8)
    warped_mask = cv2.warpPerspective(
        mask.astype(np.uint8) * 255, warp, (out_w, out_h), flags=cv2.INTER_LINEAR
    )
    turned = replace(cut, rgba=out, mask=warped_mask >= 128)
    new = replace(placement, box=(int(nx0), int(ny0), int(nx1), int(ny1)))
    own_rec = cast(tuple[float, float, float], tuple(float(v) for v in own_scene))
    return turned, new, Turn(own_rec, room.point, made, (left, right))


def _about(origin: tuple[float, float]) -> NDArray[np.float64]:
    return np.array([[1.0, 0.0, origin[0]], [0.0, 1.0, origin[1]], [0.0, 0.0, 1.0]])
