"""``adstage demo``: the end-to-end demo on data that ships with adstage and its packages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from adstage.cli._common import err


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("demo-out"),
    backend: Annotated[str, typer.Option("--backend", "-b", help="Segmentation backend.")] = "auto",
    n_synthetic: Annotated[
        int, typer.Option(min=1, max=1000, help="Synthetic catalog items.")
    ] = 12,
    samples: Annotated[bool, typer.Option(help="Include scikit-image's sample photos.")] = True,
) -> None:
    """Stage synthetic products into a synthetic catalog's rooms, and segment the demo images;
    write the results and OUT/index.html."""
    from adstage.demo import run_demo, run_staging_demo
    from adstage.errors import AdstageError

    try:
        segmentation = run_demo(out, backend=backend, n_synthetic=n_synthetic, samples=samples)
        summary = run_staging_demo(out) | {"segmentation": segmentation}
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(summary, indent=2))
    err.print(f"open {Path(summary['page']).resolve()}")
