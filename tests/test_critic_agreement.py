"""benchmarks/critic_agreement.py: the box of what staging changed, and agreement with the votes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark_module import load_benchmark


@pytest.fixture
def agreement(monkeypatch):  # type: ignore[no-untyped-def]
    return load_benchmark(monkeypatch, "critic_agreement")


def test_the_changed_box_is_the_product_not_the_noise(agreement) -> None:
    rng = np.random.default_rng(0)
    room = rng.integers(60, 200, (120, 160, 3)).astype(np.uint8)
    staged = np.clip(room.astype(int) + rng.integers(-8, 9, room.shape), 0, 255).astype(np.uint8)
    staged[2, 3] = 255  # a speck: not the product
    staged[40:90, 50:70] = 0
    assert agreement.changed_box(staged, room) == (50, 40, 70, 90)
    # a room photo at another size is resized to the picture's
    big = np.repeat(np.repeat(room, 2, axis=0), 2, axis=1)
    assert agreement.changed_box(staged, big) == (50, 40, 70, 90)
    assert agreement.changed_box(room, room) is None


def test_agreement_counts_the_majority_ties_and_unanimous_pairs(agreement) -> None:
    pairs = [
        {"votes_new": v, "judges": 3, "iou": iou, "run": "A-x-vs-A-y", "pair": f"pair-{i}"}
        for i, (v, iou) in enumerate([(3, 1.0), (0, 0.9), (2, 0.1), (1, 0.5), (3, 1.0)])
    ]
    s_new = np.array([0.9, 0.2, 0.3, 0.4, 0.5])
    s_old = np.array([0.1, 0.8, 0.7, 0.1, 0.5])
    got = agreement.agreement(pairs, s_new, s_old)
    # pair 0: both new (agree); 1: both old (agree); 2: judges new, critic old; 3: judges old,
    # critic new; 4: a tie, left out
    assert got["pairs"] == 4 and got["ties"] == 1
    assert (got["agree"]["k"], got["agree"]["n"]) == (2, 4)
    assert (got["agree_unanimous"]["k"], got["agree_unanimous"]["n"]) == (2, 2)
    assert (got["agree_votes"]["k"], got["agree_votes"]["n"]) == (3 + 3 + 1 + 1, 12)
    assert got["judges_prefer_new"]["k"] == 2
    # the same place (IoU >= 0.8): pairs 0 and 1, both agree; moved: pairs 2 and 3, neither
    assert (got["agree_same_place"]["k"], got["agree_same_place"]["n"]) == (2, 2)
    assert (got["agree_moved"]["k"], got["agree_moved"]["n"]) == (0, 2)
    assert got["products"] == 4
    # the larger half of the score differences (0.8, 0.6 of 0.8, 0.6, 0.4, 0.3): both agree
    assert (got["agree_larger_half"]["k"], got["agree_larger_half"]["n"]) == (2, 2)
    low, high = got["agree_product_bootstrap_ci"]
    assert 0.0 <= low <= 0.5 <= high <= 1.0


def test_boxes_overlap(agreement) -> None:
    assert agreement.box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert agreement.box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert agreement.box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_pairs_are_read_from_the_study_and_the_cache(agreement, tmp_path) -> None:
    work, data = tmp_path / "judge", tmp_path / "data"
    (data / "rooms" / "images").mkdir(parents=True)
    for room in ("room.jpg", "other.jpg"):
        (data / "rooms" / "images" / room).write_bytes(b"")
    for label in ("X", "Y"):
        (work / label / "staged").mkdir(parents=True)
        (work / label / "staged" / "01.png").write_bytes(b"")
    key = {"pairs": {"pair-01": {"scene": "room.jpg", "box": [1, 2, 3, 4]}}}
    (work / "X" / "key.json").write_text(json.dumps(key))
    # Y staged the same product into another room: its picture is read against that room
    (work / "Y" / "key.json").write_text(json.dumps({"pairs": {"pair-01": {"scene": "other.jpg"}}}))
    study = {
        "runs": {
            "X-vs-Y": {
                "judges": 3,
                "comparisons": {"ab": {"per_pair": {"pair-01": {"staged_votes": 2}}}},
            },
            "T-kinds": {"judges": 3, "comparisons": {"real": {"per_pair": {}}}},
            "Z-vs-Y": {"judges": 3, "comparisons": {"ab": {"per_pair": {}}}},
            "X-vs-W": {"judges": 3, "comparisons": {"ab": {"per_pair": {}}}},
            "C-vs-Y": {"judges": 3, "comparisons": {"ab": {"per_pair": {}}}},
        }
    }
    (work / "C").mkdir()
    (work / "C" / "key.json").write_text(json.dumps({"critic": "c.npz", "pairs": {}}))
    pairs, skipped = agreement.ab_pairs(study, work, data)
    assert [(p["run"], p["pair"], p["votes_new"]) for p in pairs] == [("X-vs-Y", "pair-01", 2)]
    images = data / "rooms" / "images"
    assert pairs[0]["rooms"] == (images / "room.jpg", images / "other.jpg")
    assert pairs[0]["boxes"] == ([1, 2, 3, 4], None)  # Y has no box: both are read from pixels
    assert skipped == [
        {"run": "C-vs-Y", "why": "its pictures were ranked by a critic"},
        {"run": "X-vs-W", "why": "no W/key.json"},
        {"run": "Z-vs-Y", "why": "no Z/key.json"},
    ]


def test_no_pairs_and_all_ties_are_counted_not_crashed(agreement) -> None:
    empty = agreement.agreement([], np.zeros(0), np.zeros(0))
    assert empty["pairs"] == 0 and empty["agree"]["rate"] is None
    assert empty["agree_product_bootstrap_ci"] is None
    pairs = [{"votes_new": 3, "judges": 3, "iou": 1.0, "run": "A-x-vs-A-y", "pair": "pair-0"}]
    tied = agreement.agreement(pairs, np.array([0.5]), np.array([0.5 + 1e-9]))
    assert tied["ties"] == 1 and tied["pairs"] == 0
