"""Alignment of a cut-out onto a slot: scale by fit, centre of mass, base line, never cropped."""

from __future__ import annotations

import numpy as np
import pytest

from adstage.composite.align import align, hole_coverage, render_mask
from adstage.errors import InputError


def _slot(shape=(100, 200), box=(50, 40, 80, 90)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask


def _product(shape=(60, 60), box=(20, 10, 40, 50)) -> np.ndarray:
    return _slot(shape, box)


def test_footprint_fit_keeps_aspect_and_stands_on_the_base_line() -> None:
    slot, product = _slot(), _product()  # slot 30×50, product 20×40
    p = align(product, slot)
    assert p.scale == pytest.approx(1.25)  # min(30/20, 50/40)
    assert p.size == (25, 50)
    assert p.box[3] == 90  # base on the slot's base line
    # centre of mass: slot 65 horizontally; product's own centre is the middle of its box
    assert (p.box[0] + p.box[2]) / 2 == pytest.approx(65, abs=0.5)


@pytest.mark.parametrize(
    ("fit", "scale"),
    [("height", 50 / 40), ("width", 30 / 20), ("area", np.sqrt(1500 / 800))],
)
def test_other_fits(fit: str, scale: float) -> None:
    assert align(_product(), _slot(), fit=fit).scale == pytest.approx(scale)  # type: ignore[arg-type]


def test_centre_of_mass_mode_and_never_cropped() -> None:
    slot = _slot(box=(0, 0, 20, 30))  # a slot in the top-left corner
    p = align(_product(), slot, fit="height", stand=False)
    x0, y0, x1, y1 = p.box
    assert x0 >= 0 and y0 >= 0 and x1 <= 200 and y1 <= 100
    big = align(_product(), _slot(box=(0, 0, 200, 100)), fit="width")  # wider than the scene
    assert big.box[3] - big.box[1] <= 100 and big.box[2] - big.box[0] <= 200


def test_rendered_mask_and_coverage() -> None:
    slot, product = _slot(), _product()
    placed = render_mask(product, align(product, slot))
    assert placed.shape == slot.shape and placed.sum() == 25 * 50
    cover = hole_coverage(product, slot, work_size=200)
    assert cover == pytest.approx((25 * 50) / (30 * 50), abs=0.02)
    # A product of the slot's own shape covers it entirely.
    assert hole_coverage(slot, slot, work_size=200) == pytest.approx(1.0)
    # A wide product in a tall slot covers little of it.
    wide = _product((60, 120), (0, 20, 120, 30))
    assert hole_coverage(wide, slot) < 0.3


def test_bad_input() -> None:
    with pytest.raises(InputError, match="product_mask: empty"):
        align(np.zeros((10, 10), bool), _slot())
    with pytest.raises(InputError, match="slot_mask: empty"):
        align(_product(), np.zeros((10, 10), bool))
    with pytest.raises(InputError, match="fit: expected one of"):
        align(_product(), _slot(), fit="stretch")  # type: ignore[arg-type]


def test_a_small_shape_mask_aligns_like_the_full_mask() -> None:
    """shape_mask crops and scales the product once; aligning it onto a slot gives the same
    placement (within a pixel) and coverage (within a percent) as the full-size mask."""
    from adstage.composite.align import shape_mask

    product = np.zeros((1200, 900), bool)
    product[100:1100, 200:700] = True
    product[900:1100, 250:650] = False  # an opening between two legs
    small = shape_mask(product, 256)
    assert max(small.shape) == 256 and small.shape[1] < small.shape[0]
    for slot_box in ((100, 60, 220, 300), (30, 10, 330, 180)):
        slot = np.zeros((320, 400), bool)
        x0, y0, x1, y1 = slot_box
        slot[y0:y1, x0:x1] = True
        full, fast = align(product, slot), align(small, slot)
        assert np.abs(np.subtract(full.box, fast.box)).max() <= 1
        assert abs(hole_coverage(product, slot) - hole_coverage(small, slot)) < 0.01
    tiny = shape_mask(np.pad(np.ones((40, 30), bool), 5), 256)  # already small: only cropped
    assert tiny.shape == (40, 30) and tiny.all()
