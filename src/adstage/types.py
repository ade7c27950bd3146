"""Data that flows between adstage's stages.

Conventions (``../STYLE``): at the public API an image is a PIL image or an ``H×W×3`` ``uint8``
RGB array; inside models it is ``float32`` ``C×H×W`` in ``[0, 1]``. Masks are ``float32`` ``H×W``
in ``[0, 1]`` (1 = product); a binary mask is ``bool`` ``H×W``. Coordinates are ``(x, y)`` in
pixels of the image the object was computed from; boxes are ``(x0, y0, x1, y1)`` with exclusive
``x1, y1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image as PILImage

from adstage.errors import InputError

RGB = NDArray[np.uint8]
"""An ``H×W×3`` ``uint8`` RGB image."""

THRESHOLD = 0.5
"""The binarisation threshold of a saliency map (Ku et al. 2023, §5.1, after U²-Net's author)."""


def as_rgb(image: Any, *, name: str = "image") -> RGB:
    """Return ``image`` (PIL image or array) as a contiguous ``H×W×3`` ``uint8`` RGB array.

    Greyscale arrays are repeated to three channels; RGBA arrays lose their alpha. Anything else
    raises :class:`InputError` naming ``name``, the value's shape/dtype and what was expected.
    """
    if isinstance(image, PILImage.Image):
        image = np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise InputError(
            f"{name}: expected a PIL image or a numpy array, got {type(image).__name__}"
        )
    if image.dtype != np.uint8:
        raise InputError(f"{name}: expected dtype uint8, got {image.dtype} (scale to 0..255 first)")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise InputError(f"{name}: expected shape H×W×3, got {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"{name}: empty image of shape {image.shape}")
    return np.ascontiguousarray(image[:, :, :3])


def as_alpha(
    mask: Any, shape: tuple[int, int] | None = None, *, name: str = "mask"
) -> NDArray[np.float32]:
    """Return ``mask`` as ``float32`` ``H×W`` in ``[0, 1]``: bool, ``uint8`` 0..255 or float 0..1."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.ndim != 2:
        raise InputError(f"{name}: expected shape H×W, got {mask.shape}")
    if shape is not None and mask.shape != tuple(shape):
        raise InputError(
            f"{name}: expected shape {tuple(shape)} to match the image, got {mask.shape}"
        )
    if mask.dtype == bool:
        out = mask.astype(np.float32)
    elif mask.dtype == np.uint8:
        out = mask.astype(np.float32) / 255.0
    elif np.issubdtype(mask.dtype, np.floating):
        if mask.size and (np.nanmin(mask) < 0 or np.nanmax(mask) > 1 or np.isnan(mask).any()):
            raise InputError(f"{name}: float values must lie in [0, 1]")
        out = mask.astype(np.float32)
    else:
        raise InputError(f"{name}: expected bool, uint8 or float dtype, got {mask.dtype}")
    return np.ascontiguousarray(out)


@dataclass(frozen=True)
class Segmentation:
    """A segmenter's answer for one image.

    ``alpha`` is the soft product map (``float32`` ``H×W`` in ``[0, 1]``); ``mask`` is
    ``alpha >= 0.5`` (the paper's threshold). ``backend`` names the backend that actually ran and
    ``provenance`` holds what else a reader needs to reproduce it (input size, weights sha256…).
    """

    alpha: NDArray[np.float32]
    backend: str
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def mask(self) -> NDArray[np.bool_]:
        return self.alpha >= THRESHOLD

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.alpha.shape[0]), int(self.alpha.shape[1]))

    def cutout(self, image: Any) -> Cutout:
        """Crop ``image`` to the product and return it with its alpha as a :class:`Cutout`."""
        return Cutout.from_alpha(as_rgb(image), self.alpha, backend=self.backend)


@dataclass(frozen=True)
class Cutout:
    """A product cut out of a photo.

    ``rgba``: ``h×w×4`` ``uint8`` crop, alpha from the soft map. ``mask``: ``bool`` ``h×w`` crop of
    the binary mask. ``bbox``: the crop's box in the source image. ``center_of_mass``: ``(x, y)``
    of the binary mask in source coordinates. ``area_fraction``: product pixels / image pixels.
    An empty mask gives a 0×0 crop, ``bbox`` ``(0, 0, 0, 0)`` and ``center_of_mass`` at the image
    centre, so batch code can report it instead of crashing. A cut-out reshaped for staging (its
    pieces laid side by side, :func:`adstage.stage.closeup.lay_pieces`; turned to the room's
    perspective) keeps the source fields of the photo it was cut from: ``rgba`` and ``mask`` are
    then no longer the crop ``bbox`` names.
    """

    rgba: NDArray[np.uint8]
    mask: NDArray[np.bool_]
    bbox: tuple[int, int, int, int]
    center_of_mass: tuple[float, float]
    area_fraction: float
    source_size: tuple[int, int]  # (width, height)
    backend: str = ""

    @property
    def empty(self) -> bool:
        return not bool(self.mask.any())

    @classmethod
    def from_alpha(cls, image: RGB, alpha: NDArray[np.float32], *, backend: str = "") -> Cutout:
        image = as_rgb(image)
        alpha = as_alpha(alpha, image.shape[:2])
        h, w = alpha.shape
        binary = alpha >= THRESHOLD
        ys, xs = np.nonzero(binary)
        if ys.size == 0:
            return cls(
                rgba=np.zeros((0, 0, 4), np.uint8),
                mask=np.zeros((0, 0), bool),
                bbox=(0, 0, 0, 0),
                center_of_mass=(w / 2.0, h / 2.0),
                area_fraction=0.0,
                source_size=(w, h),
                backend=backend,
            )
        x0, x1 = int(xs.min()), int(xs.max()) + 1
        y0, y1 = int(ys.min()), int(ys.max()) + 1
        a8 = np.clip(np.rint(alpha[y0:y1, x0:x1] * 255.0), 0, 255).astype(np.uint8)
        rgba = np.dstack([image[y0:y1, x0:x1], a8])
        return cls(
            rgba=np.ascontiguousarray(rgba),
            mask=np.ascontiguousarray(binary[y0:y1, x0:x1]),
            bbox=(x0, y0, x1, y1),
            center_of_mass=(float(xs.mean()) + 0.5, float(ys.mean()) + 0.5),
            area_fraction=float(ys.size) / float(h * w),
            source_size=(w, h),
            backend=backend,
        )


@dataclass(frozen=True)
class Placement:
    """Where a product cut-out goes in a scene.

    ``box``: ``(x0, y0, x1, y1)`` of the scaled cut-out in scene pixels (``x1``/``y1`` exclusive),
    inside the scene (free space's places cut by the frame reach past its side:
    :func:`adstage.stage.freespace.crop_to_frame` gives what is seen). ``scale``: scene pixels per
    cut-out pixel. ``fit``: how the scale was chosen. ``scene_size``: ``(width, height)`` of the
    scene.
    """

    box: tuple[int, int, int, int]
    scale: float
    fit: str
    scene_size: tuple[int, int]

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the placed cut-out."""
        return (self.box[2] - self.box[0], self.box[3] - self.box[1])


@dataclass(frozen=True)
class Match:
    """A catalog slot returned by retrieval.

    ``similarity``: cosine similarity of the embeddings. ``coverage``: share of the slot's pixels
    the query product covers once aligned onto it (``None`` without the shape-aware re-rank).
    ``score``: what the results are ordered by (``similarity``, or the re-rank's blend).
    ``bbox`` / ``center_of_mass`` are in the catalog image's pixels; ``size`` is its
    ``(width, height)``; ``mask_png`` the slot's mask (see :meth:`mask`).
    """

    id: str
    item: str
    slot: int
    uri: str
    category: str
    staged: bool
    score: float
    similarity: float
    coverage: float | None
    bbox: tuple[int, int, int, int]
    center_of_mass: tuple[float, float]
    area_fraction: float
    size: tuple[int, int]
    mask_png: bytes = field(default=b"", repr=False)

    def mask(self) -> NDArray[np.bool_]:
        """The slot's mask, ``bool`` ``H×W`` at the catalog image's size."""
        decoded = cv2.imdecode(np.frombuffer(self.mask_png, np.uint8), cv2.IMREAD_GRAYSCALE)
        if decoded is None:
            raise InputError(f"catalog row {self.id}: its mask does not decode")
        w, h = self.size
        if w > 0 and h > 0 and decoded.shape != (h, w):  # stored at the working size of ingest
            decoded = cv2.resize(decoded, (w, h), interpolation=cv2.INTER_LINEAR)
        return decoded >= 128

    def as_dict(self) -> dict[str, Any]:
        """Everything but the mask bytes, JSON-ready."""
        return {
            "id": self.id,
            "item": self.item,
            "slot": self.slot,
            "uri": self.uri,
            "category": self.category,
            "staged": self.staged,
            "score": round(self.score, 6),
            "similarity": round(self.similarity, 6),
            "coverage": None if self.coverage is None else round(self.coverage, 6),
            "bbox": list(self.bbox),
            "center_of_mass": [round(v, 2) for v in self.center_of_mass],
            "area_fraction": round(self.area_fraction, 6),
            "size": list(self.size),
        }
