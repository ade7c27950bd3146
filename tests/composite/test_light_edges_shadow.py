"""Edge decontamination, light matching and the ground shadow (issue 13, step 5)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from adstage.composite import blend
from adstage.composite.blend import (
    EDGES,
    _under_body,
    cast_lean,
    cast_shadow,
    composite,
    decontaminate,
    ground_shadow,
    inner_shade,
    paste,
)
from adstage.composite.light import (
    LIFT_MAX,
    SHADE_BASE,
    SHADE_MAX_SIDE,
    SOFT_FROM,
    SOFT_MIN,
    apply_light,
    estimate_light,
    floor_shade,
    lift_blacks,
    light_side,
    room_softness,
    shade_product,
    to_linear,
    to_srgb,
)
from adstage.errors import InputError
from adstage.types import Placement

PRODUCT = np.array([40, 60, 90], np.uint8)


def _fringed(size: int = 120) -> np.ndarray:
    """A dark product on white whose mask is 2 px too generous: its outer ring is called opaque
    but is half white (what a segmenter leaves on a JPEG catalog photo), plus a soft ring."""
    rng = np.random.default_rng(0)
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = 255
    m = 10
    inner = np.zeros((size, size), bool)
    inner[m + 3 : size - m - 3, m + 3 : size - m - 3] = True
    fringe = np.zeros((size, size), bool)
    fringe[m + 1 : size - m - 1, m + 1 : size - m - 1] = True
    fringe &= ~inner
    soft = np.zeros((size, size), bool)
    soft[m : size - m, m : size - m] = True
    soft &= ~(inner | fringe)
    noise = rng.integers(-8, 9, (size, size, 3))
    colour = np.clip(PRODUCT.astype(int) + noise, 0, 255)
    rgba[..., :3][inner] = colour[inner]
    rgba[..., :3][fringe] = (0.5 * colour[fringe] + 0.5 * 255).astype(np.uint8)
    rgba[..., 3][inner | fringe] = 255
    rgba[..., :3][soft] = (0.25 * colour[soft] + 0.75 * 255).astype(np.uint8)
    rgba[..., 3][soft] = 128
    return rgba


def _halo(image: np.ndarray, rgba: np.ndarray, offset: int, scene_level: float) -> float:
    """Mean lightness of the pasted edge above both the product's and the scene's: a pixel no
    mix of the two could give (a white fringe)."""
    h, w = rgba.shape[:2]
    hard = np.zeros(image.shape[:2], np.uint8)
    hard[offset : offset + h, offset : offset + w] = rgba[..., 3] >= 128
    kernel = np.ones((3, 3), np.uint8)
    ring = (cv2.dilate(hard, kernel, iterations=2) > 0) & (
        cv2.erode(hard, kernel, iterations=3) == 0
    )
    light = image.astype(np.float32).mean(2)
    product = float(PRODUCT.mean()) + 8
    return float(np.maximum(light[ring] - max(product, scene_level), 0).mean())


def _place(rgba: np.ndarray, scene_size: int, offset: int) -> Placement:
    h, w = rgba.shape[:2]
    return Placement((offset, offset, offset + w, offset + h), 1.0, "test", (scene_size,) * 2)


def test_refine_removes_the_white_fringe_that_unmix_leaves() -> None:
    rgba = _fringed()
    scene = np.full((160, 160, 3), 60, np.uint8)
    placement = _place(rgba, 160, 20)
    halos = {}
    for edges in EDGES[:2]:
        out = paste(scene, rgba, placement, despill_background=(255, 255, 255), edges=edges)
        halos[edges] = _halo(out, rgba, 20, 60)
    raw = _halo(paste(scene, rgba, placement), rgba, 20, 60)
    assert raw > 20 and halos["unmix"] > 15  # unmix only fixes the soft ring
    assert halos["refine"] < 2.0 < 0.1 * halos["unmix"]
    fixed = decontaminate(rgba, method="refine", band_px=3)
    deep = cv2.erode((rgba[..., 3] >= 128).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert np.array_equal(fixed[deep], rgba[deep])  # nothing changes deeper than the band


def test_refine_keeps_a_white_product_on_white_opaque() -> None:
    rgba = _fringed()
    rgba[..., :3][rgba[..., 3] == 255] = 246  # white furniture: the edge cannot be told apart
    fixed = decontaminate(rgba, method="refine")
    opaque = rgba[..., 3] == 255
    assert fixed[..., 3][opaque].min() >= 250
    with pytest.raises(InputError, match="edges"):
        decontaminate(rgba, method="magic")


@pytest.mark.slow  # pymatting's numba kernels compile on the first call: 74 s on 2 cores
def test_ml_foreground_changes_only_soft_pixels() -> None:
    pytest.importorskip("pymatting")
    rgba = _fringed(64)
    fixed = decontaminate(rgba, method="ml")
    opaque = rgba[..., 3] == 255
    assert np.array_equal(fixed[opaque], rgba[opaque])
    soft = rgba[..., 3] == 128
    # The soft ring's colour moves from the white mix towards the product's colour.
    assert fixed[..., :3][soft].mean() < rgba[..., :3][soft].mean() - 30


def test_light_gains_are_bounded_recorded_and_exact_when_off() -> None:
    dark = np.full((500, 3), 20, np.uint8)
    match = estimate_light(dark, strength=1.0, min_exposure=0.6)
    assert match.exposure == pytest.approx(0.6) and match.bounded
    orange = np.tile(np.array([[250, 150, 60]], np.uint8), (500, 1))
    cast = estimate_light(orange, strength=1.0, max_cast=1.1)
    assert cast.bounded
    assert max(cast.white_balance) / min(cast.white_balance) <= 1.1 * 1.1 / 0.9 + 1e-6
    assert cast.white_balance[0] > 1.0 > cast.white_balance[2]  # warmer light, warmer product
    assert estimate_light(orange, strength=0.0).gain == (1.0, 1.0, 1.0)
    grey = np.full((10, 10, 3), 128, np.uint8)
    assert np.array_equal(apply_light(grey, estimate_light(orange, strength=0.0)), grey)
    values = np.arange(256, dtype=np.uint8)
    assert np.array_equal(to_srgb(to_linear(values)), values)  # the tables round-trip
    with pytest.raises(InputError, match="strength"):
        estimate_light(dark, strength=1.5)


def test_composite_records_the_light_it_applied() -> None:
    rgba = _fringed()
    scene = np.full((160, 160, 3), 90, np.uint8)
    placement = _place(rgba, 160, 20)
    lit = composite(scene, rgba, placement, light=1.0)
    assert lit.light is not None and lit.light.exposure < 1.0
    assert lit.provenance()["light"]["exposure"] == pytest.approx(lit.light.exposure, abs=1e-4)
    opaque = (slice(40, 100), slice(40, 100))
    assert lit.image[opaque].mean() < paste(scene, rgba, placement)[opaque].mean() - 3
    plain = composite(scene, rgba, placement)
    assert plain.light is None
    assert np.array_equal(plain.image[opaque], rgba[20:80, 20:80, :3])
    with pytest.raises(InputError, match="light"):
        composite(scene, rgba, placement, light=-0.1)


def test_shadow_darkens_below_and_at_the_feet_not_above() -> None:
    # A table: a top and two legs standing on the floor.
    rgba = np.zeros((60, 80, 4), np.uint8)
    rgba[..., :3] = 120
    rgba[0:10, :, 3] = 255
    rgba[10:60, 0:6, 3] = 255
    rgba[10:60, 74:80, 3] = 255
    scene = np.full((200, 200, 3), 200, np.uint8)
    placement = Placement((60, 100, 140, 160), 1.0, "test", (200, 200))
    shaded = paste(scene, rgba, placement, shadow=0.6)
    diff = paste(scene, rgba, placement).astype(int) - shaded.astype(int)
    assert diff.min() >= 0  # a shadow only darkens
    assert not diff[:130].any()  # nothing above the box's vertical middle
    assert diff[161, 63].max() > 40  # right under a leg
    assert diff[161, 63].max() > diff[150, 100].max() + 10  # feet darker than under the middle
    assert diff[165:, :40].max() == 0  # it stays near the product
    alpha = np.zeros((200, 200), np.float32)
    alpha[100:160, 60:140] = rgba[..., 3] / 255.0
    dark = ground_shadow(alpha, placement.box, 0.6)
    assert dark.max() <= 0.6 and not dark[alpha >= 1.0].any()


def _room_with_window(window: tuple[int, int] | None) -> np.ndarray:
    """A mid-grey room 300×200 with a clipped white window spanning the given columns."""
    scene = np.full((200, 300, 3), 120, np.uint8)
    scene[140:] = 90  # a darker floor
    if window is not None:
        scene[20:100, window[0] : window[1]] = 255
    return scene


def test_light_side_finds_a_window_and_refuses_an_even_room() -> None:
    left, right = light_side(_room_with_window((10, 60))), light_side(_room_with_window((240, 290)))
    assert left is not None and left < -0.6
    assert right is not None and right > 0.6
    assert light_side(_room_with_window(None)) is None  # nothing bright
    even = _room_with_window(None)
    even[20:100:10] = 255  # bright stripes right across: no side
    assert light_side(even) is None


def test_cast_lean_points_away_from_the_light() -> None:
    box = (130, 60, 170, 140)  # in the middle of a 300-wide scene
    assert cast_lean(-0.8, box, 300) > 0.3  # light at the left: the shadow leans right
    assert cast_lean(0.8, box, 300) < -0.3
    assert cast_lean(None, box, 300) == 0.0
    assert abs(cast_lean(-1.0, (280, 0, 300, 10), 300)) <= 0.6  # bounded


def test_cast_shadow_lies_behind_the_base_and_leans() -> None:
    alpha = np.zeros((200, 300), np.float32)
    alpha[60:140, 130:170] = 1.0  # a tall box standing on row 139
    box = (130, 60, 170, 140)
    straight = cast_shadow(alpha, box, lean=0.0)
    leant = cast_shadow(alpha, box, lean=0.5)
    assert straight.max() <= 1.0 and straight.min() >= 0.0
    assert straight[100:150, 150].max() > 0.5  # on the floor right behind the base
    assert straight[:100].max() < 0.05  # not up the whole height: foreshortened to about 1/4
    # Leaning right: 20 rows up the shadow is shifted right by about 10 pixels.
    row = 139 - round(0.25 * 40)
    assert leant[row, 175:185].mean() > straight[row, 175:185].mean() + 0.1
    assert leant[row, 115:125].mean() < straight[row, 115:125].mean()


def test_composite_casts_a_shadow_away_from_the_window_and_records_it() -> None:
    rgba = np.zeros((80, 40, 4), np.uint8)
    rgba[..., :3] = 60
    rgba[..., 3] = 255
    placement = Placement((130, 60, 170, 140), 1.0, "test", (300, 200))
    scene = _room_with_window((10, 60))  # light at the left
    plain = composite(scene, rgba, placement, shadow=0.5)
    thrown = composite(scene, rgba, placement, shadow=0.5, cast_opacity=0.5)
    assert plain.cast is None and plain.provenance()["cast"] is None
    assert thrown.cast is not None and thrown.cast["lean"] > 0 and thrown.cast["light_x"] < 0
    diff = plain.image.astype(int) - thrown.image.astype(int)
    assert diff.min() >= 0  # it only darkens
    assert (thrown.image[60:140, 130:170] == plain.image[60:140, 130:170]).all()  # not the product
    right, left = diff[115:140, 170:190].mean(), diff[115:140, 110:130].mean()
    assert right > 2 * left and right > 3  # beside the product, on the side away from the light
    assert (
        composite(scene, rgba, placement, cast_opacity=0.5).image
        == composite(scene, rgba, placement).image
    ).all()  # no shadow at all: no cast shadow either
    with pytest.raises(InputError, match="cast_opacity"):
        composite(scene, rgba, placement, shadow=0.5, cast_opacity=1.5)


def _on_legs(body_rows: int) -> np.ndarray:
    """An 80×60 grey product: a body of ``body_rows`` rows on two legs reaching row 59."""
    rgba = np.zeros((60, 80, 4), np.uint8)
    rgba[..., :3] = 120
    rgba[:body_rows, :, 3] = 255
    rgba[:, 0:6, 3] = 255
    rgba[:, 74:80, 3] = 255
    return rgba


def test_under_shadow_darkens_a_low_gap_not_a_tall_one() -> None:
    scene = np.full((200, 200, 3), 200, np.uint8)
    placement = Placement((60, 100, 140, 160), 1.0, "test", (200, 200))
    for rows, low in ((52, True), (10, False)):  # a sofa's 8-row gap; a table's 50
        rgba = _on_legs(rows)
        plain = composite(scene, rgba, placement, shadow=0.5)
        shaded = composite(scene, rgba, placement, shadow=0.5, under_opacity=1.0)
        assert shaded.under == 1.0 and plain.under == 0.0
        diff = plain.image.astype(int) - shaded.image.astype(int)
        assert diff.min() >= 0
        gap = diff[100 + rows + 2 : 158, 80:120].mean()  # under the body, between the legs
        if low:
            assert gap > 20  # over the contact shadow and ambient occlusion already there
        else:
            assert gap < 3
        assert (shaded.image[100:160, 60:66] == plain.image[100:160, 60:66]).all()  # the leg


def test_under_shadow_follows_each_pieces_own_floor_line() -> None:
    # A set of two pieces: one further back (its legs end higher up the picture) and one in front.
    alpha = np.zeros((60, 100), bool)
    alpha[38:43, 0:41] = True  # the back piece's seat...
    alpha[38:49, 0:4] = alpha[38:49, 37:41] = True  # ...on legs ending at row 48
    alpha[45:52, 60:100] = True  # the front piece's seat...
    alpha[45:60, 60:64] = alpha[45:60, 96:100] = True  # ...on legs on the base line
    lowest = np.where(alpha.any(0), 59 - np.argmax(alpha[::-1], axis=0), -1)
    shade = _under_body(lowest, 60)
    assert shade[44:48, 10:30].min() > 0.5  # under the back piece's seat, above its floor line
    assert shade[50:60, 0:41].max() == 0.0  # the floor in front of the back piece is not under it
    assert shade[53:59, 70:90].min() > 0.5  # under the front piece
    assert shade.max() <= 1.0 and shade[alpha].max() == 0.0  # never on the product
    flat = np.zeros((60, 100), bool)
    flat[20:60, :] = True  # a chest standing flat on the floor: nothing under it
    assert _under_body(59 - np.argmax(flat[::-1], axis=0), 60).max() == 0.0


def test_under_shadow_can_leave_out_the_floor_below_a_back_leg(monkeypatch) -> None:
    from adstage.composite import blend

    # A chair seen from the front, a little from above: a seat on two front legs reaching the
    # base line and two back legs just inside them whose tips end higher up the picture (so
    # they are not taken for contacts: a front leg beside them is lower).
    alpha = np.zeros((100, 100), bool)
    alpha[30:40, 0:100] = True  # the seat
    alpha[30:100, 0:3] = alpha[30:100, 97:100] = True  # front legs on the base line
    alpha[30:80, 8:11] = alpha[30:80, 89:92] = True  # back legs ending at row 79
    lowest = np.where(alpha.any(0), 99 - np.argmax(alpha[::-1], axis=0), -1)
    assert blend._leg_ends(alpha, lowest)[[1, 9, 90, 98]].all()
    assert not blend._leg_ends(alpha, lowest)[[20, 50, 80]].any()  # the seat's underside
    below_back_leg = (slice(82, 99), slice(8, 11))
    under_seat = (slice(42, 99), slice(40, 60))
    monkeypatch.setattr(blend, "UNDER_SKIP_LEGS", False)
    shade = _under_body(lowest, 100, alpha)
    assert shade[below_back_leg].min() > 0  # the streak under the back leg
    monkeypatch.setattr(blend, "UNDER_SKIP_LEGS", True)
    skipped = _under_body(lowest, 100, alpha)
    assert skipped[below_back_leg].max() == 0.0
    np.testing.assert_array_equal(skipped[under_seat], shade[under_seat])  # the body's shade
    np.testing.assert_array_equal(_under_body(lowest, 100), shade)  # no mask: nothing skipped


@pytest.mark.parametrize("width", [40, 320])  # full resolution; the map computed smaller
def test_composite_shadows_match_the_full_frame_map(width: int) -> None:
    # A tall product, leaning shadow: the region composite() computes the map in must hold all
    # of it, and at reduced resolution it must stay close to the full-size map.
    scene = _room_with_window((10, 60))
    scene = cv2.resize(scene, (900, 600), interpolation=cv2.INTER_NEAREST)
    rgba = _on_legs(52)
    rgba = cv2.resize(rgba, (width, 360), interpolation=cv2.INTER_NEAREST)
    box = (560, 200, 560 + width, 560)
    placement = Placement(box, 1.0, "test", (900, 600))
    made = composite(scene, rgba, placement, shadow=0.5, cast_opacity=0.5, under_opacity=0.6)
    assert made.cast is not None and made.cast["lean"] > 0.3
    alpha = np.zeros((600, 900), np.float32)
    alpha[200:560, 560 : 560 + width] = rgba[..., 3] / 255.0
    dark = ground_shadow(
        alpha, box, 0.5, cast_opacity=0.5, lean=made.cast["lean"], under_opacity=0.6
    )
    want = np.clip(np.rint(scene.astype(np.float32) * (1.0 - dark)[..., None]), 0, 255)
    outside = alpha == 0
    diff = np.abs(made.image.astype(int) - want.astype(int))[outside]
    assert dark[:, 560 + width :].max() > 0.1  # the shadow leans out beside the product
    assert diff.max() <= (1 if width <= 160 else 12)
    assert diff.mean() <= (0.01 if width <= 160 else 0.5)


def test_shade_lights_the_side_facing_the_light_and_darkens_the_base() -> None:
    product = np.full((40, 40, 3), 128, np.uint8)
    box = (80, 30, 120, 70)  # centred in a 200-wide scene
    shaded, record = shade_product(product, box, 200, 1.0, 1.0)  # the light at the right edge
    assert record.side == pytest.approx(SHADE_MAX_SIDE)
    assert shaded[:10, -3:].mean() > shaded[:10, :3].mean() + 15  # the lit side is brighter
    assert abs(int(shaded[:10, 20].mean()) - 128) <= 2  # the middle of the top half is kept
    assert shaded[-1, 20].mean() < shaded[0, 20].mean() - 10  # the base is darker than the top
    left, record = shade_product(product, box, 200, -0.5, 1.0)  # a window left of it
    assert record.side == pytest.approx(-0.5 * SHADE_MAX_SIDE)
    assert left[:10, :3].mean() > left[:10, -3:].mean() + 5
    half, record = shade_product(product, box, 200, -0.5, 0.5)  # half the strength: half the log
    assert record.side == pytest.approx(-0.25 * SHADE_MAX_SIDE)
    assert record.base == pytest.approx(0.5 * SHADE_BASE)
    assert (
        0
        < half[:10, :3].mean() - half[:10, -3:].mean()
        < left[:10, :3].mean() - left[:10, -3:].mean()
    )
    # a window right of the scene's centre (at 60 % of its width) but left of a product at the
    # right edge: the product's left side is the lit one
    right_of = shade_product(product, (160, 30, 200, 70), 200, 0.2, 1.0)[1]
    assert right_of.side < 0


def test_a_measured_ramp_darkens_from_its_start_down_to_the_base(monkeypatch) -> None:
    from adstage.composite import light

    product = np.full((100, 40, 3), 128, np.uint8)
    box = (80, 30, 120, 130)
    monkeypatch.setattr(light, "SHADE_RAMP", (0.4, 0.4, 1.0))
    ramped, record = shade_product(product, box, 200, None, 1.0)
    column = ramped[:, 20, 0].astype(int)
    assert np.all(column[:40] == 128)  # nothing above 40 % of the height
    assert np.all(np.diff(column[40:]) <= 0) and column[-1] < column[50]  # then darker, smoothly
    assert record.base == pytest.approx(1 - np.exp(-0.4), abs=0.01)  # a third darker at the base
    assert record.ramp == (0.4, 0.4, 1.0) and record.as_dict()["ramp"] == [0.4, 0.4, 1.0]
    monkeypatch.setattr(light, "SHADE_RAMP", (0.4, 0.8, 0.5))
    with pytest.raises(InputError, match="SHADE_RAMP"):
        shade_product(product, box, 200, None, 1.0)
    monkeypatch.setattr(light, "SHADE_RAMP", (0.4, 0.4, 1.0))
    hung, record = shade_product(product, box, 200, None, 1.0, base=False)
    assert record.base == 0.0 and np.array_equal(hung, product)  # a wall item: no floor below
    monkeypatch.setattr(light, "SHADE_RAMP", None)
    default, record = shade_product(product, box, 200, None, 1.0)
    assert record.base == pytest.approx(SHADE_BASE) and "ramp" not in record.as_dict()
    assert default[-1, 20, 0] < ramped[-1, 20, 0]  # the default's base is far darker


def test_shade_without_a_light_or_strength() -> None:
    product = np.full((40, 40, 3), 128, np.uint8)
    shaded, record = shade_product(product, (80, 30, 120, 70), 200, None, 0.5)
    assert record.side == 0.0 and record.base == 0.5 * SHADE_BASE
    assert np.abs(shaded[:, :3].astype(int) - shaded[:, -3:]).max() <= 1  # no gradient across
    hung, record = shade_product(product, (80, 30, 120, 70), 200, None, 1.0, base=False)
    assert record.base == 0.0 and np.array_equal(hung, product)  # a wall item: no floor below
    same, record = shade_product(product, (80, 30, 120, 70), 200, 1.0, 0.0)
    assert same is product and record.base == 0.0
    with pytest.raises(InputError, match="shade"):
        shade_product(product, (80, 30, 121, 70), 200, None, 1.0)
    with pytest.raises(InputError, match="shade"):
        shade_product(product, (80, 30, 120, 70), 200, None, 1.5)
    with pytest.raises(InputError, match="h×w×3"):
        shade_product(product[..., 0], (80, 30, 120, 70), 200, None, 1.0)


def test_composite_records_the_shading() -> None:
    scene = np.full((100, 300, 3), 90, np.uint8)
    scene[5:60, 250:290] = 255  # a window at the top right
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[...] = (128, 128, 128, 255)
    placement = Placement(box=(80, 50, 120, 90), scale=1.0, fit="box", scene_size=(300, 100))
    plain = composite(scene, rgba, placement)
    shaded = composite(scene, rgba, placement, shade=1.0)
    assert plain.provenance()["shade"] is None
    assert shaded.provenance()["shade"]["side"] > 0.5 * SHADE_MAX_SIDE  # lit from the right
    assert shaded.image[55, 117].mean() > shaded.image[55, 82].mean() + 5


def test_lift_raises_the_products_blacks_to_the_scenes_and_keeps_its_whites() -> None:
    product = np.zeros((20, 20, 3), np.uint8)
    product[:, 10:] = 255  # half black, half white
    alpha = np.ones((20, 20), np.float32)
    hazy = np.full((400, 3), 60, np.uint8)  # a scene whose darkest pixels are grey 60
    lifted, lift = lift_blacks(product, alpha, hazy, 1.0)
    assert 0.03 < lift <= LIFT_MAX  # grey 60 is about 0.045 in linear light
    assert 50 <= int(lifted[0, 0, 0]) <= 62 and int(lifted[0, -1, 0]) == 255
    half = lift_blacks(product, alpha, hazy, 0.5)[1]
    assert half == pytest.approx(0.5 * lift, abs=1e-6)
    assert lift_blacks(product, alpha, np.full((400, 3), 250, np.uint8), 1.0)[1] == LIFT_MAX
    deep = np.zeros((400, 3), np.uint8)  # a scene as dark as the product: nothing to lift
    same, none = lift_blacks(product, alpha, deep, 1.0)
    assert none == 0.0 and same is product
    assert lift_blacks(product, alpha, hazy, 0.0) == (product, 0.0)
    with pytest.raises(InputError, match="lift"):
        lift_blacks(product, alpha, hazy, 2.0)
    with pytest.raises(InputError, match="alpha"):
        lift_blacks(product, alpha[:10], hazy, 1.0)


def test_composite_records_the_lift() -> None:
    scene = np.full((100, 200, 3), 70, np.uint8)
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 3] = 255  # a black product
    placement = Placement(box=(80, 30, 120, 70), scale=1.0, fit="box", scene_size=(200, 100))
    assert composite(scene, rgba, placement).provenance()["lift"] == 0.0
    lifted = composite(scene, rgba, placement, lift=1.0)
    assert lifted.provenance()["lift"] > 0.0 and lifted.image[50, 100].min() > 40


def test_deepen_darks_stretches_a_flat_products_darks_and_keeps_its_lights() -> None:
    from adstage.composite.light import deepen_darks, product_contrast

    product = np.full((20, 20, 3), 230, np.uint8)  # a white front…
    product[:, :6] = 180  # …and a side nearly as light, as a studio lights it
    alpha = np.ones((20, 20), np.float32)
    flat = product_contrast(product, alpha)
    assert flat is not None and 0.3 < flat < 0.7
    deep, gamma = deepen_darks(product, alpha, target=1.0)
    assert gamma == pytest.approx(1.0 / flat, rel=1e-6)
    assert product_contrast(deep, alpha) == pytest.approx(1.0, abs=0.05)  # as asked
    assert int(deep[0, 10, 0]) == 230 and int(deep[0, 0, 0]) < 150  # lights kept, side darker
    capped, most = deepen_darks(product, alpha, target=10.0, max_gamma=1.5)
    assert most == 1.5 and int(capped[0, 0, 0]) > int(deep[0, 0, 0])
    same, one = deepen_darks(product, alpha, target=0.2)  # contrasted enough already
    assert one == 1.0 and same is product
    white = np.full((20, 20, 3), 230, np.uint8)
    white[2:4, 2:5] = 40  # a handle, 1.5 % of it: its 10th percentile is white
    kept, none = deepen_darks(white, alpha, target=1.5)
    assert none == 1.0 and kept is white  # not crushed to black
    clear = np.zeros((20, 20), np.float32)  # nothing opaque: nothing measured, nothing changed
    assert product_contrast(product, clear) is None
    assert deepen_darks(product, clear, target=1.0) == (product, 1.0)
    with pytest.raises(InputError, match="deepen"):
        deepen_darks(product, alpha, target=0.0)
    with pytest.raises(InputError, match="alpha"):
        deepen_darks(product, alpha[:10], target=1.0)


def test_composite_deepens_only_when_asked_and_records_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from adstage.composite import blend

    scene = np.full((100, 200, 3), 120, np.uint8)
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., :3] = 235
    rgba[:, :15, :3] = 190  # a flat white product
    rgba[..., 3] = 255
    placement = Placement(box=(80, 30, 120, 70), scale=1.0, fit="box", scene_size=(200, 100))
    plain = composite(scene, rgba, placement)
    assert plain.provenance()["deepen"] == 1.0
    monkeypatch.setattr(blend, "DEEPEN", 1.2)
    deep = composite(scene, rgba, placement)
    assert deep.provenance()["deepen"] > 1.0
    assert int(deep.image[50, 85, 0]) < int(plain.image[50, 85, 0])  # its side darker
    assert int(deep.image[50, 110, 0]) == int(plain.image[50, 110, 0])  # its front kept


def test_crease_is_a_thin_dark_line_where_the_product_meets_the_floor() -> None:
    alpha = np.zeros((200, 300), np.float32)
    alpha[60:140, 130:170] = 1.0  # a box standing on row 139
    box = (130, 60, 170, 140)
    soft = ground_shadow(alpha, box, 0.5)
    creased = ground_shadow(alpha, box, 0.5, crease=0.6)
    extra = creased - soft
    assert extra.min() >= -1e-6  # it only darkens
    assert extra[140:143, 140:160].mean() > 0.1  # right under the base
    assert extra[150:, :].max() < 0.05  # a line, not a band: nothing 10 rows further down
    assert not extra[60:140, 130:170].any()  # never on the product itself
    assert extra[:136].max() < 1e-3  # and only a few rows high beside its corners
    assert creased[140, 150] <= 1.0


def test_inner_shade_darkens_enclosed_openings_only() -> None:
    # An open shelf: a frame with a shelf across, two enclosed compartments; beside it a table
    # whose space between the legs is open to the floor (the box's bottom edge).
    alpha = np.zeros((80, 120), np.float32)
    alpha[0:6, 0:60] = alpha[74:80, 0:60] = alpha[37:43, 0:60] = 1.0  # top, bottom, shelf
    alpha[:, 0:6] = alpha[:, 54:60] = 1.0  # sides
    alpha[0:10, 70:120] = 1.0  # the table's top...
    alpha[:, 70:76] = alpha[:, 114:120] = 1.0  # ...and legs
    shade = inner_shade(alpha, 0.5)
    assert shade.shape == alpha.shape and shade.max() <= 0.5 + 1e-6
    assert shade[10:34, 10:50].min() > 0.2  # inside both compartments
    assert shade[47:70, 10:50].min() > 0.2
    assert shade[8:12, 30].max() > shade[20, 30]  # darker near the shelf above than mid-way
    assert shade[12:80, 78:112].max() == 0.0  # under the table: open to the floor
    assert inner_shade(alpha, 0.0).max() == 0.0
    assert inner_shade(np.ones((20, 20), np.float32), 1.0).max() == 0.0  # no opening


def test_composite_inner_shade_darkens_what_is_seen_through_the_opening() -> None:
    scene = np.full((100, 100, 3), 200, np.uint8)
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., :3] = 90
    rgba[:, :, 3] = 255
    rgba[8:32, 8:32, 3] = 0  # a window through a frame
    placement = Placement((30, 30, 70, 70), 1.0, "test", (100, 100))
    plain = composite(scene, rgba, placement)
    shaded = composite(scene, rgba, placement, inner=0.6)
    assert shaded.inner == 0.6 and shaded.provenance()["inner"] == 0.6
    seen = (slice(40, 60), slice(40, 60))  # through the window
    assert plain.image[seen].min() == 200
    assert shaded.image[seen].max() < 170
    assert (shaded.image[:30] == plain.image[:30]).all()  # nothing outside the product's box
    assert (shaded.image[30:70, 30:38] == plain.image[30:70, 30:38]).all()  # the frame itself
    with pytest.raises(InputError, match="inner"):
        composite(scene, rgba, placement, inner=1.5)


def test_room_softness_lightens_shadows_only_in_a_room_without_dark_floor() -> None:
    bright = np.full((200, 300, 3), 235, np.uint8)
    bright[100:] = 215  # a pale floor, nothing dark on it
    deep = bright.copy()
    deep[150:170, 100:200] = 20  # a dark shadow under furniture
    soft, ratio = room_softness(bright)
    assert ratio > 0.8 and soft == SOFT_MIN
    kept, deep_ratio = room_softness(deep)
    assert deep_ratio < SOFT_FROM and kept == 1.0
    assert room_softness(np.zeros((50, 50, 3), np.uint8)) == (1.0, 0.0)
    rgba = _on_legs(10)
    placement = Placement((110, 60, 190, 120), 1.0, "test", (300, 200))
    hard = composite(bright, rgba, placement, shadow=0.8, cast_opacity=0.8)
    light = composite(bright, rgba, placement, shadow=0.8, cast_opacity=0.8, soften=True)
    assert hard.soften is None and light.soften == SOFT_MIN
    drop_hard = bright.astype(int) - hard.image.astype(int)
    drop_light = bright.astype(int) - light.image.astype(int)
    below = (slice(118, 130), slice(110, 190))  # the floor at the product's base
    assert drop_hard[below].max() > 20
    assert abs(drop_light[below].sum() / drop_hard[below].sum() - SOFT_MIN) < 0.1


def test_floor_shade_reads_the_darkening_around_an_objects_base() -> None:
    floor = np.full((200, 300, 3), 200, np.uint8)
    mask = np.zeros((200, 300), bool)
    mask[80:150, 130:170] = True  # an object 40 px wide standing on row 150
    floor[mask] = 30  # dark itself: only the floor around it counts
    soft = floor_shade(floor, mask)
    assert soft is not None and abs(soft) < 0.02
    shaded = floor.copy()
    shaded[140:154, 124:176][~mask[140:154, 124:176]] = 90  # a shadow hugging its base
    deep = floor_shade(shaded, mask)
    assert deep is not None and deep > 0.5
    others = np.zeros_like(mask)
    others[140:154, 124:176] = True  # the same dark pixels, another object's: left out
    others &= ~mask
    assert floor_shade(shaded, mask, others) == pytest.approx(0.0, abs=0.02)
    as_bytes = floor_shade(shaded, mask.astype(np.uint8), others.astype(np.uint8) * 255)
    assert as_bytes == pytest.approx(0.0, abs=0.02)  # 0/1 and 0/255 masks read as boolean
    assert floor_shade(floor, np.zeros_like(mask)) is None  # nothing to measure
    with pytest.raises(InputError, match="floor_shade"):
        floor_shade(floor, mask[:100])
    with pytest.raises(InputError, match="others"):
        floor_shade(floor, mask, others[:100])


def test_a_thin_foot_gets_a_tight_contact_shadow_a_base_a_wide_one(monkeypatch) -> None:
    from adstage.composite import blend

    # A 300-px-wide table on two 6-px legs (2 % of its width), and a chest on a plinth.
    legs = np.zeros((200, 300), np.float32)
    legs[:40, :] = 1.0
    legs[:, 20:26] = legs[:, 274:280] = 1.0
    plinth = np.zeros((200, 300), np.float32)
    plinth[:, :] = 1.0

    def shadow(alpha: np.ndarray, thin: float) -> np.ndarray:
        monkeypatch.setattr(blend, "CONTACT_THIN_RUN", thin)
        padded = np.zeros((260, 400), np.float32)
        padded[:200, 50:350] = alpha
        return ground_shadow(padded, (50, 0, 350, 200), 1.0, ambient=0.0)

    assert blend.CONTACT_THIN_RUN > 0.02  # on by default: a 2 % leg is thin
    tight, wide = shadow(legs, blend.CONTACT_THIN_RUN), shadow(legs, 0.0)
    foot = 50 + 23  # the left leg's centre column
    row = 202  # just below the floor line
    assert tight[row, foot] > 0.5 and wide[row, foot] > 0.5  # dark at the foot either way
    beside = foot + 12  # 12 px (4 % of the width) beside the leg's centre
    assert wide[row, beside] > 0.8 and tight[row, beside] < 0.1
    # A base along the floor is no foot: its contact shadow is the same either way.
    assert np.allclose(shadow(plinth, blend.CONTACT_THIN_RUN), shadow(plinth, 0.0))


def test_every_foot_gets_a_contact_shadow_not_a_plinths_bumps(monkeypatch) -> None:
    from adstage.composite import blend

    # A chair seen from the side: front legs to the base line, back legs ending 20 rows higher
    # (farther back), under a seat 60 rows up.
    chair = np.zeros((200, 300), np.float32)
    chair[:140, :] = 1.0
    chair[:, 20:26] = chair[:, 274:280] = 1.0  # the front legs, on the base line
    chair[:180, 100:106] = chair[:180, 194:200] = 1.0  # the back legs, 20 rows higher
    # A chest seen at an angle: its plinth's lower edge rises 15 rows from left to right (farther
    # back), with shallow 6-row (3 %) notches every 20 columns.
    chest = np.zeros((200, 300), np.float32)
    for x in range(300):
        chest[: 200 - x // 20, x] = 1.0
        if x % 20 < 10:
            chest[194 - x // 20 :, x] = 0.0

    def shadow(alpha: np.ndarray, every: bool) -> np.ndarray:
        monkeypatch.setattr(blend, "CONTACT_EVERY_FOOT", every)
        padded = np.zeros((260, 400), np.float32)
        padded[:200, 50:350] = alpha
        return ground_shadow(padded, (50, 0, 350, 200), 1.0, ambient=0.0)

    assert blend.CONTACT_EVERY_FOOT  # on by default
    back = (181, 50 + 103)  # just under a back leg's tip
    assert shadow(chair, True)[back] > 0.5 > shadow(chair, False)[back] + 0.2
    assert np.allclose(shadow(chest, True), shadow(chest, False))  # notches make no feet
    monkeypatch.setattr(blend, "FOOT_CLEAR", 0.02)  # with a shallower underside they would
    assert not np.allclose(shadow(chest, True), shadow(chest, False), atol=0.05)


def test_light_can_leave_a_window_out_of_the_scenes_white() -> None:
    # 70 % grey wall, 30 % a clipped window: the window is the scene's brightest tenth.
    around = np.concatenate([np.full((700, 3), 150, np.uint8), np.full((300, 3), 255, np.uint8)])
    with_window = estimate_light(around, strength=1.0, min_exposure=0.1)
    without = estimate_light(around, strength=1.0, min_exposure=0.1, skip_sources=True)
    assert with_window.exposure == pytest.approx(1.0, abs=0.01)
    assert without.exposure == pytest.approx(float(to_linear(np.array([150], np.uint8))[0]), 0.01)
    # A room whose white wall is itself clipped keeps it: most pixels are not a light source.
    bright = np.concatenate([np.full((300, 3), 150, np.uint8), np.full((700, 3), 255, np.uint8)])
    assert estimate_light(bright, strength=1.0, skip_sources=True).exposure == pytest.approx(
        1.0, abs=0.01
    )


def test_light_can_read_the_scene_from_the_products_top_down(monkeypatch) -> None:
    rgba = _fringed()
    scene = np.full((160, 160, 3), 90, np.uint8)
    scene[:30] = 255  # a window above the product (its box: rows 40–160)
    placement = _place(rgba, 160, 40)
    monkeypatch.setattr(blend, "LIGHT_SKIP_SOURCES", False)  # the window is not left out by level
    below = composite(scene, rgba, placement, light=1.0).light  # the default
    monkeypatch.setattr(blend, "LIGHT_FROM_BELOW_TOP", False)
    whole = composite(scene, rgba, placement, light=1.0).light
    assert whole is not None and below is not None
    assert below.exposure < whole.exposure - 0.2


def test_light_reads_all_around_a_product_with_nothing_beside_or_below_it() -> None:
    rgba = np.zeros((50, 160, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 200, 255  # as wide as the frame, at its bottom edge
    scene = np.full((160, 160, 3), 90, np.uint8)
    placement = Placement((0, 110, 160, 160), 1.0, "test", (160, 160))
    lit = composite(scene, rgba, placement, light=1.0).light
    assert lit is not None and lit.exposure < 1.0  # read above it, not left unmatched


def test_what_stands_in_front_hides_the_product_and_its_shadow() -> None:
    rgba = np.zeros((60, 80, 4), np.uint8)
    rgba[..., :3] = 30
    rgba[..., 3] = 255
    scene = np.full((200, 200, 3), 200, np.uint8)
    placement = Placement((60, 100, 140, 160), 1.0, "test", (200, 200))
    front = np.zeros((200, 200), bool)
    front[140:, :100] = True  # a low object nearer the camera, over the product's lower left
    plain = blend.composite(scene, rgba, placement, shadow=0.8).image
    behind = blend.composite(scene, rgba, placement, shadow=0.8, occluder=front).image
    assert (plain[145:158, 62:98] == 30).all()  # without: the product
    assert (behind[145:158, 62:96] == 200).all()  # with: the object in front, unshaded
    assert (behind[145:200, :95] == 200).all()  # and no shadow drawn on it
    assert (behind[102:138, 102:138] == plain[102:138, 102:138]).all()  # the rest as before
    assert behind[165, 120].mean() < 200  # the shadow beside the object in front stays
    # and it is the whole product's shadow: outside the object in front, as without it
    outside = cv2.dilate(front.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0  # its soft edge
    outside[100:160, 60:140] = False
    assert (behind[outside] == plain[outside]).all()
    cast = dict(shadow=0.8, cast_opacity=0.8)
    plain_cast = blend.composite(scene, rgba, placement, **cast).image
    behind_cast = blend.composite(scene, rgba, placement, occluder=front, **cast).image
    assert (behind_cast[outside] == plain_cast[outside]).all()
    with pytest.raises(InputError, match="occluder"):
        blend.composite(scene, rgba, placement, occluder=front[:100])


def _table(h: int = 200, w: int = 300) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A table seen from above the top: its top and four legs, the back two ending higher."""
    alpha = np.zeros((h, w), np.float32)
    alpha[40:60, 40:260] = 1.0
    for x, y in ((50, 190), (240, 190), (90, 160), (200, 160)):
        alpha[60:y, x : x + 8] = 1.0
    return alpha, (40, 40, 260, 191)


def test_footprint_shades_the_floor_between_a_tables_feet(monkeypatch) -> None:
    alpha, box = _table()
    x0, y0, x1, y1 = box
    inside = alpha[y0:y1, x0:x1] >= 0.5
    bh = y1 - y0
    lowest = np.where(inside.any(0), bh - 1 - np.argmax(inside[::-1], axis=0), -1)
    hull = blend._footprint(lowest, bh)
    assert hull[130, 120] == 1.0  # the floor between the four feet (box rows and columns)
    assert hull[30, 120] == 0.0  # under the top, above the feet: the room behind
    flat = np.zeros_like(inside)
    flat[40:, :] = True  # a chest standing on its flat base: no feet, no footprint
    flat_lowest = np.where(flat.any(0), bh - 1 - np.argmax(flat[::-1], axis=0), -1)
    assert blend._footprint(flat_lowest, bh).max() == 0.0

    off = ground_shadow(alpha, box, 0.5, under_opacity=0.5)
    bare = ground_shadow(alpha, box, 0.5)
    monkeypatch.setattr(blend, "FOOTPRINT", 0.4)
    on = ground_shadow(alpha, box, 0.5, under_opacity=0.5)
    between = (slice(150, 185), slice(100, 200))
    assert on[between].mean() > off[between].mean() + 0.2  # the tall gap: off shades ~nothing
    assert on[alpha > 0].max() == 0.0  # never on the table itself
    assert on[:, :20].max() < 0.05  # not beside it
    assert np.array_equal(ground_shadow(alpha, box, 0.5), bare)  # only with the shade under it
