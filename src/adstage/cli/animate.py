"""``adstage animate``: turn one product image into a looping parallax video (MP4, GIF, WebP)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adstage.cli._common import AsJson, MaxPixels, emit_json, err, progress, report_failure


def animate(
    image: Annotated[
        Path, typer.Argument(help="The image to animate.", exists=True, dir_okay=False)
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output video (.mp4, .gif, .webp).")],
    mask: Annotated[
        Path | None,
        typer.Option(
            "--mask",
            "-m",
            help="The product's mask, the image's size (255 = product). Default: segment the "
            "image with --segmenter.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    motion: Annotated[str, typer.Option(help="sway, orbit, push-in or rise.")] = "sway",
    duration: Annotated[float, typer.Option(help="Seconds of one loop.")] = 3.0,
    fps: Annotated[int, typer.Option(help="Frames per second.")] = 30,
    size: Annotated[
        str,
        typer.Option(help="WIDTHxHEIGHT, or square, portrait, story, landscape, link, or source."),
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
    easing: Annotated[str, typer.Option(help="sine, linear, quad or cubic.")] = "sine",
    shadow: Annotated[
        bool, typer.Option("--shadow/--no-shadow", help="A soft shadow that follows the product.")
    ] = True,
    inpainter: Annotated[
        str | None,
        typer.Option(help="Backend for the clean plate: ns, telea, patchmatch, hybrid."),
    ] = None,
    segmenter: Annotated[str, typer.Option(help="Segmenter when no --mask is given.")] = "auto",
    video_format: Annotated[
        str | None,
        typer.Option("--format", help="mp4, gif or webp (default: from the OUT suffix)."),
    ] = None,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
) -> None:
    """Move the product of IMAGE along a motion, fill the gap it reveals once (clean plate), and
    move the background slower (parallax): a seamless loop (Ku et al., AdKDD 2023, §5.4).

    Exit 2 for a usage error (bad option, mask that is empty, full or of another size), 1 when
    the image cannot be read or the video cannot be written.
    """
    import time

    from adstage.animate import Animation, AnimationOptions, parse_size, write_video
    from adstage.animate import video_format as format_of
    from adstage.animate.base import SHADOW_STRENGTH, check_mask
    from adstage.errors import AdstageError
    from adstage.inpaint import DEFAULT_INPAINTER
    from adstage.io.images import read_image, read_mask

    try:
        options = AnimationOptions(
            motion=motion,
            duration=duration,
            fps=fps,
            size=parse_size(size),
            parallax=parallax,
            amplitude=amplitude,
            easing=easing,
            shadow=SHADOW_STRENGTH if shadow else 0.0,
            inpainter=inpainter or DEFAULT_INPAINTER,
        )
        fmt = format_of(out, video_format)
    except AdstageError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from exc
    limit = max_pixels or "default"
    try:
        rgb = read_image(image, max_pixels=limit)
    except (AdstageError, OSError) as exc:
        report_failure(image, exc, as_json=as_json)
        raise typer.Exit(1) from exc
    seconds: dict[str, float] = {}
    if mask is not None:
        try:
            alpha = check_mask(read_mask(mask, max_pixels=limit), rgb.shape[:2], name=str(mask))
        except (AdstageError, OSError) as exc:
            report_failure(mask, exc, as_json=as_json)
            raise typer.Exit(2) from exc
    else:
        from adstage.segment import SEGMENTERS

        try:
            started = time.perf_counter()
            seg = SEGMENTERS.create(segmenter)(rgb)
            seconds["segment"] = time.perf_counter() - started
            backend = seg.provenance.get("auto", {}).get("chosen", seg.backend)
            err.print(f"{image}: product segmented by {backend}", markup=False)
            alpha = check_mask(seg.alpha, rgb.shape[:2], name=f"segmentation by {backend}")
        except AdstageError as exc:
            report_failure(image, exc, as_json=as_json)
            raise typer.Exit(2) from exc
    try:
        anim = Animation.prepare(rgb, alpha, options)
    except AdstageError as exc:
        report_failure(mask or image, exc, as_json=as_json)
        raise typer.Exit(2) from exc
    seconds["plate"] = anim.plate.seconds
    frames = progress(iter(anim), len(anim), "animate", enabled=not as_json)
    try:
        written = write_video(out, frames, fps=options.fps, size=anim.size, format=fmt)
    except (AdstageError, OSError) as exc:
        report_failure(out, exc, as_json=as_json)
        raise typer.Exit(1) from exc
    seconds["render"] = written.render_seconds
    seconds["encode"] = written.encode_seconds
    w, h = written.size
    if as_json:
        emit_json(
            {
                "path": str(written.path),
                "frames": written.frames,
                "fps": written.fps,
                "size": [w, h],
                "seconds": {k: round(seconds[k], 4) for k in ("plate", "render", "encode")},
            }
        )
    else:
        err.print(
            f"{written.path}: {written.frames} frames, {w}×{h} at {written.fps} fps ({fmt}); "
            f"plate {seconds['plate']:.2f} s, render {seconds['render']:.2f} s "
            f"({written.frames / max(seconds['render'], 1e-9):.0f} frames/s), "
            f"encode {seconds['encode']:.2f} s",
            markup=False,
        )
