"""``adstage demo``: the end-to-end demo on data that ships with adstage and its packages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from adstage.cli._common import AsJson, Segmenter, emit_json, err, out_option, renamed


def demo(
    out: Annotated[Path, out_option("Output folder.")] = Path("demo-out"),
    segmenter: Segmenter = "auto",
    n_synthetic: Annotated[
        int, typer.Option(min=1, max=1000, help="Synthetic catalog items.")
    ] = 12,
    samples: Annotated[bool, typer.Option(help="Include scikit-image's sample photos.")] = True,
    as_json: AsJson = False,
    _backend: Annotated[
        str | None, renamed("--backend", "-b", new="--segmenter", dest="segmenter")
    ] = None,
) -> None:
    """Stage synthetic products into a synthetic catalog's rooms, and segment the demo images.

    Writes the results, OUT/adstage-run.json and OUT/index.html; the summary goes to stdout (one
    JSON object with --json).
    """
    from adstage.demo import run_demo, run_staging_demo
    from adstage.errors import AdstageError

    try:
        segmentation = run_demo(out, backend=segmenter, n_synthetic=n_synthetic, samples=samples)
        summary = run_staging_demo(out) | {"segmentation": segmentation}
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
    if as_json:
        emit_json(summary)
    else:
        for key, value in summary.items():
            shown = json.dumps(value, default=str) if isinstance(value, dict | list) else value
            typer.echo(f"{key}: {shown}")
    err.print(f"open {Path(summary['page']).resolve()}")
