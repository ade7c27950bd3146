"""``adstage animate``: turn a product image into a looping parallax video (MP4, GIF, WebP);
several images (or folders) into a folder of videos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from adstage.animate import AD_SIZES, EASINGS, MOTIONS, VIDEO_FORMATS
from adstage.animate.base import SHADOW_STRENGTH
from adstage.cli._common import (
    AsJson,
    Batch,
    Inpainter,
    MaxPixels,
    NoShadow,
    Overwrite,
    Recursive,
    accept_renamed,
    deprecation,
    emit_json,
    err,
    image_paths,
    limit,
    names,
    one_of,
    out_option,
    progress,
    renamed,
    report_failure,
    run_batch,
    segmenter_option,
    shadow_option,
    shadow_strength,
)
from adstage.inpaint.base import DEFAULT_INPAINTER


class AnimateCommand(TyperCommand):
    """``animate`` also accepts the 0.1 spelling ``--shadow`` with no value (then an on/off flag,
    on by default): it means the default strength, with a deprecation line."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _bare_shadow(list(args)))


def _bare_shadow(args: list[str]) -> list[str]:
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--shadow":
            following = args[i + 1] if i + 1 < len(args) else ""
            try:
                float(following)
            except ValueError:
                deprecation(
                    "--shadow without a value", f"use --shadow {SHADOW_STRENGTH} (or --no-shadow)"
                )
                return [*args[: i + 1], str(SHADOW_STRENGTH), *args[i + 1 :]]
    return args


def animate(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="The image to animate; or several images / folders (then OUT is a folder).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        out_option(
            "Output video (.mp4, .gif, .webp) for one image; for several, a folder that gets "
            "<stem>.<container> each."
        ),
    ],
    mask: Annotated[
        Path | None,
        typer.Option(
            "--mask",
            "-m",
            help="The product's mask, the image's size (255 = product); one image only. "
            "Default: segment the image with --segmenter.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    motion: Annotated[str, typer.Option(help=f"Product motion: {names(MOTIONS)}.")] = "sway",
    duration: Annotated[float, typer.Option(help="Seconds of one loop.")] = 3.0,
    fps: Annotated[int, typer.Option(help="Frames per second.")] = 30,
    size: Annotated[
        str,
        typer.Option(help=f"WIDTHxHEIGHT, or {', '.join(AD_SIZES)}, or source."),
    ] = "1080x1080",
    parallax: Annotated[
        float, typer.Option(help="Background motion / product motion, 0 (still) to 1.")
    ] = 0.3,
    amplitude: Annotated[
        float | None,
        typer.Option(
            help="Motion size: a fraction of the shorter side (of the scale for push-in). "
            "Default per motion."
        ),
    ] = None,
    easing: Annotated[str, typer.Option(help=f"{', '.join(EASINGS)}.")] = "sine",
    shadow: Annotated[float, shadow_option(SHADOW_STRENGTH, staging=False)] = SHADOW_STRENGTH,
    no_shadow: NoShadow = False,
    inpainter: Inpainter = DEFAULT_INPAINTER,
    segmenter: Annotated[str, segmenter_option("Segmenter when no --mask is given")] = "auto",
    container: Annotated[
        str | None,
        typer.Option(
            "--container",
            help=f"Video container: {', '.join(VIDEO_FORMATS)} (default: OUT's suffix; "
            "mp4 in a folder).",
            callback=accept_renamed(one_of("--container", VIDEO_FORMATS)),
        ),
    ] = None,
    overwrite: Overwrite = False,
    recursive: Recursive = False,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
    _format: Annotated[str | None, renamed("--format", new="--container", dest="container")] = None,
) -> None:
    """Move the product of IMAGE along a motion, fill the gap it reveals once (clean plate), and
    move the background slower (parallax): a seamless loop (Ku et al., AdKDD 2023, §5.4).

    One image: exit 2 for a usage error (bad option, mask that is empty, full or of another
    size), 1 when the image cannot be read or the video cannot be written. Several images (or
    a folder): OUT/<stem>.<container> each, the videos already there skipped unless
    --overwrite; a failed image gets an error line and a row in OUT/failures.jsonl, and the
    batch goes on (exit 1 if any failed).
    """
    from adstage.animate import AnimationOptions, parse_size
    from adstage.errors import AdstageError

    try:
        options = AnimationOptions(
            motion=motion,
            duration=duration,
            fps=fps,
            size=parse_size(size),
            parallax=parallax,
            amplitude=amplitude,
            easing=easing,
            shadow=shadow_strength(shadow, no_shadow),
            inpainter=inpainter,
        )
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    single = len(inputs) == 1 and not inputs[0].is_dir() and not out.is_dir() and out.suffix != ""
    if single:
        _animate_one(inputs[0], out, mask, options, container, segmenter, max_pixels, as_json)
        return
    if mask is not None:
        err.print("error: --mask: for one image only (several are segmented with --segmenter)")
        raise typer.Exit(2)
    _animate_many(
        inputs,
        out,
        options,
        container or "mp4",
        segmenter,
        overwrite,
        recursive,
        max_pixels,
        as_json,
    )


def _animate_one(
    image: Path,
    out: Path,
    mask: Path | None,
    options: Any,
    container: str | None,
    segmenter: str,
    max_pixels: int | None,
    as_json: bool,
) -> None:
    from adstage.animate import Animation, check_mask, video_format
    from adstage.errors import AdstageError
    from adstage.io.images import read_image, read_mask

    try:
        fmt = video_format(out, container)
    except AdstageError as exc:
        err.print(f"error: --container: {exc}")
        raise typer.Exit(2) from exc
    try:
        rgb = read_image(image, max_pixels=limit(max_pixels))
    except (AdstageError, OSError) as exc:
        report_failure(image, exc, as_json=as_json)
        raise typer.Exit(1) from exc
    seconds: dict[str, float] = {}
    if mask is not None:
        try:
            alpha = check_mask(
                read_mask(mask, max_pixels=limit(max_pixels)), rgb.shape[:2], name=str(mask)
            )
        except (AdstageError, OSError) as exc:
            report_failure(mask, exc, as_json=as_json)
            raise typer.Exit(2) from exc
    else:
        try:
            alpha = _segment(image, rgb, segmenter, seconds)
        except AdstageError as exc:
            report_failure(image, exc, as_json=as_json)
            raise typer.Exit(2) from exc
    try:
        anim = Animation.prepare(rgb, alpha, options)
    except AdstageError as exc:
        report_failure(mask or image, exc, as_json=as_json)
        raise typer.Exit(2) from exc
    try:
        record = _write(anim, out, fmt, options, seconds, as_json)
    except (AdstageError, OSError) as exc:
        report_failure(out, exc, as_json=as_json)
        raise typer.Exit(1) from exc
    if as_json:
        emit_json({"path": str(image)} | record)


def _animate_many(
    inputs: list[Path],
    out: Path,
    options: Any,
    container: str,
    segmenter: str,
    overwrite: bool,
    recursive: bool,
    max_pixels: int | None,
    as_json: bool,
) -> None:
    from dataclasses import asdict

    from adstage.animate import Animation
    from adstage.io.images import read_image
    from adstage.provenance import write_run_record

    paths = image_paths(inputs, recursive=recursive)
    config = asdict(options) | {
        "container": container,
        "segmenter": segmenter,
        "max_pixels": max_pixels,
    }
    write_run_record(out, command="animate", config=config)
    batch = Batch("animate", out, as_json)

    def finished(stem: str) -> Path | None:
        video = out / f"{stem}.{container}"
        return video if video.exists() else None

    def one(path: Path, stem: str) -> dict[str, Any]:
        seconds: dict[str, float] = {}
        rgb = read_image(path, max_pixels=limit(max_pixels))
        alpha = _segment(path, rgb, segmenter, seconds)
        anim = Animation.prepare(rgb, alpha, options)
        return _write(anim, out / f"{stem}.{container}", container, options, seconds, True)

    run_batch(paths, one, batch, description="animate", finished=finished, overwrite=overwrite)
    write_run_record(out, command="animate", config=config, summary=batch.summary())
    if not as_json:
        err.print(
            f"animated {batch.done}, skipped {batch.skipped} (done before), "
            f"failed {len(batch.failed)}; videos in {out}"
        )
    batch.exit()


def _segment(path: Path, rgb: Any, segmenter: str, seconds: dict[str, float]) -> Any:
    """The product's alpha in ``rgb``, by ``segmenter``; says which backend ran."""
    import time

    from adstage.animate import check_mask
    from adstage.segment import SEGMENTERS

    started = time.perf_counter()
    seg = SEGMENTERS.create(segmenter)(rgb)
    seconds["segment"] = time.perf_counter() - started
    backend = seg.provenance.get("auto", {}).get("chosen", seg.backend)
    err.print(f"{path}: product segmented by {backend}")
    return check_mask(seg.alpha, rgb.shape[:2], name=f"segmentation by {backend}")


def _write(
    anim: Any, out: Path, fmt: str, options: Any, seconds: dict[str, float], quiet: bool
) -> dict[str, Any]:
    """Render and encode ``anim`` to ``out``; its JSON record (the line on stderr unless
    ``quiet``)."""
    from adstage.animate import write_video

    seconds["plate"] = anim.plate.seconds
    frames = progress(iter(anim), len(anim), "animate", enabled=not quiet)
    written = write_video(out, frames, fps=options.fps, size=anim.size, format=fmt)
    seconds["render"] = written.render_seconds
    seconds["encode"] = written.encode_seconds
    w, h = written.size
    if not quiet:
        err.print(
            f"{written.path}: {written.frames} frames, {w}×{h} at {written.fps} fps ({fmt}); "
            f"plate {seconds['plate']:.2f} s, render {seconds['render']:.2f} s "
            f"({written.frames / max(seconds['render'], 1e-9):.0f} frames/s), "
            f"encode {seconds['encode']:.2f} s"
        )
    return {
        "video": str(written.path),
        "frames": written.frames,
        "fps": written.fps,
        "size": [w, h],
        "seconds": {k: round(seconds[k], 4) for k in ("plate", "render", "encode")},
    }
