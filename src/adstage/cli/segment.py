"""``adstage segment``: cut the product out of each photo; ``<stem>.png`` and ``<stem>.mask.png``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from adstage.cli._common import (
    AsJson,
    Inputs,
    MaxPixels,
    Recursive,
    emit_json,
    err,
    progress,
    report_failure,
)


def segment(
    inputs: Inputs,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    backend: Annotated[
        str,
        typer.Option("--backend", "-b", help="solid-background, isnet, u2net, grabcut or auto."),
    ] = "auto",
    weights: Annotated[
        Path | None,
        typer.Option(help="A local weights file for isnet / u2net (overrides the cache)."),
    ] = None,
    input_size: Annotated[
        int | None, typer.Option(help="Network input size (isnet native 1024, u2net 320).")
    ] = None,
    matting: Annotated[
        bool, typer.Option(help="Soft edges by closed-form matting (solid-background).")
    ] = False,
    crop: Annotated[bool, typer.Option(help="Crop the cut-out to the product's box.")] = False,
    resume: Annotated[bool, typer.Option(help="Skip images whose outputs already exist.")] = False,
    recursive: Recursive = False,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
) -> None:
    """Segment products: an RGBA cut-out and an 8-bit mask (255 = product) per image."""
    import numpy as np

    from adstage.errors import AdstageError
    from adstage.io.images import iter_image_paths, read_image, write_image, write_mask
    from adstage.provenance import write_run_record
    from adstage.segment import SEGMENTERS

    options: dict[str, object] = {}
    if weights is not None:
        options["weights"] = str(weights)
    if input_size is not None:
        options["input_size"] = input_size
    if matting:
        options["matting"] = True
    if backend == "auto" and options:
        nested = {k: v for k, v in options.items() if k != "matting"}
        options = {"isnet_options": nested, "solid_options": {"matting": True} if matting else {}}
    try:
        segmenter = SEGMENTERS.create(backend, **options)
    except TypeError as exc:
        err.print(f"error: backend {backend!r} does not take these options: {exc}")
        raise typer.Exit(2) from exc
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc

    paths = iter_image_paths(inputs, recursive=recursive)
    if not paths:
        err.print("error: no images found in the given inputs")
        raise typer.Exit(1)
    out.mkdir(parents=True, exist_ok=True)
    write_run_record(out, command="segment", config={"backend": backend, **options, "crop": crop})
    failed = 0
    seen: set[str] = set()
    for path in progress(paths, len(paths), f"segment ({backend})", enabled=not as_json):
        stem = path.stem if path.stem not in seen else f"{path.stem}-{len(seen)}"
        seen.add(stem)
        cut_path, mask_path = out / f"{stem}.png", out / f"{stem}.mask.png"
        if resume and cut_path.exists() and mask_path.exists():
            continue
        started = time.perf_counter()
        try:
            image = read_image(path, max_pixels=max_pixels or "default")
            result = segmenter(image)
            cutout = result.cutout(image)
            if crop:
                rgba = cutout.rgba
            else:
                a8 = np.clip(np.rint(result.alpha * 255), 0, 255).astype(np.uint8)
                rgba = np.dstack([image, a8])
            if rgba.size == 0:
                raise AdstageError("no product found (empty mask)")
            write_image(cut_path, rgba)
            write_mask(mask_path, result.mask)
        except (AdstageError, OSError) as exc:
            failed += 1
            report_failure(path, exc, as_json=as_json)
            continue
        if as_json:
            emit_json(
                {
                    "path": str(path),
                    "cutout": str(cut_path),
                    "mask": str(mask_path),
                    "backend": result.backend,
                    "bbox": list(cutout.bbox),
                    "center_of_mass": [round(v, 2) for v in cutout.center_of_mass],
                    "area_fraction": round(cutout.area_fraction, 5),
                    "seconds": round(time.perf_counter() - started, 4),
                    "provenance": result.provenance,
                }
            )
    if failed:
        err.print(f"{failed} of {len(paths)} images failed")
        raise typer.Exit(1)
