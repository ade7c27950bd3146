"""The room a staged product stands in, drawn in one-point perspective: the camera, the back
wall (paint, stripes or wainscot, a ceiling when it shows), the floor (wood, tiles, carpet or
concrete, with an optional rug) and the wall decor (window, curtains, pictures, skirting).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.datasets.synthetic.canvas import _PALETTES, F32, F64, _Canvas, _Tex, _View
from adstage.datasets.synthetic.model import _Model, _pick, _u
from adstage.datasets.synthetic.shapes import _ellipse

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

    # numpy's stubs give fancy indexing and most ufuncs an Any result: the locals say the dtype.
    def cell(a: NDArray[Any], b: NDArray[Any]) -> F32:
        values: F32 = table[(a.astype(np.int64) * 7919 + b.astype(np.int64) * 104729) & 4095]
        return values

    def lines(frac: NDArray[Any], size_px: NDArray[Any]) -> F32:
        d = np.minimum(frac, 1.0 - frac) * size_px
        fade = np.clip(size_px / 6.0, 0.0, 1.0)
        strength: F32 = np.exp(-((d / 0.7) ** 2)) * fade
        return strength

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

            def curtain(xx: F32, yy: F32, sl: tuple[slice, slice]) -> tuple[Any, None]:
                folds = 0.9 + 0.08 * np.sin(2 * np.pi * xx / max(period, 1.0))
                return cur * folds[..., None] * np.ones_like(yy)[..., None], None

            for a, b in ((x0 - cw, x0 + 6), (x1 - 6, x1 + cw)):
                pts = rect(a, max(2.0, y_lo - 60), b, y_hi + 15)
                c.fill(pts, curtain, alpha=0.93, sil=False)
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
