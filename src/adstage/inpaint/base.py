"""The inpainting protocol, its registry, and the public :func:`inpaint`.

Ku et al. (AdKDD 2023, §5.3) paste a product into a staged scene whose own product was removed;
the part of the removed product's slot that the new product does not cover has to be generated.
:func:`hole_for_paste` computes that part, :func:`inpaint` fills it. Only hole pixels change:
everything outside the hole is returned bit-exact.

A backend sees a crop around the hole (the hole's box grown by ``margin``), never the whole
image, so its cost follows the hole's size and not the image's.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, cast, runtime_checkable

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.registry import Registry
from adstage.types import RGB, THRESHOLD, as_alpha, as_rgb

log = logging.getLogger(__name__)

Hole = NDArray[np.bool_]
"""A hole mask: ``bool`` ``H×W``, ``True`` = pixel to generate."""


@runtime_checkable
class Inpainter(Protocol):
    """Fills the ``True`` pixels of ``hole`` in ``image`` (``H×W×3`` uint8 RGB) from the rest.

    Returns an ``H×W×3`` uint8 image of the same size; :func:`inpaint` keeps only its hole pixels.
    Backends may assume the hole is neither empty nor the whole image.
    """

    name: str

    def __call__(self, image: RGB, hole: Hole) -> RGB: ...


INPAINTERS: Registry[Inpainter] = Registry("inpainter")

INPAINTERS.register("telea", "adstage.inpaint.opencv:Telea")
INPAINTERS.register("ns", "adstage.inpaint.opencv:NavierStokes")
INPAINTERS.register("patchmatch", "adstage.inpaint.patchmatch:PatchMatch")
INPAINTERS.register("hybrid", "adstage.inpaint.patchmatch:Hybrid")
# Learned backends register the same lazy way, so that listing the backends never imports torch.
INPAINTERS.register("edgeconnect", "adstage.inpaint.edgeconnect:EdgeConnect")

DEFAULT_INPAINTER = "hybrid"
"""Chosen by ``benchmarks/inpaint.py`` (``benchmarks/results/inpaint.json``): on object- and
product-shaped holes in real photos it matches NS in the 10-px boundary band (PSNR at least as
high, SSIM within 0.01), beats it inside the hole, keeps more of the texture, and stays a few
times NS's cost (~0.1–0.2 s for a product-sized hole in a 512² scene on one core)."""

MIN_MARGIN = 16
"""Smallest automatic margin around a hole, in pixels."""

_MAX_REGIONS = 64  # more separate components than this: one crop around all of them


def as_hole(hole: Any, shape: tuple[int, int], *, name: str = "hole") -> Hole:
    """``hole`` (bool, uint8 0..255 with 255 = hole, or float in [0, 1]) as ``bool`` ``H×W``.

    Non-bool masks are thresholded at 0.5 (uint8: 128). ``shape`` is the image's ``(H, W)``.
    """
    if isinstance(hole, np.ndarray) and hole.dtype == bool:
        if hole.ndim == 3 and hole.shape[2] == 1:
            hole = hole[:, :, 0]
        if hole.shape != tuple(shape):
            raise InputError(
                f"{name}: expected shape {tuple(shape)} to match the image, got {hole.shape}"
            )
        return np.ascontiguousarray(hole)
    return as_alpha(hole, shape, name=name) >= THRESHOLD


def _boxes(hole: Hole, margin: int | None) -> list[tuple[int, int, int, int]]:
    """Crops ``(y0, y1, x0, x1)`` that cover every hole component grown by its margin.

    Components whose grown boxes overlap share one crop, so no crop's margin is cut by another
    component's hole.
    """
    h, w = hole.shape
    n, _, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    comps = [tuple(int(v) for v in stats[i, :4]) for i in range(1, n)]  # x, y, width, height
    if len(comps) > _MAX_REGIONS:
        ys, xs = np.nonzero(hole)
        x0, y0 = int(xs.min()), int(ys.min())
        comps = [(x0, y0, int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0)]
    boxes = []
    for x, y, bw, bh in comps:
        m = margin if margin is not None else max(MIN_MARGIN, round(0.5 * max(bw, bh)))
        boxes.append((max(0, y - m), min(h, y + bh + m), max(0, x - m), min(w, x + bw + m)))
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]:
                    boxes[i] = (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes


def inpaint(
    image: Any,
    hole: Any,
    *,
    backend: str = DEFAULT_INPAINTER,
    margin: int | None = None,
    **options: Any,
) -> RGB:
    """Fill the ``hole`` of ``image`` with ``backend`` (see :data:`INPAINTERS`).

    Args:
        image: PIL image or ``H×W×3`` uint8 RGB array.
        hole: ``H×W`` mask of the pixels to generate: bool, uint8 (255 = hole) or float in [0, 1].
        backend: a name in :data:`INPAINTERS`; ``options`` go to its constructor.
        margin: pixels of context around each hole component's box handed to the backend.
            ``None``: half the component's longer side, at least :data:`MIN_MARGIN`. A margin
            larger than the image means no cropping.

    Returns a new ``H×W×3`` uint8 array equal to ``image`` outside the hole. An empty hole gives
    a copy of ``image``.

    Raises:
        InputError: wrong shapes or dtypes, a negative margin, or a hole that covers the whole
            image (there is nothing to fill it from).
    """
    rgb = as_rgb(image)
    mask = as_hole(hole, (rgb.shape[0], rgb.shape[1]))
    if margin is not None and (
        isinstance(margin, bool) or not isinstance(margin, int) or margin < 1
    ):
        raise InputError(f"margin: expected an int >= 1 or None, got {margin!r}")
    if not mask.any():
        return rgb.copy()
    if mask.all():
        raise InputError(
            f"hole: covers every pixel of the {rgb.shape[1]}×{rgb.shape[0]} image; "
            "there is nothing to fill it from"
        )
    inpainter = INPAINTERS.create(backend, **options)
    out = rgb.copy()
    for y0, y1, x0, x1 in _boxes(mask, margin):
        sub = mask[y0:y1, x0:x1]
        if sub.all():  # no context in the crop (cannot happen with margin >= 1; be safe)
            y0, y1, x0, x1 = 0, rgb.shape[0], 0, rgb.shape[1]
            sub = mask
        filled = inpainter(np.ascontiguousarray(rgb[y0:y1, x0:x1]), np.ascontiguousarray(sub))
        if not (
            isinstance(filled, np.ndarray)
            and filled.dtype == np.uint8
            and filled.shape == (y1 - y0, x1 - x0, 3)
        ):
            got = getattr(filled, "shape", type(filled).__name__)
            raise TypeError(f"inpainter {backend!r} returned {got}, expected a uint8 crop")
        out[y0:y1, x0:x1][sub] = filled[sub]
    log.debug("inpainted %d pixels with %s", int(mask.sum()), backend)
    return out


def _binary(mask: Any, name: str, shape: tuple[int, int] | None = None) -> Hole:
    if isinstance(mask, np.ndarray) and mask.dtype == bool and mask.ndim == 2:
        if shape is not None and mask.shape != shape:
            raise InputError(f"{name}: expected shape {shape}, got {mask.shape}")
        return mask
    return as_alpha(mask, shape, name=name) >= THRESHOLD


def _disk(radius: int) -> NDArray[np.uint8]:
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cast(NDArray[np.uint8], disk)


def hole_for_paste(
    slot_mask: Any,
    product_mask: Any,
    *,
    dilate_px: int = 8,
    margin_px: int = 2,
) -> Hole:
    """What must be generated when a product replaces the product of a slot (Ku et al. §5.3).

    The removed product's mask ``slot_mask`` is grown by ``dilate_px`` (its anti-aliased edge,
    segmentation error; staging passes :attr:`adstage.stage.pipeline.StageOptions.dilate_px`,
    2 px, which blind judges preferred to this generic 8, and the inpainting benchmarks use
    8), then the pasted product's mask ``product_mask``
    (scene-sized, e.g. from :func:`adstage.composite.align.render_mask`) is taken away, shrunk
    by ``margin_px`` so the fill reaches a little under the new product's soft edge.
    Masks: bool, uint8 (255 = set) or float in [0, 1], both ``H×W`` of the scene.
    """
    for arg, value in (("dilate_px", dilate_px), ("margin_px", margin_px)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"{arg}: expected an int >= 0, got {value!r}")
    slot = _binary(slot_mask, "slot_mask")
    product = _binary(product_mask, "product_mask", (slot.shape[0], slot.shape[1]))
    grown = slot.astype(np.uint8)
    if dilate_px:
        grown = cast(NDArray[np.uint8], cv2.dilate(grown, _disk(dilate_px)))
    covered = product.astype(np.uint8)
    if margin_px:
        covered = cast(NDArray[np.uint8], cv2.erode(covered, _disk(margin_px), borderValue=1))
    return (grown > 0) & ~(covered > 0)
