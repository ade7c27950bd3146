"""U²-Net and U²-Netp salient-object segmenters, written from the paper.

Qin, Zhang, Huang, Dehghan, Zaiane and Jagersand, "U²-Net: Going Deeper with Nested U-Structure
for Salient Object Detection", Pattern Recognition 106 (2020) 107404, arXiv:2005.09007.

* §3.1 and Fig. 2(e): the ReSidual U-block RSU-L: an input conv, a U-Net of height ``L`` whose
  encoder halves the resolution ``L-2`` times, a dilated (rate 2) conv at the bottom, a decoder
  that upsamples and concatenates the skips, and a residual sum with the input conv's output.
  RSU-4F replaces pooling and upsampling by dilations 1, 2, 4, 8 (the resolution is already low).
* §3.2, Fig. 5 and Table 1: the two-level nested U-structure: six encoder stages
  (RSU-7, 6, 5, 4, 4F, 4F) joined by 2×2 max pooling, five decoder stages that take the upsampled
  deeper map concatenated with the encoder skip, and the channel configurations of U²-Net and
  the small U²-Net† (here ``u2netp``, after the official checkpoint's name).
* §3.3: six side outputs (3×3 conv to one channel, upsampled to the input size) and the fused
  map (1×1 conv over the six concatenated side maps), each through a sigmoid.
* §4.3: at test time the image is resized to 320×320 and the map back to the image size, both
  bilinearly.

Two details come from the authors' released inference code rather than the paper: the RGB
input is divided by its maximum before the ImageNet mean/std normalisation, and the fused map is
min-max normalised before it is resized back. Both are reproduced so the official ``u2net.pth``
(176.3 MB, ≈44.0 M parameters) and ``u2netp.pth`` (4.7 MB, ≈1.13 M parameters) give the
published maps. Module and parameter names follow those checkpoints (``stage1.rebnconvin.conv_s1
.weight``, ``stage5d…``, ``side1…side6``, ``outconv``) so ``load_state_dict(strict=True)`` works.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from adstage._torch import torch_threads
from adstage.errors import InputError, UnknownName, WeightsNotFound
from adstage.segment.base import SEGMENTERS
from adstage.types import RGB, Segmentation, as_rgb
from adstage.weights import sha256_file

__all__ = [
    "RSU",
    "VARIANTS",
    "OnnxU2Net",
    "REBNConv",
    "U2Net",
    "U2NetSegmenter",
    "build_u2net",
    "check_state_dict",
    "detect_variant",
    "export_onnx",
    "load_u2net",
    "postprocess",
    "preprocess",
    "run_onnx",
]

logger = logging.getLogger(__name__)

Variant = Literal["u2net", "u2netp"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# One row per stage: (RSU height L, dilated "F" block?, in, mid, out channels). Table 1.
StageConfig = tuple[int, bool, int, int, int]

VARIANTS: dict[str, dict[str, tuple[StageConfig, ...]]] = {
    "u2net": {
        "encoder": (
            (7, False, 3, 32, 64),
            (6, False, 64, 32, 128),
            (5, False, 128, 64, 256),
            (4, False, 256, 128, 512),
            (4, True, 512, 256, 512),
            (4, True, 512, 256, 512),
        ),
        # stage5d … stage1d
        "decoder": (
            (4, True, 1024, 256, 512),
            (4, False, 1024, 128, 256),
            (5, False, 512, 64, 128),
            (6, False, 256, 32, 64),
            (7, False, 128, 16, 64),
        ),
    },
    "u2netp": {
        "encoder": (
            (7, False, 3, 16, 64),
            (6, False, 64, 16, 64),
            (5, False, 64, 16, 64),
            (4, False, 64, 16, 64),
            (4, True, 64, 16, 64),
            (4, True, 64, 16, 64),
        ),
        "decoder": (
            (4, True, 128, 16, 64),
            (4, False, 128, 16, 64),
            (5, False, 128, 16, 64),
            (6, False, 128, 16, 64),
            (7, False, 128, 16, 64),
        ),
    },
}
"""Channel configurations of U²-Net and U²-Net† (Table 1), keyed by the official file names."""


def _upsample_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of ``x`` to spatial ``size`` (half-pixel centres, as in the paper's code)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class REBNConv(nn.Module):
    """3×3 convolution (dilation ``dilation``, 'same' padding) → batch norm → ReLU.

    Attribute names ``conv_s1`` / ``bn_s1`` are those of the official checkpoints.
    """

    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv_s1 = nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation)
        self.bn_s1 = nn.BatchNorm2d(out_ch)
        self.relu_s1 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.relu_s1(self.bn_s1(self.conv_s1(x)))
        return out


class RSU(nn.Module):
    """ReSidual U-block RSU-L (§3.1, Fig. 2(e)); ``dilated=True`` gives RSU-LF.

    ``rebnconvin`` maps the input to ``out_ch`` channels (the residual branch). The encoder is
    ``rebnconv1 … rebnconv{L-1}``; in the plain block a 2×2 max pool (ceil mode, so odd sizes
    work) follows each of the first ``L-2``, in the dilated block the dilation doubles instead.
    ``rebnconv{L}`` sits at the bottom with twice the dilation of the layer above it. The decoder
    ``rebnconv{L-1}d … rebnconv1d`` takes [deeper map, skip] concatenated, upsampling the deeper
    map to the skip's size where the encoder had pooled. The output is ``decoder + rebnconvin``.
    """

    def __init__(
        self, height: int, in_ch: int, mid_ch: int, out_ch: int, *, dilated: bool = False
    ) -> None:
        super().__init__()
        if height < 2:
            raise ValueError(f"RSU height must be at least 2, got {height}")
        self.height = height
        self.dilated = dilated

        def rate(i: int) -> int:  # dilation of encoder layer i (1-based); the bottom is i = L
            if dilated:
                return int(2 ** (i - 1))
            return 2 if i == height else 1

        self.rebnconvin = REBNConv(in_ch, out_ch, 1)
        for i in range(1, height + 1):
            self.add_module(f"rebnconv{i}", REBNConv(out_ch if i == 1 else mid_ch, mid_ch, rate(i)))
            if not dilated and i <= height - 2:
                self.add_module(f"pool{i}", nn.MaxPool2d(2, stride=2, ceil_mode=True))
        for i in range(height - 1, 0, -1):
            self.add_module(
                f"rebnconv{i}d", REBNConv(2 * mid_ch, out_ch if i == 1 else mid_ch, rate(i))
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layer = self.get_submodule
        hxin: torch.Tensor = self.rebnconvin(x)
        skips: list[torch.Tensor] = []
        hx: torch.Tensor = hxin
        for i in range(1, self.height):
            hx = layer(f"rebnconv{i}")(hx)
            skips.append(hx)
            if not self.dilated and i <= self.height - 2:
                hx = layer(f"pool{i}")(hx)
        hx = layer(f"rebnconv{self.height}")(hx)
        for i in range(self.height - 1, 0, -1):
            skip = skips[i - 1]
            if not self.dilated and i < self.height - 1:  # the encoder pooled after layer i
                hx = _upsample_to(hx, skip.shape[-2:])
            hx = layer(f"rebnconv{i}d")(torch.cat((hx, skip), dim=1))
        return hx + hxin


class U2Net(nn.Module):
    """U²-Net (§3.2, Fig. 5): six RSU encoder stages, five RSU decoder stages, seven outputs.

    ``forward(x)`` takes a normalised ``N×3×H×W`` batch (any ``H, W``) and returns a tuple of
    seven ``N×1×H×W`` probability maps, the order of the official code: the fused map first,
    then the side outputs ``side1 … side6`` (shallowest to deepest).
    """

    def __init__(self, variant: str = "u2net", *, in_ch: int = 3, out_ch: int = 1) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise InputError(f"variant: expected one of {sorted(VARIANTS)}, got {variant!r}")
        config = VARIANTS[variant]
        self.variant = variant
        encoder, decoder = config["encoder"], config["decoder"]
        for i, (height, dilated, cin, mid, cout) in enumerate(encoder, start=1):
            cin = in_ch if i == 1 else cin
            self.add_module(f"stage{i}", RSU(height, cin, mid, cout, dilated=dilated))
            if i < len(encoder):
                self.add_module(f"pool{i}{i + 1}", nn.MaxPool2d(2, stride=2, ceil_mode=True))
        for i, (height, dilated, cin, mid, cout) in zip(range(5, 0, -1), decoder, strict=True):
            self.add_module(f"stage{i}d", RSU(height, cin, mid, cout, dilated=dilated))
        # Side i reads decoder stage i (stage6 for i = 6, the encoder's bottom).
        side_channels = [row[4] for row in reversed(decoder)] + [encoder[-1][4]]
        for i, channels in enumerate(side_channels, start=1):
            self.add_module(f"side{i}", nn.Conv2d(channels, out_ch, 3, padding=1))
        self.outconv = nn.Conv2d(6 * out_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        layer = self.get_submodule
        # Encoder: stage1 at full resolution, each next stage after a 2×2 max pool.
        skips: list[torch.Tensor] = []
        hx = x
        for i in range(1, 7):
            if i > 1:
                hx = layer(f"pool{i - 1}{i}")(hx)
            hx = layer(f"stage{i}")(hx)
            skips.append(hx)
        # Decoder: upsample the deeper map to the skip's size, concatenate, RSU.
        decoded = {6: hx}
        for i in range(5, 0, -1):
            skip = skips[i - 1]
            hx = layer(f"stage{i}d")(torch.cat((_upsample_to(hx, skip.shape[-2:]), skip), dim=1))
            decoded[i] = hx
        # Side outputs at the input resolution, then the fused map.
        size = x.shape[-2:]
        sides = []
        for i in range(1, 7):
            side = layer(f"side{i}")(decoded[i])
            sides.append(side if i == 1 else _upsample_to(side, size))
        fused = self.outconv(torch.cat(sides, dim=1))
        return tuple(torch.sigmoid(t) for t in (fused, *sides))


def build_u2net(variant: str = "u2net") -> U2Net:
    """A randomly initialised U²-Net (``"u2net"``) or U²-Netp (``"u2netp"``) in eval mode."""
    return U2Net(variant).eval()


def detect_variant(state_dict: Mapping[str, Any]) -> str | None:
    """Guess which configuration a state dict belongs to from its deepest encoder stage."""
    weight = state_dict.get("stage6.rebnconvin.conv_s1.weight")
    if weight is None or not hasattr(weight, "shape"):
        return None
    for variant, config in VARIANTS.items():
        if int(weight.shape[0]) == config["encoder"][-1][4]:
            return variant
    return None


def _summarise(keys: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "")


def _strip_prefix(state_dict: Mapping[str, Any], prefix: str = "module.") -> Mapping[str, Any]:
    """Drop a DataParallel ``module.`` prefix from every key (and from the version metadata)."""
    if not state_dict or not all(k.startswith(prefix) for k in state_dict):
        return state_dict
    out: Any = {k[len(prefix) :]: v for k, v in state_dict.items()}
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:  # per-module versions; batch norm reads them
        out = type(state_dict)(out) if isinstance(state_dict, dict) else out
        out._metadata = {
            ("" if k == prefix[:-1] else k.removeprefix(prefix)): v for k, v in metadata.items()
        }
    return out  # type: ignore[no-any-return]


def _unwrap(obj: Any, path: Path) -> Mapping[str, Any]:
    """The state dict inside a loaded checkpoint: a bare one or under ``state_dict``/``model``."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state_dict", "net"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(k, str) for k in inner):
                obj = inner
                break
        if obj and all(isinstance(k, str) for k in obj):
            return obj  # type: ignore[no-any-return]
    raise InputError(
        f"weights: {str(path)!r} does not hold a state dict (a mapping of parameter names to "
        f"tensors); got {type(obj).__name__}"
    )


def check_state_dict(model: nn.Module, state_dict: Mapping[str, Any], *, source: str) -> None:
    """Raise :class:`InputError` listing missing, unexpected and mis-shaped keys, if any.

    ``num_batches_tracked`` buffers may be absent (checkpoints saved by PyTorch 0.4.0 lack them;
    batch norm fills them in).
    """
    expected = model.state_dict()
    missing = [
        k for k in expected if k not in state_dict and not k.endswith(".num_batches_tracked")
    ]
    unexpected = [k for k in state_dict if k not in expected]
    mis_shaped = [
        f"{k} {tuple(state_dict[k].shape)} ≠ {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict
        and hasattr(state_dict[k], "shape")
        and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if not (missing or unexpected or mis_shaped):
        return
    variant = getattr(model, "variant", "?")
    parts = [f"weights: {source!r} does not match the {variant!r} architecture"]
    if missing:
        parts.append(f"missing keys ({len(missing)}): {_summarise(missing)}")
    if unexpected:
        parts.append(f"unexpected keys ({len(unexpected)}): {_summarise(unexpected)}")
    if mis_shaped:
        parts.append(f"shape mismatches ({len(mis_shaped)}): {_summarise(mis_shaped, 4)}")
    guess = detect_variant(state_dict)
    if guess is not None and guess != variant:
        parts.append(f"the file looks like {guess!r}: pass variant={guess!r}")
    else:
        parts.append("expected the official u2net.pth or u2netp.pth (or a fine-tune of them)")
    raise InputError("; ".join(parts))


def _check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise InputError(f"variant: expected one of {sorted(VARIANTS)}, got {variant!r}")
    return variant


def _check_device(device: str | torch.device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"device: expected a torch device such as 'cpu', got {device!r}") from exc


def _existing_file(path: str | os.PathLike[str], name: str) -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        raise InputError(f"weights: {str(p)!r} is a directory; expected the {name}.pth file")
    if not p.is_file():
        exc = WeightsNotFound(name, searched=[str(p)])
        exc.args = (
            f"weights file for {name!r} not found: {str(p)!r}; pass weights=PATH of the "
            f"official {name}.pth, or fetch it with: adstage weights fetch {name}",
        )
        raise exc
    return p


def load_u2net(
    path: str | os.PathLike[str],
    *,
    variant: str = "u2net",
    device: str | torch.device = "cpu",
) -> U2Net:
    """Load a local U²-Net / U²-Netp state dict (e.g. the official ``u2net.pth``) strictly.

    Accepts a bare state dict, one nested under ``state_dict``/``model``, and keys with a
    DataParallel ``module.`` prefix. A missing file raises :class:`WeightsNotFound`; a file of the
    wrong architecture raises :class:`InputError` listing the missing / unexpected keys and, when
    it recognises the other variant, the ``variant=`` to pass. Returns the model in eval mode.
    """
    variant = _check_variant(variant)
    dev = _check_device(device)
    p = _existing_file(path, variant)
    try:
        obj = torch.load(p, map_location=dev, weights_only=True)
    except Exception as exc:  # unpickling and zip errors have no common base class
        raise InputError(
            f"weights: could not read {str(p)!r} as a PyTorch state dict "
            f"({type(exc).__name__}); expected the official {variant}.pth"
        ) from exc
    state_dict = _strip_prefix(_unwrap(obj, p))
    model = U2Net(variant)
    check_state_dict(model, state_dict, source=str(p))
    model.load_state_dict(state_dict, strict=True)
    logger.debug("loaded %s weights from %s", variant, p)
    return model.to(dev).eval()


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
# ONNX


class _FusedOnly(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[0]  # type: ignore[no-any-return]


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    input_size: int = 320,
    opset: int = 17,
) -> Path:
    """Export the fused output of ``model`` to ONNX (input ``"input"``, output ``"fused"``).

    Batch, height and width are dynamic axes; ``input_size`` is the size traced. Uses the
    TorchScript-based exporter, which needs only the ``onnx`` package.
    """
    if not isinstance(input_size, int) or input_size < 1:
        raise InputError(f"input_size: expected a positive int, got {input_size!r}")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    dummy = torch.zeros(1, 3, input_size, input_size, device=device)
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter announces its own deprecation; that is not the caller's.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            torch.onnx.export(
                _FusedOnly(model),
                (dummy,),
                str(out),
                input_names=["input"],
                output_names=["fused"],
                dynamic_axes={
                    "input": {0: "batch", 2: "height", 3: "width"},
                    "fused": {0: "batch", 2: "height", 3: "width"},
                },
                opset_version=opset,
                dynamo=False,
            )
    finally:
        model.train(was_training)
    return out


class OnnxU2Net:
    """An exported U²-Net run by onnxruntime: ``__call__(x: N×3×H×W float32) -> N×1×H×W``."""

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = _existing_file(path, "u2net")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(
            str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: Any) -> NDArray[np.float32]:
        if torch.is_tensor(x):
            x = x.detach().cpu().numpy()
        x = np.ascontiguousarray(x, dtype=np.float32)
        (fused,) = self.session.run(None, {self.input_name: x})[:1]
        return np.asarray(fused, dtype=np.float32)


def run_onnx(
    path: str | os.PathLike[str], x: Any, *, threads: int | None = None
) -> NDArray[np.float32]:
    """One-off onnxruntime run of an exported model; keep an :class:`OnnxU2Net` for many."""
    return OnnxU2Net(path, threads=threads)(x)


# ---------------------------------------------------------------------------------------------
# The segmenter


def _resolve_weights(variant: str) -> Path:
    """The manifest's file for ``variant``, or :class:`WeightsNotFound` saying what to pass."""
    hint = (
        f"no weights manifest entry for {variant!r}; pass weights=PATH of the official "
        f"{variant}.pth (U²-Net authors' release), e.g. U2NetSegmenter(weights='~/{variant}.pth')"
    )
    try:
        from adstage.weights import resolve
    except ImportError as exc:
        err = WeightsNotFound(variant)
        err.args = (hint,)
        raise err from exc
    try:
        return Path(resolve(variant))
    except (UnknownName, KeyError) as exc:  # the manifest has no such name
        err = WeightsNotFound(variant)
        err.args = (hint,)
        raise err from exc


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
    ``.onnx`` file from :func:`export_onnx`; ``None`` resolves ``variant`` through the weights
    manifest. ``input_size``: the square network input (320 as published). ``threads``: CPU
    threads for this segmenter's inference (``None`` leaves the process setting alone).
    The model is loaded on the first call and kept.
    """

    name: ClassVar[str] = "u2net"

    weights: str | os.PathLike[str] | None = None
    variant: str = "u2net"
    input_size: int = 320
    device: str = "cpu"
    threads: int | None = None
    _runner: _Runner | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_variant(self.variant)
        if isinstance(self.input_size, bool) or not isinstance(self.input_size, int):
            raise InputError(f"input_size: expected a positive int, got {self.input_size!r}")
        if self.input_size < 1:
            raise InputError(f"input_size: expected a positive int, got {self.input_size}")
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise InputError(f"threads: expected a positive int or None, got {self.threads!r}")
        _check_device(self.device)

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
        if self.weights is None:
            path = _resolve_weights(self.variant)
        else:
            path = _existing_file(self.weights, self.variant)
        sha = sha256_file(path)
        if path.suffix.lower() == ".onnx":
            session = OnnxU2Net(path, threads=self.threads)
            return _Runner(session, path, sha, "onnxruntime")
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
