"""U²-Net and U²-Netp (U²-Net†): the networks and their official checkpoints, from the paper.

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

The official ``u2net.pth`` (176.3 MB, ≈44.0 M parameters) and ``u2netp.pth`` (4.7 MB, ≈1.13 M
parameters) load with ``load_state_dict(strict=True)``: module and parameter names follow those
checkpoints (``stage1.rebnconvin.conv_s1.weight``, ``stage5d…``, ``side1…side6``, ``outconv``).
:func:`load_u2net_onnx` loads the weights of an ONNX export instead (the authors' networks as the
weights manager installs them, ``u2net.onnx`` / ``u2netp.onnx``, whose batch norms are folded into
the convolutions). :func:`export_onnx` writes the fused output to ONNX and :class:`OnnxU2Net`
runs it. The input
normalisation and the resizing of the official inference code are the segmenter's
(:mod:`adstage.segment.u2net`).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from adstage.errors import BackendUnavailable, InputError, WeightsNotFound
from adstage.models.runtime import cpu_session

__all__ = [
    "RSU",
    "VARIANTS",
    "OnnxU2Net",
    "REBNConv",
    "U2Net",
    "build_u2net",
    "check_device",
    "check_state_dict",
    "check_variant",
    "detect_variant",
    "export_onnx",
    "load_u2net",
    "load_u2net_onnx",
    "run_onnx",
    "weights_file",
]

logger = logging.getLogger(__name__)

Variant = Literal["u2net", "u2netp"]

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
        config = VARIANTS[check_variant(variant)]
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
    return cast(Mapping[str, Any], out)


def _unwrap(obj: Any, path: Path) -> Mapping[str, Any]:
    """The state dict inside a loaded checkpoint: a bare one or under ``state_dict``/``model``."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state_dict", "net"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(k, str) for k in inner):
                obj = inner
                break
        if obj and all(isinstance(k, str) for k in obj):
            return cast(Mapping[str, Any], obj)
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


def check_variant(variant: str) -> str:
    """``variant`` if it names a configuration of :data:`VARIANTS`, else :class:`InputError`."""
    if variant not in VARIANTS:
        raise InputError(f"variant: expected one of {sorted(VARIANTS)}, got {variant!r}")
    return variant


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a :class:`torch.device`, or :class:`InputError` naming the argument."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"device: expected a torch device such as 'cpu', got {device!r}") from exc


def weights_file(path: str | os.PathLike[str], name: str) -> Path:
    """``path`` as an existing file: a folder raises :class:`InputError`, a missing file
    :class:`WeightsNotFound` saying what to pass or fetch for the variant ``name``."""
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
    variant = check_variant(variant)
    dev = check_device(device)
    p = weights_file(path, variant)
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
# ONNX


_OnnxConv = tuple[str, NDArray[np.float32], NDArray[np.float32], tuple[int, ...]]


def _onnx_convs(path: Path) -> list[_OnnxConv]:
    """``(label, weight, bias, dilations)`` of every ``Conv`` node of an ONNX file, in graph
    order; ``label`` joins the node's name and its weight's name. Weights and biases may be
    initializers or ``Constant`` nodes."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise BackendUnavailable(
            "loading U²-Net weights from ONNX needs the onnx package: pip install 'adstage[torch]'"
        ) from exc
    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:  # protobuf decode errors have no common base class
        raise InputError(
            f"weights: could not read {str(path)!r} as an ONNX model ({type(exc).__name__})"
        ) from exc
    tensors = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            tensors[node.output[0]] = node.attribute[0].t
    if any(node.op_type == "BatchNormalization" for node in graph.node):
        raise InputError(
            f"weights: {str(path)!r} keeps BatchNormalization nodes; expected an inference export "
            "with batch norm folded into the convolutions (the official u2net.onnx, or "
            "export_onnx of a model in eval mode)"
        )
    convs = []
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        if len(node.input) < 3 or node.input[1] not in tensors or node.input[2] not in tensors:
            raise InputError(
                f"weights: Conv {node.name or node.output[0]!r} in {str(path)!r} has no constant "
                "weight and bias"
            )
        attrs = {a.name: a for a in node.attribute}
        dilations = tuple(attrs["dilations"].ints) if "dilations" in attrs else (1, 1)
        if "group" in attrs and attrs["group"].i != 1:
            raise InputError(f"weights: grouped Conv {node.name!r} is not part of U²-Net")
        weight = numpy_helper.to_array(tensors[node.input[1]]).astype(np.float32)
        bias = numpy_helper.to_array(tensors[node.input[2]]).astype(np.float32)
        label = f"{node.name or node.output[0]} ({node.input[1]})"
        convs.append((label, weight, bias, dilations))
    return convs


def load_u2net_onnx(
    path: str | os.PathLike[str],
    *,
    variant: str | None = None,
    device: str | torch.device = "cpu",
) -> U2Net:
    """A :class:`U2Net` whose weights are read from an ONNX export of U²-Net or U²-Netp.

    The ONNX exports of the authors' networks (``u2net.onnx`` / ``u2netp.onnx``, the files that
    ``adstage weights fetch u2net u2netp`` installs; PyTorch 1.9, opset 11) name only the side
    and fusion convolutions (``side1.weight`` …, ``outconv.weight``); every conv–batch-norm pair
    of the RSU blocks was folded by the exporter into one ``Conv`` with an anonymous weight and a
    bias. The mapping is therefore by order and shape:

    * the graph's ``Conv`` nodes, in graph (execution) order, are paired one to one with this
      module's ``Conv2d`` layers in registration order — the RSU convs of ``stage1 … stage6,
      stage5d … stage1d`` as the forward pass runs them, then ``side1 … side6`` and ``outconv``;
    * each pair must agree on the weight shape and on the dilation (RSU-4F's rates 1, 2, 4, 8 and
      each RSU's dilated bottom), and a named side / fusion weight must land on that layer;
      anything else raises :class:`InputError`;
    * a folded weight and bias go into ``conv_s1``, and the ``bn_s1`` after it is set to the
      identity (weight 1, bias 0, running mean 0, running variance ``1 − eps`` so that
      ``sqrt(var + eps) = 1``), so the module computes exactly the folded convolution.

    ``variant`` is detected from the file (the width of ``side6``) when ``None``. Returns the
    model in eval mode; its state dict is an ordinary U²-Net checkpoint (``torch.save`` it to get
    a ``.pth`` that :func:`load_u2net` reads). A missing file raises :class:`WeightsNotFound`.
    """
    dev = check_device(device)
    p = weights_file(path, variant or "u2net")
    convs = _onnx_convs(p)
    if variant is None:  # side6 (the last conv but one) reads the deepest encoder stage
        widths = {cfg["encoder"][-1][4]: name for name, cfg in VARIANTS.items()}
        probe = convs[-2][1] if len(convs) >= 2 else None
        found = int(probe.shape[1]) if probe is not None and probe.ndim == 4 else -1
        if found not in widths:
            raise InputError(
                f"weights: {str(p)!r} does not look like U²-Net or U²-Netp (its last-but-one "
                f"Conv has {found} input channels; expected one of {sorted(widths)})"
            )
        variant = widths[found]
    model = U2Net(check_variant(variant))
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if len(layers) != len(convs):
        raise InputError(
            f"weights: {str(p)!r} has {len(convs)} Conv nodes; the {variant!r} architecture has "
            f"{len(layers)} convolutions"
        )
    with torch.no_grad():
        for (module_name, conv), (node_name, weight, bias, dilations) in zip(
            layers, convs, strict=True
        ):
            expected = tuple(conv.weight.shape)
            if weight.shape != expected or tuple(bias.shape) != (expected[0],):
                raise InputError(
                    f"weights: {str(p)!r} does not match the {variant!r} architecture: Conv "
                    f"{node_name!r} has weight {tuple(weight.shape)}, {module_name} expects "
                    f"{expected}"
                )
            if tuple(dilations) != tuple(conv.dilation):
                raise InputError(
                    f"weights: {str(p)!r}: Conv {node_name!r} has dilation {tuple(dilations)}, "
                    f"{module_name} expects {tuple(conv.dilation)}"
                )
            named = _names_a_layer(node_name)  # side / outconv weights keep their names
            if named is not None and named != module_name.split(".")[0]:
                raise InputError(
                    f"weights: {str(p)!r}: Conv {node_name!r} would load into {module_name}"
                )
            conv.weight.copy_(torch.from_numpy(weight))
            if conv.bias is None:  # pragma: no cover - every U²-Net conv has a bias
                raise InputError(f"weights: {module_name} has no bias")
            conv.bias.copy_(torch.from_numpy(bias))
        for name, tensor in model.state_dict(keep_vars=True).items():
            if ".bn_s1." not in name or name.endswith("num_batches_tracked"):
                continue
            if name.endswith(".running_var"):
                tensor.fill_(1.0 - _BN_EPS)  # so that sqrt(var + eps) = 1
            elif name.endswith(".weight"):
                tensor.fill_(1.0)
            else:  # bias, running_mean
                tensor.zero_()
    logger.debug("loaded %s weights from the ONNX file %s", variant, p)
    return model.to(dev).eval()


_BN_EPS = 1e-5  # nn.BatchNorm2d's default, which REBNConv uses


def _names_a_layer(node_name: str) -> str | None:
    """``side3`` / ``outconv`` when an ONNX label names a U²-Net layer, else None."""
    for part in node_name.replace("/", ".").replace(" (", ".").replace(")", "").split("."):
        if part == "outconv" or (part.startswith("side") and part[4:].isdigit()):
            return part
    return None


class _FusedOnly(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fused: torch.Tensor = self.model(x)[0]
        return fused


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
        self.path = weights_file(path, "u2net")
        self.session = cpu_session(str(self.path), threads=threads, name="U²-Net in ONNX")
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
