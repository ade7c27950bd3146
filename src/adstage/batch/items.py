"""The items of a batch, streamed from a folder, a CSV or a Parquet file, and their content hash.

Nothing here holds the whole list: a folder is walked with :func:`os.scandir` (in directory
order), a CSV read row by row and a Parquet file batch by batch, so a list of a million products
costs the memory of one batch. Tables have a ``path`` column (relative paths are relative to the
table's folder) and optional ``mask`` (or ``mask_path``), ``category``, ``id``, ``staged`` and
``kind`` (or ``product_type``: what the product is, for staging's checks, see
:mod:`adstage.stage.scale`) columns. Consecutive rows of one path are one item with several
masks (an ingest's room with one mask per product). A row without a path is an item with an ``error``: recorded as failed, never
sent to a worker.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from adstage.catalog.store import Catalog
from adstage.errors import InputError
from adstage.io.hashing import sha256_bytes
from adstage.io.images import IMAGE_SUFFIXES
from adstage.weights import sha256_file

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
"""The product lists a batch reads (anything else must be a folder of images)."""

_CHUNK = 4096
"""Parquet rows read at a time."""


@dataclass(frozen=True)
class Item:
    """One input of a batch: an image ``path`` and what its list said about it.

    ``ref`` names where it came from (``products.csv:12``) for error lines; ``error`` is set for a
    bad row (no path, a bad ``staged`` value). ``staged``: ``None`` unless the list said.
    """

    path: str
    masks: tuple[str, ...] = ()
    category: str = ""
    id: str = ""
    staged: bool | None = None
    ref: str = ""
    error: str = ""
    kind: str = ""


def iter_items(source: str | os.PathLike[str], *, recursive: bool = False) -> Iterator[Item]:
    """The items of ``source``: a folder of images, a ``.csv`` or a ``.parquet`` / ``.pq`` file."""
    path = Path(source)
    if path.is_dir():
        return _merged(_folder(path, recursive=recursive))
    if not path.is_file():
        raise InputError(f"products: {path} is neither a folder nor a file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _merged(_csv_rows(path))
    if suffix in (".parquet", ".pq"):
        return _merged(_parquet_rows(path))
    raise InputError(
        f"products: {path}: expected a folder or a {', '.join(TABLE_SUFFIXES)} file, "
        f"got {suffix or 'no suffix'}"
    )


def catalog_items(catalog: str | os.PathLike[str]) -> tuple[int, Iterator[Item]]:
    """The catalog's own un-staged images (``staged = false``), one item each, and how many: what
    ``adstage batch stage`` stages when no ``--products`` list is given."""
    store = Catalog(catalog)
    if len(store) == 0:
        return 0, iter(())
    table = store.columns(["item", "uri", "category", "staged"]).to_pylist()
    rows = {row["item"]: row for row in table if not row["staged"]}  # one slot per un-staged item
    items = [
        Item(path=row["uri"], category=row["category"] or "", id=row["item"], ref=f"catalog:{item}")
        for item, row in sorted(rows.items())
    ]
    return len(items), iter(items)


def count_items(source: str | os.PathLike[str], *, recursive: bool = False) -> int:
    """How many rows (or images) ``source`` lists, read cheaply (a Parquet file's footer, a CSV's
    lines, a folder's names): the total of a progress bar. Rows merged by :func:`iter_items`
    count once each, so this is an upper bound."""
    path = Path(source)
    if path.is_dir():
        return sum(1 for _ in _folder(path, recursive=recursive))
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with open(path, "rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(0, lines - 1)


def _folder(root: Path, *, recursive: bool) -> Iterator[Item]:
    stack = [root]
    while stack:
        directory = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if recursive:
                        stack.append(Path(entry.path))
                elif Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                    yield Item(path=entry.path, ref=entry.path)


def _csv_rows(path: Path) -> Iterator[Item]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "path" not in reader.fieldnames:
            raise InputError(
                f"{path}: expected a header with a 'path' column, got {reader.fieldnames}"
            )
        for line, row in enumerate(reader, start=2):
            yield _item(path.parent, f"{path}:{line}", row)


def _parquet_rows(path: Path) -> Iterator[Item]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise InputError(f"{path}: cannot read Parquet file ({str(exc).splitlines()[0]})") from exc
    names = table.schema_arrow.names
    if "path" not in names:
        raise InputError(f"{path}: expected a 'path' column, got {names}")
    columns = ("path", "mask", "mask_path", "category", "id", "staged", "kind", "product_type")
    wanted = [c for c in columns if c in names]
    n = 0
    for batch in table.iter_batches(batch_size=_CHUNK, columns=wanted):
        for row in batch.to_pylist():
            n += 1
            yield _item(path.parent, f"{path}:row {n}", row)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _item(base: Path, ref: str, row: dict[str, Any]) -> Item:
    value = _text(row.get("path"))
    if not value:
        return Item(path="", ref=ref, error="empty 'path' field")
    mask = _text(row.get("mask")) or _text(row.get("mask_path"))
    staged_text = _text(row.get("staged")).lower()
    if staged_text not in ("", "0", "1", "true", "false"):
        return Item(
            path=str(base / value),
            ref=ref,
            error=f"'staged' must be 0/1/true/false, got {staged_text!r}",
        )
    return Item(
        path=str(base / value),
        masks=(str(base / mask),) if mask else (),
        category=_text(row.get("category")),
        id=_text(row.get("id")),
        staged=None if staged_text == "" else staged_text in ("1", "true"),
        ref=ref,
        kind=_text(row.get("kind")) or _text(row.get("product_type")),
    )


def _merged(items: Iterable[Item]) -> Iterator[Item]:
    """Consecutive good items of one path become one, with their masks in order."""
    held: Item | None = None
    for item in items:
        if held is not None and not item.error and not held.error and item.path == held.path:
            held = replace(held, masks=held.masks + item.masks)
            continue
        if held is not None:
            yield held
        held = item
    if held is not None:
        yield held


def input_hash(item: Item) -> tuple[str, str]:
    """``(input hash, image sha256)`` of ``item``: the image's sha256, or with masks the sha256 of
    the image's and each mask's sha256 — content only, so a renamed file keeps its hash. Raises
    ``OSError`` when a file cannot be read. A ``kind`` is part of the input: a product whose kind
    changed is staged again."""
    image = sha256_file(item.path)
    if not item.masks and not item.kind:
        return image, image
    parts = [image, *(sha256_file(mask) for mask in item.masks)]
    if item.kind:
        parts.append("kind=" + item.kind)
    return sha256_bytes(":".join(parts).encode()), image
