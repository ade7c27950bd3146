"""What the benchmarks' pictures share: the demo's catalog of synthetic rooms and labelled tiles
(``screen_figure.py``, ``fill_figure.py``), images fitted to a height (``contact_sheet.py``,
``judge_study.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from adstage.catalog.store import Catalog
from adstage.datasets.synthetic import SyntheticCatalog, write_catalog
from adstage.demo import demo_embedder
from adstage.errors import AdstageError
from adstage.io.images import write_image
from adstage.retrieve.ingest import ingest, open_or_create, sources_from_csv
from adstage.stage.pipeline import StageOptions, stage, stage_candidate

SIDE = 256


def synthetic_catalog(images: SyntheticCatalog, work: Path, embedder: str) -> Catalog:
    """``images`` written to ``work/src`` and ingested with ``embedder`` into ``work/cat``."""
    write_catalog(images, work / "src")
    store = open_or_create(work / "cat", embedders=[embedder])
    ingest(store, sources_from_csv(work / "src" / "labels.csv")[0])
    return store


def demo_rooms(work: Path) -> Catalog:
    """``adstage demo``'s catalog: 48 staged synthetic rooms at 512², ingested in ``work/cat`` with
    the demo's embedder (Inception-V3 when its weights are installed, else the classical one)."""
    scenes = SyntheticCatalog(48, seed=8, size=(512, 512), staged_fraction=1.0)
    return synthetic_catalog(scenes, work, demo_embedder()[0])


def tile(image: np.ndarray, label: str) -> np.ndarray:
    """``image`` fitted into a ``SIDE``² white tile under a one-line ``label``."""
    h, w = image.shape[:2]
    f = SIDE / max(h, w)
    small = cv2.resize(image, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    out = np.full((SIDE + 24, SIDE, 3), 255, np.uint8)
    y, x = (SIDE - small.shape[0]) // 2 + 24, (SIDE - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    cv2.putText(out, label, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (20, 20, 20), 1, cv2.LINE_AA)
    return out


def fit_height(image: np.ndarray, height: int) -> np.ndarray:
    """``image`` resized to ``height`` pixels, its aspect kept."""
    if image.shape[0] == height:
        return image
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def sheet(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Rows of tiles, 8 px of white between tiles and between rows."""
    joined = []
    for tiles in rows:
        gap = np.full((tiles[0].shape[0], 8, 3), 255, np.uint8)
        parts: list[np.ndarray] = []
        for t in tiles:
            parts += [t, gap]
        row = np.concatenate(parts[:-1], axis=1)
        joined += [row, np.full((8, row.shape[1], 3), 255, np.uint8)]
    return np.concatenate(joined)


def around(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``image`` cropped to ``box`` grown by a quarter of its size on each side."""
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) // 4, (y1 - y0) // 4
    h, w = image.shape[:2]
    return image[max(0, y0 - my) : min(h, y1 + my), max(0, x0 - mx) : min(w, x1 + mx)]


def before_after(
    store: Catalog,
    n_products: int,
    before: StageOptions,
    level: int,
    constants: dict[tuple[Any, str], Any] | None = None,
) -> list[tuple[float, Any, np.ndarray, np.ndarray]]:
    """For each of ``n_products`` synthetic products (seed 9) staged by replacement with the
    defaults: the share of pixels around it that change by more than ``level`` grey levels when
    its best candidate is staged again into the same slot with ``before`` (and, while it is,
    each ``(module, NAME)`` of ``constants`` set to its value), the product, and the two crops
    (before, after) — largest change first."""
    products = SyntheticCatalog(4 * n_products, seed=9, size=(384, 384), staged_fraction=0.0)
    scored = []
    for item in products[:n_products]:
        try:
            staged = stage(item.image, store, mask=item.mask, k=3)
        except AdstageError:
            continue
        after = staged.candidates[0]
        if after.provenance["mode"] != "replace":
            continue
        saved = {key: getattr(*key) for key in constants or {}}
        try:
            for (module, name), value in (constants or {}).items():
                setattr(module, name, value)
            again = stage_candidate(staged.product, after.match, before)
        finally:
            for (module, name), value in saved.items():
                setattr(module, name, value)
        a, b = around(after.image, after.placement), around(again.image, again.placement)
        changed = float((np.abs(a.astype(np.int16) - b).max(axis=2) > level).mean())
        scored.append((changed, item, b, a))
    scored.sort(key=lambda t: -t[0])
    return scored


def write_before_after(
    out: Path,
    scored: list[tuple[float, Any, np.ndarray, np.ndarray]],
    rows: int,
    before: str,
    after: str,
) -> None:
    """The figure of :func:`before_after`'s first ``rows`` results: product | before | after,
    labelled ``before`` and ``after`` (the share of changed pixels appended)."""
    tiles = [
        [
            tile(item.image, item.category.split(" > ")[-1]),
            tile(b, before),
            tile(a, f"{after} ({changed:.0%} differ)"),
        ]
        for changed, item, b, a in scored[:rows]
    ]
    write_image(out, sheet(tiles))
    print(f"wrote {out} ({len(tiles)} rows of {len(scored)} products staged by replacement)")
