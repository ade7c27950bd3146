"""Segment the product in a photo: a soft alpha in [0, 1] and the binary mask at 0.5.

Backends (``SEGMENTERS``): ``solid-background`` (classical, no weights), ``grabcut`` (classical,
box-prompted), ``isnet`` (IS-Net via onnxruntime, AGPL weights, optional), ``u2net`` (U²-Net /
U²-Netp in PyTorch from a local official checkpoint) and ``auto``.
"""

from __future__ import annotations

from typing import Any

from adstage.segment.base import SEGMENTERS, Segmenter
from adstage.types import Segmentation, as_rgb

__all__ = ["SEGMENTERS", "Segmenter", "segment"]


def segment(image: Any, *, backend: str = "auto", **options: Any) -> Segmentation:
    """Segment ``image`` (PIL image, ``H×W×3`` uint8 array, or a path) with ``backend``."""
    if isinstance(image, str) or hasattr(image, "__fspath__"):
        from adstage.io.images import read_image

        image = read_image(image)
    return SEGMENTERS.create(backend, **options)(as_rgb(image))
