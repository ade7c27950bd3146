"""``adstage segment``: cut the product out of each photo; ``<stem>.png`` and ``<stem>.mask.png``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from adstage.cli._common import (
    AsJson,
    Batch,
    Inputs,
    MaxPixels,
    Overwrite,
    Recursive,
    Resume,
    Segmenter,
    err,
    image_paths,
    limit,
    out_option,
    renamed,
    run_batch,
)


def segment(
    inputs: Inputs,
    out: Annotated[Path, out_option("Output folder.")],
    segmenter: Segmenter = "auto",
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
    overwrite: Overwrite = False,
    recursive: Recursive = False,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
    _backend: Annotated[
        str | None, renamed("--backend", "-b", new="--segmenter", dest="segmenter")
    ] = None,
    _resume: Resume = False,
) -> None:
    """Segment products: an RGBA cut-out and an 8-bit mask (255 = product) per image.

    Images whose cut-out and mask exist are skipped unless --overwrite.
    """
    import numpy as np

    from adstage.errors import AdstageError
    from adstage.io.images import read_image, write_image, write_mask
    from adstage.provenance import write_run_record
    from adstage.segment import SEGMENTERS

    options: dict[str, object] = {}
    if weights is not None:
        options["weights"] = str(weights)
    if input_size is not None:
        options["input_size"] = input_size
    if matting:
        options["matting"] = True
    if segmenter == "auto" and options:
        nested = {k: v for k, v in options.items() if k != "matting"}
        options = {"isnet_options": nested, "solid_options": {"matting": True} if matting else {}}
    try:
        model = SEGMENTERS.create(segmenter, **options)
    except TypeError as exc:
        err.print(f"error: --segmenter {segmenter} does not take these options: {exc}")
        raise typer.Exit(2) from exc
    except AdstageError as exc:
        err.print(f"error: --segmenter: {exc}")
        raise typer.Exit(2) from exc

    paths = image_paths(inputs, recursive=recursive)
    out.mkdir(parents=True, exist_ok=True)
    config = {"segmenter": segmenter, **options, "crop": crop, "max_pixels": max_pixels}
    write_run_record(out, command="segment", config=config)
    batch = Batch("segment", out, as_json)

    def finished(stem: str) -> Path | None:
        cut_path, mask_path = out / f"{stem}.png", out / f"{stem}.mask.png"
        return cut_path if cut_path.exists() and mask_path.exists() else None

    def one(path: Path, stem: str) -> dict[str, Any]:
        cut_path, mask_path = out / f"{stem}.png", out / f"{stem}.mask.png"
        started = time.perf_counter()
        image = read_image(path, max_pixels=limit(max_pixels))
        result = model(image)
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
        return {
            "cutout": str(cut_path),
            "mask": str(mask_path),
            "backend": result.backend,
            "bbox": list(cutout.bbox),
            "center_of_mass": [round(v, 2) for v in cutout.center_of_mass],
            "area_fraction": round(cutout.area_fraction, 5),
            "seconds": round(time.perf_counter() - started, 4),
            "provenance": result.provenance,
        }

    run_batch(
        paths,
        one,
        batch,
        description=f"segment ({segmenter})",
        finished=finished,
        overwrite=overwrite,
    )
    write_run_record(out, command="segment", config=config, summary=batch.summary())
    if not as_json:
        err.print(
            f"segmented {batch.done}, skipped {batch.skipped} (done before), "
            f"failed {len(batch.failed)}; outputs in {out}"
        )
    batch.exit()
