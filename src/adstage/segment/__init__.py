"""Segment the product in a photo: a soft alpha in [0, 1] and the binary mask at 0.5.

Backends (``SEGMENTERS``): ``solid-background`` (classical, no weights), ``grabcut`` (classical,
box-prompted), ``isnet`` (IS-Net via onnxruntime, AGPL weights, optional), ``u2net`` (U²-Net /
U²-Netp in PyTorch from a local official checkpoint) and ``auto``. :mod:`adstage.segment.triage`
tells plain-background shots from scenes; :mod:`adstage.segment.slots` splits a scene's mask into
product slots.
"""

from __future__ import annotations

from typing import Any

from adstage._deprecation import make_callable, warn_renamed
from adstage.io.images import ImageInput, load_rgb
from adstage.segment.base import SEGMENTERS, Segmenter
from adstage.types import Segmentation

__all__ = ["SEGMENTERS", "Segmenter", "segment"]


def segment(
    image: ImageInput,
    *,
    segmenter: str | Segmenter = "auto",
    backend: str | None = None,
    **options: Any,
) -> Segmentation:
    """Segment the product in ``image`` (a path, PIL image or ``H×W×3`` uint8 array).

    ``segmenter``: a registered name (``SEGMENTERS.names()``) created with ``options`` as its
    constructor's keyword arguments, or a segmenter instance (then ``options`` must be empty).
    ``backend`` is the 0.1 spelling of ``segmenter`` (deprecated). The result's ``backend`` and
    ``provenance`` say which backend ran (and, for ``auto``, why).
    """
    if backend is not None:
        warn_renamed("segment(backend=…)", "segment(segmenter=…)")
        segmenter = backend
    if isinstance(segmenter, str):
        model = SEGMENTERS.create(segmenter, **options)
    elif options:
        raise TypeError(
            f"segment: options {sorted(options)} apply to a segmenter name, not to an instance"
        )
    else:
        model = segmenter
    return model(load_rgb(image))


make_callable(__name__, "adstage.segment:segment", "adstage.segment_product(…)")
