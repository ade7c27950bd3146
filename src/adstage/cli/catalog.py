"""``adstage ingest`` and ``adstage retrieve``: fill a catalog, then query it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adstage.cli._common import AsJson, Recursive, emit_json, err, progress

CatalogPath = Annotated[Path, typer.Option("--catalog", "-c", help="Catalog folder (LanceDB).")]


DEFAULT_EMBEDDER = "inception-v3"
"""The embedder of a new catalog when none is named: the paper's (Ku et al., AdKDD 2023, §5.3)."""


def _check_embedder(name: str) -> None:
    """Create ``name`` and embed a small probe, so missing weights stop the run at once (with the
    command that fetches them) instead of failing every item."""
    import numpy as np

    from adstage.errors import WeightsNotFound
    from adstage.retrieve.base import EMBEDDERS

    probe = np.full((64, 64, 3), 255, np.uint8)
    probe[16:48, 16:48] = 90
    try:
        EMBEDDERS.create(name).embed([probe], [probe[..., 0] < 128])
    except WeightsNotFound as exc:
        raise WeightsNotFound(f"{exc} (or choose -e classical, which needs no weights)") from exc


def ingest(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Image files or folders (or use --labels).", show_default=False),
    ] = None,
    catalog: CatalogPath = Path("catalog"),
    labels: Annotated[
        Path | None, typer.Option(help="CSV or Parquet with path,category[,mask_path[,staged]].")
    ] = None,
    embedder: Annotated[
        list[str] | None,
        typer.Option(
            "--embedder",
            "-e",
            help="Embedders for a new catalog (repeatable; default inception-v3, the paper's; "
            "classical needs no weights).",
        ),
    ] = None,
    staged: Annotated[str, typer.Option(help="auto (triage), true or false.")] = "auto",
    segmenter: Annotated[
        str, typer.Option(help="Segmentation backend for items without masks.")
    ] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Images per commit.")] = 32,
    workers: Annotated[
        int, typer.Option(min=1, help="Threads that decode, triage and segment.")
    ] = 2,
    work_side: Annotated[
        int, typer.Option(min=0, help="Longer side for ingest work, in pixels (0: full size).")
    ] = 512,
    recursive: Recursive = False,
    as_json: AsJson = False,
) -> None:
    """Add images to a catalog: masks, triage, embeddings. Re-runs skip what is there."""
    from adstage.catalog.store import Catalog, Source, sources_from_table
    from adstage.errors import AdstageError
    from adstage.io.images import iter_image_paths

    if staged not in ("auto", "true", "false"):
        err.print(f"error: --staged: expected auto, true or false, got {staged!r}")
        raise typer.Exit(2)
    forced = None if staged == "auto" else staged == "true"
    bad: list[dict[str, str]] = []
    try:
        if labels is not None:
            sources, bad = sources_from_table(labels)
        else:
            sources = [Source(path=p) for p in iter_image_paths(inputs or [], recursive=recursive)]
        if forced is not None:
            sources = [Source(s.path, s.category, s.masks, forced) for s in sources]
        names = embedder or [DEFAULT_EMBEDDER]
        if not (catalog / "adstage-catalog.json").exists():
            for name in names:
                _check_embedder(name)  # before the catalog fixes its embedders
        store = Catalog(catalog, embedders=names)
        for row in bad:
            err.print(f"error: {row['path']}: {row['error']}")
        items = progress(sources, len(sources), "ingest", enabled=not as_json)
        report = store.ingest(
            items,
            batch_size=batch_size,
            segmenter=segmenter,
            workers=workers,
            work_side=work_side or None,
        )
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
            f"added {report.added} ({report.slots} slots), skipped {report.skipped},"
            f" failed {len(report.failed) + len(bad)};"
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
    rerank: Annotated[
        bool, typer.Option(help="Shape-aware re-rank: prefer slots the product covers best.")
    ] = False,
    mask: Annotated[
        Path | None, typer.Option(help="The query's product mask (else it is segmented).")
    ] = None,
    embedder: Annotated[str | None, typer.Option(help="Which of the catalog's embedders.")] = None,
    segmenter: Annotated[str, typer.Option(help="Segmentation backend for the query.")] = "auto",
    as_json: AsJson = False,
) -> None:
    """The catalog slots most similar to the product in IMAGE (cosine of embeddings)."""
    from adstage.catalog.store import Catalog
    from adstage.errors import AdstageError
    from adstage.io.images import read_image, read_mask

    if not catalog.is_dir():
        err.print(f"error: --catalog: {catalog} is not a catalog folder (run adstage ingest first)")
        raise typer.Exit(2)
    try:
        store = Catalog(catalog)
        name = embedder or store.embedders[0]
        picture = read_image(image)
        alpha = read_mask(mask, resize_to=picture.shape[:2]) if mask is not None else None
        hits = store.retrieve(
            picture, k=k, where=where, rerank=rerank, mask=alpha, embedder=name, segmenter=segmenter
        )
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
    if as_json:
        emit_json(
            {
                "query": str(image),
                "embedder": name,
                "rerank": rerank,
                "results": [hit.as_dict() for hit in hits],
            }
        )
        return
    for hit in hits:
        extra = f"\tcoverage {hit.coverage:.2f}" if hit.coverage is not None else ""
        typer.echo(
            f"{hit.score:.3f}\t{'staged' if hit.staged else 'plain'}\tslot {hit.slot}"
            f"\t{hit.category}\t{hit.uri}{extra}"
        )
