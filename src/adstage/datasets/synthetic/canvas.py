"""The painter: materials, the oblique view, per-item noise textures, and the layer that
primitives draw into.

A :class:`_Canvas` is a transparent layer holding premultiplied colour, alpha and the
silhouette coverage that becomes the ground-truth mask. A :class:`_View` projects 3-D
centimetres to pixels (``x = ox + s(X + kx Z)``, ``y = oy - s(Y + ky Z)``). Materials
(:class:`_Mat`) are drawn from fixed palettes with a little colour jitter.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]


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
        unit: F64 = v / np.linalg.norm(v)
        return unit


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
