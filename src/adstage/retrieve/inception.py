"""The ``inception-v3`` embedder: Inception-V3 pool3 features, the paper's retrieval features.

Ku et al. (AdKDD 2023, §5.3) retrieve by the cosine similarity of Inception-V3 embeddings of the
segmented product. The network is the FID graph of :mod:`adstage.models.inception` (weights row
``inception-v3-fid``; Szegedy et al., CVPR 2016; Heusel et al., NeurIPS 2017): ``float32``
``N×3×299×299`` RGB in ``(v - 128) / 128`` in, ``N×2048`` pool3 features out, no resizing of its
own.

Preprocessing here, per image: :func:`~adstage.retrieve.base.prepare` (cut-out on white cropped to
the product, or the whole image, padded to a square), then ``cv2.resize`` to 299×299 with
``INTER_LINEAR`` on the ``uint8`` image (:func:`to_input`), then ``(v - 128) / 128``. The resize
filter changes FID (Parmar et al., "On Aliased Resizing and Surprising Subtleties in GAN
Evaluation", CVPR 2022 — clean-fid); fid-helper's default is a float bilinear ``grid_sample``
(``nv_bilinear_float``), and clean-fid recommends PIL bicubic. Compare FID values only when
computed with the same resize; the one used here is :data:`RESIZE`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage._torch import torch_threads
from adstage.errors import BackendUnavailable, InputError
from adstage.models.inception import (
    DIM,
    SIZE,
    WEIGHTS,
    export_onnx,
    load_inception,
    onnx_path,
    onnx_session,
    run_onnx,
    to_tensor,
)
from adstage.models.runtime import ort_available
from adstage.retrieve.base import EMBEDDERS, Mode, l2_normalize, paired_masks, prepare
from adstage.types import RGB
from adstage.weights import resolve

logger = logging.getLogger(__name__)

RESIZE = "cv2.INTER_LINEAR on uint8"
"""The resize used to reach 299×299 (recorded so FID numbers can say how they were made)."""


def to_input(image: RGB) -> NDArray[np.uint8]:
    """A prepared square ``uint8`` RGB image resized to 299×299 (see :data:`RESIZE`)."""
    if image.shape[:2] == (SIZE, SIZE):
        return image
    return cast(RGB, cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR))


@EMBEDDERS.register("inception-v3")
@dataclass(eq=False)
class InceptionV3:
    """Inception-V3 (FID network) pool3 features of the product.

    Args:
        weights: a TorchScript file; ``None`` resolves ``inception-v3-fid`` from the weights cache
            (``adstage weights fetch inception-v3-fid``).
        mode: ``"cutout"`` (product on white, cropped; the paper's choice) or ``"whole"``.
        batch_size: images per forward pass (results do not depend on it).
        threads: torch threads during a call (restored afterwards); ``None`` leaves torch's.
        device: torch device for the network.
        runtime: ``"auto"`` (onnxruntime on a CPU when it is installed, else TorchScript),
            ``"onnx"`` or ``"torch"``. The ONNX graph is exported from the TorchScript file once
            and checked against it (:func:`adstage.models.inception.export_onnx`); it is about
            1.5× faster on a CPU. :attr:`runtime_used` says which ran.

    The network is loaded on first use; a missing file raises
    :class:`~adstage.errors.WeightsNotFound` then (or from :meth:`load`).
    """

    weights: str | Path | None = None
    mode: Mode = "cutout"
    batch_size: int = 8
    threads: int | None = None
    device: str = "cpu"
    runtime: str = "auto"

    name: ClassVar[str] = "inception-v3"
    dim: ClassVar[int] = DIM

    _model: Any = field(default=None, init=False, repr=False)
    _session: Any = field(default=None, init=False, repr=False)
    runtime_used: str | None = field(default=None, init=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("cutout", "whole"):
            raise InputError(f"mode: expected 'cutout' or 'whole', got {self.mode!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InputError(f"batch_size: expected an integer >= 1, got {self.batch_size!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise InputError(f"threads: expected None or an integer >= 1, got {self.threads!r}")
        if self.runtime not in ("auto", "onnx", "torch"):
            raise InputError(f"runtime: expected 'auto', 'onnx' or 'torch', got {self.runtime!r}")
        if self.runtime == "onnx" and self.device != "cpu":
            raise InputError(f"runtime 'onnx' runs on the CPU only; got device {self.device!r}")

    def load(self) -> Any:
        """The TorchScript network, loaded once (thread-safe)."""
        with self._lock:
            if self._model is None:
                self._model = load_inception(self.weights, device=self.device)
            return self._model

    def onnx_session(self) -> Any:
        """The onnxruntime session, or None when TorchScript runs (see ``runtime``)."""
        if self.runtime_used is not None:
            return self._session
        with self._lock:
            if self.runtime_used is not None:
                return self._session
            use = self.runtime == "onnx" or (
                self.runtime == "auto" and self.device == "cpu" and ort_available()
            )
            if use:
                source = resolve(WEIGHTS, self.weights)  # missing: WeightsNotFound
                try:
                    target = onnx_path(source)
                    if not target.exists():
                        logger.info("exporting Inception-V3 to ONNX once: %s", target)
                        error = export_onnx(self.load(), target)
                        logger.info("ONNX export within %.1e of TorchScript", error)
                    threads = self.threads or min(os.cpu_count() or 1, 8)
                    self._session = onnx_session(target, threads)
                except Exception as exc:
                    if self.runtime == "onnx":
                        raise BackendUnavailable(
                            f"Inception-V3 through onnxruntime is unavailable: {exc}"
                        ) from exc
                    logger.warning("Inception-V3: ONNX export failed (%s); using TorchScript", exc)
                    self._session = None
            elif self.runtime == "onnx":
                raise BackendUnavailable(
                    "runtime 'onnx' needs onnxruntime: pip install 'adstage[onnx]'"
                )
            self.runtime_used = "onnxruntime" if self._session is not None else "torchscript"
            logger.info("Inception-V3 runs on %s", self.runtime_used)
            return self._session

    def inputs(
        self, images: Sequence[RGB], masks: Sequence[NDArray[Any] | None] | None = None
    ) -> NDArray[np.uint8]:
        """The ``N×299×299×3`` ``uint8`` RGB images the network sees (before ``(v-128)/128``)."""
        images = list(images)
        masks = paired_masks(images, masks)
        out = np.empty((len(images), SIZE, SIZE, 3), np.uint8)
        for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
            out[i] = to_input(prepare(image, mask, mode=self.mode))
        return out

    def features(
        self, images: Sequence[RGB], masks: Sequence[NDArray[Any] | None] | None = None
    ) -> NDArray[np.float32]:
        """Raw pool3 features, ``N×2048`` ``float32``, not normalised (what FID needs)."""
        import torch

        batch = self.inputs(images, masks)
        out = np.zeros((len(batch), self.dim), np.float32)
        if not len(batch):
            return out
        session = self.onnx_session()
        if session is not None:
            for start in range(0, len(batch), self.batch_size):
                out[start : start + self.batch_size] = run_onnx(
                    session, batch[start : start + self.batch_size]
                )
            return out
        model = self.load()
        with torch_threads(self.threads), torch.inference_mode():
            for start in range(0, len(batch), self.batch_size):
                x = to_tensor(batch[start : start + self.batch_size]).to(self.device)
                y = model(x)
                if tuple(y.shape) != (len(x), self.dim):
                    raise InputError(
                        f"weights {self.weights or WEIGHTS}: expected an output of "
                        f"shape {(len(x), self.dim)}, got {tuple(y.shape)}"
                    )
                out[start : start + len(x)] = y.float().cpu().numpy()
        return out

    def embed(
        self, images: Sequence[RGB], masks: Sequence[NDArray[Any] | None] | None = None
    ) -> NDArray[np.float32]:
        """``N×2048`` ``float32`` unit-length pool3 embeddings (cosine = dot product)."""
        return l2_normalize(self.features(images, masks))
