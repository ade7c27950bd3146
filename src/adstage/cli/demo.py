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
    """Triage and segment the demo images; write cut-outs and an HTML page."""
    from adstage.demo import run_demo
    from adstage.errors import AdstageError

    try:
        summary = run_demo(out, backend=backend, n_synthetic=n_synthetic, samples=samples)
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(summary, indent=2))
    err.print(f"open {Path(summary['page']).resolve()}")
