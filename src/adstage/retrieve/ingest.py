"""Catalog ingest: read → triage → segment → split into slots → embed → store.

The orchestration that fills a catalog (:class:`~adstage.catalog.store.Catalog`, which only
stores). Per image: decode it at a working size, triage it (staged scene or un-staged product
shot, :mod:`adstage.segment.triage`), segment it (or read its given masks), split the mask into
slots (:mod:`adstage.segment.slots`), embed each slot with every embedder of the catalog and add
the rows.

Ingest is incremental and resumable: items whose content hash is already in the catalog are
skipped, and rows are committed in batches, so a killed run loses at most its current batch and
a re-run completes the catalog without duplicate rows. A failed item (unreadable file, bad CSV
row) is recorded with its reason in the report and in the catalog's ``failures.jsonl``; the run
goes on.
"""

from __future__ import annotations

import csv
import io
import logging
import traceback
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

from adstage.catalog.store import Catalog, encode_mask, vector_column
from adstage.errors import AdstageError, InputError
from adstage.io.hashing import HASH_SIZE, dhash, sha256_bytes
from adstage.io.images import MaxPixels, read_image, read_image_reduced, read_mask
from adstage.retrieve.base import DEFAULT_EMBEDDER, Embedder, load_embedder
from adstage.segment.auto import Auto
from adstage.segment.base import SEGMENTERS, Segmenter
from adstage.segment.slots import DEFAULT_MIN_AREA, split_slots
from adstage.segment.triage import triage
from adstage.types import THRESHOLD

log = logging.getLogger(__name__)

GIVEN_MIN_AREA = 0.0005
"""A given mask of a staged image is split into regions of at least this share (specks dropped)."""


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


def open_or_create(path: str | Path, *, embedders: Sequence[str] = (DEFAULT_EMBEDDER,)) -> Catalog:
    """The catalog at ``path``, or a new one there with a vector column per embedder.

    An existing catalog keeps the embedders it was created with (``embedders`` is then unused).
    Creating one loads each embedder to learn its vector size, so missing weights fail here.
    """
    if Catalog.exists(path):
        return Catalog(path)
    names = list(embedders)
    if not names:
        raise InputError("embedders: expected at least one embedder name, got none")
    return Catalog.create(path, dims={name: load_embedder(name).dim for name in names})


@dataclass
class _Analysed:
    """One image, ready to embed: its rows (one per slot) and what the embedder sees."""

    rows: list[dict[str, Any]]
    image: NDArray[np.uint8]
    alphas: list[NDArray[np.float32]]


def ingest(
    catalog: Catalog,
    sources: Iterable[Source],
    *,
    batch_size: int = 32,
    segmenter: str = "auto",
    work_side: int | None = 512,
    workers: int = 2,
    min_slot_area: float = DEFAULT_MIN_AREA,
    max_pixels: MaxPixels = "default",
    on_item: Callable[[Source, str], None] | None = None,
) -> IngestReport:
    """Add ``sources`` not yet in ``catalog``; commit every ``batch_size`` items.

    Reading, triage, segmentation (with ``segmenter``) and slot splitting run on ``workers``
    threads while the catalog's embedders run on the calling thread. ``work_side``: images are
    decoded with their longer side at most this many pixels for that work (JPEG DCT scaling;
    embedders see 224–299 px); ``None``: full size. A segmented slot's mask is stored at that
    working size (upscaling it would add no detail; :meth:`~adstage.types.Match.mask` brings it
    to the image's size), a given mask at the image's size; boxes, centres and areas are in the
    image's own pixels. An item's slots are committed together, so a killed run never leaves
    half an item. ``max_pixels``: refuse images (and masks) whose header announces more pixels
    (see :func:`~adstage.io.images.read_image`). ``on_item(source, status)`` is called with ``"added"``, ``"skipped"`` or
    ``"failed"`` for each source.
    """
    if not isinstance(catalog, Catalog):
        raise InputError(
            "catalog: expected a Catalog (open_or_create(path, embedders=…) makes one), "
            f"got {type(catalog).__name__}"
        )
    if batch_size < 1:
        raise InputError(f"batch_size: expected at least 1, got {batch_size}")
    if workers < 1:
        raise InputError(f"workers: expected at least 1, got {workers}")
    if work_side is not None and work_side < 64:
        raise InputError(f"work_side: expected at least 64 pixels or None, got {work_side}")
    report = IngestReport()
    known = catalog.known_hashes()
    seg = SEGMENTERS.create(segmenter)
    models = _embedders(catalog)  # weights load here, before the threads start
    pending: list[_Analysed] = []
    window: deque[tuple[Source, Future[_Analysed]]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="adstage-ingest")

    def settle(source: Source, future: Future[_Analysed]) -> None:
        try:
            analysed = future.result()
        except Exception as exc:  # one image never stops the ingest; a bug keeps its traceback
            expected = isinstance(exc, AdstageError | OSError)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if not expected:
                reason = f"internal error: {type(exc).__name__}: {reason}"
            _fail(catalog, report, source, reason, on_item, exc=None if expected else exc)
            return
        pending.append(analysed)
        if on_item:
            on_item(source, "added")
        if len(pending) >= batch_size:
            _commit(catalog, models, pending, report)
            pending.clear()

    try:
        for source in sources:
            try:
                data = source.path.read_bytes()
            except OSError as exc:
                reason = f"cannot read file ({exc.strerror or exc})"
                _fail(catalog, report, source, reason, on_item)
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
                    pool.submit(
                        _analyse, source, data, digest, seg, work_side, min_slot_area, max_pixels
                    ),
                )
            )
            while len(window) > 4 * workers:
                settle(*window.popleft())
        while window:
            settle(*window.popleft())
        if pending:
            _commit(catalog, models, pending, report)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if report.added:
        catalog.update_index()
    return report


def _embedders(catalog: Catalog) -> dict[str, Embedder]:
    """The catalog's embedders, loaded, each checked against its column's vector size."""
    models = {name: load_embedder(name) for name in catalog.embedders}
    for name, model in models.items():
        if model.dim != catalog.dims[name]:
            raise InputError(
                f"catalog {catalog.path}: column {vector_column(name)} holds "
                f"{catalog.dims[name]}-d vectors but the {name} embedder makes {model.dim}-d ones"
            )
    return models


def _commit(
    catalog: Catalog, models: dict[str, Embedder], items: list[_Analysed], report: IngestReport
) -> None:
    """Embed every slot of ``items`` and add their rows in one transaction."""
    rows = [row for item in items for row in item.rows]
    images = [item.image for item in items for _ in item.rows]
    alphas = [alpha for item in items for alpha in item.alphas]
    for name, model in models.items():
        vectors = model.embed(images, alphas)
        for row, vec in zip(rows, vectors, strict=True):
            row[vector_column(name)] = vec.astype(np.float32)
    catalog.add(rows)  # every slot of every item in the batch, or none
    report.added += len(items)
    report.slots += len(rows)


def _fail(
    catalog: Catalog,
    report: IngestReport,
    source: Source,
    reason: str,
    on_item: Callable[[Source, str], None] | None,
    *,
    exc: BaseException | None = None,
) -> None:
    tb = "".join(traceback.format_exception(exc)) if exc is not None else None
    report.failed.append(catalog.record_failure(source.path, reason, traceback=tb))
    log.warning("%s: %s", source.path, reason)
    if on_item:
        on_item(source, "failed")


def _analyse(
    source: Source,
    data: bytes,
    digest: str,
    seg: Segmenter,
    work_side: int | None,
    min_slot_area: float,
    max_pixels: MaxPixels = "default",
) -> _Analysed:
    """Decode, triage, segment (or read the given masks) and split into slots. Runs on a worker."""
    if work_side is None:
        image = read_image(data, max_pixels=max_pixels)
        full = (image.shape[1], image.shape[0])
    else:
        image, full = read_image_reduced(data, work_side, max_pixels=max_pixels)
    verdict = triage(image)
    staged = verdict.staged if source.staged is None else source.staged
    work = (image.shape[1], image.shape[0])
    if source.masks:
        given = [
            read_mask(path, (full[1], full[0]), max_pixels=max_pixels) for path in source.masks
        ]
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


def _resize(alpha: NDArray[np.float32], size: tuple[int, int], method: int) -> NDArray[np.float32]:
    if (alpha.shape[1], alpha.shape[0]) == size:
        return alpha
    resized = np.asarray(cv2.resize(alpha, size, interpolation=method), np.float32)
    return np.clip(resized, 0.0, 1.0)  # area and cubic kernels overshoot 1 by a rounding error


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
    """A catalog row (all but the vectors): box, centre and area in the full image's pixels
    ``full`` (width, height), whatever size ``binary`` is stored at."""
    png = encode_mask(binary, name=str(source.path))
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
        "mask_png": png,
        "bbox": bbox,
        "center_of_mass": com,
        "area_fraction": float(ys.size) / float(binary.size),
        "created": datetime.now(UTC),
    }
