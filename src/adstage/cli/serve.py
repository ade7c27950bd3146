"""``adstage serve``: the staging service (HTTP API, job queue, web page) on uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adstage.cli._common import CatalogDir, err
from adstage.cli._staging import (
    REFINE_DEFAULTS,
    Device,
    RefineBase,
    RefineDtype,
    RefineMaxResolution,
    RefineProduct,
    RefinePrompt,
    RefineResolution,
    RefineSeed,
    RefineSteps,
    RefineStrength,
    refine_message,
    refine_spec,
)


def serve(
    ctx: typer.Context,
    catalog: CatalogDir,
    host: Annotated[
        str,
        typer.Option(
            "--host", help="The address to listen on (not loopback: needs $ADSTAGE_API_KEY)."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="The port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=64, help="Job threads in this process (models are shared)."
        ),
    ] = 2,
    work: Annotated[
        Path | None,
        typer.Option(
            "--work", help="Where job results go (default: a temporary folder removed at exit)."
        ),
    ] = None,
    refadgen: Annotated[
        Path | None,
        typer.Option(
            "--refadgen",
            help="A RefAdGen checkpoint: enables POST /v1/generate (with --refadgen-base).",
        ),
    ] = None,
    refadgen_base: Annotated[
        Path | None,
        typer.Option(
            "--refadgen-base", help="The checkpoint's base (SD-1.5 folder or tiny base folder)."
        ),
    ] = None,
    queue_size: Annotated[
        int, typer.Option("--queue-size", min=1, help="Waiting jobs before 429.")
    ] = 64,
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", min=0.01, help="Largest upload, in MB.")
    ] = 20.0,
    max_megapixels: Annotated[
        float, typer.Option("--max-megapixels", min=0.001, help="Largest upload, in megapixels.")
    ] = 40.0,
    job_timeout: Annotated[
        float, typer.Option("--job-timeout", min=1.0, help="Seconds a job may run.")
    ] = 300.0,
    sync_wait: Annotated[
        float,
        typer.Option(
            "--sync-wait", min=0.0, max=60.0, help="Seconds a POST waits before answering 202."
        ),
    ] = 1.0,
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
) -> None:
    """Serve segment, stage, animate (and generate, with --refadgen) over HTTP, with a web page
    at / and the OpenAPI page at /docs, until SIGTERM or Ctrl-C (graceful: running jobs get
    time to finish). The API key, when set, comes from $ADSTAGE_API_KEY; it is required for a
    host other than loopback. With --refine-base every stage job's candidates are re-drawn by
    that diffusion model (loaded at start; one refinement at a time: give it a GPU and a longer
    --job-timeout). See docs/service.md."""
    from adstage.errors import AdstageError, InputError

    spec = refine_spec(ctx, product_exact=False)

    try:
        from adstage.serve.app.app import serve as run
        from adstage.serve.app.config import ServiceConfig
        from adstage.serve.app.work import RefinerUnavailable
    except ImportError as exc:
        err.print(
            f"error: adstage serve needs the serve extra: pip install 'adstage[serve]' ({exc})"
        )
        raise typer.Exit(1) from exc
    try:
        config = ServiceConfig.from_env(
            catalog=catalog,
            host=host,
            work=work,
            workers=workers,
            queue_size=queue_size,
            max_upload_bytes=round(max_upload_mb * 1024 * 1024),
            max_pixels=round(max_megapixels * 1_000_000),
            job_timeout=job_timeout,
            sync_wait=sync_wait,
            refadgen=refadgen,
            refadgen_base=refadgen_base,
            refine=spec,
        )
    except InputError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    if spec is not None and not spec.gpu:
        err.print(
            f"note: --refine-base on the CPU takes minutes per candidate; stage jobs time out "
            f"after --job-timeout {job_timeout:g} s"
        )
    if spec is not None:
        err.print(f"loading the refiner from {refine_base} …")

    def ready() -> None:
        err.print(
            f"serving {catalog} on http://{host}:{port} ({workers} workers"
            + (", API key required" if config.api_key else "")
            + (", RefAdGen on" if refadgen else "")
            + (f", refining with {refine_base}" if refine_base else "")
            + "); SIGTERM or Ctrl-C stops"
        )

    try:
        run(config, port=port, on_ready=ready)
    except RefinerUnavailable as exc:  # its errors name the flag
        err.print(f"error: {refine_message(exc)}")
        raise typer.Exit(2) from exc
    except InputError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    except (AdstageError, OSError) as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
