"""Slots: the salient regions of a staged photo's mask, one product each."""

from __future__ import annotations

import numpy as np
import pytest

from adstage.errors import InputError
from adstage.segment.slots import refine_slots, split_slots
from adstage.types import Segmentation


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


def _painted(boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """A 120×200 scene whose red channel paints the objects a segmenter is to find."""
    image = np.zeros((120, 200, 3), np.uint8)
    for x0, y0, x1, y1 in boxes:
        image[y0:y1, x0:x1, 0] = 255
    return image


def _sees_red(crop: np.ndarray) -> Segmentation:
    return Segmentation((crop[..., 0] > 128).astype(np.float32), "test")


def _slot(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    alpha = np.zeros((120, 200), np.float32)
    alpha[y0:y1, x0:x1] = 1.0
    return alpha


def test_refine_slots_completes_an_object_the_scene_mask_held_only_part_of() -> None:
    image = _painted([(45, 35, 86, 78)])  # the whole object
    part = _slot(50, 40, 80, 78)  # the scene mask held its left and middle, not its right side
    other = _slot(82, 60, 86, 78)  # another slot's own pixels inside the object's box
    [(grown, why), (piece, why_piece)] = refine_slots(image, [part, other], _sees_red)
    assert why == "" and grown is not None
    assert grown[35:78, 45:82].min() == 1.0  # completed to the object's extent…
    assert grown[60:78, 82:86].max() == 0.0  # …but never over another slot's own pixels
    assert grown[:, 90:].max() == 0.0 and grown[80:].max() == 0.0  # and nothing beyond it
    # the other slot is a sliver of the same object, which runs out of its surroundings
    assert piece is None and "runs out" in why_piece


def test_refine_slots_drops_a_slot_whose_object_runs_out_of_its_surroundings() -> None:
    image = _painted([(45, 35, 190, 78)])  # a chair merged with a long table beside it
    [(dropped, why)] = refine_slots(image, [_slot(50, 40, 80, 78)], _sees_red)
    assert dropped is None and "runs out" in why and "right" in why
    # a region that barely touches the slot is another object: ignored
    image = _painted([(50, 40, 77, 78), (79, 10, 200, 120)])
    [(alone, why)] = refine_slots(image, [_slot(50, 40, 80, 78)], _sees_red)
    assert why == "" and alone is not None and alone[:, 81:].max() == 0.0
    # an object at the image's edge does not "run out": the frame is not its surroundings
    image = _painted([(0, 35, 30, 78)])
    [(edge, why)] = refine_slots(image, [_slot(0, 40, 26, 78)], _sees_red)
    assert why == "" and edge is not None and edge[35:78, :30].min() == 1.0
    with pytest.raises(InputError, match="slot 0"):
        refine_slots(image, [np.zeros((10, 10), np.float32)], _sees_red)


def test_refine_slots_refuses_a_segmenter_that_answers_another_size() -> None:
    image = _painted([(45, 35, 86, 78)])

    def wrong(crop: np.ndarray) -> Segmentation:
        return Segmentation(np.zeros((8, 8), np.float32), "test")

    with pytest.raises(InputError, match="8, 8"):
        refine_slots(image, [_slot(50, 40, 80, 78)], wrong)
    # a slot one pixel wide still gets surroundings: it is not dropped for touching its crop
    [(thin, why)] = refine_slots(_painted([(60, 40, 61, 78)]), [_slot(60, 40, 61, 78)], _sees_red)
    assert why == "" and thin is not None
