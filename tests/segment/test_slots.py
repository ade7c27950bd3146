"""Slots: the salient regions of a staged photo's mask, one product each."""

from __future__ import annotations

import numpy as np
import pytest

from adstage.errors import InputError
from adstage.segment.slots import split_slots


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
