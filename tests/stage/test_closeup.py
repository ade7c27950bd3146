"""Close-up staging (adstage.stage.closeup): the background crop, its depth of field, the
product's place, a cut-out's pieces laid on the floor."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from adstage.errors import InputError
from adstage.stage.closeup import closeup_background, closeup_placement, lay_pieces
from adstage.types import Cutout


def _textured(h: int = 300, w: int = 400, seed: int = 0) -> np.ndarray:
    """A scene of fine random texture: every blur shows in its gradients."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _energy(image: np.ndarray) -> float:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(gray, cv2.CV_32F)).mean())


def test_the_background_is_the_scene_s_bottom_crop_enlarged_to_its_size() -> None:
    scene = _textured()
    out, box = closeup_background(scene, share=0.5, blur=0.0)
    assert out.shape == scene.shape and out.dtype == np.uint8
    x0, y0, x1, y1 = box
    assert (y0, y1) == (150, 300) and x1 - x0 == 200  # half the width and height, at the bottom
    assert x0 == 100  # nothing occupied: the crop in the middle
    enlarged = cv2.resize(scene[y0:y1, x0:x1], (400, 300), interpolation=cv2.INTER_CUBIC)
    assert np.abs(out.astype(int) - enlarged).max() <= 1  # blur 0: only enlarged


def test_the_crop_keeps_clear_of_the_scene_s_objects() -> None:
    scene = _textured()
    occupied = np.zeros((300, 400), bool)
    occupied[200:, :240] = True  # objects at the bottom left
    _, (x0, _, x1, _) = closeup_background(scene, occupied, share=0.4)
    assert x0 >= 240 - 16 and x1 == 400  # as far right as the frame allows
    occupied[:] = False
    occupied[200:, 160:] = True  # now at the bottom right
    _, (x0, _, _, _) = closeup_background(scene, occupied, share=0.4)
    assert x0 == 0


def test_rows_far_from_the_focus_row_are_blurrier() -> None:
    scene = _textured()
    sharp, _ = closeup_background(scene, blur=0.0)
    out, _ = closeup_background(scene, focus=0.8, blur=0.02)
    focus = round(0.8 * 300)
    top, near, below = out[:40], out[focus - 10 : focus + 10], out[-15:]
    assert _energy(top) < 0.3 * _energy(near)  # far above the focus: blurred
    assert _energy(near) > 0.8 * _energy(sharp[focus - 10 : focus + 10])  # at it: as sharp
    assert _energy(top) < _energy(below) < _energy(near)  # nearer the camera: half as blurred


def test_bad_close_up_settings_are_named() -> None:
    scene = _textured()
    with pytest.raises(InputError, match="share"):
        closeup_background(scene, share=0.0)
    with pytest.raises(InputError, match="focus"):
        closeup_background(scene, focus=1.0)
    with pytest.raises(InputError, match="occupied"):
        closeup_background(scene, np.zeros((10, 10), bool))
    with pytest.raises(InputError, match="blur"):
        closeup_background(scene, blur=float("nan"))
    with pytest.raises(InputError, match="too small"):
        closeup_background(np.zeros((1, 1, 3), np.uint8))


def test_the_product_stands_centred_on_the_focus_row_at_its_share_of_the_height() -> None:
    mask = np.zeros((100, 120), bool)
    mask[10:90, 30:70] = True  # 40 wide, 80 tall
    place = closeup_placement(mask, (400, 300), height=0.4, focus=0.85)
    x0, y0, x1, y1 = place.box
    assert y1 == round(0.85 * 300) and y1 - y0 == 120  # 40 % of 300, base on the focus row
    assert abs((x0 + x1) / 2 - 200) <= 1 and x1 - x0 == 60
    assert place.scale == pytest.approx(1.5) and place.scene_size == (400, 300)
    wide = np.zeros((100, 400), bool)
    wide[40:60, :] = True  # 400 wide, 20 tall: limited by the width
    x0, y0, x1, y1 = closeup_placement(wide, (400, 300), max_width=0.5).box
    assert x1 - x0 == 200 and y1 - y0 == 10
    with pytest.raises(InputError, match="empty"):
        closeup_placement(np.zeros((10, 10), bool), (400, 300))
    with pytest.raises(InputError, match="height"):
        closeup_placement(mask, (400, 300), height=0.9, focus=0.85)
    with pytest.raises(InputError, match="focus"):
        closeup_placement(mask, (400, 300), focus=1.5)
    with pytest.raises(InputError, match="frame"):
        closeup_placement(mask, (0, 0))


def test_a_ramp_blurs_everything_above_it_fully(monkeypatch) -> None:
    from adstage.stage import closeup

    scene = _textured()
    monkeypatch.setattr(closeup, "RAMP", 0.3)
    out, _ = closeup_background(scene, focus=0.8, blur=0.02)
    top, above_ramp, near = out[:30], out[120:140], out[230:250]  # the ramp ends at row 150
    assert _energy(above_ramp) == pytest.approx(_energy(top), rel=0.25)  # both fully blurred
    assert _energy(near) > 3 * _energy(above_ramp)
    monkeypatch.setattr(closeup, "RAMP", 0.0)
    with pytest.raises(InputError, match="RAMP"):
        closeup_background(scene)


def test_sharpening_crisps_the_floor_at_the_focus_row_only(monkeypatch) -> None:
    from adstage.stage import closeup

    scene = _textured()
    plain, _ = closeup_background(scene, focus=0.8, blur=0.02)
    monkeypatch.setattr(closeup, "SHARPEN", 1.0)
    sharp, _ = closeup_background(scene, focus=0.8, blur=0.02)
    near = slice(230, 250)  # about the focus row (240)
    assert _energy(sharp[near]) > 1.3 * _energy(plain[near])
    assert np.array_equal(sharp[:60], plain[:60])  # far above it: fully blurred, untouched


_COLOURS = ((200, 30, 30), (30, 160, 30), (30, 30, 200), (160, 160, 30), (160, 30, 160))


def _pieces(*boxes: tuple[int, int, int, int], size: tuple[int, int] = (200, 160)) -> Cutout:
    """A cut-out of a white backdrop photo holding a coloured block per box (x0, y0, x1, y1), each
    block's colour its own (red, green, blue, yellow, magenta), with a soft 1-px edge."""
    w, h = size
    image = np.full((h, w, 3), 255, np.uint8)
    alpha = np.zeros((h, w), np.float32)
    colours = list(_COLOURS) + [(90, 90, 90)] * max(0, len(boxes) - len(_COLOURS))
    for (x0, y0, x1, y1), colour in zip(boxes, colours[: len(boxes)], strict=True):
        image[y0:y1, x0:x1] = colour
        halo = alpha[max(0, y0 - 1) : y1 + 1, max(0, x0 - 1) : x1 + 1]
        np.maximum(halo, 0.3, out=halo)
        alpha[y0:y1, x0:x1] = 1.0
    return Cutout.from_alpha(image, alpha)


def _colour(rgba: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """The opaque pixels of ``colour`` (within 10 levels)."""
    near = np.abs(rgba[..., :3].astype(int) - colour).max(axis=2) <= 10
    return near & (rgba[..., 3] >= 128)


def _consistent(cut: Cutout) -> None:
    assert cut.rgba.shape[:2] == cut.mask.shape
    assert np.array_equal(cut.mask, cut.rgba[..., 3] >= 128)


def test_a_floating_piece_is_laid_beside_the_other_on_the_base_line() -> None:
    # a handle photographed twice: a wide view above, a narrow one below, overlapping in x
    cut = _pieces((40, 10, 140, 50), (60, 90, 100, 150))
    laid = lay_pieces(cut)
    assert (laid.pieces, laid.floating, laid.laid) == (2, True, True), laid.why
    rgba = laid.cut.rgba
    _consistent(laid.cut)
    red, green = _colour(rgba, _COLOURS[0]), _colour(rgba, _COLOURS[1])
    # both blocks' lowest opaque rows are the cut-out's lowest: nothing hangs above the floor
    lowest = np.nonzero(laid.cut.mask.any(axis=1))[0].max()
    assert np.nonzero(red.any(axis=1))[0].max() == lowest
    assert np.nonzero(green.any(axis=1))[0].max() == lowest
    # side by side in the order of their centres (the narrow one's, 80, is left of the wide
    # one's, 90), each at its own size, a gap between them
    assert red.sum() == 100 * 40 and green.sum() == 40 * 60
    red_cols, green_cols = np.nonzero(red.any(axis=0))[0], np.nonzero(green.any(axis=0))[0]
    assert green_cols.max() < red_cols.min() - 2
    # the narrow block with its right soft column (its left one is outside the opaque box), the
    # gap, the wide block (its soft columns were outside the photo's crop already)
    assert laid.cut.mask.shape == (60, 40 + 1 + round(0.08 * 100) + 100)
    # no soft pixel went with both pieces (the rows and columns outside the opaque box are cut)
    assert (rgba[..., 3] > 0).sum() <= (cut.rgba[..., 3] > 0).sum()
    # the photo's fields stay the photo's
    assert laid.cut.bbox == cut.bbox and laid.cut.source_size == cut.source_size


def test_three_pieces_stand_in_a_row_and_a_speck_below_cannot_hold_them_up() -> None:
    # a hinge in three views: two side by side above, one below; a screw (a speck) under the
    # lower one, more than the soft edge below its base
    cut = _pieces((20, 10, 70, 40), (110, 10, 160, 40), (70, 80, 110, 120), (88, 140, 92, 144))
    laid = lay_pieces(cut)
    assert (laid.pieces, laid.laid) == (3, True)
    _consistent(laid.cut)
    lowest = np.nonzero(laid.cut.mask.any(axis=1))[0].max()
    for colour in _COLOURS[:3]:
        assert np.nonzero(_colour(laid.cut.rgba, colour).any(axis=1))[0].max() == lowest
    assert not _colour(laid.cut.rgba, _COLOURS[3]).any()  # the screw was dropped
    # a speck alone below two pieces on one base line does not make them float
    knobs = _pieces((20, 60, 80, 120), (110, 60, 170, 120), (95, 150, 99, 154))
    assert lay_pieces(knobs).laid is False


def test_pieces_on_one_base_line_many_pieces_or_one_piece_are_left_as_photographed() -> None:
    knobs = _pieces((20, 60, 80, 120), (110, 50, 170, 118))  # two knobs: bottoms 2 px apart
    speck = _pieces((20, 20, 180, 140), (90, 2, 94, 6))  # a speck above: not a piece
    one = _pieces((20, 20, 180, 140))
    # a grid of fittings, 3 × 2: the upper row floats, but six pieces in a row would be specks
    grid = _pieces(
        *[(10 + 60 * c, 20 + 70 * r, 50 + 60 * c, 70 + 70 * r) for r in (0, 1) for c in (0, 1, 2)]
    )
    for cut, found, floating in (
        (knobs, 2, False),
        (speck, 1, False),
        (one, 1, False),
        (grid, 6, True),
    ):
        laid = lay_pieces(cut)
        assert laid.cut is cut and not laid.laid, laid.why
        assert (laid.pieces, laid.floating) == (found, floating)
    assert "more than 4" in lay_pieces(grid).why
