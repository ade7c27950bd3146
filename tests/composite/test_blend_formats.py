"""Pasting (exact product pixels, despill, shadow, harmonisation) and ad formats."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from adstage.composite.align import align
from adstage.composite.blend import despill, paste, scale_cutout
from adstage.composite.formats import parse_ratio, to_format
from adstage.errors import InputError
from adstage.types import Cutout


def _product():
    rng = np.random.default_rng(0)
    image = np.full((80, 60, 3), 255, np.uint8)
    alpha = np.zeros((80, 60), np.float32)
    alpha[10:70, 15:45] = 1.0
    alpha[10:70, 14] = 0.5  # a soft edge, mixed with the white it was shot on
    colours = rng.integers(0, 200, (60, 30, 3), dtype=np.uint8)
    image[10:70, 15:45] = colours
    image[10:70, 14] = (np.array([40, 80, 120]) * 0.5 + 255 * 0.5).astype(np.uint8)
    return image, alpha


def _scene():
    rng = np.random.default_rng(1)
    scene = np.clip(rng.normal(120, 20, (120, 160, 3)), 0, 255).astype(np.uint8)
    slot = np.zeros((120, 160), bool)
    slot[30:110, 60:100] = True
    return scene, slot


def test_paste_keeps_product_pixels_exact_where_opaque() -> None:
    image, alpha = _product()
    cut = Cutout.from_alpha(image, alpha)
    scene, slot = _scene()
    placement = align(cut.mask, slot)
    out = paste(scene, cut.rgba, placement)
    scaled = scale_cutout(cut.rgba, placement)
    x0, y0, x1, y1 = placement.box
    eroded = cv2.erode((scaled[..., 3] == 255).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert eroded.sum() > 500
    assert np.array_equal(out[y0:y1, x0:x1][eroded], scaled[..., :3][eroded])
    outside = np.ones(scene.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], scene[outside])  # nothing else changes


def test_scale_one_is_the_identity_and_bad_cutouts() -> None:
    image, alpha = _product()
    cut = Cutout.from_alpha(image, alpha)
    same = align(cut.mask, np.pad(cut.mask, 10), fit="height")
    assert same.scale == pytest.approx(1.0)
    assert np.array_equal(scale_cutout(cut.rgba, same), cut.rgba)
    with pytest.raises(InputError, match="rgba"):
        scale_cutout(np.zeros((0, 0, 4), np.uint8), same)


def test_despill_unmixes_the_white_edge() -> None:
    image, alpha = _product()
    cut = Cutout.from_alpha(image, alpha)
    fixed = despill(cut.rgba)
    edge = cut.rgba[..., 3] == 128
    assert edge.any()
    assert np.abs(fixed[edge][:, :3].astype(int) - [40, 80, 120]).max() <= 3
    assert np.array_equal(fixed[~edge], cut.rgba[~edge])


def test_shadow_darkens_under_the_product_and_harmonize_moves_colour() -> None:
    image, alpha = _product()
    cut = Cutout.from_alpha(image, alpha)
    scene, slot = _scene()
    scene[:] = 200
    placement = align(cut.mask, slot)
    plain = paste(scene, cut.rgba, placement)
    shaded = paste(scene, cut.rgba, placement, shadow=0.6)
    x0, _, x1, y1 = placement.box
    below = (slice(y1 - 2, min(120, y1 + 2)), slice(x0 - 4, x0 - 1))
    assert shaded[below].mean() < plain[below].mean() - 5
    warm = paste(scene, cut.rgba, placement, harmonize=1.0)
    inside = (slice(placement.box[1] + 5, placement.box[3] - 5), slice(x0 + 5, x1 - 5))
    assert abs(warm[inside].mean() - 200) < abs(plain[inside].mean() - 200)
    with pytest.raises(InputError, match="harmonize"):
        paste(scene, cut.rgba, placement, harmonize=2)
    with pytest.raises(InputError, match="placement"):
        paste(scene[:50], cut.rgba, placement)


@pytest.mark.parametrize("fmt", ["1:1", "4:5", "1.91:1", "9:16"])
def test_formats_keep_the_product_in_the_safe_area(fmt: str) -> None:
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    for box in [(150, 100, 250, 250), (0, 0, 390, 300), (300, 200, 400, 300)]:
        out, (x0, y0, x1, y1) = to_format(image, box, fmt, safe_margin=0.05)
        h, w = out.shape[:2]
        assert w / h == pytest.approx(parse_ratio(fmt), rel=0.02)
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        # the product's pixels are unchanged, wherever they moved
        bx0, by0, bx1, by1 = box
        assert np.array_equal(out[y0:y1, x0:x1], image[by0:by1, bx0:bx1])


def test_format_errors() -> None:
    with pytest.raises(InputError, match="format"):
        parse_ratio("square")
    with pytest.raises(InputError, match="product_box"):
        to_format(np.zeros((10, 10, 3), np.uint8), (5, 5, 20, 20), "1:1")
