"""The AdProd-style builder: variants with consistent masks, a manifest that round-trips and that
the RefAdGen trainer reads, a split that keeps variants together, resumption after a kill, and
bad inputs refused with reasons."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from adstage.datasets.adprod import (
    FAILURES,
    MANIFEST_COLUMNS,
    BuildConfig,
    build_dataset,
    plan,
    read_dataset,
    split_of,
    text_score,
)
from adstage.datasets.synthetic import SyntheticCatalog
from adstage.errors import InputError
from adstage.io.images import read_image, read_mask, write_image, write_mask
from adstage.train.adgen import read_manifest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
CONFIG = BuildConfig(variants=3, min_side=128, test_fraction=0.4)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds")
    report = build_dataset(["synthetic:6:2"], out, CONFIG)
    assert report.built == 6 and report.failed == 0 and report.rows == 18
    return out


def test_variants_are_written_with_masks_that_cover_their_products(built: Path):
    rows = read_dataset(built)
    assert sorted({r["variant"] for r in rows}) == [0, 1, 2]
    for r in rows:
        ad, product = read_image(built / r["ad"]), read_image(built / r["product"])
        mask = read_mask(built / r["mask"]) >= 0.5
        own = read_mask(built / r["product_mask"]) >= 0.5
        assert product.shape == ad.shape and own.shape == mask.shape
        assert not (product != 255).any(axis=2)[~own].any(), r["product"]
        if r["variant"] == 0:  # the product on white, pixel-aligned with the ad
            assert np.array_equal(own, mask)
            assert np.array_equal(product[mask], ad[mask]) and (product[~mask] == 255).all()
        assert r["segmenter"] == "given" and r["captioner"] == "attributes"
        assert json.loads(r["augmentation"])["variant"] == r["variant"]


def test_the_manifest_round_trips_and_the_trainer_reads_its_train_split(built: Path):
    rows = read_dataset(built)
    assert list(rows[0]) == list(MANIFEST_COLUMNS)
    written = []
    for record in sorted((built / "items").glob("*.json")):
        written.extend(json.loads(record.read_text())["rows"])
    assert rows == written
    splits = {r["triplet"]: r["split"] for r in rows}
    assert {r["split"] for r in rows if r["triplet"] in splits} == {"train", "test"}
    items, failures = read_manifest(built / "manifest.parquet")
    train = [r for r in rows if r["split"] == "train"]
    assert not failures and len(items) == len(train)
    assert [i.product for i in items] == [built / r["product"] for r in train]
    assert all(i.mask == built / r["mask"] for i, r in zip(items, train, strict=True))


def test_the_split_keeps_the_variants_of_a_triplet_together(built: Path):
    by: dict[str, set[str]] = {}
    for r in read_dataset(built):
        by.setdefault(r["triplet"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by.values())
    share = np.mean([split_of(f"t{i}") == "test" for i in range(4000)])
    assert 0.08 < share < 0.12 and split_of("abc") == split_of("abc")


def test_a_rerun_resumes_where_a_run_stopped(tmp_path: Path):
    out = tmp_path / "ds"
    config = BuildConfig(variants=2, min_side=128)
    first = build_dataset(["synthetic:4:5"], out, config)
    records = sorted((out / "items").glob("*.json"))
    records[-1].unlink()  # the photo in flight when the run was killed
    again = build_dataset(["synthetic:4:5"], out, config)
    assert (first.built, again.built, again.skipped) == (4, 1, 3)
    triplets = [r["triplet"] for r in read_dataset(out)]
    assert len(triplets) == 8 and all(triplets.count(t) == 2 for t in set(triplets))


def test_a_killed_build_resumes_with_each_triplet_once(tmp_path: Path):
    out = tmp_path / "ds"
    cmd = [
        sys.executable,
        "-m",
        "adstage.cli",
        "dataset",
        "build",
        "synthetic:10:4",
        "-o",
        str(out),
    ]
    cmd += ["--variants", "2", "--min-side", "128"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if len(list((out / "items").glob("*.json"))) >= 3:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    done = len(list((out / "items").glob("*.json")))
    assert 3 <= done < 10, "the run finished before it could be killed"
    report = build_dataset(["synthetic:10:4"], out, BuildConfig(variants=2, min_side=128))
    assert report.skipped == done and report.built == 10 - done
    triplets = [r["triplet"] for r in read_dataset(out)]
    assert len(set(triplets)) == 10 and all(triplets.count(t) == 2 for t in set(triplets))


def _folder(root: Path) -> Path:
    """Photos with masks: good ones and every kind of bad one, listed in labels.csv."""
    syn = SyntheticCatalog(3, seed=9, staged_fraction=1.0)
    rows = ["path,mask_path,category"]
    for i, item in enumerate(syn):
        write_image(root / f"good{i}.png", item.image)
        write_mask(root / f"good{i}.mask.png", item.mask)
        rows.append(f"good{i}.png,good{i}.mask.png,{item.category}")
    good, mask = syn[0].image, syn[0].mask
    write_image(root / "dup.jpg", cv2.GaussianBlur(good, (3, 3), 0), quality=80)
    write_mask(root / "dup.mask.png", mask)
    write_image(root / "small.png", good[:100, :100])
    write_mask(root / "small.mask.png", mask[:100, :100])
    (root / "broken.png").write_bytes(b"not an image at all")
    write_mask(root / "empty.mask.png", np.zeros(mask.shape, bool))
    write_image(root / "empty.png", syn[1].image[::-1])
    write_mask(root / "huge.mask.png", np.ones(mask.shape, bool))
    write_image(root / "huge.png", syn[2].image[:, ::-1])
    text = np.full((320, 320, 3), 235, np.uint8)
    for k in range(12):
        cv2.putText(text, "SALE 50% OFF TODAY", (8, 24 + 25 * k), 0, 0.6, (20, 20, 20), 2)
    write_image(root / "text.png", text)
    write_mask(root / "text.mask.png", mask)
    for name in ("dup.jpg", "small.png", "broken.png", "empty.png", "huge.png", "text.png"):
        rows.append(f"{name},{Path(name).stem}.mask.png,Furniture > Chairs")
    rows.append("missing.png,,Furniture > Chairs")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def test_bad_inputs_are_refused_with_reasons(tmp_path: Path):
    src = _folder(tmp_path / "src")
    out = tmp_path / "ds"
    report = build_dataset([str(src)], out, BuildConfig(variants=1, min_side=128))
    assert report.built == 3 and report.failed == 2
    assert report.filtered == {
        "near-duplicate": 1,
        "low-resolution": 1,
        "empty-mask": 1,
        "product-too-large": 1,
        "text-or-watermark": 1,
    }
    failures = [json.loads(line) for line in (out / FAILURES).read_text().splitlines()]
    by = {Path(f["path"]).name: f for f in failures}
    assert by["small.png"]["error"].startswith("low-resolution: 100×100")
    assert by["dup.jpg"]["filter"] == "near-duplicate" and "good0" in by["dup.jpg"]["error"]
    assert "not found" in by["missing.png"]["error"] and by["missing.png"]["filter"] is None
    assert by["broken.png"]["filter"] is None and "InputError" in by["broken.png"]["type"]
    # a re-run skips the filtered photos and retries the failed ones
    again = build_dataset([str(src)], out, BuildConfig(variants=1, min_side=128))
    assert again.skipped == 8 and again.failed == 2 and again.built == 0


def test_text_score_separates_text_from_a_room():
    text = np.full((300, 400, 3), 240, np.uint8)
    for k in range(10):
        cv2.putText(text, "Only today: 2 for 1", (10, 25 + 28 * k), 0, 0.7, (10, 10, 10), 2)
    room = SyntheticCatalog(1, seed=3, staged_fraction=1.0)[0].image
    assert text_score(text) > 0.1 and text_score(room) < 0.02


def test_sources_are_planned_or_refused(tmp_path: Path):
    assert len(plan("synthetic:3:1")) == 3 and len(plan("synthetic:5", limit=2)) == 2
    for bad in ("synthetic:x", "synthetic:0", "synthetic:1:2:3", str(tmp_path / "none")):
        with pytest.raises(InputError):
            plan(bad)
    write_image(tmp_path / "a" / "x.png", np.zeros((8, 8, 3), np.uint8))
    (item,) = plan(str(tmp_path / "a"))
    assert item.labels == {} and item.triplet.startswith("x-")
    with pytest.raises(InputError):
        BuildConfig(min_area=0.5, max_area=0.4)


@pytest.mark.data
def test_real_photos_with_masks(tmp_path: Path):
    coco = SHARED / "coco-mval-objects"
    if not coco.is_dir():
        pytest.skip(f"{coco} is absent (non-commercial dev data)")
    shutil.rmtree(tmp_path, ignore_errors=True)
    report = build_dataset(
        [str(coco)],
        tmp_path,
        BuildConfig(variants=2, max_side=384, where=("home_furnishing=True",), limit=6),
    )
    assert report.built + sum(report.filtered.values()) == 6 and report.failed == 0
