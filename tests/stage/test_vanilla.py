"""Vanilla staging: the product on the blank canvas (the networks: tests/models)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from adstage.errors import InputError
from adstage.stage.vanilla import layout_canvas


def test_layout_canvas_puts_the_product_on_white() -> None:
    image = np.zeros((40, 80, 3), np.uint8)
    mask = np.zeros((40, 80), bool)
    mask[10:30, 20:40] = True
    canvas, box = layout_canvas(image, mask, 64, {"cx": 0.5, "cy": 0.5, "side": 0.5})
    assert box == (16, 16, 48, 48)
    assert (canvas[16:48, 16:48] == 0).all()
    outside = np.ones((64, 64), bool)
    outside[16:48, 16:48] = False
    assert (canvas[outside] == 255).all()
    with pytest.raises(InputError, match="empty"):
        layout_canvas(image, np.zeros((40, 80), bool), 64)
