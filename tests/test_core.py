"""types.py, registry.py and errors.py: the contracts every stage relies on."""

from __future__ import annotations

import numpy as np
import pytest

from adstage.errors import InputError, UnknownName, WeightsNotFound
from adstage.registry import Registry
from adstage.types import Cutout, Segmentation, as_alpha, as_rgb


def test_as_rgb_accepts_grey_rgba_and_pil() -> None:
    from PIL import Image

    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert as_rgb(grey).shape == (3, 4, 3)
    rgba = np.zeros((2, 2, 4), np.uint8)
    assert as_rgb(rgba).shape == (2, 2, 3)
    assert as_rgb(Image.new("L", (5, 4), 7)).shape == (4, 5, 3)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (np.zeros((4, 4, 3), np.float32), "uint8"),
        (np.zeros((4, 4, 2), np.uint8), "H×W×3"),
        ("not an image", "PIL image or a numpy array"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
    ],
)
def test_as_rgb_rejects_with_a_message_naming_the_problem(value: object, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        as_rgb(value, name="product")
    with pytest.raises(InputError, match="product"):
        as_rgb(value, name="product")


def test_as_alpha_ranges() -> None:
    assert as_alpha(np.array([[0, 255]], np.uint8)).tolist() == [[0.0, 1.0]]
    assert as_alpha(np.array([[True, False]])).dtype == np.float32
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        as_alpha(np.array([[1.5]], np.float32))
    with pytest.raises(InputError, match="match the image"):
        as_alpha(np.zeros((2, 2), bool), (3, 3))


def test_cutout_box_centre_and_area_by_hand() -> None:
    image = np.zeros((10, 20, 3), np.uint8)
    image[..., 0] = 200
    alpha = np.zeros((10, 20), np.float32)
    alpha[2:6, 4:8] = 1.0  # 4×4 square: centre (6, 4) in pixel-centre coordinates
    alpha[2, 8] = 0.4  # below threshold: soft edge, not in the mask
    cut = Segmentation(alpha, backend="test").cutout(image)
    assert cut.bbox == (4, 2, 8, 6)
    assert cut.center_of_mass == (6.0, 4.0)
    assert cut.area_fraction == pytest.approx(16 / 200)
    assert cut.rgba.shape == (4, 4, 4)
    assert (cut.rgba[..., 3] == 255).all() and (cut.rgba[..., 0] == 200).all()
    assert cut.source_size == (20, 10) and not cut.empty


def test_empty_cutout_does_not_crash() -> None:
    cut = Cutout.from_alpha(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.float32))
    assert cut.empty and cut.rgba.shape == (0, 0, 4) and cut.area_fraction == 0.0


def test_segmentation_mask_is_threshold_half() -> None:
    seg = Segmentation(np.array([[0.49, 0.5, 0.9]], np.float32), backend="x")
    assert seg.mask.tolist() == [[False, True, True]]


class _Thing:
    def __init__(self, size: int = 1) -> None:
        self.size = size


def test_registry_create_lazy_and_suggestions() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("thing")(_Thing)
    reg.register("lazy-counter", "collections:Counter")
    assert reg.names() == ["lazy-counter", "thing"]
    assert reg.create("thing", size=3).size == 3  # type: ignore[attr-defined]
    assert reg.create("lazy-counter") == {}
    with pytest.raises(UnknownName, match=r"did you mean 'thing'\?") as info:
        reg.create("thingy")
    assert "available: lazy-counter, thing" in str(info.value)


def test_registry_refuses_two_classes_under_one_name() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("a")(_Thing)
    with pytest.raises(ValueError, match="twice"):
        reg.register("a")(dict)


def test_weights_not_found_carries_the_fix() -> None:
    exc = WeightsNotFound("isnet-general", searched=["/cache/isnet-general"])
    assert "adstage weights fetch isnet-general" in str(exc)


def test_segmenter_registry_lists_backends_without_importing_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from adstage.segment import SEGMENTERS; print(SEGMENTERS.names()); "
        "assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for name in ("auto", "grabcut", "isnet", "solid-background", "u2net"):
        assert name in out.stdout


def test_module_names_give_modules_and_typed_functions_do_the_work() -> None:
    import types

    import adstage
    import adstage.retrieve as retrieve_module
    import adstage.segment as segment_module
    import adstage.stage as stage_module
    import adstage.triage as triage_module

    for module in (segment_module, triage_module, retrieve_module, stage_module):
        assert isinstance(module, types.ModuleType)
    assert adstage.segment is segment_module and adstage.triage is triage_module
    image = np.full((40, 40, 3), 255, np.uint8)
    image[10:30, 10:30] = (20, 40, 200)
    assert adstage.segment_product(image, segmenter="solid-background").mask[20, 20]
    assert adstage.triage_photo(image).staged is False
    with pytest.raises(TypeError, match="instance"):
        adstage.segment_product(
            image, segmenter=adstage.segment.SEGMENTERS.create("grabcut"), iterations=2
        )


def test_old_call_spellings_work_for_one_release_and_warn() -> None:
    import adstage
    import adstage.segment
    import adstage.triage

    image = np.full((40, 40, 3), 255, np.uint8)
    image[10:30, 10:30] = (20, 40, 200)
    with pytest.deprecated_call(match="segment_product"):
        assert adstage.segment(image, segmenter="solid-background").mask[20, 20]
    with pytest.deprecated_call(match="triage_photo"):
        assert adstage.triage(image).staged is False
    with pytest.deprecated_call(match=r"segment\(segmenter="):
        adstage.segment_product(image, backend="solid-background")
