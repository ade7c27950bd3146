"""One item's picture and mask: an un-staged product in a studio (white, near-white or a soft
gradient, with a contact shadow) or a staged product in a room beside up to two others, with
cast shadows. The mask is the main product's visible silhouette.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from adstage.datasets.synthetic.canvas import F32, _Canvas, _Tex, _View
from adstage.datasets.synthetic.furniture import _cabinet, _table
from adstage.datasets.synthetic.model import _bounds, _Model, _pick, _u
from adstage.datasets.synthetic.products import _FLOOR_STANDING, _MODELS
from adstage.datasets.synthetic.rooms import _Camera, _decor, _floor_texture, _wall
from adstage.datasets.synthetic.shadows import _cast_shadow, _contact_shadow, _darken


def _random_view(rng: np.random.Generator) -> _View:
    kx = _u(rng, 0.26, 0.5) * _pick(rng, [-1.0, 1.0])
    return _View(kx, _u(rng, 0.16, 0.32), _pick(rng, [-1.0, 1.0]))


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
