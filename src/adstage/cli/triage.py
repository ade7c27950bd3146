"""``adstage triage``: staged or un-staged, with a score, one line per image."""

from __future__ import annotations

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
    """Tell staged photos (scenes) from un-staged ones (a product on a plain background)."""
    from adstage.errors import AdstageError
    from adstage.io.images import iter_image_paths, read_image
    from adstage.triage import triage as run

    paths = iter_image_paths(inputs, recursive=recursive)
    failed = 0
    for path in progress(paths, len(paths), "triage", enabled=not as_json):
        try:
            verdict = run(read_image(path, max_pixels=max_pixels or "default"), threshold=threshold)
        except (AdstageError, OSError) as exc:
            failed += 1
            report_failure(path, exc, as_json=as_json)
            continue
        if as_json:
            emit_json({"path": str(path), "staged": verdict.staged, "score": verdict.score})
        else:
            typer.echo(
                f"{'staged  ' if verdict.staged else 'unstaged'}\t{verdict.score:.3f}\t{path}"
            )
    if not paths:
        err.print("error: no images found in the given inputs")
        raise typer.Exit(1)
    if failed:
        raise typer.Exit(1)
