"""The default captioner names colours, light and scene from what is known; the VLM plug point
refuses to pretend."""

from __future__ import annotations

import numpy as np
import pytest

from adstage.datasets.captions import (
    CAPTIONERS,
    PALETTE,
    AttributeCaptioner,
    LocalVLM,
    colour_names,
    light_level,
)
from adstage.errors import BackendUnavailable


def _solid(rgb: tuple[int, int, int], size: int = 8) -> np.ndarray:
    return np.full((size, size, 3), rgb, np.uint8)


@pytest.mark.parametrize("name", list(PALETTE))
def test_a_palette_colour_is_named_as_itself(name: str):
    assert colour_names(_solid(PALETTE[name])) == [name]


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((255, 0, 0), "red"),
        ((0, 0, 255), "blue"),
        ((0, 128, 0), "green"),
        ((255, 255, 255), "white"),
        ((0, 0, 0), "black"),
        ((128, 128, 128), "grey"),
        ((255, 255, 0), "yellow"),
        ((20, 30, 100), "navy"),
    ],
)
def test_solid_colours_get_their_names(rgb, name):
    assert colour_names(_solid(rgb)) == [name]


def test_light_level_and_regions():
    assert light_level(_solid((250, 250, 250))) == "bright"
    assert light_level(_solid((20, 20, 20))) == "dim"
    assert light_level(_solid((110, 110, 110))) == "softly lit"
    image = _solid((255, 0, 0), 10)
    image[:, 5:] = (0, 0, 255)
    region = np.zeros((10, 10), bool)
    region[:, 5:] = True
    assert colour_names(image, region) == ["blue"] and colour_names(image, ~region) == ["red"]
    assert colour_names(image, np.zeros((10, 10), bool)) == []


def test_the_attribute_caption_says_what_is_known():
    ad = _solid((255, 255, 255), 64)
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    ad[mask] = (128, 128, 128)
    caption = AttributeCaptioner()
    text = caption(ad, mask, {"category": "Furniture > Seating > Sofas"})
    assert text == "a grey sofa in a bright studio shot, white background"
    ad[~mask] = (120, 80, 45)
    text = caption(ad, mask, {"category": "Bedroom"})
    assert text == "a grey product in a dim bedroom, brown background"
    assert caption(ad, mask, {"category": "Furniture > Storage > Shelves"}).startswith(
        "a grey shelf"
    )
    assert "dining table" in caption(ad, mask, {"category": "Furniture > Tables > Dining tables"})
    assert "interior" in caption(ad, mask, {})


def test_the_vlm_plug_point_refuses_with_instructions(monkeypatch):
    monkeypatch.delenv("ADSTAGE_VLM", raising=False)
    assert {"attributes", "vlm"} <= set(CAPTIONERS.names())
    with pytest.raises(BackendUnavailable, match="Register your own Captioner"):
        CAPTIONERS.create("vlm")
    with pytest.raises(BackendUnavailable, match="is set"):
        LocalVLM(path="/models/qwen")
