"""``adstage ingest`` and ``adstage retrieve``: fill a catalog, then query it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from adstage.cli._common import (
    AsJson,
    CatalogDir,
    MaxPixels,
    Recursive,
    Segmenter,
    check_where,
    embedder_option,
    emit_json,
    err,
    limit,
    progress,
    segmenter_option,
    top_k_option,
)


def _check_embedder(name: str) -> None:
    """Create ``name`` and embed a small probe, so missing weights stop the run at once (with the
    command that fetches them) instead of failing every item."""
    import numpy as np

    from adstage.errors import WeightsNotFound
    from adstage.retrieve.base import load_embedder

    probe = np.full((64, 64, 3), 255, np.uint8)
    probe[16:48, 16:48] = 90
    try:  # the shared instance: the ingest that follows reuses its loaded weights
        load_embedder(name).embed([probe], [probe[..., 0] < 128])
    except WeightsNotFound as exc:
        raise WeightsNotFound(f"{exc} (or choose -e classical, which needs no weights)") from exc


def ingest(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Image files or folders (or use --labels).", show_default=False),
    ] = None,
    catalog: CatalogDir = Path("catalog"),
    labels: Annotated[
        Path | None, typer.Option(help="CSV or Parquet with path,category[,mask_path[,staged]].")
    ] = None,
    embedder: Annotated[
        list[str] | None,
        embedder_option(
            "Embedders of a new catalog (repeatable; default inception-v3, the paper's; "
            "classical needs no weights)"
        ),
    ] = None,
    staged: Annotated[str, typer.Option(help="auto (triage), true or false.")] = "auto",
    segmenter: Annotated[
        str, segmenter_option("Segmentation backend for items without masks")
    ] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Images per commit.")] = 32,
    workers: Annotated[
        int, typer.Option(min=1, help="Threads that decode, triage and segment.")
    ] = 2,
    work_side: Annotated[
        int, typer.Option(min=0, help="Longer side for ingest work, in pixels (0: full size).")
    ] = 512,
    recursive: Recursive = False,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
) -> None:
    """Add images to a catalog: masks, triage, embeddings. Re-runs skip what is there.

    A failed image gets an error line and a row in CATALOG/failures.jsonl, and the run goes on
    (exit 1 if any failed). One JSON summary with --json.
    """
    from adstage.catalog.store import Catalog
    from adstage.errors import AdstageError
    from adstage.io.images import iter_image_paths
    from adstage.provenance import write_run_record
    from adstage.retrieve.base import DEFAULT_EMBEDDER
    from adstage.retrieve.ingest import Source, open_or_create, sources_from_table
    from adstage.retrieve.ingest import ingest as run_ingest

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
        if not Catalog.exists(catalog):
            for name in names:
                _check_embedder(name)  # before the catalog fixes its embedders
        store = open_or_create(catalog, embedders=names)
        for row in bad:
            err.print(f"error: {row['path']}: {row['error']}")
        config = {
            "embedders": store.embedders,
            "labels": str(labels) if labels else None,
            "staged": staged,
            "segmenter": segmenter,
            "work_side": work_side,
            "max_pixels": max_pixels,
        }
        write_run_record(catalog, command="ingest", config=config)
        rows_before = len(store)
        states: dict[str, int] = {"added": 0, "skipped": 0}

        def count(source: Source, state: str) -> None:
            if state in states:
                states[state] += 1

        report = run_ingest(
            store,
            progress(sources, len(sources), "ingest", enabled=not as_json),
            on_item=count,
            batch_size=batch_size,
            segmenter=segmenter,
            workers=workers,
            work_side=work_side or None,
            max_pixels="default" if max_pixels is None else max_pixels,
        )
        summary: dict[str, Any] = states | {"slots": len(store) - rows_before}
        summary["failed"] = report.failed
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    failed = summary["failed"]
    for row in failed:  # the reason; an unexpected exception's traceback is in failures.jsonl
        err.print(f"error: {row['path']}: {row['error']}")
    summary |= {"bad_rows": bad, "catalog": str(catalog), "rows": len(store)}
    write_run_record(
        catalog,
        command="ingest",
        config=config,
        summary={k: summary[k] for k in ("added", "skipped", "slots")}
        | {"failed": len(failed) + len(bad)},
    )
    if as_json:
        emit_json(summary)
    else:
        typer.echo(
            f"added {summary['added']} ({summary['slots']} slots), skipped {summary['skipped']},"
            f" failed {len(failed) + len(bad)};"
            f" {len(store)} rows in {catalog}"
        )
    if failed or bad:
        raise typer.Exit(1)


def retrieve(
    image: Annotated[Path, typer.Argument(help="The query product photo.")],
    catalog: CatalogDir = Path("catalog"),
    top_k: Annotated[int, top_k_option("How many results.", min=1)] = 5,
    where: Annotated[
        str | None,
        typer.Option(help="SQL filter, e.g. \"staged = true AND category LIKE 'Furniture%'\"."),
    ] = None,
    rerank: Annotated[
        bool, typer.Option(help="Shape-aware re-rank: prefer slots the product covers best.")
    ] = False,
    mask: Annotated[
        Path | None,
        typer.Option("--mask", "-m", help="The query's product mask (else it is segmented)."),
    ] = None,
    embedder: Annotated[str | None, embedder_option()] = None,
    segmenter: Segmenter = "auto",
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
) -> None:
    """The catalog slots most similar to the product in IMAGE (cosine of embeddings).

    A --where filter the catalog cannot run is a usage error (exit 2); an unreadable image or
    mask exits 1.
    """
    from adstage.catalog.store import Catalog
    from adstage.errors import AdstageError
    from adstage.io.images import read_image, read_mask
    from adstage.retrieve.search import retrieve as run_retrieve

    if not catalog.is_dir():
        err.print(f"error: --catalog: {catalog} is not a catalog folder (run adstage ingest first)")
        raise typer.Exit(2)
    try:
        store = Catalog(catalog)
    except AdstageError as exc:
        err.print(f"error: --catalog: {exc}")
        raise typer.Exit(2) from exc
    check_where(store, where)
    try:
        name = embedder or store.embedders[0]
        picture = read_image(image, max_pixels=limit(max_pixels))
        alpha = (
            read_mask(mask, resize_to=picture.shape[:2], max_pixels=limit(max_pixels))
            if mask is not None
            else None
        )
        hits = run_retrieve(
            picture,
            store,
            k=top_k,
            where=where,
            rerank=rerank,
            mask=alpha,
            embedder=name,
            segmenter=segmenter,
        )
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
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
