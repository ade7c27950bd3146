"""IS-Net through onnxruntime: the real pipeline on a tiny ONNX graph built here, and the real weights."""

from __future__ import annotations

import numpy as np
import pytest

from scenes import iou, product_on_white

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from adstage.errors import InputError, WeightsNotFound  # noqa: E402
from adstage.segment.isnet import ISNet  # noqa: E402


def tiny_isnet(path, size: int = 64) -> None:
    """A graph with IS-Net's interface: ``input`` 1×3×S×S → ``output`` 1×1×S×S = sigmoid(−k·mean(x))."""
    w = np.full((1, 3, 1, 1), -40.0 / 3, np.float32)  # dark pixels (x < 0 after (x−128)/256) → 1
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-isnet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, size, size])],
        [helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.ravel())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_isnet_pipeline_on_a_tiny_graph(tmp_path) -> None:
    tiny_isnet(tmp_path / "tiny.onnx")
    image, truth = product_on_white(90, 120)
    seg = ISNet(weights=str(tmp_path / "tiny.onnx"), input_size=64)(image)
    assert seg.backend == "isnet" and seg.alpha.shape == (90, 120)
    assert seg.provenance["input_size"] == 64 and seg.provenance["weights"].endswith("tiny.onnx")
    assert iou(seg.mask, truth) > 0.85  # the dark product is found after resizing back


def test_isnet_preprocessing_is_the_documented_one() -> None:
    x = ISNet(input_size=32).preprocess(np.full((10, 20, 3), 128, np.uint8))
    assert x.shape == (1, 3, 32, 32) and np.allclose(x, 0.0)
    x = ISNet(input_size=32).preprocess(np.full((10, 20, 3), 0, np.uint8))
    assert np.allclose(x, -0.5)


def test_isnet_missing_weights_say_how_to_fetch(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ADSTAGE_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsNotFound, match="adstage weights fetch isnet-general"):
        ISNet()(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(InputError, match="input_size"):
        ISNet(input_size=100)
