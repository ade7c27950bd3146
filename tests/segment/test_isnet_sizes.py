"""IS-Net's published export fixes 1024²; adstage re-targets it to other sizes (real weights)."""

from __future__ import annotations

import pytest

from scenes import iou, product_on_white

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from adstage.errors import WeightsNotFound
from adstage.segment.isnet import ISNet

pytestmark = pytest.mark.weights


@pytest.fixture(scope="module")
def native() -> ISNet:
    model = ISNet()
    try:
        model.weights_path()
    except WeightsNotFound:
        pytest.skip("isnet-general not fetched (adstage weights fetch isnet-general)")
    return model


def test_real_isnet_native_and_retargeted_sizes_agree(native: ISNet) -> None:
    image, truth = product_on_white(240, 320)
    full = native(image).mask
    assert iou(full, truth) > 0.9
    small = ISNet(input_size=512)(image)
    assert small.provenance["input_size"] == 512
    assert iou(small.mask, full) > 0.9


def test_real_isnet_runs_at_320(native: ISNet) -> None:
    image, truth = product_on_white(240, 320)
    assert iou(ISNet(input_size=320)(image).mask, truth) > 0.8
