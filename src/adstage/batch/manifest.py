"""The batch manifest: one SQLite row per finished item, keyed by input hash and config hash.

``manifest.sqlite`` (only the driver writes it) has two tables:

``configs``
    ``config`` (its hash), ``command``, ``body`` (the config as JSON), ``created``.
``items``
    ``key`` (``<input hash>:<config hash>``, the primary key), ``input`` (sha256 of the item's
    content, :func:`adstage.batch.items.input_hash`), ``config``, ``status`` (``done`` or
    ``failed``), ``path``, ``masks`` (JSON list), ``id``, ``category``, ``ref`` (where the list
    named it), ``output`` (the item's folder, relative to the manifest's folder, or empty),
    ``files`` (JSON: file name → sha256 of its bytes), ``result`` (JSON: what the work reports),
    ``error``, ``error_type``, ``traceback`` and the timing fields ``seconds`` and ``finished``.

A row is written after the item's outputs, in its own transaction, so a row says its outputs are
complete; a run killed at any point loses at most the items in flight, which the next run does
again. A ``failed`` row is retried by the next run and replaced when its item finishes. SQLite
keeps the lookups on disk: a million rows cost no memory (the WAL journal survives a killed
process; keep the file on a local disk, not NFS).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "manifest.sqlite"

COLUMNS = (
    "key",
    "input",
    "config",
    "status",
    "path",
    "masks",
    "id",
    "category",
    "ref",
    "output",
    "files",
    "result",
    "error",
    "error_type",
    "traceback",
    "seconds",
    "finished",
)
"""The ``items`` table's columns, in order."""

TIMING = ("seconds", "finished")
"""The columns that differ between two runs of the same work."""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS configs (
    config TEXT PRIMARY KEY, command TEXT NOT NULL, body TEXT NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    {", ".join(f"{c} {'REAL' if c == 'seconds' else 'TEXT'}" for c in COLUMNS)},
    PRIMARY KEY (key)
);
CREATE INDEX IF NOT EXISTS items_path ON items (path, config);
"""


def config_hash(config: dict[str, Any]) -> str:
    """16 hex digits of the sha256 of ``config`` as canonical JSON (sorted keys)."""
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Row:
    """One ``items`` row (see the module docstring)."""

    key: str
    input: str
    config: str
    status: str
    path: str
    masks: list[str] = field(default_factory=list)
    id: str = ""
    category: str = ""
    ref: str = ""
    output: str = ""
    files: dict[str, str] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_type: str = ""
    traceback: str = ""
    seconds: float = 0.0
    finished: str = ""

    def values(self) -> tuple[Any, ...]:
        out = []
        for name in COLUMNS:
            value = getattr(self, name)
            out.append(
                json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value
            )
        return tuple(out)


class Manifest:
    """The manifest at ``path`` (created if missing). Use from one thread, the driver's."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_config(self, config: str, command: str, body: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO configs VALUES (?, ?, ?, ?)",
            (config, command, json.dumps(body, sort_keys=True, default=str), _now()),
        )

    def is_done(self, key: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM items WHERE key = ? AND status = 'done'", (key,)
        ).fetchone()
        return found is not None

    def record(self, row: Row) -> None:
        """Write ``row`` (replacing its key's); a ``done`` row also drops the ``failed`` rows of
        the same path and config (an unreadable file that has since been fixed)."""
        row.finished = row.finished or _now()
        marks = ", ".join("?" for _ in COLUMNS)
        with self._db:
            self._db.execute("BEGIN")
            if row.status == "done":
                self._db.execute(
                    "DELETE FROM items WHERE path = ? AND config = ? AND status = 'failed'",
                    (row.path, row.config),
                )
            self._db.execute(f"INSERT OR REPLACE INTO items VALUES ({marks})", row.values())

    def forget(self, key: str) -> None:
        """Delete ``key``'s row, if any: before its outputs are replaced, so no ``done`` row
        ever names a folder that is being swapped (the next run does the item again)."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM items WHERE key = ?", (key,))

    def counts(self, config: str | None = None) -> dict[str, int]:
        """Rows per status (of one config, or all)."""
        query = "SELECT status, count(*) FROM items"
        args: tuple[str, ...] = ()
        if config is not None:
            query += " WHERE config = ?"
            args = (config,)
        return {s: int(n) for s, n in self._db.execute(query + " GROUP BY status", args)}


def open_read_only(path: Path) -> sqlite3.Connection:
    """The SQLite file at ``path`` opened read-only (a URI built from the resolved path, so a
    ``?`` or ``#`` in a folder's name is part of the path, not of the URI's query)."""
    return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)


def read_manifest(path: str | Path, *, config: str | None = None) -> Iterator[dict[str, Any]]:
    """The ``items`` rows of the manifest at ``path`` (a file, or the folder holding
    ``manifest.sqlite``), JSON columns decoded, in key order."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    db = open_read_only(path)
    try:
        query = f"SELECT {', '.join(COLUMNS)} FROM items"
        args: tuple[str, ...] = ()
        if config is not None:
            query += " WHERE config = ?"
            args = (config,)
        for values in db.execute(query + " ORDER BY key", args):
            row = dict(zip(COLUMNS, values, strict=True))
            for name in ("masks", "files", "result"):
                row[name] = json.loads(row[name]) if row[name] else None
            yield row
    finally:
        db.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
