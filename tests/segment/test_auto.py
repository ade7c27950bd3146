"""``auto`` routing on hand-drawn photos: a product on a studio backdrop goes to
``solid-background``; an object on a plain floor (a plain border that is no backdrop) and a
backdrop whose mask runs off the frame go to the scene segmenter, chosen by preference and by
what is installed. No weights: the default run's cache is empty, so the scene segmenter is
``grabcut`` unless a test says otherwise."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from adstage.errors import InputError
from adstage.segment.auto import Auto, mask_sanity, studio_backdrop
from adstage.segment.base import SEGMENTERS
from adstage.segment.triage import triage
from adstage.types import Segmentation
from scenes import iou, product_on_white


def on_plain_floor(
    floor: tuple[int, int, int], h: int = 240, w: int = 320, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A teddy-like brown blob with a darker shadow side on a plain, slightly noisy floor colour
    (a carpet or a table top filling the frame). Returns image, mask."""
    rng = np.random.default_rng(seed)
    image = np.empty((h, w, 3), np.float32)
    image[:] = floor
    image += rng.normal(0, 2.0, (h, w, 1))
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2 + 20), (55, 60), 0, 0, 360, 1, -1)  # body
    cv2.circle(mask, (w // 2, h // 2 - 50), 35, 1, -1)  # head
    fur = (
        np.array([110, 70, 40], np.float32)
        * np.linspace(0.7, 1.2, w, dtype=np.float32)[None, :, None]
    )
    image[mask > 0] = np.broadcast_to(fur, (h, w, 3))[mask > 0]
    return np.clip(image, 0, 255).astype(np.uint8), mask > 0


def grey_backdrop_cut_by_the_frame(h: int = 240, w: int = 320) -> np.ndarray:
    """Light grey all round, but a dark sofa that the bottom edge cuts across 40 % of the width:
    a plain border by triage's measure, and a mask that runs off the frame."""
    image = np.full((h, w, 3), 226, np.uint8)
    cv2.rectangle(image, (w // 2 - 64, 150), (w // 2 + 64, h - 1), (70, 60, 55), -1)
    return image


@pytest.fixture
def no_scene_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Auto, "available", lambda self, name: name == "grabcut")


def test_product_on_white_still_goes_to_solid_background(no_scene_weights) -> None:
    image, truth = product_on_white()
    seg = Auto()(image)
    assert isinstance(seg, Segmentation) and seg.backend == "solid-background"
    record = seg.provenance["auto"]
    assert record["chosen"] == "solid-background" and "studio backdrop" in record["reason"]
    assert record["border_touch"] == 0.0 and 0.0 < record["area"] < 0.5
    assert iou(seg.mask, truth) > 0.97


@pytest.mark.parametrize(
    "floor", [(150, 150, 150), (205, 180, 140), (190, 125, 35)], ids=["grey", "beige", "carpet"]
)
def test_object_on_a_plain_floor_goes_to_the_scene_segmenter(no_scene_weights, floor) -> None:
    image, truth = on_plain_floor(floor)
    verdict = triage(image)
    assert not verdict.staged  # the border is plain: triage alone sent it to solid-background
    seg = Auto()(image)
    record = seg.provenance["auto"]
    assert seg.backend == "grabcut" and record["chosen"] == "grabcut"
    assert "not a studio backdrop" in record["reason"]
    assert record["triage_score"] == verdict.score
    assert iou(seg.mask, truth) > 0.8


def test_a_mask_that_runs_off_the_frame_falls_back(no_scene_weights) -> None:
    image = grey_backdrop_cut_by_the_frame()
    verdict = triage(image)
    assert not verdict.staged
    assert studio_backdrop(verdict.background, min_level=160, max_chroma=40)
    seg = Auto()(image)
    record = seg.provenance["auto"]
    assert record["chosen"] == "grabcut"
    assert record["border_touch"] > 0.05
    assert "of the border" in record["reason"]


def test_the_scene_segmenter_follows_the_order_and_what_is_installed(monkeypatch) -> None:
    installed = {"grabcut", "isnet"}
    monkeypatch.setattr(Auto, "available", lambda self, name: name in installed)
    auto = Auto()
    name, why = auto.scene_segmenter()
    assert name == "isnet"
    assert "u2net not installed" in why and "adstage weights fetch u2net" in why
    installed.add("u2net")
    assert auto.scene_segmenter()[0] == "u2net"
    assert Auto(scene_order=("isnet", "u2net")).scene_segmenter()[0] == "isnet"
    installed.clear()
    assert Auto(scene_order=("isnet",)).scene_segmenter()[0] == "grabcut"


def test_u2netp_is_the_u2net_backend_with_its_variant(monkeypatch) -> None:
    created = []

    def create(name: str, **options):
        created.append((name, options))
        return lambda image: Segmentation(np.zeros(image.shape[:2], np.float32), name, {})

    monkeypatch.setattr(SEGMENTERS, "create", create)
    monkeypatch.setattr(Auto, "available", lambda self, name: name == "u2netp")
    image, _ = on_plain_floor((205, 180, 140))
    seg = Auto(u2net_options={"threads": 1})(image)
    assert created == [("u2net", {"variant": "u2netp", "threads": 1})]
    assert seg.provenance["auto"]["chosen"] == "u2netp"


def test_choose_and_options_are_checked(no_scene_weights) -> None:
    image, _ = product_on_white()
    assert Auto().choose(image)[0] == "solid-background"
    assert Auto().choose(image, triage_score=0.9)[0] == "grabcut"
    with pytest.raises(InputError, match="scene_order"):
        Auto(scene_order=("sam",))
    with pytest.raises(InputError, match="max_border_touch"):
        Auto(max_border_touch=2.0)


def test_mask_sanity_and_studio_backdrop() -> None:
    mask = np.zeros((100, 100), bool)
    assert mask_sanity(mask) == (0.0, 0.0)
    mask[60:, 30:70] = True  # touches the bottom edge over 40 % of its length
    touch, area = mask_sanity(mask)
    assert 0.05 < touch < 0.15 and area == pytest.approx(0.16)
    assert studio_backdrop((255, 255, 255), min_level=160, max_chroma=40)
    assert studio_backdrop((228, 226, 230), min_level=160, max_chroma=40)
    assert not studio_backdrop((190, 125, 35), min_level=160, max_chroma=40)  # carpet
    assert not studio_backdrop((16, 20, 19), min_level=160, max_chroma=40)  # night sky
