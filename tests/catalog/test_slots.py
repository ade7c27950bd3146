"""Slots: the salient regions of a staged image, each with its own mask, row and embedding."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from adstage.catalog.slots import split_slots
from adstage.errors import InputError


def _two_products() -> np.ndarray:
    alpha = np.zeros((120, 200), np.float32)
    alpha[20:100, 10:60] = 1.0  # big: 4000 px
    alpha[60:100, 120:150] = 1.0  # smaller: 1200 px
    alpha[5:7, 190:192] = 1.0  # a speck: 4 px
    alpha[19, 10:60] = 0.3  # a soft edge above the big one
    return alpha


def test_staged_image_splits_into_regions_largest_first() -> None:
    slots = split_slots(_two_products(), staged=True, min_area=0.01)
    assert len(slots) == 2
    assert (slots[0] >= 0.5).sum() == 4000 and (slots[1] >= 0.5).sum() == 1200
    assert slots[0][19, 30] == pytest.approx(0.3)  # the soft edge stays with its region
    assert slots[1][19, 30] == 0.0 and slots[0][80, 130] == 0.0  # and regions do not mix


def test_unstaged_image_is_one_slot_and_limits() -> None:
    alpha = _two_products()
    (only,) = split_slots(alpha, staged=False)
    assert np.array_equal(only, alpha)
    assert len(split_slots(alpha, staged=True, min_area=0.0, max_slots=1)) == 1
    assert len(split_slots(alpha, staged=True, min_area=0.0)) == 3
    # No region large enough: the whole alpha, so the image is still recorded.
    (whole,) = split_slots(alpha, staged=True, min_area=0.5)
    assert np.array_equal(whole, alpha)
    with pytest.raises(InputError, match="min_area"):
        split_slots(alpha, staged=True, min_area=1.5)
    with pytest.raises(InputError, match="max_slots"):
        split_slots(alpha, staged=True, max_slots=0)


def _room(tmp_path: Path):
    """A 'room' (textured, staged) with a tall red cabinet and a wide blue table, and masks."""
    rng = np.random.default_rng(0)
    room = np.clip(rng.normal(150, 25, (160, 240, 3)), 0, 255).astype(np.uint8)
    room[120:] = (110, 80, 60)  # floor
    cabinet = np.zeros((160, 240), np.uint8)
    cabinet[30:130, 30:70] = 255
    table = np.zeros((160, 240), np.uint8)
    table[95:130, 120:220] = 255
    room[cabinet > 0] = (200, 30, 30)
    room[table > 0] = (30, 40, 200)
    cv2.imwrite(str(tmp_path / "room.png"), room[..., ::-1])
    cv2.imwrite(str(tmp_path / "cabinet.png"), cabinet)
    cv2.imwrite(str(tmp_path / "table.png"), table)
    cv2.imwrite(str(tmp_path / "both.png"), np.maximum(cabinet, table))
    return room, cabinet > 0, table > 0


def test_given_masks_define_slots_and_rerank_prefers_the_covered_slot(tmp_path: Path) -> None:
    pytest.importorskip("lancedb")
    from adstage.catalog.store import Catalog, sources_from_csv

    _, cabinet, _ = _room(tmp_path)
    # One image, two rows, one mask each → one item with two slots.
    (tmp_path / "rooms.csv").write_text(
        "path,category,mask_path,staged\n"
        "room.png,Rooms > Living,cabinet.png,1\n"
        "room.png,Rooms > Living,table.png,1\n"
    )
    sources, bad = sources_from_csv(tmp_path / "rooms.csv")
    assert not bad and len(sources) == 1 and len(sources[0].masks) == 2
    cat = Catalog(tmp_path / "cat", embedders=["classical"])
    report = cat.ingest(sources)
    assert (report.added, report.slots) == (1, 2)
    rows = cat.columns(["id", "item", "slot", "bbox", "width", "height"]).to_pylist()
    assert sorted(r["slot"] for r in rows) == [0, 1] and len({r["item"] for r in rows}) == 1
    assert sorted(tuple(r["bbox"]) for r in rows) == [(30, 30, 70, 130), (120, 95, 220, 130)]
    assert all((r["width"], r["height"]) == (240, 160) for r in rows)

    # A single mask of a staged image is split into its regions.
    (tmp_path / "one.csv").write_text("path,category,mask_path,staged\nroom.png,R,both.png,1\n")
    other = Catalog(tmp_path / "cat2", embedders=["classical"])
    assert other.ingest(sources_from_csv(tmp_path / "one.csv")[0]).slots == 2

    # The query: a tall product on white. Its cut-out aligned onto the cabinet slot covers it,
    # onto the table slot it covers a small part.
    query = np.full((200, 120, 3), 255, np.uint8)
    qmask = np.zeros((200, 120), bool)
    qmask[20:180, 30:90] = True
    query[qmask] = (120, 120, 120)
    plain = cat.retrieve(query, mask=qmask, k=2)
    ranked = cat.retrieve(query, mask=qmask, k=2, rerank=True, rerank_weight=0.9)
    assert plain[0].coverage is None and ranked[0].coverage is not None
    assert ranked[0].slot == next(r["slot"] for r in rows if r["bbox"][0] == 30)
    assert ranked[0].coverage > 0.9 > ranked[1].coverage
    assert ranked[0].mask().shape == (160, 240) and ranked[0].mask().sum() == cabinet.sum()
    with pytest.raises(InputError, match="rerank_weight"):
        cat.retrieve(query, mask=qmask, rerank=True, rerank_weight=2.0)
    with pytest.raises(InputError, match="no product"):
        cat.retrieve(query, mask=np.zeros_like(qmask), rerank=True)


def test_segmented_slots_are_stored_at_working_size_and_read_at_full_size(
    tmp_path: Path,
) -> None:
    pytest.importorskip("lancedb")
    from adstage.catalog.store import Catalog, Source

    # A 1200×800 photo of a dark box on white, segmented at a working size of 300.
    image = np.full((800, 1200, 3), 255, np.uint8)
    image[200:700, 300:700] = (40, 60, 90)
    cv2.imwrite(str(tmp_path / "box.png"), image[..., ::-1])
    cat = Catalog(tmp_path / "cat", embedders=["classical"])
    report = cat.ingest([Source(tmp_path / "box.png", "Boxes", staged=False)], work_side=300)
    assert report.added == 1
    row = cat.columns(["mask_png", "bbox", "center_of_mass", "area_fraction", "width"]).to_pylist()
    stored = cv2.imdecode(np.frombuffer(row[0]["mask_png"], np.uint8), cv2.IMREAD_GRAYSCALE)
    assert stored.shape == (200, 300)  # working size, not 800×1200
    # Box, centre and area in the photo's own pixels, within a working pixel (4 px here).
    assert np.allclose(row[0]["bbox"], [300, 200, 700, 700], atol=4)
    assert np.allclose(row[0]["center_of_mass"], [500, 450], atol=4)
    assert abs(row[0]["area_fraction"] - 400 * 500 / (1200 * 800)) < 0.01
    [match] = cat.retrieve(image, k=1)
    full = match.mask()
    assert full.shape == (800, 1200)
    truth = np.zeros((800, 1200), bool)
    truth[200:700, 300:700] = True
    assert (full ^ truth).sum() / truth.sum() < 0.02
