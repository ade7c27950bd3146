"""The scene horizon estimate (:mod:`adstage.stage.horizon`) and its use by the size checks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from adstage.errors import InputError
from adstage.stage import horizon as hz
from adstage.stage.scale import Camera, kind_of
from adstage.stage.screen import Screen, screen


def render_room(horizon: float, *, seed: int = 0, h: int = 480, w: int = 640) -> np.ndarray:
    """A line drawing of a room seen by a level pinhole camera 1.2 m above the floor, whose
    horizon is at ``horizon`` (share of the height from the top): floor boards and ceiling beams
    running away from the camera, shelves on the side walls, a table, and random clutter."""
    f, cx, cy, eye = 500.0, w / 2, horizon * h, 1.2
    image = np.full((h, w, 3), 205, np.uint8)

    def line(a: tuple[float, float, float], b: tuple[float, float, float]) -> None:
        (xa, ya, za), (xb, yb, zb) = a, b
        pa = (round(cx + f * xa / za), round(cy - f * (ya - eye) / za))
        pb = (round(cx + f * xb / zb), round(cy - f * (yb - eye) / zb))
        cv2.line(image, pa, pb, (40, 40, 40), 2, cv2.LINE_AA)

    for x in np.arange(-2.0, 2.01, 0.5):  # floor boards
        line((x, 0.0, 1.6), (x, 0.0, 9.0))
    for x in (-1.5, 0.0, 1.5):  # ceiling beams
        line((x, 2.6, 1.6), (x, 2.6, 9.0))
    for x in (-2.0, 2.0):  # shelves and skirting on the side walls
        for y in (0.1, 0.9, 1.7, 2.2):
            line((x, y, 2.0), (x, y, 7.0))
    for x in (-0.6, 0.6):  # a table's long edges
        line((x, 0.75, 3.0), (x, 0.75, 4.5))
    rng = np.random.default_rng(seed)
    for _ in range(15):  # clutter: short segments of any direction
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        a = rng.uniform(0, np.pi)
        n = rng.uniform(10, 40)
        cv2.line(
            image, (int(x0), int(y0)), (int(x0 + n * np.cos(a)), int(y0 + n * np.sin(a))),
            (60, 60, 60), 2, cv2.LINE_AA,
        )  # fmt: skip
    return image


@pytest.mark.parametrize(("horizon", "seed"), [(0.45, 0), (0.6, 1), (0.35, 2)])
def test_the_horizon_of_a_rendered_room_is_found(horizon: float, seed: int) -> None:
    found = hz.estimate_horizon(render_room(horizon, seed=seed))
    assert found is not None
    assert abs(found.row - horizon) < 0.02, found
    assert found.share >= hz.MIN_SHARE


def test_no_lines_no_horizon_and_bad_input_is_refused() -> None:
    assert hz.estimate_horizon(np.full((200, 300, 3), 128, np.uint8)) is None
    with pytest.raises(InputError, match="H×W×3 uint8"):
        hz.estimate_horizon(np.zeros((20, 30), np.uint8))


def test_camera_for_narrows_the_prior_only_with_a_clear_estimate_inside_it() -> None:
    prior = Camera()
    clear = hz.Horizon(row=0.55, share=0.5, candidates=100, segments=30)
    assert hz.camera_for(clear, prior).horizon == pytest.approx((0.49, 0.61))
    assert hz.camera_for(hz.Horizon(0.55, 0.1, 100, 30), prior) == prior  # not clear
    assert hz.camera_for(hz.Horizon(0.85, 0.5, 100, 30), prior) == prior  # outside the prior
    assert hz.camera_for(hz.Horizon(0.68, 0.5, 100, 30), prior) == prior  # just outside
    assert hz.camera_for(None, prior) == prior
    edge = hz.camera_for(hz.Horizon(0.62, 0.5, 100, 30), prior)
    assert edge.horizon == pytest.approx((0.56, 0.65))  # clipped to the prior


def test_an_unreadable_scene_keeps_the_prior_and_a_changed_file_is_estimated_again(
    tmp_path: Path,
) -> None:
    from adstage.io.images import write_image

    assert hz.scene_camera(str(tmp_path / "missing.png"), Camera()) == Camera()
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert hz.scene_camera(str(tmp_path / "broken.png"), Camera()) == Camera()
    room = tmp_path / "room.png"
    write_image(room, render_room(0.6))
    assert hz.scene_camera(str(room), Camera()).horizon[0] > 0.5
    write_image(room, np.full((480, 640, 3), 128, np.uint8))  # no lines: the prior
    import os

    os.utime(room, ns=(1, 1))  # a new modification time, whatever the clock's resolution
    assert hz.scene_camera(str(room), Camera()) == Camera()


def test_the_scenes_camera_is_asked_for_only_after_the_mask_checks_pass() -> None:
    def never() -> Camera:
        raise AssertionError("the camera was asked for")

    slot = np.zeros((480, 640), bool)
    slot[200:202, 300:302] = True  # a speck: refused as area before any size check
    product = np.ones((50, 40), bool)
    verdict = screen(product, slot, kind=kind_of("chest of drawers"), camera=never)
    assert verdict.reason == "area"
    slot[150:300, 250:390] = True
    with pytest.raises(AssertionError, match="asked for"):
        screen(product, slot, kind=kind_of("chest of drawers"), camera=never)


def test_a_wall_slot_passes_with_the_prior_but_not_under_the_scenes_horizon(
    tmp_path: Path,
) -> None:
    """A slot whose base is 42 % down passes the support check under the prior (horizon from 30 %
    down) but not in a scene whose horizon is estimated at 60 %: a chest of drawers would hang on
    the wall."""
    from adstage.io.images import write_image
    from adstage.stage.pipeline import StageOptions, scene_camera_for

    write_image(tmp_path / "room.png", render_room(0.6))
    room = str(tmp_path / "room.png")
    on = Screen(horizon=True)
    camera = scene_camera_for(StageOptions(kind="chest of drawers", screen=on), room)
    assert camera is not None and camera.horizon[0] > 0.5
    assert scene_camera_for(StageOptions(kind="chest of drawers"), room) == Camera()  # off
    assert scene_camera_for(StageOptions(kind="wall shelf", screen=on), room) == Camera()

    slot = np.zeros((480, 640), bool)
    slot[100:200, 250:390] = True  # base at 200 / 480 = 42 %
    product = np.zeros((100, 140), bool)
    product[5:95, 5:135] = True
    kind = kind_of("chest of drawers")
    assert screen(product, slot, kind=kind).passed
    verdict = screen(product, slot, kind=kind, camera=camera)
    assert not verdict.passed and verdict.reason == "support", verdict
    assert verdict.measures["horizon_low"] == pytest.approx(camera.horizon[0])
