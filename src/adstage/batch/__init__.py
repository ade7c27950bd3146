"""Batch jobs at scale: staging a product list, ingesting scene photos; resumable, local or Ray.

:func:`stage_batch` and :func:`ingest_batch` stream their items (:mod:`adstage.batch.items`),
skip those a manifest (:mod:`adstage.batch.manifest`) has done for the same content and config,
and run the rest through one :class:`~adstage.batch.runner.Work` callable on the engine asked
for (:mod:`adstage.batch.runner`: in-process, worker processes or Ray Data). Workers compute;
the driver alone writes outputs, catalog rows and the manifest. See ``docs/batch.md``.
"""

from __future__ import annotations

from adstage.batch.ingest import ingest_batch
from adstage.batch.items import Item, count_items, iter_items
from adstage.batch.manifest import read_manifest
from adstage.batch.runner import ENGINES, Summary
from adstage.batch.stage import stage_batch

__all__ = [
    "ENGINES",
    "Item",
    "Summary",
    "count_items",
    "ingest_batch",
    "iter_items",
    "read_manifest",
    "stage_batch",
]
