"""The catalog store: one LanceDB table of product slots, on disk, with one vector column per embedder.

Copy-paste staging starts by retrieving staged products similar to the input (Ku et al., AdKDD
2023, §5.3 step 1); a platform's catalog holds millions of them, so it lives in an embedded
on-disk database (LanceDB), not in memory. A row is one slot of one image: the content hash,
category path, staged flag and score, the slot's mask (PNG bytes), its box, centre of mass and
area fraction in the image's own pixels, and one vector per embedder.

This module is storage only: it keeps rows, the table and its schema, the ANN indexes
(:mod:`adstage.catalog.index`) and the failure log, and searches by a vector it is given. It knows
no model: the vector columns and their sizes (``dims``) are fixed when a catalog is created.
What computes a row (segment → embed) is :mod:`adstage.retrieve.ingest`; search by image and the
shape-aware re-rank are :mod:`adstage.retrieve.search`.

Opening never creates: :class:`Catalog` (``Catalog(path)`` or :meth:`Catalog.open`) reads an
existing catalog and raises :class:`~adstage.errors.InputError` when there is none;
:meth:`Catalog.create` makes a new one (ingest does, through
:func:`adstage.retrieve.ingest.open_or_create`). Rows are added in
committed batches (:meth:`Catalog.add`: one transaction each), so a killed ingest loses at most
its current batch.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.catalog import index as ann
from adstage.errors import AdstageError, BackendUnavailable, InputError
from adstage.io.atomic import atomic_write_text
from adstage.types import Match

log = logging.getLogger(__name__)

TABLE = "items"
META = "adstage-catalog.json"
"""The catalog's own record beside the table: schema version, embedders, dims, index state."""
FAILURES = "failures.jsonl"
"""One JSON line per item that could not be ingested: path, reason, time."""
SCHEMA_VERSION = 2

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
"""Every column but the vectors, in schema order."""


def vector_column(embedder: str) -> str:
    """The column that holds ``embedder``'s vectors: ``vec_`` + the name with ``-`` as ``_``."""
    return "vec_" + embedder.replace("-", "_")


def _lancedb() -> Any:
    try:
        import lancedb
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise BackendUnavailable(
            "the catalog needs lancedb: pip install 'adstage[catalog]'"
        ) from exc
    return lancedb


def _not_a_catalog(path: Path) -> InputError:
    return InputError(
        f"catalog: no adstage catalog at {path}; create one with "
        f"`adstage ingest IMAGES… --catalog {path}`"
    )


class Catalog:
    """An existing catalog in the folder ``path``, opened for reading and adding rows.

    ``Catalog(path)`` never creates anything: a folder without a catalog raises
    :class:`~adstage.errors.InputError` naming the path. ``embedders``: the names whose vectors
    the rows hold, first = the default for search; ``dims``: each one's vector size.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"catalog: {self.path} is a file, expected a folder")
        if not self.path.is_dir():  # lancedb.connect would create the folder
            raise _not_a_catalog(self.path)
        self._db = _lancedb().connect(str(self.path))
        if TABLE not in self._db.list_tables().tables:
            raise _not_a_catalog(self.path)
        meta = self._meta()
        if meta.get("schema") != SCHEMA_VERSION:
            raise InputError(
                f"catalog: {self.path} was written by another adstage version (schema "
                f"{meta.get('schema', 1)}, this one reads {SCHEMA_VERSION}); ingest into a new folder"
            )
        self.table = self._db.open_table(TABLE)
        self.embedders: list[str] = list(meta["embedders"])
        self.dims: dict[str, int] = {name: int(meta["dims"][name]) for name in self.embedders}
        self._lock = threading.Lock()
        self._reader: ann.AsyncReader | None = None
        self._n_rows: int | None = None  # cached for queries; None after a write

    @classmethod
    def open(cls, path: str | Path) -> Catalog:
        """The catalog at ``path``; :class:`~adstage.errors.InputError` when there is none."""
        return cls(path)

    @classmethod
    def create(cls, path: str | Path, *, dims: Mapping[str, int]) -> Catalog:
        """A new, empty catalog at ``path`` (the folder may exist but must hold no catalog).

        ``dims``: embedder name → vector size, in order (the first is the default for search).
        """
        path = Path(path)
        dims = _check_dims(dims)
        if path.exists() and not path.is_dir():
            raise InputError(f"catalog: {path} is a file, expected a folder")
        path.mkdir(parents=True, exist_ok=True)
        db = _lancedb().connect(str(path))
        if TABLE in db.list_tables().tables:
            raise InputError(f"catalog: {path} already holds a catalog; open it with Catalog(path)")
        db.create_table(TABLE, schema=_schema(dims))
        meta = {"schema": SCHEMA_VERSION, "embedders": list(dims), "dims": dims}
        atomic_write_text(path / META, json.dumps(meta))
        return cls(path)

    @staticmethod
    def exists(path: str | Path) -> bool:
        """Whether ``path`` holds a catalog (its ``adstage-catalog.json``), without opening it."""
        return (Path(path) / META).is_file()

    def _meta(self) -> dict[str, Any]:
        meta_path = self.path / META
        return json.loads(meta_path.read_text()) if meta_path.exists() else {}

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

    def known_hashes(self) -> set[str]:
        """The sha256 of every image in the catalog."""
        if len(self) == 0:
            return set()
        return set(self.columns(["sha256"]).column("sha256").to_pylist())

    def columns(self, names: Sequence[str]) -> Any:
        """All rows, only the columns ``names``, as a pyarrow table (masks and vectors stay on disk
        unless asked for)."""
        return self.table.search().select(list(names)).limit(None).to_arrow()

    def item_slots(self, item: str) -> list[Match]:
        """Every slot of the catalog image ``item`` (the 16 hex digits of its sha256), as
        matches with score 0: the objects of one scene."""
        if not re.fullmatch(r"[0-9a-f]{16}", item):
            raise InputError(f"item: expected 16 lowercase hex digits, got {item!r}")
        rows = (
            self.table.search()
            .where(f"item = '{item}'")
            .select(list(ROW_COLUMNS))
            .limit(None)
            .to_arrow()
            .to_pylist()
        )
        return [match_from_row(row | {"score": 0.0}) for row in rows]

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Add ``rows`` (every column of the schema, one vector per embedder) in one transaction:
        all of them or, if the process dies, none."""
        if not rows:
            return
        self.table.add(list(rows))
        self._written()

    def record_failure(
        self, path: str | Path, reason: str, *, traceback: str | None = None
    ) -> dict[str, str]:
        """Append ``{"path", "error", "time"}`` (and ``traceback`` when given: an unexpected
        exception) to ``failures.jsonl``; return ``{"path", "error"}``."""
        entry = {"path": str(path), "error": reason}
        row: dict[str, str] = entry | {"time": datetime.now(UTC).isoformat()}
        if traceback is not None:
            row["traceback"] = traceback
        with open(self.path / FAILURES, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        return entry

    def update_index(self, *, rebuild: bool = False) -> dict[str, Any]:
        """Keep the ANN indexes in step with the table (see :mod:`adstage.catalog.index`).

        Below :data:`~adstage.catalog.index.INDEX_MIN_ROWS` rows nothing is built (exact search).
        From there: a column without an index gets one; new rows are added to an existing index
        (``optimize``, no retraining); once the table has grown to twice the size the index was
        trained on, or with ``rebuild``, the index is rebuilt so its partitions fit the data.
        Returns what was done per column.
        """
        n_rows = len(self)
        meta = self._meta()
        trained = meta.get("index_trained_rows", {})
        done: dict[str, Any] = {}
        if n_rows < ann.INDEX_MIN_ROWS:
            return done
        indexed = {col for idx in self.table.list_indices() for col in idx.columns}
        optimized = False
        for name in self.embedders:
            column = vector_column(name)
            if rebuild or column not in indexed or n_rows >= 2 * trained.get(column, 0):
                params = ann.build_index(self.table, column, dim=self.dims[name])
                trained[column] = n_rows
                done[column] = {"built": params}
            elif not optimized:
                self.table.optimize()  # adds the new rows to every existing index
                optimized = True
                done[column] = {"optimized": True}
        atomic_write_text(self.path / META, json.dumps(meta | {"index_trained_rows": trained}))
        self._written()
        log.info("catalog index: %s", done)
        return done

    def embedder_name(self, embedder: str | None = None) -> str:
        """``embedder`` (default: the catalog's first), checked to be one of the catalog's."""
        name = embedder or self.embedders[0]
        if name not in self.embedders:
            raise InputError(f"embedder {name!r} is not in this catalog; it has {self.embedders}")
        return name

    def search(
        self,
        vector: NDArray[np.float32],
        *,
        k: int = 5,
        embedder: str | None = None,
        where: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The ``k`` rows nearest to ``vector`` in ``embedder``'s column (default: the first) by
        cosine, optionally filtered by a SQL ``where`` on the other columns.

        Each row gets ``score`` = cosine similarity. ``columns``: which columns to return
        (default: all but the vectors).
        """
        name = self.embedder_name(embedder)
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


def _check_dims(dims: Mapping[str, int]) -> dict[str, int]:
    dims = dict(dims)
    if not dims:
        raise InputError("dims: expected at least one embedder name → vector size, got none")
    for name, dim in dims.items():
        if not isinstance(name, str) or not name:
            raise InputError(f"dims: expected embedder names, got {name!r}")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise InputError(f"dims[{name!r}]: expected a positive integer, got {dim!r}")
    return dims


def _schema(dims: Mapping[str, int]) -> Any:
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
        pa.field("width", pa.int32()),  # the image's own size, whatever size the mask is
        pa.field("height", pa.int32()),
        # 8-bit PNG, 255 = product: a given mask at the image's size, a segmented one at the
        # ingest working size (Match.mask() brings it to the image's size)
        pa.field("mask_png", pa.binary()),
        pa.field("bbox", pa.list_(pa.int32(), 4)),  # x0, y0, x1, y1 in the image's pixels
        pa.field("center_of_mass", pa.list_(pa.float32(), 2)),  # x, y in the image's pixels
        pa.field("area_fraction", pa.float32()),
        pa.field("created", pa.timestamp("ms", tz="UTC")),
    ]
    fields += [
        pa.field(vector_column(name), pa.list_(pa.float32(), dim)) for name, dim in dims.items()
    ]
    return pa.schema(fields)


def encode_mask(binary: NDArray[np.bool_], *, name: str = "mask") -> bytes:
    """``binary`` as the 8-bit PNG a row stores (255 = product)."""
    ok, png = cv2.imencode(".png", np.asarray(binary, bool).astype(np.uint8) * 255)
    if not ok:  # pragma: no cover - encoding a uint8 mask does not fail
        raise AdstageError(f"{name}: could not encode the mask")
    return bytes(png.tobytes())


def decode_mask(png: bytes, row_id: str) -> NDArray[np.bool_]:
    """A row's stored mask as ``bool``, at the size it was stored (see ``mask_png``)."""
    decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    if decoded is None:
        raise AdstageError(f"catalog row {row_id}: its mask does not decode")
    return decoded >= 128


def match_from_row(
    row: Mapping[str, Any],
    *,
    score: float | None = None,
    similarity: float | None = None,
    coverage: float | None = None,
) -> Match:
    """A search result row (:meth:`Catalog.search`) as a :class:`~adstage.types.Match`.

    ``similarity`` defaults to the row's ``score`` (the cosine), ``score`` to ``similarity``.
    """
    similarity = float(row["score"]) if similarity is None else float(similarity)
    return Match(
        id=row["id"],
        item=row["item"],
        slot=int(row["slot"]),
        uri=row["uri"],
        category=row["category"],
        staged=bool(row["staged"]),
        score=similarity if score is None else float(score),
        similarity=similarity,
        coverage=coverage,
        bbox=tuple(int(v) for v in row["bbox"]),  # type: ignore[arg-type]
        center_of_mass=tuple(float(v) for v in row["center_of_mass"]),  # type: ignore[arg-type]
        area_fraction=float(row["area_fraction"]),
        size=(int(row["width"]), int(row["height"])),
        mask_png=row["mask_png"],
    )
