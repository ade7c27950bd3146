"""benchmarks/clutter_agreement.py: the share of edges behind a place, its floor line left out."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark_module import load_benchmark


@pytest.fixture
def clutter(monkeypatch):  # type: ignore[no-untyped-def]
    return load_benchmark(monkeypatch, "clutter_agreement").clutter


def test_a_busy_region_scores_more_than_a_plain_one_and_the_floor_line_is_left_out(clutter) -> None:
    room = np.full((160, 200, 3), 180, np.uint8)
    room[:, 100:][(np.indices((160, 100)).sum(0) // 4) % 2 == 1] = 40  # a striped right half
    plain, busy = clutter(room, [10, 20, 90, 100]), clutter(room, [110, 20, 190, 100])
    assert plain == 0.0 and busy > 0.2
    room[92:100, 10:90] = 0  # a dark line in the lowest eighth of the plain box: not counted
    assert clutter(room, [10, 20, 90, 100]) == 0.0
    assert clutter(room, [-30, 20, 50, 100]) == 0.0  # a box cut by the frame is read where seen
