"""The segmentation protocol and its registry.

A segmenter maps an RGB image to a :class:`~adstage.types.Segmentation`: a soft alpha in
``[0, 1]`` whose threshold at 0.5 is the binary product mask (Ku et al., AdKDD 2023, §5.1, which
thresholds a U²-Net saliency map at 0.5).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from adstage.registry import Registry
from adstage.types import RGB, Segmentation


@runtime_checkable
class Segmenter(Protocol):
    """Anything that segments the salient product of an RGB image."""

    name: str

    def __call__(self, image: RGB) -> Segmentation: ...


SEGMENTERS: Registry[Segmenter] = Registry("segmenter")

# Lazy targets: listing backends never imports torch or onnxruntime.
SEGMENTERS.register("solid-background", "adstage.segment.solid_background:SolidBackground")
SEGMENTERS.register("grabcut", "adstage.segment.grabcut:GrabCut")
SEGMENTERS.register("isnet", "adstage.segment.isnet:ISNet")
SEGMENTERS.register("u2net", "adstage.segment.u2net:U2NetSegmenter")
SEGMENTERS.register("auto", "adstage.segment.auto:Auto")
