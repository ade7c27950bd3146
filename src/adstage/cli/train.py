"""``adstage train``: train the models adstage can train (pix2pix, EdgeConnect inpainting,
RefAdGen)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from adstage.cli._common import (
    AsJson,
    MaxPixels,
    Overwrite,
    emit_json,
    err,
    out_option,
    pixel_limit,
    retired,
    segmenter_option,
)

Resume = Annotated[
    bool,
    retired(
        "--resume",
        instead="training continues from OUT's latest checkpoint by default "
        "(--overwrite starts again from step 0)",
    ),
]

app = typer.Typer(
    help="Train a model (pix2pix: the vanilla-staging baseline; inpaint: EdgeConnect; adgen: "
    "RefAdGen).",
    no_args_is_help=True,
)


@app.command("pix2pix")
def pix2pix(
    data: Annotated[
        list[Path],
        typer.Option(
            "--data",
            "-d",
            help="Folder of staged photos (repeatable). A metadata.csv/labels.csv with "
            "path[,mask_path] is used when present; photos without a mask are segmented once.",
        ),
    ],
    out: Annotated[Path, out_option("Output folder (checkpoints, samples).")],
    size: Annotated[int, typer.Option(help="Square training size, a power of two >= 32.")] = 256,
    steps: Annotated[int, typer.Option(help="Train until this step.")] = 1000,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Pairs per step.")] = 1,
    ngf: Annotated[int, typer.Option(help="Generator width (the paper's 64).")] = 64,
    ndf: Annotated[int, typer.Option(help="Discriminator width (the paper's 64).")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate (beta1 0.5).")] = 2e-4,
    every: Annotated[int, typer.Option(help="Checkpoint and sample grid every N steps.")] = 500,
    log_every: Annotated[
        int, typer.Option("--log-every", help="Progress line every N steps.")
    ] = 10,
    holdout: Annotated[float, typer.Option(help="Share of files held out (by name hash).")] = 0.1,
    where: Annotated[
        list[str] | None,
        typer.Option(
            help="Keep CSV rows with column=value (repeatable), e.g. home_furnishing=True."
        ),
    ] = None,
    segmenter: Annotated[str, segmenter_option("Segmenter for photos without a mask")] = "auto",
    spectral: Annotated[bool, typer.Option(help="Spectral norm in the discriminator.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the weights and the batch order.")] = 0,
    device: Annotated[str, typer.Option(help="cpu, or cuda[:N] when available.")] = "cpu",
    threads: Annotated[
        int | None, typer.Option(min=1, help="torch CPU threads (default: torch's choice).")
    ] = None,
    overwrite: Overwrite = False,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
    _resume: Resume = False,
) -> None:
    """Train pix2pix (Isola et al. 2017) to generate a staged photo from its product on white.

    Writes OUT/checkpoint-<step>.pt, OUT/samples/step-<step>.png (input | output | target),
    OUT/held_out.txt, OUT/config.json, OUT/adstage-run.json and OUT/masks/. A re-run continues
    from OUT's latest checkpoint (--overwrite starts again from step 0). Exit 2 on a usage error
    (no images found, a size that is not a power of two >= 32, a checkpoint of another
    architecture…).
    """
    from adstage.errors import AdstageError
    from adstage.train.pix2pix import Pix2PixConfig, train

    _prepare(data, [], "staged photos")
    try:
        config = Pix2PixConfig(
            data=tuple(str(d) for d in data),
            out=str(out),
            size=size,
            steps=steps,
            batch_size=batch_size,
            ngf=ngf,
            ndf=ndf,
            lr=lr,
            every=every,
            log_every=log_every,
            holdout=holdout,
            where=tuple(where or ()),
            segmenter=segmenter,
            spectral=spectral,
            seed=seed,
            device=device,
            threads=threads,
        )
        with pixel_limit(max_pixels):
            result = _run(train, config, out, overwrite)
    except AdstageError as exc:
        _usage_error(exc, out, overwrite)
    _summary(result, "pairs", {}, as_json)


@app.command("inpaint")
def inpaint(
    data: Annotated[
        list[Path],
        typer.Option(
            "--data",
            "-d",
            help="Folder of real photos (repeatable). A metadata.csv/labels.csv with "
            "path[,mask_path] is used when present; its masks become product-shaped holes.",
        ),
    ],
    out: Annotated[Path, out_option("Output folder (checkpoints, samples).")],
    masks: Annotated[
        list[Path] | None,
        typer.Option("--masks", help="Folder of product masks used as hole shapes (repeatable)."),
    ] = None,
    size: Annotated[int, typer.Option(help="Square training crop side, a multiple of 4.")] = 256,
    steps: Annotated[int, typer.Option(help="Train until this step.")] = 1000,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Crops per step.")] = 4,
    width: Annotated[
        float, typer.Option(help="Channel multiplier (1.0 = the paper's 64 at the first layer).")
    ] = 1.0,
    blocks: Annotated[int, typer.Option(help="Dilated residual blocks (the paper's 8).")] = 8,
    wbl: Annotated[
        bool, typer.Option("--wbl/--no-wbl", help="Weighted boundary loss on the edge L1.")
    ] = True,
    wbl_image: Annotated[
        bool, typer.Option("--wbl-image", help="Also weight the image L1 by the WBL map.")
    ] = False,
    band: Annotated[
        int, typer.Option(help="WBL band: pixels on each side of the hole boundary.")
    ] = 5,
    boundary: Annotated[float, typer.Option(help="WBL weight in the band (λ_boundary).")] = 0.9,
    other: Annotated[float, typer.Option(help="WBL weight elsewhere (λ_non-boundary).")] = 0.1,
    lr: Annotated[float, typer.Option(help="Generators' Adam learning rate (D: 0.1×).")] = 1e-4,
    every: Annotated[int, typer.Option(help="Checkpoint and sample grid every N steps.")] = 500,
    log_every: Annotated[
        int, typer.Option("--log-every", help="Progress line every N steps.")
    ] = 10,
    holdout: Annotated[float, typer.Option(help="Share of files held out (by name hash).")] = 0.1,
    features: Annotated[
        str, typer.Option(help="Perceptual/style features: inception (weights manager) or tiny.")
    ] = "inception",
    seed: Annotated[int, typer.Option(help="Seed of the weights, crops and holes.")] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda[:N], or auto (CUDA if present).")] = "cpu",
    threads: Annotated[
        int | None, typer.Option(min=1, help="torch CPU threads (default: torch's choice).")
    ] = None,
    overwrite: Overwrite = False,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
    _resume: Resume = False,
) -> None:
    """Train EdgeConnect (Nazeri et al. 2019) with the weighted boundary loss (Ku et al. 2023).

    Writes OUT/checkpoint-<step>.pt, OUT/samples/step-<step>.png (masked | edges | output |
    target), OUT/held_out.txt, OUT/config.json and OUT/adstage-run.json. A re-run continues from
    OUT's latest checkpoint (--overwrite starts again from step 0). Use the result with the
    edgeconnect inpainter (checkpoint=OUT). Exit 2 on a usage error.
    """
    from adstage.errors import AdstageError
    from adstage.train.inpaint import InpaintConfig, train

    _prepare(data, masks or [], "photos")
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        config = InpaintConfig(
            data=tuple(str(d) for d in data),
            out=str(out),
            masks=tuple(str(m) for m in masks or ()),
            size=size,
            steps=steps,
            batch_size=batch_size,
            width=width,
            blocks=blocks,
            wbl=wbl,
            wbl_image=wbl_image,
            band=band,
            wbl_boundary=boundary,
            wbl_other=other,
            lr=lr,
            every=every,
            log_every=log_every,
            holdout=holdout,
            features=features,
            seed=seed,
            device=device,
            threads=threads,
        )
        with pixel_limit(max_pixels):
            result = _run(train, config, out, overwrite)
    except AdstageError as exc:
        _usage_error(exc, out, overwrite)
    _summary(result, "photos", {"hole_shapes": result.n_shapes}, as_json)


@app.command("adgen")
def adgen(
    base: Annotated[
        Path,
        typer.Option(
            "--base",
            help="What to train from: tiny (a fresh tiny pixel-space model, trained from "
            "scratch on a CPU), a tiny base folder (tiny-base.json, e.g. an earlier run's "
            "OUT/final) or an SD-1.5 diffusers folder (model_index.json; its image_encoder/ "
            "adds the CLIP Resampler).",
            show_default=False,
        ),
    ],
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            "-d",
            help="Manifest (CSV or Parquet), one row per ad: columns ad, product, text and "
            "optionally mask (image paths, relative to the manifest's folder). Rows whose files "
            "are missing or unreadable go to OUT/failures.jsonl and are skipped.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, out_option("Output folder (checkpoints, samples, final/).")],
    recipe: Annotated[
        str,
        typer.Option(
            help="paper: linear LR after 500 warm-up steps, 8 epochs (the paper's section 4.1). "
            "release: constant LR after 2,000 warm-up steps and no epoch limit (the public "
            "code's launch script), so --steps is needed."
        ),
    ] = "paper",
    steps: Annotated[
        int | None,
        typer.Option(
            min=1, help="Train until this step (instead of --epochs).", show_default=False
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(min=1, help="Passes over the manifest (default: the recipe's: paper 8)."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Ads per step (per process).")
    ] = 3,
    lr: Annotated[float, typer.Option(help="AdamW learning rate (weight decay 0.01).")] = 1e-5,
    size: Annotated[
        str | None,
        typer.Option(
            help="Training size WIDTHxHEIGHT (default 512x640 for SD-1.5, 64x64 for tiny).",
            show_default=False,
        ),
    ] = None,
    noise_offset: Annotated[
        float, typer.Option("--noise-offset", min=0.0, help="Noise offset of the target noise.")
    ] = 0.05,
    warmup: Annotated[
        int | None,
        typer.Option(min=0, help="Warm-up steps (default: the recipe's: paper 500, release 2000)."),
    ] = None,
    trainable: Annotated[
        str,
        typer.Option(
            help="released: the released trainable set (Resampler, Reference U-Net, fusion "
            "projections, conv_in); all: also the Generation U-Net and the text encoder; auto: "
            "all for a freshly initialised model (tiny), else released."
        ),
    ] = "auto",
    image_encoder: Annotated[
        Path | None,
        typer.Option(
            "--image-encoder",
            help="CLIP vision folder for the Resampler (default: the SD folder's image_encoder/).",
            show_default=False,
        ),
    ] = None,
    mask_input: Annotated[
        bool,
        typer.Option(
            "--mask-input/--no-mask-input",
            help="Feed the product mask as a 5th input channel, as released; --no-mask-input is "
            "the paper's 'without masks' ablation (a fresh model only).",
        ),
    ] = True,
    originals_only: Annotated[
        bool,
        typer.Option(
            "--originals-only",
            help="Train on each triplet's own product only (variant 0 of an adstage dataset "
            "build manifest): the paper's 'without dual augmentation' ablation.",
        ),
    ] = False,
    prediction: Annotated[
        str,
        typer.Option(
            "--prediction",
            help="What the U-Net learns: epsilon (the noise, as released), v_prediction, or "
            "auto: v for a tiny model trained from scratch (the training scheduler's zero "
            "terminal SNR makes epsilon degenerate there), epsilon for SD-1.5.",
        ),
    ] = "auto",
    ip_adapter: Annotated[
        Path | None,
        typer.Option(
            "--ip-adapter",
            help="IP-Adapter-Plus file (ip-adapter-plus_sd15.bin or .safetensors) whose "
            "image_proj weights initialise the Resampler, as released (default: random).",
            show_default=False,
        ),
    ] = None,
    mixed_precision: Annotated[
        str,
        typer.Option(
            "--mixed-precision",
            help="no, fp16 (CUDA) or bf16: autocast, weights and optimiser in float32 (on a "
            "CPU with AMX or AVX-512 BF16 it is faster: benchmarks/adgen_step.py).",
        ),
    ] = "no",
    gradient_checkpointing: Annotated[
        bool,
        typer.Option(
            "--gradient-checkpointing", help="Recompute activations in the backward pass."
        ),
    ] = False,
    channels_last: Annotated[
        bool,
        typer.Option(
            "--channels-last",
            help="Keep the U-Nets' tensors in NHWC (oneDNN's faster convolutions on a CPU).",
        ),
    ] = False,
    every: Annotated[
        int, typer.Option(min=1, help="Checkpoint and sample grid every N steps.")
    ] = 500,
    log_every: Annotated[
        int, typer.Option("--log-every", min=1, help="Progress line every N steps.")
    ] = 10,
    sample_steps: Annotated[
        int, typer.Option("--sample-steps", min=1, help="DDIM steps of the sample grids.")
    ] = 20,
    seed: Annotated[
        int, typer.Option(help="Seed of a fresh model, the batch order and the noise.")
    ] = 0,
    device: Annotated[
        str, typer.Option(help="cpu, or cuda (under accelerate launch: one GPU per process).")
    ] = "cpu",
    threads: Annotated[
        int | None, typer.Option(min=1, help="torch CPU threads (default: torch's choice).")
    ] = None,
    overwrite: Overwrite = False,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
) -> None:
    """Train RefAdGen (Chen & Yang): a reference product photo + a text → an ad image.

    The released training step and trainable set, with its conditioning dropout (5 % image,
    5 % text, 5 % both). Writes OUT/checkpoint-<step>.pt, OUT/samples/step-<step>.png (ad |
    product | mask | sample), OUT/config.json, OUT/adstage-run.json, OUT/failures.jsonl (rows
    skipped) and at the end OUT/final/ (refadgen.safetensors + refadgen.json, and for a tiny
    base its text encoder: use it as --base and --checkpoint of adstage generate). A re-run
    continues from OUT's latest checkpoint (--overwrite starts again from step 0). Exit 1 when
    manifest rows were skipped, 2 on a usage error.
    """
    from adstage.errors import AdstageError
    from adstage.train.adgen import AdGenConfig, train_adgen

    _prepare([data], [], "manifest")
    try:
        config = AdGenConfig(
            data=str(data),
            out=str(out),
            base=str(base),
            recipe=recipe,
            steps=steps or 0,
            epochs=epochs or 0,
            batch_size=batch_size,
            lr=lr,
            size=None if size is None else _size(size),
            noise_offset=noise_offset,
            warmup=warmup,
            trainable=trainable,
            image_encoder=None if image_encoder is None else str(image_encoder),
            ip_adapter=None if ip_adapter is None else str(ip_adapter),
            mixed_precision=mixed_precision,
            gradient_checkpointing=gradient_checkpointing,
            channels_last=channels_last,
            every=every,
            log_every=log_every,
            sample_steps=sample_steps,
            seed=seed,
            device=device,
            threads=threads,
            mask_input=mask_input,
            originals_only=originals_only,
            prediction=prediction,
        )
        with pixel_limit(max_pixels):
            result = _run(train_adgen, config, out, overwrite)
    except AdstageError as exc:
        _usage_error(exc, out, overwrite)
    _summary(result, "items", {"final": str(result.final), "failures": result.failures}, as_json)
    if result.failures:
        raise typer.Exit(1)


def _size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` → (width, height)."""
    from adstage.errors import InputError

    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError(f"size: expected WIDTHxHEIGHT in pixels (e.g. 512x640), got {text!r}")
    return int(parts[0]), int(parts[1])


def _run(train: Any, config: Any, out: Path, overwrite: bool) -> Any:
    """Train, recording the run in OUT/adstage-run.json (its config before, the result after)."""
    from dataclasses import asdict

    from adstage.io.checkpoints import CHECKPOINT_GLOB
    from adstage.provenance import write_run_record

    command = f"train {type(config).__name__.removesuffix('Config').lower()}"
    settings = asdict(config) | {"overwrite": overwrite}
    if overwrite:  # a later re-run must not resume from the earlier run's higher steps
        stale = sorted(out.glob(CHECKPOINT_GLOB))
        for path in stale:
            path.unlink()
        if stale:
            err.print(
                f"--overwrite: removed {len(stale)} checkpoint(s) of the earlier run in {out}"
            )
    write_run_record(out, command=command, config=settings)
    result = train(config, resume=not overwrite)
    summary = {"step": result.step, "checkpoint": str(result.checkpoint)}
    write_run_record(out, command=command, config=settings, summary=summary)
    return result


def _usage_error(exc: BaseException, out: Path, overwrite: bool) -> None:
    """Exit 2 with the error's line; when OUT holds an earlier run, say how to start afresh."""
    line = str(exc).splitlines()[0]
    if not overwrite and any(out.glob("checkpoint-*.pt")):
        line += f" ({out} holds an earlier run, which this one continues; --overwrite starts anew)"
    err.print(f"error: {line}")
    raise typer.Exit(2) from exc


def _prepare(data: list[Path], masks: list[Path], what: str) -> None:
    """Exit 2 unless every input folder exists; progress lines to stderr unless ``--quiet``."""
    if not data:
        err.print(f"error: --data: give at least one folder of {what}")
        raise typer.Exit(2)
    for option, paths in (("--data", data), ("--masks", masks)):
        missing = [str(d) for d in paths if not d.exists()]
        if missing:
            err.print(f"error: {option}: {', '.join(missing)} does not exist")
            raise typer.Exit(2)
    logger = logging.getLogger("adstage.train")
    if logger.getEffectiveLevel() > logging.INFO:
        root = logging.getLogger()
        if root.level != logging.ERROR:
            logger.setLevel(logging.INFO)
            if not root.handlers:
                logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")


def _summary(result: Any, unit: str, extra: dict[str, Any], as_json: bool) -> None:
    """The run's last checkpoint, step and split: JSON on stdout or a line on stderr."""
    if as_json:
        emit_json(
            {
                "out": str(result.out),
                "checkpoint": str(result.checkpoint),
                "step": result.step,
                "train_seconds": round(result.seconds, 1),
                unit: {"train": result.n_train, "held_out": result.n_held_out},
            }
            | extra
        )
    else:
        err.print(
            f"{result.checkpoint}: step {result.step}, {result.seconds:.0f} s of training, "
            f"{result.n_train} training {unit}, {result.n_held_out} held out",
            markup=False,
        )
