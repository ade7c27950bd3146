"""Deterministic synthetic furniture catalog: products drawn by code, on white or in a room.

Every item is a pure function of ``(seed, index)``: ``SyntheticCatalog(n, seed=s)[i]`` draws its
product, view, background or room from ``np.random.default_rng([s, i])``, so a test, a demo and
a load test see the same pixels on every machine. Only numpy and OpenCV are used; nothing is
downloaded, so nothing here has a licence question.

Products are parametric 3-D models in centimetres (boxes, surfaces of revolution, rods, leaves)
seen in an oblique 3/4 view and shaded by one directional light: darker side faces, gradients
along surfaces, specular highlights on ceramic, glass and metal. An un-staged item stands on a
white or near-white studio background with a soft contact shadow; a staged item stands in a room
drawn in one-point perspective (a wall with a window or pictures, a wood, tile, carpet or concrete
floor) beside up to two other products, with cast shadows. The ground-truth mask is the main
product's visible silhouette, never its shadow.

Hard cases are deliberate and named in ``meta["hard"]``: ``white-on-white`` (a white product on a
white background), ``translucent`` (a clear-glass vase), ``holes`` (chair legs, open shelving,
foliage: the background shows through the mask), ``occluded`` and ``cropped`` (staged only).
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, overload

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.io.atomic import atomic_write_bytes, atomic_write_text

__all__ = [
    "CATEGORIES",
    "ItemSpec",
    "SyntheticCatalog",
    "SyntheticItem",
    "item_spec",
    "render_product",
    "write_catalog",
]

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

CHAIRS = "Furniture > Seating > Chairs"
ARMCHAIRS = "Furniture > Seating > Armchairs"
SOFAS = "Furniture > Seating > Sofas"
DINING_TABLES = "Furniture > Tables > Dining tables"
COFFEE_TABLES = "Furniture > Tables > Coffee tables"
SHELVES = "Furniture > Storage > Shelves"
CABINETS = "Furniture > Storage > Cabinets"
BEDS = "Furniture > Bedroom > Beds"
FLOOR_LAMPS = "Lighting > Lamps > Floor lamps"
TABLE_LAMPS = "Lighting > Lamps > Table lamps"
VASES = "Decoration > Vases"
PLANTS = "Decoration > Plants"

CATEGORIES: tuple[str, ...] = (
    CHAIRS,
    ARMCHAIRS,
    SOFAS,
    DINING_TABLES,
    COFFEE_TABLES,
    SHELVES,
    CABINETS,
    BEDS,
    FLOOR_LAMPS,
    TABLE_LAMPS,
    VASES,
    PLANTS,
)
"""The category paths the generator draws, in the paper's ``Top > Group > Type`` style."""

DEFAULT_SIZE = (320, 320)
DEFAULT_STAGED_FRACTION = 0.37


# --------------------------------------------------------------------------------- public types


@dataclass(frozen=True, eq=False)
class SyntheticItem:
    """One drawn catalog item.

    ``image``: ``H×W×3`` ``uint8`` RGB. ``mask``: ``bool`` ``H×W``, the main product's visible
    silhouette (never its shadow). ``category``: a path from :data:`CATEGORIES`. ``seed``: the
    catalog seed; ``meta["index"]`` is the index, so ``(seed, index)`` re-creates the item.
    ``meta`` also holds the product parameters, the view, the background or room and
    ``meta["hard"]``, the list of deliberate hard cases (see the module docstring).
    """

    id: str
    image: NDArray[np.uint8]
    mask: NDArray[np.bool_]
    category: str
    staged: bool
    seed: int
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemSpec:
    """What to draw: item ``index`` of the catalog with ``seed``, its ``category`` and ``staged``."""

    index: int
    seed: int
    category: str
    staged: bool

    @property
    def id(self) -> str:
        return item_id(self.seed, self.index)


def item_id(seed: int, index: int) -> str:
    """The item id used for file names: ``syn-<seed>-<index, 6 digits>``."""
    return f"syn-{seed}-{index:06d}"


# ------------------------------------------------------------------- category/staged assignment

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64's finaliser, vectorised (uint64 arrays wrap around silently)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _hash(seed: int, keys: NDArray[Any], salt: int) -> NDArray[np.uint64]:
    head = _mix(_mix(np.array([seed], np.uint64)) ^ np.array([salt], np.uint64))
    return _mix(head ^ keys.astype(np.uint64))


def _assign(
    seed: int, start: int, stop: int, n_categories: int, staged_fraction: float
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Category numbers and staged flags of items ``start..stop-1``, without any rendering.

    Each block of ``n_categories`` consecutive items holds every category once, in an order drawn
    from ``(seed, block)``; so the first ``n_categories`` items cover all categories.
    """
    k = n_categories
    idx = np.arange(start, stop, dtype=np.int64)
    first, last = start // k, max(stop - 1, start) // k
    blocks = np.arange(first, last + 1, dtype=np.int64)
    keys = _hash(seed, blocks[:, None] * k + np.arange(k)[None, :], salt=1)
    perm = np.argsort(keys, axis=1, kind="stable")
    cats = perm[idx // k - first, idx % k]
    u = (_hash(seed, idx, salt=2) >> np.uint64(11)).astype(np.float64) * (1.0 / 2.0**53)
    return cats.astype(np.intp), u < staged_fraction


def _check_categories(categories: Iterable[str] | None) -> tuple[str, ...]:
    if categories is None:
        return CATEGORIES
    if isinstance(categories, str):
        categories = [categories]
    cats = tuple(dict.fromkeys(categories))
    if not cats:
        raise InputError("categories: expected at least one category path, got an empty list")
    for c in cats:
        if c not in CATEGORIES:
            close = difflib.get_close_matches(str(c), CATEGORIES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(
                f"categories: unknown category {c!r}{hint} (available: {', '.join(CATEGORIES)})"
            )
    return cats


def _check_size(size: Any) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InputError(f"size: expected (width, height), got {size!r}") from None
    if w < 32 or h < 32 or w > 8192 or h > 8192:
        raise InputError(f"size: expected width and height in 32..8192 pixels, got {(w, h)}")
    return w, h


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def item_spec(
    index: int,
    *,
    seed: int = 0,
    staged_fraction: float = DEFAULT_STAGED_FRACTION,
    categories: Sequence[str] | None = None,
) -> ItemSpec:
    """The spec of item ``index`` of ``SyntheticCatalog(..., seed=seed, ...)``."""
    seed = _check_seed(seed)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise InputError(f"index: expected a non-negative integer, got {index!r}")
    cats = _check_categories(categories)
    c, s = _assign(seed, int(index), int(index) + 1, len(cats), staged_fraction)
    return ItemSpec(index=int(index), seed=seed, category=cats[int(c[0])], staged=bool(s[0]))


# ------------------------------------------------------------------------------------ materials

_PALETTES: dict[str, dict[str, tuple[float, float, float]]] = {
    "wood": {
        "oak": (0.76, 0.60, 0.41),
        "birch": (0.87, 0.77, 0.61),
        "pine": (0.86, 0.72, 0.50),
        "walnut": (0.43, 0.29, 0.19),
        "dark-stained": (0.27, 0.18, 0.13),
        "ash": (0.84, 0.77, 0.66),
        "teak": (0.62, 0.42, 0.25),
    },
    "paint": {
        "white": (0.95, 0.95, 0.94),
        "black": (0.13, 0.13, 0.14),
        "grey": (0.56, 0.57, 0.58),
        "anthracite": (0.25, 0.26, 0.28),
        "sage": (0.61, 0.68, 0.58),
        "navy": (0.18, 0.24, 0.37),
        "terracotta": (0.74, 0.42, 0.30),
        "mustard": (0.85, 0.65, 0.25),
        "pink": (0.90, 0.71, 0.69),
        "light-blue": (0.64, 0.76, 0.85),
        "forest": (0.20, 0.35, 0.28),
    },
    "fabric": {
        "light-grey": (0.74, 0.74, 0.73),
        "grey": (0.52, 0.53, 0.55),
        "charcoal": (0.27, 0.28, 0.30),
        "beige": (0.80, 0.73, 0.62),
        "cream": (0.92, 0.89, 0.83),
        "white": (0.95, 0.94, 0.92),
        "blue": (0.26, 0.37, 0.58),
        "green": (0.32, 0.46, 0.36),
        "mustard": (0.80, 0.60, 0.22),
        "rust": (0.66, 0.34, 0.22),
        "pink": (0.86, 0.63, 0.62),
        "teal": (0.18, 0.44, 0.47),
    },
    "metal": {
        "black": (0.13, 0.13, 0.14),
        "brass": (0.80, 0.63, 0.33),
        "chrome": (0.76, 0.77, 0.80),
        "white": (0.93, 0.93, 0.92),
        "copper": (0.72, 0.45, 0.30),
    },
    "ceramic": {
        "white": (0.95, 0.95, 0.93),
        "cream": (0.92, 0.88, 0.80),
        "terracotta": (0.72, 0.40, 0.27),
        "blue": (0.21, 0.35, 0.62),
        "green": (0.34, 0.55, 0.45),
        "black": (0.14, 0.14, 0.15),
        "pink": (0.88, 0.66, 0.64),
        "ochre": (0.80, 0.58, 0.25),
        "grey": (0.60, 0.60, 0.60),
        "sand": (0.82, 0.72, 0.58),
    },
    "glass": {
        "clear": (0.86, 0.93, 0.93),
        "smoke": (0.55, 0.55, 0.56),
        "green": (0.62, 0.80, 0.66),
        "amber": (0.86, 0.62, 0.32),
        "blue": (0.62, 0.76, 0.92),
    },
    "leaf": {
        "green": (0.22, 0.42, 0.19),
        "deep": (0.14, 0.31, 0.17),
        "fresh": (0.36, 0.56, 0.24),
        "blue-green": (0.22, 0.41, 0.33),
        "olive": (0.42, 0.48, 0.30),
    },
}
_GLOSS = {"metal": 0.55, "ceramic": 0.45, "glass": 0.9, "paint": 0.06, "wood": 0.04}


@dataclass(frozen=True, eq=False)
class _Mat:
    name: str
    kind: str
    color: F32
    gloss: float = 0.0
    alpha: float = 1.0

    @property
    def luminance(self) -> float:
        r, g, b = (float(v) for v in self.color)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    def tinted(self, factor: float) -> _Mat:
        return _Mat(
            self.name, self.kind, np.clip(self.color * factor, 0, 1), self.gloss, self.alpha
        )


def _mat(rng: np.random.Generator, kind: str, names: Sequence[str] | None = None) -> _Mat:
    palette = _PALETTES[kind]
    keys = list(names) if names else list(palette)
    name = keys[int(rng.integers(len(keys)))]
    base = np.asarray(palette[name], np.float32)
    jitter = 1.0 + rng.normal(0.0, 0.03, 3) + rng.normal(0.0, 0.03)
    color = np.clip(base * jitter.astype(np.float32), 0.0, 1.0).astype(np.float32)
    alpha = 0.2 if kind == "glass" else 1.0
    return _Mat(name, kind, color, _GLOSS.get(kind, 0.0), alpha)


def _solid(name: str, kind: str, rgb: tuple[float, float, float], gloss: float = 0.0) -> _Mat:
    return _Mat(name, kind, np.asarray(rgb, np.float32), gloss)


# ---------------------------------------------------------------------------------- the painter


@dataclass(frozen=True)
class _View:
    """Oblique projection: ``x = ox + s(X + kx Z)``, ``y = oy - s(Y + ky Z)`` (X right, Y up, Z back).

    ``kx > 0`` shows the right side faces, ``kx < 0`` the left ones; ``light`` is the side of the
    key light (``+1`` right, ``-1`` left).
    """

    kx: float
    ky: float
    light: float
    s: float = 1.0
    ox: float = 0.0
    oy: float = 0.0

    def xy(self, X: Any, Y: Any, Z: Any) -> F64:
        if isinstance(X, float | int) and isinstance(Y, float | int) and isinstance(Z, float | int):
            return np.array(
                [self.ox + self.s * (X + self.kx * Z), self.oy - self.s * (Y + self.ky * Z)]
            )
        X, Y, Z = (np.asarray(a, np.float64) for a in (X, Y, Z))
        return np.stack(
            [self.ox + self.s * (X + self.kx * Z), self.oy - self.s * (Y + self.ky * Z)], axis=-1
        )

    def placed(self, s: float, ox: float, oy: float) -> _View:
        return _View(self.kx, self.ky, self.light, s, ox, oy)

    @property
    def ellipse(self) -> float:
        """Minor/major axis ratio of a horizontal circle."""
        return float(np.clip(self.ky * 1.15, 0.12, 0.48))

    @property
    def light_vec(self) -> F64:
        v = np.array([0.62 * self.light, 0.55, 0.58])
        return v / np.linalg.norm(v)


class _Tex:
    """Per-item noise fields that materials multiply their colour with."""

    def __init__(self, rng: np.random.Generator, h: int, w: int) -> None:
        # unit-variance uniform noise: as good as Gaussian here, and three times faster to draw
        self.hi = (rng.random((h, w), dtype=np.float32) - np.float32(0.5)) * np.float32(3.4641)
        small = rng.standard_normal((h // 14 + 3, w // 14 + 3)).astype(np.float32)
        self.lo = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)

    @functools.cached_property
    def grain_h(self) -> F32:
        return cv2.blur(self.hi, (31, 1)) * 5.5 + 0.5 * self.lo

    @functools.cached_property
    def grain_v(self) -> F32:
        return cv2.blur(self.hi, (1, 31)) * 5.5 + 0.5 * self.lo

    def factor(self, kind: str, sl: tuple[slice, slice], axis: str) -> F32 | float:
        if kind == "wood":
            g = self.grain_h if axis == "h" else self.grain_v
            return 1.0 + 0.05 * g[sl]
        if kind == "fabric":
            return 1.0 + 0.014 * self.hi[sl] + 0.02 * self.lo[sl]
        if kind == "leaf":
            return 1.0 + 0.06 * self.lo[sl] + 0.02 * self.hi[sl]
        if kind == "ceramic":
            return 1.0 + 0.015 * self.hi[sl]
        return 1.0 + 0.008 * self.hi[sl]


_Shade = Callable[[F32, F32, tuple[slice, slice]], tuple[Any, Any]]


class _Canvas:
    """A transparent layer: premultiplied colour, alpha, and silhouette coverage (the mask)."""

    def __init__(self, h: int, w: int, tex: _Tex) -> None:
        self.h, self.w, self.tex = h, w, tex
        self.rgb = np.zeros((h, w, 3), np.float32)
        self.a = np.zeros((h, w), np.float32)
        self.sil = np.zeros((h, w), np.float32)
        self.box: tuple[int, int, int, int] | None = None  # union of everything drawn

    def _bbox(self, pts: F64, pad: int) -> tuple[int, int, int, int] | None:
        x0 = max(math.floor(pts[:, 0].min()) - pad, 0)
        y0 = max(math.floor(pts[:, 1].min()) - pad, 0)
        x1 = min(math.ceil(pts[:, 0].max()) + pad + 1, self.w)
        y1 = min(math.ceil(pts[:, 1].max()) + pad + 1, self.h)
        if x0 >= x1 or y0 >= y1:
            return None
        return x0, y0, x1, y1

    def fill(self, pts: Any, shade: _Shade, *, alpha: float = 1.0, sil: bool = True) -> None:
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        if len(pts) < 3 or not np.isfinite(pts).all():
            return
        bb = self._bbox(pts, 2)
        if bb is None:
            return
        x0, y0, x1, y1 = bb
        cov = np.zeros((y1 - y0, x1 - x0), np.uint8)
        p = np.round((pts - (x0, y0)) * 16.0).astype(np.int32)
        cv2.fillPoly(cov, [p], 255, cv2.LINE_AA, shift=4)
        self._composite(bb, cov, shade, alpha, sil)

    def stroke(
        self,
        pts: Any,
        shade: _Shade,
        width: float,
        *,
        alpha: float = 1.0,
        closed: bool = False,
        sil: bool = True,
    ) -> None:
        """Stroke one polyline (an ``N×2`` array) or several (a list of them) in one go."""
        lines = [
            np.asarray(q, np.float64).reshape(-1, 2)
            for q in (pts if isinstance(pts, list) else [pts])
        ]
        lines = [q for q in lines if len(q) >= 2 and np.isfinite(q).all()]
        if not lines:
            return
        bb = self._bbox(np.concatenate(lines), int(width) + 2)
        if bb is None:
            return
        x0, y0, x1, y1 = bb
        cov = np.zeros((y1 - y0, x1 - x0), np.uint8)
        p = [np.round((q - (x0, y0)) * 16.0).astype(np.int32) for q in lines]
        thick = max(1, round(width))
        cv2.polylines(cov, p, closed, 255, thick, cv2.LINE_AA, shift=4)
        if width < 1.0:
            alpha *= width
        self._composite(bb, cov, shade, alpha, sil)

    def _composite(
        self,
        bb: tuple[int, int, int, int],
        cov8: NDArray[np.uint8],
        shade: _Shade,
        alpha: float,
        sil: bool,
    ) -> None:
        x0, y0, x1, y1 = bb
        if not cov8.any():
            return
        cov = cov8.astype(np.float32) * np.float32(1.0 / 255.0)
        xx = np.arange(x0, x1, dtype=np.float32)[None, :]
        yy = np.arange(y0, y1, dtype=np.float32)[:, None]
        sl = (slice(y0, y1), slice(x0, x1))
        color, afield = shade(xx, yy, sl)
        b = self.box
        self.box = bb if b is None else (min(b[0], x0), min(b[1], y0), max(b[2], x1), max(b[3], y1))
        a = cov * np.float32(alpha) if afield is None else cov * (np.float32(alpha) * afield)
        rgb, acc = self.rgb[sl], self.a[sl]
        rgb *= (1.0 - a)[..., None]
        rgb += np.asarray(color, np.float32) * a[..., None]
        acc *= 1.0 - a
        acc += a
        if sil:
            s = self.sil[sl]
            s += cov * (1.0 - s)

    def face(
        self,
        pts: Any,
        mat: _Mat,
        factor: float,
        *,
        grad: tuple[float, float] = (0.0, 0.0),
        soft: float = 0.0,
        sil: bool = True,
    ) -> None:
        """A flat face: colour × factor × linear gradient (fractions per face width/height).

        ``soft > 0`` darkens the face towards its edges, as on a cushion.
        """
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        if len(pts) < 3:
            return
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        cx, cy = (lo + hi) / 2.0
        bw, bh = max(hi[0] - lo[0], 1.0), max(hi[1] - lo[1], 1.0)
        axis = "h" if bw > bh else "v"
        gx, gy = grad

        def shade(xx: F32, yy: F32, sl: tuple[slice, slice]) -> tuple[Any, Any]:
            f = factor * (1.0 + gx * (xx - cx) / bw + gy * (yy - cy) / bh)
            if soft:
                u = np.minimum(np.abs(xx - cx) * (2.0 / bw), 1.0)
                v = np.minimum(np.abs(yy - cy) * (2.0 / bh), 1.0)
                f = f * (1.0 - soft * (u**6 + v**6))
            f = f * self.tex.factor(mat.kind, sl, axis)
            return mat.color * np.asarray(f, np.float32)[..., None], None

        self.fill(pts, shade, alpha=mat.alpha, sil=sil)

    def flat(self, color: Any) -> _Shade:
        c = np.asarray(color, np.float32)
        return lambda xx, yy, sl: (c, None)

    def composite_over(self, background: F32) -> F32:
        """Composite this layer over ``background`` in place (only where it was drawn)."""
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            sl = (slice(y0, y1), slice(x0, x1))
            background[sl] = self.rgb[sl] + background[sl] * (1.0 - self.a[sl])[..., None]
        return background


class _Prim(Protocol):
    def points(self, v: _View) -> F64: ...

    def draw(self, c: _Canvas, v: _View) -> None: ...


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 40) -> F64:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


@dataclass(frozen=True, eq=False)
class _Box:
    """An axis-aligned box; draws its front, top and the visible side face."""

    x0: float
    x1: float
    y0: float
    y1: float
    z0: float
    z1: float
    mat: _Mat
    top: float = 1.08
    soft: float = 0.0

    def _corners(self, v: _View) -> F64:
        xs = [self.x0, self.x1, self.x0, self.x1, self.x0, self.x1, self.x0, self.x1]
        ys = [self.y0, self.y0, self.y1, self.y1, self.y0, self.y0, self.y1, self.y1]
        zs = [self.z0, self.z0, self.z0, self.z0, self.z1, self.z1, self.z1, self.z1]
        return v.xy(xs, ys, zs)

    def points(self, v: _View) -> F64:
        return self._corners(v)

    def draw(self, c: _Canvas, v: _View) -> None:
        x0, x1, y0, y1, z0, z1 = self.x0, self.x1, self.y0, self.y1, self.z0, self.z1
        front = v.xy([x0, x1, x1, x0], [y0, y0, y1, y1], [z0] * 4)
        top = v.xy([x0, x1, x1, x0], [y1] * 4, [z0, z0, z1, z1])
        xs = x1 if v.kx > 0 else x0
        side = v.xy([xs] * 4, [y0, y0, y1, y1], [z0, z1, z1, z0])
        lit = (v.kx > 0) == (v.light > 0)
        f_front, f_side = (0.84, 0.98) if lit else (0.95, 0.64)
        corners = self._corners(v)
        span = corners.max(axis=0) - corners.min(axis=0)
        if span.min() > 3.0:  # an underlay, so no background shows along the faces' shared edges
            hull = cv2.convexHull(corners.astype(np.float32))[:, 0, :]
            c.face(hull, self.mat, 0.5 * (f_front + f_side))
        sf = self.soft
        c.face(side, self.mat, f_side, grad=(0.0, -0.14), soft=sf)
        c.face(top, self.mat, self.top, grad=(0.05 * v.light, 0.0), soft=sf * 0.6)
        c.face(front, self.mat, f_front, grad=(0.07 * v.light, -0.12), soft=sf)


def _revolve_shade(
    c: _Canvas, v: _View, mat: _Mat, cx: float, cy: F64, r: F64, slope: F64
) -> _Shade:
    order = np.argsort(cy)
    cy_a, r_a, m_a = cy[order], r[order], slope[order]
    L = v.light_vec
    half = L + np.array([0.0, 0.3, 1.0])
    half = half / np.linalg.norm(half)
    glass = mat.kind == "glass"

    def shade(xx: F32, yy: F32, sl: tuple[slice, slice]) -> tuple[Any, Any]:
        rows = yy[:, 0]
        rr = np.interp(rows, cy_a, r_a).astype(np.float32)[:, None]
        mm = np.interp(rows, cy_a, m_a).astype(np.float32)[:, None]
        t = np.clip((xx - cx) / np.maximum(rr, 0.5), -1.0, 1.0)
        nz = np.sqrt(1.0 - t * t)
        inv = 1.0 / np.sqrt(1.0 + mm * mm)
        diff = np.maximum((t * L[0] + mm * L[1] + nz * L[2]) * inv, 0.0)
        tex = c.tex.factor(mat.kind, sl, "v")
        if glass:  # thin walls: see-through in the middle, darker and denser towards the rims
            edge = np.abs(t) ** 3
            col = mat.color * ((0.62 + 0.3 * diff) * (1.0 - 0.45 * edge))[..., None]
        else:
            col = mat.color * ((0.46 + 0.62 * diff) * tex)[..., None]
        afield = None
        if mat.gloss > 0:
            ndh = np.maximum((t * half[0] + mm * half[1] + nz * half[2]) * inv, 0.0)
            spec = mat.gloss * ndh**40
            col = col + spec[..., None]
            if glass:
                afield = np.clip(0.6 + 3.4 * edge + 3.0 * spec, 0.0, 1.0 / mat.alpha)
        return np.clip(col, 0.0, 1.0), afield

    return shade


@dataclass(frozen=True, eq=False)
class _Revolve:
    """A surface of revolution around a vertical axis at ``(x, z)``; ``ys`` ascending."""

    x: float
    z: float
    ys: tuple[float, ...]
    rs: tuple[float, ...]
    mat: _Mat
    top: str = "closed"  # "closed" | "open" | "none"
    inside: tuple[float, float, float] | None = None

    def _geom(self, v: _View) -> tuple[float, F64, F64, float]:
        ys, rs = np.asarray(self.ys, np.float64), np.asarray(self.rs, np.float64)
        cx = v.ox + v.s * (self.x + v.kx * self.z)
        cy = v.oy - v.s * (ys + v.ky * self.z)
        return float(cx), cy, v.s * rs, v.ellipse

    def _outline(self, v: _View, n: int = 20) -> F64:
        cx, cy, r, e = self._geom(v)
        t = np.linspace(0.0, np.pi, n)
        right = np.stack([cx + r, cy], axis=1)
        over = np.stack([cx + r[-1] * np.cos(t), cy[-1] - e * r[-1] * np.sin(t)], axis=1)
        left = np.stack([cx - r[::-1], cy[::-1]], axis=1)
        under = np.stack([cx - r[0] * np.cos(t), cy[0] + e * r[0] * np.sin(t)], axis=1)
        return np.concatenate([right, over, left, under])

    def points(self, v: _View) -> F64:
        return self._outline(v, 7)

    def draw(self, c: _Canvas, v: _View) -> None:
        cx, cy, r, e = self._geom(v)
        ys, rs = np.asarray(self.ys, np.float64), np.asarray(self.rs, np.float64)
        slope = -np.gradient(rs, ys) if len(ys) > 1 else np.zeros_like(ys)
        m = self.mat
        outline = self._outline(v)
        c.fill(outline, _revolve_shade(c, v, m, cx, cy, r, slope), alpha=m.alpha)
        rt = r[-1]
        if self.top == "open" and rt > 0.5:
            rim = m.color * 1.02
            c.fill(_ellipse(cx, cy[-1], rt, e * rt), c.flat(np.clip(rim, 0, 1)), alpha=m.alpha)
            inside = np.asarray(self.inside, np.float32) if self.inside else m.color * 0.32
            wall = max(0.6, 0.08 * rt)
            ri = rt - wall
            c.fill(
                _ellipse(cx, cy[-1], ri, e * ri),
                lambda xx, yy, sl: (
                    inside
                    * (1.0 + 0.35 * np.clip((yy - cy[-1]) / max(e * ri, 0.5), -1, 1))[..., None],
                    None,
                ),
                alpha=min(1.0, m.alpha * 2.0),
            )
        elif self.top == "closed" and rt > 0.5:
            lit = np.clip(m.color * 1.06, 0.0, 1.0)
            c.fill(
                _ellipse(cx, cy[-1], rt, e * rt),
                lambda xx, yy, sl: (
                    lit
                    * (1.0 + 0.06 * v.light * (xx - cx) / rt)[..., None]
                    * np.ones_like(yy)[..., None],
                    None,
                ),
                alpha=m.alpha,
            )
        if m.kind == "glass":
            dark = np.clip(m.color * 0.42, 0, 1)
            c.stroke(outline, c.flat(dark), 1.0, alpha=0.75, closed=True)
            if self.top == "open":
                c.stroke(
                    _ellipse(cx, cy[-1], rt, e * rt), c.flat(dark), 1.0, alpha=0.6, closed=True
                )


@dataclass(frozen=True, eq=False)
class _Rod:
    """A round rod along a 3-D polyline, ``width`` cm thick."""

    pts: tuple[tuple[float, float, float], ...]
    width: float
    mat: _Mat

    def points(self, v: _View) -> F64:
        p = np.asarray(self.pts, np.float64)
        q = v.xy(p[:, 0], p[:, 1], p[:, 2])
        w = self.width * v.s / 2.0
        return np.concatenate([q + np.array([w, w]), q - np.array([w, w])])

    def draw(self, c: _Canvas, v: _View) -> None:
        p = np.asarray(self.pts, np.float64)
        q = v.xy(p[:, 0], p[:, 1], p[:, 2])
        half = max(self.width * v.s, 1.0) / 2.0
        L = v.light_vec
        m = self.mat
        for a, b in itertools.pairwise(q):
            d = b - a
            n = float(np.hypot(*d))
            if n < 1e-6:
                continue
            u = d / n
            nrm = np.array([-u[1], u[0]])
            a2, b2 = a - u * half * 0.5, b + u * half * 0.5
            quad = np.stack([a2 + nrm * half, b2 + nrm * half, b2 - nrm * half, a2 - nrm * half])

            def shade(
                xx: F32, yy: F32, sl: tuple[slice, slice], a: F64 = a, nrm: F64 = nrm
            ) -> tuple[Any, Any]:
                t = np.clip(((xx - a[0]) * nrm[0] + (yy - a[1]) * nrm[1]) / half, -1.0, 1.0)
                nz = np.sqrt(1.0 - t * t)
                diff = np.maximum(t * nrm[0] * L[0] - t * nrm[1] * L[1] + nz * L[2], 0.0)
                col = m.color * ((0.35 + 0.75 * diff) * c.tex.factor(m.kind, sl, "v"))[..., None]
                if m.gloss > 0.2:
                    col = col + (m.gloss * diff**30)[..., None]
                return np.clip(col, 0, 1), None

            c.fill(quad, shade, alpha=m.alpha)


_LEAF_S = np.linspace(0.0, 1.0, 12)
_LEAF_SIN = np.sin(np.pi * _LEAF_S)
_LEAF_OVAL = np.sin(np.pi * _LEAF_S**0.8)
_LEAF_SWORD = np.clip((1.0 - _LEAF_S) * 2.5, 0.0, 1.0) ** 0.7 * np.clip(
    _LEAF_S * 8.0 + 0.4, 0.0, 1.0
)


@dataclass(frozen=True, eq=False)
class _Leaf:
    """A leaf in the picture plane from ``base`` to ``tip`` (3-D points), ``width`` cm wide."""

    base: tuple[float, float, float]
    tip: tuple[float, float, float]
    width: float
    bend: float
    mat: _Mat
    shape: str = "oval"  # "oval" | "sword"

    def _geom(self, v: _View) -> tuple[F64, F64, F64, float, F64]:
        b = v.xy(*self.base)
        t = v.xy(*self.tip)
        d = t - b
        n = float(np.hypot(*d))
        if n < 1e-6:
            d, n = np.array([0.0, -1e-3]), 1e-3
        u = d / n
        nrm = np.array([-u[1], u[0]])
        mid = b + _LEAF_S[:, None] * d + (self.bend * n * _LEAF_SIN)[:, None] * nrm
        hw = (_LEAF_SWORD if self.shape == "sword" else _LEAF_OVAL) * (self.width * v.s * 0.5)
        poly = np.concatenate([mid + nrm * hw[:, None], (mid - nrm * hw[:, None])[::-1]])
        return poly, b, d, n, mid

    def points(self, v: _View) -> F64:
        return self._geom(v)[0]

    def draw(self, c: _Canvas, v: _View) -> None:
        poly, b, d, n, mid = self._geom(v)
        m = self.mat
        side = 1.0 if v.light > 0 else -1.0

        def shade(xx: F32, yy: F32, sl: tuple[slice, slice]) -> tuple[Any, Any]:
            along = np.clip(((xx - b[0]) * d[0] + (yy - b[1]) * d[1]) / (n * n), 0.0, 1.0)
            cross = (xx - b[0]) * d[1] - (yy - b[1]) * d[0]
            f = (0.7 + 0.42 * along) * np.where(cross * side > 0, 1.0, 0.8)
            f = f * c.tex.factor("leaf", sl, "v")
            return np.clip(m.color * f[..., None], 0, 1), None

        c.fill(poly, shade)
        if n > 24 and self.shape == "oval":
            vein = np.clip(m.color * 1.35 + 0.05, 0, 1)
            c.stroke(mid[:-2], c.flat(vein), max(0.8, n / 90.0), alpha=0.45)


@dataclass(frozen=True, eq=False)
class _Lines:
    """Thin lines on a surface (door seams, panel grooves): 3-D polylines drawn as strokes."""

    lines: tuple[tuple[tuple[float, float, float], ...], ...]
    mat: _Mat
    factor: float = 0.55
    width: float = 0.35
    closed: bool = True
    alpha: float = 0.8

    def points(self, v: _View) -> F64:
        p = np.concatenate([np.asarray(ln, np.float64) for ln in self.lines])
        return v.xy(p[:, 0], p[:, 1], p[:, 2])

    def draw(self, c: _Canvas, v: _View) -> None:
        color = np.clip(self.mat.color * self.factor, 0, 1)
        lines = [v.xy(p[:, 0], p[:, 1], p[:, 2]) for p in map(np.asarray, self.lines)]
        c.stroke(
            lines, c.flat(color), max(0.7, self.width * v.s), alpha=self.alpha, closed=self.closed
        )


@dataclass(frozen=True, eq=False)
class _Seq:
    """Prims drawn in order when right faces show (``kx > 0``), reversed otherwise if ``flip``."""

    items: tuple[_Prim, ...]
    flip: bool = True

    def points(self, v: _View) -> F64:
        return np.concatenate([p.points(v) for p in self.items])

    def draw(self, c: _Canvas, v: _View) -> None:
        items = self.items if (v.kx > 0 or not self.flip) else self.items[::-1]
        for p in items:
            p.draw(c, v)


def _rect(
    x0: float, y0: float, x1: float, y1: float, z: float
) -> tuple[tuple[float, float, float], ...]:
    return ((x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z))


# ---------------------------------------------------------------------------------- the models


@dataclass(eq=False)
class _Model:
    """A product: prims in draw order, footprint ``X ∈ [-width/2, width/2]``, ``Z ∈ [0, depth]``."""

    category: str
    prims: list[_Prim]
    width: float
    height: float
    depth: float
    main: _Mat
    params: dict[str, Any]
    contacts: list[tuple[float, float]] = field(default_factory=list)
    small: bool = False  # stands on a table or sideboard in a room

    def points(self, v: _View) -> F64:
        return np.concatenate([p.points(v) for p in self.prims])

    def draw(self, c: _Canvas, v: _View) -> None:
        for p in self.prims:
            p.draw(c, v)

    @property
    def slender(self) -> bool:
        """Thin: a floor lamp or much taller than wide; drawn larger so its mask is not tiny."""
        if self.category == FLOOR_LAMPS:
            return True
        x0, y0, x1, y1 = _bounds(self, _View(0.3, 0.25, 1.0))
        return (y1 - y0) > 2.2 * (x1 - x0)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _pick(
    rng: np.random.Generator, options: Sequence[Any], p: Sequence[float] | None = None
) -> Any:
    if p is None:
        return options[int(rng.integers(len(options)))]
    pr = np.asarray(p, np.float64)
    return options[int(rng.choice(len(options), p=pr / pr.sum()))]


def _frame_mat(rng: np.random.Generator, *, white: float = 0.2, metal: float = 0.1) -> _Mat:
    r = rng.random()
    if r < white:
        return _mat(rng, "paint", ["white"])
    if r < white + metal:
        return _mat(rng, "metal", ["black", "chrome", "brass", "white"])
    if r < 0.55 + white * 0.5:
        return _mat(rng, "wood")
    return _mat(
        rng,
        "paint",
        [
            "black",
            "anthracite",
            "grey",
            "sage",
            "navy",
            "terracotta",
            "mustard",
            "pink",
            "light-blue",
            "forest",
        ],
    )


def _chair(rng: np.random.Generator) -> _Model:
    frame = _frame_mat(rng, white=0.25, metal=0.12)
    metal = frame.kind == "metal"
    W, D = _u(rng, 40, 50), _u(rng, 42, 52)
    Hs = _u(rng, 43, 48)
    H = Hs + _u(rng, 32, 50)
    t = _u(rng, 1.8, 2.6) if metal else _u(rng, 2.8, 4.2)
    st = _u(rng, 2.4, 4.5)
    style = _pick(rng, ["slats", "spindles", "panel", "rails", "upholstered"])
    seat = _mat(rng, "fabric") if style == "upholstered" or rng.random() < 0.15 else frame
    x0, x1 = -W / 2, W / 2
    zb = D - t
    prims: list[_Prim] = [
        _Box(x0, x0 + t, 0, H, zb, D, frame),
        _Box(x1 - t, x1, 0, H, zb, D, frame),
    ]
    lo = Hs + _u(rng, 10, 18)
    zc0, zc1 = zb + 0.15 * t, D - 0.15 * t
    if style in ("slats", "spindles"):
        rail = _u(rng, 5, 10)
        prims.append(_Box(x0 + t, x1 - t, lo - 4, lo, zc0, zc1, frame))
        n = int(rng.integers(3, 6)) if style == "slats" else int(rng.integers(5, 9))
        xs = np.linspace(x0 + t, x1 - t, n + 2)[1:-1]
        for xc in xs:
            if style == "slats":
                sw = _u(rng, 2.5, 4.0) if n > 3 else _u(rng, 4, 7)
                prims.append(_Box(xc - sw / 2, xc + sw / 2, lo, H - rail, zc0, zc1, frame))
            else:
                prims.append(_Rod(((xc, lo, zb + t / 2), (xc, H - rail, zb + t / 2)), 1.4, frame))
        prims.append(_Box(x0 + t, x1 - t, H - rail, H - 0.5, zc0 - 0.5, zc1, frame))
    elif style == "panel":
        prims.append(_Box(x0 + t, x1 - t, lo, H - 1, zc0, zc1, frame))
    elif style == "rails":
        n = int(rng.integers(2, 4))
        h = _u(rng, 4, 8)
        for yc in np.linspace(lo + h / 2, H - h / 2 - 1, n):
            prims.append(_Box(x0 + t, x1 - t, yc - h / 2, yc + h / 2, zc0, zc1, frame))
    else:
        prims.append(_Box(x0 - 0.5, x1 + 0.5, Hs + 2, H, zb - 5, D + 0.5, seat, top=1.03, soft=0.3))
    if rng.random() < 0.45:
        ys = _u(rng, 12, 20)
        prims.append(_Box(x0 + 0.2 * t, x0 + 0.8 * t, ys, ys + 2.2, t, zb, frame))
        prims.append(_Box(x1 - 0.8 * t, x1 - 0.2 * t, ys, ys + 2.2, t, zb, frame))
    prims.append(
        _Box(
            x0 - 0.5,
            x1 + 0.5,
            Hs - st,
            Hs,
            -0.8,
            zb + 0.5 * t,
            seat if style != "upholstered" else frame,
        )
    )
    if style == "upholstered":
        prims.append(_Box(x0, x1, Hs, Hs + 5, -0.5, zb - 5, seat, top=1.04, soft=0.3))
    prims.append(_Box(x0, x0 + t, 0, Hs - st, 0, t, frame))
    prims.append(_Box(x1 - t, x1, 0, Hs - st, 0, t, frame))
    contacts = [
        (x0 + t / 2, t / 2),
        (x1 - t / 2, t / 2),
        (x0 + t / 2, D - t / 2),
        (x1 - t / 2, D - t / 2),
    ]
    params = {
        "style": style,
        "material": f"{frame.kind}:{frame.name}",
        "width_cm": round(W),
        "height_cm": round(H),
    }
    return _Model(CHAIRS, prims, W, H, D, frame, params, contacts)


def _sofa(rng: np.random.Generator, *, armchair: bool = False) -> _Model:
    fabric = _mat(rng, "fabric")
    if armchair:
        W, n = _u(rng, 72, 95), 1
    else:
        W = _u(rng, 150, 230)
        n = 2 if W < 175 else int(rng.integers(2, 4))
    D, H = _u(rng, 80, 98), _u(rng, 72, 92)
    Hs = _u(rng, 40, 46)
    leg_h = _u(rng, 5, 17) if rng.random() < 0.75 else 0.0
    legmat = (
        _mat(rng, "wood", ["oak", "walnut", "dark-stained"])
        if rng.random() < 0.6
        else _mat(rng, "metal", ["black", "brass"])
    )
    aw, ah = _u(rng, 9, 22), Hs + _u(rng, 10, 24)
    back_d, cush_d = _u(rng, 14, 22), _u(rng, 12, 18)
    ch = _u(rng, 11, 16)
    x0, x1 = -W / 2, W / 2
    lt = _u(rng, 2.5, 5)
    prims: list[_Prim] = []
    if leg_h > 0:
        prims += [
            _Box(x0 + 2, x0 + 2 + lt, 0, leg_h, D - 2 - lt, D - 2, legmat),
            _Box(x1 - 2 - lt, x1 - 2, 0, leg_h, D - 2 - lt, D - 2, legmat),
        ]
    base = leg_h
    prims.append(_Box(x0, x1, base, H, D - back_d, D, fabric, soft=0.15))
    i0, i1 = x0 + aw, x1 - aw
    cw = (i1 - i0) / n
    top_back = H - _u(rng, 1, 6)
    for k in range(n):
        prims.append(
            _Box(
                i0 + k * cw + 0.5,
                i0 + (k + 1) * cw - 0.5,
                Hs - 2,
                top_back,
                D - back_d - cush_d,
                D - back_d,
                fabric,
                top=1.03,
                soft=0.35,
            )
        )
    middle: list[_Prim] = [_Box(i0, i1, base, Hs - ch, 0, D - back_d, fabric, soft=0.1)]
    for k in range(n):
        middle.append(
            _Box(
                i0 + k * cw + 0.4,
                i0 + (k + 1) * cw - 0.4,
                Hs - ch,
                Hs,
                -1.5,
                D - back_d - cush_d,
                fabric,
                top=1.06,
                soft=0.3,
            )
        )
    pillows = rng.random() < 0.55
    if pillows:
        pm = _mat(rng, "fabric")
        pw = _u(rng, 36, 46)
        z1 = D - back_d - cush_d
        middle.append(
            _Box(i0 + 2, i0 + 2 + pw, Hs, Hs + pw * 0.95, z1 - 11, z1, pm, top=1.04, soft=0.5)
        )
        if not armchair:
            middle.append(
                _Box(i1 - 2 - pw, i1 - 2, Hs, Hs + pw * 0.95, z1 - 11, z1, pm, top=1.04, soft=0.5)
            )
    arm_l = _Box(x0, i0, base, ah, -0.5, D, fabric, top=1.05, soft=0.22)
    arm_r = _Box(i1, x1, base, ah, -0.5, D, fabric, top=1.05, soft=0.22)
    prims.append(_Seq((arm_l, _Seq(tuple(middle), flip=False), arm_r)))
    if leg_h > 0:
        prims += [
            _Box(x0 + 2, x0 + 2 + lt, 0, leg_h, 2, 2 + lt, legmat),
            _Box(x1 - 2 - lt, x1 - 2, 0, leg_h, 2, 2 + lt, legmat),
        ]
        contacts = [(x0 + 4, 4), (x1 - 4, 4), (x0 + 4, D - 4), (x1 - 4, D - 4)]
    else:
        contacts = [(x, z) for x in np.linspace(x0 + 3, x1 - 3, 5) for z in (3.0, D - 3)]
    params = {
        "seats": n,
        "fabric": fabric.name,
        "legs_cm": round(leg_h),
        "pillows": pillows,
        "width_cm": round(W),
    }
    return _Model(ARMCHAIRS if armchair else SOFAS, prims, W, H, D, fabric, params, contacts)


def _table(rng: np.random.Generator, *, coffee: bool = False) -> _Model:
    top = _frame_mat(rng, white=0.2, metal=0.0)
    legs = top if rng.random() < 0.6 else _mat(rng, "metal", ["black", "brass", "chrome"])
    if coffee:
        W, D, H = _u(rng, 80, 130), _u(rng, 45, 75), _u(rng, 35, 48)
    else:
        W, D, H = _u(rng, 120, 200), _u(rng, 75, 100), _u(rng, 72, 77)
    tt = _u(rng, 2.5, 5.0)
    lt = _u(rng, 3.5, 8.0) if legs.kind != "metal" else _u(rng, 2.5, 4.5)
    prims: list[_Prim] = []
    style = _pick(rng, ["round", "legs", "trestle"], [0.25, 0.6, 0.15])
    if style == "round":
        R = _u(rng, 35, 52) if coffee else _u(rng, 45, 65)
        pedestal = rng.random() < 0.5
        if pedestal:
            rb = _u(rng, 18, 30) if not coffee else R * 0.6
            col = _u(rng, 4, 9)
            prims.append(
                _Revolve(
                    0,
                    R,
                    (0, 2.5, 5, 9, H - tt - 6, H - tt),
                    (rb, rb, col * 1.3, col, col, col * 1.4),
                    legs,
                )
            )
            contacts = [(0.0, R)]
        else:
            feet = []
            for k in range(4):
                a = math.pi / 4 + k * math.pi / 2
                feet.append((0.62 * R * math.cos(a), R + 0.62 * R * math.sin(a)))
            feet.sort(key=lambda p: -p[1])
            for fx, fz in feet:
                prims.append(
                    _Box(fx - lt / 2, fx + lt / 2, 0, H - tt, fz - lt / 2, fz + lt / 2, legs)
                )
            contacts = feet
        prims.append(_Revolve(0, R, (H - tt, H), (R, R), top))
        W = D = 2 * R
    else:
        ins = _u(rng, 0, 8)
        x0, x1 = -W / 2 + ins, W / 2 - ins
        z0, z1 = ins, D - ins
        apron = rng.random() < 0.55
        ah = _u(rng, 6, 10)
        shelf = coffee and rng.random() < 0.5
        if style == "trestle":
            prims.append(_Box(x0 + 5, x0 + 5 + lt, 0, H - tt, z0 + 3, z1 - 3, legs))
            prims.append(_Box(x1 - 5 - lt, x1 - 5, 0, H - tt, z0 + 3, z1 - 3, legs))
            prims.append(
                _Box(x0 + 5 + lt, x1 - 5 - lt, H * 0.25, H * 0.25 + 4, D / 2 - 2, D / 2 + 2, legs)
            )
            contacts = [(x0 + 7, z0 + 5), (x1 - 7, z0 + 5), (x0 + 7, z1 - 5), (x1 - 7, z1 - 5)]
        else:
            prims += [
                _Box(x0, x0 + lt, 0, H - tt, z1 - lt, z1, legs),
                _Box(x1 - lt, x1, 0, H - tt, z1 - lt, z1, legs),
            ]
            if apron:
                prims.append(
                    _Box(x0 + lt, x1 - lt, H - tt - ah, H - tt, z1 - lt + 0.5, z1 - 1, legs)
                )
                prims.append(_Box(x0 + 0.5, x0 + 2, H - tt - ah, H - tt, z0 + lt, z1 - lt, legs))
                prims.append(_Box(x1 - 2, x1 - 0.5, H - tt - ah, H - tt, z0 + lt, z1 - lt, legs))
            if shelf:
                prims.append(_Box(x0 + 0.5, x1 - 0.5, 8, 10.5, z0 + 0.5, z1 - 0.5, top))
            prims += [
                _Box(x0, x0 + lt, 0, H - tt, z0, z0 + lt, legs),
                _Box(x1 - lt, x1, 0, H - tt, z0, z0 + lt, legs),
            ]
            if apron:
                prims.append(_Box(x0 + lt, x1 - lt, H - tt - ah, H - tt, z0 + 1, z0 + 2.5, legs))
            contacts = [
                (x0 + lt / 2, z0 + lt / 2),
                (x1 - lt / 2, z0 + lt / 2),
                (x0 + lt / 2, z1 - lt / 2),
                (x1 - lt / 2, z1 - lt / 2),
            ]
        prims.append(_Box(-W / 2, W / 2, H - tt, H, 0, D, top))
    params = {
        "style": style,
        "top": f"{top.kind}:{top.name}",
        "legs": f"{legs.kind}:{legs.name}",
        "height_cm": round(H),
    }
    return _Model(COFFEE_TABLES if coffee else DINING_TABLES, prims, W, H, D, top, params, contacts)


def _shelves(rng: np.random.Generator) -> _Model:
    mat = _frame_mat(rng, white=0.35, metal=0.08)
    W, H, D = _u(rng, 60, 120), _u(rng, 100, 200), _u(rng, 28, 40)
    t = _u(rng, 1.8, 3.2)
    n = int(np.clip(round(H / _u(rng, 30, 42)), 3, 6))
    style = "posts" if (mat.kind == "metal" or rng.random() < 0.35) else "panels"
    x0, x1 = -W / 2, W / 2
    back = rng.random() < 0.3
    prims: list[_Prim] = []
    if back:
        bm = mat if rng.random() < 0.6 else _mat(rng, "paint")
        prims.append(_Box(x0 + t, x1 - t, t, H - t, D - 1.2, D, bm.tinted(0.9), top=1.0))
    kick = _u(rng, 2, 10)
    levels = np.linspace(kick, H - t, n + 1)
    if style == "panels":
        shelves = tuple(_Box(x0 + t, x1 - t, y, y + t, 0.3, D - 0.3, mat) for y in levels)
        prims.append(
            _Seq(
                (
                    _Box(x0, x0 + t, 0, H, 0, D, mat),
                    _Seq(shelves, flip=False),
                    _Box(x1 - t, x1, 0, H, 0, D, mat),
                )
            )
        )
        contacts = [(x0 + t / 2, D / 2), (x1 - t / 2, D / 2)]
    else:
        p = _u(rng, 2.5, 4.0) if mat.kind != "metal" else 1.8
        prims += [_Box(x0, x0 + p, 0, H, D - p, D, mat), _Box(x1 - p, x1, 0, H, D - p, D, mat)]
        if rng.random() < 0.5 and not back:
            prims.append(
                _Rod(
                    ((x0 + p, levels[0], D - p / 2), (x1 - p, levels[-1], D - p / 2)),
                    0.6,
                    _mat(rng, "metal", ["chrome"]),
                )
            )
            prims.append(
                _Rod(
                    ((x1 - p, levels[0], D - p / 2), (x0 + p, levels[-1], D - p / 2)),
                    0.6,
                    _mat(rng, "metal", ["chrome"]),
                )
            )
        for y in levels:
            prims.append(_Box(x0, x1, y, y + t, 0, D, mat))
        prims += [_Box(x0, x0 + p, 0, H, 0, p, mat), _Box(x1 - p, x1, 0, H, 0, p, mat)]
        contacts = [
            (x0 + p / 2, p / 2),
            (x1 - p / 2, p / 2),
            (x0 + p / 2, D - p / 2),
            (x1 - p / 2, D - p / 2),
        ]
    params = {
        "style": style,
        "shelves": n + 1,
        "back_panel": back,
        "material": f"{mat.kind}:{mat.name}",
        "height_cm": round(H),
    }
    return _Model(SHELVES, prims, W, H, D, mat, params, contacts)


def _cabinet(rng: np.random.Generator) -> _Model:
    mat = _frame_mat(rng, white=0.3, metal=0.0)
    kind = _pick(rng, ["sideboard", "tall", "drawers"])
    if kind == "sideboard":
        W, H, D = _u(rng, 110, 180), _u(rng, 60, 85), _u(rng, 40, 48)
    elif kind == "tall":
        W, H, D = _u(rng, 60, 100), _u(rng, 120, 190), _u(rng, 35, 50)
    else:
        W, H, D = _u(rng, 60, 110), _u(rng, 70, 115), _u(rng, 40, 48)
    leg_h = _u(rng, 8, 22) if rng.random() < 0.5 else 0.0
    legmat = mat if rng.random() < 0.5 else _mat(rng, "metal", ["black", "brass"])
    x0, x1 = -W / 2, W / 2
    lt = _u(rng, 2.5, 4.5)
    prims: list[_Prim] = []
    if leg_h:
        prims += [
            _Box(x0 + 2, x0 + 2 + lt, 0, leg_h, D - 2 - lt, D - 2, legmat),
            _Box(x1 - 2 - lt, x1 - 2, 0, leg_h, D - 2 - lt, D - 2, legmat),
        ]
        prims += [
            _Box(x0 + 2, x0 + 2 + lt, 0, leg_h, 2, 2 + lt, legmat),
            _Box(x1 - 2 - lt, x1 - 2, 0, leg_h, 2, 2 + lt, legmat),
        ]
        base = leg_h
        contacts = [(x0 + 4, 4), (x1 - 4, 4), (x0 + 4, D - 4), (x1 - 4, D - 4)]
    else:
        plinth = _u(rng, 3, 9)
        prims.append(_Box(x0 + 2, x1 - 2, 0, plinth, 2, D - 2, mat.tinted(0.75)))
        base = plinth
        contacts = [(x, z) for x in np.linspace(x0 + 3, x1 - 3, 4) for z in (3.0, D - 3)]
    prims.append(_Box(x0, x1, base, H, 0, D, mat))
    m = 1.2
    fx0, fx1, fy0, fy1 = x0 + m, x1 - m, base + m, H - m
    doors: list[tuple[float, float, float, float, str]] = []  # x0, y0, x1, y1, kind
    if kind == "drawers":
        rows = int(rng.integers(3, 7))
        cols = 2 if W > 85 and rng.random() < 0.6 else 1
        ys = np.linspace(fy0, fy1, rows + 1)
        xs = np.linspace(fx0, fx1, cols + 1)
        doors = [
            (xs[j], ys[i], xs[j + 1], ys[i + 1], "drawer") for i in range(rows) for j in range(cols)
        ]
    else:
        cols = int(rng.integers(2, 5)) if kind == "sideboard" else int(rng.integers(1, 3))
        ydrw = fy1 - (H - base) * _u(rng, 0.18, 0.25) if rng.random() < 0.35 else fy1
        xs = np.linspace(fx0, fx1, cols + 1)
        for j in range(cols):
            doors.append((xs[j], fy0, xs[j + 1], ydrw, "door"))
            if ydrw < fy1:
                doors.append((xs[j], ydrw, xs[j + 1], fy1, "drawer"))
    gap = 0.4
    seams = tuple(_rect(a + gap, b + gap, c - gap, d - gap, -0.05) for a, b, c, d, _ in doors)
    prims.append(_Lines(seams, mat, factor=0.5, width=0.45))
    if rng.random() < 0.35:
        inset = 4.0
        panels = tuple(
            _rect(a + inset, b + inset, c - inset, d - inset, -0.05)
            for a, b, c, d, k in doors
            if k == "door"
        )
        if panels:
            prims.append(_Lines(panels, mat, factor=0.72, width=0.5))
    hstyle = _pick(rng, ["bar", "knob", "none"], [0.5, 0.35, 0.15])
    hmat = _mat(rng, "metal", ["black", "brass", "chrome"])
    if hstyle != "none":
        for j, (a, b, c, d, k) in enumerate(doors):
            if k == "drawer":
                hx, hy = (a + c) / 2, d - min(6.0, (d - b) / 2)
                if hstyle == "bar":
                    hw = min(12.0, (c - a) * 0.4)
                    prims.append(
                        _Box(hx - hw / 2, hx + hw / 2, hy - 0.6, hy + 0.6, -2.0, -0.05, hmat)
                    )
                else:
                    prims.append(
                        _Box(hx - 1.2, hx + 1.2, hy - 1.2, hy + 1.2, -2.2, -0.05, hmat, top=1.2)
                    )
            else:
                left_hinge = (j % 2 == 0) if len(doors) > 1 else True
                hx = c - 4 if left_hinge else a + 4
                hy = (b + d) / 2 if d - b < 80 else b + 90 - base
                if hstyle == "bar":
                    prims.append(_Box(hx - 0.6, hx + 0.6, hy - 7, hy + 7, -2.0, -0.05, hmat))
                else:
                    prims.append(
                        _Box(hx - 1.2, hx + 1.2, hy - 1.2, hy + 1.2, -2.2, -0.05, hmat, top=1.2)
                    )
    params = {
        "kind": kind,
        "material": f"{mat.kind}:{mat.name}",
        "legs_cm": round(leg_h),
        "handles": hstyle,
        "width_cm": round(W),
    }
    return _Model(CABINETS, prims, W, H, D, mat, params, contacts)


def _bed(rng: np.random.Generator) -> _Model:
    frame = _frame_mat(rng, white=0.2, metal=0.0) if rng.random() < 0.7 else _mat(rng, "fabric")
    W = _u(rng, 140, 180) if rng.random() < 0.75 else _u(rng, 90, 105)
    L = _u(rng, 200, 215)
    leg_h, fh = _u(rng, 4, 18), _u(rng, 26, 40)
    hb_h, hb_t = _u(rng, 85, 130), _u(rng, 5, 10)
    x0, x1 = -W / 2, W / 2
    lt = _u(rng, 4, 7)
    mt = fh + _u(rng, 16, 24)
    linen = _mat(
        rng,
        "fabric",
        [
            "white",
            "cream",
            "light-grey",
            "beige",
            "grey",
            "blue",
            "green",
            "pink",
            "mustard",
            "rust",
        ],
    )
    pill = (
        _mat(rng, "fabric", ["white", "cream", "light-grey"])
        if rng.random() < 0.6
        else _mat(rng, "fabric")
    )
    prims: list[_Prim] = [
        _Box(x0, x0 + lt, 0, leg_h, L - hb_t - lt, L - hb_t, frame),
        _Box(x1 - lt, x1, 0, leg_h, L - hb_t - lt, L - hb_t, frame),
    ]
    hb_style = _pick(rng, ["panel", "slats", "channels"]) if frame.kind != "fabric" else "channels"
    if hb_style == "slats":
        prims += [
            _Box(x0, x0 + 5, 0, hb_h, L - hb_t, L, frame),
            _Box(x1 - 5, x1, 0, hb_h, L - hb_t, L, frame),
        ]
        n = int(W // 14)
        xs = np.linspace(x0 + 5, x1 - 5, n + 1)
        for a, b in itertools.pairwise(xs):
            prims.append(
                _Box(a + 1.5, b - 1.5, fh, hb_h - 6, L - hb_t * 0.7, L - hb_t * 0.3, frame)
            )
        prims.append(_Box(x0 + 5, x1 - 5, hb_h - 6, hb_h, L - hb_t, L, frame))
    else:
        prims.append(
            _Box(
                x0,
                x1,
                0,
                hb_h,
                L - hb_t,
                L,
                frame,
                top=1.04,
                soft=0.2 if frame.kind == "fabric" else 0.0,
            )
        )
        if hb_style == "channels":
            n = int(W // 22)
            xs = np.linspace(x0, x1, n + 1)[1:-1]
            prims.append(
                _Lines(
                    tuple(((x, fh, L - hb_t - 0.05), (x, hb_h - 3, L - hb_t - 0.05)) for x in xs),
                    frame,
                    0.6,
                    0.6,
                    closed=False,
                )
            )
    prims.append(_Box(x0, x1, leg_h, fh, 0, L - hb_t, frame))
    prims.append(
        _Box(
            x0 + 1,
            x1 - 1,
            fh,
            mt,
            1,
            L - hb_t - 1,
            _mat(rng, "fabric", ["white", "cream"]),
            top=1.04,
            soft=0.15,
        )
    )
    npil = 2 if W > 120 else 1
    pw = (W - 8) / npil
    for k in range(npil):
        a = x0 + 4 + k * pw
        prims.append(
            _Box(
                a + 1,
                a + pw - 1,
                mt,
                mt + _u(rng, 11, 16),
                L - hb_t - 42,
                L - hb_t - 3,
                pill,
                top=1.05,
                soft=0.45,
            )
        )
    dl = L * _u(rng, 0.58, 0.72)
    prims.append(
        _Box(x0 - 1.5, x1 + 1.5, fh + 3, mt + _u(rng, 4, 8), -2, dl, linen, top=1.05, soft=0.25)
    )
    if rng.random() < 0.5:
        throw = _mat(rng, "fabric")
        prims.append(
            _Box(x0 - 2.5, x1 + 2.5, fh + 1, mt + 9, -3, _u(rng, 28, 45), throw, top=1.05, soft=0.2)
        )
    prims += [_Box(x0, x0 + lt, 0, leg_h, 0, lt, frame), _Box(x1 - lt, x1, 0, leg_h, 0, lt, frame)]
    params = {
        "width_cm": round(W),
        "headboard": hb_style,
        "frame": f"{frame.kind}:{frame.name}",
        "linen": linen.name,
    }
    contacts = [
        (x0 + lt / 2, lt / 2),
        (x1 - lt / 2, lt / 2),
        (x0 + lt / 2, L - hb_t),
        (x1 - lt / 2, L - hb_t),
    ]
    return _Model(BEDS, prims, W, hb_h, L, frame, params, contacts)


_GLOW = (1.0, 0.93, 0.74)


def _shade_mat(rng: np.random.Generator) -> tuple[_Mat, tuple[float, float, float] | None]:
    if rng.random() < 0.7:
        m = _mat(
            rng,
            "fabric",
            ["white", "cream", "beige", "light-grey", "grey", "charcoal", "mustard", "green"],
        )
        return m, _GLOW
    return _mat(rng, "metal", ["black", "brass", "white", "copper"]), None


def _floor_lamp(rng: np.random.Generator) -> _Model:
    metal = _mat(rng, "metal")
    shade, glow = _shade_mat(rng)
    H = _u(rng, 140, 180)
    style = _pick(rng, ["pole", "tripod", "arc"], [0.45, 0.35, 0.2])
    prims: list[_Prim] = []
    if style == "arc":
        A = _u(rng, 45, 70)
        Rb = _u(rng, 14, 18)
        zc = Rb
        prims.append(
            _Revolve(
                -A,
                zc,
                (0, 3, 4),
                (Rb, Rb, Rb * 0.9),
                _mat(rng, "ceramic", ["white", "black", "grey"]),
            )
        )
        ang = np.linspace(math.pi, 0.12, 14)
        cx, cy = 0.0, H - A * 0.8
        pts = [(-A, 4.0, zc)] + [
            (cx + A * math.cos(a), cy + A * 0.8 * math.sin(a), zc) for a in ang
        ]
        prims.append(_Rod(tuple(pts), 2.4, metal))
        ex, ey = pts[-1][0], pts[-1][1]
        Rd = _u(rng, 16, 24)
        hd = _u(rng, 14, 20)
        ys = tuple(ey - hd + hd * f for f in (0, 0.25, 0.5, 0.75, 1.0))
        rs = tuple(Rd * r for r in (1.0, 0.97, 0.85, 0.6, 0.18))
        dome = shade if shade.kind == "metal" else _mat(rng, "metal", ["black", "brass", "white"])
        prims.append(_Revolve(ex, zc, ys, rs, dome))
        W, D = 2 * A + 2 * Rd, 2 * Rb
        contacts = [(-A, zc)]
        main = dome
    else:
        sh = _u(rng, 24, 36)
        rb_s = _u(rng, 17, 25)
        rt_s = rb_s * _u(rng, 0.6, 1.0)
        if shade.kind == "metal":
            rt_s = rb_s * _u(rng, 0.25, 0.45)
        zc = 25.0
        if style == "tripod":
            wood = _mat(rng, "wood") if rng.random() < 0.7 else metal
            Rf = _u(rng, 26, 36)
            apex = H - sh * 0.9
            a0 = _u(rng, 0, 2 * math.pi)
            feet = sorted(
                (
                    (Rf * math.cos(a0 + k * 2.094), 0.0, zc + Rf * math.sin(a0 + k * 2.094))
                    for k in range(3)
                ),
                key=lambda p: -p[2],
            )
            for f in feet:
                prims.append(_Rod((f, (0.0, apex, zc)), _u(rng, 2.5, 3.5), wood))
            contacts = [(f[0], f[2]) for f in feet]
            W, D = 2 * max(Rf, rb_s), 2 * zc
        else:
            Rb = _u(rng, 12, 17)
            prims.append(_Revolve(0, zc, (0, 2.5), (Rb, Rb * 0.96), metal))
            prims.append(_Rod(((0.0, 2.0, zc), (0.0, H - sh * 0.5, zc)), _u(rng, 1.6, 2.6), metal))
            contacts = [(0.0, zc)]
            W, D = 2 * max(Rb, rb_s), 2 * zc
        prims.append(_Revolve(0, zc, (H - sh, H), (rb_s, rt_s), shade, top="open", inside=glow))
        main = shade
    params = {"style": style, "shade": f"{shade.kind}:{shade.name}", "height_cm": round(H)}
    return _Model(FLOOR_LAMPS, prims, W, H, D, main, params, contacts)


def _smooth_profile(
    rng: np.random.Generator, ctrl: Sequence[tuple[float, float]], n: int = 26
) -> tuple[F64, F64]:
    c = np.asarray(ctrl, np.float64)
    c[1:-1, 1] *= 1.0 + rng.normal(0, 0.05, len(c) - 2)
    ys = np.linspace(0.0, 1.0, n)
    rs = np.interp(ys, c[:, 0], c[:, 1])
    for _ in range(3):
        rs[1:-1] = 0.25 * rs[:-2] + 0.5 * rs[1:-1] + 0.25 * rs[2:]
    return ys, rs


_VASE_PROFILES: dict[str, list[tuple[float, float]]] = {
    "cylinder": [(0, 0.88), (0.04, 1.0), (0.96, 0.95), (1, 0.97)],
    "bottle": [
        (0, 0.72),
        (0.1, 0.96),
        (0.42, 1.0),
        (0.62, 0.42),
        (0.74, 0.24),
        (0.95, 0.23),
        (1, 0.3),
    ],
    "amphora": [(0, 0.45), (0.14, 0.7), (0.5, 1.0), (0.78, 0.6), (0.9, 0.42), (1, 0.55)],
    "bulb": [(0, 0.55), (0.2, 0.95), (0.45, 1.0), (0.75, 0.7), (0.9, 0.45), (1, 0.5)],
    "bowl": [(0, 0.5), (0.3, 0.85), (0.7, 1.0), (1, 0.96)],
    "trumpet": [(0, 0.62), (0.08, 0.5), (0.55, 0.55), (1, 1.0)],
}


def _vase(rng: np.random.Generator) -> _Model:
    shape = _pick(rng, list(_VASE_PROFILES))
    glass = rng.random() < 0.25
    mat = _mat(rng, "glass") if glass else _mat(rng, "ceramic")
    Hv = _u(rng, 10, 18) if shape == "bowl" else _u(rng, 18, 45)
    R = Hv * (_u(rng, 0.55, 0.9) if shape == "bowl" else _u(rng, 0.18, 0.34))
    ys, rs = _smooth_profile(rng, _VASE_PROFILES[shape])
    prims: list[_Prim] = [_Revolve(0, R, tuple(ys * Hv), tuple(rs * R), mat, top="open")]
    params = {"shape": shape, "material": f"{mat.kind}:{mat.name}", "height_cm": round(Hv)}
    return _Model(VASES, prims, 2 * R, Hv, 2 * R, mat, params, [(0.0, R)], small=True)


def _table_lamp(rng: np.random.Generator) -> _Model:
    shade, glow = _shade_mat(rng)
    body_kind = _pick(rng, ["ceramic", "stick", "wood"])
    H = _u(rng, 35, 65)
    sh = H * _u(rng, 0.32, 0.45)
    rb_s = _u(rng, 11, 20)
    rt_s = rb_s * (_u(rng, 0.25, 0.45) if shade.kind == "metal" else _u(rng, 0.6, 1.0))
    zc = max(rb_s, 12.0)
    body_h = H - sh * 0.85
    prims: list[_Prim] = []
    if body_kind == "ceramic":
        body = _mat(rng, "ceramic")
        Rb = _u(rng, 7, 12)
        ys, rs = _smooth_profile(rng, _VASE_PROFILES[_pick(rng, ["bulb", "amphora", "cylinder"])])
        bh = body_h * _u(rng, 0.55, 0.8)
        prims.append(_Revolve(0, zc, tuple(ys * bh), tuple(rs * Rb), body))
        prims.append(
            _Rod(
                ((0.0, bh - 1, zc), (0.0, body_h + sh * 0.3, zc)),
                1.2,
                _mat(rng, "metal", ["brass", "chrome", "black"]),
            )
        )
        main = body
    else:
        body = _mat(rng, "metal") if body_kind == "stick" else _mat(rng, "wood")
        Rb = _u(rng, 7, 11)
        prims.append(_Revolve(0, zc, (0, 2, 2.5), (Rb, Rb, Rb * 0.9), body))
        prims.append(
            _Rod(
                ((0.0, 2.0, zc), (0.0, body_h + sh * 0.3, zc)),
                _u(rng, 1.5, 3.0) if body_kind == "stick" else _u(rng, 3, 5),
                body,
            )
        )
        main = shade
    prims.append(
        _Revolve(0, zc, (body_h, body_h + sh), (rb_s, rt_s), shade, top="open", inside=glow)
    )
    params = {
        "body": f"{body.kind}:{body.name}",
        "shade": f"{shade.kind}:{shade.name}",
        "height_cm": round(body_h + sh),
    }
    return _Model(
        TABLE_LAMPS,
        prims,
        2 * max(rb_s, Rb),
        body_h + sh,
        2 * zc,
        main,
        params,
        [(0.0, zc)],
        small=True,
    )


def _plant(rng: np.random.Generator) -> _Model:
    pot = _mat(
        rng, "ceramic", ["white", "terracotta", "grey", "black", "sand", "cream", "green", "pink"]
    )
    Hp, Rp = _u(rng, 14, 32), _u(rng, 10, 20)
    kind = _pick(rng, ["fan", "sword", "bush", "tree"])
    profile = _pick(
        rng,
        [
            [(0, 0.78), (1, 1.0)],
            [(0, 0.9), (0.85, 1.0), (1, 1.0)],
            [(0, 0.6), (0.5, 0.95), (1, 1.0)],
        ],
    )
    ys, rs = _smooth_profile(rng, profile, 12)
    soil = (0.23, 0.16, 0.11)
    pot_prim = _Revolve(0, Rp, tuple(ys * Hp), tuple(rs * Rp), pot, top="open", inside=soil)
    base_green = _mat(rng, "leaf")
    stem = _solid("stem", "wood", (0.35, 0.3, 0.18))
    leaves: list[tuple[float, _Prim]] = []

    def green() -> _Mat:
        return base_green.tinted(_u(rng, 0.8, 1.2))

    top = Hp
    if kind == "fan":
        n = int(rng.integers(12, 26))
        Hf = _u(rng, 30, 80)
        for _ in range(n):
            bx, bz = _u(rng, -0.4, 0.4) * Rp, Rp + _u(rng, -0.5, 0.5) * Rp
            by = top + _u(rng, 0.05, 0.85) * Hf
            ang = _u(rng, -1.3, 1.3)
            ln = _u(rng, 12, 26)
            tip = (bx + ln * math.sin(ang), by + ln * math.cos(ang) * 0.8, bz)
            leaves.append((bz, _Rod(((0.0, top - 1, Rp), (bx, by, bz)), 0.7, stem)))
            leaves.append(
                (
                    bz - 0.01,
                    _Leaf((bx, by, bz), tip, ln * _u(rng, 0.4, 0.6), _u(rng, -0.12, 0.12), green()),
                )
            )
    elif kind == "sword":
        n = int(rng.integers(6, 14))
        for _ in range(n):
            bx, bz = _u(rng, -0.55, 0.55) * Rp, Rp + _u(rng, -0.6, 0.6) * Rp
            ln = _u(rng, 30, 80)
            ang = _u(rng, -0.3, 0.3)
            tip = (bx + ln * math.sin(ang), top + ln * math.cos(ang), bz)
            leaves.append(
                (
                    bz,
                    _Leaf(
                        (bx, top - 2, bz),
                        tip,
                        _u(rng, 3, 6.5),
                        _u(rng, -0.05, 0.05),
                        green(),
                        "sword",
                    ),
                )
            )
    else:
        if kind == "tree":
            Ht = _u(rng, 60, 120)
            Rc = _u(rng, 22, 40)
            cy = top + Ht
            trunk = _solid("bark", "wood", (0.42, 0.34, 0.25))
            leaves.append(
                (
                    Rp + 0.5,
                    _Rod(((0.0, top - 2, Rp), (_u(rng, -4, 4), cy, Rp)), _u(rng, 2, 3.5), trunk),
                )
            )
        else:
            Rc = _u(rng, 1.1, 1.8) * Rp
            cy = top + Rc * 0.85
        n = int(rng.integers(70, 130))
        for _ in range(n):
            th, ph = _u(rng, 0, 2 * math.pi), math.acos(_u(rng, -1, 1))
            rr = Rc * _u(rng, 0.5, 1.0)
            bx, by = rr * math.sin(ph) * math.cos(th), cy + rr * math.cos(ph) * 0.9
            bz = Rp + rr * math.sin(ph) * math.sin(th)
            ln = _u(rng, 5, 10) * (Rc / 30.0) ** 0.3
            ang = math.atan2(bx, by - cy + 1e-6) + _u(rng, -0.7, 0.7)
            tip = (bx + ln * math.sin(ang), by + ln * math.cos(ang), bz)
            leaves.append((bz, _Leaf((bx, by, bz), tip, ln * 0.45, _u(rng, -0.15, 0.15), green())))
    leaves.sort(key=lambda p: -p[0])
    back = [p for z, p in leaves if z >= Rp]
    front = [p for z, p in leaves if z < Rp]
    prims = [*back, pot_prim, *front]
    params = {"foliage": kind, "pot": pot.name, "leaves": len(leaves)}
    return _Model(
        PLANTS,
        prims,
        2 * Rp,
        Hp,
        2 * Rp,
        base_green,
        params,
        [(0.0, Rp)],
        small=kind in ("bush", "fan") and Hp < 20,
    )


_MODELS: dict[str, Callable[[np.random.Generator], _Model]] = {
    CHAIRS: _chair,
    ARMCHAIRS: lambda rng: _sofa(rng, armchair=True),
    SOFAS: _sofa,
    DINING_TABLES: _table,
    COFFEE_TABLES: lambda rng: _table(rng, coffee=True),
    SHELVES: _shelves,
    CABINETS: _cabinet,
    BEDS: _bed,
    FLOOR_LAMPS: _floor_lamp,
    TABLE_LAMPS: _table_lamp,
    VASES: _vase,
    PLANTS: _plant,
}
_FLOOR_STANDING = (
    CHAIRS,
    ARMCHAIRS,
    SOFAS,
    DINING_TABLES,
    COFFEE_TABLES,
    SHELVES,
    CABINETS,
    FLOOR_LAMPS,
    PLANTS,
)


# ---------------------------------------------------------------------------- un-staged (studio)


def _random_view(rng: np.random.Generator) -> _View:
    kx = _u(rng, 0.26, 0.5) * _pick(rng, [-1.0, 1.0])
    return _View(kx, _u(rng, 0.16, 0.32), _pick(rng, [-1.0, 1.0]))


def _bounds(model: _Model, v: _View) -> tuple[float, float, float, float]:
    pts = model.points(v)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def _fit(
    model: _Model, view: _View, W: int, H: int, frac: float, rng: np.random.Generator
) -> _View:
    x0, y0, x1, y1 = _bounds(model, view)
    bw, bh = max(x1 - x0, 1e-3), max(y1 - y0, 1e-3)
    s = frac * min(W / bw, H / bh)
    hw, hh = s * bw / 2, s * bh / 2
    cx = float(np.clip(W / 2 + _u(rng, -0.04, 0.04) * W, hw + 2, W - hw - 2))
    cy = float(np.clip(H / 2 + _u(rng, -0.02, 0.04) * H, hh + 2, H - hh - 2))
    return view.placed(s, cx - s * (x0 + x1) / 2, cy - s * (y0 + y1) / 2)


def _studio_background(rng: np.random.Generator, W: int, H: int) -> tuple[F32, str]:
    r = rng.random()
    if r < 0.55:
        return np.ones((H, W, 3), np.float32), "white"
    if r < 0.8:
        v = _u(rng, 245, 254.5) / 255.0
        tint = (1.0 + rng.normal(0, 0.004, 3)).astype(np.float32)
        return np.clip(np.full((H, W, 3), v, np.float32) * tint, 0, 1), "near-white"
    top, bottom = _u(rng, 0.88, 0.94), _u(rng, 0.96, 1.0)
    y = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, W, dtype=np.float32)[None, :]
    g = top + (bottom - top) * (3 * y**2 - 2 * y**3) + 0.03 * (1.0 - x * x)
    return np.repeat(np.clip(g, 0, 1)[..., None], 3, axis=2).astype(np.float32), "studio-gradient"


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
    blobs = cv2.GaussianBlur(blobs, (0, 0), sigma_b)
    return (slice(y0, y1), slice(x0, x1)), np.clip(soft + blobs, 0.0, 1.0)


def _render_unstaged(
    rng: np.random.Generator, category: str, W: int, H: int
) -> tuple[F32, NDArray[np.bool_], _Model, dict[str, Any]]:
    model = _MODELS[category](rng)
    frac = _u(rng, 0.8, 0.9) if model.slender else _u(rng, 0.62, 0.86)
    v = _fit(model, _random_view(rng), W, H, frac, rng)
    bg, bg_kind = _studio_background(rng, W, H)
    strength = _u(rng, 0.08, 0.3)
    _darken(bg, _contact_shadow(model, v, W, H), strength)
    c = _Canvas(H, W, _Tex(rng, H, W))
    model.draw(c, v)
    image = c.composite_over(bg)
    meta = {"background": bg_kind, "shadow": round(strength, 3), "view": _view_meta(v)}
    return image, c.sil >= 0.5, model, meta


def _view_meta(v: _View) -> dict[str, float]:
    return {
        "kx": round(v.kx, 3),
        "ky": round(v.ky, 3),
        "light": v.light,
        "px_per_cm": round(v.s, 3),
    }


# --------------------------------------------------------------------------------- staged rooms

_WALLS: dict[str, tuple[float, float, float]] = {
    "white": (0.93, 0.92, 0.90),
    "warm-white": (0.94, 0.90, 0.84),
    "beige": (0.86, 0.80, 0.70),
    "greige": (0.76, 0.73, 0.68),
    "sage": (0.68, 0.75, 0.66),
    "dusty-blue": (0.60, 0.69, 0.78),
    "terracotta": (0.78, 0.54, 0.44),
    "blush": (0.90, 0.77, 0.74),
    "forest": (0.23, 0.34, 0.29),
    "navy": (0.19, 0.25, 0.36),
    "grey": (0.68, 0.68, 0.68),
    "ochre": (0.88, 0.74, 0.46),
}
_FLOOR_WOODS = {
    "oak": (0.70, 0.53, 0.35),
    "walnut": (0.42, 0.29, 0.19),
    "ash": (0.80, 0.72, 0.60),
    "grey-wash": (0.62, 0.59, 0.55),
    "white-wash": (0.86, 0.82, 0.76),
    "honey": (0.76, 0.56, 0.30),
}


@dataclass(frozen=True)
class _Camera:
    """One-point perspective: horizon ``vy``, vanishing point ``vx``, focal ``f`` px, eye ``hc`` cm."""

    vx: float
    vy: float
    f: float
    hc: float
    y_floor: float  # image row of the wall/floor line

    def scale_at(self, y: float) -> float:
        """Pixels per cm of an object whose front stands on the floor at image row ``y``."""
        return (y - self.vy) / self.hc

    @property
    def wall_scale(self) -> float:
        return (self.y_floor - self.vy) / self.hc

    @property
    def wall_z(self) -> float:
        return self.f * self.hc / (self.y_floor - self.vy)

    def view(
        self, model: _Model, x_c: float, y_b: float, light: float, s: float | None = None
    ) -> _View:
        """The oblique view that stands ``model`` with its footprint centre at column ``x_c``."""
        s = self.scale_at(y_b) if s is None else s
        zf = self.f / s
        kx = (self.vx - x_c) / (s * (zf + model.depth / 2))
        kx = math.copysign(float(np.clip(abs(kx), 0.12, 0.6)), kx if kx != 0 else 1.0)
        ky = float(np.clip(self.hc / (zf + model.depth / 2), 0.12, 0.42))
        return _View(kx, ky, light, s, x_c - s * kx * model.depth / 2, y_b)


def _floor_texture(
    rng: np.random.Generator,
    cam: _Camera,
    W: int,
    H: int,
    tex: _Tex,
    light: float,
    rug: tuple[float, float, float, float] | None,
) -> tuple[F32, str]:
    y0 = int(np.clip(math.floor(cam.y_floor), 0, H))
    if y0 >= H - 1:
        return np.zeros((H - y0, W, 3), np.float32) + 0.5, "hidden"
    ys = np.arange(y0, H, dtype=np.float32) + 0.5
    xs = np.arange(W, dtype=np.float32) + 0.5
    dy = np.maximum(ys - cam.vy, 0.5)[:, None]
    X = (xs[None, :] - cam.vx) * cam.hc / dy
    Z = cam.f * cam.hc / dy
    px_x = dy / cam.hc  # pixels per cm across
    px_z = dy * dy / (cam.f * cam.hc)  # pixels per cm in depth
    hi, lo = tex.hi[y0:H], tex.lo[y0:H]
    kind = _pick(rng, ["wood", "tiles", "carpet", "concrete"], [0.45, 0.2, 0.2, 0.15])
    table = rng.random(4096).astype(np.float32)

    def cell(a: NDArray[Any], b: NDArray[Any]) -> F32:
        return table[(a.astype(np.int64) * 7919 + b.astype(np.int64) * 104729) & 4095]

    def lines(frac: NDArray[Any], size_px: NDArray[Any]) -> F32:
        d = np.minimum(frac, 1.0 - frac) * size_px
        fade = np.clip(size_px / 6.0, 0.0, 1.0)
        return np.exp(-((d / 0.7) ** 2)) * fade

    if kind == "wood":
        base = np.asarray(_pick(rng, list(_FLOOR_WOODS.values())), np.float32)
        bw, bl = _u(rng, 12, 22), _u(rng, 90, 200)
        board = np.floor(X / bw)
        fx = X / bw - board
        zz = Z / bl + cell(board, board * 0 + 3)
        seg = np.floor(zz)
        var = 0.9 + 0.16 * cell(board, seg)
        grain = 1.0 + 0.05 * np.sin(
            2 * np.pi * (fx * _u(rng, 3, 6) + 0.4 * np.sin(Z / 23.0 + board))
        )
        f = (
            var
            * grain
            * (1.0 + 0.03 * hi)
            * (1.0 - 0.3 * lines(fx, bw * px_x))
            * (1.0 - 0.25 * lines(zz - seg, bl * px_z))
        )
        floor = base * f[..., None]
    elif kind == "tiles":
        T = _u(rng, 30, 60)
        tiles = [(0.92, 0.91, 0.88), (0.78, 0.77, 0.75), (0.55, 0.55, 0.55), (0.74, 0.50, 0.38)]
        a = _pick(rng, tiles)
        b = None  # the second colour of a checkerboard
        if rng.random() < 0.3:
            b = (0.18, 0.18, 0.2) if a[0] > 0.6 else (0.92, 0.91, 0.88)
        ti, tj = np.floor(X / T), np.floor(Z / T)
        col = np.asarray(a, np.float32) * np.ones_like(X)[..., None]
        if b is not None:  # fade the checker to its mean where tiles shrink to a few pixels
            odd = ((ti + tj) % 2 == 1)[..., None]
            col = np.where(odd, np.asarray(b, np.float32), col)
            sharp = np.clip((np.minimum(T * px_z, T * px_x) - 3.0) / 8.0, 0.0, 1.0)[..., None]
            mean = 0.5 * (np.asarray(a, np.float32) + np.asarray(b, np.float32))
            col = mean + (col - mean) * sharp
        var = 0.95 + 0.08 * cell(ti, tj) + 0.012 * lo
        grout = np.maximum(lines(X / T - ti, T * px_x), lines(Z / T - tj, T * px_z))
        floor = col * var[..., None] * (1.0 - 0.3 * grout)[..., None]
    elif kind == "carpet":
        base = np.asarray(
            _pick(
                rng,
                [
                    (0.62, 0.60, 0.56),
                    (0.45, 0.46, 0.48),
                    (0.74, 0.68, 0.58),
                    (0.40, 0.47, 0.52),
                    (0.52, 0.40, 0.36),
                ],
            ),
            np.float32,
        )
        floor = base * (1.0 + 0.05 * hi + 0.015 * lo)[..., None]
    else:
        g = _u(rng, 0.55, 0.75)
        base = np.asarray((g, g * 0.99, g * 0.97), np.float32)
        blot = cv2.GaussianBlur(hi, (0, 0), 6) * 3.0
        floor = base * (1.0 + 0.025 * lo + 0.02 * blot + 0.012 * hi)[..., None]
    if rug is not None:
        rx0, rx1, rz0, rz1 = rug
        inside = (rx0 < X) & (rx1 > X) & (rz0 < Z) & (rz1 > Z)
        rc = np.asarray(
            _pick(
                rng,
                [
                    (0.85, 0.82, 0.76),
                    (0.55, 0.35, 0.30),
                    (0.30, 0.36, 0.48),
                    (0.66, 0.66, 0.62),
                    (0.78, 0.66, 0.48),
                ],
            ),
            np.float32,
        )
        bc = np.clip(rc * _u(rng, 0.55, 0.8), 0, 1)
        border = np.minimum(np.minimum(X - rx0, rx1 - X), np.minimum(Z - rz0, rz1 - Z))
        rug_col = np.where((border < 12)[..., None], bc, rc) * (1.0 + 0.08 * hi)[..., None]
        floor = np.where(inside[..., None], rug_col, floor)
    # light from the key side, darker near the wall and at the far corners
    side = 1.0 + 0.1 * light * (xs[None, :] / W - 0.5) * 2.0
    ao = 1.0 - 0.18 * np.exp(-(ys[:, None] - cam.y_floor) / max(2.0, 0.03 * H))
    return (floor * (side * ao)[..., None]).astype(np.float32), kind


def _wall(
    rng: np.random.Generator, cam: _Camera, W: int, H: int, tex: _Tex, light: float
) -> tuple[F32, dict[str, Any]]:
    yf = int(np.clip(math.ceil(cam.y_floor), 0, H))
    name = _pick(rng, list(_WALLS))
    base = np.asarray(_WALLS[name], np.float32) * (1.0 + rng.normal(0, 0.02, 3)).astype(np.float32)
    xs = np.arange(W, dtype=np.float32)[None, :] / W
    ys = np.arange(yf, dtype=np.float32)[:, None] / max(H, 1)
    f = 1.0 + 0.1 * light * (xs - 0.5) * 2.0 - 0.08 * (1.0 - ys / max(cam.y_floor / H, 1e-3)) ** 2
    f = f + 0.012 * tex.lo[:yf] + 0.006 * tex.hi[:yf]
    wall = base * f[..., None]
    sw = cam.wall_scale
    finish = _pick(rng, ["plain", "plain", "stripes", "wainscot"])
    if finish == "stripes" and yf > 0:
        period = _u(rng, 8, 20) * sw
        xw = np.arange(W, dtype=np.float32)[None, :] - cam.vx
        stripe = (
            (np.floor(xw / max(period, 1.0)) % 2 == 0)[:, :, None]
            if period > 1.5
            else np.zeros((1, W, 1), bool)
        )
        wall = np.where(stripe, wall * 0.93, wall)
    if finish == "wainscot" and yf > 0:
        top = cam.y_floor - _u(rng, 80, 100) * sw
        rows = np.arange(yf)[:, None, None] >= top
        panel = np.clip(base * _u(rng, 0.75, 1.1) + 0.05, 0, 1) * np.ones_like(wall)
        groove = np.arange(W) - cam.vx
        period = max(_u(rng, 10, 16) * sw, 2.0)
        gmask = ((groove % period) < 1.0)[None, :, None]
        panel = np.where(gmask, panel * 0.8, panel) * f[..., None]
        wall = np.where(rows, panel, wall)
    img = np.zeros((H, W, 3), np.float32)
    img[:yf] = np.clip(wall, 0.0, 0.96)
    # ceiling, when the wall is short enough to end inside the frame
    ceil_h = _u(rng, 240, 270)
    y_c = cam.vy - (ceil_h - cam.hc) * sw
    if y_c > 1:
        yc = int(min(y_c, yf))
        img[:yc] = np.clip(
            np.asarray((0.95, 0.95, 0.94), np.float32)
            * (0.9 + 0.1 * np.arange(yc)[:, None, None] / max(yc, 1)),
            0,
            1,
        )
    return img, {"wall": name, "finish": finish, "ceiling": bool(y_c > 1)}


def _decor(
    rng: np.random.Generator, cam: _Camera, W: int, H: int, tex: _Tex, light: float
) -> tuple[_Canvas, str]:
    """Window, curtains, pictures and skirting on the back wall, as a transparent layer."""
    c = _Canvas(H, W, tex)
    sw = cam.wall_scale

    def at(xw: float, yw: float) -> tuple[float, float]:
        return cam.vx + xw * sw, cam.vy - (yw - cam.hc) * sw

    def rect(x0: float, y0: float, x1: float, y1: float) -> F64:
        (a, b), (cc, d) = at(x0, y1), at(x1, y0)
        return np.array([[a, b], [cc, b], [cc, d], [a, d]])

    half_w = W / 2 / sw
    kind = _pick(rng, ["window", "pictures", "both", "none"], [0.35, 0.35, 0.15, 0.15])
    center = cam.vx + (_u(rng, -0.5, 0.5) * W)
    xw_c = (center - cam.vx) / sw
    if kind in ("window", "both"):
        ww, y_lo, y_hi = _u(rng, 80, 150), _u(rng, 70, 100), _u(rng, 200, 235)
        fw = _u(rng, 4, 8)
        frame = np.asarray(
            _pick(rng, [(0.95, 0.95, 0.94), (0.15, 0.15, 0.16), (0.62, 0.46, 0.3)]), np.float32
        )
        x0, x1 = xw_c - ww / 2, xw_c + ww / 2
        if rng.random() < 0.5:
            cur = np.asarray(
                _pick(rng, [(0.96, 0.95, 0.92), (0.85, 0.80, 0.72), (0.62, 0.66, 0.6)]), np.float32
            )
            cw = _u(rng, 25, 40)
            period = _u(rng, 6, 11) * sw
            for a, b in ((x0 - cw, x0 + 6), (x1 - 6, x1 + cw)):
                pts = rect(a, max(2.0, y_lo - 60), b, y_hi + 15)
                c.fill(
                    pts,
                    lambda xx, yy, sl, cur=cur, period=period: (
                        cur
                        * (0.9 + 0.08 * np.sin(2 * np.pi * xx / max(period, 1.0)))[..., None]
                        * np.ones_like(yy)[..., None],
                        None,
                    ),
                    alpha=0.93,
                    sil=False,
                )
        c.fill(rect(x0 - fw, y_lo - fw, x1 + fw, y_hi + fw), c.flat(frame), sil=False)
        gtop, gbot = at(0, y_hi)[1], at(0, y_lo)[1]
        sky_top = np.asarray((0.70, 0.82, 0.95), np.float32)
        sky_bot = np.asarray((0.93, 0.96, 0.98), np.float32)
        trees = rng.random() < 0.5

        def sky(xx: F32, yy: F32, sl: tuple[slice, slice]) -> tuple[Any, Any]:
            t = np.clip((yy - gtop) / max(gbot - gtop, 1.0), 0, 1)[..., None]
            col = np.broadcast_to(sky_top * (1 - t) + sky_bot * t, (*t.shape[:1], xx.shape[1], 3))
            if trees:
                band = t > 0.62 + 0.08 * np.sin(xx[..., None] / 9.0) + 0.03 * tex.lo[sl][..., None]
                col = np.where(
                    band,
                    np.asarray((0.45, 0.58, 0.42), np.float32) * (1 + 0.1 * tex.hi[sl][..., None]),
                    col,
                )
            return col, None

        c.fill(rect(x0, y_lo, x1, y_hi), sky, sil=False)
        bar = fw * 0.5
        c.fill(rect(xw_c - bar, y_lo, xw_c + bar, y_hi), c.flat(frame), sil=False)
        ym = y_lo + (y_hi - y_lo) * 0.68
        c.fill(rect(x0, ym - bar, x1, ym + bar), c.flat(frame), sil=False)
        c.fill(
            rect(x0 - fw - 3, y_lo - fw - 3, x1 + fw + 3, y_lo - fw),
            c.flat(np.clip(frame * 1.04, 0, 1)),
            sil=False,
        )
        xw_c = xw_c + _pick(rng, [-1, 1]) * (ww / 2 + _u(rng, 60, 110))
    if kind in ("pictures", "both"):
        n = int(rng.integers(1, 4))
        sizes = [(_u(rng, 30, 70), _u(rng, 40, 90)) for _ in range(n)]
        gap = _u(rng, 8, 20)
        total = sum(w for w, _ in sizes) + gap * (n - 1)
        x = xw_c - total / 2
        yc = _u(rng, 140, 165)
        for pw, ph in sizes:
            frame = np.asarray(
                _pick(
                    rng, [(0.1, 0.1, 0.1), (0.95, 0.95, 0.94), (0.6, 0.45, 0.3), (0.78, 0.64, 0.35)]
                ),
                np.float32,
            )
            fb = _u(rng, 1.5, 3.5)
            y0 = yc - ph / 2
            off = -light * 1.5
            c.fill(
                rect(x + off, y0 - 2, x + pw + off, y0 + ph - 2),
                c.flat((0.0, 0.0, 0.0)),
                alpha=0.22,
                sil=False,
            )
            c.fill(rect(x, y0, x + pw, y0 + ph), c.flat(frame), sil=False)
            mat_w = _u(rng, 0, 7)
            c.fill(
                rect(x + fb, y0 + fb, x + pw - fb, y0 + ph - fb),
                c.flat((0.95, 0.94, 0.92)),
                sil=False,
            )
            ax0, ay0, ax1, ay1 = (
                x + fb + mat_w,
                y0 + fb + mat_w,
                x + pw - fb - mat_w,
                y0 + ph - fb - mat_w,
            )
            bgc = np.asarray(_pick(rng, list(_WALLS.values())), np.float32)
            c.fill(rect(ax0, ay0, ax1, ay1), c.flat(bgc), sil=False)
            for _ in range(int(rng.integers(2, 5))):
                col = np.asarray(_pick(rng, list(_PALETTES["paint"].values())), np.float32)
                cx, cy = at(_u(rng, ax0, ax1), _u(rng, ay0, ay1))
                rr = _u(rng, 0.15, 0.4) * (ax1 - ax0) * sw
                if rng.random() < 0.5:
                    shape = _ellipse(cx, cy, rr, rr * _u(rng, 0.6, 1.4))
                else:
                    shape = np.array(
                        [
                            [cx - rr, cy - rr * 0.7],
                            [cx + rr, cy - rr * 0.7],
                            [cx + rr, cy + rr],
                            [cx - rr, cy + rr],
                        ]
                    )
                lo_, hi_ = at(ax0, ay1), at(ax1, ay0)
                shape = np.clip(shape, lo_, hi_)
                c.fill(shape, c.flat(col), sil=False)
            x += pw + gap
    # skirting board along the wall/floor line
    sk_h = _u(rng, 6, 12)
    sk = np.asarray(_pick(rng, [(0.95, 0.95, 0.94), (0.9, 0.88, 0.84)]), np.float32)
    c.fill(rect(-half_w - 50, 0, half_w + 50, sk_h), c.flat(sk * 0.9), sil=False)
    c.fill(
        rect(-half_w - 50, sk_h - 0.8, half_w + 50, sk_h),
        c.flat(np.clip(sk * 1.02, 0, 1)),
        sil=False,
    )
    return c, kind


def _cast_shadow(c: _Canvas, ground: float, shear: float, squash: float) -> _Region | None:
    """The layer's silhouette laid down on the floor behind it (a fake planar projection)."""
    if c.box is None:
        return None
    M = np.array([[1.0, -shear, shear * ground], [0.0, squash, (1.0 - squash) * ground]])
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
    return (slice(y0, y1), slice(x0, x1)), cv2.GaussianBlur(out, (0, 0), sigma)


@dataclass(eq=False)
class _Placed:
    model: _Model
    view: _View
    role: str  # "main" | "support" | "other"
    order: float


def _render_staged(
    rng: np.random.Generator, category: str, W: int, H: int
) -> tuple[F32, NDArray[np.bool_], _Model, dict[str, Any]]:
    main = _MODELS[category](rng)
    light = float(_pick(rng, [-1.0, 1.0]))
    sign = float(_pick(rng, [-1.0, 1.0]))
    probe = _View(0.3 * sign, 0.25, light)
    f = W * _u(rng, 0.9, 1.4)
    hc = _u(rng, 95, 170)
    x_c = W * _u(rng, 0.38, 0.62)
    placed: list[_Placed] = []
    if main.small:
        support = _cabinet(rng) if rng.random() < 0.6 else _table(rng, coffee=True)
        bx0, by0, bx1, by1 = _bounds(main, probe)
        s = min(_u(rng, 0.38, 0.55) * H / (by1 - by0), 0.5 * W / (bx1 - bx0))
        y_top = H * _u(rng, 0.6, 0.8)
        # the product stands on the support's top at (xp, zp), its base near image row y_top
        zp = max(support.depth * _u(rng, 0.2, 0.45) - main.depth / 2, 0.0)
        xp = support.width * _u(rng, -0.25, 0.25)
        y_b = y_top + s * (support.height + 0.3 * zp)  # 0.3: a first guess of the view's ky
        cam = _Camera(x_c + _u(rng, -0.35, 0.35) * W, y_b - hc * s, f, hc, 0.0)
        sv = cam.view(support, x_c - s * xp, y_b, light, s)
        px, py = sv.xy(xp, support.height, zp)
        mv = _View(sv.kx, sv.ky, light, s, float(px), float(py))
        placed += [_Placed(support, sv, "support", y_b), _Placed(main, mv, "main", y_b + 1e-3)]
        depth = support.depth
        front_y, ref = y_b, support
    else:
        bx0, by0, bx1, by1 = _bounds(main, probe)
        hf = _u(rng, 0.66, 0.85) if main.slender else _u(rng, 0.42, 0.66)
        s = min(hf * H / (by1 - by0), _u(rng, 0.5, 0.82) * W / (bx1 - bx0))
        lo = 0.05 * H - s * by0
        hi = 0.97 * H - s * by1
        y_b = (
            _u(rng, max(lo, 0.55 * H), hi) if hi > max(lo, 0.55 * H) else max(lo, min(hi, 0.9 * H))
        )
        vx = x_c + _u(rng, -0.35, 0.35) * W
        cam = _Camera(vx, y_b - hc * s, f, hc, 0.0)
        mv = cam.view(main, x_c, y_b, light, s)
        placed.append(_Placed(main, mv, "main", y_b))
        depth = main.depth
        front_y, ref = y_b, main
    # the wall stands behind the deepest part of the main group
    s_ref = cam.scale_at(front_y)
    zf = f / s_ref
    y_wall_max = cam.vy + f * hc / (zf + depth + _u(rng, 8, 60))
    y_floor = min(H * _u(rng, 0.3, 0.58), y_wall_max)
    y_floor = max(y_floor, cam.vy + 2.0)
    cam = _Camera(cam.vx, cam.vy, f, hc, y_floor)
    # other products beside the main group, mostly behind it
    mx0, _, mx1, _ = _bounds(ref, placed[0].view)
    n_other = int(_pick(rng, [0, 1, 2], [0.7, 0.3, 0.0] if main.small else [0.35, 0.4, 0.25]))
    side = float(_pick(rng, [-1.0, 1.0]))
    for _ in range(n_other):
        other = _MODELS[_pick(rng, _FLOOR_STANDING)](rng)
        in_front = rng.random() < 0.2
        if in_front:
            yb2 = _u(rng, front_y, front_y + 0.5 * max(H - front_y, 4.0))
        else:
            yb2 = _u(rng, cam.y_floor + 0.15 * (front_y - cam.y_floor), front_y)
        z_max = cam.wall_z - other.depth - 5
        if z_max <= 1:
            continue
        yb2 = max(yb2, cam.vy + f * hc / z_max)
        main_w = mx1 - mx0
        gap = -_u(rng, 0.0, 0.15) * main_w if in_front else _u(rng, -0.1, 0.12) * W
        x2 = mx1 if side > 0 else mx0
        v2 = cam.view(other, x2, yb2, light)
        for _ in range(2):  # kx depends on the position: settle it in two steps
            a0, _, a1, _ = _bounds(other, v2)
            x2 += (mx1 + gap - a0) if side > 0 else (mx0 - gap - a1)
            v2 = cam.view(other, x2, yb2, light)
        a0, _, a1, _ = _bounds(other, v2)
        if a1 < 0.05 * W or a0 > 0.95 * W:
            side = -side
            continue
        placed.append(_Placed(other, v2, "other", yb2))
        mx0, mx1 = min(mx0, a0), max(mx1, a1)
        side = -side
    tex = _Tex(rng, H, W)
    rug = None
    if not main.small and rng.random() < 0.35:
        zf = f / cam.scale_at(front_y)
        xw = (x_c - cam.vx) / cam.scale_at(front_y)
        pad = _u(rng, 30, 60)
        rug = (
            xw - main.width / 2 - pad,
            xw + main.width / 2 + pad,
            zf - pad,
            zf + main.depth + pad,
        )
    image, wall_meta = _wall(rng, cam, W, H, tex, light)
    floor, floor_kind = _floor_texture(rng, cam, W, H, tex, light, rug)
    yf = int(np.clip(math.floor(cam.y_floor), 0, H))
    image[yf:] = floor
    decor, decor_kind = _decor(rng, cam, W, H, tex, light)
    image = decor.composite_over(image)
    # key light from one side over the whole room
    xs = np.arange(W, dtype=np.float32)[None, :] / W - 0.5
    ys = np.arange(H, dtype=np.float32)[:, None] / H - 0.5
    image *= (1.0 + 0.1 * light * xs - 0.22 * (xs * xs + ys * ys))[..., None]
    shear = -light * _u(rng, 0.3, 0.9)
    squash = _u(rng, 0.15, 0.35)
    cast, contact = _u(rng, 0.22, 0.42), _u(rng, 0.25, 0.45)
    placed.sort(key=lambda p: p.order)
    layers: list[tuple[_Placed, _Canvas]] = []
    for p in placed:
        c = _Canvas(H, W, tex)
        p.model.draw(c, p.view)
        g = float(p.view.oy)
        _darken(image, _cast_shadow(c, g, shear, squash), cast)
        _darken(image, _contact_shadow(p.model, p.view, W, H), contact)
        image = c.composite_over(image)
        layers.append((p, c))
    visible = np.zeros((H, W), np.float32)
    total = np.zeros((H, W), np.float32)
    for p, c in layers:
        visible *= 1.0 - c.sil
        if p.role == "main":
            visible = c.sil.copy()
            total = c.sil
    image = image + tex.hi[..., None] * np.float32(0.006)
    mask = visible >= 0.5
    full = int((total >= 0.5).sum())
    products = []
    for p, c in layers:
        m = c.sil >= 0.5
        ys_, xs_ = np.nonzero(m)
        bbox = (
            [int(xs_.min()), int(ys_.min()), int(xs_.max()) + 1, int(ys_.max()) + 1]
            if ys_.size
            else [0, 0, 0, 0]
        )
        products.append(
            {"category": p.model.category, "role": p.role, "bbox": bbox, "params": p.model.params}
        )
    meta = {
        "room": {**wall_meta, "floor": floor_kind, "decor": decor_kind, "rug": rug is not None},
        "camera": {
            "vx": round(cam.vx, 1),
            "horizon": round(cam.vy, 1),
            "floor_line": round(cam.y_floor, 1),
            "eye_cm": round(hc, 1),
        },
        "products": products,
        "visible_fraction": round(float(mask.sum()) / max(full, 1), 4),
        "view": _view_meta(next(p.view for p in placed if p.role == "main")),
    }
    return image, mask, main, meta


# ------------------------------------------------------------------------------------ the items


def _holes(mask: NDArray[np.bool_]) -> float:
    """Area of background enclosed by the mask (not reachable from the border), / mask area."""
    area = int(mask.sum())
    if area == 0:
        return 0.0
    inv = np.pad((~mask).astype(np.uint8), 1, constant_values=1)
    _, labels = cv2.connectedComponents(inv, connectivity=4)
    outside = labels[0, 0]
    enclosed = int(((labels != outside) & (labels != 0)).sum())
    return enclosed / area


_STAGING_ATTEMPTS = 4
_MIN_AREA, _MAX_AREA = 0.03, 0.8
_NEAR_WHITE = 225


def render_product(spec: ItemSpec | int, *, size: tuple[int, int] = DEFAULT_SIZE) -> SyntheticItem:
    """Draw one item: ``spec`` (or the index of an item of the default catalog, seed 0).

    ``size`` is ``(width, height)``. The result is deterministic: the same spec and size give
    the same bytes.
    """
    if isinstance(spec, bool) or not isinstance(spec, (ItemSpec, int, np.integer)):
        raise InputError(f"spec: expected an ItemSpec or a non-negative index, got {spec!r}")
    if not isinstance(spec, ItemSpec):
        spec = item_spec(int(spec))
    if spec.category not in _MODELS:
        _check_categories([spec.category])
    W, H = _check_size(size)
    rng = np.random.default_rng([_check_seed(spec.seed), spec.index])
    if spec.staged:
        # a scene whose main product ends up tiny (far away, hidden) or huge is drawn again
        # from the same generator, so the result stays a function of (seed, index)
        attempts = 0
        while True:
            attempts += 1
            image, mask, model, meta = _render_staged(rng, spec.category, W, H)
            if _MIN_AREA <= float(mask.mean()) <= _MAX_AREA or attempts == _STAGING_ATTEMPTS:
                break
        meta["attempts"] = attempts
    else:
        image, mask, model, meta = _render_unstaged(rng, spec.category, W, H)
    rgb = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    hard: list[str] = []
    if model.main.kind == "glass":
        hard.append("translucent")
    elif (
        not spec.staged and mask.any() and (rgb[mask].min(axis=1) >= _NEAR_WHITE).mean() >= 0.2
    ):  # measured, not declared: a fifth of the product is as light as the background
        hard.append("white-on-white")
    holes = _holes(mask)
    if holes > 0.02:
        hard.append("holes")
    if spec.staged:
        if meta["visible_fraction"] < 0.98:
            hard.append("occluded")
        if mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any():
            hard.append("cropped")
    meta = {
        "index": spec.index,
        **meta,
        "params": model.params,
        "main_material": f"{model.main.kind}:{model.main.name}",
        "fg_fraction": round(float(mask.mean()), 4),
        "hole_fraction": round(holes, 4),
        "hard": hard,
    }
    return SyntheticItem(
        id=spec.id,
        image=rgb,
        mask=np.ascontiguousarray(mask),
        category=spec.category,
        staged=spec.staged,
        seed=spec.seed,
        meta=meta,
    )


class SyntheticCatalog(Sequence[SyntheticItem]):
    """``n`` synthetic items, each drawn on demand and deterministic from ``(seed, index)``.

    ``staged_fraction`` of the items (on average) are staged in a room; ``categories`` restricts
    the drawn categories (default: all of :data:`CATEGORIES`, each once per block of
    ``len(categories)`` items). :meth:`rows` lists the items without drawing them.
    """

    def __init__(
        self,
        n: int,
        *,
        seed: int = 0,
        staged_fraction: float = DEFAULT_STAGED_FRACTION,
        size: tuple[int, int] = DEFAULT_SIZE,
        categories: Sequence[str] | None = None,
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise InputError(f"n: expected a non-negative integer, got {n!r}")
        if (
            not isinstance(staged_fraction, (int, float))
            or not 0.0 <= float(staged_fraction) <= 1.0
        ):
            raise InputError(
                f"staged_fraction: expected a number in [0, 1], got {staged_fraction!r}"
            )
        self.n = int(n)
        self.seed = _check_seed(seed)
        self.staged_fraction = float(staged_fraction)
        self.size = _check_size(size)
        self.categories = _check_categories(categories)

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return (
            f"SyntheticCatalog(n={self.n}, seed={self.seed}, staged_fraction={self.staged_fraction}, "
            f"size={self.size}, categories={len(self.categories)})"
        )

    def _index(self, i: Any) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"catalog indices must be integers or slices, not {type(i).__name__}")
        j = int(i) + self.n if i < 0 else int(i)
        if not 0 <= j < self.n:
            raise IndexError(f"index {i} out of range for a catalog of {self.n} items")
        return j

    def spec(self, i: int) -> ItemSpec:
        """What item ``i`` is, without drawing it."""
        j = self._index(i)
        cats, staged = _assign(self.seed, j, j + 1, len(self.categories), self.staged_fraction)
        return ItemSpec(
            index=j, seed=self.seed, category=self.categories[int(cats[0])], staged=bool(staged[0])
        )

    @overload
    def __getitem__(self, i: int) -> SyntheticItem: ...

    @overload
    def __getitem__(self, i: slice) -> list[SyntheticItem]: ...

    def __getitem__(self, i: int | slice) -> SyntheticItem | list[SyntheticItem]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        return render_product(self.spec(i), size=self.size)

    def __iter__(self) -> Iterator[SyntheticItem]:
        for i in range(self.n):
            yield self[i]

    def rows(self, start: int = 0, stop: int | None = None) -> Iterator[dict[str, Any]]:
        """Yield ``{"id", "index", "category", "staged", "seed"}`` per item, without drawing."""
        stop = self.n if stop is None else min(int(stop), self.n)
        chunk = 1 << 16
        cats = self.categories
        for a in range(max(int(start), 0), stop, chunk):
            b = min(a + chunk, stop)
            c, s = _assign(self.seed, a, b, len(cats), self.staged_fraction)
            for k, (ci, st) in enumerate(zip(c.tolist(), s.tolist(), strict=True)):
                i = a + k
                yield {
                    "id": item_id(self.seed, i),
                    "index": i,
                    "category": cats[ci],
                    "staged": st,
                    "seed": self.seed,
                }


def _png(array: NDArray[np.uint8]) -> bytes:
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", array)
    if not ok:  # pragma: no cover - cv2 encodes any uint8 array
        raise InputError(f"could not encode an array of shape {array.shape} as PNG")
    return buf.tobytes()


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue()


def write_catalog(
    catalog: Iterable[SyntheticItem], out_dir: str | Path, *, limit: int | None = None
) -> Path:
    """Write ``images/<id>.png``, ``masks/<id>.png`` (255 = product), ``labels.csv`` and
    ``metadata.csv`` under ``out_dir``, the layout of the dev data sets; return ``out_dir``.

    ``labels.csv`` has ``path,category,mask_path,staged`` (``staged`` is 0 or 1), paths relative to
    ``out_dir``. Every file is written atomically. ``limit`` writes only the first items.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InputError(f"limit: expected a non-negative integer or None, got {limit!r}")
    out = Path(out_dir)
    labels: list[tuple[str, str, str, int]] = []
    metadata: list[tuple[Any, ...]] = []
    n = len(catalog) if isinstance(catalog, Sequence) else None
    count = n if limit is None else (limit if n is None else min(limit, n))
    items: Iterable[SyntheticItem]
    if isinstance(catalog, Sequence) and count is not None:
        items = (catalog[i] for i in range(count))
    else:
        items = (item for k, item in enumerate(catalog) if count is None or k < count)
    for k, item in enumerate(items):
        if count is not None and k >= count:
            break
        img_rel, mask_rel = f"images/{item.id}.png", f"masks/{item.id}.png"
        atomic_write_bytes(out / img_rel, _png(item.image))
        atomic_write_bytes(out / mask_rel, _png(item.mask.astype(np.uint8) * 255))
        labels.append((img_rel, item.category, mask_rel, int(item.staged)))
        h, w = item.mask.shape
        metadata.append(
            (
                img_rel,
                item.category,
                mask_rel,
                int(item.staged),
                item.id,
                item.meta.get("index", ""),
                item.seed,
                ";".join(item.meta.get("hard", [])),
                f"{float(item.mask.mean()):.4f}",
                w,
                h,
                item.meta.get("main_material", ""),
            )
        )
    atomic_write_text(out / "labels.csv", _csv(("path", "category", "mask_path", "staged"), labels))
    header = (
        "path",
        "category",
        "mask_path",
        "staged",
        "id",
        "index",
        "seed",
        "hard",
        "fg_fraction",
        "width",
        "height",
        "main_material",
    )
    atomic_write_text(out / "metadata.csv", _csv(header, metadata))
    return out
