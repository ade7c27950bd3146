"""``adstage eval``: measure a stage. ``retrieval``: the paper's P@k / R@k on a catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adstage.cli._common import AsJson, emit_json, err

app = typer.Typer(help="Measure a stage on labelled data.", no_args_is_help=True)


@app.command("retrieval")
def retrieval(
    catalog: Annotated[Path, typer.Option("--catalog", "-c", help="Catalog folder (LanceDB).")],
    embedder: Annotated[str | None, typer.Option(help="Which of the catalog's embedders.")] = None,
    k: Annotated[str, typer.Option("--k", help="Ranks, comma-separated.")] = "1,3,5",
    min_per_category: Annotated[
        int, typer.Option(min=1, help="Drop categories with fewer items (the paper: 20).")
    ] = 20,
    max_distance: Annotated[
        int,
        typer.Option(
            min=0, help="dHash bits (of 256) within which two photos are near-duplicates."
        ),
    ] = 4,
    as_json: AsJson = False,
) -> None:
    """Leave-one-out retrieval on a labelled catalog (Ku et al., AdKDD 2023, Table 1).

    Each item queries all others; exact and near-duplicate photos of the query are removed from
    its gallery; an item is relevant when it shares the query's category.
    """
    import numpy as np

    from adstage.catalog.store import Catalog, vector_column
    from adstage.errors import AdstageError
    from adstage.evaluate.retrieval import evaluate_retrieval, near_duplicates

    try:
        ks = [int(v) for v in k.split(",") if v.strip()]
    except ValueError:
        err.print(f"error: --k: expected comma-separated integers, got {k!r}")
        raise typer.Exit(2) from None
    try:
        store = Catalog(catalog)
        name = embedder or store.embedders[0]
        if name not in store.embedders:
            raise AdstageError(
                f"embedder {name!r} is not in this catalog; it has {store.embedders}"
            )
        table = store.columns(["category", vector_column(name), "phash", "sha256"])
        labels = table.column("category").to_pylist()
        vectors = np.asarray(table.column(vector_column(name)).to_pylist(), np.float32)
        hashes = [int(h, 16) for h in table.column("phash").to_pylist()]
        exclude = near_duplicates(
            hashes, max_distance=max_distance, digests=table.column("sha256").to_pylist()
        )
        report = evaluate_retrieval(
            vectors,
            labels,
            ks=ks,
            min_per_category=min_per_category,
            exclude=exclude,
            embedder=name,
        )
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
    result = report.as_dict()
    if as_json:
        emit_json(result)
        return
    typer.echo(f"{name}: {result['n_queries']} queries, {result['n_categories']} categories")
    for key in result["precision"]:
        typer.echo(
            f"  P@{key} {result['precision'][key]:.3f}   R@{key} {result['recall'][key]:.3f}"
        )
