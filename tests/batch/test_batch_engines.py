"""Batch runs killed at random points resume to a complete, uncorrupted result; the engines
(in-process, worker processes, Ray Data) write the same bytes; batch ingest resumes."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from batch_shop import FAST, N_PRODUCTS, check_outputs, write_products

from adstage.batch import ingest_batch, iter_items, read_manifest, stage_batch
from adstage.batch.manifest import TIMING
from adstage.catalog.store import Catalog


def _without_timing(value: Any) -> Any:
    """A per-product manifest.json without its timing fields (``seconds``)."""
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value


_MS = re.compile(rb"<br>\d+ ms")
"""index.html's one timing field: each candidate's milliseconds."""


def _comparable(name: str, data: bytes) -> Any:
    """A file's content with only its timing fields normalised: manifest.json parsed without
    ``seconds``, index.html without its milliseconds, every other file its bytes."""
    if name == "manifest.json":
        return _without_timing(json.loads(data))
    if name == "index.html":
        return _MS.sub(b"<br># ms", data)
    return data


def _snapshot(out: Path) -> dict[str, Any]:
    """Per input: the manifest row less timing (and less ``files`` hashes of files that hold
    timing), and every file the row lists, compared by :func:`_comparable`."""
    found: dict[str, Any] = {}
    for row in read_manifest(out):
        files = {}
        if row["status"] == "done":
            folder = out / row["output"]
            assert sorted(p.name for p in folder.iterdir()) == sorted(row["files"])
            for name in row["files"]:
                files[name] = _comparable(name, (folder / name).read_bytes())
        kept = {k: v for k, v in row.items() if k not in (*TIMING, "files", "traceback")}
        kept["file_names"] = sorted(row["files"] or {})
        kept["untimed_sha256"] = {
            k: v
            for k, v in (row["files"] or {}).items()
            if k not in ("manifest.json", "index.html")
        }
        found[row["input"]] = (kept, files)
    return found


def _rows(out: Path) -> int:
    """Rows in ``out``'s manifest so far (0 before it exists)."""
    try:
        return sum(1 for _ in read_manifest(out))
    except sqlite3.Error:
        return 0


KILLS = max(1, int(os.environ.get("ADSTAGE_BATCH_KILLS", "2")))
"""Kills of :func:`test_killed_repeatedly_then_finished`: 2 in ``make test`` (each costs a
process start), 5 in ``make test-load``, which ``.ci/run`` also runs."""


def test_killed_repeatedly_then_finished(shop: Path, tmp_path: Path) -> None:
    """SIGKILL a batch run at seeded random moments ``KILLS`` times, then let one finish: every
    product has exactly one row and one folder, every file matches its recorded hash and
    decodes, nothing half-written is left."""
    root = tmp_path / "more"
    n = 30  # more than five kills can let through (each lets 0–2 products and 0.2 s pass)
    table = write_products(root, n, seed=11)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "adstage.cli", "batch", "stage", "-c", str(shop / "catalog")]
    command += ["--products", str(table), "-o", str(out), "-k", "1", "--inpainter", "telea"]
    command += ["--no-screen"]  # every product staged (a refused one fails in milliseconds)
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    rng = random.Random(0)
    interrupted = []
    for _ in range(KILLS):
        # a random point: after 0–2 more products are recorded, plus up to 0.2 s
        target = _rows(out) + rng.randint(0, 2)
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while process.poll() is None and _rows(out) < target:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.2))
        process.send_signal(signal.SIGKILL)
        process.wait()
        interrupted.append(_rows(out))
    assert interrupted[-1] < n, "the killed runs finished everything: nothing was tested"
    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr  # with --no-screen every product stages
    assert " 0 failed" in final.stdout, final.stdout
    rows = check_outputs(out)
    assert len(rows) == n and len({r["input"] for r in rows}) == n
    assert all(r["status"] == "done" for r in rows), [r["error"] for r in rows]
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"0 done, {n} skipped" in again.stdout


def test_local_processes_write_what_the_driver_writes(shop: Path, tmp_path: Path) -> None:
    items = list(iter_items(shop / "products.csv"))
    one = stage_batch(items, shop / "catalog", tmp_path / "one", **FAST)
    two = stage_batch(items, shop / "catalog", tmp_path / "two", workers=2, **FAST)
    reference = _snapshot(tmp_path / "one")
    assert len(reference) == N_PRODUCTS and one.done >= 1
    assert (two.done, two.failed) == (one.done, one.failed)
    assert _snapshot(tmp_path / "two") == reference
    check_outputs(tmp_path / "two")


@pytest.mark.long  # Ray's start-up takes about 15 s: `make test-load`, which CI runs
def test_ray_writes_what_the_driver_writes(shop: Path, tmp_path: Path) -> None:
    try:
        import ray.data  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"ray is not importable ({exc}); pip install 'adstage[batch]'")
    items = list(iter_items(shop / "products.csv"))
    one = stage_batch(items, shop / "catalog", tmp_path / "one", **FAST)
    reference = _snapshot(tmp_path / "one")
    assert len(reference) == N_PRODUCTS and one.done >= 1
    on_ray = stage_batch(items, shop / "catalog", tmp_path / "ray", engine="ray", workers=2, **FAST)
    assert (on_ray.done, on_ray.failed) == (one.done, one.failed)
    assert _snapshot(tmp_path / "ray") == reference
    check_outputs(tmp_path / "ray")


def test_batch_ingest_resumes_without_duplicate_rows(shop: Path, tmp_path: Path) -> None:
    scenes = shop / "scenes" / "labels.csv"
    catalog = tmp_path / "catalog"
    first = ingest_batch(iter_items(scenes), catalog, embedders=["classical"], batch_size=3)
    rows = len(Catalog(catalog))
    reference = len(Catalog(shop / "catalog"))
    assert first.done == 8 and first.failed == 0 and rows == reference
    manifest = list(read_manifest(catalog / "batch-manifest.sqlite"))
    assert len(manifest) == 8 and all(r["result"]["slots"] >= 1 for r in manifest)

    again = ingest_batch(iter_items(scenes), catalog, embedders=["classical"], workers=2)
    assert again.done == 0 and again.skipped == 8 and len(Catalog(catalog)) == rows
    # another config keys other manifest rows, but the catalog holds each image once
    other = ingest_batch(iter_items(scenes), catalog, work_side=256)
    assert other.done == 0 and other.skipped == 8 and len(Catalog(catalog)) == rows


def test_a_failed_catalog_commit_fails_every_item_it_held(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catalog.add raises once: the items of that transaction each get one failed row with the
    reason and a ``failed`` event (the CLI's failures.jsonl line), none is lost, and the next
    run adds them."""
    scenes = shop / "scenes" / "labels.csv"
    catalog = tmp_path / "catalog"
    real_add = Catalog.add
    calls = []

    def add_once_failing(self: Catalog, rows: Any) -> None:
        if rows:
            calls.append(len(rows))
        if len(calls) == 1 and rows:
            raise OSError(28, "No space left on device")
        real_add(self, rows)

    monkeypatch.setattr(Catalog, "add", add_once_failing)
    events: list[tuple[str, str]] = []
    first = ingest_batch(
        iter_items(scenes),
        catalog,
        embedders=["classical"],
        batch_size=3,
        on_event=lambda status, item, outcome: events.append((status, item.path)),
    )
    assert (first.done, first.failed, first.skipped) == (5, 3, 0)
    rows = list(read_manifest(catalog / "batch-manifest.sqlite"))
    assert len(rows) == 8 and len({r["input"] for r in rows}) == 8
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 3
    assert all("No space left on device" in r["error"] and r["traceback"] for r in failed)
    assert sorted(path for status, path in events if status == "failed") == sorted(
        r["path"] for r in failed
    )
    paths = {r["path"] for r in rows}
    assert len(events) == 8 and {path for _, path in events} == paths
    monkeypatch.undo()

    again = ingest_batch(iter_items(scenes), catalog, embedders=["classical"], batch_size=3)
    assert (again.done, again.failed, again.skipped) == (3, 0, 5)
    rows = list(read_manifest(catalog / "batch-manifest.sqlite"))
    assert len(rows) == 8 and all(r["status"] == "done" for r in rows)
    assert len(Catalog(catalog)) == len(Catalog(shop / "catalog"))
