"""Catalog ingest: segment → embed → store, resume after a crash without duplicates, per-item
failures, given masks as slots, masks kept at the working size, index upkeep."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("lancedb")

from adstage.catalog import index as ann
from adstage.catalog.store import Catalog
from adstage.datasets.synthetic import SyntheticCatalog, write_catalog
from adstage.errors import InputError
from adstage.retrieve.base import EMBEDDERS
from adstage.retrieve.ingest import (
    Source,
    ingest,
    open_or_create,
    sources_from_csv,
    sources_from_table,
)
from adstage.retrieve.search import retrieve


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("syn")
    write_catalog(SyntheticCatalog(12, seed=2, size=(128, 128)), out)
    return out


def _classical(path: Path) -> Catalog:
    return open_or_create(path, embedders=["classical"])


def _query_vector(index: int) -> np.ndarray:
    item = SyntheticCatalog(12, seed=2, size=(128, 128))[index]
    return EMBEDDERS.create("classical").embed([item.image], [item.mask])[0]


def test_ingest_csv_with_given_masks_and_search(folder: Path, tmp_path: Path) -> None:
    sources, bad = sources_from_csv(folder / "labels.csv")
    assert not bad and len(sources) == 12
    cat = _classical(tmp_path / "cat")
    report = ingest(cat, sources, batch_size=5)
    assert (report.added, report.skipped, report.failed) == (12, 0, [])
    assert len(cat) == 12
    row = cat.table.to_arrow().to_pylist()[0]
    assert (
        row["category"].count(">") >= 1
        and len(row["bbox"]) == 4
        and row["mask_png"][:4] == b"\x89PNG"
    )
    # The item itself is its own nearest neighbour.
    item = SyntheticCatalog(12, seed=2, size=(128, 128))[3]
    hits = cat.search(_query_vector(3), k=3)
    assert hits[0]["category"] == item.category and hits[0]["score"] > 0.99
    staged_only = cat.search(_query_vector(3), k=12, where="staged = true")
    assert staged_only and all(h["staged"] for h in staged_only)


def test_open_or_create_keeps_an_existing_catalogs_embedders(tmp_path: Path) -> None:
    created = _classical(tmp_path / "cat")
    assert created.embedders == ["classical"]
    assert created.dims == {"classical": EMBEDDERS.create("classical").dim}
    # Re-opening names no model: the catalog says which embedders it holds.
    again = open_or_create(tmp_path / "cat", embedders=["inception-v3"])
    assert again.embedders == ["classical"]
    with pytest.raises(InputError, match="embedders"):
        open_or_create(tmp_path / "other", embedders=[])
    assert not (tmp_path / "other").exists()
    with pytest.raises(InputError, match="expected a Catalog"):
        ingest(tmp_path / "cat", [])  # type: ignore[arg-type]


def test_killed_ingest_resumes_without_duplicates(folder: Path, tmp_path: Path) -> None:
    sources, _ = sources_from_csv(folder / "labels.csv")

    class Killed(Exception):
        pass

    def kill_after_seven(source: Source, status: str) -> None:
        kill_after_seven.count += 1  # type: ignore[attr-defined]
        if kill_after_seven.count == 7:  # type: ignore[attr-defined]
            raise Killed

    kill_after_seven.count = 0  # type: ignore[attr-defined]
    cat = _classical(tmp_path / "cat")
    with pytest.raises(Killed):
        ingest(cat, sources, batch_size=3, on_item=kill_after_seven)
    partial = len(cat)
    assert 0 < partial < 12  # whole batches were committed before the crash
    again = ingest(Catalog(tmp_path / "cat"), sources, batch_size=3)
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
    cat = _classical(tmp_path / "cat")
    report = ingest(cat, sources, segmenter="solid-background")
    assert report.added == 2
    reasons = {Path(f["path"]).name: f["error"] for f in report.failed}
    assert set(reasons) == {"broken.jpg", "missing.jpg"}
    assert "not an image" in reasons["broken.jpg"] and "cannot read" in reasons["missing.jpg"]
    assert (tmp_path / "cat" / "failures.jsonl").read_text().count("\n") == 2


def test_bad_arguments(tmp_path: Path) -> None:
    cat = _classical(tmp_path / "cat")
    for bad, match in ({"batch_size": 0}, "batch_size"), ({"workers": 0}, "workers"):
        with pytest.raises(InputError, match=match):
            ingest(cat, [], **bad)
    with pytest.raises(InputError, match="work_side"):
        ingest(cat, [], work_side=10)
    (tmp_path / "no-path.csv").write_text("file,category\na.jpg,x\n")
    with pytest.raises(InputError, match="'path' column"):
        sources_from_csv(tmp_path / "no-path.csv")


def test_sigkill_midway_then_rerun_gives_a_complete_catalog(folder: Path, tmp_path: Path) -> None:
    """A real kill (SIGKILL of a child process) in the middle of an ingest, then a re-run."""
    import os
    import signal
    import subprocess
    import sys

    cat = tmp_path / "cat"
    # No clock: on the 5th item the child has committed two batches of two (on_item runs
    # before the batch that holds its item is committed); it says so and waits to be killed.
    script = (
        "import sys, time\n"
        "from adstage.retrieve.ingest import ingest, open_or_create, sources_from_csv\n"
        "sources, _ = sources_from_csv(__import__('pathlib').Path(sys.argv[1]))\n"
        "seen = []\n"
        "def stop_at_the_fifth(source, status):\n"
        "    seen.append(status)\n"
        "    if len(seen) == 5:\n"
        "        print('two batches committed', flush=True)\n"
        "        time.sleep(3600)\n"
        "store = open_or_create(sys.argv[2], embedders=['classical'])\n"
        "ingest(store, sources, batch_size=2, on_item=stop_at_the_fifth)\n"
    )
    env = dict(os.environ)
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(folder / "labels.csv"), str(cat)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        said = child.stdout.readline()  # blocks until the child says it or exits
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert said == "two batches committed\n", f"the child exited with {child.returncode}"
    partial = Catalog(cat).table.to_arrow().column("sha256").to_pylist()
    assert len(set(partial)) == 4  # exactly the committed items, none of the fifth onwards
    sources, _ = sources_from_csv(folder / "labels.csv")
    report = ingest(Catalog(cat), sources)
    hashes = Catalog(cat).table.to_arrow().column("sha256").to_pylist()
    assert report.failed == [] and len(hashes) == 12 == len(set(hashes))


def test_parquet_labels_like_csv(folder: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

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


def test_ingest_builds_updates_and_rebuilds_the_index(
    folder: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(ann, "INDEX_MIN_ROWS", 8)
    sources, _ = sources_from_csv(folder / "labels.csv")
    cat = _classical(tmp_path / "cat")
    ingest(cat, sources[:5])
    assert list(cat.table.list_indices()) == []  # below the threshold: exact search
    ingest(cat, sources[5:9])
    assert [i.columns for i in cat.table.list_indices()] == [["vec_classical"]]
    meta = (tmp_path / "cat" / "adstage-catalog.json").read_text()
    assert '"index_trained_rows": {"vec_classical": 9}' in meta
    done = ingest(cat, sources[9:11]) and cat.update_index()
    assert done == {"vec_classical": {"optimized": True}}
    # Indexed search finds what exact search finds on this small table.
    item = SyntheticCatalog(12, seed=2, size=(128, 128))[3]
    hits = cat.search(_query_vector(3), k=3)
    assert hits[0]["category"] == item.category and hits[0]["score"] > 0.99
    staged = cat.search(_query_vector(3), k=3, where="staged = true")
    assert all(h["staged"] for h in staged)
    rebuilt = cat.update_index(rebuild=True)
    assert "built" in rebuilt["vec_classical"]


def test_queries_see_rows_ingested_after_the_first_query(folder: Path, tmp_path: Path) -> None:
    sources, _ = sources_from_csv(folder / "labels.csv")
    cat = _classical(tmp_path / "cat")
    ingest(cat, sources[:4])
    vec = _query_vector(9)
    before = cat.search(vec, k=12)
    assert len(before) == 4 and before[0]["score"] < 0.99  # item 9 is not in yet
    ingest(cat, sources)
    after = cat.search(vec, k=12)
    assert len(after) == 12 and after[0]["score"] > 0.99
    # A second handle on the same folder sees them too.
    assert len(Catalog(tmp_path / "cat").search(vec, k=20)) == 12


def test_given_masks_define_slots(tmp_path: Path) -> None:
    room = np.full((160, 240, 3), 150, np.uint8)
    cabinet = np.zeros((160, 240), np.uint8)
    cabinet[30:130, 30:70] = 255
    table = np.zeros((160, 240), np.uint8)
    table[95:130, 120:220] = 255
    cv2.imwrite(str(tmp_path / "room.png"), room)
    cv2.imwrite(str(tmp_path / "cabinet.png"), cabinet)
    cv2.imwrite(str(tmp_path / "table.png"), table)
    cv2.imwrite(str(tmp_path / "both.png"), np.maximum(cabinet, table))
    # One image, two rows, one mask each → one item with two slots.
    (tmp_path / "rooms.csv").write_text(
        "path,category,mask_path,staged\n"
        "room.png,Rooms > Living,cabinet.png,1\n"
        "room.png,Rooms > Living,table.png,1\n"
    )
    sources, bad = sources_from_csv(tmp_path / "rooms.csv")
    assert not bad and len(sources) == 1 and len(sources[0].masks) == 2
    cat = _classical(tmp_path / "cat")
    report = ingest(cat, sources)
    assert (report.added, report.slots) == (1, 2)
    rows = cat.columns(["id", "item", "slot", "bbox", "width", "height"]).to_pylist()
    assert sorted(r["slot"] for r in rows) == [0, 1] and len({r["item"] for r in rows}) == 1
    assert sorted(tuple(r["bbox"]) for r in rows) == [(30, 30, 70, 130), (120, 95, 220, 130)]
    assert all((r["width"], r["height"]) == (240, 160) for r in rows)
    # A single mask of a staged image is split into its regions.
    (tmp_path / "one.csv").write_text("path,category,mask_path,staged\nroom.png,R,both.png,1\n")
    other = _classical(tmp_path / "cat2")
    assert ingest(other, sources_from_csv(tmp_path / "one.csv")[0]).slots == 2


def test_segmented_slots_are_stored_at_working_size_and_read_at_full_size(
    tmp_path: Path,
) -> None:
    # A 1200×800 photo of a dark box on white, segmented at a working size of 300.
    image = np.full((800, 1200, 3), 255, np.uint8)
    image[200:700, 300:700] = (40, 60, 90)
    cv2.imwrite(str(tmp_path / "box.png"), image[..., ::-1])
    cat = _classical(tmp_path / "cat")
    report = ingest(cat, [Source(tmp_path / "box.png", "Boxes", staged=False)], work_side=300)
    assert report.added == 1
    row = cat.columns(["mask_png", "bbox", "center_of_mass", "area_fraction", "width"]).to_pylist()
    stored = cv2.imdecode(np.frombuffer(row[0]["mask_png"], np.uint8), cv2.IMREAD_GRAYSCALE)
    assert stored.shape == (200, 300)  # working size, not 800×1200
    # Box, centre and area in the photo's own pixels, within a working pixel (4 px here).
    assert np.allclose(row[0]["bbox"], [300, 200, 700, 700], atol=4)
    assert np.allclose(row[0]["center_of_mass"], [500, 450], atol=4)
    assert abs(row[0]["area_fraction"] - 400 * 500 / (1200 * 800)) < 0.01
    [match] = retrieve(image, cat, k=1)
    full = match.mask()
    assert full.shape == (800, 1200)
    truth = np.zeros((800, 1200), bool)
    truth[200:700, 300:700] = True
    assert (full ^ truth).sum() / truth.sum() < 0.02


def test_resized_given_masks_stay_within_zero_and_one() -> None:
    """INTER_AREA on a float mask can return 1.0000001, which the mask checks refuse."""
    import cv2

    from adstage.retrieve.ingest import _resize

    rng = np.random.default_rng(0)
    alpha = np.ones((1037, 1531), np.float32)
    alpha[rng.random(alpha.shape) > 0.9] = 0.0
    out = _resize(alpha, (512, 347), cv2.INTER_AREA)
    assert out.shape == (347, 512) and out.min() >= 0.0 and out.max() <= 1.0
