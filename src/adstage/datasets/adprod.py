"""Build an AdProd-style data set (RefAdGen §3.2): triplets of ad image, product image and scene
description, each with ``variants`` dually augmented product images, for ``adstage train adgen``.

    adstage dataset build ../photos synthetic:200 -o ds/ --variants 5
    build_dataset(["../photos", "synthetic:200"], "ds/", BuildConfig(variants=5))

**Sources** (:func:`plan`), each spelled as one string:

- ``DIR``: a folder of staged photos. With a ``metadata.csv`` (or ``labels.csv``) the rows list the
  photos (``path``), their product masks (``mask_path``, optional) and labels (every other column:
  ``category``, ``room`` …); without one, every image of the folder tree, without masks.
- ``FILE.csv``: the same table anywhere; paths relative to its folder.
- ``catalog:DIR`` (or a folder holding ``adstage-catalog.json``): an adstage catalog's staged rows,
  one triplet per slot, its stored slot mask as the product mask.
- ``synthetic:N[:SEED]``: ``N`` staged items of :class:`~adstage.datasets.synthetic.SyntheticCatalog`
  (seed ``SEED``, default 0) with their ground-truth masks.
- an image file: that photo.

``where`` (``column=value``) keeps the table rows whose column has that value (a table without the
column is not filtered); ``limit`` keeps the first items of each source.

**Per photo** (:meth:`DatasetBuilder.build_one`): read (EXIF and ICC applied), shrink to
``max_side``; the filters below; the product mask (given, else ``segmenter``, named in the
manifest); the product on white, pixel-aligned with the ad (as released: the ad with its
background set to white); a description (:mod:`adstage.datasets.captions`); variants 0 (the
product itself) to ``variants - 1`` (:func:`adstage.datasets.augment.augment`, seeded by
:func:`item_seed`).

**Filters** (a filtered photo is recorded with its reason, not built, and skipped by a re-run):

- ``low-resolution``: the shorter side is below ``min_side`` pixels (before any shrinking);
- ``near-duplicate``: the ad's 256-bit dHash (:func:`adstage.io.hashing.dhash`, 16×16) is within
  ``duplicate_distance`` bits (default 12, under 5 %) of an ad already in the data set; the first
  one in source order is kept. Re-encoding and resizing change a dHash by a few bits; crops, flips
  and recolourings are not caught;
- ``text-or-watermark``: :func:`text_score` at least ``max_text`` (see there for the heuristic and
  its limits);
- ``empty-mask``, ``product-too-small``, ``product-too-large``: the mask is empty, or covers less
  than ``min_area`` (default 2 %) or more than ``max_area`` (default 85 %) of the photo.

Other problems (a missing file, an unreadable image, a mask of another shape that cannot be read)
are *failures*: recorded the same way, but retried by a re-run.

**Output** under ``DS/``: ``ads/<id>.png``, ``masks/<id>.png`` (the ad's product mask, 255 =
product), ``products/<id>-v<k>.png`` and ``product_masks/<id>-v<k>.png`` (variant 0's mask is
``masks/<id>.png``), ``items/<id>.json`` (one per finished photo, written last and atomically: the
record a re-run skips by), ``failures.jsonl`` (one line per filtered or failed photo) and
``manifest.parquet`` (:data:`MANIFEST_COLUMNS`; rebuilt from ``items/`` at the end of every run).
A killed run loses at most the photo in flight.

**Split**: ``test`` when the first 8 hex digits of ``sha256(triplet id)`` modulo 1000 are below
``1000 × test_fraction`` (default 10 %), so the variants of one ad share a split and a photo keeps
its split across runs and data sets.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.catalog.store import Catalog, decode_mask
from adstage.datasets.augment import Bounds, ViewRenderer, augment
from adstage.datasets.captions import CAPTIONERS, Captioner
from adstage.datasets.synthetic import SyntheticCatalog
from adstage.errors import InputError
from adstage.io.atomic import atomic_path, atomic_write_text
from adstage.io.hashing import HASH_SIZE, dhash, hamming
from adstage.io.images import iter_image_paths, read_image, read_mask, write_image, write_mask
from adstage.segment.base import SEGMENTERS, Segmenter
from adstage.types import RGB

__all__ = [
    "FAILURES",
    "MANIFEST",
    "MANIFEST_COLUMNS",
    "BuildConfig",
    "BuildReport",
    "DatasetBuilder",
    "Rejected",
    "SourceItem",
    "build_dataset",
    "item_seed",
    "plan",
    "read_dataset",
    "split_of",
    "text_score",
]

log = logging.getLogger(__name__)

MANIFEST = "manifest.parquet"
FAILURES = "failures.jsonl"
ITEMS = "items"
CATALOG_META = "adstage-catalog.json"

MANIFEST_COLUMNS: dict[str, str] = {
    "ad": "the ad image (path relative to DS)",
    "product": "this variant's product on white",
    "mask": "the ad's product mask: where the product is in the ad (the trainer's input mask)",
    "product_mask": "this variant's own mask (covers its non-white pixels)",
    "text": "the scene description",
    "triplet": "the photo's id (file stem + 10 hex digits of sha1 of its source key)",
    "variant": "0 = the product itself; odd = viewpoint, even = degradation",
    "augmentation": "JSON record of the variant's operations and their parameters",
    "split": "train or test (by a hash of the triplet id)",
    "source": "where the photo came from (a path, catalog row or synthetic item)",
    "category": "the source's category or room label ('' when none)",
    "segmenter": "the backend that made the mask ('given' for a given mask)",
    "captioner": "the caption backend",
    "width": "ad width in pixels",
    "height": "ad height in pixels",
    "area_fraction": "the product mask's share of the ad",
}
"""The manifest's columns, in order, and what each holds."""


class Rejected(InputError):
    """A photo a filter refused; ``filter`` names the filter (``low-resolution`` …)."""

    def __init__(self, filter: str, message: str) -> None:
        self.filter = filter
        super().__init__(f"{filter}: {message}")


@dataclass(frozen=True)
class BuildConfig:
    """What a build does; see the module docstring for each filter. ``segmenter`` and
    ``captioner`` are registry names; ``seed`` feeds every variant's seed (:func:`item_seed`)."""

    variants: int = 5
    min_side: int = 256
    max_side: int = 1024
    segmenter: str = "auto"
    captioner: str = "attributes"
    seed: int = 0
    min_area: float = 0.02
    max_area: float = 0.85
    duplicate_distance: int = 12
    max_text: float = 0.04
    test_fraction: float = 0.1
    where: tuple[str, ...] = ()
    limit: int | None = None
    bounds: Bounds = field(default_factory=Bounds)

    def __post_init__(self) -> None:
        def integer(name: str, low: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{name}: expected an integer ≥ {low}, got {value!r}")

        integer("variants", 1)
        integer("min_side", 1)
        integer("max_side", 8)
        integer("duplicate_distance", -1)
        integer("seed", 0)
        if self.limit is not None:
            integer("limit", 1)
        for name, high in (("min_area", 1.0), ("max_area", 1.0), ("max_text", 1.0)):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 <= value <= high
            ):
                raise InputError(f"{name}: expected a number in [0, {high}], got {value!r}")
        if self.min_area >= self.max_area:
            raise InputError(f"min_area ({self.min_area}) must be below max_area ({self.max_area})")
        if not 0 <= self.test_fraction < 1:
            raise InputError(f"test_fraction: expected [0, 1), got {self.test_fraction!r}")
        for rule in self.where:
            if "=" not in rule or not rule.split("=", 1)[0]:
                raise InputError(f"where: expected COLUMN=VALUE, got {rule!r}")


# ------------------------------------------------------------------------------------------------
# sources


@dataclass(frozen=True)
class SourceItem:
    """One photo to build: ``key`` (stable; the triplet id and the split derive from it),
    ``source`` (for the manifest), ``labels`` and ``read()``: ``(ad, mask or None)``."""

    key: str
    source: str
    labels: Mapping[str, str]
    read: Callable[[], tuple[RGB, NDArray[np.bool_] | None]]

    @property
    def triplet(self) -> str:
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(self.key).stem).strip("-")[:40] or "item"
        return f"{stem}-{hashlib.sha1(self.key.encode()).hexdigest()[:10]}"


def _read_files(
    image: Path, mask: Path | None
) -> Callable[[], tuple[RGB, NDArray[np.bool_] | None]]:
    def read() -> tuple[RGB, NDArray[np.bool_] | None]:
        ad = read_image(image, min_side=1)
        if mask is None:
            return ad, None
        return ad, read_mask(mask, resize_to=ad.shape[:2], min_side=1) >= 0.5

    return read


def _rules(where: Sequence[str]) -> list[tuple[str, str]]:
    return [(r.split("=", 1)[0], r.split("=", 1)[1]) for r in where]


def _table_items(table: Path, name: str, where: Sequence[str]) -> list[SourceItem]:
    try:
        with open(table, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{table}: not a readable CSV file ({exc})") from exc
    root = table.parent
    items = []
    for i, row in enumerate(rows):
        path = (row.get("path") or row.get("image") or "").strip()
        if not path:
            raise InputError(f"{table}: row {i} has no 'path'")
        if any(col in row and row[col] != value for col, value in _rules(where)):
            continue
        mask_cell = (row.get("mask_path") or row.get("mask") or "").strip()
        labels = {
            k: str(v)
            for k, v in row.items()
            if k not in ("path", "image", "mask_path", "mask") and v
        }
        image = root / path
        items.append(
            SourceItem(
                key=f"{name}/{path}",
                source=str(image),
                labels=labels,
                read=_read_files(image, root / mask_cell if mask_cell else None),
            )
        )
    return items


def _synthetic_items(spec: str) -> list[SourceItem]:
    parts = spec.split(":")
    try:
        n = int(parts[1])
        seed = int(parts[2]) if len(parts) > 2 else 0
        if len(parts) > 3 or n < 1 or seed < 0:
            raise ValueError(spec)
    except (ValueError, IndexError) as exc:
        raise InputError(f"source {spec!r}: expected synthetic:N[:SEED] (N ≥ 1, SEED ≥ 0)") from exc
    catalog = SyntheticCatalog(n, seed=seed, staged_fraction=1.0)

    def reader(i: int) -> Callable[[], tuple[RGB, NDArray[np.bool_] | None]]:
        def read() -> tuple[RGB, NDArray[np.bool_] | None]:
            item = catalog[i]
            return item.image, item.mask

        return read

    items = []
    for row in catalog.rows():
        items.append(
            SourceItem(
                key=f"synthetic-{seed}/{row['id']}",
                source=f"synthetic:{seed}:{row['index']}",
                labels={"category": str(row["category"]), "room": "room"},
                read=reader(int(row["index"])),
            )
        )
    return items


def _catalog_items(folder: Path) -> list[SourceItem]:
    store = Catalog.open(folder)
    if len(store) == 0:
        return []
    table = store.columns(["id", "uri", "category", "staged", "mask_png"]).to_pylist()
    items = []
    for row in table:
        if not row["staged"]:
            continue
        uri, png, row_id = Path(str(row["uri"])), bytes(row["mask_png"]), str(row["id"])

        def read(
            uri: Path = uri, png: bytes = png, row_id: str = row_id
        ) -> tuple[RGB, NDArray[np.bool_] | None]:
            ad = read_image(uri, min_side=1)
            mask = decode_mask(png, row_id)
            if mask.shape != ad.shape[:2]:
                h, w = ad.shape[:2]
                mask = (
                    cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
                )
            return ad, mask

        items.append(
            SourceItem(
                key=f"catalog/{row_id}",
                source=f"catalog:{folder}#{row_id}",
                labels={"category": str(row["category"] or "")},
                read=read,
            )
        )
    return items


def plan(spec: str, *, where: Sequence[str] = (), limit: int | None = None) -> list[SourceItem]:
    """The photos of one source ``spec`` (see the module docstring for the spellings).

    Raises :class:`InputError` for a source that does not exist or cannot be listed."""
    items: list[SourceItem]
    if spec.startswith("synthetic:"):
        items = _synthetic_items(spec)
    elif spec.startswith("catalog:"):
        items = _catalog_items(Path(spec[len("catalog:") :]).expanduser())
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise InputError(
                f"source {spec!r} does not exist (expected a folder, a CSV, an image, "
                "catalog:DIR or synthetic:N[:SEED])"
            )
        if path.is_dir() and (path / CATALOG_META).is_file():
            items = _catalog_items(path)
        elif path.is_dir():
            table = next(
                (path / n for n in ("metadata.csv", "labels.csv") if (path / n).is_file()), None
            )
            if table is not None:
                items = _table_items(table, path.resolve().name, where)
            else:
                items = [
                    SourceItem(
                        key=f"{path.resolve().name}/{p.relative_to(path).as_posix()}",
                        source=str(p),
                        labels={},
                        read=_read_files(p, None),
                    )
                    for p in iter_image_paths(path, recursive=True)
                ]
        elif path.suffix.lower() == ".csv":
            items = _table_items(path, path.resolve().parent.name, where)
        else:
            items = [SourceItem(path.name, str(path), {}, _read_files(path, None))]
    return items[:limit] if limit is not None else items


# ------------------------------------------------------------------------------------------------
# filters and seeds


def text_score(image: RGB) -> float:
    """How much of ``image`` looks like lines of text (0..1): a cheap heuristic for ad text,
    captions and watermarks.

    The image is greyed and resized to 512 px wide; morphological top-hat and black-hat (11×11)
    keep small light and small dark features that differ from their surroundings by at least 60
    grey levels; their connected components (light and dark apart) 4–40 px tall, at most 40 px wide, filling 10–90 % of their box are *glyphs*. A
    glyph is *in a text line* when at least four other glyphs of similar height (within a factor
    of 1.5) have their centres within half its height of its centre row and within four heights
    of its centre column. The score is the
    area of the boxes of glyphs in text lines over the image area.

    Limits: it finds dark or light text of ordinary size on a flat or busy background; it misses
    faint or semi-transparent watermarks, very large or tiny type and isolated logos; regular
    small patterns (tiles, book spines, keyboards, fabric prints) can score as text.
    """
    grey = cv2.cvtColor(np.asarray(image, np.uint8), cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    scale = 512 / w
    grey = cv2.resize(grey, (512, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (11, 11))
    parts = []
    for op in (cv2.MORPH_TOPHAT, cv2.MORPH_BLACKHAT):  # light strokes, then dark strokes
        strokes = (cv2.morphologyEx(grey, op, kernel) >= 60).astype(np.uint8)
        _n, _, stats, centroids = cv2.connectedComponentsWithStats(strokes, connectivity=8)
        parts.append(np.hstack([stats[1:], centroids[1:]]))
    found = np.vstack(parts)
    bw, bh, area = found[:, 2], found[:, 3], found[:, 4]
    fill = area / np.maximum(bw * bh, 1)
    glyph = (bh >= 4) & (bh <= 40) & (bw <= 40) & (fill >= 0.1) & (fill <= 0.9) & (area >= 6)
    if not glyph.any():
        return 0.0
    heights, boxes = bh[glyph].astype(np.float64), (bw * bh)[glyph].astype(np.float64)
    cx, cy = found[:, 5][glyph], found[:, 6][glyph]
    if len(cy) > 4000:  # a very busy photo: keep the score's cost bounded
        keep = np.argsort(-boxes)[:4000]
        heights, boxes, cx, cy = heights[keep], boxes[keep], cx[keep], cy[keep]
    same_line = (
        (np.abs(cy[:, None] - cy[None, :]) <= 0.5 * heights[:, None])
        & (np.abs(cx[:, None] - cx[None, :]) <= 4.0 * heights[:, None])
        & (np.abs(np.log(heights[:, None] / heights[None, :])) <= np.log(1.5))
    )
    in_text = same_line.sum(axis=1) >= 5  # itself and at least four neighbours on its line
    covered = float(boxes[in_text].sum())
    return covered / float(grey.shape[0] * grey.shape[1])


def item_seed(triplet: str, seed: int) -> int:
    """The seed of a photo's variants: 63 bits of ``sha256(f"{seed}:{triplet}")`` (variant ``k``
    draws from ``np.random.default_rng([item_seed, k])``)."""
    digest = hashlib.sha256(f"{seed}:{triplet}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def split_of(triplet: str, test_fraction: float = 0.1) -> str:
    """``test`` or ``train`` for a triplet id (see the module docstring)."""
    bucket = int(hashlib.sha256(triplet.encode()).hexdigest()[:8], 16) % 1000
    return "test" if bucket < round(1000 * test_fraction) else "train"


# ------------------------------------------------------------------------------------------------
# the builder


@dataclass
class BuildReport:
    """A run's counts: ``built`` (new triplets), ``skipped`` (finished before), ``filtered`` (by
    filter name), ``failed`` (errors), ``rows`` (manifest rows after the run)."""

    built: int = 0
    skipped: int = 0
    filtered: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    rows: int = 0
    manifest: str = ""

    def summary(self) -> dict[str, Any]:
        return asdict(self)


class DatasetBuilder:
    """Builds the photos of ``out`` one at a time (see the module docstring); :func:`build_dataset`
    runs it over sources. ``overwrite`` forgets the finished records of earlier runs."""

    def __init__(
        self,
        out: str | Path,
        config: BuildConfig | None = None,
        *,
        overwrite: bool = False,
        segmenter: Segmenter | None = None,
        captioner: Captioner | None = None,
        renderer: ViewRenderer | None = None,
    ) -> None:
        self.out = Path(out)
        self.config = config or BuildConfig()
        self._segmenter = segmenter
        self._captioner = captioner or CAPTIONERS.create(self.config.captioner)
        self.renderer = renderer
        (self.out / ITEMS).mkdir(parents=True, exist_ok=True)
        if overwrite:
            for old in (self.out / ITEMS).glob("*.json"):
                old.unlink()
        self.records: dict[str, dict[str, Any]] = {}
        for path in sorted((self.out / ITEMS).glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                log.warning("%s: unreadable item record; the photo will be built again", path)
                continue
            self.records[str(record.get("triplet", path.stem))] = record
        self._hashes: list[tuple[str, int]] = [
            (t, int(r["dhash"], 16)) for t, r in self.records.items() if r.get("status") == "ok"
        ]

    @property
    def segmenter(self) -> Segmenter:
        if self._segmenter is None:
            self._segmenter = SEGMENTERS.create(self.config.segmenter)
        return self._segmenter

    @property
    def captioner(self) -> Captioner:
        return self._captioner

    def finished(self, item: SourceItem) -> dict[str, Any] | None:
        """The record of an earlier run's finished (built or filtered) photo, or None."""
        return self.records.get(item.triplet)

    def _record(self, triplet: str, record: dict[str, Any]) -> None:
        atomic_write_text(self.out / ITEMS / f"{triplet}.json", json.dumps(record, indent=1))
        self.records[triplet] = record

    def reject(self, item: SourceItem, exc: Rejected) -> None:
        """Record a filtered photo: skipped by a re-run."""
        self._record(
            item.triplet,
            {
                "triplet": item.triplet,
                "status": "filtered",
                "filter": exc.filter,
                "reason": str(exc),
                "source": item.source,
            },
        )

    def record_failure(self, item: SourceItem, exc: BaseException) -> None:
        """Append a line to ``failures.jsonl`` (source, triplet, filter or error, reason)."""
        row = {
            "path": item.source,
            "triplet": item.triplet,
            "filter": exc.filter if isinstance(exc, Rejected) else None,
            "error": str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with open(self.out / FAILURES, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def _mask(self, ad: RGB, given: NDArray[np.bool_] | None) -> tuple[NDArray[np.bool_], str]:
        if given is not None:
            return np.asarray(given, bool), "given"
        result = self.segmenter(ad)
        return result.mask, result.backend

    def build_one(self, item: SourceItem) -> dict[str, Any]:
        """Build one photo: write its files and its record, return the record. Raises
        :class:`Rejected` for a filtered photo, another error for a failure (nothing recorded)."""
        cfg = self.config
        ad, given = item.read()
        h, w = ad.shape[:2]
        if min(h, w) < cfg.min_side:
            raise Rejected(
                "low-resolution", f"{w}×{h} px, shorter side below --min-side {cfg.min_side}"
            )
        if max(h, w) > cfg.max_side:
            s = cfg.max_side / max(h, w)
            size = (max(1, round(w * s)), max(1, round(h * s)))
            ad = np.asarray(cv2.resize(ad, size, interpolation=cv2.INTER_AREA), np.uint8)
            if given is not None:
                given = (
                    cv2.resize(given.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
                )
            h, w = ad.shape[:2]
        code = dhash(ad, HASH_SIZE)
        if cfg.duplicate_distance >= 0:
            for other, other_code in self._hashes:
                if other != item.triplet and hamming(code, other_code) <= cfg.duplicate_distance:
                    raise Rejected(
                        "near-duplicate",
                        f"dHash within {hamming(code, other_code)} bits of {other} "
                        f"(threshold {cfg.duplicate_distance})",
                    )
        score = text_score(ad)
        if score >= cfg.max_text:
            raise Rejected("text-or-watermark", f"text score {score:.3f} ≥ {cfg.max_text}")
        mask, backend = self._mask(ad, given)
        area = float(mask.mean())
        if area == 0:
            raise Rejected("empty-mask", f"the {backend} mask is empty")
        if area < cfg.min_area:
            raise Rejected("product-too-small", f"mask covers {area:.2%} < {cfg.min_area:.0%}")
        if area > cfg.max_area:
            raise Rejected("product-too-large", f"mask covers {area:.2%} > {cfg.max_area:.0%}")
        text = self.captioner(ad, mask, item.labels)
        triplet = item.triplet
        seed = item_seed(triplet, cfg.seed)
        ad_rel, mask_rel = f"ads/{triplet}.png", f"masks/{triplet}.png"
        write_image(self.out / ad_rel, ad)
        write_mask(self.out / mask_rel, mask)
        split = split_of(triplet, cfg.test_fraction)
        category = str(item.labels.get("category") or item.labels.get("room") or "")
        rows = []
        for k in range(cfg.variants):
            variant = augment(
                ad, mask, k, seed=[seed, k], bounds=cfg.bounds, renderer=self.renderer
            )
            product_rel = f"products/{triplet}-v{k}.png"
            write_image(self.out / product_rel, variant.image)
            product_mask_rel = mask_rel
            if k > 0:
                product_mask_rel = f"product_masks/{triplet}-v{k}.png"
                write_mask(self.out / product_mask_rel, variant.mask)
            rows.append(
                {
                    "ad": ad_rel,
                    "product": product_rel,
                    "mask": mask_rel,
                    "product_mask": product_mask_rel,
                    "text": text,
                    "triplet": triplet,
                    "variant": k,
                    "augmentation": json.dumps(variant.record, sort_keys=True),
                    "split": split,
                    "source": item.source,
                    "category": category,
                    "segmenter": backend,
                    "captioner": self.captioner.name,
                    "width": w,
                    "height": h,
                    "area_fraction": round(area, 5),
                }
            )
        record = {
            "triplet": triplet,
            "status": "ok",
            "source": item.source,
            "dhash": f"{code:064x}",
            "text_score": round(score, 5),
            "rows": rows,
        }
        self._record(triplet, record)
        self._hashes.append((triplet, code))
        return record

    def write_manifest(self) -> tuple[Path, int]:
        """Rebuild ``manifest.parquet`` from the finished records (sorted by triplet, variant);
        return its path and row count."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = [
            row
            for triplet in sorted(self.records)
            if self.records[triplet].get("status") == "ok"
            for row in self.records[triplet]["rows"]
        ]
        table = pa.Table.from_pylist(rows, schema=_schema(pa))
        target = self.out / MANIFEST
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp)
        return target, len(rows)


def _schema(pa: Any) -> Any:
    types = {
        "variant": pa.int32(),
        "width": pa.int32(),
        "height": pa.int32(),
        "area_fraction": pa.float64(),
    }
    return pa.schema([(name, types.get(name, pa.string())) for name in MANIFEST_COLUMNS])


def build_dataset(
    sources: Sequence[str],
    out: str | Path,
    config: BuildConfig | None = None,
    *,
    overwrite: bool = False,
    segmenter: Segmenter | None = None,
    captioner: Captioner | None = None,
    renderer: ViewRenderer | None = None,
    iterate: Callable[[list[SourceItem]], Iterable[SourceItem]] | None = None,
    on_item: Callable[[SourceItem, str, dict[str, Any] | BaseException], None] | None = None,
) -> BuildReport:
    """Build (or resume) the data set ``out`` from ``sources`` and rebuild its manifest.

    ``iterate`` wraps the item list (a progress bar); ``on_item(item, status, record or error)``
    hears each photo's outcome: ``built``, ``skipped``, ``filtered`` or ``failed``. One photo's
    error never stops the run. Raises :class:`InputError` for a source that cannot be listed."""
    config = config or BuildConfig()
    items: list[SourceItem] = []
    for spec in sources:
        items.extend(plan(spec, where=config.where, limit=config.limit))
    builder = DatasetBuilder(
        out,
        config,
        overwrite=overwrite,
        segmenter=segmenter,
        captioner=captioner,
        renderer=renderer,
    )
    report = BuildReport()
    seen: set[str] = set()
    for item in iterate(items) if iterate is not None else items:
        outcome: dict[str, Any] | BaseException
        if item.triplet in seen:
            continue  # the same photo listed twice
        seen.add(item.triplet)
        done = builder.finished(item)
        if done is not None:
            report.skipped += 1
            status, outcome = "skipped", done
        else:
            try:
                outcome = builder.build_one(item)
                report.built += 1
                status = "built"
            except Rejected as exc:
                builder.reject(item, exc)
                builder.record_failure(item, exc)
                report.filtered[exc.filter] = report.filtered.get(exc.filter, 0) + 1
                status, outcome = "filtered", exc
            except Exception as exc:  # one photo's failure, whatever it is, never stops the run
                log.debug("%s failed", item.source, exc_info=True)
                builder.record_failure(item, exc)
                report.failed += 1
                status, outcome = "failed", exc
        if on_item is not None:
            on_item(item, status, outcome)
    path, report.rows = builder.write_manifest()
    report.manifest = str(path)
    return report


def read_dataset(out: str | Path) -> list[dict[str, Any]]:
    """The manifest rows of a built data set (``DS/manifest.parquet``), as dicts."""
    import pyarrow.parquet as pq

    path = Path(out) / MANIFEST
    if not path.is_file():
        raise InputError(f"{out}: no {MANIFEST} (build it with `adstage dataset build`)")
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows
