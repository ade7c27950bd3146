"""Close-up staging (adstage.stage.closeup): the background crop, its depth of field, the
product's place."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from adstage.errors import InputError
from adstage.stage.closeup import closeup_background, closeup_placement


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
