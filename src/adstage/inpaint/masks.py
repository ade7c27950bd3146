"""Training holes for inpainting: free-form strokes and product-shaped holes.

* :func:`free_form_strokes` / :func:`free_form_mask`: Yu et al., "Free-Form Image Inpainting
  with Gated Convolution", ICCV 2019 (DeepFill v2), appendix (Algorithm 1) and its released
  ``brush_stroke_mask``: a random number of strokes; each stroke starts at a random point and has
  a random number of vertices; each segment has a random angle (around ``mean_angle``, every
  other one reversed) and a random length, and is drawn as a line of a random brush width with
  round joints. :class:`FreeFormBounds` holds the bounds, expressed for a 512² image and scaled
  to the requested size (the DeepFill defaults: 1–4 strokes, 4–12 vertices, widths 12–40 px,
  angle 2π/5 ± 2π/15, lengths around ``diag/8``).
* :func:`object_mask`: real holes in copy-paste staging are product-shaped (Ku et al. 2023,
  §5.3), so a product's segmentation mask, cropped to its box, randomly scaled, flipped and
  shifted, is also used as a hole.

Masks are ``bool`` ``H×W`` with ``True`` = hole.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError

BoolMask = NDArray[np.bool_]


@dataclass(frozen=True)
class FreeFormBounds:
    """Bounds of the free-form strokes, for a 512² image (scaled linearly with the side).

    ``strokes``/``vertices``: inclusive integer ranges; ``width``: brush width in pixels;
    ``mean_angle ± angle_range``: segment angle in radians; ``length``: each segment's length is
    drawn from N(``diag/8``, ``diag/16``) and clipped to ``[0, diag/4]`` (DeepFill's code);
    ``max_fraction``: strokes are added until the next would push the hole above this share of
    the image (at least one stroke is always kept).
    """

    strokes: tuple[int, int] = (1, 4)
    vertices: tuple[int, int] = (4, 12)
    width: tuple[float, float] = (12.0, 40.0)
    mean_angle: float = 2 * math.pi / 5
    angle_range: float = 2 * math.pi / 15
    max_fraction: float = 0.6

    def __post_init__(self) -> None:
        for name in ("strokes", "vertices", "width"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise InputError(f"{name}: expected 0 < low <= high, got {(lo, hi)!r}")
        if not 0 < self.max_fraction <= 1:
            raise InputError(f"max_fraction: expected a share in (0, 1], got {self.max_fraction!r}")


@dataclass(frozen=True)
class Stroke:
    """One stroke: ``points`` (``V×2`` float ``x, y``, V = vertices + 1), its ``width`` in pixels,
    the drawn ``angles`` and ``lengths`` of its segments (before clipping to the image)."""

    points: NDArray[np.float64]
    width: float
    angles: NDArray[np.float64]
    lengths: NDArray[np.float64]


def _check_size(size: int | tuple[int, int]) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else size
    if min(h, w) < 4:
        raise InputError(f"size: expected sides >= 4, got {size!r}")
    return int(h), int(w)


def free_form_strokes(
    size: int | tuple[int, int],
    rng: np.random.Generator,
    bounds: FreeFormBounds = FreeFormBounds(),
) -> list[Stroke]:
    """Random strokes (DeepFill v2's ``brush_stroke_mask``) for an image of ``size``."""
    h, w = _check_size(size)
    scale = math.hypot(h, w) / math.hypot(512, 512)
    diag = math.hypot(h, w)
    mean_len = diag / 8
    strokes = []
    for _ in range(int(rng.integers(bounds.strokes[0], bounds.strokes[1] + 1))):
        n = int(rng.integers(bounds.vertices[0], bounds.vertices[1] + 1))
        width = float(rng.uniform(bounds.width[0], bounds.width[1])) * scale
        angles = rng.uniform(
            bounds.mean_angle - bounds.angle_range, bounds.mean_angle + bounds.angle_range, n
        )
        angles[::2] = 2 * math.pi - angles[::2]
        lengths = np.clip(rng.normal(mean_len, mean_len / 2, n), 0, 2 * mean_len)
        points = [(float(rng.integers(0, w)), float(rng.integers(0, h)))]
        for a, r in zip(angles, lengths, strict=True):
            x0, y0 = points[-1]
            points.append(
                (
                    float(np.clip(x0 + r * math.cos(a), 0, w - 1)),
                    float(np.clip(y0 + r * math.sin(a), 0, h - 1)),
                )
            )
        strokes.append(Stroke(np.array(points), width, angles, lengths))
    return strokes


def draw_strokes(size: int | tuple[int, int], strokes: Sequence[Stroke]) -> BoolMask:
    """Rasterise ``strokes``: lines of the brush width with round caps and joints."""
    h, w = _check_size(size)
    canvas = np.zeros((h, w), np.uint8)
    for s in strokes:
        thick = max(1, round(s.width))
        pts = np.rint(s.points).astype(np.int32)
        for p, q in itertools.pairwise(pts):
            cv2.line(canvas, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), 1, thick)
        for p in pts:
            cv2.circle(canvas, (int(p[0]), int(p[1])), thick // 2, 1, -1)
    return canvas > 0


def free_form_mask(
    size: int | tuple[int, int],
    rng: np.random.Generator,
    bounds: FreeFormBounds = FreeFormBounds(),
) -> BoolMask:
    """A free-form hole: :func:`free_form_strokes`, drawn, each stroke flipped left-right and/or
    up-down at random as in DeepFill's code; strokes beyond ``bounds.max_fraction`` are dropped."""
    h, w = _check_size(size)
    mask = np.zeros((h, w), bool)
    for k, stroke in enumerate(free_form_strokes((h, w), rng, bounds)):
        one = draw_strokes((h, w), [stroke])
        if rng.random() < 0.5:
            one = one[:, ::-1]
        if rng.random() < 0.5:
            one = one[::-1, :]
        grown = mask | one
        if k > 0 and grown.mean() > bounds.max_fraction:
            break
        mask = grown
    return np.ascontiguousarray(mask)


def object_mask(
    product_mask: NDArray[np.generic],
    size: int | tuple[int, int],
    rng: np.random.Generator,
    *,
    scale: tuple[float, float] = (0.2, 0.6),
) -> BoolMask:
    """A product-shaped hole: ``product_mask`` (any ``H×W``; >= 0.5 or True = product) cropped to
    its box, resized so that ``sqrt(box w·h)`` is a random share in ``scale`` of the output's
    shorter side (and fits), flipped left-right at random and put at a random position."""
    h, w = _check_size(size)
    if not 0 < scale[0] <= scale[1] <= 1:
        raise InputError(f"scale: expected 0 < low <= high <= 1, got {scale!r}")
    m = np.asarray(product_mask)
    binary = (
        m if m.dtype == bool else m.astype(np.float32) >= (127.5 if m.dtype == np.uint8 else 0.5)
    )
    ys, xs = np.nonzero(binary)
    if ys.size == 0:
        raise InputError("product_mask: empty (no product pixels to take the shape from)")
    crop = binary[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.uint8)
    ch, cw = crop.shape
    side = float(rng.uniform(*scale)) * min(h, w)
    f = min(side / math.sqrt(ch * cw), w / cw, h / ch)
    nw, nh = max(1, min(w, round(cw * f))), max(1, min(h, round(ch * f)))
    shape = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_NEAREST) > 0
    if rng.random() < 0.5:
        shape = shape[:, ::-1]
    y0 = int(rng.integers(0, h - nh + 1))
    x0 = int(rng.integers(0, w - nw + 1))
    out = np.zeros((h, w), bool)
    out[y0 : y0 + nh, x0 : x0 + nw] = shape
    return out
