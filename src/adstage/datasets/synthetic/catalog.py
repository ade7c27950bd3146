"""The public entry points: :func:`render_product` (one item, its hard cases measured),
:class:`SyntheticCatalog` (a lazy sequence of items) and :func:`write_catalog` (images,
masks and CSVs in the layout of the dev data sets, written atomically).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast, overload

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.datasets.synthetic.products import _MODELS
from adstage.datasets.synthetic.scenes import _render_staged, _render_unstaged
from adstage.datasets.synthetic.spec import (
    DEFAULT_SIZE,
    DEFAULT_STAGED_FRACTION,
    ItemSpec,
    SyntheticItem,
    _assign,
    _check_categories,
    _check_seed,
    _check_size,
    item_id,
    item_spec,
)
from adstage.errors import InputError
from adstage.io.atomic import atomic_write_bytes, atomic_write_text

__all__ = ["SyntheticCatalog", "render_product", "write_catalog"]


def _holes(mask: NDArray[np.bool_]) -> float:
    """Area of background enclosed by the mask (not reachable from the border), / mask area."""
    area = int(mask.sum())
    if area == 0:
        return 0.0
    inv = np.pad((~mask).astype(np.uint8), 1, constant_values=1)
    _, labels = cv2.connectedComponents(inv, connectivity=4)
    outside = labels[0, 0]
    enclosed = int(((labels != outside) & (labels != 0)).sum())
    return enclosed / area


_STAGING_ATTEMPTS = 4
_MIN_AREA, _MAX_AREA = 0.03, 0.8
_NEAR_WHITE = 225


def render_product(spec: ItemSpec | int, *, size: tuple[int, int] = DEFAULT_SIZE) -> SyntheticItem:
    """Draw one item: ``spec`` (or the index of an item of the default catalog, seed 0).

    ``size`` is ``(width, height)``. The result is deterministic: the same spec and size give
    the same bytes.
    """
    if isinstance(spec, bool) or not isinstance(spec, (ItemSpec, int, np.integer)):
        raise InputError(f"spec: expected an ItemSpec or a non-negative index, got {spec!r}")
    if not isinstance(spec, ItemSpec):
        spec = item_spec(int(spec))
    if spec.category not in _MODELS:
        _check_categories([spec.category])
    W, H = _check_size(size)
    rng = np.random.default_rng([_check_seed(spec.seed), spec.index])
    if spec.staged:
        # a scene whose main product ends up tiny (far away, hidden) or huge is drawn again
        # from the same generator, so the result stays a function of (seed, index)
        attempts = 0
        while True:
            attempts += 1
            image, mask, model, meta = _render_staged(rng, spec.category, W, H)
            if _MIN_AREA <= float(mask.mean()) <= _MAX_AREA or attempts == _STAGING_ATTEMPTS:
                break
        meta["attempts"] = attempts
    else:
        image, mask, model, meta = _render_unstaged(rng, spec.category, W, H)
    rgb = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    hard: list[str] = []
    if model.main.kind == "glass":
        hard.append("translucent")
    elif (
        not spec.staged and mask.any() and (rgb[mask].min(axis=1) >= _NEAR_WHITE).mean() >= 0.2
    ):  # measured, not declared: a fifth of the product is as light as the background
        hard.append("white-on-white")
    holes = _holes(mask)
    if holes > 0.02:
        hard.append("holes")
    if spec.staged:
        if meta["visible_fraction"] < 0.98:
            hard.append("occluded")
        if mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any():
            hard.append("cropped")
    meta = {
        "index": spec.index,
        **meta,
        "params": model.params,
        "main_material": f"{model.main.kind}:{model.main.name}",
        "fg_fraction": round(float(mask.mean()), 4),
        "hole_fraction": round(holes, 4),
        "hard": hard,
    }
    return SyntheticItem(
        id=spec.id,
        image=rgb,
        mask=np.ascontiguousarray(mask),
        category=spec.category,
        staged=spec.staged,
        seed=spec.seed,
        meta=meta,
    )


class SyntheticCatalog(Sequence[SyntheticItem]):
    """``n`` synthetic items, each drawn on demand and deterministic from ``(seed, index)``.

    ``staged_fraction`` of the items (on average) are staged in a room; ``categories`` restricts
    the drawn categories (default: all of :data:`CATEGORIES`, each once per block of
    ``len(categories)`` items). :meth:`rows` lists the items without drawing them.
    """

    def __init__(
        self,
        n: int,
        *,
        seed: int = 0,
        staged_fraction: float = DEFAULT_STAGED_FRACTION,
        size: tuple[int, int] = DEFAULT_SIZE,
        categories: Sequence[str] | None = None,
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise InputError(f"n: expected a non-negative integer, got {n!r}")
        if (
            not isinstance(staged_fraction, (int, float))
            or not 0.0 <= float(staged_fraction) <= 1.0
        ):
            raise InputError(
                f"staged_fraction: expected a number in [0, 1], got {staged_fraction!r}"
            )
        self.n = int(n)
        self.seed = _check_seed(seed)
        self.staged_fraction = float(staged_fraction)
        self.size = _check_size(size)
        self.categories = _check_categories(categories)

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return (
            f"SyntheticCatalog(n={self.n}, seed={self.seed}, staged_fraction={self.staged_fraction}, "
            f"size={self.size}, categories={len(self.categories)})"
        )

    def _index(self, i: Any) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"catalog indices must be integers or slices, not {type(i).__name__}")
        j = int(i) + self.n if i < 0 else int(i)
        if not 0 <= j < self.n:
            raise IndexError(f"index {i} out of range for a catalog of {self.n} items")
        return j

    def spec(self, i: int) -> ItemSpec:
        """What item ``i`` is, without drawing it."""
        j = self._index(i)
        cats, staged = _assign(self.seed, j, j + 1, len(self.categories), self.staged_fraction)
        return ItemSpec(
            index=j, seed=self.seed, category=self.categories[int(cats[0])], staged=bool(staged[0])
        )

    @overload
    def __getitem__(self, i: int) -> SyntheticItem: ...

    @overload
    def __getitem__(self, i: slice) -> list[SyntheticItem]: ...

    def __getitem__(self, i: int | slice) -> SyntheticItem | list[SyntheticItem]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        return render_product(self.spec(i), size=self.size)

    def __iter__(self) -> Iterator[SyntheticItem]:
        for i in range(self.n):
            yield self[i]

    def rows(self, start: int = 0, stop: int | None = None) -> Iterator[dict[str, Any]]:
        """Yield ``{"id", "index", "category", "staged", "seed"}`` per item, without drawing."""
        stop = self.n if stop is None else min(int(stop), self.n)
        chunk = 1 << 16
        cats = self.categories
        for a in range(max(int(start), 0), stop, chunk):
            b = min(a + chunk, stop)
            c, s = _assign(self.seed, a, b, len(cats), self.staged_fraction)
            for k, (ci, st) in enumerate(zip(c.tolist(), s.tolist(), strict=True)):
                i = a + k
                yield {
                    "id": item_id(self.seed, i),
                    "index": i,
                    "category": cats[ci],
                    "staged": st,
                    "seed": self.seed,
                }


def _png(array: NDArray[np.uint8]) -> bytes:
    if array.ndim == 3:
        # cv2's stubs type every result as MatLike; cvtColor keeps uint8.
        array = cast(NDArray[np.uint8], cv2.cvtColor(array, cv2.COLOR_RGB2BGR))
    ok, buf = cv2.imencode(".png", array)
    if not ok:  # pragma: no cover - cv2 encodes any uint8 array
        raise InputError(f"could not encode an array of shape {array.shape} as PNG")
    return buf.tobytes()


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue()


def write_catalog(
    catalog: Iterable[SyntheticItem], out_dir: str | Path, *, limit: int | None = None
) -> Path:
    """Write ``images/<id>.png``, ``masks/<id>.png`` (255 = product), ``labels.csv`` and
    ``metadata.csv`` under ``out_dir``, the layout of the dev data sets; return ``out_dir``.

    ``labels.csv`` has ``path,category,mask_path,staged`` (``staged`` is 0 or 1), paths relative to
    ``out_dir``. Every file is written atomically. ``limit`` writes only the first items.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InputError(f"limit: expected a non-negative integer or None, got {limit!r}")
    out = Path(out_dir)
    labels: list[tuple[str, str, str, int]] = []
    metadata: list[tuple[Any, ...]] = []
    n = len(catalog) if isinstance(catalog, Sequence) else None
    count = n if limit is None else (limit if n is None else min(limit, n))
    items: Iterable[SyntheticItem]
    if isinstance(catalog, Sequence) and count is not None:
        items = (catalog[i] for i in range(count))
    else:
        items = (item for k, item in enumerate(catalog) if count is None or k < count)
    for k, item in enumerate(items):
        if count is not None and k >= count:
            break
        img_rel, mask_rel = f"images/{item.id}.png", f"masks/{item.id}.png"
        atomic_write_bytes(out / img_rel, _png(item.image))
        atomic_write_bytes(out / mask_rel, _png(item.mask.astype(np.uint8) * 255))
        labels.append((img_rel, item.category, mask_rel, int(item.staged)))
        h, w = item.mask.shape
        metadata.append(
            (
                img_rel,
                item.category,
                mask_rel,
                int(item.staged),
                item.id,
                item.meta.get("index", ""),
                item.seed,
                ";".join(item.meta.get("hard", [])),
                f"{float(item.mask.mean()):.4f}",
                w,
                h,
                item.meta.get("main_material", ""),
            )
        )
    atomic_write_text(out / "labels.csv", _csv(("path", "category", "mask_path", "staged"), labels))
    header = (
        "path",
        "category",
        "mask_path",
        "staged",
        "id",
        "index",
        "seed",
        "hard",
        "fg_fraction",
        "width",
        "height",
        "main_material",
    )
    atomic_write_text(out / "metadata.csv", _csv(header, metadata))
    return out
