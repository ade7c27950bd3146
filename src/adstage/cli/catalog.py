"""``adstage ingest`` and ``adstage retrieve``: fill a catalog, then query it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adstage.cli._common import AsJson, Recursive, emit_json, err, progress

CatalogPath = Annotated[Path, typer.Option("--catalog", "-c", help="Catalog folder (LanceDB).")]


def ingest(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Image files or folders (or use --labels).", show_default=False),
    ] = None,
    catalog: CatalogPath = Path("catalog"),
    labels: Annotated[
        Path | None, typer.Option(help="CSV with path,category[,mask_path[,staged]].")
    ] = None,
    embedder: Annotated[
        list[str] | None,
        typer.Option("--embedder", "-e", help="Embedders for a new catalog (repeatable)."),
    ] = None,
    staged: Annotated[str, typer.Option(help="auto (triage), true or false.")] = "auto",
    segmenter: Annotated[
        str, typer.Option(help="Segmentation backend for items without masks.")
    ] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per commit.")] = 32,
    recursive: Recursive = False,
    as_json: AsJson = False,
) -> None:
    """Add images to a catalog: masks, triage, embeddings. Re-runs skip what is there."""
    from adstage.catalog.store import Catalog, Source, sources_from_csv
    from adstage.errors import AdstageError
    from adstage.io.images import iter_image_paths

    if staged not in ("auto", "true", "false"):
        err.print(f"error: --staged: expected auto, true or false, got {staged!r}")
        raise typer.Exit(2)
    forced = None if staged == "auto" else staged == "true"
    bad: list[dict[str, str]] = []
    try:
        if labels is not None:
            sources, bad = sources_from_csv(labels)
        else:
            sources = [Source(path=p) for p in iter_image_paths(inputs or [], recursive=recursive)]
        if forced is not None:
            sources = [Source(s.path, s.category, s.mask_path, forced) for s in sources]
        store = Catalog(catalog, embedders=embedder or ["classical"])
        for row in bad:
            err.print(f"error: {row['path']}: {row['error']}")
        items = progress(sources, len(sources), "ingest", enabled=not as_json)
        report = store.ingest(items, batch_size=batch_size, segmenter=segmenter)
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    for row in report.failed:
        err.print(f"error: {row['path']}: {row['error']}")
    summary = report.as_dict() | {"bad_rows": bad, "catalog": str(catalog), "rows": len(store)}
    if as_json:
        emit_json(summary)
    else:
        typer.echo(
            f"added {report.added}, skipped {report.skipped}, failed {len(report.failed) + len(bad)};"
            f" {len(store)} rows in {catalog}"
        )
    if report.failed or bad:
        raise typer.Exit(1)


def retrieve(
    image: Annotated[Path, typer.Argument(help="The query product photo.")],
    catalog: CatalogPath = Path("catalog"),
    k: Annotated[int, typer.Option("-k", min=1, help="How many results.")] = 5,
    where: Annotated[
        str | None,
        typer.Option(help="SQL filter, e.g. \"staged = true AND category LIKE 'Furniture%'\"."),
    ] = None,
    embedder: Annotated[str | None, typer.Option(help="Which of the catalog's embedders.")] = None,
    segmenter: Annotated[str, typer.Option(help="Segmentation backend for the query.")] = "auto",
    as_json: AsJson = False,
) -> None:
    """The catalog items most similar to the product in IMAGE (cosine of embeddings)."""
    from adstage.catalog.store import Catalog
    from adstage.errors import AdstageError
    from adstage.io.images import read_image
    from adstage.segment import SEGMENTERS

    try:
        store = Catalog(catalog)
        name = embedder or store.embedders[0]
        picture = read_image(image)
        mask = SEGMENTERS.create(segmenter)(picture).alpha
        vector = store.embedder(name).embed([picture], [mask])[0]
        hits = store.search(vector, k=k, embedder=name, where=where)
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
    except Exception as exc:  # a bad SQL filter surfaces as the database's own error type
        if not where:
            raise
        err.print(
            f"error: --where {where!r}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        )
        raise typer.Exit(2) from exc
    keep = ("id", "uri", "category", "staged", "score", "bbox", "area_fraction")
    results = [{key: hit[key] for key in keep} for hit in hits]
    if as_json:
        emit_json({"query": str(image), "embedder": name, "results": results})
    else:
        for hit in results:
            typer.echo(
                f"{hit['score']:.3f}\t{'staged' if hit['staged'] else 'plain'}\t{hit['category']}\t{hit['uri']}"
            )
