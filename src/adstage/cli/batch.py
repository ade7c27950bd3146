"""``adstage batch stage`` and ``adstage batch ingest``: resumable jobs over a million items.

Both stream their items (a folder, a CSV or a Parquet file), skip what their manifest has done
for the same content and config, run the rest on ``--engine local`` (``--workers`` processes) or
``--engine ray`` (Ray Data, local or ``--address``), print one ``error:`` line per failed item
(its row in the manifest and in ``failures.jsonl`` keeps the traceback), a progress line with
ETA on stderr and a summary; exit 1 if any item failed. See docs/batch.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from adstage.cli._common import (
    FAILURES,
    AsJson,
    Inpainter,
    MaxPixels,
    NoShadow,
    Overwrite,
    Recursive,
    Segmenter,
    accept_renamed,
    append_failure,
    check_where,
    embedder_option,
    emit_json,
    err,
    limit,
    one_of,
    out_option,
    segmenter_option,
    shadow_option,
    shadow_strength,
    top_k_option,
)
from adstage.cli._staging import (
    REFINE_DEFAULTS,
    Aspect,
    CheckCutout,
    Closeup,
    Container,
    CutByFrame,
    Device,
    Edges,
    Fit,
    FreeSpace,
    FreeSpaceFirst,
    Harmonize,
    Light,
    MaxSide,
    ProductExact,
    ProductKind,
    RefineBase,
    RefineDtype,
    RefineMaxResolution,
    RefineProduct,
    RefinePrompt,
    RefineResolution,
    RefineSeed,
    RefineSteps,
    RefineStrength,
    ScreenSlots,
    Shade,
    refine_message,
    refine_spec,
    warn_unknown_kind,
)
from adstage.inpaint.base import DEFAULT_INPAINTER
from adstage.stage.pipeline import DEFAULT_EDGES, DEFAULT_LIGHT, DEFAULT_SHADE, DEFAULT_SHADOW

app = typer.Typer(
    help="Resumable batch jobs (staging, ingest) on local processes or Ray.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Products = Annotated[
    Path | None,
    typer.Option(
        "--products",
        help="A folder of images, or a CSV / Parquet file with a path column and optional "
        "mask, category and id columns (paths relative to the file); default: the catalog's "
        "own un-staged images.",
    ),
]
Engine = Annotated[
    str,
    typer.Option(
        "--engine",
        help="local (worker processes) or ray (Ray Data; pip install 'adstage[batch]').",
        callback=accept_renamed(one_of("--engine", ("local", "ray"))),
    ),
]
Address = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="With --engine ray: a running Ray cluster (e.g. ray://head:10001 or auto); "
        "default: a local Ray with --workers CPUs.",
    ),
]
Workers = Annotated[int, typer.Option("--workers", min=1, help="Worker processes (or Ray actors).")]
PerScene = Annotated[
    int | None,
    typer.Option(
        "--per-scene",
        min=1,
        help="Then pick one candidate per product so that at most this many products share a "
        "scene (OUT/spread.json, .csv, .html; see `adstage batch spread`); default: off.",
    ),
]
Chunk = Annotated[
    int,
    typer.Option(
        "--chunk", min=1, help="With --engine ray: items per Ray dataset (actors restart between)."
    ),
]


class _Report:
    """Per-item lines, ``failures.jsonl`` rows, ``--json`` records and a progress line with ETA
    (every few seconds on stderr, so logs stay readable)."""

    def __init__(self, command: str, failures: Path, total: int, as_json: bool) -> None:
        self.command = command
        self.failures = failures
        self.total = total
        self.as_json = as_json
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self.started = time.monotonic()
        self.shown = self.started

    def __call__(self, status: str, item: Any, outcome: Any) -> None:
        self.counts[status] += 1
        path = item.path or item.ref
        if status == "failed":
            err.print(f"error: {item.ref or path}: {outcome.error}")
            row = {
                "path": path,
                "ref": item.ref,
                "error": outcome.error,
                "type": outcome.error_type,
                "traceback": outcome.traceback,
            }
            append_failure(self.failures, row, self.command)
        if self.as_json:
            record: dict[str, Any] = {"path": path, "status": status}
            if item.id:
                record["id"] = item.id
            if outcome is not None and status == "failed":
                record["error"] = outcome.error
            elif outcome is not None:
                record |= outcome.result
            emit_json(record)
        now = time.monotonic()
        if now - self.shown >= 5.0:
            self.shown = now
            err.print(self.line(now))

    def line(self, now: float) -> str:
        seen = sum(self.counts.values())
        worked = self.counts["done"] + self.counts["failed"]
        elapsed = now - self.started
        rate = worked / elapsed if elapsed > 0 else 0.0
        left = max(self.total - seen, 0)
        eta = time.strftime("%H:%M:%S", time.gmtime(left / rate)) if rate > 0 else "?"
        return (
            f"{self.command}: {seen}/{self.total} ({self.counts['done']} done, "
            f"{self.counts['skipped']} skipped, {self.counts['failed']} failed) "
            f"{rate:.2f} items/s, ETA {eta}"
        )


def _engine_error(exc: Exception) -> typer.Exit:
    err.print(f"error: --engine: {exc}")
    return typer.Exit(2)


@app.command("stage")
def stage(
    ctx: typer.Context,
    catalog: Annotated[Path, typer.Option("--catalog", "-c", help="Catalog folder (LanceDB).")],
    out: Annotated[Path, out_option("Output folder (its manifest.sqlite makes re-runs resume).")],
    products: Products = None,
    where: Annotated[
        str | None, typer.Option(help="Extra SQL filter on the catalog's slots.")
    ] = None,
    engine: Engine = "local",
    address: Address = None,
    workers: Workers = 1,
    chunk: Chunk = 10_000,
    top_k: Annotated[int, top_k_option("Candidates per product.", min=1)] = 3,
    inpainter: Inpainter = DEFAULT_INPAINTER,
    aspect: Aspect = None,
    fit: Fit = "footprint",
    segmenter: Segmenter = "auto",
    embedder: Annotated[str | None, embedder_option()] = None,
    harmonize: Harmonize = 0.0,
    light: Light = DEFAULT_LIGHT,
    shade: Shade = DEFAULT_SHADE,
    edges: Edges = DEFAULT_EDGES,
    product_exact: ProductExact = False,
    shadow: Annotated[float, shadow_option(DEFAULT_SHADOW)] = DEFAULT_SHADOW,
    no_shadow: NoShadow = False,
    max_side: MaxSide = 0,
    container: Container = "png",
    screen: ScreenSlots = True,
    free_space: FreeSpace = True,
    free_space_first: FreeSpaceFirst = True,
    cut_by_frame: CutByFrame = True,
    closeup: Closeup = True,
    kind: ProductKind = None,
    check_cutout: CheckCutout = True,
    refine_base: RefineBase = None,
    refine_strength: RefineStrength = REFINE_DEFAULTS["strength"],
    refine_steps: RefineSteps = REFINE_DEFAULTS["steps"],
    refine_prompt: RefinePrompt = None,
    refine_seed: RefineSeed = REFINE_DEFAULTS["seed"],
    refine_resolution: RefineResolution = REFINE_DEFAULTS["resolution"],
    refine_max_resolution: RefineMaxResolution = REFINE_DEFAULTS["max_resolution"],
    refine_product: RefineProduct = False,
    device: Device = REFINE_DEFAULTS["device"],
    refine_dtype: RefineDtype = REFINE_DEFAULTS["dtype"],
    steps: Annotated[
        bool,
        typer.Option("--step-pictures", help="Also write the contact sheet's step-*.jpg pictures."),
    ] = False,
    overwrite: Overwrite = False,
    recursive: Recursive = False,
    max_pixels: MaxPixels = None,
    per_scene: PerScene = None,
    as_json: AsJson = False,
) -> None:
    """Stage every product of --products into the catalog's scenes; resumable.

    Writes OUT/items/<hash>/ per product (what `adstage stage` writes for one), OUT/manifest.sqlite
    (one row per product: content hash, config hash, status, files, error) and OUT/failures.jsonl.
    A re-run skips the products done with the same options (a renamed file too); a changed option
    stages them again. Exit 1 if any product failed.

    With --refine-base every worker process loads the diffusion model once (--workers N: N
    copies on the one --device; one GPU per actor: --engine ray); the base's files, by
    content, are part of the options.
    """
    from adstage.batch.items import catalog_items, count_items, iter_items
    from adstage.batch.manifest import MANIFEST
    from adstage.batch.runner import SetupFailed
    from adstage.batch.stage import stage_batch
    from adstage.catalog.store import Catalog
    from adstage.errors import AdstageError, BackendUnavailable
    from adstage.provenance import write_run_record
    from adstage.stage.screen import Screen

    if address is not None and engine != "ray":
        err.print("error: --address: only with --engine ray")
        raise typer.Exit(2)
    if not Catalog.exists(catalog):
        err.print(f"error: --catalog: {catalog} is not a catalog folder (run adstage ingest first)")
        raise typer.Exit(2)
    here = engine != "ray" or address is None  # a Ray cluster's driver may have no GPU
    spec = refine_spec(ctx, product_exact=product_exact, device_here=here)
    options: dict[str, Any] = {
        "k": top_k,
        "inpainter": inpainter,
        "ad_format": aspect,
        "fit": fit,
        "where": where,
        "segmenter": segmenter,
        "embedder": embedder,
        "harmonize": harmonize,
        "light": light,
        "shade": shade,
        "edges": edges,
        "product_exact": product_exact,
        "shadow": shadow_strength(shadow, no_shadow),
        "max_side": max_side or None,
        "screen": Screen() if screen else None,
        "free_space": free_space,
        "free_space_first": free_space_first,
        "cut_by_frame": cut_by_frame,
        "closeup": closeup,
        "kind": kind,
        "check_cutout": check_cutout,
        "refine": spec,
    }
    try:
        store = Catalog(catalog)
        if embedder is not None and embedder not in store.embedders:
            raise AdstageError(
                f"--embedder: {embedder!r} is not in the catalog {catalog}; it has "
                f"{', '.join(store.embedders)}"
            )
        if products is None:
            total, items = catalog_items(catalog)
        else:
            total = count_items(products, recursive=recursive)
            items = iter_items(products, recursive=recursive)
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    check_where(store, where)
    warn_unknown_kind(kind)
    config = options | {
        "screen": None if options["screen"] is None else options["screen"].as_dict(),
        "refine": None if spec is None else spec.record(device_here=here),
        "catalog": str(catalog),
        "products": "catalog (staged = false)" if products is None else str(products),
        "container": container,
        "steps": steps,
        "engine": engine,
        "workers": workers,
        "address": address,
    }
    write_run_record(out, command="batch stage", config=config)
    report = _Report("batch stage", out / FAILURES, total, as_json)
    try:
        summary = stage_batch(
            items,
            catalog,
            out,
            engine=engine,
            workers=workers,
            address=address,
            chunk=chunk,
            overwrite=overwrite,
            container=container,
            steps=steps,
            on_event=report,
            max_pixels=limit(max_pixels),
            **options,
        )
    except SetupFailed as exc:  # the refiner's errors name the flag
        err.print(f"error: a worker could not load its models: {refine_message(exc.reason)}")
        raise typer.Exit(2) from exc
    except BackendUnavailable as exc:
        raise _engine_error(exc) from exc
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    spread, spread_failed = None, False
    if per_scene is not None:  # over every product done, this run's and earlier runs'
        import sqlite3

        from adstage.batch.spread import spread_batch

        try:
            spread = spread_batch(out, per_scene, config=summary.config or None)
        except (AdstageError, OSError, sqlite3.Error) as exc:
            # the staging is done and recorded below; say why the picks are not
            err.print(f"error: --per-scene: {exc}")
            spread_failed = True
        if spread is not None:
            spread_failed = _report_spread(out, spread) > 0
            if not as_json:
                typer.echo(_spread_line(out, spread))
    _finish(out, "batch stage", config, summary, as_json, manifest=out / MANIFEST, spread=spread)
    if spread_failed:
        raise typer.Exit(1)


@app.command("spread")
def spread(
    out: Annotated[Path, typer.Argument(help="The output folder of `adstage batch stage`.")],
    per_scene: Annotated[
        int, typer.Option("--per-scene", min=1, help="At most this many products per scene.")
    ] = 2,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="The stage run's config hash (or a prefix; see manifest.sqlite); "
            "default: the most recent stage run.",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Pick one candidate per staged product so that no scene shows more than --per-scene.

    Each product is staged on its own, so the best candidates of a catalog can crowd into a few
    rooms. This picks, for every product done in OUT, one of its candidates (its best where the
    budget allows; deferred acceptance, products with the better candidate in a scene first) and
    writes OUT/spread.json, OUT/spread.csv (path, candidate file, rank, scene, over) and
    OUT/spread.html. The items are not touched; re-run it with another --per-scene at will.
    """
    from adstage.batch.spread import spread_batch
    from adstage.errors import AdstageError

    try:
        summary = spread_batch(out, per_scene, config=config)
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    unreadable = _report_spread(out, summary)
    if as_json:
        emit_json({"spread": summary})
    else:
        typer.echo(_spread_line(out, summary))
    if unreadable:
        raise typer.Exit(1)


def _report_spread(out: Path, summary: dict[str, Any]) -> int:
    """One ``error:`` line per item the spread could not read (stderr); how many."""
    for item in summary["unreadable"]:
        err.print(f"error: {out / item['item']}: {item['error']} (left out of the spread)")
    return len(summary["unreadable"])


def _spread_line(out: Path, summary: dict[str, Any]) -> str:
    from adstage.batch.spread import describe

    unreadable = summary["unreadable"]
    return (
        f"spread: {describe(summary)}"
        + (f"; {len(unreadable)} items unreadable" if unreadable else "")
        + f"; {out / 'spread.html'}"
    )


@app.command("ingest")
def ingest(
    catalog: Annotated[Path, typer.Option("--catalog", "-c", help="Catalog folder (LanceDB).")],
    inputs: Annotated[
        Path,
        typer.Option(
            "--inputs",
            help="A folder of scene photos, or a CSV / Parquet file with a path column and "
            "optional mask (or mask_path), category and staged columns.",
        ),
    ],
    embedder: Annotated[
        list[str] | None,
        embedder_option("Embedders of a new catalog (repeatable; default inception-v3)"),
    ] = None,
    engine: Engine = "local",
    address: Address = None,
    workers: Workers = 1,
    chunk: Chunk = 10_000,
    staged: Annotated[str, typer.Option(help="auto (triage), true or false.")] = "auto",
    segmenter: Annotated[
        str, segmenter_option("Segmentation backend for items without masks")
    ] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Images per catalog commit.")] = 32,
    work_side: Annotated[
        int, typer.Option(min=0, help="Longer side for ingest work, in pixels (0: full size).")
    ] = 512,
    overwrite: Overwrite = False,
    recursive: Recursive = False,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
) -> None:
    """Ingest scene photos into a catalog: workers segment and embed, the driver alone writes.

    Resumable: images already in the catalog are skipped (by content); rows are committed
    --batch-size images at a time, then their rows of CATALOG/batch-manifest.sqlite. A failed
    image gets an error line and a row in CATALOG/failures.jsonl; exit 1 if any failed.
    """
    from adstage.batch.ingest import MANIFEST, ingest_batch
    from adstage.batch.items import count_items, iter_items
    from adstage.errors import AdstageError, BackendUnavailable
    from adstage.provenance import write_run_record
    from adstage.retrieve.base import DEFAULT_EMBEDDER

    if staged not in ("auto", "true", "false"):
        err.print(f"error: --staged: expected auto, true or false, got {staged!r}")
        raise typer.Exit(2)
    if address is not None and engine != "ray":
        err.print("error: --address: only with --engine ray")
        raise typer.Exit(2)
    try:
        total = count_items(inputs, recursive=recursive)
        items = iter_items(inputs, recursive=recursive)
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    config: dict[str, Any] = {
        "inputs": str(inputs),
        "embedders": embedder or [DEFAULT_EMBEDDER],
        "staged": staged,
        "segmenter": segmenter,
        "work_side": work_side,
        "batch_size": batch_size,
        "engine": engine,
        "workers": workers,
        "address": address,
    }
    write_run_record(catalog, command="batch ingest", config=config)
    report = _Report("batch ingest", catalog / FAILURES, total, as_json)
    try:
        summary = ingest_batch(
            items,
            catalog,
            embedders=embedder or [DEFAULT_EMBEDDER],
            engine=engine,
            workers=workers,
            address=address,
            chunk=chunk,
            batch_size=batch_size,
            overwrite=overwrite,
            on_event=report,
            segmenter=segmenter,
            work_side=work_side or None,
            staged=None if staged == "auto" else staged == "true",
            max_pixels=limit(max_pixels),
        )
    except BackendUnavailable as exc:
        raise _engine_error(exc) from exc
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    _finish(catalog, "batch ingest", config, summary, as_json, manifest=catalog / MANIFEST)


def _finish(
    out: Path,
    command: str,
    config: dict[str, Any],
    summary: Any,
    as_json: bool,
    *,
    manifest: Path,
    spread: dict[str, Any] | None = None,
) -> None:
    from adstage.provenance import write_run_record

    counts = summary.as_dict()
    write_run_record(out, command=command, config=config, summary=counts)
    if as_json:
        emit_json(
            {"summary": counts, "manifest": str(manifest)}
            | ({} if spread is None else {"spread": spread})
        )
    else:
        typer.echo(
            f"{command}: {counts['done']} done, {counts['skipped']} skipped (done before), "
            f"{counts['failed']} failed in {counts['seconds']:.1f} s "
            f"({counts['items_per_second']:.2f} items/s); manifest {manifest}"
        )
    if summary.failed:
        raise typer.Exit(1)
