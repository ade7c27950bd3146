"""Shadows from a box-like stand-in for the pasted product: ambient occlusion and a soft key light.

The layered shadows of :func:`adstage.composite.blend.ground_shadow` are drawn shapes (a blurred
contact line, an ellipse, the shade between the legs, the silhouette sheared onto the floor), each
with its own opacity. This module instead *renders* the floor's darkening from a crude 3-D
stand-in for the product: its silhouette, standing on the floor, extruded backwards. Each floor
point near the product is darkened by the share of the light that the stand-in hides from it:

- *ambient*: the sky of the room, cosine-weighted over the upper hemisphere (ambient occlusion,
  Zhukov, Iones & Kronin, "An ambient light illumination model", EGWR 1998) — dark in a narrow
  gap under a low shelf, light under a tall table, fading with distance from a wall-like base
  the way the room's own furniture shades its floor;
- *key light*: a soft area light above and in front, on the side of the scene's light
  (:func:`adstage.composite.light.light_side`), whose shadow falls behind the product.

Both are computed the way a shadow map is (Williams, "Casting curved shadows on curved
surfaces", SIGGRAPH 1978), inverted: for each light direction, every point of the stand-in's
surface is projected along it onto the floor, and the floor points it lands on are in its shadow.

**The stand-in.** In image coordinates (the small local map the compositor works in), a floor
point ``d`` pixels of depth behind the product's front base line is seen ``k · d`` rows higher
(``k`` the floor's foreshortening, :data:`FORESHORTEN`; :data:`adstage.composite.blend.CAST_DEPTH`
is the same quarter), and a product pixel ``y`` rows above the floor under it stands ``y`` pixels
high. Each column's floor row is the line through the product's *contacts* (leg tips;
:func:`adstage.composite.blend._contacts`), or its base line when it has fewer than two, so a
chair's back legs, which end higher in the picture, stand on the floor farther back rather than
float. Each column's silhouette is extruded backwards by :data:`DEPTH` × the smaller of the
product's width and height. A heuristic
of ours: products are not boxes, a silhouette does not know its depth, and a floor seen from a
camera is not a linear map; it is a sketch of the physics, judged by people (docs/staging.md).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

FORESHORTEN = 0.25
"""Image rows per pixel of depth on the floor near the product (a floor seen from eye height)."""
DEPTH = 0.6
"""The stand-in's depth as a share of the smaller of the product's width and height (a shelf
80 cm wide and 162 tall is about 35 deep, a TV bench 180 wide and 50 tall about 40)."""
GRID = 72
"""The occlusion is computed on a grid where the product is this many cells wide (it is smooth;
the crease and the contact are drawn finer by the caller)."""
AO_REACH = 0.5
"""Only what lies within this share of the smaller of the product's width and height (along the
floor) occludes the ambient light: the room's bounced light fills a shadow's far tail, which
would otherwise lay a faint veil over the floor and whatever stands beside the product."""
AMBIENT_RINGS = 6
"""Elevations sampled for the ambient light (cosine-weighted, equal-weight rings)…"""
AMBIENT_AZIMUTHS = 16
"""…and azimuths per ring."""
MIN_ELEVATION = 12.0
"""Directions lower than this (degrees) are not traced: their share of a cosine-weighted sky is
small (4 %) and their shadows would run out of the map."""
KEY_ELEVATION = 50.0
"""The key light's elevation (degrees above the floor)…"""
KEY_SPREAD = 14.0
"""…its angular radius (an area light: a window or a lampshade; degrees)…"""
KEY_SAMPLES = 24
"""…and the directions sampled within it."""
KEY_MAX_AZIMUTH = 55.0
"""The key light's largest azimuth from straight in front of the product (degrees), reached when
the scene's light is far to one side."""


def _directions(
    elevation: NDArray[np.float64], azimuth: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Unit vectors ``(x, y, z)``: ``x`` right, ``y`` up, ``z`` away from the camera; azimuth 0
    points at the camera (``-z``)."""
    el = np.radians(elevation)
    az = np.radians(azimuth)
    return np.stack([np.cos(el) * np.sin(az), np.sin(el), -np.cos(el) * np.cos(az)], axis=-1)


def ambient_directions() -> NDArray[np.float64]:
    """Directions over the upper hemisphere, cosine-weighted by stratification (equal weights):
    ring ``i`` at ``sin² θ = (i + ½) / n``, its azimuths shifted by half a step every other
    ring; directions below :data:`MIN_ELEVATION` are raised to it."""
    rings = (np.arange(AMBIENT_RINGS) + 0.5) / AMBIENT_RINGS
    elevation = np.maximum(np.degrees(np.arccos(np.sqrt(1.0 - rings))), MIN_ELEVATION)
    out = []
    for i, el in enumerate(elevation):
        az = (np.arange(AMBIENT_AZIMUTHS) + 0.5 * (i % 2)) * 360.0 / AMBIENT_AZIMUTHS
        out.append(_directions(np.full(AMBIENT_AZIMUTHS, el), az))
    return np.concatenate(out)


def key_directions(towards: float) -> NDArray[np.float64]:
    """Directions towards a soft key light in front of the product (on the camera's side), at
    :data:`KEY_ELEVATION`, turned to the right by ``towards`` × :data:`KEY_MAX_AZIMUTH` (``towards``
    in [-1, 1]: where the scene's light lies, left or right of the product), sampled over a disc
    of :data:`KEY_SPREAD` degrees (a golden-angle spiral)."""
    n = KEY_SAMPLES
    r = KEY_SPREAD * np.sqrt((np.arange(n) + 0.5) / n)
    phi = np.arange(n) * np.pi * (3.0 - np.sqrt(5.0))
    elevation = np.clip(KEY_ELEVATION + r * np.sin(phi), MIN_ELEVATION, 89.0)
    azimuth = float(np.clip(towards, -1.0, 1.0)) * KEY_MAX_AZIMUTH + r * np.cos(phi)
    return _directions(elevation, azimuth)


def _floor_rows(
    inside: NDArray[np.bool_], base: int, contacts: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Each column's floor row (float): the line through the contacts' lowest pixels (held flat
    beyond the outermost), or ``base`` with fewer than two contacts; never above the column's
    own lowest pixel."""
    w = inside.shape[1]
    has = inside.any(0)
    lowest = np.where(has, inside.shape[0] - 1 - np.argmax(inside[::-1], axis=0), -1)
    columns = np.arange(w)
    at = np.nonzero(contacts & has)[0]
    if at.size >= 2:
        ground = np.interp(columns, at, lowest[at].astype(np.float64))
    else:
        ground = np.full(w, float(base))
    return np.maximum(ground, lowest.astype(np.float64))


def stand_in_surface(
    inside: NDArray[np.bool_], ground: NDArray[np.float64], depth: float
) -> NDArray[np.float64]:
    """Points ``(x, height, z)`` on the surface of the extruded silhouette ``inside`` (rows ×
    columns of a grid, True on the product) standing on the floor rows ``ground`` (per column):
    its front and back faces (every product cell, at half-cell steps in height so that steep
    projections leave no gaps) and its sides (the silhouette's outline, at every cell of depth).
    ``z`` is depth behind the front base line (the lowest floor row), in cells."""
    base = float(ground.max())
    rows, cols = np.nonzero(inside)
    if rows.size == 0:
        return np.zeros((0, 3))
    height = ground[cols] - rows
    z0 = (base - ground[cols]) / FORESHORTEN
    keep = height >= 0
    rows, cols, height, z0 = rows[keep], cols[keep], height[keep], z0[keep]
    half = np.concatenate([height, height + 0.5])
    xs = np.concatenate([cols, cols]).astype(np.float64)
    zs = np.concatenate([z0, z0])
    faces = [np.stack([xs, half, zs], 1), np.stack([xs, half, zs + depth], 1)]
    outline = inside & ~cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    orow, ocol = np.nonzero(outline)
    oh = ground[ocol] - orow
    ok = oh >= 0
    orow, ocol, oh = orow[ok], ocol[ok], oh[ok]
    oz = (base - ground[ocol]) / FORESHORTEN
    steps = np.arange(0.0, depth + 1e-9, 1.0)
    if orow.size and steps.size:
        sides = np.stack(
            [
                np.repeat(ocol.astype(np.float64), steps.size),
                np.repeat(oh, steps.size),
                (oz[:, None] + steps[None, :]).ravel(),
            ],
            1,
        )
        faces.append(sides)
    return np.concatenate(faces)


def occluded_share(
    points: NDArray[np.float64],
    directions: NDArray[np.float64],
    shape: tuple[int, int],
    base: float,
    reach: float | None = None,
) -> NDArray[np.float32]:
    """For each cell of a ``shape`` grid of the floor (rows as seen in the image: a floor point
    ``z`` cells behind the front base line lies on row ``base − FORESHORTEN · z``), the share of
    ``directions`` in which the stand-in's surface ``points`` hide the sky from it: each point
    is projected along each direction down to the floor, and the cells it lands on are shadowed
    in that direction (a shadow map, inverted). ``reach``: only what lies within this distance
    (in cells, along the floor) occludes (an ambient occlusion radius; ``None``: any)."""
    h, w = shape
    hits = np.zeros(h * w, np.float32)
    mark = np.zeros(h * w, np.bool_)
    x, y = points[:, 0], points[:, 1]
    row = base - FORESHORTEN * points[:, 2]
    for d in directions:
        t = y / max(d[1], 1e-6)
        near = None if reach is None else t * np.hypot(d[0], d[2]) <= reach
        fx = np.floor(x - t * d[0] + 0.5).astype(np.int32)  # rounded
        fr = np.floor(row + FORESHORTEN * d[2] * t + 0.5).astype(np.int32)
        ok = (fx >= 0) & (fx < w) & (fr >= 0) & (fr < h)
        if near is not None:
            ok &= near
        mark[:] = False
        mark[fr[ok] * w + fx[ok]] = True
        hits += mark
    out: NDArray[np.float32] = (hits / max(1, len(directions))).reshape(h, w).astype(np.float32)
    return out


def _fade(h: int, w: int, box: tuple[int, int, int, int]) -> NDArray[np.float32]:
    """A window over an ``h × w`` map that is 1 around ``box`` and falls smoothly to 0 at the
    map's left, right and bottom edges (over the outer half of the margin on each side) and
    above the box's middle (from three quarters of its height down to the middle), so a shadow
    cut by the map's bounds leaves no seam."""
    x0, y0, x1, y1 = box

    def ramp(distance: NDArray[np.float64], width: float) -> NDArray[np.float64]:
        u = np.clip(distance / max(width, 1.0), 0.0, 1.0)
        return u * u * (3.0 - 2.0 * u)

    cols = np.arange(w, dtype=np.float64)
    rows = np.arange(h, dtype=np.float64)
    across = ramp(cols, 0.5 * x0) * ramp(w - 1 - cols, 0.5 * (w - x1))
    down = ramp(h - 1 - rows, 0.5 * (h - y1)) * ramp(rows - (y0 + y1) / 2, (y1 - y0) / 4)
    out: NDArray[np.float32] = (down[:, None] * across[None, :]).astype(np.float32)
    return out


def occlusion_shadow(
    placed_alpha: NDArray[np.float32],
    box: tuple[int, int, int, int],
    contacts: NDArray[np.bool_],
    *,
    ambient: float,
    key: float,
    towards: float = 0.0,
    depth: float = DEPTH,
) -> NDArray[np.float32]:
    """The light the floor loses around the product whose alpha in the map is ``placed_alpha``
    (``H×W``, the product inside ``box``), as a share in [0, 1] of linear light: ``ambient`` ×
    the share of the sky the stand-in hides plus ``key`` × the share of the key light it hides
    (the light ``towards`` its right, in [-1, 1]); ``ambient + key`` is the share of the room's
    light these two stand for (at most 1). ``contacts``: the box's columns that touch the floor (leg
    tips), from which each column's floor line is drawn. The product's own pixels are not
    darkened (the caller pastes over them)."""
    h, w = placed_alpha.shape
    x0, y0, x1, y1 = box
    bw, bh = max(1, x1 - x0), max(1, y1 - y0)
    f = min(1.0, GRID / bw)
    gw, gh = max(1, round(w * f)), max(1, round(h * f))
    small = (
        cv2.resize(placed_alpha, (gw, gh), interpolation=cv2.INTER_AREA) if f < 1 else placed_alpha
    )
    inside = small >= 0.5
    base = min(gh - 1, round((y1 - 1) * f))
    cx0, cx1 = round(x0 * f), max(round(x0 * f) + 1, round(x1 * f))
    grid_contacts = np.zeros(gw, bool)
    if contacts.size:
        at = np.clip(np.rint((x0 + np.nonzero(contacts)[0]) * f).astype(np.int64), 0, gw - 1)
        grid_contacts[at] = True
    grid_contacts[:cx0] = False
    grid_contacts[cx1:] = False
    ground = _floor_rows(inside, base, grid_contacts)
    points = stand_in_surface(inside, ground, depth * min(bw, bh) * f)
    if points.shape[0] == 0:
        return np.zeros((h, w), np.float32)
    floor_base = float(ground.max())
    size = min(bw, bh) * f
    sky = occluded_share(points, ambient_directions(), (gh, gw), floor_base, AO_REACH * size)
    lamp = occluded_share(points, key_directions(towards), (gh, gw), floor_base)
    dark = np.minimum(ambient * sky + key * lamp, 1.0)
    blurred = cv2.GaussianBlur(dark.astype(np.float32), (0, 0), 0.8)
    dark = blurred * _fade(gh, gw, (cx0, round(y0 * f), cx1, base + 1))
    if f < 1:
        dark = cv2.resize(dark, (w, h), interpolation=cv2.INTER_LINEAR)
    out: NDArray[np.float32] = (dark * (1.0 - placed_alpha)).astype(np.float32)
    return out
