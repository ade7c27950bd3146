"""``adstage dataset``: build training data sets (``build``: AdProd-style triplets for RefAdGen)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from adstage.cli._common import (
    AsJson,
    Batch,
    MaxPixels,
    Overwrite,
    Segmenter,
    emit_json,
    err,
    out_option,
    pixel_limit,
    progress,
)

app = typer.Typer(
    help="Build training data sets (build: AdProd-style triplets for RefAdGen).",
    no_args_is_help=True,
)


@app.command("build")
def build(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Sources: DIR (staged photos; its metadata.csv/labels.csv gives path, "
            "mask_path and labels such as category or room), FILE.csv (the same table), "
            "catalog:DIR (an adstage catalog's staged rows and slot masks), "
            "synthetic:N[:SEED] (N staged synthetic items with exact masks), or an image.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, out_option("The data set folder (DS).")],
    variants: Annotated[
        int,
        typer.Option(
            min=1,
            help="Product images per triplet: variant 0 is the product itself, odd ones "
            "new viewpoints, even ones degradations.",
        ),
    ] = 5,
    min_side: Annotated[
        int, typer.Option("--min-side", min=1, help="Filter photos whose shorter side is smaller.")
    ] = 256,
    max_side: Annotated[
        int, typer.Option("--max-side", min=8, help="Shrink larger photos to this longer side.")
    ] = 1024,
    captioner: Annotated[
        str, typer.Option(help="Caption backend: attributes (from labels, colours, light) or vlm.")
    ] = "attributes",
    segmenter: Segmenter = "auto",
    seed: Annotated[int, typer.Option(min=0, help="Seed of every augmentation.")] = 0,
    min_area: Annotated[
        float, typer.Option("--min-area", min=0.0, max=1.0, help="Filter smaller products.")
    ] = 0.02,
    max_area: Annotated[
        float, typer.Option("--max-area", min=0.0, max=1.0, help="Filter larger products.")
    ] = 0.85,
    duplicate_distance: Annotated[
        int,
        typer.Option(
            "--duplicate-distance",
            min=-1,
            help="Filter near-duplicates within this many bits of 256-bit dHash (-1: off).",
        ),
    ] = 12,
    max_text: Annotated[
        float,
        typer.Option(
            "--max-text", min=0.0, max=1.0, help="Filter photos whose text score is higher."
        ),
    ] = 0.04,
    test_fraction: Annotated[
        float, typer.Option("--test-fraction", min=0.0, max=0.99, help="Held-out share.")
    ] = 0.1,
    where: Annotated[
        list[str] | None,
        typer.Option(help="Keep table rows with COLUMN=VALUE (repeatable)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many photos per source.")
    ] = None,
    overwrite: Overwrite = False,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
) -> None:
    """Build an AdProd-style data set: per photo the ad, its product on white (pixel-aligned,
    with its mask), a description, and --variants augmented product images.

    Photos are filtered (reasons in DS/failures.jsonl): low resolution, near-duplicates, heavy
    text, empty / too small / too large masks. Output: DS/ads, masks, products, product_masks,
    items (one record per finished photo; a re-run skips them) and DS/manifest.parquet (one row
    per variant; split train/test by a hash of the photo's id). Exit 0 when every photo was built
    or filtered, 1 when some failed, 2 on a usage error.
    """
    from adstage.datasets.adprod import BuildConfig, Rejected, SourceItem, build_dataset, plan
    from adstage.errors import AdstageError, InputError
    from adstage.provenance import write_run_record

    try:
        config = BuildConfig(
            variants=variants,
            min_side=min_side,
            max_side=max_side,
            segmenter=segmenter,
            captioner=captioner,
            seed=seed,
            min_area=min_area,
            max_area=max_area,
            duplicate_distance=duplicate_distance,
            max_text=max_text,
            test_fraction=test_fraction,
            where=tuple(where or ()),
            limit=limit,
        )
        for spec in sources:
            plan(spec, where=config.where, limit=1)  # each source exists and can be listed
        from adstage.datasets.captions import CAPTIONERS

        caption = CAPTIONERS.create(captioner)
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc

    record_config: dict[str, Any] = {"sources": sources, "out": str(out)} | {
        k: v for k, v in vars(config).items() if k != "bounds"
    }
    record_config["bounds"] = vars(config.bounds)
    out.mkdir(parents=True, exist_ok=True)
    write_run_record(out, command="dataset build", config=record_config)
    batch = Batch("dataset build", None, as_json)  # the builder writes DS/failures.jsonl
    filtered = 0

    def on_item(item: SourceItem, status: str, outcome: Any) -> None:
        nonlocal filtered
        if status == "built":
            batch.ok({"path": item.source, "triplet": item.triplet, "rows": len(outcome["rows"])})
        elif status == "skipped":
            batch.skip({"path": item.source, "triplet": item.triplet})
        elif status == "filtered":
            filtered += 1
            assert isinstance(outcome, Rejected)
            if as_json:
                emit_json(
                    {
                        "path": item.source,
                        "triplet": item.triplet,
                        "filtered": outcome.filter,
                        "reason": str(outcome),
                    }
                )
        else:
            batch.fail(item.source, outcome)

    def iterate(items: list[SourceItem]) -> Any:
        if err.is_terminal or as_json:
            yield from progress(items, len(items), "dataset build", enabled=not as_json)
            return
        start, every = time.perf_counter(), max(1, len(items) // 10)
        for k, item in enumerate(items, 1):
            yield item
            if k % every == 0 and k < len(items):  # a line per tenth when stderr is a file
                eta = (time.perf_counter() - start) / k * (len(items) - k)
                err.print(f"dataset build: {k}/{len(items)} photos, about {eta:.0f} s left")

    try:
        with pixel_limit(max_pixels):
            report = build_dataset(
                sources,
                out,
                config,
                overwrite=overwrite,
                captioner=caption,
                iterate=iterate,
                on_item=on_item,
            )
    except InputError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    write_run_record(out, command="dataset build", config=record_config, summary=report.summary())
    if as_json:
        emit_json({"summary": report.summary()})
    else:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.filtered.items())) or "none"
        err.print(
            f"built {report.built}, skipped {report.skipped} (done before), filtered {filtered} "
            f"({reasons}), failed {report.failed}; {report.rows} rows in {report.manifest}"
        )
    batch.exit()
