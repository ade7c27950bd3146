"""Scene descriptions for ad triplets: the :class:`Captioner` protocol and its backends.

AdProd-100K describes each ad with Qwen2.5-VL (RefAdGen §3.2). No such model runs here, so the
default backend, ``attributes``, writes a description from what is *known* about the photo:

- the **product**: the category from the labels (``Furniture > Seating > Chairs`` → ``chair``),
  or ``product`` when there is none; its **dominant colour** name;
- the **scene**: a room type from the labels (``Bedroom``, ``living room`` …) when the labels name
  one; otherwise ``studio`` when the background is plain and light (the border is one flat
  colour), else ``interior``;
- the **background's** dominant colour names (up to two) and the **light level**: ``bright`` when
  the background's mean CIE L* is at least 65, ``dim`` below 40, ``softly lit`` between.

Colour names come from :data:`PALETTE` (25 sRGB colours): every pixel of a region (subsampled to
at most 4,096) takes the name of the nearest palette colour in CIE Lab (ΔE76), and the most
frequent names win. A solid colour therefore gets the name of the palette colour nearest to it.

``vlm`` is the plug point for a local vision-language model. It is a loader only: adstage ships no
VLM runner and no weights for one, so it raises :class:`~adstage.errors.BackendUnavailable`
saying how to plug one in (a class registered in :data:`CAPTIONERS`).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import BackendUnavailable, InputError
from adstage.registry import Registry
from adstage.types import RGB

__all__ = [
    "CAPTIONERS",
    "PALETTE",
    "AttributeCaptioner",
    "Captioner",
    "LocalVLM",
    "colour_names",
    "light_level",
]

PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 20),
    "dark grey": (80, 80, 80),
    "grey": (128, 128, 128),
    "light grey": (192, 192, 192),
    "white": (245, 245, 245),
    "red": (200, 30, 30),
    "dark red": (120, 20, 25),
    "pink": (235, 150, 170),
    "dusty pink": (185, 130, 125),
    "terracotta": (185, 95, 65),
    "orange": (235, 130, 40),
    "yellow": (240, 210, 50),
    "beige": (220, 200, 160),
    "brown": (120, 80, 45),
    "tan": (180, 140, 95),
    "olive": (120, 120, 40),
    "green": (50, 150, 60),
    "dark green": (30, 80, 40),
    "teal": (30, 130, 130),
    "light blue": (150, 190, 230),
    "blue": (40, 80, 200),
    "navy": (25, 35, 90),
    "purple": (120, 60, 150),
    "lilac": (190, 160, 210),
    "gold": (190, 150, 60),
}
"""Colour names and their sRGB values (chosen by eye; names as a furniture shop would use)."""

ROOM_WORDS = (
    "living room",
    "bedroom",
    "kitchen",
    "bathroom",
    "dining room",
    "dining",
    "office",
    "workspace",
    "hallway",
    "children's room",
    "kids room",
    "nursery",
    "outdoor",
    "balcony",
    "garden",
    "laundry",
    "studio",
    "room",
)
"""Words that make a label a room type rather than a product category."""

BRIGHT_L, DIM_L = 65.0, 40.0
"""Mean CIE L* of the background at or above which a photo is ``bright``, below which ``dim``."""
_MAX_PIXELS = 4096


def _lab(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """``N×3`` uint8 sRGB → ``N×3`` CIE Lab (L in 0..100)."""
    flat = np.asarray(rgb, np.float32).reshape(-1, 1, 3) / np.float32(255.0)
    return np.asarray(cv2.cvtColor(flat, cv2.COLOR_RGB2LAB), np.float32).reshape(-1, 3)


_NAMES = list(PALETTE)
_PALETTE_LAB = _lab(np.array([PALETTE[n] for n in _NAMES], np.uint8))


def _pixels(image: RGB, region: NDArray[np.bool_] | None) -> NDArray[np.uint8]:
    pixels = image.reshape(-1, 3) if region is None else image[np.asarray(region, bool)]
    if len(pixels) > _MAX_PIXELS:
        step = int(np.ceil(len(pixels) / _MAX_PIXELS))
        pixels = pixels[::step]
    return np.asarray(pixels, np.uint8)


def colour_names(image: RGB, region: NDArray[np.bool_] | None = None, *, top: int = 1) -> list[str]:
    """The ``top`` most frequent :data:`PALETTE` names of ``image``'s pixels in ``region``
    (all pixels when None), nearest in CIE Lab; ``[]`` for an empty region."""
    pixels = _pixels(np.asarray(image), region)
    if len(pixels) == 0:
        return []
    lab = _lab(pixels)
    d = ((lab[:, None, :] - _PALETTE_LAB[None, :, :]) ** 2).sum(axis=2)
    counts = Counter(int(i) for i in d.argmin(axis=1))
    return [_NAMES[i] for i, _ in counts.most_common(top)]


def light_level(image: RGB, region: NDArray[np.bool_] | None = None) -> str:
    """``bright``, ``softly lit`` or ``dim`` from the mean CIE L* of the region (see
    :data:`BRIGHT_L`)."""
    pixels = _pixels(np.asarray(image), region)
    if len(pixels) == 0:
        return "softly lit"
    mean_l = float(_lab(pixels)[:, 0].mean())
    return "bright" if mean_l >= BRIGHT_L else "dim" if mean_l < DIM_L else "softly lit"


def _singular(word: str) -> str:
    irregular = {"shelves": "shelf", "shelving": "shelving unit", "benches": "bench"}
    w = word.strip().lower()
    if w in irregular:
        return irregular[w]
    last = w.split(" ")[-1]
    if last in irregular:
        return w[: -len(last)] + irregular[last]
    if w.endswith(("ches", "shes", "xes", "sses")):
        return w[:-2]
    if w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def _is_room(leaf: str) -> bool:
    return any(leaf.endswith(word) for word in ROOM_WORDS)


def _room(labels: Mapping[str, str]) -> str | None:
    for key in ("room", "room_type", "scene", "category", "labels"):
        value = str(labels.get(key) or "").strip()
        leaf = value.split(">")[-1].strip().lower()
        if leaf and _is_room(leaf):
            return leaf
    return None


def _product(labels: Mapping[str, str]) -> str:
    for key in ("product", "category", "labels", "class"):
        value = str(labels.get(key) or "").strip()
        if not value:
            continue
        leaf = value.split(">")[-1].strip().lower()
        leaf = re.split(r"[;,&/]| and ", leaf)[0].strip()
        if leaf and not _is_room(leaf):
            return _singular(leaf)
    return "product"


@runtime_checkable
class Captioner(Protocol):
    """Anything that describes an ad: ``ad`` (``H×W×3`` uint8 RGB), ``mask`` (``bool`` ``H×W``,
    the product) and ``labels`` (what the source knows: category, room type …) → one sentence."""

    name: str

    def __call__(self, ad: RGB, mask: NDArray[np.bool_], labels: Mapping[str, str]) -> str: ...


CAPTIONERS: Registry[Captioner] = Registry("captioner")


def _plain_border(ad: RGB, mask: NDArray[np.bool_]) -> bool:
    """The border pixels outside the product are one light, flat colour (a studio backdrop)."""
    h, w = mask.shape
    band = np.zeros((h, w), bool)
    k = max(1, min(h, w) // 50)
    band[:k], band[-k:], band[:, :k], band[:, -k:] = True, True, True, True
    pixels = ad[band & ~mask].astype(np.float32)
    if len(pixels) == 0:
        return False
    return bool(pixels.std(axis=0).max() < 12.0 and pixels.mean() > 170.0)


@CAPTIONERS.register("attributes")
@dataclass(frozen=True)
class AttributeCaptioner:
    """The default: a sentence from labels, colours and light (see the module docstring), e.g.
    ``a grey sofa in a bright living room, white and beige background``."""

    name: str = "attributes"

    def __call__(self, ad: RGB, mask: NDArray[np.bool_], labels: Mapping[str, str]) -> str:
        mask = np.asarray(mask, bool)
        if mask.shape != ad.shape[:2]:
            raise InputError(f"mask: shape {mask.shape} does not match the ad's {ad.shape[:2]}")
        product = _product(labels)
        colour = colour_names(ad, mask)
        background = colour_names(ad, ~mask, top=2)
        light = light_level(ad, ~mask)
        room = _room(labels)
        if room is not None:
            scene = f"in a {light} {room}"
        elif _plain_border(ad, mask):
            scene = f"in a {light} studio shot"
        else:
            scene = f"in a {light} interior"
        text = f"a {colour[0] + ' ' if colour else ''}{product} {scene}"
        if background:
            text += f", {' and '.join(background)} background"
        return text


@CAPTIONERS.register("vlm")
@dataclass(frozen=True)
class LocalVLM:
    """Plug point for a local vision-language captioner (AdProd-100K used Qwen2.5-VL).

    adstage ships no VLM runner (only ``generate/`` and ``train/`` may import ``transformers``)
    and no weights, so constructing this raises :class:`BackendUnavailable` with what to do: write
    a class with ``name`` and ``__call__(ad, mask, labels) -> str`` that runs your model, and
    register it (``CAPTIONERS.register("my-vlm", "my_pkg.captions:MyVLM")``) before building.
    ``path`` (or ``$ADSTAGE_VLM``): the model folder such a class would load.
    """

    path: str | None = None
    name: str = "vlm"

    def __post_init__(self) -> None:
        path = self.path or os.environ.get("ADSTAGE_VLM")
        where = (
            f"the model folder {path!r} is set, but"
            if path
            else "no model folder is set ($ADSTAGE_VLM), and"
        )
        raise BackendUnavailable(
            f"captioner 'vlm': {where} adstage has no VLM runner. Register your own Captioner "
            "(name, __call__(ad, mask, labels) -> str) with "
            "adstage.datasets.captions.CAPTIONERS.register('my-vlm', 'pkg.module:Class') and pass "
            "--captioner my-vlm; or use --captioner attributes (the default)"
        )

    def __call__(
        self, ad: RGB, mask: NDArray[np.bool_], labels: Mapping[str, str]
    ) -> str:  # pragma: no cover - construction always raises
        raise BackendUnavailable("captioner 'vlm' is a loader stub")
