"""What RefAdGen's pipeline and trainer plug together: text and image encoders and autoencoders.

Each is a small protocol so that the same pipeline runs SD-1.5's components (CLIP text encoder,
CLIP ViT-H/14 image encoder, the KL VAE) and the tiny pixel-space configuration that trains on a
CPU (:mod:`adstage.generate.tiny`). torch is imported only for the type annotations' sake here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch


class TextEncoder(Protocol):
    """Prompts → token embeddings ``[B, L, D]`` (D = the U-Net's cross-attention width)."""

    name: str

    def __call__(self, prompts: Sequence[str]) -> torch.Tensor: ...


class ImageEncoder(Protocol):
    """Product images ``[B, 3, H, W]`` in [0, 1] → hidden states ``[B, T, E]`` (CLIP's
    penultimate layer, as the release feeds its Resampler). Resizing and normalisation are the
    encoder's own."""

    name: str

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


class Autoencoder(Protocol):
    """Images in [-1, 1] ``[B, 3, H, W]`` ↔ scaled latents ``[B, channels, H/f, W/f]``."""

    name: str
    channels: int
    downscale: int

    def encode(self, images: torch.Tensor) -> torch.Tensor: ...

    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...


class PixelSpace:
    """No autoencoder: the model works on pixels in [-1, 1] (the tiny configuration)."""

    name = "pixel-space"
    channels = 3
    downscale = 1

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return images

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return latents
