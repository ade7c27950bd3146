"""``adstage stage``: copy-paste staging of product photos into the catalog's scenes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from adstage.cli._common import (
    AsJson,
    Batch,
    Inpainter,
    Inputs,
    MaxPixels,
    NoShadow,
    Overwrite,
    Recursive,
    Resume,
    Segmenter,
    check_where,
    embedder_option,
    err,
    image_paths,
    limit,
    out_option,
    renamed,
    run_batch,
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


def stage(
    ctx: typer.Context,
    inputs: Inputs,
    catalog: Annotated[
        Path | None,
        typer.Option("--catalog", "-c", help="Catalog folder (LanceDB); copy-paste only."),
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            "--method", help="copy-paste (retrieve, inpaint, paste) or vanilla (pix2pix)."
        ),
    ] = "copy-paste",
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="pix2pix checkpoint (file or training folder); vanilla only."),
    ] = None,
    out: Annotated[Path, out_option("Output folder.")] = Path("staged"),
    top_k: Annotated[int, top_k_option("Candidates per product.", min=1)] = 3,
    inpainter: Inpainter = DEFAULT_INPAINTER,
    aspect: Aspect = None,
    fit: Fit = "footprint",
    where: Annotated[str | None, typer.Option(help="Extra SQL filter on the catalog.")] = None,
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
    animate: Annotated[
        bool,
        typer.Option("--animate", help="Also write candidate-<i>.mp4: a 3 s parallax loop (sway)."),
    ] = False,
    critic: Annotated[
        Path | None,
        typer.Option(
            help="A realism critic (.npz, from `adstage eval realism -o`): rank candidates by it."
        ),
    ] = None,
    min_realism: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="With --critic: refuse candidates it scores below this."
        ),
    ] = None,
    screen: ScreenSlots = True,
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
    box: Annotated[
        str | None,
        typer.Option(
            "--box",
            help="x0,y0,x1,y1: segment only inside this box (a product photographed in the wild: "
            "on a table, in a hand); one input image only.",
        ),
    ] = None,
    check_cutout: CheckCutout = True,
    free_space: FreeSpace = True,
    free_space_first: FreeSpaceFirst = True,
    cut_by_frame: CutByFrame = True,
    closeup: Closeup = True,
    kind: ProductKind = None,
    height_cm: Annotated[
        float | None,
        typer.Option(
            "--height-cm",
            help="The product's own height in cm, when the catalog knows it (needs --kind): a "
            "floor-standing kind's size check uses it instead of the kind's broad range, and a "
            "box or basket is size-checked with it where it stands on the floor.",
        ),
    ] = None,
    overwrite: Overwrite = False,
    recursive: Recursive = False,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
    _format: Annotated[str | None, renamed("--format", new="--aspect", dest="aspect")] = None,
    _image_format: Annotated[
        str | None, renamed("--image-format", new="--container", dest="container")
    ] = None,
    _resume: Resume = False,
) -> None:
    """Stage each product into the most similar staged scenes of the catalog (Ku et al. 2023).

    Writes OUT/<stem>/candidate-<i>.<ext>, manifest.json and index.html per product, and
    OUT/index.html; with --animate also candidate-<i>.mp4 (the manifest's "video"). Products
    already done (manifest present) are skipped unless --overwrite. A product that fails gets an
    error line and a row (with its traceback) in OUT/failures.jsonl, and the batch goes on.

    --method vanilla generates the whole scene with a trained pix2pix (--checkpoint; see
    ``adstage train pix2pix``), the paper's baseline: one candidate, no catalog.
    """
    if method not in ("copy-paste", "vanilla"):
        err.print(f"error: --method: expected copy-paste or vanilla, got {method!r}")
        raise typer.Exit(2)
    if refine_base is not None and method == "vanilla":
        err.print("error: --refine-base: only for --method copy-paste (it re-draws around a paste)")
        raise typer.Exit(2)
    spec = refine_spec(ctx, product_exact=product_exact)
    shadow = shadow_strength(shadow, no_shadow)
    if method == "vanilla":
        if animate:
            err.print("error: --animate: only for --method copy-paste (it moves a pasted product)")
            raise typer.Exit(2)
        _stage_vanilla(
            inputs,
            checkpoint=checkpoint,
            out=out,
            segmenter=segmenter,
            container=container,
            overwrite=overwrite,
            recursive=recursive,
            max_pixels=max_pixels,
            as_json=as_json,
        )
        return
    if catalog is None:
        err.print("error: --catalog: required for --method copy-paste (run adstage ingest first)")
        raise typer.Exit(2)
    from adstage.catalog.store import Catalog
    from adstage.errors import AdstageError
    from adstage.io.gallery import Cell, Gallery
    from adstage.io.images import read_image
    from adstage.provenance import write_run_record
    from adstage.stage.outputs import manifest_path, write_staged
    from adstage.stage.pipeline import StageOptions
    from adstage.stage.pipeline import stage as run_stage
    from adstage.stage.screen import Screen

    if not catalog.is_dir():
        err.print(f"error: --catalog: {catalog} is not a catalog folder (run adstage ingest first)")
        raise typer.Exit(2)
    if min_realism is not None and critic is None:
        err.print("error: --min-realism: needs --critic (a realism critic file)")
        raise typer.Exit(2)
    try:
        refiner = None if spec is None else spec.load()
    except AdstageError as exc:
        err.print(f"error: {refine_message(exc)}")
        raise typer.Exit(2) from exc
    try:
        refine_record = None if spec is None else spec.record()
        judge = None
        if critic is not None:
            from adstage.evaluate.realism import RealismCritic

            judge = RealismCritic.load(critic)
        options = StageOptions(
            k=top_k,
            inpainter=inpainter,
            ad_format=aspect,
            fit=fit,
            where=where,
            segmenter=segmenter,
            embedder=embedder,
            harmonize=harmonize,
            light=light,
            shade=shade,
            edges=edges,
            product_exact=product_exact,
            shadow=shadow,
            max_side=max_side or None,
            realism=judge.score_image if judge is not None else None,
            min_realism=min_realism,
            screen=Screen() if screen else None,
            free_space=free_space,
            free_space_first=free_space_first,
            cut_by_frame=cut_by_frame,
            closeup=closeup,
            kind=kind,
            height_cm=height_cm,
            check_cutout=check_cutout,
            refine=refiner,
        )
        store = Catalog(catalog)
        if embedder is not None and embedder not in store.embedders:
            raise AdstageError(
                f"--embedder: {embedder!r} is not in the catalog {catalog}; it has "
                f"{', '.join(store.embedders)}"
            )
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    check_where(store, where)
    warn_unknown_kind(kind)
    paths = image_paths(inputs, recursive=recursive)
    prompt = None
    if box is not None:
        from adstage.segment.prompt import parse_box

        try:
            if len(paths) != 1:
                raise AdstageError(f"--box: needs exactly one input image, got {len(paths)}")
            prompt = parse_box(box)
        except AdstageError as exc:
            err.print(f"error: {exc}")
            raise typer.Exit(2) from exc
    config = dict(options.__dict__) | {
        "box": box,
        "realism": None if judge is None else {"critic": str(critic), "features": judge.features},
        "refine": refine_record,
        "screen": None if options.screen is None else options.screen.as_dict(),
        "method": method,
        "catalog": str(catalog),
        "container": container,
        "animate": animate,
        "max_pixels": max_pixels,
    }
    write_run_record(out, command="stage", config=config)
    batch = Batch("stage", out, as_json)

    def one(path: Path, stem: str) -> dict[str, Any]:
        product = read_image(path, max_pixels=limit(max_pixels))
        staged = run_stage(product, store, box=prompt, **options.__dict__)
        videos = _animate(staged, out / stem, inpainter) if animate else []
        manifest = write_staged(
            staged,
            out,
            stem,
            source=str(path),
            image_format=container,
            videos=videos or None,
        )
        best = manifest["candidates"][0]
        return {
            "manifest": str(manifest_path(out, stem)),
            "best": str(out / stem / best["path"]),
            "score": best["score"],
        }

    stems = run_batch(
        paths,
        one,
        batch,
        description="stage",
        finished=lambda stem: _finished(out, stem),
        overwrite=overwrite,
    )
    _index(out, stems, Gallery, Cell)
    write_run_record(out, command="stage", config=config, summary=batch.summary())
    if not as_json:
        typer.echo(
            f"staged {batch.done} products, skipped {batch.skipped} (done before), "
            f"{len(batch.failed)} failed; see {out / 'index.html'}"
        )
    batch.exit()


def _finished(out: Path, stem: str) -> Path | None:
    from adstage.stage.outputs import manifest_path

    done = manifest_path(out, stem)
    return done if done.exists() else None


def _stage_vanilla(
    inputs: list[Path],
    *,
    checkpoint: Path | None,
    out: Path,
    segmenter: str,
    container: str,
    overwrite: bool,
    recursive: bool,
    max_pixels: int | None,
    as_json: bool,
) -> None:
    """--method vanilla: OUT/<stem>/candidate-0.<ext> and a manifest shaped like copy-paste's."""
    import time

    from adstage.errors import AdstageError
    from adstage.io.atomic import atomic_write_text
    from adstage.io.images import read_image, write_image
    from adstage.provenance import versions, write_run_record
    from adstage.stage.outputs import manifest_path

    if checkpoint is None:
        err.print(
            "error: --checkpoint: required for --method vanilla "
            "(a pix2pix checkpoint; train one with adstage train pix2pix)"
        )
        raise typer.Exit(2)
    try:
        from adstage.segment import SEGMENTERS
        from adstage.stage.vanilla import VanillaStager

        stager = VanillaStager(checkpoint)
        seg = SEGMENTERS.create(segmenter)
    except AdstageError as exc:
        err.print(f"error: --checkpoint: {str(exc).splitlines()[0]}")
        raise typer.Exit(2) from exc
    paths = image_paths(inputs, recursive=recursive)
    config = {
        "method": "vanilla",
        "checkpoint": str(checkpoint),
        "segmenter": segmenter,
        "container": container,
        "max_pixels": max_pixels,
    }
    write_run_record(out, command="stage", config=config)
    batch = Batch("stage", out, as_json)

    def one(path: Path, stem: str) -> dict[str, Any]:
        t = time.perf_counter()
        image = read_image(path, max_pixels=limit(max_pixels))
        segmentation = seg(image)
        t_segment = time.perf_counter() - t
        staged = stager(image, segmentation.alpha)
        name = f"candidate-0.{container}"
        write_image(out / stem / name, staged.image)
        write_image(out / stem / "input.png", segmentation.cutout(image).rgba)
        manifest = {
            "input": str(path),
            "method": "vanilla",
            "candidates": [
                {
                    "path": name,
                    "score": None,
                    "catalog_id": None,
                    "slot": None,
                    "placement": list(staged.placement),
                    "seconds": {
                        k: round(v, 4) for k, v in {"segment": t_segment, **staged.seconds}.items()
                    },
                    "provenance": staged.provenance,
                }
            ],
            "errors": [],
            "provenance": {
                "method": "vanilla",
                "segmenter": segmentation.provenance.get("auto", {}).get(
                    "chosen", segmentation.backend
                ),
                "checkpoint": staged.provenance["checkpoint"],
                "step": staged.provenance["step"],
            },
            "versions": versions(),
        }
        done = manifest_path(out, stem)
        atomic_write_text(done, json.dumps(manifest, indent=2, default=str) + "\n")
        return {"manifest": str(done), "best": str(out / stem / name), "score": None}

    run_batch(
        paths,
        one,
        batch,
        description="stage (vanilla)",
        finished=lambda stem: _finished(out, stem),
        overwrite=overwrite,
    )
    write_run_record(out, command="stage", config=config, summary=batch.summary())
    if not as_json:
        typer.echo(
            f"staged {batch.done} products with pix2pix, skipped {batch.skipped} (done before), "
            f"{len(batch.failed)} failed in {out}"
        )
    batch.exit()


def _animate(staged: Any, folder: Path, inpainter: str) -> list[str]:
    """candidate-<i>.mp4 for each candidate, moving the pasted product (Ku et al. §5.4)."""
    from adstage.animate import animate, candidate_alpha

    names = []
    for i, cand in enumerate(staged.candidates):
        name = f"candidate-{i}.mp4"
        alpha = candidate_alpha(cand, staged.product)
        animate(cand.image, alpha, folder / name, size=None, inpainter=inpainter)
        names.append(name)
    return names


def _index(out: Path, stems: dict[str, Path], gallery_cls: Any, cell_cls: Any) -> None:
    """OUT/index.html: each product and its best candidates, linking to its contact sheet."""
    import html

    out.mkdir(parents=True, exist_ok=True)
    gallery = gallery_cls(
        title="adstage: staged products",
        columns=["product", "#0", "#1", "#2"],
        lead="Best candidates first; the product name links to its contact sheet.",
    )
    for stem in sorted(stems):
        manifest = out / stem / "manifest.json"
        if not manifest.exists():
            continue
        data = json.loads(manifest.read_text())
        cells = [cell_cls(f"{stem}/input.png", stem, checker=True)]
        for i in range(3):
            cands = data["candidates"]
            cells.append(
                cell_cls(f"{stem}/{cands[i]['path']}", f"#{i}")
                if i < len(cands)
                else cell_cls(text="")
            )
        gallery.add(cells, f'<a href="{html.escape(stem)}/index.html">{html.escape(stem)}</a>')
    gallery.write(out / "index.html")
