"""Feature networks for the perceptual and style losses of EdgeConnect training.

Perceptual loss: Johnson, Alahi and Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution", ECCV 2016; style loss: Gatys, Ecker and Bethge, "Image Style Transfer Using
Convolutional Neural Networks", CVPR 2016; both as used by EdgeConnect (Nazeri et al. 2019, §3.2)
on VGG-19 (relu1_1 … relu5_1). **Deviation**: VGG weights are not available offline here, so
:class:`InceptionFeatures` reads blocks of the FID Inception-V3 (Szegedy et al., CVPR 2016;
:mod:`adstage.models.inception`, weights row ``inception-v3-fid``): ``conv_2``, ``conv_4`` and
``mixed_2`` by default, the counterparts of VGG's early, middle and deeper layers.
:class:`TinyFeatures` is a frozen random conv net that stands in for it in tests. The losses
themselves are :mod:`adstage.inpaint.losses`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from adstage.errors import InputError
from adstage.models.inception import load_inception, named_blocks, normalize

__all__ = [
    "INCEPTION_BLOCKS",
    "FeatureNet",
    "InceptionFeatures",
    "TinyFeatures",
    "feature_net",
]

FeatureNet = Callable[[torch.Tensor], list[torch.Tensor]]
"""``N×3×H×W`` RGB in [0, 1] → a list of feature maps ``N×C×h×w``."""

INCEPTION_BLOCKS = ("conv_2", "conv_4", "mixed_2")


class InceptionFeatures(nn.Module):
    """Feature maps of ``blocks`` of the FID Inception-V3 (frozen) for [0, 1] RGB inputs.

    ``model``: the TorchScript graph (:func:`~adstage.models.inception.load_inception`); ``None``
    loads it from the weights cache (``adstage weights fetch inception-v3-fid``). Walks
    ``model.net.layers`` the way :func:`~adstage.models.inception.inception_block` does, but keeps
    the maps (not their means), which the perceptual and style losses need. Inputs are scaled to
    the graph's ``(v − 128)/128`` and not resized (the blocks used are fully convolutional; sides
    >= 75 px).
    """

    def __init__(self, model: Any = None, blocks: Sequence[str] = INCEPTION_BLOCKS) -> None:
        super().__init__()
        if model is None:
            model = load_inception()
        layers = named_blocks(model)
        names = [name for name, _ in layers]
        missing = [b for b in blocks if b not in names]
        if not blocks or missing:
            raise InputError(
                f"blocks: expected names among {names or 'net.layers of inception-v3-fid'}, "
                f"got {list(blocks)}"
            )
        last = max(names.index(b) for b in blocks)
        self.layers = layers[: last + 1]
        self.blocks = tuple(blocks)
        self._model = model  # kept for its parameters' lifetime; never trained
        for p in model.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        y = normalize(x * 255.0)
        out = []
        for name, layer in self.layers:
            y = layer(y)
            if name in self.blocks:
                out.append(y)
        return out


class TinyFeatures(nn.Module):
    """A frozen random 3-block conv net (seeded): stands in for Inception-V3 in tests."""

    def __init__(self, seed: int = 0, width: int = 4) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.ReLU())
            for cin, cout in ((3, width), (width, 2 * width), (2 * width, 2 * width))
        )
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
                p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return out


def feature_net(name: str, *, device: str = "cpu") -> FeatureNet:
    """``"inception"`` (the weights manager's Inception-V3) or ``"tiny"`` (tests)."""
    if name == "inception":
        return InceptionFeatures().to(device).eval()
    if name == "tiny":
        return TinyFeatures().to(device).eval()
    raise InputError(f"features: expected 'inception' or 'tiny', got {name!r}")
