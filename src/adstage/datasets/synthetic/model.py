"""A product as a 3-D model (:class:`_Model`: primitives, footprint, main material) and the
random helpers every product drawer uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adstage.datasets.synthetic.canvas import F64, _Canvas, _Mat, _mat, _View
from adstage.datasets.synthetic.shapes import _Prim
from adstage.datasets.synthetic.spec import FLOOR_LAMPS


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


def _bounds(model: _Model, v: _View) -> tuple[float, float, float, float]:
    pts = model.points(v)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])
