"""EdgeConnect's networks: the edge and image generators, the discriminator, their checkpoints.

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

Differences from the paper: ``width`` multiplies every channel count (1.0 = the paper's 64 at
the first layer) and ``blocks`` sets the number of residual blocks (the paper's 8), so that a
CPU-sized variant exists.

Images inside the networks are ``float32`` ``N×C×H×W`` in ``[0, 1]``; masks ``N×1×H×W`` with
1 = hole. :func:`run` is the two-stage forward pass; :func:`load_checkpoint` reads what
:mod:`adstage.train.inpaint` writes. The edge detector and the ``edgeconnect`` inpainter are
:mod:`adstage.inpaint.edgeconnect`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from adstage.errors import InputError
from adstage.io.checkpoints import read_checkpoint as _read_checkpoint
from adstage.io.checkpoints import resolve_checkpoint

__all__ = [
    "Discriminator",
    "EdgeGenerator",
    "InpaintGenerator",
    "Outputs",
    "ResnetBlock",
    "build_generators",
    "channels",
    "check_width",
    "checkpoint_path",
    "load_checkpoint",
    "read_checkpoint",
    "run",
    "to_grey",
]


def channels(width: float, base: int = 64) -> int:
    """``base · width`` rounded, at least 1: the channels of a layer of the paper's ``base``."""
    return max(1, round(base * width))


def check_width(width: Any) -> float:
    """``width`` as a float channel multiplier in ``(0, 4]``, or :class:`InputError`."""
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

        def unit(conv: nn.Conv2d | nn.ConvTranspose2d) -> list[nn.Module]:
            """conv (spectral norm when ``spectral``) → IN → ReLU, spread into the Sequential
            so that the checkpoint keys stay ``encoder.1.…``, ``decoder.3.…``."""
            norm = nn.InstanceNorm2d(conv.out_channels, track_running_stats=False)
            return [_sn(conv, spectral), norm, nn.ReLU(True)]

        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3),
            *unit(nn.Conv2d(cin, c1, 7)),
            *unit(nn.Conv2d(c1, c2, 4, 2, 1)),
            *unit(nn.Conv2d(c2, c3, 4, 2, 1)),
        )
        self.middle = nn.Sequential(*(ResnetBlock(c3, 2, spectral=spectral) for _ in range(blocks)))
        self.decoder = nn.Sequential(
            *unit(nn.ConvTranspose2d(c3, c2, 4, 2, 1)),
            *unit(nn.ConvTranspose2d(c2, c1, 4, 2, 1)),
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
# the two-stage forward pass


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


def checkpoint_path(path: str | Path) -> Path:
    """``path`` itself, or the latest checkpoint of a training folder (:class:`InputError` when
    there is none, saying how to train one)."""
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
