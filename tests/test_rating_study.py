"""benchmarks/rating_study.py: the AUC of staged against real ratings, what a tally checks, and
which pictures ``make`` takes."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

from adstage.io.images import write_image
from benchmark_module import load_benchmark


@pytest.fixture
def rating(monkeypatch):  # type: ignore[no-untyped-def]
    return load_benchmark(monkeypatch, "rating_study")


def test_auc_is_half_when_alike_and_zero_when_always_told_apart(rating) -> None:
    assert rating.auc(np.array([1.0, 2.0]), np.array([5.0, 6.0])) == 0.0
    assert rating.auc(np.array([4.0, 4.0]), np.array([4.0, 4.0])) == 0.5  # ties count half
    assert rating.auc(np.array([7.0]), np.array([1.0, 7.0])) == 0.75
    with pytest.raises(ValueError, match="needs"):
        rating.auc(np.array([]), np.array([1.0]))


KEY = {
    "pictures": {
        "img-00": {"kind": "staged", "source": "00.png", "mode": "replace"},
        "img-01": {"kind": "real", "source": "room.jpg", "mode": None},
        "img-02": {"kind": "staged", "source": "01.png", "mode": "free-space"},
        "img-03": {"kind": "real", "source": "other.jpg", "mode": None},
        "img-04": {"kind": "real", "source": "third.jpg", "mode": None},
        "img-05": {"kind": "real", "source": "fourth.jpg", "mode": None},
    }
}


def test_summarise_averages_judges_and_names_a_missing_or_bad_rating(rating) -> None:
    judges = [
        {"img-00": 1, "img-01": 6, "img-02": {"rating": 6}, "img-03": 7, "img-04": 3, "img-05": 7},
        {"img-00": 2, "img-01": 7, "img-02": {"rating": 4}, "img-03": 7, "img-04": 5, "img-05": 7},
    ]
    out = rating.summarise(KEY, judges)
    assert out["mean_rating"] == {"staged": 3.25, "real": 6.125}
    # staged 1.5 and 5 against real 6.5, 7, 4, 7: 5 beats 4 once, in 8 pairs
    assert out["auc"] == 1 / 8
    assert [e["picture"] for e in out["staged"]] == ["img-02", "img-00"]  # best rated first
    assert out["lowest_real"] == 4.0 and out["real"][-1]["picture"] == "img-04"
    assert out["staged_rated_real"] == 1  # img-02 at 5
    # the real lower quartile is 5.875: img-02's 5 falls below it, the lowest real does not
    assert out["staged_at_least_real_lower_quartile"] == 0
    lo, hi = out["auc_ci"]
    assert 0.0 <= lo <= out["auc"] <= hi <= 1.0
    with pytest.raises(ValueError, match="no answers"):
        rating.summarise(KEY, [])
    bad = [dict(judges[0]), dict(judges[1])]
    del bad[1]["img-03"]
    with pytest.raises(ValueError, match=r"no rating for \['img-03'\]"):
        rating.summarise(KEY, bad)
    bad[1]["img-03"] = 7
    bad[1]["img-99"] = 4  # another study's picture
    with pytest.raises(ValueError, match="unknown"):
        rating.summarise(KEY, bad)
    del bad[1]["img-99"]
    for wrong in (9, True, "6"):
        bad[1]["img-03"] = wrong
        with pytest.raises(ValueError, match="from 1 to 7"):
            rating.summarise(KEY, bad)


def test_make_takes_one_picture_per_room_and_real_photos_of_the_same_shape(
    rating, tmp_path: Path
) -> None:
    rooms = tmp_path / "data" / "ikea-room-scenes" / "images"
    for name, size in (("a.jpg", (40, 64)), ("b.jpg", (40, 64)), ("c.jpg", (40, 64))):
        write_image(rooms / name, np.full((*size, 3), 90, np.uint8))
    for name in ("tall.jpg", "square.jpg", "d.jpg", "e.jpg"):
        size = {"tall.jpg": (80, 40), "square.jpg": (64, 64)}.get(name, (50, 80))
        write_image(rooms / name, np.full((*size, 3), 120, np.uint8))
    sets = tmp_path / "sets"
    staged = sets / "S" / "staged"
    for n in ("00", "01", "02"):
        write_image(staged / f"{n}.png", np.full((50, 80, 3), 30, np.uint8))
    pairs = {
        "pair-00": {"scene": "a.jpg", "mode": "free-space"},
        "pair-01": {"scene": "a.jpg", "mode": "replace"},  # the same room again: left out
        "pair-02": {"scene": "b.jpg", "mode": "replace"},
    }
    (sets / "S" / "key.json").write_text(json.dumps({"pairs": pairs}))
    args = Namespace(
        data=tmp_path / "data", sets=sets, work=tmp_path / "work", source="S", label="R",
        seed=3, real=0,
    )  # fmt: skip
    assert rating.make(args) == 0
    key = json.loads((tmp_path / "work" / "R" / "key.json").read_text())
    pictures = key["pictures"]
    assert sorted(p["source"] for p in pictures.values() if p["kind"] == "staged") == [
        "00.png",
        "02.png",
    ]
    real = sorted(p["source"] for p in pictures.values() if p["kind"] == "real")
    assert len(real) == 2 and set(real) <= {"c.jpg", "d.jpg", "e.jpg"}  # not a, b, tall, square
    assert sorted(p.name for p in (tmp_path / "work" / "R" / "pictures").iterdir()) == [
        "img-00.png",
        "img-01.png",
        "img-02.png",
        "img-03.png",
    ]
    assert rating.make(args) == 2  # an existing label is refused
