"""Turning a product to the room's perspective (adstage.stage.perspective): fronts read from
drawn edges, the map's geometry, and the turned cut-out's shape and box."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from adstage.errors import InputError
from adstage.stage import perspective
from adstage.stage.perspective import Vanishing, front_vanishing, turn_cutout, turn_homography
from adstage.types import Cutout, Placement


def _lines_to(
    image: np.ndarray, vp: tuple[float, float], rows: list[int], x0: int, x1: int
) -> None:
    """Draw dark lines that start at column ``x0`` on ``rows`` and run towards ``vp`` (a point,
    or ``(inf, 0)``: horizontal) until column ``x1``."""
    for y in rows:
        y1 = float(y) if math.isinf(vp[0]) else y + (vp[1] - y) * (x1 - x0) / (vp[0] - x0)
        cv2.line(image, (x0, y), (x1, round(y1)), (40, 40, 40), 2, cv2.LINE_AA)


def test_a_square_on_front_is_at_infinity_and_a_turned_one_meets_at_its_point() -> None:
    flat = np.full((300, 400, 3), 255, np.uint8)
    _lines_to(flat, (math.inf, 0.0), [60, 100, 150, 200, 250], 60, 340)
    found = front_vanishing(flat)
    assert found is not None and found.at_infinity and found.segments >= 4

    turned = np.full((300, 400, 3), 255, np.uint8)
    vp = (1400.0, 140.0)
    _lines_to(turned, vp, [40, 90, 150, 210, 270], 60, 340)
    found = front_vanishing(turned)
    assert found is not None and not found.at_infinity
    x, y, w = found.point
    assert w == 1.0
    assert abs(x - vp[0]) < 0.1 * (vp[0] - 200) and abs(y - vp[1]) < 15
    # only the region's edges count: the lines outside it are not read
    region = np.zeros((300, 400), bool)
    region[:, :30] = True
    assert front_vanishing(turned, region) is None


def test_the_front_is_the_farthest_family_of_enough_support() -> None:
    """A box seen square-on shows its front's flat edges and its top's edges receding to a point
    nearby: the front is the flat family even when the receding one has more support."""
    image = np.full((300, 400, 3), 255, np.uint8)
    _lines_to(image, (math.inf, 0.0), [120, 200, 280], 60, 340)  # the front: flat
    _lines_to(image, (-400.0, 20.0), [40, 60, 80, 100], 80, 380)  # the top: to a point nearby
    found = front_vanishing(image)
    # at infinity, or so far that the flat edges point at it within INLIER_DEG: not the top's
    assert found is not None and (found.at_infinity or abs(found.point[0] - 200) > 2000)
    # a front must lie MIN_FAR widths away: the top's point alone is no front
    top = np.full((300, 400, 3), 255, np.uint8)
    _lines_to(top, (-400.0, 20.0), [40, 60, 80, 100], 80, 380)
    assert front_vanishing(top) is None
    assert perspective.MIN_FAR * 400 > 600
    # a receding family far enough to be a front, with more support than the flat one: the flat
    # one, farther, is the front; alone, the receding one is
    both = np.full((300, 400, 3), 255, np.uint8)
    _lines_to(both, (math.inf, 0.0), [150, 220, 280], 40, 360)
    _lines_to(both, (-1200.0, 20.0), [20, 45, 70, 95, 120], 40, 380)
    found = front_vanishing(both)
    assert found is not None and (found.at_infinity or found.point[0] > 2000)
    alone = np.full((300, 400, 3), 255, np.uint8)
    _lines_to(alone, (-1200.0, 20.0), [20, 45, 70, 95, 120], 40, 380)
    found = front_vanishing(alone)
    assert found is not None and found.point[0] == pytest.approx(-1200, rel=0.15)


def test_a_round_top_has_no_front() -> None:
    image = np.full((300, 400, 3), 255, np.uint8)
    cv2.ellipse(image, (200, 150), (160, 60), 0, 0, 360, (40, 40, 40), 2, cv2.LINE_AA)
    cv2.ellipse(image, (200, 220), (150, 50), 0, 0, 360, (40, 40, 40), 2, cv2.LINE_AA)
    assert front_vanishing(image) is None


def test_front_vanishing_refuses_what_is_not_an_rgb_image() -> None:
    with pytest.raises(InputError, match="H×W×3 uint8"):
        front_vanishing(np.zeros((10, 10), np.uint8))
    with pytest.raises(InputError, match="region"):
        front_vanishing(np.zeros((10, 10, 3), np.uint8), np.ones((5, 5), bool))
    assert front_vanishing(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), bool)) is None
    assert front_vanishing(np.full((50, 50, 3), 200, np.uint8)) is None  # no edges


def _map(hom: np.ndarray, pts: np.ndarray) -> np.ndarray:
    q = np.c_[pts, np.ones(len(pts))] @ hom.T
    return q[:, :2] / q[:, 2:3]


def test_the_turn_fixes_the_centre_column_keeps_verticals_and_sends_lines_to_the_room_point() -> (
    None
):
    origin = (200.0, 250.0)
    own = (-900.0, 120.0, 1.0)  # the product's edges meet far to the left
    room = (1300.0, 160.0, 1.0)  # the room's far to the right
    hom = turn_homography(own, room, origin)
    assert hom is not None
    column = np.array([[200.0, y] for y in (0.0, 100.0, 250.0, 400.0)])
    assert np.allclose(_map(hom, column), column)
    for x in (50.0, 320.0):  # a vertical line stays vertical
        moved = _map(hom, np.array([[x, 10.0], [x, 300.0]]))
        assert moved[0, 0] == pytest.approx(moved[1, 0])
    # a line through the product's point maps to a line through the room's
    start = np.array([100.0, 200.0])
    points = np.array([start + t * (np.array(own[:2]) - start) for t in (0.0, 0.05, 0.1)])
    a, b, c = _map(hom, points)
    for p in (b, np.array(room[:2])):
        cross = (p - a)[0] * (c - a)[1] - (p - a)[1] * (c - a)[0]
        assert abs(cross) / (np.linalg.norm(p - a) * np.linalg.norm(c - a)) < 1e-6
    # lines parallel to the picture (at infinity) go to the room's point too
    flat = turn_homography((1.0, 0.0, 0.0), room, origin)
    assert flat is not None
    a, c = _map(flat, np.array([[60.0, 90.0], [340.0, 90.0]]))
    to_room = np.array(room[:2]) - a
    assert (
        abs((c - a)[0] * to_room[1] - (c - a)[1] * to_room[0])
        < 1e-6 * np.linalg.norm(to_room) * 300
    )
    assert turn_homography((200.0, 50.0, 1.0), room, origin) is None  # on the kept column


def _cut(w: int = 100, h: int = 80) -> Cutout:
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = 180
    rgba[..., 3] = 255
    return Cutout(rgba, np.ones((h, w), bool), (0, 0, w, h), (w / 2, h / 2), 0.1, (w, h))


def test_a_square_on_product_turned_towards_a_point_on_the_right_shrinks_to_the_right() -> None:
    cut = _cut()
    place = Placement((150, 120, 250, 200), 1.0, "height", (400, 300))
    flat = Vanishing((1.0, 0.0, 0.0), 0.9, 5)
    room = Vanishing((900.0, 100.0, 1.0), 0.5, 5)
    done = turn_cutout(cut, place, flat, room)
    assert not isinstance(done, str)
    turned, new, turn = done
    left, right = turn.sides
    assert left > 1.0 > right and turn.made == 1.0
    x0, y0, x1, y1 = new.box
    assert turned.rgba.shape[:2] == (y1 - y0, x1 - x0)  # at the same scale (1 px per px)
    heights = turned.mask.sum(axis=0)
    assert heights[2] > heights[-3]  # the side farther from the point is taller
    # the centre column's base stays on the floor line it stood on
    centre = 200 - x0
    assert y0 + np.nonzero(turned.mask[:, centre])[0].max() + 1 == pytest.approx(200, abs=1)
    assert turned.rgba[turned.mask][:, :3].mean() == pytest.approx(180, abs=1)
    # a point nearer than the turn allows: made partly, the growing side exactly 1 + MAX_TURN,
    # however near the point (even between the centre and a side)
    made = []
    for x in (400.0, 330.0, 300.0, 260.0, 220.0):
        near = turn_cutout(cut, place, flat, Vanishing((x, 100.0, 1.0), 0.5, 5))
        assert not isinstance(near, str)
        assert near[2].made < 1.0
        assert max(near[2].sides) == pytest.approx(1 + perspective.MAX_TURN, abs=1e-6)
        made.append(near[2].made)
    assert made == sorted(made, reverse=True)  # a nearer point: a smaller share of its turn
    record = turn.record()
    assert record["made"] == 1.0 and len(record["sides"]) == 2
    assert all(isinstance(v, float) for v in record["sides"] + record["own"] + record["room"])


def test_no_turn_when_both_fronts_agree_or_the_box_would_leave_the_frame() -> None:
    cut = _cut()
    place = Placement((150, 120, 250, 200), 1.0, "height", (400, 300))
    flat = Vanishing((1.0, 0.0, 0.0), 0.9, 5)
    assert "no corner" in turn_cutout(cut, place, flat, flat)
    room = Vanishing((900.0, 100.0, 1.0), 0.5, 5)
    at_edge = Placement((300, 120, 400, 200), 1.0, "height", (400, 300))
    left = Vanishing((-500.0, 100.0, 1.0), 0.5, 5)
    assert "leave the frame" in turn_cutout(cut, at_edge, flat, left)
    done = turn_cutout(cut, at_edge, flat, left, off_frame=True)
    assert not isinstance(done, str) and done[1].box[2] > 400  # free space: cropped after
    at_bottom = Placement((150, 220, 250, 300), 1.0, "height", (400, 300))
    assert "leave the frame" in turn_cutout(cut, at_bottom, flat, room)  # the near side, below
    with pytest.raises(InputError, match="empty box"):
        turn_cutout(cut, Placement((5, 5, 5, 9), 1.0, "height", (400, 300)), flat, room)


def test_a_large_cut_out_turned_at_the_placement_s_scale_and_a_three_quarter_front_turned_square() -> (
    None
):
    """A cut-out four times the box's size is warped at the box's scale (its pixels' centres kept:
    the centre column's base stays put), and a product whose own front meets at a point to the
    left, in a square-on room, is turned square: its drawer lines come out level."""
    h, w = 320, 400
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 200, 255
    vp = (-4000.0, 40.0)  # the product's own front, in its pixels
    for y in (8, 100, 200, 312):
        y1 = y + (vp[1] - y) * (w - 1) / vp[0]  # along the line from (0, y) to the point
        cv2.line(rgba, (0, y), (w - 1, round(y1)), (30, 30, 30, 255), 3)
    cut = Cutout(rgba, np.ones((h, w), bool), (0, 0, w, h), (w / 2, h / 2), 0.2, (w, h))
    place = Placement((100, 100, 200, 180), 0.25, "height", (400, 300))
    own = Vanishing((vp[0], vp[1], 1.0), 0.8, 4)
    flat = Vanishing((1.0, 0.0, 0.0), 0.8, 4)
    done = turn_cutout(cut, place, own, flat)
    assert not isinstance(done, str)
    turned, new, turn = done
    x0, y0, x1, y1 = new.box
    assert turned.rgba.shape[:2] == (y1 - y0, x1 - x0)  # warped at the placement's scale
    assert turn.made == 1.0
    # the lines met to the left (its left side farther, shorter): turned square, the left grows
    assert turn.sides[0] > 1.0 > turn.sides[1]
    dark = (turned.rgba[..., 0] < 120) & (turned.rgba[..., 3] > 200)
    cols = [round(0.15 * (x1 - x0)), round(0.85 * (x1 - x0))]
    rows = [np.nonzero(dark[:, c])[0] for c in cols]
    middle = [r[(r > 0.3 * len(dark)) & (r < 0.8 * len(dark))].mean() for r in rows]
    assert abs(middle[0] - middle[1]) <= 1.5  # the middle drawer line is level after the turn
    centre = (100 + 200) // 2 - x0
    base = y0 + np.nonzero(turned.mask[:, centre])[0].max() + 1
    assert base == pytest.approx(180, abs=1)


def test_front_vanishing_reads_a_product_s_horizon_above_its_tight_crop() -> None:
    """A cut-out is cropped to the product: its horizon may lie far above the crop (rows=None)."""
    image = np.full((200, 300, 3), 255, np.uint8)
    vp = (1800.0, -600.0)  # three crop heights above its top
    _lines_to(image, vp, [20, 70, 120, 170], 20, 280)
    assert front_vanishing(image) is None  # outside the rows a room's horizon may take
    found = front_vanishing(image, rows=None)
    assert found is not None and found.point[0] == pytest.approx(vp[0], rel=0.25)
    with pytest.raises(InputError, match="bool"):
        front_vanishing(image, np.ones((200, 300), np.uint8))
