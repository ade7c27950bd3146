"""``adstage triage``: staged or un-staged, with a score, one line per image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from adstage.cli._common import (
    AsJson,
    Batch,
    Inputs,
    MaxPixels,
    Recursive,
    image_paths,
    limit,
    run_batch,
)


def triage(
    inputs: Inputs,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
    threshold: Annotated[
        float,
        typer.Option(min=0.001, max=0.999, help="Score above which an image counts as staged."),
    ] = 0.2,
    recursive: Recursive = False,
) -> None:
    """Tell staged photos (scenes) from un-staged ones (a product on a plain background).

    One line per image on stdout (``staged|unstaged  score  path``), or with --json one object.
    """
    from adstage.io.images import read_image
    from adstage.segment.triage import triage as run

    paths = image_paths(inputs, recursive=recursive)
    batch = Batch("triage", None, as_json)  # no output folder: failures on stderr (and --json)

    def one(path: Path, stem: str) -> dict[str, Any]:
        verdict = run(read_image(path, max_pixels=limit(max_pixels)), threshold=threshold)
        if not as_json:
            typer.echo(
                f"{'staged  ' if verdict.staged else 'unstaged'}\t{verdict.score:.3f}\t{path}"
            )
        return {"staged": verdict.staged, "score": verdict.score}

    run_batch(paths, one, batch, description="triage")
    batch.exit()
