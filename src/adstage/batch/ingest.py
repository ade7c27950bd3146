"""Batch ingest: scene photos into a catalog at scale, resumable, on any engine.

Workers decode, triage, segment (or read the given masks), split into slots and embed
(:mod:`adstage.retrieve.ingest`'s steps, models loaded once per worker); they send the catalog
rows back and the driver alone adds them, ``batch_size`` items per transaction, then writes
their rows of ``CATALOG/batch-manifest.sqlite``. The catalog holds one entry per image content:
an image already in it is skipped whatever the config (ingest into a new catalog to apply other
settings), so a run killed between a commit and its manifest rows adds nothing twice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adstage.batch.items import Item
from adstage.batch.manifest import Manifest
from adstage.batch.runner import (
    DEFAULT_CHUNK,
    Event,
    Outcome,
    Summary,
    Task,
    Work,
    failure,
    run,
)
from adstage.catalog.store import Catalog, vector_column
from adstage.errors import InputError
from adstage.io.hashing import sha256_bytes
from adstage.io.images import MaxPixels
from adstage.retrieve.base import DEFAULT_EMBEDDER, Embedder, load_embedder
from adstage.retrieve.ingest import Source, _analyse, open_or_create
from adstage.segment.base import SEGMENTERS, Segmenter
from adstage.segment.slots import DEFAULT_MIN_AREA

log = logging.getLogger(__name__)

MANIFEST = "batch-manifest.sqlite"
"""The batch manifest's name inside the catalog's folder."""


class IngestWork(Work):
    """Analyse and embed one image: the catalog rows of its slots (see the module docstring)."""

    command = "ingest"

    def __init__(
        self,
        embedders: Sequence[str],
        *,
        segmenter: str = "auto",
        work_side: int | None = 512,
        min_slot_area: float = DEFAULT_MIN_AREA,
        staged: bool | None = None,
        max_pixels: MaxPixels = "default",
    ) -> None:
        if work_side is not None and work_side < 64:
            raise InputError(f"work_side: expected at least 64 pixels or None, got {work_side}")
        SEGMENTERS.resolve(segmenter)  # an unknown name fails here, listing the known ones
        self.embedders = tuple(embedders)
        self.segmenter = segmenter
        self.work_side = work_side
        self.min_slot_area = min_slot_area
        self.staged = staged
        self.max_pixels = max_pixels
        self._models: dict[str, Embedder] = {}
        self._segment: Segmenter | None = None

    def config(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "embedders": list(self.embedders),
            "segmenter": self.segmenter,
            "work_side": self.work_side,
            "min_slot_area": self.min_slot_area,
            "staged": self.staged,
        }

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_models": {}, "_segment": None}

    def setup(self) -> None:
        self._segment = SEGMENTERS.create(self.segmenter)
        self._models = {name: load_embedder(name) for name in self.embedders}

    def _ready(self) -> Segmenter:
        if self._segment is None:
            self.setup()
        if self._segment is None:  # pragma: no cover - setup sets it
            raise RuntimeError("IngestWork.setup did not load a segmenter")
        return self._segment

    def run(self, task: Task) -> tuple[dict[str, bytes], dict[str, Any], Any]:
        segment = self._ready()
        item = task.item
        data = Path(item.path).read_bytes()
        source = Source(
            path=Path(item.path),
            category=item.category,
            masks=tuple(Path(m) for m in item.masks),
            staged=item.staged if item.staged is not None else self.staged,
        )
        analysed = _analyse(
            source,
            data,
            sha256_bytes(data),
            segment,
            self.work_side,
            self.min_slot_area,
            self.max_pixels,
        )
        images = [analysed.image] * len(analysed.rows)
        for name, model in self._models.items():
            if not analysed.rows:
                break
            vectors = model.embed(images, analysed.alphas)
            for row, vec in zip(analysed.rows, vectors, strict=True):
                row[vector_column(name)] = np.asarray(vec, np.float32)
        staged = bool(analysed.rows[0]["staged"]) if analysed.rows else False
        return {}, {"slots": len(analysed.rows), "staged": staged}, analysed.rows


class CatalogSink:
    """Adds the rows of finished items to ``catalog``, ``batch_size`` items per transaction."""

    def __init__(self, catalog: Catalog, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise InputError(f"batch_size: expected at least 1, got {batch_size}")
        self.catalog = catalog
        self.batch_size = batch_size
        self.known = catalog.known_hashes()
        self.held: list[Outcome] = []
        self.added = 0

    def claim(self, task: Task) -> bool:
        if task.sha256 in self.known:
            return False
        self.known.add(task.sha256)
        return True

    def accept(self, outcome: Outcome) -> list[tuple[Outcome, str]]:
        self.held.append(outcome)
        return self._commit() if len(self.held) >= self.batch_size else []

    def flush(self) -> list[tuple[Outcome, str]]:
        committed = self._commit()
        if self.added:
            self.catalog.update_index()
            self.added = 0
        return committed

    def _commit(self) -> list[tuple[Outcome, str]]:
        """Add the held items' rows in one transaction; if it raises, every held item fails with
        its reason (none of their rows is in the catalog, so the next run does them again)."""
        held, self.held = self.held, []
        rows = [row for outcome in held for row in outcome.payload]
        try:
            self.catalog.add(rows)  # every slot of every held item, or none
        except Exception as exc:  # a failed commit (a full disk) fails the items it held
            log.warning("catalog commit of %d items failed: %s", len(held), exc)
            for outcome in held:
                self.known.discard(outcome.task.sha256)  # a later copy in this run may try again
            return [(failure(outcome.task, exc), "") for outcome in held]
        self.added += len(held)
        return [(outcome, "") for outcome in held]


def ingest_batch(
    items: Iterable[Item],
    catalog: str | os.PathLike[str],
    *,
    embedders: Sequence[str] = (DEFAULT_EMBEDDER,),
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
    chunk: int = DEFAULT_CHUNK,
    batch_size: int = 32,
    overwrite: bool = False,
    on_event: Event | None = None,
    **options: Any,
) -> Summary:
    """Ingest ``items`` into the catalog at ``catalog`` (created with ``embedders`` if missing;
    an existing one keeps its own). ``options``: :class:`IngestWork`'s (``segmenter``,
    ``work_side``, ``min_slot_area``, ``staged``, ``max_pixels``)."""
    store = open_or_create(Path(catalog), embedders=embedders)
    work = IngestWork(store.embedders, **options)
    sink = CatalogSink(store, batch_size)
    with Manifest(Path(catalog) / MANIFEST) as manifest:
        return run(
            items,
            work,
            sink,
            manifest,
            engine=engine,
            workers=workers,
            address=address,
            chunk=chunk,
            overwrite=overwrite,
            on_event=on_event,
        )
