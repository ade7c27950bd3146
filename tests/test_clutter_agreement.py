"""benchmarks/clutter_agreement.py: the share of edges behind a place, its floor line left out."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clutter(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    path = ROOT / "benchmarks/clutter_agreement.py"
    spec = importlib.util.spec_from_file_location("clutter_agreement", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "clutter_agreement", module)
    spec.loader.exec_module(module)
    return module.clutter


def test_a_busy_region_scores_more_than_a_plain_one_and_the_floor_line_is_left_out(clutter) -> None:
    room = np.full((160, 200, 3), 180, np.uint8)
    room[:, 100:][(np.indices((160, 100)).sum(0) // 4) % 2 == 1] = 40  # a striped right half
    plain, busy = clutter(room, [10, 20, 90, 100]), clutter(room, [110, 20, 190, 100])
    assert plain == 0.0 and busy > 0.2
    room[92:100, 10:90] = 0  # a dark line in the lowest eighth of the plain box: not counted
    assert clutter(room, [10, 20, 90, 100]) == 0.0
    assert clutter(room, [-30, 20, 50, 100]) == 0.0  # a box cut by the frame is read where seen
