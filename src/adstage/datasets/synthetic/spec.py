"""What each item is: the categories, the item types, and the hash that assigns every index its
category and whether it is staged, without drawing anything.

``(seed, index)`` decides everything: :func:`item_spec` and :meth:`SyntheticCatalog.rows
<adstage.datasets.synthetic.catalog.SyntheticCatalog.rows>` read the category and the staged
flag from a splitmix64 hash; the pixels are drawn later from ``np.random.default_rng([seed,
index])``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError

__all__ = ["CATEGORIES", "ItemSpec", "SyntheticItem", "item_id", "item_spec"]


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
