"""Shadows rendered from a stand-in for the product (adstage.composite.occlusion; issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from adstage.composite.blend import _contacts, composite, occlusion_ground
from adstage.composite.occlusion import (
    ambient_directions,
    key_directions,
    occlusion_shadow,
)
from adstage.errors import InputError
from adstage.stage.pipeline import StageOptions
from adstage.types import Placement

H, W = 240, 400
BOX = (120, 40, 280, 160)  # 160 wide, 120 tall; base row 159


def _table(gap: int) -> np.ndarray:
    """A slab on two legs: the top ``120 - gap`` rows solid, then two legs 10 wide."""
    a = np.zeros((H, W), np.float32)
    x0, y0, x1, y1 = BOX
    a[y0 : y1 - gap, x0:x1] = 1.0
    a[y1 - gap : y1, x0 : x0 + 10] = 1.0
    a[y1 - gap : y1, x1 - 10 : x1] = 1.0
    return a


def _contacts_of(alpha: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = BOX
    inside = alpha[y0:y1, x0:x1] >= 0.5
    lowest = inside.shape[0] - 1 - np.argmax(inside[::-1], axis=0)
    return _contacts(np.where(inside.any(0), lowest, -1), y1 - y0)


def _render(alpha: np.ndarray, **kw: float) -> np.ndarray:
    args = {"ambient": 1.0, "key": 0.0, "towards": 0.0} | kw
    return occlusion_shadow(alpha, BOX, _contacts_of(alpha), **args)


def test_directions_are_unit_vectors_above_the_floor() -> None:
    for d in (ambient_directions(), key_directions(0.7)):
        assert np.allclose(np.linalg.norm(d, axis=1), 1.0)
        assert (d[:, 1] > 0).all()
    assert key_directions(1.0)[:, 0].mean() > 0.5 > 0 > key_directions(-1.0)[:, 0].mean()
    assert (key_directions(0.0)[:, 2] < 0).all()  # in front of the product, on the camera's side


def test_a_box_darkens_the_floor_in_front_of_it_less_with_distance() -> None:
    box = np.zeros((H, W), np.float32)
    x0, y0, x1, y1 = BOX
    box[y0:y1, x0:x1] = 1.0
    dark = _render(box)
    column = dark[y1:, (x0 + x1) // 2]
    assert column[0] > 0.3  # right at the base
    assert (np.diff(column[:40]) <= 1e-6).all() and column[39] < 0.5 * column[0]
    assert dark[y0:y1, x0:x1].max() == 0.0  # the product itself is not darkened
    assert dark[y1 + 10, 10] < 0.05  # far to the side: nothing


def test_the_floor_under_a_low_slab_is_darker_than_under_a_high_one() -> None:
    low, high = _render(_table(12)), _render(_table(60))
    x0, _, x1, y1 = BOX
    mid = (x0 + x1) // 2
    assert low[y1 - 4, mid] > 0.6  # between the legs, under a slab 12 rows up
    assert low[y1 - 4, mid] > high[y1 - 4, mid] + 0.2
    # under the slab, darker than the open floor beside the table at the same row
    assert low[y1 - 4, mid] > low[y1 - 4, x1 + 30] + 0.3


def test_the_key_light_throws_the_shadow_away_from_it() -> None:
    box = np.zeros((H, W), np.float32)
    x0, y0, x1, y1 = BOX
    box[y0:y1, x0 + 60 : x1 - 60] = 1.0  # a post: its shadow is long and thin
    right = _render(box, ambient=0.0, key=1.0, towards=1.0)  # light on the right
    left = _render(box, ambient=0.0, key=1.0, towards=-1.0)
    centre = (x0 + x1) // 2
    assert right[:, :centre].sum() > 3 * right[:, centre:].sum()
    assert left[:, centre:].sum() > 3 * left[:, :centre].sum()
    # the shadow falls behind (up the picture, above the base line), not in front
    assert right[y0 + 60 : y1 - 1].sum() > right[y1 + 5 :].sum()


def test_occlusion_ground_is_a_darkening_in_unit_range_that_spares_the_product() -> None:
    alpha = _table(20)
    dark = occlusion_ground(alpha, BOX, 0.8, cast_opacity=0.8, towards=0.5, crease=0.6)
    assert dark.min() >= 0.0 and dark.max() <= 1.0
    x0, y0, x1, _ = BOX
    assert dark[alpha >= 1.0].max() == 0.0
    assert dark[y0 : y0 + 50].max() == 0.0  # never above the product's middle (a wall)
    assert dark[BOX[3] - 5, (x0 + x1) // 2] > 0.3


def test_occlusion_ground_masks_a_soft_edge_by_its_alpha_once() -> None:
    import cv2

    alpha = cv2.GaussianBlur(_table(20), (0, 0), 2.0)  # soft edges: 0 < alpha < 1
    args = (BOX, 0.8)
    kw = {"cast_opacity": 0.8, "towards": 0.5, "crease": 0.6}
    masked = occlusion_ground(alpha, *args, **kw)
    bare = occlusion_ground(alpha, *args, mask_product=False, **kw)
    soft = (alpha > 0.05) & (alpha < 0.95) & (bare > 0.05)
    assert soft.sum() > 50
    np.testing.assert_allclose(masked, bare * (1.0 - alpha), atol=1e-5)  # not (1 - alpha)²


def test_the_shadow_model_is_checked() -> None:
    scene = np.full((H, W, 3), 200, np.uint8)
    rgba = np.zeros((120, 160, 4), np.uint8)
    rgba[..., 3] = 255
    placement = Placement(box=BOX, scale=1.0, fit="test", scene_size=(W, H))
    with pytest.raises(InputError, match="shadow_model"):
        composite(scene, rgba, placement, shadow=0.8, shadow_model="raytraced")
    with pytest.raises(InputError, match="shadow_model"):
        StageOptions(shadow_model="raytraced")
    drawn = composite(scene, rgba, placement, shadow=0.8, cast_opacity=0.8)
    rendered = composite(
        scene, rgba, placement, shadow=0.8, cast_opacity=0.8, shadow_model="occlusion"
    )
    assert not np.array_equal(drawn.image, rendered.image)
    assert rendered.image[BOX[3] + 2, 200].max() < 200  # the floor in front is darkened


def test_the_shadow_fades_out_before_the_maps_edges_and_reaches_only_so_far() -> None:
    box = np.zeros((H, W), np.float32)
    x0, y0, x1, y1 = BOX
    box[y0:y1, x0:x1] = 1.0
    dark = _render(box)
    # a shadow cut by the map's bounds would leave a seam in the picture
    assert dark[:, 0].max() == 0.0 and dark[:, -1].max() == 0.0 and dark[-1].max() == 0.0
    assert dark[: (y0 + y1) // 2].max() == 0.0  # nothing above the product's middle
    # ambient occlusion has a radius: far in front of the base, nothing is left
    assert dark[y1 + 70, (x0 + x1) // 2] < 0.02 < dark[y1 + 5, (x0 + x1) // 2]


def test_the_drawn_shade_under_the_body_is_not_stacked_on_the_rendered_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import adstage.composite.blend as blend

    alpha = _table(12)
    x0, _, x1, y1 = BOX
    spot = (y1 - 4, (x0 + x1) // 2)
    monkeypatch.setattr(blend, "OCCLUSION_LINEAR", False)
    monkeypatch.setattr(blend, "OCCLUSION_CONTACT", 0.0)
    monkeypatch.setattr(blend, "OCCLUSION_UNDER", 0.0)
    alone = occlusion_ground(alpha, BOX, 0.8, under_opacity=1.0)[spot]
    monkeypatch.setattr(blend, "OCCLUSION_UNDER", 1.0)
    both = occlusion_ground(alpha, BOX, 0.8, under_opacity=1.0)[spot]
    drawn_under = blend.ground_shadow(alpha, BOX, 0.0, under_opacity=1.0)[spot]
    assert min(alone, drawn_under) > 0.3  # both shade the spot…
    assert both == pytest.approx(max(alone, drawn_under), abs=1e-4)  # …the darker one counts
