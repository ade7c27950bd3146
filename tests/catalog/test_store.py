"""The LanceDB catalog: ingest, resume after a crash without duplicates, per-item failures, search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lancedb")

from adstage.catalog.store import Catalog, Source, sources_from_csv
from adstage.datasets.synthetic import SyntheticCatalog, write_catalog
from adstage.errors import InputError


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("syn")
    write_catalog(SyntheticCatalog(12, seed=2, size=(128, 128)), out)
    return out


def test_ingest_csv_with_given_masks_and_search(folder: Path, tmp_path: Path) -> None:
    sources, bad = sources_from_csv(folder / "labels.csv")
    assert not bad and len(sources) == 12
    cat = Catalog(tmp_path / "cat", embedders=["classical"])
    report = cat.ingest(sources, batch_size=5)
    assert (report.added, report.skipped, report.failed) == (12, 0, [])
    assert len(cat) == 12
    row = cat.table.to_arrow().to_pylist()[0]
    assert (
        row["category"].count(">") >= 1
        and len(row["bbox"]) == 4
        and row["mask_png"][:4] == b"\x89PNG"
    )
    # The item itself is its own nearest neighbour.
    from adstage.retrieve.base import EMBEDDERS

    item = SyntheticCatalog(12, seed=2, size=(128, 128))[3]
    vec = EMBEDDERS.create("classical").embed([item.image], [item.mask])[0]
    hits = cat.search(vec, k=3)
    assert hits[0]["category"] == item.category and hits[0]["score"] > 0.99
    staged_only = cat.search(vec, k=12, where="staged = true")
    assert staged_only and all(h["staged"] for h in staged_only)


def test_killed_ingest_resumes_without_duplicates(folder: Path, tmp_path: Path) -> None:
    sources, _ = sources_from_csv(folder / "labels.csv")

    class Killed(Exception):
        pass

    def kill_after_seven(source: Source, status: str) -> None:
        kill_after_seven.count += 1  # type: ignore[attr-defined]
        if kill_after_seven.count == 7:  # type: ignore[attr-defined]
            raise Killed

    kill_after_seven.count = 0  # type: ignore[attr-defined]
    cat = Catalog(tmp_path / "cat", embedders=["classical"])
    with pytest.raises(Killed):
        cat.ingest(sources, batch_size=3, on_item=kill_after_seven)
    partial = len(cat)
    assert 0 < partial < 12  # whole batches were committed before the crash
    again = Catalog(tmp_path / "cat").ingest(sources, batch_size=3)
    assert again.skipped == partial and again.added == 12 - partial
    hashes = Catalog(tmp_path / "cat").table.to_arrow().column("sha256").to_pylist()
    assert len(hashes) == 12 == len(set(hashes))


def test_bad_items_are_reported_and_the_run_completes(folder: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    csv_path = tmp_path / "labels.csv"
    good = sorted((folder / "images").iterdir())[:2]
    lines = ["path,category,mask_path,staged"]
    lines += [f"{p},Furniture > X,," for p in good]
    lines += [
        "broken.jpg,Furniture > X,,",
        "missing.jpg,Furniture > X,,",
        ",Furniture > X,,",
        "x.png,A,,maybe",
    ]
    csv_path.write_text("\n".join(lines) + "\n")
    sources, bad = sources_from_csv(csv_path)
    assert len(bad) == 2 and "empty 'path'" in bad[0]["error"] and "staged" in bad[1]["error"]
    cat = Catalog(tmp_path / "cat", embedders=["classical"])
    report = cat.ingest(sources, segmenter="solid-background")
    assert report.added == 2
    reasons = {Path(f["path"]).name: f["error"] for f in report.failed}
    assert set(reasons) == {"broken.jpg", "missing.jpg"}
    assert "not an image" in reasons["broken.jpg"] and "cannot read" in reasons["missing.jpg"]
    assert (tmp_path / "cat" / "failures.jsonl").read_text().count("\n") == 2


def test_bad_arguments(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "cat", embedders=["classical"])
    with pytest.raises(InputError, match="not in this catalog"):
        cat.search(np.zeros(cat.embedder("classical").dim, np.float32), embedder="inception-v3")
    with pytest.raises(InputError, match="k:"):
        cat.search(np.zeros(cat.embedder("classical").dim, np.float32), k=0)
    (tmp_path / "no-path.csv").write_text("file,category\na.jpg,x\n")
    with pytest.raises(InputError, match="'path' column"):
        sources_from_csv(tmp_path / "no-path.csv")


def test_sigkill_midway_then_rerun_gives_a_complete_catalog(folder: Path, tmp_path: Path) -> None:
    """A real kill (SIGKILL of a child process) in the middle of an ingest, then a re-run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cat = tmp_path / "cat"
    script = (
        "import sys, time\n"
        "from adstage.catalog.store import Catalog, sources_from_csv\n"
        "sources, _ = sources_from_csv(__import__('pathlib').Path(sys.argv[1]))\n"
        "def slow(source, status):\n"
        "    time.sleep(0.25)\n"
        "Catalog(sys.argv[2], embedders=['classical']).ingest(sources, batch_size=2, on_item=slow)\n"
    )
    env = dict(os.environ)
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(folder / "labels.csv"), str(cat)], env=env
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if (cat / "adstage-catalog.json").exists() and 2 <= len(Catalog(cat)) < 12:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the child never committed a partial catalog")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    partial = len(Catalog(cat))
    assert 2 <= partial < 12
    sources, _ = sources_from_csv(folder / "labels.csv")
    report = Catalog(cat).ingest(sources)
    hashes = Catalog(cat).table.to_arrow().column("sha256").to_pylist()
    assert report.failed == [] and len(hashes) == 12 == len(set(hashes))


def test_parquet_labels_like_csv(folder: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from adstage.catalog.store import sources_from_table

    csv_sources, _ = sources_from_csv(folder / "labels.csv")
    table = pa.table(
        {
            "path": [str(s.path.relative_to(folder)) for s in csv_sources] + [""],
            "category": [s.category for s in csv_sources] + ["X"],
            "mask_path": [str(s.masks[0].relative_to(folder)) for s in csv_sources] + [None],
            "staged": [bool(s.staged) for s in csv_sources] + [False],
        }
    )
    pq.write_table(table, folder / "labels.parquet")
    sources, bad = sources_from_table(folder / "labels.parquet")
    assert sources == csv_sources
    assert bad == [{"path": f"{folder / 'labels.parquet'}:row 13", "error": "empty 'path' field"}]
    (tmp_path / "x.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="cannot read Parquet"):
        sources_from_table(tmp_path / "x.parquet")


def test_catalog_builds_updates_and_rebuilds_its_index(
    folder: Path, tmp_path: Path, monkeypatch
) -> None:
    from adstage.catalog import index as ann
    from adstage.retrieve.base import EMBEDDERS

    monkeypatch.setattr(ann, "INDEX_MIN_ROWS", 8)
    sources, _ = sources_from_csv(folder / "labels.csv")
    cat = Catalog(tmp_path / "cat", embedders=["classical"])
    cat.ingest(sources[:5])
    assert list(cat.table.list_indices()) == []  # below the threshold: exact search
    cat.ingest(sources[5:9])
    assert [i.columns for i in cat.table.list_indices()] == [["vec_classical"]]
    meta = (tmp_path / "cat" / "adstage-catalog.json").read_text()
    assert '"index_trained_rows": {"vec_classical": 9}' in meta
    done = cat.ingest(sources[9:11]) and cat.update_index()
    assert done == {"vec_classical": {"optimized": True}}
    # Indexed search finds what exact search finds on this small table.
    item = SyntheticCatalog(12, seed=2, size=(128, 128))[3]
    vec = EMBEDDERS.create("classical").embed([item.image], [item.mask])[0]
    hits = cat.search(vec, k=3)
    assert hits[0]["category"] == item.category and hits[0]["score"] > 0.99
    staged = cat.search(vec, k=3, where="staged = true")
    assert all(h["staged"] for h in staged)
    rebuilt = cat.update_index(rebuild=True)
    assert "built" in rebuilt["vec_classical"]


def test_queries_see_rows_ingested_after_the_first_query(folder: Path, tmp_path: Path) -> None:
    sources, _ = sources_from_csv(folder / "labels.csv")
    cat = Catalog(tmp_path / "cat", embedders=["classical"])
    cat.ingest(sources[:4])
    from adstage.retrieve.base import EMBEDDERS

    item = SyntheticCatalog(12, seed=2, size=(128, 128))[9]
    vec = EMBEDDERS.create("classical").embed([item.image], [item.mask])[0]
    before = cat.search(vec, k=12)
    assert len(before) == 4 and before[0]["score"] < 0.99  # item 9 is not in yet
    cat.ingest(sources)
    after = cat.search(vec, k=12)
    assert len(after) == 12 and after[0]["score"] > 0.99
    # A second handle on the same folder sees them too.
    assert len(Catalog(tmp_path / "cat").search(vec, k=20)) == 12
