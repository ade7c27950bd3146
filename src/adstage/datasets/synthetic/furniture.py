"""Furniture drawers: chairs, armchairs and sofas, dining and coffee tables, shelves,
cabinets and beds. Each takes the item's generator and returns a :class:`~.model._Model`
with its parameters (style, material, size in cm) for ``meta``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from adstage.datasets.synthetic.canvas import _mat
from adstage.datasets.synthetic.model import _frame_mat, _Model, _pick, _u
from adstage.datasets.synthetic.shapes import _Box, _Lines, _Prim, _rect, _Revolve, _Rod, _Seq
from adstage.datasets.synthetic.spec import (
    ARMCHAIRS,
    BEDS,
    CABINETS,
    CHAIRS,
    COFFEE_TABLES,
    DINING_TABLES,
    SHELVES,
    SOFAS,
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
