"""Which drawer makes each category's product, and which products stand on the floor (the
ones a staged room may place beside the main product).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from adstage.datasets.synthetic.decoration import _plant, _vase
from adstage.datasets.synthetic.furniture import _bed, _cabinet, _chair, _shelves, _sofa, _table
from adstage.datasets.synthetic.lighting import _floor_lamp, _table_lamp
from adstage.datasets.synthetic.model import _Model
from adstage.datasets.synthetic.spec import (
    ARMCHAIRS,
    BEDS,
    CABINETS,
    CHAIRS,
    COFFEE_TABLES,
    DINING_TABLES,
    FLOOR_LAMPS,
    PLANTS,
    SHELVES,
    SOFAS,
    TABLE_LAMPS,
    VASES,
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
