"""Lighting drawers: floor lamps (pole, tripod, arc) and table lamps, with fabric shades that
glow inside or metal shades.
"""

from __future__ import annotations

import math

import numpy as np

from adstage.datasets.synthetic.canvas import _Mat, _mat
from adstage.datasets.synthetic.decoration import _VASE_PROFILES, _smooth_profile
from adstage.datasets.synthetic.model import _Model, _pick, _u
from adstage.datasets.synthetic.shapes import _Prim, _Revolve, _Rod
from adstage.datasets.synthetic.spec import FLOOR_LAMPS, TABLE_LAMPS

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
