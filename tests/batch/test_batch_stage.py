"""Batch staging: manifest, resume and skip semantics, inputs, failures, --where, the CLI."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from batch_shop import FAST, N_PRODUCTS, check_outputs, done_rows
from typer.testing import CliRunner

from adstage.batch import Item, iter_items, read_manifest, stage_batch
from adstage.batch.items import count_items, input_hash
from adstage.cli import app
from scenes import ingest_synthetic

runner = CliRunner()


def test_items_stream_from_csv_parquet_and_folder(shop: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from_csv = list(iter_items(shop / "products.csv"))
    assert len(from_csv) == count_items(shop / "products.csv") == N_PRODUCTS
    assert all(item.masks and item.category and item.id for item in from_csv)
    with open(shop / "products.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    pq.write_table(pa.Table.from_pylist(rows), shop / "products.parquet")
    from_parquet = list(iter_items(shop / "products.parquet"))
    assert [(i.path, i.masks, i.id) for i in from_parquet] == [
        (i.path, i.masks, i.id) for i in from_csv
    ]
    from_folder = sorted(iter_items(shop / "products"), key=lambda i: i.path)
    assert [i.path for i in from_folder] == sorted(i.path for i in from_csv)
    assert not any(i.masks for i in from_folder)
    # content, not name: a renamed copy has the same hash; a mask changes it
    copy = tmp_path / "renamed.png"
    shutil.copy(from_csv[0].path, copy)
    renamed = input_hash(next(iter_items(tmp_path)))
    assert renamed == input_hash(Item(path=from_csv[0].path))
    assert input_hash(from_csv[0])[0] != renamed[0] and input_hash(from_csv[0])[1] == renamed[1]


def test_resume_skips_done_work_and_a_changed_option_redoes_it(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = stage_batch(iter_items(shop / "products.csv"), shop / "catalog", out, **FAST)
    assert first.done >= 1 and first.done + first.failed == N_PRODUCTS
    rows = check_outputs(out)
    assert len(rows) == N_PRODUCTS and {r["config"] for r in rows} == {first.config}

    again = stage_batch(iter_items(shop / "products.csv"), shop / "catalog", out, **FAST)
    assert again.skipped == first.done and again.done == 0  # failures are retried
    assert again.failed == first.failed and again.config == first.config

    # the same content under other names (the Parquet list of a renamed folder) is done already
    renamed = tmp_path / "renamed"
    shutil.copytree(shop / "products", renamed / "products")
    shutil.copytree(shop / "masks", renamed / "masks")
    with open(shop / "products.csv", encoding="utf-8") as handle:
        listed = list(csv.DictReader(handle))
    with open(renamed / "list.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "mask"])
        writer.writeheader()
        for i, row in enumerate(listed):
            new = renamed / "products" / f"renamed-{i}.png"
            (renamed / row["path"]).rename(new)
            writer.writerow({"path": f"products/{new.name}", "mask": row["mask"]})
    moved = stage_batch(iter_items(renamed / "list.csv"), shop / "catalog", out, **FAST)
    assert moved.skipped == first.done and moved.done == 0

    changed = stage_batch(
        iter_items(shop / "products.csv"), shop / "catalog", out, **(FAST | {"shadow": 0.3})
    )
    assert changed.config != first.config and changed.done == first.done
    assert changed.skipped == 0
    assert len(done_rows(out)) == first.done  # keyed by input: one per product…
    assert len(check_outputs(out)) == 2 * N_PRODUCTS  # …per config: two folders each

    redo = stage_batch(
        iter_items(shop / "products.csv"), shop / "catalog", out, overwrite=True, **FAST
    )
    assert redo.done == first.done and redo.skipped == 0
    check_outputs(out)


def test_a_bad_item_is_recorded_and_the_run_goes_on(shop: Path, tmp_path: Path) -> None:
    folder = tmp_path / "products"
    shutil.copytree(shop / "products", folder)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    table = tmp_path / "list.csv"
    table.write_text(
        "path,category\n"
        + "".join(f"products/{p.name},x\n" for p in sorted(folder.iterdir()))
        + ",empty path\nproducts/missing.png,y\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            *("batch", "stage", "-c", str(shop / "catalog"), "--products", str(table)),
            *("-o", str(out), "-k", "1", "--inpainter", "telea", "--segmenter", "solid-background"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "error:" in result.stderr and "broken.png" in result.stderr
    assert "batch stage:" in result.stdout and "failed" in result.stdout
    rows = list(read_manifest(out))
    failed = {Path(r["path"]).name or r["ref"]: r for r in rows if r["status"] == "failed"}
    assert "broken.png" in failed and "missing.png" in failed
    assert "cannot read file" in failed["missing.png"]["error"]
    assert any(r["error"] == "empty 'path' field" for r in failed.values())
    assert failed["broken.png"]["traceback"]
    done = [r for r in rows if r["status"] == "done"]
    assert done, "the good products were staged despite the bad ones"
    assert len(rows) == len(done) + len(failed) == N_PRODUCTS + 3
    lines = (out / "failures.jsonl").read_text().splitlines()
    assert len(lines) == len(failed) and all(json.loads(line)["error"] for line in lines)
    run = json.loads((out / "adstage-run.json").read_text())
    assert run["summary"]["failed"] == len(failed)
    check_outputs(out)


def test_where_filters_the_catalogs_slots(shop: Path, tmp_path: Path) -> None:
    base = ["batch", "stage", "-c", str(shop / "catalog"), "--products"]
    base += [str(shop / "products.csv"), "-k", "1", "--inpainter", "telea"]
    none = runner.invoke(app, [*base, "-o", str(tmp_path / "a"), "--where", "category = 'none'"])
    assert none.exit_code == 1
    rows = list(read_manifest(tmp_path / "a"))
    assert rows and all("matching" in r["error"] for r in rows)

    bad = runner.invoke(app, [*base, "-o", str(tmp_path / "b"), "--where", "no_such_column = 1"])
    assert bad.exit_code == 2 and "--where" in bad.stderr

    category = next(iter_items(shop / "products.csv")).category
    some = runner.invoke(
        app, [*base, "-o", str(tmp_path / "a"), "--where", f"category != '{category}'", "--json"]
    )
    records = [json.loads(line) for line in some.stdout.splitlines()]
    summary = records[-1]["summary"]
    assert summary["skipped"] == 0, "another --where is another config"
    for row in read_manifest(tmp_path / "a", config=summary["config"]):
        if row["status"] == "done":
            staged = json.loads((tmp_path / "a" / row["output"] / "manifest.json").read_text())
            assert all(c["category"] != category for c in staged["candidates"])


def test_ray_missing_names_the_extra(shop: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    result = runner.invoke(
        app,
        [
            *("batch", "stage", "-c", str(shop / "catalog"), "--products", str(shop / "products")),
            *("-o", str(tmp_path / "out"), "--engine", "ray"),
        ],
    )
    assert result.exit_code == 2
    assert "pip install 'adstage[batch]'" in result.stderr


class _Killed(BaseException):
    """A stand-in for SIGKILL: no ``except Exception`` in the runner catches it."""


def test_overwrite_killed_mid_swap_leaves_no_done_row_on_a_missing_folder(
    shop: Path, tmp_path: Path, monkeypatch
) -> None:
    """--overwrite replaces a done folder; a run killed right after the old folder is moved
    aside must not leave a done row naming a missing folder: the next run redoes that item."""
    out = tmp_path / "out"
    first = stage_batch(iter_items(shop / "products.csv"), shop / "catalog", out, **FAST)
    assert first.done >= 1
    real_rename = os.rename

    def rename_then_die(src, dst) -> None:
        real_rename(src, dst)
        if ".batch-tmp" in Path(dst).parts and "old" in Path(dst).parts:
            raise _Killed  # the old folder is aside, the new one not yet in place

    monkeypatch.setattr(os, "rename", rename_then_die)
    with pytest.raises(_Killed):
        stage_batch(
            iter_items(shop / "products.csv"), shop / "catalog", out, overwrite=True, **FAST
        )
    monkeypatch.undo()
    done = done_rows(out)
    assert len(done) == first.done - 1, "the item being swapped has lost its done row"
    assert all((out / row["output"]).is_dir() for row in done.values())

    resumed = stage_batch(iter_items(shop / "products.csv"), shop / "catalog", out, **FAST)
    assert resumed.done == 1 and resumed.skipped == first.done - 1
    rows = check_outputs(out)
    assert len(rows) == N_PRODUCTS and len(done_rows(out)) == first.done


def test_without_a_product_list_the_catalogs_unstaged_images_are_staged(tmp_path: Path) -> None:
    from adstage.batch.items import catalog_items
    from adstage.datasets.synthetic import SyntheticCatalog

    syn = SyntheticCatalog(12, seed=1, size=(128, 128))
    ingest_synthetic(syn, tmp_path)
    total, items = catalog_items(tmp_path / "cat")
    plain = sorted(
        str(tmp_path / "syn" / "images" / f"{item.id}.png") for item in syn if not item.staged
    )
    listed = sorted(item.path for item in items)
    assert total == len(plain) == len(listed) and [Path(p).name for p in listed] == [
        Path(p).name for p in plain
    ]
    result = runner.invoke(
        app, ["batch", "stage", "-c", str(tmp_path / "cat"), "-o", str(tmp_path / "out"), "-k", "1",
              "--inpainter", "telea", "--no-screen", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(list((tmp_path / "out").glob("items/*/*/manifest.json"))) == total


def test_a_cutout_with_a_person_in_it_is_refused_and_the_run_goes_on(
    shop: Path, tmp_path: Path, monkeypatch
) -> None:
    """Batch stages products through stage(), so stage's cut-out check applies
    (adstage.segment.prompt.check_cutout), unless switched off."""
    import numpy as np

    from adstage.segment.base import SEGMENTERS
    from adstage.stage.pipeline import shared_segmenter
    from adstage.types import Segmentation

    class Saliency:  # the product and someone holding it, out of the frame at left and bottom
        def __call__(self, image: np.ndarray) -> Segmentation:
            alpha = np.zeros(image.shape[:2], np.float32)
            h, w = alpha.shape
            alpha[h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] = 1.0
            alpha[2 * h // 3 :, : w // 2] = 1.0
            return Segmentation(alpha, "saliency")

    monkeypatch.setattr(SEGMENTERS, "create", lambda name, **kw: Saliency())
    shared_segmenter.cache_clear()  # stage() keeps one segmenter per name for the process
    items = [Item(path=str(p)) for p in sorted((shop / "products").glob("*.png"))[:2]]
    refused = stage_batch(items, shop / "catalog", tmp_path / "a", **FAST)
    assert (refused.done, refused.failed) == (0, 2)
    for row in read_manifest(tmp_path / "a"):
        assert "does not look like one product" in row["error"] and "2 sides" in row["error"]
    kept = stage_batch(items, shop / "catalog", tmp_path / "b", check_cutout=False, **FAST)
    assert kept.failed + kept.done == 2 and kept.done >= 1
    shared_segmenter.cache_clear()


def test_a_lists_kind_column_refuses_parts_and_the_run_goes_on(shop: Path, tmp_path: Path) -> None:
    """A list's ``kind`` (or ``product_type``) column is each product's kind for stage(): a
    furniture part fails with its reason, the others are staged, and a changed kind is new work."""
    with open(shop / "products.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows[0]["kind"] = "door knob"
    for row in rows[1:]:
        row["kind"] = ""
    listed = shop / "kinds.csv"
    with open(listed, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    items = list(iter_items(listed))
    assert items[0].kind == "door knob" and not items[1].kind
    aliased = shop / "types.csv"  # a catalog's product_type column means the same
    aliased.write_text(listed.read_text(encoding="utf-8").replace(",kind", ",product_type", 1))
    assert next(iter(iter_items(aliased))).kind == "door knob"
    plain = list(iter_items(shop / "products.csv"))
    assert input_hash(items[0]) != input_hash(plain[0]) and input_hash(items[1]) == input_hash(
        plain[1]
    )
    summary = stage_batch(items, shop / "catalog", tmp_path / "out", **FAST, closeup=False)
    assert summary.done + summary.failed == N_PRODUCTS and summary.failed >= 1
    failed = [r for r in read_manifest(tmp_path / "out") if r["status"] != "done"]
    assert any("part or accessory" in r["error"] for r in failed)


def test_realism_and_keep_steps_are_not_batch_options(shop: Path) -> None:
    from adstage.batch.stage import StageWork
    from adstage.errors import InputError

    for options in ({"realism": lambda image, box: 0.5}, {"keep_steps": True}):
        with pytest.raises(InputError, match="'realism' and 'keep_steps' are not batch"):
            StageWork(shop / "catalog", options=options)
