"""Shadows on the background: the soft contact shadow under a product's footprint and the
shadow a product casts on the floor behind it. Both darken the background only; the mask
never includes them.
"""

from __future__ import annotations

import math
from typing import cast

import cv2
import numpy as np

from adstage.composite.blend import floor_shear
from adstage.datasets.synthetic.canvas import F32, _Canvas, _View
from adstage.datasets.synthetic.model import _Model

_Region = tuple[tuple[slice, slice], F32]


def _darken(image: F32, region: _Region | None, strength: float) -> None:
    """Multiply ``image`` by ``1 - strength × shadow`` inside the shadow's region, in place."""
    if region is not None:
        sl, shadow = region
        image[sl] *= (1.0 - np.clip(strength * shadow, 0.0, 0.8))[..., None]


def _clip_box(
    x0: float, y0: float, x1: float, y1: float, W: int, H: int
) -> tuple[int, int, int, int] | None:
    a, b = max(math.floor(x0), 0), max(math.floor(y0), 0)
    c, d = min(math.ceil(x1), W), min(math.ceil(y1), H)
    return (a, b, c, d) if a < c and b < d else None


def _contact_shadow(model: _Model, v: _View, W: int, H: int) -> _Region | None:
    """Soft shadow in [0, 1] under the product's footprint, darker at its contact points."""
    w, d = model.width, model.depth
    foot = v.xy([-w / 2, w / 2, w / 2, -w / 2], [0.0] * 4, [0.0, 0.0, d, d])
    contacts = np.array([v.xy(X, 0.0, Z) for X, Z in model.contacts]).reshape(-1, 2)
    sigma = max(1.0, 0.06 * v.s * max(w, d * 0.5))
    sigma_b = max(1.0, 1.5 * v.s)
    r = max(1.5, 3.5 * v.s)
    pts = np.concatenate([foot, contacts])
    pad = 3.0 * max(sigma, sigma_b) + r + 2.0
    box = _clip_box(
        pts[:, 0].min() - pad,
        pts[:, 1].min() - pad,
        pts[:, 0].max() + pad,
        pts[:, 1].max() + pad,
        W,
        H,
    )
    if box is None:
        return None
    x0, y0, x1, y1 = box
    soft = np.zeros((y1 - y0, x1 - x0), np.float32)
    cv2.fillPoly(
        soft, [np.round((foot - (x0, y0)) * 16).astype(np.int32)], 1.0, cv2.LINE_8, shift=4
    )
    soft = cv2.GaussianBlur(soft, (0, 0), sigma) * 0.55
    blobs = np.zeros_like(soft)
    axes = (round(r), max(1, round(r * v.ellipse)))
    for x, y in contacts:
        cv2.ellipse(blobs, (round(x - x0), round(y - y0)), axes, 0, 0, 360, 1.0, -1)
    # cv2's stubs type every result as MatLike; GaussianBlur and warpAffine keep float32.
    blobs = cast(F32, cv2.GaussianBlur(blobs, (0, 0), sigma_b))
    return (slice(y0, y1), slice(x0, x1)), np.clip(soft + blobs, 0.0, 1.0)


def _cast_shadow(c: _Canvas, ground: float, shear: float, squash: float) -> _Region | None:
    """The layer's silhouette laid down on the floor behind it (a fake planar projection)."""
    if c.box is None:
        return None
    M = floor_shear(ground, shear, squash)
    bx0, by0, bx1, by1 = c.box
    corners = np.array([[bx0, by0, 1.0], [bx1, by0, 1.0], [bx0, by1, 1.0], [bx1, by1, 1.0]]) @ M.T
    sigma = 1.2 + 0.006 * c.w
    pad = 3.0 * sigma + 2.0
    lo, hi = corners.min(axis=0) - pad, corners.max(axis=0) + pad
    box = _clip_box(lo[0], lo[1], hi[0], hi[1], c.w, c.h)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    M[:, 2] -= (x0, y0)
    out = cv2.warpAffine(
        c.sil, M.astype(np.float32), (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=0
    )
    return (slice(y0, y1), slice(x0, x1)), cast(F32, cv2.GaussianBlur(out, (0, 0), sigma))
