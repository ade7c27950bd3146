"""benchmarks/own_object.py: a room's own object taken out and put back, and its shadow measured."""

from __future__ import annotations

import numpy as np
import pytest

from adstage import StageOptions
from benchmark_module import load_benchmark


@pytest.fixture
def own(monkeypatch):  # type: ignore[no-untyped-def]
    pytest.importorskip("lancedb")
    return load_benchmark(monkeypatch, "own_object")


def _room() -> tuple[np.ndarray, np.ndarray]:
    """A grey wall over a lighter floor, a dark box standing on the floor, its shadow in front."""
    scene = np.full((200, 300, 3), 150, np.uint8)
    scene[120:] = 190  # the floor
    scene[160:168, 100:158] = 120  # its real shadow, on the floor in front of it
    scene[80:160, 100:150] = (60, 40, 30)  # the object
    alpha = np.zeros((200, 300), np.float32)
    alpha[80:160, 100:150] = 1.0
    return scene, alpha


def test_the_removed_region_holds_the_real_shadow_only_when_asked(own) -> None:
    _, alpha = _room()
    mask = alpha >= 0.5
    ring = own.removed_region(mask, 0.0, 0.0)
    assert ring[mask].all() and ring[78, 120] and not ring[77, 120]  # grown by 2 px only
    assert not ring[165, 120]
    wide = own.removed_region(mask, 0.04, 0.15)
    assert wide[165, 120] and wide[155, 160]  # the floor around its lower half: its shadow
    assert not wide[85, 165]  # not the wall beside its upper half


def test_agreement_is_the_share_of_the_slot_held_and_zero_for_a_mask_in_pieces(own) -> None:
    slot = np.zeros((100, 100), bool)
    slot[20:80, 20:80] = True  # its prompt box: 16..84 both ways
    whole = np.zeros_like(slot)
    whole[17:83, 17:83] = True  # the whole object, larger than the catalog's fragment
    assert own.agreement(whole, slot) == pytest.approx(1.0)
    upper = np.zeros_like(slot)
    upper[20:60, 20:80] = True
    assert own.agreement(upper, slot) == pytest.approx(40 / 60)
    pieces = upper.copy()
    pieces[70:75, 30:35] = True  # a speck beside it: still one object
    assert own.agreement(pieces, slot) == pytest.approx(40 / 60 + 25 / 3600)
    pieces[65:80, 20:80] = True  # a second piece as large as the first
    assert own.agreement(pieces, slot) == 0.0
    assert own.agreement(np.zeros_like(slot), slot) == 0.0


def test_darkening_and_error_measure_a_known_shadow(own) -> None:
    fill = np.full((10, 10, 3), 200, np.uint8)
    shaded = fill.copy()
    shaded[:5] = 100  # half the ring at half the sRGB value
    ring = np.ones((10, 10), bool)
    linear = (100 / 200) ** 2.2
    assert own.darkening(shaded, fill, ring) == pytest.approx(1 - np.sqrt(linear), abs=1e-3)
    assert own.darkening(fill, fill, ring) == pytest.approx(0.0)
    assert own.shadow_error(shaded, shaded, ring) == 0.0
    assert own.shadow_error(shaded, fill, ring) == pytest.approx(0.5 * -np.log(linear), abs=1e-3)


def test_put_back_keeps_the_object_and_draws_shadows_only_in_ours(own) -> None:
    scene, alpha = _room()
    made = own.put_back(scene, alpha, StageOptions(), 0.04, 0.15, 1.0, (0.0, 1.0))
    np.testing.assert_array_equal(made["bare"][90:150, 105:145], scene[90:150, 105:145])
    assert made["box"] == [100, 80, 150, 160]
    floor_under = (slice(160, 166), slice(105, 145))  # the floor just below its base
    assert made["ours"][floor_under].mean() < made["bare"][floor_under].mean() - 5
    assert made["by_scale"]["0"]["error"] == pytest.approx(made["error_bare"])  # none drawn
    assert made["by_scale"]["1"]["error"] > made["by_scale"]["0"]["error"]
    assert made["by_scale"]["1"]["dark"] > made["by_scale"]["0"]["dark"] + 0.05
    assert made["dark_truth"] > 0  # the real shadow, removed by the fill, was darker
    assert made["ring_pixels"] > 0
    catalog = made["catalog"]  # on white, through staging's edges, nothing drawn
    np.testing.assert_array_equal(catalog[:, :95], made["bare"][:, :95])
    np.testing.assert_array_equal(catalog[166:], made["bare"][166:])
    assert made["catalog_error"] < 0.01  # an opaque box: its pixels are the photo's
    assert 0.6 <= made["lit_exposure"] <= 1.1 and made["lit_error"] > 0.05


def test_a_copy_stands_beside_the_object_where_there_is_room_and_nowhere_else(own) -> None:
    scene, alpha = _room()
    made = own.moved(scene, alpha, StageOptions(), [], (0.0, 1.0))
    x0, y0, x1, y1 = made["moved_box"]
    assert (y0, y1) == (80, 160) and x1 - x0 == 50 and abs(x0 - 100) == 55  # its width × 1.1
    copy = made["moved-0"]
    np.testing.assert_array_equal(copy[90:150, x0 + 5 : x1 - 5], scene[90:150, 105:145])
    assert made["moved-1"][161:166, x0 + 5 : x1 - 5].mean() < copy[161:166, x0 + 5 : x1 - 5].mean()
    known = np.zeros((200, 300), bool)
    known[:, :100] = True  # the scene's other objects fill both sides
    known[:, 150:] = True
    assert own.moved(scene, alpha, StageOptions(), [known])["moved_box"] is None


def test_a_mask_cut_by_the_prompt_box_does_not_agree(own) -> None:
    slot = np.zeros((200, 200), bool)
    slot[60:100, 60:140] = True  # a catalog fragment: the object reaches further down
    x0, y0, x1, y1 = own.prompt_box(slot)
    assert (x0, y0, x1, y1) == (55, 58, 145, 102)
    cut = np.zeros_like(slot)
    cut[60:102, 60:140] = True  # the segmenter saw only the box: its mask stops at the box's foot
    assert own.agreement(cut, slot) == 0.0
    whole = np.zeros_like(slot)
    whole[60:99, 58:142] = True
    assert own.agreement(whole, slot) == pytest.approx(39 / 40)
    edge = np.zeros((200, 200), bool)  # at the frame's side the box cannot go further: allowed
    edge[60:100, 0:50] = True
    assert own.agreement(edge, edge) == pytest.approx(1.0)


def test_the_fit_chooses_on_even_rooms_and_reports_on_odd_ones(own) -> None:
    def room(n: int, none: float, half: float) -> dict:
        return {"n": n, "error_bare": none, "dark_truth": 0.2,
                "by_scale": {"0": {"error": none, "dark": 0.0}, "0.5": {"error": half, "dark": 0.2}}}  # fmt: skip

    rooms = [room(0, 0.5, 0.3), room(1, 0.2, 0.9), room(2, 0.5, 0.3), room(3, 0.2, 0.9)]
    fit = own.fit_scale(rooms)
    assert fit["chosen"] == "0.5"  # the even rooms prefer it
    assert fit["by_scale"]["0.5"] == {"choose": 0.3, "report": 0.9, "median_dark": 0.2}
    assert fit["by_scale"]["0"]["report"] == 0.2 and fit["bare"] == {"choose": 0.5, "report": 0.2}
    assert own.fit_scale([]) == {}
