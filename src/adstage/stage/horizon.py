"""Estimate a room photo's horizon from its straight lines, to tighten the size and support checks.

The ``support`` and ``scale`` checks of :mod:`adstage.stage.scale` use single-view metrology
(Hoiem, Efros & Hebert 2006): an object standing on the floor from row ``base`` up to row ``top``
is ``e · (base − top) / (base − horizon)`` tall for a level camera at eye height ``e``. Without
the scene's horizon they must allow any row from 30 % to 65 % of the height, so a wall cabinet
whose base is at 41 % passes as floor-standing in a kitchen whose horizon is at 55 %.

In a level photo, every straight edge that is horizontal in the room (a floor-wall line, a table
edge, a shelf, a floor board) points to a vanishing point on the horizon row: lines of one
direction meet there, and the vanishing points of all horizontal directions share its row
(Hartley & Zisserman, *Multiple View Geometry*, 2nd ed., §8.6). :func:`estimate_horizon` finds
vanishing points from line segments in the manner of Košecká & Zhang (ECCV 2002), simplified:

1. line segments are detected (OpenCV's LSD) on the photo at :data:`WORK_SIDE` px; short ones,
   near-vertical ones (the room's verticals) and near-flat ones (edges parallel to the image,
   which fit any horizon) are left out;
2. every pair of the rest that meets beyond both segments (a corner, where two edges touch, is
   not a vanishing point) gives a candidate point;
3. a candidate's support is the squared length of the segments that point at it. A vanishing
   point of the room's horizontal lines gathers lines from both sides of its row (the floor
   below eye level; shelves, windows and cabinets above), while the near-vertical lines' point,
   a rug's pattern or a chair's splayed legs gather them from one side only; so the support
   counted is twice the lesser of the two sides'. The best candidate's row is the horizon, and
   ``share`` its support over all segments'.

:func:`camera_for` keeps an estimate only when its ``share`` is at least :data:`MIN_SHARE` and its
row lies inside the prior's range (an estimate outside it is more likely wrong than the prior), and
narrows the prior's horizon range to the estimate ± :data:`SPREAD`. :func:`scene_camera` does so
for a scene file, cached per file. ``benchmarks/horizon.py`` measures it on the dev rooms.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from dataclasses import dataclass, replace
from typing import Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import AdstageError, InputError
from adstage.io.images import read_image
from adstage.stage.scale import Camera

log = logging.getLogger(__name__)

WORK_SIDE = 512
"""Lines are detected on the photo scaled so its longer side is this many pixels."""
MIN_LENGTH = 0.08
"""Segments shorter than this share of the image diagonal are left out."""
VERTICAL_DEG = 70.0
"""Segments steeper than this (degrees from the image's horizontal) are the room's verticals."""
FLAT_DEG = 2.0
"""Segments flatter than this are parallel to the image (or on the horizon) and fit any row."""
CANDIDATE_ROWS = (-0.25, 1.25)
"""Candidate points outside these rows (share of the height from the top) are not tried."""
CANDIDATES = 3000
"""At most this many candidate points are tried (those of the longest pairs)."""
PARALLEL_DEG = 2.0
"""Pairs of segments closer than this to parallel give no candidate (they meet anywhere)."""
INLIER_DEG = 1.5
"""A segment points at a candidate when its direction is within this many degrees."""
MIN_INLIERS = 4
"""A vanishing point needs at least this many segments pointing at it."""
MIN_SHARE = 0.2
"""An estimate is kept when its support is at least this share of all segments'."""
SPREAD = 0.06
"""The horizon range :func:`camera_for` allows around an estimate (share of the height)."""


@dataclass(frozen=True)
class Horizon:
    """A scene's estimated horizon: ``row``, its share of the height from the top; ``share``, the
    vanishing point's support over all segments' (see the module docstring); ``candidates``, the
    candidate points tried; ``segments``, the oblique segments used."""

    row: float
    share: float
    candidates: int
    segments: int


def line_segments(gray: NDArray[Any]) -> NDArray[np.float64]:
    """LSD's segments of ``gray`` as rows ``x0, y0, x1, y1`` (pixels)."""
    found = cv2.createLineSegmentDetector().detect(gray)[0]
    if found is None:
        return np.zeros((0, 4))
    return np.asarray(found, np.float64).reshape(-1, 4)


def _beyond(t: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Whether a meeting point at parameter ``t`` along a segment (0 and 1: its ends) lies beyond
    it by at least a tenth of its length: a vanishing point, not a corner or a crossing."""
    return (t < -0.1) | (t > 1.1)


def meeting_points(
    p: NDArray[np.float64], d: NDArray[np.float64], length: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]]:
    """Where the lines of every pair of segments (starts ``p``, directions ``d``, lengths
    ``length``; N) meet, for the pairs further than :data:`PARALLEL_DEG` from parallel: the
    points (K×2), whether each lies beyond both segments (a vanishing point, not a corner or a
    crossing) and each pair's weight (the product of its lengths)."""
    i, j = np.triu_indices(len(p), 1)
    cross = d[i, 0] * d[j, 1] - d[i, 1] * d[j, 0]
    sine = np.abs(cross) / (length[i] * length[j])
    ok = sine > math.sin(math.radians(PARALLEL_DEG))
    i, j, cross = i[ok], j[ok], cross[ok]
    delta = p[j] - p[i]
    t_i = (delta[:, 0] * d[j, 1] - delta[:, 1] * d[j, 0]) / cross
    t_j = (delta[:, 0] * d[i, 1] - delta[:, 1] * d[i, 0]) / cross
    vp = p[i] + t_i[:, None] * d[i]
    return vp, _beyond(t_i) & _beyond(t_j), length[i] * length[j]


def _inliers(
    vp: NDArray[np.float64], mid: NDArray[np.float64], d: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Which segments (mid points ``mid``, directions ``d``; N) point at each candidate vanishing
    point ``vp`` (K×2) within :data:`INLIER_DEG`: a K×N mask."""
    to = vp[:, None, :] - mid[None, :, :]
    cross = np.abs(to[..., 0] * d[None, :, 1] - to[..., 1] * d[None, :, 0])
    norm = np.hypot(to[..., 0], to[..., 1]) * np.hypot(d[:, 0], d[:, 1])[None, :] + 1e-9
    inlier: NDArray[np.bool_] = cross / norm < math.sin(math.radians(INLIER_DEG))
    return inlier


def estimate_horizon(rgb: NDArray[np.uint8]) -> Horizon | None:
    """The horizon of the photo ``rgb`` (H×W×3 uint8), or ``None`` when its lines do not agree
    on one (see the module docstring)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"estimate_horizon: expected an H×W×3 uint8 image, got {rgb.shape}")
    h, w = rgb.shape[:2]
    f = min(1.0, WORK_SIDE / max(h, w))
    if f < 1.0:
        rgb = cast(
            NDArray[np.uint8],
            cv2.resize(
                rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
            ),
        )
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    height, width = gray.shape
    seg = line_segments(gray)
    d = seg[:, 2:] - seg[:, :2]
    length = np.hypot(d[:, 0], d[:, 1])
    angle = np.degrees(np.arctan2(np.abs(d[:, 1]), np.abs(d[:, 0])))  # 0: flat, 90: vertical
    keep = (length >= MIN_LENGTH * math.hypot(height, width)) & (angle >= FLAT_DEG)
    keep &= angle <= VERTICAL_DEG
    p, d, length = seg[keep, :2], d[keep], length[keep]
    mid = p + d / 2
    n = len(p)
    if n < 3:
        return None
    # candidate vanishing points: meeting points of pairs, beyond both segments
    vp, beyond, pair_weight = meeting_points(p, d, length)
    row = vp[:, 1] / height
    ok = beyond & (row > CANDIDATE_ROWS[0]) & (row < CANDIDATE_ROWS[1])
    vp, pair_weight = vp[ok], pair_weight[ok]
    if len(vp) == 0:
        return None
    if len(vp) > CANDIDATES:  # the longest pairs: the best-measured meeting points
        vp = vp[np.argsort(-pair_weight)[:CANDIDATES]]
    weight = length**2  # a long segment's direction is measured well
    # the support of each side of a candidate's row; the lesser counts (module docstring, 3.)
    inlier = _inliers(vp, mid, d)
    above = mid[:, 1][None, :] < vp[:, 1][:, None]
    balanced = np.minimum((inlier & above) @ weight, (inlier & ~above) @ weight)
    best = int(np.argmax(balanced))
    if int(inlier[best].sum()) < MIN_INLIERS or balanced[best] <= 0:
        return None
    return Horizon(
        row=float(vp[best, 1] / height),
        share=float(2 * balanced[best] / weight.sum()),
        candidates=len(vp),
        segments=n,
    )


def camera_for(horizon: Horizon | None, prior: Camera) -> Camera:
    """``prior`` with its horizon range narrowed to ``horizon.row ± SPREAD`` (clipped to the
    prior's range) when ``horizon`` is an estimate clear enough to keep (:data:`MIN_SHARE`)
    whose row lies inside the prior's range; else ``prior`` itself (an estimate outside the prior
    is more likely wrong than the prior)."""
    if horizon is None or horizon.share < MIN_SHARE:
        return prior
    lo, hi = prior.horizon
    if not lo <= horizon.row <= hi:
        return prior
    return replace(prior, horizon=(max(lo, horizon.row - SPREAD), min(hi, horizon.row + SPREAD)))


@functools.lru_cache(maxsize=256)
def _file_horizon(uri: str, mtime_ns: int, size: int) -> Horizon | None:
    """:func:`estimate_horizon` of the file ``uri``, cached per path, modification time and size
    (a file changed at the same path is estimated again)."""
    return estimate_horizon(read_image(uri))


def scene_camera(uri: str, prior: Camera) -> Camera:
    """The camera of the scene file ``uri``: ``prior`` narrowed by its estimated horizon
    (:func:`camera_for`); estimates are cached per file for the process. A file that cannot be
    read gets the prior (staging it fails later, with its own error)."""
    try:
        stat = os.stat(uri)
        horizon = _file_horizon(uri, stat.st_mtime_ns, stat.st_size)
    except (OSError, AdstageError) as exc:
        log.warning("%s: no horizon estimate (%s); the prior stands", uri, exc)
        return prior
    return camera_for(horizon, prior)
