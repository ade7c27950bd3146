"""``adstage inpaint``: fill the hole an 8-bit mask marks (255 = hole) and write the result."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from adstage.cli._common import (
    AsJson,
    Inpainter,
    MaxPixels,
    emit_json,
    err,
    limit,
    out_option,
    renamed,
    report_failure,
)
from adstage.inpaint.base import DEFAULT_INPAINTER


def inpaint(
    image: Annotated[Path, typer.Argument(help="The image to fill.", exists=True, dir_okay=False)],
    mask: Annotated[
        Path,
        typer.Option(
            "--mask",
            "-m",
            help="8-bit mask of the image's size: 255 (>= 128) = hole to fill.",
            exists=True,
            dir_okay=False,
        ),
    ],
    out: Annotated[Path, out_option("Output image (.png, .jpg, .webp).")],
    inpainter: Inpainter = DEFAULT_INPAINTER,
    margin: Annotated[
        int | None,
        typer.Option(min=1, help="Context pixels around the hole (default: half its size)."),
    ] = None,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
    _backend: Annotated[
        str | None, renamed("--backend", "-b", new="--inpainter", dest="inpainter")
    ] = None,
) -> None:
    """Inpaint IMAGE where MASK is set; pixels outside the hole are kept exactly (PNG, WebP
    lossless; JPEG re-encodes them).

    Exit 2 for a usage error (unknown inpainter, unreadable mask, mask of another size, a hole
    covering the whole image), 1 when the image cannot be read or the result cannot be written.
    """
    from adstage.errors import AdstageError, InputError
    from adstage.inpaint import inpaint as run
    from adstage.io.images import read_image, read_mask, write_image

    name = inpainter
    try:
        rgb = read_image(image, max_pixels=limit(max_pixels))
    except (AdstageError, OSError) as exc:
        report_failure(image, exc, as_json=as_json)
        raise typer.Exit(1) from exc
    try:
        hole = read_mask(mask, max_pixels=limit(max_pixels))
        if hole.shape != rgb.shape[:2]:
            raise InputError(
                f"{mask}: mask is {hole.shape[1]}×{hole.shape[0]} (W×H) but {image} is "
                f"{rgb.shape[1]}×{rgb.shape[0]}; the mask must have the image's size"
            )
        binary = hole >= 0.5
        if binary.all():
            raise InputError(f"{mask}: the hole covers the whole image; nothing to fill it from")
    except (AdstageError, OSError) as exc:
        report_failure(mask, exc, as_json=as_json)
        raise typer.Exit(2) from exc
    started = time.perf_counter()
    try:
        result = run(rgb, binary, backend=name, margin=margin)
        seconds = time.perf_counter() - started
        write_image(out, result)
    except (AdstageError, OSError) as exc:
        report_failure(image, exc, as_json=as_json)
        raise typer.Exit(1) from exc
    if as_json:
        emit_json(
            {
                "input": str(image),
                "mask": str(mask),
                "output": str(out),
                "backend": name,
                "seconds": round(seconds, 4),
                "hole_fraction": round(float(binary.mean()), 6),
            }
        )
    else:
        err.print(f"{out}: {name}, {binary.mean():.1%} of the pixels filled in {seconds:.2f} s")
