"""The catalog store: one LanceDB table of products, on disk, with one vector column per embedder.

Copy-paste staging starts by retrieving staged products similar to the input (Ku et al., AdKDD
2023, §5.3 step 1); a platform's catalog holds millions of them, so it lives in an embedded
on-disk database (LanceDB), not in memory. Rows hold what later stages need: the content hash,
category path, staged flag and score, the product mask (PNG bytes), its box, centre of mass and
area fraction, and the embeddings.

Ingest is incremental and resumable: items whose content hash is already in the table are
skipped, and rows are committed in batches, so a killed run loses at most its current batch and
a re-run completes the catalog without duplicate rows. A failed item (unreadable file, bad CSV
row) is recorded with its reason in the report and in ``failures.jsonl`` beside the table; the run
goes on.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.catalog import index as ann
from adstage.catalog.slots import DEFAULT_MIN_AREA, split_slots
from adstage.errors import AdstageError, BackendUnavailable, InputError
from adstage.io.hashing import HASH_SIZE, dhash, sha256_bytes
from adstage.types import THRESHOLD, Match

DEFAULT_RERANK_WEIGHT = 0.3
"""Weight of hole coverage against embedding similarity in the shape-aware re-rank."""

log = logging.getLogger(__name__)

TABLE = "items"


def vector_column(embedder: str) -> str:
    """The column that holds ``embedder``'s vectors: ``vec_`` + the name with ``-`` as ``_``."""
    return "vec_" + embedder.replace("-", "_")


@dataclass(frozen=True)
class Source:
    """One item to ingest: an image path and what the input said about it.

    ``masks``: given product masks, used as they are (no segmentation). Several masks make several
    slots; one mask of a staged image is split into its connected regions.
    """

    path: Path
    category: str = ""
    masks: tuple[Path, ...] = ()
    staged: bool | None = None


@dataclass
class IngestReport:
    added: int = 0
    skipped: int = 0
    slots: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "skipped": self.skipped,
            "slots": self.slots,
            "failed": self.failed,
        }


def sources_from_csv(path: Path) -> tuple[list[Source], list[dict[str, str]]]:
    """Items of a ``path,category[,mask_path[,staged]]`` CSV (paths relative to the CSV's folder).

    Rows that repeat an image path add its masks to the first row's item (one slot per mask,
    e.g. one row per product of a room). Returns the good items and, for each bad row,
    ``{"path", "error"}`` naming the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read labels CSV ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "path" not in reader.fieldnames:
        raise InputError(f"{path}: expected a header with a 'path' column, got {reader.fieldnames}")
    return _sources(path, ((f"{path}:{line}", row) for line, row in enumerate(reader, start=2)))


def sources_from_parquet(path: Path) -> tuple[list[Source], list[dict[str, str]]]:
    """Items of a Parquet file with the CSV's columns (``path`` required; ``staged`` may be a
    boolean column). Bad rows are named ``file:row N`` (1-based)."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise InputError(f"{path}: cannot read Parquet file ({str(exc).splitlines()[0]})") from exc
    if "path" not in table.column_names:
        raise InputError(f"{path}: expected a 'path' column, got {table.column_names}")
    rows = (
        (f"{path}:row {i}", {k: "" if v is None else str(v) for k, v in row.items()})
        for i, row in enumerate(table.to_pylist(), start=1)
    )
    return _sources(path, rows)


def sources_from_table(path: Path) -> tuple[list[Source], list[dict[str, str]]]:
    """A labels table by its suffix: ``.parquet`` / ``.pq``, otherwise CSV."""
    if Path(path).suffix.lower() in (".parquet", ".pq"):
        return sources_from_parquet(Path(path))
    return sources_from_csv(Path(path))


def _sources(
    path: Path, rows: Iterable[tuple[str, dict[str, Any]]]
) -> tuple[list[Source], list[dict[str, str]]]:
    base = path.parent
    items: dict[Path, Source] = {}
    bad: list[dict[str, str]] = []
    for where, row in rows:
        value = (row.get("path") or "").strip()
        if not value:
            bad.append({"path": where, "error": "empty 'path' field"})
            continue
        staged_text = (row.get("staged") or "").strip().lower()
        if staged_text not in ("", "0", "1", "true", "false"):
            bad.append(
                {"path": where, "error": f"'staged' must be 0/1/true/false, got {staged_text!r}"}
            )
            continue
        mask = (row.get("mask_path") or "").strip()
        image_path = base / value
        masks = (base / mask,) if mask else ()
        if image_path in items:
            first = items[image_path]
            items[image_path] = replace(first, masks=first.masks + masks)
            continue
        items[image_path] = Source(
            path=image_path,
            category=(row.get("category") or "").strip(),
            masks=masks,
            staged=None if staged_text == "" else staged_text in ("1", "true"),
        )
    return list(items.values()), bad


@dataclass
class _Analysed:
    """One image, ready to embed: its rows (one per slot) and what the embedder sees."""

    rows: list[dict[str, Any]]
    image: NDArray[np.uint8]
    alphas: list[NDArray[np.float32]]


SCHEMA_VERSION = 2


class Catalog:
    """A catalog in a directory. ``embedders`` are fixed when the catalog is created."""

    def __init__(self, path: str | Path, *, embedders: Sequence[str] = ("classical",)) -> None:
        try:
            import lancedb
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise BackendUnavailable(
                "the catalog needs lancedb: pip install 'adstage[catalog]'"
            ) from exc
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"catalog: {self.path} is a file, expected a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        self._db = lancedb.connect(str(self.path))
        self._embedder_cache: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._reader: ann.AsyncReader | None = None
        self._n_rows: int | None = None  # cached for queries; None after a write
        meta_path = self.path / "adstage-catalog.json"
        if TABLE in self._db.list_tables().tables:
            meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
            if meta.get("schema") != SCHEMA_VERSION:
                raise InputError(
                    f"catalog: {self.path} was written by another adstage version (schema "
                    f"{meta.get('schema', 1)}, this one reads {SCHEMA_VERSION}); ingest into a new folder"
                )
            self.table = self._db.open_table(TABLE)
            self.embedders = list(meta["embedders"])
        else:
            self.embedders = list(embedders)
            if not self.embedders:
                raise InputError("embedders: expected at least one embedder name, got none")
            dims = {name: self.embedder(name).dim for name in self.embedders}
            self.table = self._db.create_table(TABLE, schema=_schema(dims))
            from adstage.io.atomic import atomic_write_text

            atomic_write_text(
                meta_path,
                json.dumps({"schema": SCHEMA_VERSION, "embedders": self.embedders, "dims": dims}),
            )

    def __len__(self) -> int:
        return int(self.table.count_rows())

    @property
    def reader(self) -> ann.AsyncReader:
        """The table opened through LanceDB's async API, for queries (opened on first use)."""
        with self._lock:
            if self._reader is None:
                self._reader = ann.AsyncReader(str(self.path), TABLE)
            return self._reader

    def _written(self) -> None:
        """After a write through the sync handle: queries must see the new version."""
        self._n_rows = None
        if self._reader is not None:
            self._reader.refresh()

    def _query_rows(self) -> int:
        if self._n_rows is None:
            self._n_rows = self.reader.count_rows()
        return self._n_rows

    def embedder(self, name: str) -> Any:
        """The embedder ``name``, created once per catalog."""
        with self._lock:
            if name not in self._embedder_cache:
                from adstage.retrieve.base import EMBEDDERS

                self._embedder_cache[name] = EMBEDDERS.create(name)
            return self._embedder_cache[name]

    def known_hashes(self) -> set[str]:
        if len(self) == 0:
            return set()
        return set(self.columns(["sha256"]).column("sha256").to_pylist())

    def columns(self, names: Sequence[str]) -> Any:
        """All rows, only the columns ``names``, as a pyarrow table (masks and vectors stay on disk
        unless asked for)."""
        return self.table.search().select(list(names)).limit(None).to_arrow()

    def ingest(
        self,
        sources: Iterable[Source],
        *,
        batch_size: int = 32,
        segmenter: str = "auto",
        work_side: int | None = 512,
        workers: int = 2,
        min_slot_area: float = DEFAULT_MIN_AREA,
        on_item: Callable[[Source, str], None] | None = None,
    ) -> IngestReport:
        """Add ``sources`` not yet in the catalog; commit every ``batch_size`` items.

        Reading, triage, segmentation and slot splitting run on ``workers`` threads while the
        embedders run on the calling thread. ``work_side``: images are decoded with their longer
        side at most this many pixels for that work (JPEG DCT scaling; embedders see 224–299 px);
        stored masks, boxes and centres are in the full image's pixels. ``None``: full size.
        An item's slots are committed together, so a killed run never leaves half an item.
        """
        from adstage.segment import SEGMENTERS

        if batch_size < 1:
            raise InputError(f"batch_size: expected at least 1, got {batch_size}")
        if workers < 1:
            raise InputError(f"workers: expected at least 1, got {workers}")
        if work_side is not None and work_side < 64:
            raise InputError(f"work_side: expected at least 64 pixels or None, got {work_side}")
        report = IngestReport()
        known = self.known_hashes()
        seg = SEGMENTERS.create(segmenter)
        for name in self.embedders:
            self.embedder(name)  # load weights before the threads start
        pending: list[_Analysed] = []
        window: deque[tuple[Source, Future[_Analysed]]] = deque()
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="adstage-ingest")

        def settle(source: Source, future: Future[_Analysed]) -> None:
            try:
                analysed = future.result()
            except (AdstageError, OSError) as exc:
                self._fail(report, source, str(exc).splitlines()[0], on_item)
                return
            pending.append(analysed)
            if on_item:
                on_item(source, "added")
            if len(pending) >= batch_size:
                self._commit(pending, report)
                pending.clear()

        try:
            for source in sources:
                try:
                    data = source.path.read_bytes()
                except OSError as exc:
                    self._fail(report, source, f"cannot read file ({exc.strerror or exc})", on_item)
                    continue
                digest = sha256_bytes(data)
                if digest in known:
                    report.skipped += 1
                    if on_item:
                        on_item(source, "skipped")
                    continue
                known.add(digest)
                window.append(
                    (
                        source,
                        pool.submit(_analyse, source, data, digest, seg, work_side, min_slot_area),
                    )
                )
                while len(window) > 4 * workers:
                    settle(*window.popleft())
            while window:
                settle(*window.popleft())
            if pending:
                self._commit(pending, report)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if report.added:
            self.update_index()
        return report

    def update_index(self, *, rebuild: bool = False) -> dict[str, Any]:
        """Keep the ANN indexes in step with the table (see :mod:`adstage.catalog.index`).

        Below :data:`~adstage.catalog.index.INDEX_MIN_ROWS` rows nothing is built (exact search).
        From there: a column without an index gets one; new rows are added to an existing index
        (``optimize``, no retraining); once the table has grown to twice the size the index was
        trained on, or with ``rebuild``, the index is rebuilt so its partitions fit the data.
        Returns what was done per column.
        """
        n_rows = len(self)
        meta_path = self.path / "adstage-catalog.json"
        meta = json.loads(meta_path.read_text())
        trained = meta.get("index_trained_rows", {})
        done: dict[str, Any] = {}
        if n_rows < ann.INDEX_MIN_ROWS:
            return done
        indexed = {col for idx in self.table.list_indices() for col in idx.columns}
        optimized = False
        for name in self.embedders:
            column = vector_column(name)
            if rebuild or column not in indexed or n_rows >= 2 * trained.get(column, 0):
                params = ann.build_index(self.table, column, dim=self.embedder(name).dim)
                trained[column] = n_rows
                done[column] = {"built": params}
            elif not optimized:
                self.table.optimize()  # adds the new rows to every existing index
                optimized = True
                done[column] = {"optimized": True}
        from adstage.io.atomic import atomic_write_text

        atomic_write_text(meta_path, json.dumps(meta | {"index_trained_rows": trained}))
        self._written()
        log.info("catalog index: %s", done)
        return done

    def _commit(self, items: list[_Analysed], report: IngestReport) -> None:
        rows = [row for item in items for row in item.rows]
        images = [item.image for item in items for _ in item.rows]
        alphas = [alpha for item in items for alpha in item.alphas]
        for name in self.embedders:
            vectors = self.embedder(name).embed(images, alphas)
            for row, vec in zip(rows, vectors, strict=True):
                row[vector_column(name)] = vec.astype(np.float32)
        self.table.add(rows)  # one transaction: every slot of every item in the batch, or none
        self._written()
        report.added += len(items)
        report.slots += len(rows)

    def _fail(
        self, report: IngestReport, source: Source, reason: str, on_item: Callable[..., Any] | None
    ) -> None:
        entry = {"path": str(source.path), "error": reason}
        report.failed.append(entry)
        log.warning("%s: %s", source.path, reason)
        with open(self.path / "failures.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry | {"time": datetime.now(UTC).isoformat()}) + "\n")
        if on_item:
            on_item(source, "failed")

    def search(
        self,
        vector: NDArray[np.float32],
        *,
        k: int = 5,
        embedder: str | None = None,
        where: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The ``k`` rows nearest to ``vector`` by cosine, optionally filtered by a SQL ``where``.

        Each row gets ``score`` = cosine similarity. ``columns``: which columns to return
        (default: all but the vectors).
        """
        name = embedder or self.embedders[0]
        if name not in self.embedders:
            raise InputError(f"embedder {name!r} is not in this catalog; it has {self.embedders}")
        if k < 1:
            raise InputError(f"k: expected at least 1, got {k}")
        keep = list(columns or ROW_COLUMNS)
        found = self.reader.nearest(
            np.asarray(vector, np.float32),
            column=vector_column(name),
            k=k,
            n_rows=self._query_rows(),
            where=where,
            columns=keep,
        )
        rows = []
        for row in found.to_pylist():
            out = {key: row[key] for key in keep}
            out["score"] = 1.0 - float(row["_distance"])
            rows.append(out)
        return rows

    def retrieve(
        self,
        query: Any,
        *,
        k: int = 5,
        where: str | None = None,
        rerank: bool = False,
        rerank_weight: float = DEFAULT_RERANK_WEIGHT,
        mask: Any = None,
        embedder: str | None = None,
        segmenter: str = "auto",
        fit: str = "footprint",
    ) -> list[Match]:
        """The ``k`` catalog slots most similar to the product in ``query``.

        ``query``: a path, PIL image or RGB array (segmented with ``segmenter`` unless ``mask`` is
        given). ``where``: a SQL filter on the catalog's columns, e.g.
        ``"staged = true AND category LIKE 'IKEA > Chairs%'"``. Slots with an empty mask never
        match. ``rerank``: shape-aware re-rank — fetch ``max(5k, 20)`` nearest slots, align the
        query's cut-out onto each (scale by ``fit``, centre of mass, base line; see
        :mod:`adstage.composite.align`), and order by
        ``(1 − rerank_weight) · similarity + rerank_weight · coverage``, where coverage is the share
        of the slot the product covers (what it leaves uncovered must be inpainted).
        """
        from adstage.composite.align import FITS, hole_coverage
        from adstage.io.images import read_image
        from adstage.segment import SEGMENTERS
        from adstage.types import as_alpha, as_rgb

        if not 0.0 <= rerank_weight <= 1.0:
            raise InputError(f"rerank_weight: expected a value in [0, 1], got {rerank_weight}")
        if fit not in FITS:
            raise InputError(f"fit: expected one of {', '.join(FITS)}, got {fit!r}")
        if k < 1:
            raise InputError(f"k: expected at least 1, got {k}")
        image = read_image(query) if isinstance(query, str | Path) else as_rgb(query, name="query")
        if mask is None:
            alpha = SEGMENTERS.create(segmenter)(image).alpha
        else:
            alpha = as_alpha(mask, image.shape[:2], name="mask")
        product = alpha >= THRESHOLD
        if rerank and not product.any():
            raise InputError("query: no product found in the image, nothing to align for rerank")
        name = embedder or self.embedders[0]
        vector = self.embedder(name).embed([image], [alpha])[0]
        condition = "area_fraction > 0" + (f" AND ({where})" if where else "")
        fetch = max(5 * k, 20) if rerank else k
        rows = self.search(vector, k=fetch, embedder=name, where=condition)
        matches = []
        for row in rows:
            similarity = float(row["score"])
            coverage = None
            score = similarity
            if rerank:
                slot_mask = _decode_mask(row["mask_png"], row["id"])
                coverage = hole_coverage(product, slot_mask, fit=fit)  # type: ignore[arg-type]
                score = (1.0 - rerank_weight) * similarity + rerank_weight * coverage
            matches.append(_match(row, score, similarity, coverage))
        matches.sort(key=lambda m: -m.score)
        return matches[:k]


ROW_COLUMNS: tuple[str, ...] = (
    "id",
    "item",
    "slot",
    "uri",
    "sha256",
    "phash",
    "category",
    "staged",
    "staged_score",
    "width",
    "height",
    "mask_png",
    "bbox",
    "center_of_mass",
    "area_fraction",
    "created",
)


def _schema(dims: dict[str, int]) -> Any:
    import pyarrow as pa

    fields = [
        pa.field("id", pa.string()),  # item + "-" + slot
        pa.field("item", pa.string()),  # first 16 hex digits of the sha256
        pa.field("slot", pa.int32()),
        pa.field("uri", pa.string()),
        pa.field("sha256", pa.string()),
        pa.field("phash", pa.string()),  # 16×16 dHash (256 bits) as 64 hex digits
        pa.field("category", pa.string()),
        pa.field("staged", pa.bool_()),
        pa.field("staged_score", pa.float32()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("mask_png", pa.binary()),  # 8-bit PNG, 255 = product; full or working size
        pa.field("bbox", pa.list_(pa.int32(), 4)),
        pa.field("center_of_mass", pa.list_(pa.float32(), 2)),
        pa.field("area_fraction", pa.float32()),
        pa.field("created", pa.timestamp("ms", tz="UTC")),
    ]
    fields += [
        pa.field(vector_column(name), pa.list_(pa.float32(), dim)) for name, dim in dims.items()
    ]
    return pa.schema(fields)


GIVEN_MIN_AREA = 0.0005
"""A given mask of a staged image is split into regions of at least this share (specks dropped)."""


def _analyse(
    source: Source,
    data: bytes,
    digest: str,
    seg: Any,
    work_side: int | None,
    min_slot_area: float,
) -> _Analysed:
    """Decode, triage, segment (or read the given masks) and split into slots. Runs on a worker."""
    from adstage.io.images import read_image, read_image_reduced, read_mask
    from adstage.segment.auto import Auto
    from adstage.triage import triage

    if work_side is None:
        image = read_image(data)
        full = (image.shape[1], image.shape[0])
    else:
        image, full = read_image_reduced(data, work_side)
    verdict = triage(image)
    staged = verdict.staged if source.staged is None else source.staged
    work = (image.shape[1], image.shape[0])
    if source.masks:
        given = [read_mask(path, (full[1], full[0])) for path in source.masks]
        if len(given) == 1:
            full_alphas = split_slots(given[0], staged=staged, min_area=GIVEN_MIN_AREA)
        else:
            full_alphas = given
        alphas = [_resize(a, work, cv2.INTER_AREA) for a in full_alphas]
        binaries = [a >= THRESHOLD for a in full_alphas]
    else:
        if isinstance(seg, Auto):
            alpha = seg(image, triage_score=verdict.score).alpha
        else:
            alpha = seg(image).alpha
        alphas = split_slots(alpha, staged=staged, min_area=min_slot_area)
        # Kept at working size: a mask segmented at this size holds no more detail when upscaled,
        # and resizing, encoding and measuring it at full size cost ~15 ms per image.
        # Match.mask() brings it to the image's size when it is used.
        binaries = [a >= THRESHOLD for a in alphas]
    phash = f"{dhash(image, HASH_SIZE):064x}"
    rows = [
        _row(source, digest, slot, full, staged, verdict.score, binary, phash)
        for slot, binary in enumerate(binaries)
    ]
    return _Analysed(rows=rows, image=image, alphas=alphas)


def _decode_mask(png: bytes, row_id: str) -> NDArray[np.bool_]:
    decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    if decoded is None:
        raise AdstageError(f"catalog row {row_id}: its mask does not decode")
    return decoded >= 128


def _match(row: dict[str, Any], score: float, similarity: float, coverage: float | None) -> Match:
    return Match(
        id=row["id"],
        item=row["item"],
        slot=int(row["slot"]),
        uri=row["uri"],
        category=row["category"],
        staged=bool(row["staged"]),
        score=float(score),
        similarity=float(similarity),
        coverage=coverage,
        bbox=tuple(int(v) for v in row["bbox"]),  # type: ignore[arg-type]
        center_of_mass=tuple(float(v) for v in row["center_of_mass"]),  # type: ignore[arg-type]
        area_fraction=float(row["area_fraction"]),
        size=(int(row["width"]), int(row["height"])),
        mask_png=row["mask_png"],
    )


def _resize(alpha: NDArray[np.float32], size: tuple[int, int], method: int) -> NDArray[np.float32]:
    if (alpha.shape[1], alpha.shape[0]) == size:
        return alpha
    return np.asarray(cv2.resize(alpha, size, interpolation=method), np.float32)


def _row(
    source: Source,
    digest: str,
    slot: int,
    full: tuple[int, int],
    staged: bool,
    score: float,
    binary: NDArray[np.bool_],
    phash: str,
) -> dict[str, Any]:
    ok, png = cv2.imencode(".png", binary.astype(np.uint8) * 255)
    if not ok:  # pragma: no cover - encoding a uint8 mask does not fail
        raise AdstageError(f"{source.path}: could not encode the mask")
    ys, xs = np.nonzero(binary)
    w, h = full
    sx, sy = w / binary.shape[1], h / binary.shape[0]  # the mask may be stored at working size
    if ys.size:
        bbox = [
            int(np.floor(xs.min() * sx)),
            int(np.floor(ys.min() * sy)),
            min(w, int(np.ceil((xs.max() + 1) * sx))),
            min(h, int(np.ceil((ys.max() + 1) * sy))),
        ]
        com = [(float(xs.mean()) + 0.5) * sx, (float(ys.mean()) + 0.5) * sy]
    else:
        bbox, com = [0, 0, 0, 0], [w / 2.0, h / 2.0]
    return {
        "id": f"{digest[:16]}-{slot}",
        "item": digest[:16],
        "slot": slot,
        "uri": str(source.path),
        "sha256": digest,
        "phash": phash,
        "category": source.category,
        "staged": bool(staged),
        "staged_score": float(score),
        "width": int(w),
        "height": int(h),
        "mask_png": png.tobytes(),
        "bbox": bbox,
        "center_of_mass": com,
        "area_fraction": float(ys.size) / float(binary.size),
        "created": datetime.now(UTC),
    }
