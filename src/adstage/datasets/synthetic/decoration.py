"""Decoration drawers: vases (ceramic or clear glass, from a few profiles) and potted plants.
The vase profiles are shared with the ceramic table-lamp bodies of :mod:`.lighting`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from adstage.datasets.synthetic.canvas import F64, _Mat, _mat, _solid
from adstage.datasets.synthetic.model import _Model, _pick, _u
from adstage.datasets.synthetic.shapes import _Leaf, _Prim, _Revolve, _Rod
from adstage.datasets.synthetic.spec import PLANTS, VASES


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
