"""The ``efficientnet-lite0`` embedder: EfficientNet-Lite0 (ImageNet-1k) pooled features, 1280-d.

The network, its weights and its input convention (TensorFlow ``"SAME"`` padding, ``(x − 127) /
128`` on 0–255 RGB, 224²) are :mod:`adstage.models.efficientnet` (Tan & Le, ICML 2019, with the
EfficientNet-Lite changes). Here: the product picture (:func:`~adstage.retrieve.base.prepare`,
cut-out or whole, padded to a square), batched through the network, L2-normalised.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray

from adstage._torch import torch_threads
from adstage.errors import InputError
from adstage.models.efficientnet import HEAD, EfficientNetLite, load_efficientnet, to_tensor
from adstage.retrieve.base import EMBEDDERS, l2_normalize, paired_masks, prepare
from adstage.types import RGB

__all__ = ["EfficientNetLite0"]


@EMBEDDERS.register("efficientnet-lite0")
@dataclass
class EfficientNetLite0:
    """EfficientNet-Lite0 pooled features as an :class:`~adstage.retrieve.base.Embedder`.

    Args:
        weights: path to the ``.pth`` state dict; default ``resolve("efficientnet-lite0")``.
        mode: ``"cutout"`` (product over white, cropped to its mask) or ``"whole"`` (the whole
            picture padded to a square); see :func:`~adstage.retrieve.base.prepare`.
        batch_size: pictures per forward pass.
        threads: torch threads during a call (restored afterwards); ``None`` leaves them alone.
        device: torch device.
    """

    weights: str | None = None
    mode: Literal["cutout", "whole"] = "cutout"
    batch_size: int = 16
    threads: int | None = None
    device: str = "cpu"
    name: str = field(default="efficientnet-lite0", init=False)
    dim: int = field(default=HEAD, init=False)
    _model: EfficientNetLite | None = field(default=None, init=False, repr=False, compare=False)
    _lock: Any = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in ("cutout", "whole"):
            raise InputError(f"mode: expected 'cutout' or 'whole', got {self.mode!r}")
        if self.batch_size < 1:
            raise InputError(f"batch_size: expected a positive integer, got {self.batch_size!r}")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"threads: expected a positive integer or None, got {self.threads!r}")

    @property
    def model(self) -> EfficientNetLite:
        """The network in eval mode, loaded (strictly) on first use."""
        with self._lock:
            if self._model is None:
                self._model = load_efficientnet(self.weights, device=self.device)
            return self._model

    def _run(
        self,
        images: Sequence[RGB],
        masks: Sequence[NDArray[Any] | None] | None,
        head: Literal["features", "logits"],
    ) -> NDArray[np.float32]:
        paired = paired_masks(images, masks)
        model = self.model
        width = HEAD if head == "features" else model._fc.out_features
        if len(images) == 0:
            return np.zeros((0, width), np.float32)
        pictures = [
            prepare(image, mask, mode=self.mode) for image, mask in zip(images, paired, strict=True)
        ]
        out = []
        with torch_threads(self.threads), torch.inference_mode():
            for start in range(0, len(pictures), self.batch_size):
                x = to_tensor(pictures[start : start + self.batch_size]).to(self.device)
                y = model.features(x) if head == "features" else model(x)
                out.append(y.float().cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def features(
        self, images: Sequence[RGB], masks: Sequence[NDArray[Any] | None] | None = None
    ) -> NDArray[np.float32]:
        """Raw pooled features, ``N×1280`` float32 (not normalised)."""
        return self._run(images, masks, "features")

    def logits(
        self, images: Sequence[RGB], masks: Sequence[NDArray[Any] | None] | None = None
    ) -> NDArray[np.float32]:
        """ImageNet-1k classifier logits, ``N×1000`` float32."""
        return self._run(images, masks, "logits")

    def embed(
        self, images: Sequence[RGB], masks: Sequence[NDArray[Any] | None] | None = None
    ) -> NDArray[np.float32]:
        """L2-normalised pooled features, ``N×1280`` float32."""
        return l2_normalize(self.features(images, masks))
