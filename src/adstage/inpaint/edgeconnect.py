"""EdgeConnect: two-stage adversarial inpainting, edges first, then the image guided by them.

Nazeri, Ng, Joseph, Qureshi & Ebrahimi, "EdgeConnect: Structure Guided Image Inpainting using
Edge Prediction", ICCV Workshops 2019 (arXiv:1901.00212), §3 and appendix A:

* **Edge generator** ``G1`` (§3.1): input the masked greyscale image, its masked Canny edges and
  the mask; output an edge map for the whole image (sigmoid). Spectral normalisation on every
  conv of ``G1`` (the paper's choice for the edge stage).
* **Image generator** ``G2`` (§3.2): input the incomplete colour image and the composite edge
  map (known edges outside the hole, ``G1``'s inside); output the image (``(tanh + 1) / 2``).
* Both generators (appendix A): conv 7×7 → two stride-2 4×4 convs (down to 1/4) → 8 residual
  blocks with dilation 2 → two stride-2 transposed convs → conv 7×7, instance norm, ReLU.
* **Discriminators**: 70×70 PatchGAN with spectral norm (Miyato et al. 2018) on every conv,
  LeakyReLU(0.2); the edge discriminator sees (grey image, edge map), the image one the image.

Ku et al. (AdKDD 2023, §5.3.1) train this model for the holes left by copy-paste staging and add
the weighted boundary loss (:func:`adstage.inpaint.losses.wbl_weight_map`). Training:
:mod:`adstage.train.inpaint`.

Differences from the paper: ``width`` multiplies every channel count (1.0 = the paper's 64 at
the first layer) and ``blocks`` sets the number of residual blocks (the paper's 8), so that a
CPU-sized variant exists. Edges come from ``cv2.Canny`` after a Gaussian blur of σ = 2 (the
paper uses scikit-image's Canny with σ = 2; the thresholds differ, see :func:`canny_edges`).

Images inside the networks are ``float32`` ``N×C×H×W`` in ``[0, 1]``; masks ``N×1×H×W`` with
1 = hole. The backend :class:`EdgeConnect` (``INPAINTERS.create("edgeconnect",
checkpoint=PATH)``) takes ``H×W×3`` ``uint8`` RGB and a bool hole like every inpainter.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from adstage.errors import InputError
from adstage.inpaint.base import INPAINTERS, Hole
from adstage.io.checkpoints import read_checkpoint as _read_checkpoint
from adstage.io.checkpoints import resolve_checkpoint
from adstage.types import RGB

log = logging.getLogger(__name__)


CHECKPOINT_ENV = "ADSTAGE_EDGECONNECT_CHECKPOINT"
"""Checkpoint used when none is passed: how ``adstage stage --inpainter edgeconnect`` and
animation (which pass only a backend name) find one."""

CANNY = {"sigma": 2.0, "low": 20, "high": 50}
"""Canny settings (Gaussian σ, cv2 hysteresis thresholds on the blurred uint8 grey image)."""


def channels(width: float, base: int = 64) -> int:
    """``base · width`` rounded, at least 1: the channel count of a layer of the paper's ``base``."""
    return max(1, round(base * width))


def check_width(width: Any) -> float:
    if isinstance(width, bool) or not isinstance(width, int | float) or not 0 < width <= 4:
        raise InputError(f"width: expected a channel multiplier in (0, 4], got {width!r}")
    return float(width)


# --------------------------------------------------------------------------------------------
# networks


def _sn(module: nn.Module, on: bool) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(module) if on else module


class ResnetBlock(nn.Module):
    """Residual block with a dilated first conv (appendix A): ``x + F(x)``, F =
    reflect-pad(d) → conv 3×3 dilation d → IN → ReLU → reflect-pad(1) → conv 3×3 → IN."""

    def __init__(self, dim: int, dilation: int = 2, *, spectral: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(dilation),
            _sn(nn.Conv2d(dim, dim, 3, dilation=dilation, bias=not spectral), spectral),
            nn.InstanceNorm2d(dim, track_running_stats=False),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            _sn(nn.Conv2d(dim, dim, 3, bias=not spectral), spectral),
            nn.InstanceNorm2d(dim, track_running_stats=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.body(x)
        return out


class _Generator(nn.Module):
    """Encoder (1/4) → ``blocks`` dilated residual blocks → decoder; input sides must be
    multiples of 4 (the backend pads)."""

    def __init__(self, cin: int, cout: int, *, width: float, blocks: int, spectral: bool) -> None:
        super().__init__()
        check_width(width)
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
            raise InputError(f"blocks: expected a positive integer, got {blocks!r}")
        c1, c2, c3 = channels(width, 64), channels(width, 128), channels(width, 256)

        def norm(c: int) -> nn.Module:
            return nn.InstanceNorm2d(c, track_running_stats=False)

        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3),
            _sn(nn.Conv2d(cin, c1, 7), spectral),
            norm(c1),
            nn.ReLU(True),
            _sn(nn.Conv2d(c1, c2, 4, 2, 1), spectral),
            norm(c2),
            nn.ReLU(True),
            _sn(nn.Conv2d(c2, c3, 4, 2, 1), spectral),
            norm(c3),
            nn.ReLU(True),
        )
        self.middle = nn.Sequential(*(ResnetBlock(c3, 2, spectral=spectral) for _ in range(blocks)))
        self.decoder = nn.Sequential(
            _sn(nn.ConvTranspose2d(c3, c2, 4, 2, 1), spectral),
            norm(c2),
            nn.ReLU(True),
            _sn(nn.ConvTranspose2d(c2, c1, 4, 2, 1), spectral),
            norm(c1),
            nn.ReLU(True),
            nn.ReflectionPad2d(3),
            nn.Conv2d(c1, cout, 7),
        )
        self.width, self.blocks = width, blocks

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % 4 or w % 4:
            raise InputError(f"input: expected sides that are multiples of 4, got {h}×{w}")
        out: torch.Tensor = self.decoder(self.middle(self.encoder(x)))
        return out


class EdgeGenerator(_Generator):
    """``G1``: (grey, edges, mask) ``N×3×H×W`` → edge map ``N×1×H×W`` in ``(0, 1)``."""

    def __init__(self, *, width: float = 1.0, blocks: int = 8) -> None:
        super().__init__(3, 1, width=width, blocks=blocks, spectral=True)

    def forward(self, grey: torch.Tensor, edges: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``grey``, ``edges``: ``N×1×H×W`` (hole pixels already masked out); ``mask``: 1 = hole."""
        return torch.sigmoid(self.features(torch.cat([grey, edges, mask], dim=1)))


class InpaintGenerator(_Generator):
    """``G2``: (incomplete RGB, edges) ``N×4×H×W`` → RGB ``N×3×H×W`` in ``[0, 1]``."""

    def __init__(self, *, width: float = 1.0, blocks: int = 8) -> None:
        super().__init__(4, 3, width=width, blocks=blocks, spectral=False)

    def forward(self, image: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(self.features(torch.cat([image, edges], dim=1))) + 1.0) / 2.0


class Discriminator(nn.Module):
    """PatchGAN with spectral norm on every conv: ``C64-C128-C256-C512-C1`` (×``width``).

    Returns the patch logits and the list of every layer's activations (for feature matching).
    """

    def __init__(self, in_channels: int, *, width: float = 1.0, spectral: bool = True) -> None:
        super().__init__()
        check_width(width)
        widths = [channels(width, c) for c in (64, 128, 256, 512)]
        strides = (2, 2, 2, 1)
        layers = []
        cin = in_channels
        for c, s in zip(widths, strides, strict=True):
            layers.append(
                nn.Sequential(
                    _sn(nn.Conv2d(cin, c, 4, s, 1, bias=not spectral), spectral),
                    nn.LeakyReLU(0.2, True),
                )
            )
            cin = c
        layers.append(nn.Sequential(_sn(nn.Conv2d(cin, 1, 4, 1, 1, bias=not spectral), spectral)))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return x, feats


# --------------------------------------------------------------------------------------------
# edges and the two-stage forward pass


def canny_edges(
    rgb: NDArray[np.uint8],
    *,
    sigma: float = CANNY["sigma"],
    low: float = CANNY["low"],
    high: float = CANNY["high"],
    hole: NDArray[np.bool_] | None = None,
) -> NDArray[np.float32]:
    """Canny edges of an ``H×W×3`` uint8 RGB image: ``float32`` ``H×W`` in {0, 1}.

    Grey (``cv2.COLOR_RGB2GRAY``), Gaussian blur of ``sigma``, then ``cv2.Canny(low, high)``.

    ``hole`` (``H×W`` bool, True = unknown): the blur averages known pixels only (normalised
    convolution), so whatever fills the hole (zeros, the removed product) draws no contour along
    its border. Training computes edges on whole photos and masks them; without this, a test-time
    hole adds its own outline to the known edges, which the model then paints as an object (the
    role of scikit-image's ``canny(mask=...)`` in the paper's code).
    """
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if hole is not None and hole.any():
        known = (~hole).astype(np.float32)
        s = sigma if sigma > 0 else 1.0
        num = cv2.GaussianBlur(grey.astype(np.float32) * known, (0, 0), s)
        den = cv2.GaussianBlur(known, (0, 0), s)
        fallback = float(grey[~hole].mean()) if known.any() else 0.0
        smooth = np.where(den > 1e-4, num / np.maximum(den, 1e-4), fallback)
        # far inside the hole the estimate falls to the fallback: that step lies in the hole,
        # whose edges are discarded; widen nothing else
        grey = np.clip(np.rint(smooth), 0, 255).astype(np.uint8)
        edges = cv2.Canny(grey, low, high) > 0
        return (edges & ~hole).astype(np.float32)
    if sigma > 0:
        grey = cv2.GaussianBlur(grey, (0, 0), sigma)
    return (cv2.Canny(grey, low, high) > 0).astype(np.float32)


def to_grey(image: torch.Tensor) -> torch.Tensor:
    """``N×3×H×W`` RGB in [0, 1] → ``N×1×H×W`` luma (ITU-R BT.601, as ``cv2.COLOR_RGB2GRAY``)."""
    r, g, b = image[:, 0:1], image[:, 1:2], image[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


@dataclass
class Outputs:
    """One forward pass: ``edges`` (``G1``'s full edge map), ``edges_merged`` (known edges outside
    the hole, ``G1``'s inside), ``image`` (``G2``'s full output) and ``merged`` (the input outside
    the hole, ``image`` inside). All ``N×C×H×W`` in [0, 1]."""

    edges: torch.Tensor
    edges_merged: torch.Tensor
    image: torch.Tensor
    merged: torch.Tensor


def run(
    edge_gen: EdgeGenerator,
    inpaint_gen: InpaintGenerator,
    image: torch.Tensor,
    edges: torch.Tensor,
    mask: torch.Tensor,
    *,
    detach_edges: bool = True,
) -> Outputs:
    """Both stages: ``image`` ``N×3×H×W`` in [0, 1], ``edges`` (of the whole image; masked here)
    ``N×1×H×W``, ``mask`` ``N×1×H×W`` with 1 = hole. Hole pixels of the inputs are replaced (the
    grey and colour images by 1, as in the paper's code; the edges by 0) before either generator
    sees them, so nothing of the hole leaks in."""
    keep = 1.0 - mask
    grey_in = to_grey(image) * keep + mask
    edges_in = edges * keep
    pred_edges = edge_gen(grey_in, edges_in, mask)
    guide = pred_edges.detach() if detach_edges else pred_edges
    edges_merged = edges_in + guide * mask
    image_in = image * keep + mask
    out = inpaint_gen(image_in, edges_merged)
    return Outputs(pred_edges, edges_merged, out, image * keep + out * mask)


# --------------------------------------------------------------------------------------------
# checkpoints


def _train_hint(path: str | Path) -> str:
    return f"; train one with adstage train inpaint --data DIR --out {Path(path).expanduser()}"


def _resolve(path: str | Path) -> Path:
    return resolve_checkpoint(path, hint=_train_hint(path))


def read_checkpoint(path: str | Path, *, device: str = "cpu") -> dict[str, Any]:
    """The raw checkpoint dict of ``path`` (a file, or a training folder → its latest)."""
    return _read_checkpoint(
        path,
        kind="an EdgeConnect",
        keys=("edge_gen", "inpaint_gen", "config"),
        hint=_train_hint(path),
        device=device,
    )


def build_generators(config: dict[str, Any]) -> tuple[EdgeGenerator, InpaintGenerator]:
    """Both generators as a checkpoint's ``config`` (``width``, ``blocks``) shapes them."""
    return (
        EdgeGenerator(width=config["width"], blocks=config["blocks"]),
        InpaintGenerator(width=config["width"], blocks=config["blocks"]),
    )


def load_checkpoint(
    path: str | Path, *, device: str = "cpu"
) -> tuple[EdgeGenerator, InpaintGenerator, dict[str, Any]]:
    """Both generators (``eval()``) and the metadata (``config``, ``step``, ``train_seconds``,
    ``path``)."""
    state = read_checkpoint(path, device=device)
    edge_gen, inpaint_gen = build_generators(state["config"])
    edge_gen.load_state_dict(state["edge_gen"])
    inpaint_gen.load_state_dict(state["inpaint_gen"])
    edge_gen.to(device).eval()
    inpaint_gen.to(device).eval()
    meta = {
        "config": state["config"],
        "step": int(state["step"]),
        "train_seconds": float(state.get("seconds", 0.0)),
        "path": state["path"],
    }
    return edge_gen, inpaint_gen, meta


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int, device: str) -> tuple[Any, Any, dict[str, Any]]:
    del mtime_ns  # part of the key only: a rewritten file is loaded again
    return load_checkpoint(path, device=device)


# --------------------------------------------------------------------------------------------
# the backend


@INPAINTERS.register("edgeconnect")
@dataclass(eq=False)
class EdgeConnect:
    """The ``edgeconnect`` inpainter: a trained EdgeConnect checkpoint fills the hole.

    Args:
        checkpoint: a checkpoint file or a training folder (its latest ``checkpoint-*.pt``),
            written by ``adstage train inpaint``; ``None``: ``$ADSTAGE_EDGECONNECT_CHECKPOINT``.
        weights: instead of ``checkpoint``, the name of a weights-manifest row, resolved offline
            by :func:`adstage.weights.resolve` (``$ADSTAGE_WEIGHTS``, ``~/.cache/adstage``).
        device: torch device.
        max_side: crops whose longer side exceeds this are downscaled to it for the networks
            and the fill upscaled back (the model was trained on ``size``² crops).
        threads: torch threads during a call (restored afterwards); ``None`` leaves torch's.

    Loaded checkpoints are cached per (file, mtime, device), so :func:`adstage.inpaint.inpaint`
    creating the backend once per call does not reload the file.
    """

    checkpoint: str | Path | None = None
    weights: str | None = None
    device: str = "cpu"
    max_side: int = 512
    threads: int | None = None
    name: str = field(default="edgeconnect", init=False)
    meta: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.checkpoint is None and self.weights is None and os.environ.get(CHECKPOINT_ENV):
            self.checkpoint = os.environ[CHECKPOINT_ENV]
        if self.checkpoint is None and self.weights is None:
            raise InputError(
                "checkpoint: the edgeconnect inpainter needs a trained checkpoint; train one "
                "with `adstage train inpaint --data DIR --out RUN` and pass checkpoint='RUN' "
                "(e.g. inpainter_options={'checkpoint': 'RUN'}) or set "
                f"{CHECKPOINT_ENV}=RUN, or pass weights=NAME for a manifest row fetched with "
                "`adstage weights fetch NAME`"
            )
        if self.checkpoint is not None and self.weights is not None:
            raise InputError("checkpoint, weights: give one of them, not both")
        if isinstance(self.max_side, bool) or not isinstance(self.max_side, int):
            raise InputError(f"max_side: expected an integer >= 16, got {self.max_side!r}")
        if self.max_side < 16:
            raise InputError(f"max_side: expected an integer >= 16, got {self.max_side!r}")
        if self.checkpoint is not None:
            path = _resolve(self.checkpoint)
        else:
            from adstage.weights import resolve

            path = resolve(str(self.weights))  # WeightsNotFound names the fetch command
        self._edge, self._inpaint, self.meta = _cached(
            str(path.resolve()), os.stat(path).st_mtime_ns, self.device
        )
        self._canny = {k: self.meta["config"].get(f"canny_{k}", v) for k, v in CANNY.items()}

    def __call__(self, image: RGB, hole: Hole) -> RGB:
        from adstage._torch import torch_threads

        h, w = hole.shape
        scale = min(1.0, self.max_side / max(h, w))
        sh, sw = max(4, round(h * scale)), max(4, round(w * scale))
        small = image
        small_hole = hole
        if (sh, sw) != (h, w):
            small = np.asarray(cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA), np.uint8)
            # any downscaled pixel that covers some hole is hole: the hole never shrinks away
            small_hole = (
                cv2.resize(hole.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) > 0
            )
        ph, pw = -sh % 4, -sw % 4
        padded = np.asarray(
            cv2.copyMakeBorder(small, 0, ph, 0, pw, cv2.BORDER_REFLECT_101), np.uint8
        )
        padded_hole = cv2.copyMakeBorder(
            small_hole.astype(np.uint8), 0, ph, 0, pw, cv2.BORDER_REFLECT_101
        )
        edges = canny_edges(padded, hole=padded_hole > 0, **self._canny)
        x = torch.from_numpy(padded).permute(2, 0, 1)[None].float().div(255.0)
        e = torch.from_numpy(edges)[None, None]
        m = torch.from_numpy(padded_hole.astype(np.float32))[None, None]
        with torch_threads(self.threads), torch.inference_mode():
            out = run(
                self._edge, self._inpaint, x.to(self.device), e.to(self.device), m.to(self.device)
            )
        filled = out.image[0, :, :sh, :sw].clamp(0, 1).mul(255).round().byte()
        result = np.ascontiguousarray(filled.permute(1, 2, 0).cpu().numpy())
        if (sh, sw) != (h, w):
            result = cv2.resize(result, (w, h), interpolation=cv2.INTER_CUBIC)
        out_img = image.copy()
        out_img[hole] = result[hole]
        return out_img
