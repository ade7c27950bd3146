"""benchmarks/rating_study.py: the AUC of staged against real ratings, and what a tally checks."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_summarise_averages_judges_and_names_a_missing_or_bad_rating(rating) -> None:
    key = {
        "pictures": {
            "img-00": {"kind": "staged", "source": "00.png", "mode": "free-space"},
            "img-01": {"kind": "real", "source": "room.jpg", "mode": None},
            "img-02": {"kind": "staged", "source": "01.png", "mode": "replace"},
            "img-03": {"kind": "real", "source": "other.jpg", "mode": None},
        }
    }
    judges = [
        {"img-00": {"rating": 6}, "img-01": {"rating": 6}, "img-02": 1, "img-03": 7},
        {"img-00": {"rating": 4}, "img-01": {"rating": 7}, "img-02": 2, "img-03": 7},
    ]
    out = rating.summarise(key, judges)
    assert out["mean_rating"] == {"staged": 3.25, "real": 6.75}
    assert out["auc"] == 0.0  # 5 and 1.5 against 6.5 and 7
    assert [e["picture"] for e in out["staged"]] == ["img-00", "img-02"]  # best rated first
    assert out["staged_at_least_real_lower_quartile"] == 0
    assert out["staged_rated_real"] == 1  # img-00 at 5
    judges[1]["img-00"] = {"rating": 7}
    judges[0]["img-00"] = {"rating": 7}
    # 7 against 6.5 and 7 (a win and a tie), 1.5 against both (losses): 1.5 of 4
    assert rating.summarise(key, judges)["auc"] == 0.375
    del judges[1]["img-03"]
    with pytest.raises(ValueError, match="no rating for img-03"):
        rating.summarise(key, judges)
    judges[1]["img-03"] = 9
    with pytest.raises(ValueError, match="from 1 to 7"):
        rating.summarise(key, judges)
