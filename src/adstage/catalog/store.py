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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import AdstageError, BackendUnavailable, InputError
from adstage.io.hashing import HASH_SIZE, dhash, sha256_bytes
from adstage.types import Cutout

log = logging.getLogger(__name__)

TABLE = "items"


def vector_column(embedder: str) -> str:
    """The column that holds ``embedder``'s vectors: ``vec_`` + the name with ``-`` as ``_``."""
    return "vec_" + embedder.replace("-", "_")


@dataclass(frozen=True)
class Source:
    """One item to ingest: an image path and what the input said about it."""

    path: Path
    category: str = ""
    mask_path: Path | None = None
    staged: bool | None = None


@dataclass
class IngestReport:
    added: int = 0
    skipped: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "skipped": self.skipped, "failed": self.failed}


def sources_from_csv(path: Path) -> tuple[list[Source], list[dict[str, str]]]:
    """Rows of a ``path,category[,mask_path[,staged]]`` CSV (paths relative to the CSV's folder).

    Returns the good rows and, for each bad one, ``{"path", "error"}`` naming the line.
    """
    base = path.parent
    good: list[Source] = []
    bad: list[dict[str, str]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read labels CSV ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "path" not in reader.fieldnames:
        raise InputError(f"{path}: expected a header with a 'path' column, got {reader.fieldnames}")
    for line, row in enumerate(reader, start=2):
        value = (row.get("path") or "").strip()
        if not value:
            bad.append({"path": f"{path}:{line}", "error": "empty 'path' field"})
            continue
        staged_text = (row.get("staged") or "").strip().lower()
        if staged_text not in ("", "0", "1", "true", "false"):
            bad.append(
                {
                    "path": f"{path}:{line}",
                    "error": f"'staged' must be 0/1/true/false, got {staged_text!r}",
                }
            )
            continue
        mask = (row.get("mask_path") or "").strip()
        good.append(
            Source(
                path=base / value,
                category=(row.get("category") or "").strip(),
                mask_path=base / mask if mask else None,
                staged=None if staged_text == "" else staged_text in ("1", "true"),
            )
        )
    return good, bad


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
        self.path.mkdir(parents=True, exist_ok=True)
        self._db = lancedb.connect(str(self.path))
        self._embedder_cache: dict[str, Any] = {}
        meta_path = self.path / "adstage-catalog.json"
        if TABLE in self._db.list_tables().tables:
            self.table = self._db.open_table(TABLE)
            meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
            self.embedders = list(meta.get("embedders", embedders))
        else:
            self.embedders = list(embedders)
            dims = {name: self.embedder(name).dim for name in self.embedders}
            self.table = self._db.create_table(TABLE, schema=_schema(dims))
            from adstage.io.atomic import atomic_write_text

            atomic_write_text(meta_path, json.dumps({"embedders": self.embedders, "dims": dims}))

    def __len__(self) -> int:
        return int(self.table.count_rows())

    def embedder(self, name: str) -> Any:
        """The embedder ``name``, created once per catalog."""
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
        on_item: Callable[[Source, str], None] | None = None,
    ) -> IngestReport:
        """Add ``sources`` not yet in the catalog; commit every ``batch_size`` rows."""
        from adstage.io.images import read_image, read_mask
        from adstage.segment import SEGMENTERS
        from adstage.triage import triage

        if batch_size < 1:
            raise InputError(f"batch_size: expected at least 1, got {batch_size}")
        report = IngestReport()
        known = self.known_hashes()
        seg = SEGMENTERS.create(segmenter)
        pending: list[dict[str, Any]] = []
        images: list[NDArray[np.uint8]] = []
        masks: list[NDArray[np.float32]] = []
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
            try:
                image = read_image(data)
                verdict = triage(image)
                if source.mask_path is not None:
                    alpha = read_mask(source.mask_path, image.shape[:2])
                else:
                    alpha = seg(image).alpha
                cut = Cutout.from_alpha(image, alpha)
            except (AdstageError, OSError) as exc:
                self._fail(report, source, str(exc).splitlines()[0], on_item)
                continue
            known.add(digest)
            staged = verdict.staged if source.staged is None else source.staged
            pending.append(_row(source, digest, image, staged, verdict.score, alpha, cut))
            images.append(image)
            masks.append(alpha)
            if on_item:
                on_item(source, "added")
            if len(pending) >= batch_size:
                self._commit(pending, images, masks)
                report.added += len(pending)
                pending, images, masks = [], [], []
        if pending:
            self._commit(pending, images, masks)
            report.added += len(pending)
        return report

    def _commit(self, rows: list[dict[str, Any]], images: list, masks: list) -> None:
        for name in self.embedders:
            vectors = self.embedder(name).embed(images, masks)
            for row, vec in zip(rows, vectors, strict=True):
                row[vector_column(name)] = vec.astype(np.float32)
        self.table.add(rows)

    def _fail(
        self, report: IngestReport, source: Source, reason: str, on_item: Callable | None
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
    ) -> list[dict[str, Any]]:
        """The ``k`` rows nearest to ``vector`` by cosine, optionally filtered by a SQL ``where``."""
        name = embedder or self.embedders[0]
        if name not in self.embedders:
            raise InputError(f"embedder {name!r} is not in this catalog; it has {self.embedders}")
        if k < 1:
            raise InputError(f"k: expected at least 1, got {k}")
        query = self.table.search(
            np.asarray(vector, np.float32), vector_column_name=vector_column(name)
        )
        query = query.metric("cosine")
        if where:
            query = query.where(where, prefilter=True)
        rows = query.limit(k).to_list()
        for row in rows:
            row["score"] = 1.0 - float(row.pop("_distance"))
        return rows


def _schema(dims: dict[str, int]) -> Any:
    import pyarrow as pa

    fields = [
        pa.field("id", pa.string()),
        pa.field("uri", pa.string()),
        pa.field("sha256", pa.string()),
        pa.field("phash", pa.string()),  # 16×16 dHash (256 bits) as 64 hex digits
        pa.field("category", pa.string()),
        pa.field("staged", pa.bool_()),
        pa.field("staged_score", pa.float32()),
        pa.field("mask_png", pa.binary()),
        pa.field("bbox", pa.list_(pa.int32(), 4)),
        pa.field("center_of_mass", pa.list_(pa.float32(), 2)),
        pa.field("area_fraction", pa.float32()),
        pa.field("created", pa.timestamp("ms", tz="UTC")),
    ]
    fields += [
        pa.field(vector_column(name), pa.list_(pa.float32(), dim)) for name, dim in dims.items()
    ]
    return pa.schema(fields)


def _row(
    source: Source,
    digest: str,
    image: NDArray[np.uint8],
    staged: bool,
    score: float,
    alpha: NDArray[np.float32],
    cut: Cutout,
) -> dict[str, Any]:
    ok, png = cv2.imencode(".png", (alpha >= 0.5).astype(np.uint8) * 255)
    if not ok:  # pragma: no cover - encoding a uint8 mask does not fail
        raise AdstageError(f"{source.path}: could not encode the mask")
    return {
        "id": digest[:16],
        "uri": str(source.path),
        "sha256": digest,
        "phash": f"{dhash(image, HASH_SIZE):064x}",
        "category": source.category,
        "staged": bool(staged),
        "staged_score": float(score),
        "mask_png": png.tobytes(),
        "bbox": list(cut.bbox),
        "center_of_mass": [float(v) for v in cut.center_of_mass],
        "area_fraction": float(cut.area_fraction),
        "created": datetime.now(UTC),
    }
