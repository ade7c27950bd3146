"""RefAdGen inference: a product photo + a prompt → ad images, as the released pipeline does it.

Chen & Yang, "RefAdGen" (github yunsoft2019/RefAdgen; ``../shared/REFERENCES.md`` §2):

1. **The product** (an RGBA cut-out, or a product photo on white) is placed on a white canvas of
   the requested size, pixel-aligned with its mask (the release's product image is the ad with
   its background set to white). Its silhouette is the file's alpha, a given ``mask`` or the
   segmenter's (``adstage.segment``); ``layout`` says where it goes (:data:`LAYOUTS`).
2. **Text**: the prompt + ``", best quality, high quality"``; the unconditional half is the
   release's fixed negative prompt (:data:`DEFAULT_NEGATIVE_PROMPT`).
3. **Reference context**: the Resampler over CLIP image hidden states[-2] of the product canvas,
   and of a zero image (zeros after CLIP's normalisation) in the unconditional half; a model
   without Resampler uses the text (:data:`~adstage.generate.refadgen.CONTEXT_TEXT`), logged and
   recorded in the provenance.
4. **Noise**, then the product latents (the VAE's ``sample()``), both drawn from one
   ``torch.Generator`` seeded ``seed``, in the release's order; the ``num_images`` images are one
   batch, so they differ and the same seed gives the same images.
5. **Sampling**: :func:`adstage.generate.sampling.sample` (DDIM, classifier-free guidance; parity-
   tested), then decoding. ``product_exact`` pastes the canvas's own product pixels back inside
   the eroded mask (:func:`adstage.composite.blend.paste`), bit-identical there.

Defaults are the release's: 30 steps, guidance 7.5, λ 1.0, seed 42, 512 wide × 640 high.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from diffusers import DDIMScheduler
from diffusers.utils.torch_utils import randn_tensor
from numpy.typing import NDArray
from PIL import Image as PILImage

from adstage.composite.align import render_mask
from adstage.composite.blend import paste
from adstage.errors import InputError
from adstage.generate.base import Autoencoder, ImageEncoder, TextEncoder
from adstage.generate.checkpoints import WEIGHTS_NAME, load_refadgen, locate, read_metadata
from adstage.generate.components import load_base
from adstage.generate.refadgen import CONTEXT_RESAMPLER, RefAdGen
from adstage.generate.sampling import SCHEDULERS, inference_scheduler, mask_to_latent, sample
from adstage.io.images import ImageInput, read_image_rgba, read_mask
from adstage.segment import segment
from adstage.types import RGB, Cutout, Placement, as_alpha, as_rgb
from adstage.weights import sha256_file

log = logging.getLogger(__name__)

PROMPT_SUFFIX = ", best quality, high quality"
"""Appended to every prompt, as released."""
DEFAULT_NEGATIVE_PROMPT = (
    "bare, naked, nude, undressed, monochrome, bad anatomy, worst quality, low quality"
)
"""The released pipeline's fixed negative prompt (the unconditional text)."""
DEFAULT_SIZE = (512, 640)
"""(width, height) as released: 512 wide × 640 high."""

LAYOUTS: dict[str, tuple[float, float, float, float, str] | None] = {
    "photo": None,
    "center": (0.6, 0.6, 0.5, 0.5, "middle"),
    "left": (0.45, 0.6, 0.27, 0.5, "middle"),
    "right": (0.45, 0.6, 0.73, 0.5, "middle"),
    "bottom": (0.6, 0.5, 0.5, 0.92, "base"),
}
"""Where the product goes on the canvas.

``photo`` (default, the release's): the whole product photo scaled to fit the canvas, centred,
so the product keeps its place in its photo (the canvas is that photo on white, padded white).
The others place the product's cut-out (cropped to its mask) at a standard spot, scaled to fit a
region of (width, height) fractions of the canvas: ``center`` 60 % × 60 % at the centre,
``left``/``right`` 45 % × 60 % centred at 27 %/73 % of the width, ``bottom`` 60 % × 50 % centred
horizontally with its base at 92 % of the height (a product standing on a surface)."""

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

Progress = Callable[[int, int], None]
"""``progress(done, total)`` after each denoising step."""

_hashes: dict[tuple[str, int, int], str] = {}


def _file_sha256(path: Path) -> str:
    """sha256 of a weight file, computed once per (path, size, mtime) in this process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _hashes:
        _hashes[key] = sha256_file(path)
    return _hashes[key]


@dataclass(frozen=True)
class GeneratedAd:
    """What :class:`RefAdGenPipeline` returns.

    ``images``: ``num_images`` ads, ``H×W×3`` ``uint8`` RGB at the requested size. ``mask``: the
    product's binary mask on that canvas (``bool`` ``H×W``, what conditioned the model). ``box``:
    the product's placement ``(x0, y0, x1, y1)`` on the canvas (exclusive ``x1``/``y1``).
    ``product``: the product canvas (the product on white) the model was given. ``provenance``:
    every setting, the reference context, the base and checkpoint with their sha256, the backends,
    device, dtype and seconds.
    """

    images: list[RGB]
    mask: NDArray[np.bool_]
    box: tuple[int, int, int, int]
    product: RGB
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProductCanvas:
    """The product placed on a white canvas, with its mask there and its box."""

    image: RGB
    mask: NDArray[np.bool_]
    box: tuple[int, int, int, int]
    mask_source: str


# --- validation -------------------------------------------------------------------------------


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{name}: expected an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _non_negative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InputError(f"{name}: expected a number ≥ 0, got {value!r}")
    if not (math.isfinite(float(value)) and float(value) >= 0):
        raise InputError(f"{name}: expected a finite number ≥ 0, got {value!r}")
    return float(value)


def _check_size(size: Any, multiple: int) -> tuple[int, int]:
    if not isinstance(size, tuple | list) or len(size) != 2:
        raise InputError(f"size: expected (width, height), got {size!r}")
    w = _positive_int(size[0], "size (width)")
    h = _positive_int(size[1], "size (height)")
    if w % multiple or h % multiple:
        raise InputError(
            f"size: {w}×{h} (width×height) is not a multiple of {multiple} on both sides (this "
            f"base's latent downscale × the U-Net's levels); e.g. "
            f"{max(multiple, w // multiple * multiple)}×{max(multiple, h // multiple * multiple)}"
        )
    return w, h


def _check_prompt(prompt: Any) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError(f"prompt: expected a non-empty text, got {prompt!r}")
    return prompt.strip()


# --- the product canvas -----------------------------------------------------------------------


def _product_and_alpha(
    product: ImageInput, mask: ImageInput | NDArray[Any] | None, segmenter: str
) -> tuple[RGB, NDArray[np.float32], str]:
    """The product's RGB and its alpha in [0, 1] at the product's size, and where it came from."""
    alpha: NDArray[np.float32] | None = None
    if isinstance(product, str | os.PathLike):
        rgba = read_image_rgba(product)
        rgb = np.ascontiguousarray(rgba[..., :3])
        if int(rgba[..., 3].min()) < 255:
            alpha = rgba[..., 3].astype(np.float32) / np.float32(255.0)
    elif isinstance(product, PILImage.Image):
        if product.mode in ("RGBA", "LA", "PA") or "transparency" in product.info:
            rgba = np.asarray(product.convert("RGBA"))
            rgb = np.ascontiguousarray(rgba[..., :3])
            if int(rgba[..., 3].min()) < 255:
                alpha = rgba[..., 3].astype(np.float32) / np.float32(255.0)
        else:
            rgb = as_rgb(product, name="product")
    else:
        arr = np.asarray(product)
        is_rgba = arr.ndim == 3 and arr.shape[2] == 4 and arr.dtype == np.uint8
        if is_rgba and int(arr[..., 3].min()) < 255:
            alpha = arr[..., 3].astype(np.float32) / np.float32(255.0)
        rgb = as_rgb(arr, name="product")
    h, w = rgb.shape[:2]
    if mask is not None:
        if isinstance(mask, str | os.PathLike):
            given = read_mask(mask)
        else:
            given = as_alpha(
                np.asarray(mask.convert("L")) if isinstance(mask, PILImage.Image) else mask,
                name="mask",
            )
        if given.shape != (h, w):
            raise InputError(
                f"mask: is {given.shape[1]}×{given.shape[0]} (W×H) but the product is {w}×{h}; "
                "the mask must have the product image's size"
            )
        return rgb, given, "given"
    if alpha is not None:
        return rgb, alpha, "alpha"
    seg = segment(rgb, segmenter=segmenter)
    chosen = seg.provenance.get("auto", {}).get("chosen", seg.backend)
    log.info("product mask: segmented with %s", chosen)
    return rgb, seg.alpha, f"segmented:{chosen}"


def _layout_placement(cutout: Cutout, layout: str, canvas: tuple[int, int]) -> Placement:
    cw, ch = canvas
    x0, y0, x1, y1 = cutout.bbox
    bw, bh = x1 - x0, y1 - y0
    spec = LAYOUTS[layout]
    if spec is None:  # the whole photo, fitted and centred
        pw, ph = cutout.source_size
        s = min(cw / pw, ch / ph)
        ox, oy = (cw - pw * s) / 2, (ch - ph * s) / 2
        bx0, by0 = round(ox + x0 * s), round(oy + y0 * s)
        bx1, by1 = round(ox + x1 * s), round(oy + y1 * s)
    else:
        fw, fh, cx, cy, anchor = spec
        s = min(fw * cw / bw, fh * ch / bh)
        w, h = max(1, round(bw * s)), max(1, round(bh * s))
        bx0 = round(cx * cw - w / 2)
        by0 = round(cy * ch - h) if anchor == "base" else round(cy * ch - h / 2)
        bx1, by1 = bx0 + w, by0 + h
    bx0, by0 = min(max(bx0, 0), cw - 1), min(max(by0, 0), ch - 1)
    bx1, by1 = min(max(bx1, bx0 + 1), cw), min(max(by1, by0 + 1), ch)
    return Placement(box=(bx0, by0, bx1, by1), scale=s, fit=layout, scene_size=(cw, ch))


def product_canvas(
    product: ImageInput,
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    mask: ImageInput | NDArray[Any] | None = None,
    layout: str = "photo",
    segmenter: str = "auto",
) -> ProductCanvas:
    """The product on a white ``size`` (width, height) canvas at ``layout``, with its binary mask
    there. The silhouette: ``mask`` (the product image's size) if given, else the image's alpha,
    else the segmenter's (``segmenter``, a name of ``adstage.segment.SEGMENTERS``)."""
    if layout not in LAYOUTS:
        raise InputError(f"layout: expected one of {', '.join(LAYOUTS)}, got {layout!r}")
    rgb, alpha, source = _product_and_alpha(product, mask, segmenter)
    cutout = Cutout.from_alpha(rgb, alpha)
    if cutout.empty:
        what = "the given mask" if source == "given" else f"the product's mask ({source})"
        raise InputError(f"mask: {what} is empty: no pixel ≥ 0.5, nothing to place")
    w, h = size
    placement = _layout_placement(cutout, layout, (w, h))
    white = np.full((h, w, 3), 255, np.uint8)
    image = paste(white, cutout.rgba, placement)
    placed = render_mask(alpha >= 0.5, placement)
    return ProductCanvas(image=image, mask=placed, box=placement.box, mask_source=source)


def paste_exact(generated: RGB, canvas: ProductCanvas, *, erode: int | None = None) -> RGB:
    """``generated`` with the canvas's product pixels pasted back inside the mask eroded by
    ``erode`` pixels (default ~1 % of the shorter side, ≥ 1): bit-identical there, blended over a
    feather of the same width outside it (:func:`adstage.composite.blend.paste`)."""
    h, w = canvas.mask.shape
    k = max(1, round(min(h, w) / 100)) if erode is None else int(erode)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    core = cv2.erode(canvas.mask.astype(np.uint8), kernel).astype(bool)
    if not core.any():
        log.warning("product_exact: the mask vanishes when eroded by %d px; using it as it is", k)
        core = canvas.mask
    soft = cv2.GaussianBlur(core.astype(np.float32), (0, 0), max(0.5, k / 2))
    alpha = np.where(core, 1.0, np.minimum(soft, 1.0) * canvas.mask)
    a8 = np.clip(np.rint(alpha * 255.0), 0, 255).astype(np.uint8)
    a8[core] = 255
    rgba = np.dstack([canvas.image, a8])
    return paste(generated, rgba, Placement((0, 0, w, h), 1.0, "exact", (w, h)))


# --- the pipeline -----------------------------------------------------------------------------


@dataclass
class RefAdGenPipeline:
    """RefAdGen's inference: the dual U-Net, the frozen base components and the scheduler.

    Build it with :func:`load_pipeline` (from files) or directly from components (tests, the
    trainer's sample grids). ``sources``: what to record in the provenance about where the
    weights came from (paths and sha256); ``segmenter``: how products without alpha or mask are
    segmented.
    """

    model: RefAdGen
    autoencoder: Autoencoder
    text_encoder: TextEncoder
    image_encoder: ImageEncoder | None = None
    scheduler: DDIMScheduler = field(default_factory=inference_scheduler)
    sources: dict[str, Any] = field(default_factory=dict)
    segmenter: str = "auto"
    scheduler_name: str = "release"
    """Which of :data:`~adstage.generate.sampling.SCHEDULERS` ``scheduler`` is (provenance)."""

    def __post_init__(self) -> None:
        if self.model.context == CONTEXT_RESAMPLER and self.image_encoder is None:
            raise InputError(
                "image_encoder: this RefAdGen checkpoint has a Resampler (proj.*), which needs a "
                "CLIP image encoder (a CLIPVisionModelWithProjection folder: --image-encoder DIR, "
                "or image_encoder/ inside the diffusers base)"
            )
        if self.model.context != CONTEXT_RESAMPLER:
            log.info("RefAdGen without Resampler: the reference context is the text (fallback)")

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def multiple(self) -> int:
        """Canvas sides must be multiples of this: the latent downscale × the U-Net's halvings
        (at least 8 in latent space: 64 px for SD-1.5)."""
        levels = len(self.model.unet.config.block_out_channels)
        return int(self.autoencoder.downscale * max(8, 2 ** (levels - 1)))

    def _text(self, prompts: list[str]) -> torch.Tensor:
        return self.text_encoder(prompts).to(device=self.device, dtype=self.dtype)

    def _reference_context(
        self, pixels: torch.Tensor, text: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.model.context != CONTEXT_RESAMPLER:
            return (
                self.model.reference_context(None, text[0]),
                self.model.reference_context(None, text[1]),
            )
        encoder = self.image_encoder
        assert encoder is not None  # checked in __post_init__
        cond = encoder(pixels).to(device=self.device, dtype=self.dtype)
        unconditional = getattr(encoder, "unconditional", None)
        if callable(unconditional):
            null = unconditional(pixels.shape[0])
        else:  # a protocol-only encoder: a zero image in its own input range
            null = encoder(torch.zeros_like(pixels))
        null = null.to(device=self.device, dtype=self.dtype)
        return self.model.reference_context(null, None), self.model.reference_context(cond, None)

    def __call__(
        self,
        product: ImageInput,
        prompt: str,
        *,
        mask: ImageInput | NDArray[Any] | None = None,
        layout: str = "photo",
        negative_prompt: str = DEFAULT_NEGATIVE_PROMPT,
        steps: int = 30,
        guidance: float = 7.5,
        fusion_scale: float = 1.0,
        seed: int = 42,
        size: tuple[int, int] = DEFAULT_SIZE,
        num_images: int = 1,
        product_exact: bool = False,
        progress: Progress | None = None,
    ) -> GeneratedAd:
        """Generate ``num_images`` ads of ``product`` (path, PIL image or array; an RGBA cut-out
        or a product photo on white) described by ``prompt``.

        ``mask``: the product's silhouette at the product image's size (else its alpha, else
        segmented); ``layout``: where it goes (:data:`LAYOUTS`); ``size``: (width, height);
        ``fusion_scale``: λ of the fusion layers; ``product_exact``: paste the product's own
        pixels back inside its eroded mask; ``progress(done, total)``: called after each step.
        """
        return self.batch(
            [product],
            [prompt],
            masks=[mask],
            seeds=[seed],
            layout=layout,
            negative_prompt=negative_prompt,
            steps=steps,
            guidance=guidance,
            fusion_scale=fusion_scale,
            size=size,
            num_images=num_images,
            product_exact=product_exact,
            progress=progress,
        )[0]

    @torch.no_grad()
    def batch(
        self,
        products: Sequence[ImageInput],
        prompts: Sequence[str],
        *,
        masks: Sequence[ImageInput | NDArray[Any] | None] | None = None,
        seeds: Sequence[int] | None = None,
        layout: str = "photo",
        negative_prompt: str = DEFAULT_NEGATIVE_PROMPT,
        steps: int = 30,
        guidance: float = 7.5,
        fusion_scale: float = 1.0,
        size: tuple[int, int] = DEFAULT_SIZE,
        num_images: int = 1,
        product_exact: bool = False,
        progress: Progress | None = None,
    ) -> list[GeneratedAd]:
        """One :class:`GeneratedAd` per product, all denoised together in one batch (catalog
        work: one pass of the U-Nets per step instead of one per product).

        ``prompts``, ``masks`` and ``seeds`` (default 42 each) go with ``products`` by position;
        the other options are shared, as in :meth:`__call__`. Each product's noise (and VAE
        sample) is drawn from its own generator seeded by its seed, so its images are those
        ``self(product, prompt, seed=seed, …)`` gives alone (up to float rounding of batched
        arithmetic).
        """
        started = time.perf_counter()
        k = len(products)
        masks = [None] * k if masks is None else list(masks)
        seeds = [42] * k if seeds is None else list(seeds)
        if k == 0 or len(prompts) != k or len(masks) != k or len(seeds) != k:
            raise InputError(
                f"batch: expected one prompt, mask and seed per product and at least one "
                f"product, got {k} products, {len(prompts)} prompts, {len(masks)} masks and "
                f"{len(seeds)} seeds"
            )
        checked = [_check_prompt(p) for p in prompts]
        if not isinstance(negative_prompt, str):
            raise InputError(f"negative_prompt: expected a text, got {negative_prompt!r}")
        steps = _positive_int(steps, "steps")
        guidance = _non_negative(guidance, "guidance")
        fusion_scale = _non_negative(fusion_scale, "fusion_scale")
        n = _positive_int(num_images, "num_images")
        seeds = [_positive_int(s, "seed", minimum=0) for s in seeds]
        width, height = _check_size(size, self.multiple)
        canvases = [
            product_canvas(p, size=(width, height), mask=m, layout=layout, segmenter=self.segmenter)
            for p, m in zip(products, masks, strict=True)
        ]

        device, dtype = self.device, self.dtype
        self.model.set_fusion_scale(fusion_scale)
        text = (
            self._text([negative_prompt] * (k * n)),
            self._text([p + PROMPT_SUFFIX for p in checked for _ in range(n)]),
        )
        units = [
            torch.from_numpy(c.image).permute(2, 0, 1)[None].float().div(255.0).repeat(n, 1, 1, 1)
            for c in canvases
        ]
        unit = torch.cat(units).to(device)
        context = self._reference_context(unit, text)

        f = self.autoencoder.downscale
        shape = (n, self.autoencoder.channels, height // f, width // f)
        noise, references, latent_masks = [], [], []
        for canvas, item_unit, seed in zip(canvases, units, seeds, strict=True):
            # per product, in the release's order: its noise, then its VAE sample
            generator = torch.Generator("cpu").manual_seed(seed)
            noise.append(randn_tensor(shape, generator=generator, device=device, dtype=dtype))
            pixels_in = (item_unit.to(device) * 2 - 1).to(dtype=dtype)
            if getattr(self.autoencoder, "stochastic", False):
                references.append(self.autoencoder.encode(pixels_in, generator=generator))  # type: ignore[call-arg]
            else:
                references.append(self.autoencoder.encode(pixels_in))
            pixel_mask = torch.from_numpy(canvas.mask.astype(np.float32))[None, None]
            latent_mask = mask_to_latent(pixel_mask, (height // f, width // f))
            latent_masks.append(latent_mask.repeat(n, 1, 1, 1).to(device=device, dtype=dtype))
        latents = torch.cat(noise) * self.scheduler.init_noise_sigma

        def on_step(i: int, t: int, x: torch.Tensor, record: dict[str, torch.Tensor]) -> None:
            if progress is not None:
                progress(i + 1, steps)

        final = sample(
            self.model,
            latents=latents,
            mask=torch.cat(latent_masks),
            ref_latents=torch.cat(references).to(dtype=dtype),
            text=text,
            reference_context=context,
            steps=steps,
            guidance=guidance,
            scheduler=self.scheduler,
            on_step=on_step,
        )
        decoded = self.autoencoder.decode(final)
        pixels = ((decoded.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
        out = [np.ascontiguousarray(p.permute(1, 2, 0).cpu().numpy()) for p in pixels]
        seconds = time.perf_counter() - started
        results = []
        for i, (canvas, prompt, seed) in enumerate(zip(canvases, checked, seeds, strict=True)):
            images = out[i * n : (i + 1) * n]
            if product_exact:
                images = [paste_exact(img, canvas) for img in images]
            provenance = {
                "model": "refadgen",
                "prompt": prompt,
                "text": prompt + PROMPT_SUFFIX,
                "negative_prompt": negative_prompt,
                "seed": seed,
                "steps": steps,
                "guidance": guidance,
                "fusion_scale": fusion_scale,
                "size": [width, height],
                "num_images": n,
                "layout": layout,
                "mask": canvas.mask_source,
                "product_exact": product_exact,
                "reference_context": self.model.context,
                "scheduler": self.scheduler_name,
                "prediction_type": self.scheduler.config.prediction_type,
                "backends": {
                    "text_encoder": getattr(
                        self.text_encoder, "name", type(self.text_encoder).__name__
                    ),
                    "autoencoder": self.autoencoder.name,
                    "image_encoder": None
                    if self.image_encoder is None
                    else self.image_encoder.name,
                },
                "device": str(device),
                "dtype": str(dtype).removeprefix("torch."),
                "seconds": round(seconds, 3),
                "batch": k,
                **self.sources,
            }
            results.append(
                GeneratedAd(
                    images=images,
                    mask=canvas.mask,
                    box=canvas.box,
                    product=canvas.image,
                    provenance=provenance,
                )
            )
        log.info(
            "generated %d image(s) of %d product(s) in %.2f s (%s)",
            k * n, k, seconds, self.model.context,
        )  # fmt: skip
        return results


def _dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise InputError(f"dtype: expected one of {', '.join(DTYPES)}, got {dtype}")
        return dtype
    if dtype not in DTYPES:
        raise InputError(f"dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


def _device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"device: {device!r} is not a torch device (cpu, cuda, cuda:1 …)") from exc
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device: expected cpu or cuda[:N], got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device: {device!r} asked for, but CUDA is not available here")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(
            f"device: {device!r} asked for, but this machine has {torch.cuda.device_count()} "
            "CUDA device(s)"
        )
    return dev


def load_pipeline(
    base: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str],
    *,
    image_encoder: str | os.PathLike[str] | None = None,
    tokenizer: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "float32",
    segmenter: str = "auto",
    scheduler: str = "auto",
) -> RefAdGenPipeline:
    """A :class:`RefAdGenPipeline` from a base and a RefAdGen checkpoint, offline.

    ``base``: a diffusers SD-1.5 folder, an SD-1.5 ``.safetensors`` file (needs ``tokenizer``, a
    CLIP tokenizer folder) or a tiny base folder (:mod:`adstage.generate.components`).
    ``checkpoint``: an adstage RefAdGen folder or a released DeepSpeed file
    (:func:`adstage.generate.checkpoints.load_refadgen`). ``image_encoder``: a CLIP image encoder
    folder, needed by a checkpoint with a Resampler unless the base has ``image_encoder/``.
    ``dtype``: ``"float32"``, ``"float16"`` or ``"bfloat16"``. ``scheduler``: a name in
    :data:`~adstage.generate.sampling.SCHEDULERS`, or ``auto``: what the checkpoint's trainer
    recorded (``training`` for a tiny model), else ``release``. The prediction type (ε or v) is
    the checkpoint's: what its trainer recorded, else ε as released. Every weight file is hashed
    (sha256, once per process) into the results' provenance.
    """
    if scheduler != "auto" and scheduler not in SCHEDULERS:
        raise InputError(
            f"scheduler: expected auto or one of {', '.join(SCHEDULERS)}, got {scheduler!r}"
        )
    torch_dtype = _dtype(dtype)
    dev = _device(device)
    if not Path(checkpoint).expanduser().exists():
        raise InputError(f"checkpoint: {checkpoint} does not exist")
    components = load_base(
        base, image_encoder=image_encoder, tokenizer=tokenizer, device=dev, dtype=torch_dtype
    )
    # Located once: the file that loads is the one hashed (not every .pt of a training folder),
    # and a folder of DeepSpeed checkpoints is searched once.
    kind, where = locate(checkpoint)
    model = load_refadgen(where, unet_config=components.unet_config, device=dev, dtype=torch_dtype)
    model.requires_grad_(False)
    ckpt = Path(checkpoint).expanduser()
    ckpt_files = [where / WEIGHTS_NAME] if kind == "adstage" else [where]
    meta = read_metadata(where)
    if scheduler == "auto":
        scheduler = str(meta.get("inference_scheduler", "release"))
        log.info("scheduler: %s (%s)", scheduler, "from the checkpoint" if meta else "as released")
    # what the U-Net predicts is the model's, not a choice: what its trainer recorded, else ε
    prediction = str(meta.get("prediction_type", "epsilon"))
    sources: dict[str, Any] = {
        "base": {
            "path": str(components.path),
            "kind": components.kind,
            "sha256": {str(p): _file_sha256(p) for p in components.files},
        },
        "checkpoint": {
            "path": str(ckpt),
            "sha256": {str(p): _file_sha256(p) for p in ckpt_files},
        },
    }
    if image_encoder is not None:
        sources["image_encoder"] = str(image_encoder)
    return RefAdGenPipeline(
        model=model,
        autoencoder=components.autoencoder,
        text_encoder=components.text_encoder,
        image_encoder=components.image_encoder,
        scheduler=inference_scheduler(scheduler, prediction),
        sources=sources,
        segmenter=segmenter,
        scheduler_name=scheduler,
    )


def generate(
    product: ImageInput,
    prompt: str,
    *,
    pipeline: RefAdGenPipeline,
    **options: Any,
) -> GeneratedAd:
    """``pipeline(product, prompt, **options)``: the public ``adstage.generate(…)`` spelling."""
    if not isinstance(pipeline, RefAdGenPipeline):
        raise InputError(
            "pipeline: expected a RefAdGenPipeline (adstage.generate.pipeline.load_pipeline(base, "
            f"checkpoint)), got {type(pipeline).__name__}"
        )
    return pipeline(product, prompt, **options)
