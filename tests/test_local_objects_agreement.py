"""benchmarks/local_objects_agreement.py: the judges' overlap reasons against local object shares."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark_module import load_benchmark


@pytest.fixture
def bench(monkeypatch):  # type: ignore[no-untyped-def]
    return load_benchmark(monkeypatch, "local_objects_agreement")


def test_auc_ranks_and_counts_ties_half(bench) -> None:  # type: ignore[no-untyped-def]
    assert bench.auc([0.5, 0.6], [0.1, 0.2]) == 1.0
    assert bench.auc([0.1], [0.5]) == 0.0
    assert bench.auc([0.3], [0.3]) == 0.5
    assert bench.auc([], [0.1]) is None
    low, high = bench.auc_interval([0.5, 0.6, 0.2], [0.1, 0.3, 0.4], np.random.default_rng(0))
    assert 0.0 <= low <= bench.auc([0.5, 0.6, 0.2], [0.1, 0.3, 0.4]) <= high <= 1.0


def test_box_share_reads_the_box_inside_its_crop() -> None:
    from adstage.stage.objects import box_share

    found = np.zeros((100, 200), bool)
    found[:, 100:] = True  # the crop's right half is an object
    crop = (50, 20, 250, 120)
    assert box_share(found, crop, (150, 40, 250, 100)) == 1.0  # crop x 100..200
    assert box_share(found, crop, (100, 40, 200, 100)) == 0.5
    assert box_share(found, crop, (0, 0, 40, 10)) == 0.0  # outside the crop
    assert box_share(found, (0, 20, 200, 120), (-100, 40, 100, 100)) == 0.0  # past the frame


def test_free_space_pairs_take_report_sets_free_space_with_their_reasons(bench) -> None:  # type: ignore[no-untyped-def]
    pair = {"mode": "free-space", "scene": "r.jpg", "box": [1, 2, 3, 4], "staged_votes": 0}
    runs = {
        "Z-kinds": {
            "comparisons": {
                "real": {
                    "per_pair": {
                        "pair-00": {**pair, "why": ["A's table is pasted in front of the TV."]},
                        "pair-01": {**pair, "why": ["A's stool has no shadow."]},
                        "pair-02": {**pair, "mode": "replace", "why": ["in front of"]},
                        "pair-03": {"mode": "free-space", "why": ["no box: an old run"]},
                    }
                },
                "naive": {"per_pair": {"pair-20": {**pair, "why": ["B floats over the bed."]}}},
            }
        },
        "A-x-vs-A-y": {"comparisons": {"real": {"per_pair": {"pair-00": {**pair, "why": []}}}}},
    }
    rows = bench.free_space_pairs(runs)
    assert [(r["pair"], r["comparison"], r["overlap_named"]) for r in rows] == [
        ("pair-00", "real", True),
        ("pair-01", "real", False),
        ("pair-20", "naive", None),  # reasons against a naive paste are not about overlap
    ]
    for r, share in zip(rows, (0.4, 0.0, 0.9), strict=True):
        r["share"] = {"u2net": share}
    s = bench.summary(rows, "u2net", 0)
    assert s["pairs"] == 2 and s["overlap_named"] == 1 and s["auc"] == 1.0
    assert s["above_clear"] == {"overlap_named": 1, "not_named": 0}
    assert s["staged_votes"] == {"clear": {"k": 0, "n": 3}, "crowded": {"k": 0, "n": 3}}


def test_rated_splits_the_rating_study_s_free_space_pictures_by_their_place(bench) -> None:  # type: ignore[no-untyped-def]
    rows = [
        {"set": "Z-kinds", "pair": "pair-03", "share": {"u2net": 0.0}},
        {"set": "Z-kinds", "pair": "pair-07", "share": {"u2net": 0.5}},
    ]
    ratings = {
        "RZ": {
            "from": "Z-kinds",
            "staged": [
                {"source": "03.png", "mode": "free-space", "rating": 5.0},
                {"source": "07.png", "mode": "free-space", "rating": 1.0},
                {"source": "09.png", "mode": "replace", "rating": 2.0},  # not free space
                {"source": "11.png", "mode": "free-space", "rating": 3.0},  # no stored place
            ],
        },
        "RZc": {
            "from": "Z-cam",
            "staged": [{"source": "03.png", "mode": "free-space", "rating": 7}],
        },
    }
    got = bench.rated(rows, ratings, "u2net")
    assert got == {
        "clear": {"pictures": 1, "mean_rating": 5.0, "rated_4_or_more": 1},
        "crowded": {"pictures": 1, "mean_rating": 1.0, "rated_4_or_more": 0},
    }
    assert bench.rated(rows, {}, "u2net")["clear"] == {
        "pictures": 0,
        "mean_rating": None,
        "rated_4_or_more": 0,
    }
