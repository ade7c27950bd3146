"""Vanilla staging: a pix2pix conditional GAN generates the whole scene around the product.

Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017; the
U-Net generator, the PatchGAN and their checkpoints are :mod:`adstage.models.pix2pix`. Ku et al.
(AdKDD 2023, §5.2) use it as the "vanilla staging" baseline: the input is the segmented product
on a blank background, the target the staged photo, and every background pixel is generated.
That is why it scores far worse than copy-paste staging (FID 122–128 against 37–38 in their
Table 3).

Here: where the product goes on the blank canvas (:func:`layout_canvas`, :data:`DEFAULT_LAYOUT`),
and :class:`VanillaStager`, which runs a trained generator on it. Images at this module's public
functions are ``H×W×3`` ``uint8`` RGB.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from adstage.errors import InputError
from adstage.models.pix2pix import load_checkpoint, on_white, to_images, to_tensor
from adstage.types import RGB, as_alpha, as_rgb

log = logging.getLogger(__name__)


DEFAULT_LAYOUT = {"cx": 0.5, "cy": 0.6, "side": 0.45}
"""Where the product goes on the blank canvas, as fractions of the canvas: box centre ``(cx,
cy)`` and ``side`` = ``sqrt(box width × box height)``. Training replaces it by the medians of its
training pairs (stored in the checkpoint's config as ``layout``)."""


def layout_canvas(
    product: Any, mask: Any, size: int, layout: dict[str, float] | None = None
) -> tuple[RGB, tuple[int, int, int, int]]:
    """Put the segmented product on a white ``size``×``size`` canvas at ``layout`` (see
    :data:`DEFAULT_LAYOUT`); return the canvas and the product's box ``(x0, y0, x1, y1)``."""
    image = as_rgb(product, name="product")
    alpha = as_alpha(mask, image.shape[:2], name="mask")
    lay = {**DEFAULT_LAYOUT, **(layout or {})}
    ys, xs = np.nonzero(alpha >= 0.5)
    if ys.size == 0:
        raise InputError("mask: empty (no product pixels to stage)")
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    w, h = x1 - x0, y1 - y0
    scale = lay["side"] * size / np.sqrt(w * h)
    scale = min(scale, 0.95 * size / w, 0.95 * size / h)
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    rgb = np.asarray(cv2.resize(image[y0:y1, x0:x1], (sw, sh), interpolation=interp), np.uint8)
    a = cv2.resize(alpha[y0:y1, x0:x1], (sw, sh), interpolation=interp)
    bx = int(np.clip(round(lay["cx"] * size - sw / 2), 0, size - sw))
    by = int(np.clip(round(lay["cy"] * size - sh / 2), 0, size - sh))
    canvas = np.full((size, size, 3), 255, np.uint8)
    canvas[by : by + sh, bx : bx + sw] = on_white(rgb, np.clip(a, 0.0, 1.0))
    return canvas, (bx, by, bx + sw, by + sh)


@dataclass(frozen=True)
class VanillaStaged:
    """A pix2pix staging: ``image`` (RGB, ``size``²), the product's ``placement`` box in it, the
    white ``canvas`` the generator saw, ``seconds`` per step and ``provenance``."""

    image: RGB = field(repr=False)
    canvas: RGB = field(repr=False)
    placement: tuple[int, int, int, int]
    seconds: dict[str, float]
    provenance: dict[str, Any]


class VanillaStager:
    """A loaded pix2pix generator that stages products: ``VanillaStager(path)(product, mask)``."""

    def __init__(self, checkpoint: str | Path, *, device: str = "cpu") -> None:
        self.generator, self.meta = load_checkpoint(checkpoint, device=device)
        self.device = device
        self.size = int(self.meta["config"]["size"])
        self.layout = dict(self.meta["config"].get("layout") or DEFAULT_LAYOUT)

    def __call__(self, product: Any, mask: Any, *, size: int | None = None) -> VanillaStaged:
        t = time.perf_counter()
        canvas, box = layout_canvas(product, mask, self.size, self.layout)
        seconds = {"layout": time.perf_counter() - t}
        t = time.perf_counter()
        with torch.inference_mode():
            image = to_images(self.generator(to_tensor(canvas).to(self.device)))[0]
        seconds["generate"] = time.perf_counter() - t
        if size is not None and size != self.size:
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise InputError(f"size: expected a positive integer, got {size!r}")
            f = size / self.size
            image = np.asarray(
                cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC), np.uint8
            )
            box = (round(box[0] * f), round(box[1] * f), round(box[2] * f), round(box[3] * f))
        return VanillaStaged(
            image=image,
            canvas=canvas,
            placement=box,
            seconds=seconds,
            provenance={
                "method": "vanilla",
                "model": "pix2pix (Isola et al. 2017)",
                "checkpoint": self.meta["path"],
                "step": self.meta["step"],
                "size": self.size,
                "ngf": self.meta["config"]["ngf"],
                "layout": self.layout,
            },
        )


def stage_vanilla(
    product_rgb: Any, mask: Any, checkpoint: str | Path, *, size: int | None = None
) -> RGB:
    """Stage one product with a trained pix2pix checkpoint and return the generated image
    (``size``² RGB; default the training size). See :class:`VanillaStager` to stage many."""
    return VanillaStager(checkpoint)(product_rgb, mask, size=size).image
