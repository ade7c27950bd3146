"""The embedder protocol, its registry, and the shared input preparation.

Ku et al. (AdKDD 2023, §5.3) retrieve staged products by the cosine similarity of Inception-V3
embeddings of the segmented product. An embedder maps images (and optionally product masks) to
L2-normalised ``float32`` vectors, so cosine similarity is a dot product.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Literal, Protocol, cast, runtime_checkable

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.registry import Registry
from adstage.types import RGB, as_alpha, as_rgb

Mode = Literal["cutout", "whole"]

NEUTRAL = (255, 255, 255)
"""The background a cut-out is placed on: catalog white, as in the un-staged photos themselves."""


@runtime_checkable
class Embedder(Protocol):
    """``embed`` returns an ``N×dim`` float32 array with unit-length rows."""

    name: str
    dim: int

    def embed(
        self, images: Sequence[RGB], masks: Sequence[NDArray[Any] | None] | None = None
    ) -> NDArray[np.float32]: ...


EMBEDDERS: Registry[Embedder] = Registry("embedder")
EMBEDDERS.register("inception-v3", "adstage.retrieve.inception:InceptionV3")
EMBEDDERS.register("efficientnet-lite0", "adstage.retrieve.efficientnet:EfficientNetLite0")
EMBEDDERS.register("classical", "adstage.retrieve.classical:Classical")
EMBEDDERS.register("fusion", "adstage.retrieve.fusion:Fusion")

DEFAULT_EMBEDDER = "inception-v3"
"""The embedder of a new catalog when none is named: the paper's (Ku et al., AdKDD 2023, §5.3)."""

_loaded: dict[str, Embedder] = {}
_loaded_lock = threading.Lock()


def load_embedder(name: str) -> Embedder:
    """The embedder ``name`` with its default options, created once per process and shared, so
    its weights load once however many ingests and queries use it (thread-safe)."""
    with _loaded_lock:
        if name not in _loaded:
            _loaded[name] = EMBEDDERS.create(name)
        return _loaded[name]


def paired_masks(
    images: Sequence[RGB], masks: Sequence[NDArray[Any] | None] | None
) -> list[NDArray[Any] | None]:
    """One mask (or ``None``) per image; :class:`InputError` when the counts differ."""
    if masks is None:
        return [None] * len(images)
    masks = list(masks)
    if len(masks) != len(images):
        raise InputError(
            f"masks: expected {len(images)} masks (one per image, None allowed), got {len(masks)}"
        )
    return masks


def prepare(
    image: RGB,
    mask: NDArray[Any] | None = None,
    *,
    mode: Mode = "cutout",
    margin: float = 0.05,
    background: tuple[int, int, int] = NEUTRAL,
) -> RGB:
    """The picture an embedder sees: the product cut out, cropped and centred on a square.

    ``mode="cutout"`` (the paper's choice) composites the product over ``background`` by its
    mask, crops to the mask's box grown by ``margin`` and pads to a square; ``mode="whole"`` pads
    the whole image to a square. Without a mask, or with an empty one, the whole image is used.
    """
    image = as_rgb(image)
    if mode not in ("cutout", "whole"):
        raise InputError(f"mode: expected 'cutout' or 'whole', got {mode!r}")
    if mode == "cutout" and mask is not None:
        alpha = as_alpha(mask, image.shape[:2])
        ys, xs = np.nonzero(alpha >= 0.5)
        if ys.size:
            bg = np.array(background, np.float32)
            mixed = image.astype(np.float32) * alpha[..., None] + bg * (1.0 - alpha[..., None])
            h, w = alpha.shape
            x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            gx, gy = round((x1 - x0) * margin), round((y1 - y0) * margin)
            x0, y0 = max(0, x0 - gx), max(0, y0 - gy)
            x1, y1 = min(w, x1 + gx), min(h, y1 + gy)
            image = np.clip(mixed[y0:y1, x0:x1] + 0.5, 0, 255).astype(np.uint8)
    return pad_square(image, background)


def pad_square(image: RGB, fill: tuple[int, int, int] = NEUTRAL) -> RGB:
    """Pad ``image`` to a square with ``fill``, keeping it centred."""
    h, w = image.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    padded = cv2.copyMakeBorder(
        image, top, side - h - top, left, side - w - left, cv2.BORDER_CONSTANT, value=fill
    )
    return cast(RGB, padded)


def l2_normalize(x: NDArray[Any]) -> NDArray[np.float32]:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    unit: NDArray[np.float32] = (x / np.maximum(norm, 1e-12)).astype(np.float32)
    return unit
