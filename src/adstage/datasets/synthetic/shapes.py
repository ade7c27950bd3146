"""The primitives products are built from: boxes, surfaces of revolution, rods, leaves, thin
lines and ordered groups of them.

Each primitive gives the points of its outline in a :class:`~.canvas._View` (for fitting and
bounds) and draws itself, shaded by the view's light, onto a :class:`~.canvas._Canvas`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from adstage.datasets.synthetic.canvas import F32, F64, _Canvas, _Mat, _Shade, _View


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
