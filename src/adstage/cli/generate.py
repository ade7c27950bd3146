"""``adstage generate``: RefAdGen (Chen & Yang): a product photo + a prompt → ad images."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from adstage.cli._common import AsJson, MaxPixels, emit_json, err, out_option, pixel_limit

_LAYOUTS = ("photo", "center", "left", "right", "bottom")  # adstage.generate.pipeline.LAYOUTS
_DTYPES = ("float32", "float16", "bfloat16")
_SCHEDULERS = ("auto", "release", "training")  # adstage.generate.sampling.SCHEDULERS + auto


def _usage(message: str) -> typer.Exit:
    err.print(f"error: {message}")
    return typer.Exit(2)


def _size(value: str) -> tuple[int, int]:
    w, sep, h = value.lower().partition("x")
    if not sep or not w.strip().isdigit() or not h.strip().isdigit():
        raise _usage(f"--size: expected WIDTHxHEIGHT in pixels (e.g. 512x640), got {value!r}")
    return int(w), int(h)


def generate(
    product: Annotated[
        Path,
        typer.Argument(
            help="The product: an RGBA cut-out or a photo on white.", exists=True, dir_okay=False
        ),
    ],
    prompt: Annotated[str, typer.Option("--prompt", help="What the ad shows around the product.")],
    base: Annotated[
        Path,
        typer.Option(
            "--base",
            help="The base: a diffusers SD-1.5 folder (model_index.json), an SD-1.5 .safetensors "
            "file (with --tokenizer), or a tiny base folder (tiny-base.json).",
        ),
    ],
    checkpoint: Annotated[
        Path,
        typer.Option(
            "--checkpoint",
            help="The RefAdGen checkpoint: an adstage folder (refadgen.json) or a released "
            "DeepSpeed mp_rank_00_model_states.pt.",
        ),
    ],
    out: Annotated[
        Path, out_option("Output folder: ad-<i>.png, mask.png, product.png, generation.json.")
    ],
    mask: Annotated[
        Path | None,
        typer.Option(
            "--mask",
            "-m",
            help="The product's mask, the product image's size (255 = product); default: the "
            "image's alpha, else segmented.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    layout: Annotated[
        str,
        typer.Option(
            help="Where the product goes: photo (its place in its photo, fitted; the release's), "
            "center, left, right, bottom."
        ),
    ] = "photo",
    steps: Annotated[int, typer.Option(min=1, help="DDIM denoising steps.")] = 30,
    guidance: Annotated[
        float, typer.Option(min=0.0, help="Classifier-free guidance scale (≤ 1: none).")
    ] = 7.5,
    fusion_scale: Annotated[
        float,
        typer.Option(
            "--fusion-scale", min=0.0, help="λ of the attention fusion (reference strength)."
        ),
    ] = 1.0,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the noise (same seed, same ads).")] = 42,
    size: Annotated[
        str, typer.Option(help="Ad size WIDTHxHEIGHT, multiples of 64 for SD-1.5.")
    ] = "512x640",
    negative_prompt: Annotated[
        str | None,
        typer.Option(
            "--negative-prompt",
            help="The unconditional text (default: the release's fixed negative prompt).",
            show_default=False,
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, or cuda[:N] when available.")] = "cpu",
    dtype: Annotated[
        str, typer.Option(help="Weights' dtype: float32, float16 (GPU), bfloat16.")
    ] = "float32",
    num_images: Annotated[
        int, typer.Option("--num-images", min=1, help="How many ads (one batch).")
    ] = 1,
    scheduler: Annotated[
        str,
        typer.Option(
            help="DDIM schedule: release (the released inference scheduler), training (the "
            "training betas: for models trained from scratch, e.g. tiny) or auto (what the "
            "checkpoint's trainer recorded, else release)."
        ),
    ] = "auto",
    product_exact: Annotated[
        bool,
        typer.Option(
            "--product-exact",
            help="Paste the product's own pixels back inside its eroded mask (never altered).",
        ),
    ] = False,
    image_encoder: Annotated[
        Path | None,
        typer.Option(
            "--image-encoder",
            help="A CLIP image encoder folder (CLIPVisionModelWithProjection), for a checkpoint "
            "with a Resampler when the base has no image_encoder/.",
            file_okay=False,
        ),
    ] = None,
    tokenizer: Annotated[
        Path | None,
        typer.Option(
            "--tokenizer",
            help="A CLIP tokenizer folder (vocab.json, merges.txt): required with a single-file "
            "base, which holds none.",
            file_okay=False,
        ),
    ] = None,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
) -> None:
    """Generate ads of PRODUCT with RefAdGen (Chen & Yang): a dual U-Net on an SD-1.5 base.

    Writes OUT/ad-<i>.png, OUT/mask.png (the product's mask on the canvas), OUT/product.png (the
    product canvas the model saw), OUT/generation.json (every setting, the reference context, the
    base and checkpoint with their sha256, seconds) and OUT/adstage-run.json. Defaults are the
    release's: 30 steps, guidance 7.5, fusion 1.0, seed 42, 512x640. Offline: the base and the
    checkpoint are local files you bring.

    Exit 2 for a usage error or bad input (a base or checkpoint of the wrong kind, a mask of
    another size, an empty prompt), 1 when an output cannot be written.
    """
    if layout not in _LAYOUTS:
        raise _usage(f"--layout: expected one of {', '.join(_LAYOUTS)}, got {layout!r}")
    if dtype not in _DTYPES:
        raise _usage(f"--dtype: expected one of {', '.join(_DTYPES)}, got {dtype!r}")
    if scheduler not in _SCHEDULERS:
        raise _usage(f"--scheduler: expected one of {', '.join(_SCHEDULERS)}, got {scheduler!r}")
    if not prompt.strip():
        raise _usage("--prompt: expected a non-empty text")
    width, height = _size(size)

    from adstage.errors import AdstageError
    from adstage.io.atomic import atomic_write_text
    from adstage.io.images import write_image, write_mask
    from adstage.provenance import write_run_record

    config: dict[str, Any] = {
        "product": str(product),
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "base": str(base),
        "checkpoint": str(checkpoint),
        "image_encoder": None if image_encoder is None else str(image_encoder),
        "tokenizer": None if tokenizer is None else str(tokenizer),
        "mask": None if mask is None else str(mask),
        "layout": layout,
        "scheduler": scheduler,
        "steps": steps,
        "guidance": guidance,
        "fusion_scale": fusion_scale,
        "seed": seed,
        "size": [width, height],
        "device": device,
        "dtype": dtype,
        "num_images": num_images,
        "product_exact": product_exact,
        "max_pixels": max_pixels,
    }
    started = time.perf_counter()
    try:
        with pixel_limit(max_pixels):
            from adstage.generate.pipeline import DEFAULT_NEGATIVE_PROMPT, load_pipeline

            pipe = load_pipeline(
                base,
                checkpoint,
                image_encoder=image_encoder,
                tokenizer=tokenizer,
                device=device,
                dtype=dtype,
                scheduler=scheduler,
            )
            with _StepBar(steps) as bar:
                ad = pipe(
                    product,
                    prompt,
                    mask=mask,
                    layout=layout,
                    negative_prompt=(
                        DEFAULT_NEGATIVE_PROMPT if negative_prompt is None else negative_prompt
                    ),
                    steps=steps,
                    guidance=guidance,
                    fusion_scale=fusion_scale,
                    seed=seed,
                    size=(width, height),
                    num_images=num_images,
                    product_exact=product_exact,
                    progress=bar.update,
                )
    except AdstageError as exc:
        raise _usage(str(exc).strip().splitlines()[0]) from exc
    try:
        paths = [write_image(out / f"ad-{i}.png", image) for i, image in enumerate(ad.images)]
        write_mask(out / "mask.png", ad.mask)
        write_image(out / "product.png", ad.product)
        record = {
            "images": [p.name for p in paths],
            "mask": "mask.png",
            "product": "product.png",
            "box": list(ad.box),
            "provenance": ad.provenance,
        }
        generation = atomic_write_text(
            out / "generation.json", json.dumps(record, indent=2, default=str) + "\n"
        )
        write_run_record(
            out,
            command="generate",
            config=config,
            summary={"images": len(paths), "seconds": round(time.perf_counter() - started, 3)},
        )
    except (AdstageError, OSError) as exc:
        err.print(f"error: {out}: {str(exc).strip().splitlines()[0]}")
        raise typer.Exit(1) from exc
    if as_json:
        emit_json(
            {
                "product": str(product),
                "images": [str(p) for p in paths],
                "mask": str(out / "mask.png"),
                "generation": str(generation),
                "box": list(ad.box),
                "reference_context": ad.provenance["reference_context"],
                "seconds": ad.provenance["seconds"],
            }
        )
    else:
        err.print(
            f"{out}: {len(paths)} ad(s), {steps} steps, reference context "
            f"{ad.provenance['reference_context']}, {ad.provenance['seconds']:.2f} s"
        )


class _StepBar:
    """A rich progress bar over the denoising steps on stderr (hidden when it is no terminal)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _StepBar:
        if err.is_terminal and self.total > 1:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("denoise", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("denoise", total=self.total)
        return self

    def update(self, done: int, total: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
