"""The ``u2net`` segmenter: salient-product masks from U²-Net or U²-Netp (Qin et al. 2020).

Qin, Zhang, Huang, Dehghan, Zaiane and Jagersand, "U²-Net: Going Deeper with Nested U-Structure
for Salient Object Detection", Pattern Recognition 106 (2020) 107404, arXiv:2005.09007. The
network, its official checkpoints and its ONNX export are :mod:`adstage.models.u2net`; this module
is the backend around it: where the weights come from, the input and output processing, the
registry entry and the :class:`~adstage.types.Segmentation` result.

* §4.3: at test time the image is resized to 320×320 and the map back to the image size, both
  bilinearly.

Two details come from the authors' released inference code rather than the paper: the RGB
input is divided by its maximum before the ImageNet mean/std normalisation, and the fused map is
min-max normalised before it is resized back. Both are reproduced so the official ``u2net.pth``
and ``u2netp.pth`` give the published maps.

Weights: without ``weights=`` the segmenter uses the manifest rows ``u2net`` / ``u2netp`` (the
authors' networks as ONNX, ``adstage weights fetch u2net u2netp``). An ONNX file runs through
onnxruntime by default: on this project's 2-core CPU at 320² it took 0.4–0.6× the time of the
same weights in the PyTorch port (:func:`adstage.models.u2net.load_u2net_onnx`), which is the
fallback when onnxruntime is not installed and can be asked for with ``runtime="torch"``. A
``.pth`` state dict runs in PyTorch. The result's provenance names the runtime, the file and its
sha256.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from adstage._torch import torch_threads
from adstage.errors import InputError, UnknownName, WeightsNotFound
from adstage.models.runtime import ort_available
from adstage.models.u2net import (
    OnnxU2Net,
    check_device,
    check_variant,
    load_u2net,
    load_u2net_onnx,
    weights_file,
)
from adstage.segment.base import SEGMENTERS
from adstage.types import RGB, Segmentation, as_rgb
from adstage.weights import get_spec, resolve, sha256_file

log = logging.getLogger(__name__)

Runtime = Literal["auto", "onnxruntime", "torch"]
_RUNTIMES = ("auto", "onnxruntime", "torch")

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "U2NetSegmenter", "postprocess", "preprocess"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ---------------------------------------------------------------------------------------------
# Pre- and post-processing (the official inference code)


def preprocess(image: Any, input_size: int = 320) -> torch.Tensor:
    """``1×3×S×S`` float32 network input for an RGB image (PIL image or ``H×W×3`` ``uint8``).

    Resize to ``S×S`` bilinearly (antialiased when shrinking), scale to ``[0, 1]``, divide by the
    maximum (the official ``ToTensorLab``; skipped for an all-black image), then normalise with
    the ImageNet mean and std.
    """
    rgb = as_rgb(image)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(torch.float32) / 255.0
    x = F.interpolate(
        x, size=(input_size, input_size), mode="bilinear", align_corners=False, antialias=True
    )
    peak = x.max()
    if peak > 0:
        x = x / peak
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def postprocess(fused: Any, size: tuple[int, int]) -> NDArray[np.float32]:
    """Soft alpha (``float32`` ``H×W`` in ``[0, 1]``) from a fused map of any ``…×h×w`` shape.

    Min-max normalise (the official ``normPRED``; a constant map is kept as it is), then resize
    bilinearly to ``size = (H, W)``.
    """
    if not torch.is_tensor(fused):
        fused = torch.from_numpy(np.asarray(fused, dtype=np.float32))
    pred = fused.detach().to("cpu", torch.float32)
    pred = pred.reshape(pred.shape[-2:])
    lo, hi = pred.min(), pred.max()
    if hi - lo > 1e-12:
        pred = (pred - lo) / (hi - lo)
    pred = F.interpolate(
        pred[None, None], size=tuple(size), mode="bilinear", align_corners=False, antialias=True
    )[0, 0]
    return np.ascontiguousarray(pred.clamp_(0.0, 1.0).numpy(), dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# The segmenter


def _resolve_weights(variant: str) -> tuple[Path, str]:
    """The manifest's file for ``variant`` (checked against its sha256, which is remembered
    beside the file, so only the first use hashes it) and that sha256.

    A missing file raises :class:`WeightsNotFound` naming ``adstage weights fetch VARIANT``.
    """
    hint = (
        f"no weights manifest entry for {variant!r}; pass weights=PATH of the official "
        f"{variant}.pth (U²-Net authors' release), e.g. U2NetSegmenter(weights='~/{variant}.pth')"
    )
    try:
        path = Path(resolve(variant, verify=True))
    except (UnknownName, KeyError) as exc:  # the manifest has no such name
        err = WeightsNotFound(variant)
        err.args = (hint,)
        raise err from exc
    return path, get_spec(variant).sha256


@dataclass(frozen=True)
class _Runner:
    predict: Any  # normalised 1×3×S×S tensor -> fused map (tensor or array)
    weights: Path
    sha256: str
    runtime: str


@SEGMENTERS.register("u2net")
@dataclass(eq=False)
class U2NetSegmenter:
    """Salient-product segmentation with U²-Net or U²-Netp (Qin et al. 2020).

    ``weights``: local ``.pth`` state dict (the official ``u2net.pth`` / ``u2netp.pth``) or an
    ``.onnx`` file (the authors' ``u2net.onnx`` / ``u2netp.onnx``, or one from
    :func:`adstage.models.u2net.export_onnx`); ``None`` uses the weights manager's row
    ``variant`` (``adstage weights fetch u2net u2netp``). ``input_size``: the square network input
    (320 as published). ``runtime``: for an ONNX file, ``"onnxruntime"`` or ``"torch"`` (its
    weights loaded into the PyTorch port); ``"auto"`` takes onnxruntime when it is installed (the
    faster of the two here), else torch. A ``.pth`` always runs in torch. ``threads``: CPU threads
    for this segmenter's inference (``None`` leaves the process setting alone). The model is
    loaded on the first call and kept.
    """

    name: ClassVar[str] = "u2net"

    weights: str | os.PathLike[str] | None = None
    variant: str = "u2net"
    input_size: int = 320
    device: str = "cpu"
    threads: int | None = None
    runtime: Runtime = "auto"
    _runner: _Runner | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        check_variant(self.variant)
        if isinstance(self.input_size, bool) or not isinstance(self.input_size, int):
            raise InputError(f"input_size: expected a positive int, got {self.input_size!r}")
        if self.input_size < 1:
            raise InputError(f"input_size: expected a positive int, got {self.input_size}")
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise InputError(f"threads: expected a positive int or None, got {self.threads!r}")
        if self.runtime not in _RUNTIMES:
            raise InputError(f"runtime: expected one of {_RUNTIMES}, got {self.runtime!r}")
        check_device(self.device)

    def load(self) -> U2NetSegmenter:
        """Load the weights now (otherwise the first call does); returns ``self``."""
        self._get_runner()
        return self

    def _get_runner(self) -> _Runner:
        with self._lock:
            if self._runner is None:
                self._runner = self._make_runner()
            return self._runner

    def _make_runner(self) -> _Runner:
        known: str | None = None
        if self.weights is None:
            path, known = _resolve_weights(self.variant)
        else:
            path = weights_file(self.weights, self.variant)
        sha = known or sha256_file(path)
        is_onnx = path.suffix.lower() == ".onnx"
        if not is_onnx and self.runtime == "onnxruntime":
            raise InputError(
                f"runtime: 'onnxruntime' needs an .onnx file, got {str(path)!r}; "
                "use runtime='torch' or 'auto' for a .pth state dict"
            )
        if is_onnx and (
            self.runtime == "onnxruntime" or (self.runtime == "auto" and ort_available())
        ):
            session = OnnxU2Net(path, threads=self.threads)
            return _Runner(session, path, sha, "onnxruntime")
        if is_onnx:
            if self.runtime == "auto":
                log.info("onnxruntime is not installed: running %s in the PyTorch port", path)
            model = load_u2net_onnx(path, variant=self.variant, device=self.device)
        else:
            model = load_u2net(path, variant=self.variant, device=self.device)
        device = torch.device(self.device)

        def predict(x: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                fused: torch.Tensor = model(x.to(device))[0]
                return fused

        return _Runner(predict, path, sha, "torch")

    def __call__(self, image: RGB) -> Segmentation:
        rgb = as_rgb(image)
        runner = self._get_runner()
        x = preprocess(rgb, self.input_size)
        with torch_threads(self.threads if runner.runtime == "torch" else None):
            fused = runner.predict(x)
        alpha = postprocess(fused, (rgb.shape[0], rgb.shape[1]))
        return Segmentation(
            alpha=alpha,
            backend=self.variant,
            provenance={
                "variant": self.variant,
                "input_size": self.input_size,
                "weights": str(runner.weights),
                "weights_sha256": runner.sha256,
                "runtime": runner.runtime,
                "device": self.device if runner.runtime == "torch" else "cpu",
            },
        )
