"""``adstage stage``: copy-paste staging of product photos into the catalog's scenes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from adstage.cli._common import AsJson, Inputs, Recursive, emit_json, err, progress


def stage(
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
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("staged"),
    k: Annotated[int, typer.Option("-k", min=1, help="Candidates per product.")] = 3,
    inpainter: Annotated[
        str, typer.Option(help="Inpainting backend: hybrid, ns, telea, patchmatch.")
    ] = "hybrid",
    ad_format: Annotated[
        str | None, typer.Option("--format", help="Ad aspect ratio: 1:1, 4:5, 1.91:1, 9:16.")
    ] = None,
    fit: Annotated[
        str, typer.Option(help="Scale to the slot by footprint, height, width, area.")
    ] = "footprint",
    where: Annotated[str | None, typer.Option(help="Extra SQL filter on the catalog.")] = None,
    segmenter: Annotated[str, typer.Option(help="Segmentation backend for products.")] = "auto",
    harmonize: Annotated[float, typer.Option(min=0.0, max=1.0, help="Colour harmonisation.")] = 0.0,
    shadow: Annotated[float, typer.Option(min=0.0, max=1.0, help="Contact shadow strength.")] = 0.0,
    max_side: Annotated[
        int, typer.Option(min=0, help="Downscale scenes to this longer side (0: as they are).")
    ] = 0,
    image_format: Annotated[str, typer.Option("--image-format", help="png, jpg or webp.")] = "png",
    animate: Annotated[
        bool,
        typer.Option("--animate", help="Also write candidate-<i>.mp4: a 3 s parallax loop (sway)."),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Redo products that already have a manifest.")
    ] = False,
    recursive: Recursive = False,
    as_json: AsJson = False,
) -> None:
    """Stage each product into the most similar staged scenes of the catalog (Ku et al. 2023).

    Writes OUT/<stem>/candidate-<i>.<ext>, manifest.json and index.html per product, and
    OUT/index.html; with --animate also candidate-<i>.mp4 (the manifest's "video"). Products
    already done (manifest present) are skipped unless --overwrite.

    --method vanilla generates the whole scene with a trained pix2pix (--checkpoint; see
    ``adstage train pix2pix``), the paper's baseline: one candidate, no catalog.
    """
    if method not in ("copy-paste", "vanilla"):
        err.print(f"error: --method: expected copy-paste or vanilla, got {method!r}", markup=False)
        raise typer.Exit(2)
    from adstage.stage.outputs import FORMATS

    if image_format not in FORMATS:
        err.print(
            f"error: --image-format: expected one of {', '.join(FORMATS)}, got {image_format!r}"
        )
        raise typer.Exit(2)
    if method == "vanilla":
        if animate:
            err.print("error: --animate: only for --method copy-paste (it moves a pasted product)")
            raise typer.Exit(2)
        _stage_vanilla(
            inputs,
            checkpoint=checkpoint,
            out=out,
            segmenter=segmenter,
            image_format=image_format,
            overwrite=overwrite,
            recursive=recursive,
            as_json=as_json,
        )
        return
    if catalog is None:
        err.print("error: --catalog: required for --method copy-paste (run adstage ingest first)")
        raise typer.Exit(2)
    from adstage.catalog.store import Catalog
    from adstage.errors import AdstageError
    from adstage.io.gallery import Cell, Gallery
    from adstage.io.images import iter_image_paths
    from adstage.stage.outputs import write_staged
    from adstage.stage.pipeline import StageOptions
    from adstage.stage.pipeline import stage as run_stage

    if not catalog.is_dir():
        err.print(f"error: --catalog: {catalog} is not a catalog folder (run adstage ingest first)")
        raise typer.Exit(2)
    try:
        options = StageOptions(
            k=k,
            inpainter=inpainter,
            ad_format=ad_format,
            fit=fit,
            where=where,
            segmenter=segmenter,
            harmonize=harmonize,
            shadow=shadow,
            max_side=max_side or None,
        )
        paths = list(iter_image_paths(inputs, recursive=recursive))
        store = Catalog(catalog)
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc

    def one(path: Path, stem: str) -> dict[str, Any]:
        staged = run_stage(path, store, **options.__dict__)
        videos = _animate(staged, out / stem, inpainter) if animate else []
        manifest = write_staged(
            staged,
            out,
            stem,
            source=str(path),
            image_format=image_format,
            videos=videos or None,
        )
        best = manifest["candidates"][0]
        return {"best": best["path"], "score": best["score"]}

    _batch(
        paths,
        out,
        one,
        overwrite=overwrite,
        as_json=as_json,
        summary=lambda ok, bad: f"staged {ok} products, {bad} failed; see {out / 'index.html'}",
        after=lambda stems: _index(out, stems, Gallery, Cell),
    )


def _stage_vanilla(
    inputs: list[Path],
    *,
    checkpoint: Path | None,
    out: Path,
    segmenter: str,
    image_format: str,
    overwrite: bool,
    recursive: bool,
    as_json: bool,
) -> None:
    """--method vanilla: OUT/<stem>/candidate-0.<ext> and a manifest shaped like copy-paste's."""
    import time

    from adstage.errors import AdstageError
    from adstage.io.atomic import atomic_write_text
    from adstage.io.images import iter_image_paths, read_image, write_image
    from adstage.provenance import versions
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
        err.print(f"error: --checkpoint: {str(exc).splitlines()[0]}", markup=False)
        raise typer.Exit(2) from exc
    paths = list(iter_image_paths(inputs, recursive=recursive))

    def one(path: Path, stem: str) -> dict[str, Any]:
        t = time.perf_counter()
        image = read_image(path)
        segmentation = seg(image)
        t_segment = time.perf_counter() - t
        staged = stager(image, segmentation.alpha)
        name = f"candidate-0.{image_format}"
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
        atomic_write_text(
            manifest_path(out, stem), json.dumps(manifest, indent=2, default=str) + "\n"
        )
        return {"best": name, "score": None}

    _batch(
        paths,
        out,
        one,
        overwrite=overwrite,
        as_json=as_json,
        summary=lambda ok, bad: f"staged {ok} products with pix2pix, {bad} failed in {out}",
    )


def _batch(
    paths: list[Path],
    out: Path,
    one: Callable[[Path, str], dict[str, Any]],
    *,
    overwrite: bool,
    as_json: bool,
    summary: Callable[[int, int], str],
    after: Callable[[dict[str, Path]], None] | None = None,
) -> None:
    """Stage each of ``paths`` with ``one(path, stem)`` (its result row's extra fields), skipping
    products whose manifest exists unless ``overwrite``. A failed product gets an ``error:`` line
    and a failures.jsonl row, and the batch goes on; exit 1 if any failed. ``after(stems)`` runs
    once the batch is done (the index page)."""
    from adstage.errors import AdstageError
    from adstage.stage.outputs import manifest_path

    stems: dict[str, Path] = {}
    results, failures = [], []
    for path in progress(paths, len(paths), "stage", enabled=not as_json):
        stem = _unique_stem(path, stems)
        done = manifest_path(out, stem)
        if done.exists() and not overwrite:
            results.append({"input": str(path), "manifest": str(done), "skipped": True})
            continue
        try:
            row = one(path, stem)
        except AdstageError as exc:
            failures.append(_failure(path, exc))
            continue
        results.append({"input": str(path), "manifest": str(done)} | row)
    if after is not None:
        after(stems)
    _record_failures(out, failures)
    if as_json:
        emit_json({"out": str(out), "staged": results, "failed": failures})
    else:
        typer.echo(summary(len(results), len(failures)))
    if failures:
        raise typer.Exit(1)


def _unique_stem(path: Path, stems: dict[str, Path]) -> str:
    """The output folder name for ``path``: its stem, made unique among ``stems`` (updated)."""
    stem = path.stem
    if stem in stems and stems[stem] != path:
        stem = f"{stem}-{len(stems)}"
    stems[stem] = path
    return stem


def _failure(path: Path, exc: Exception) -> dict[str, str]:
    """Print one ``error:`` line for ``path`` and return its failures.jsonl row."""
    reason = str(exc).splitlines()[0]
    if reason.startswith(f"{path}: "):  # the reader already named the file
        reason = reason[len(f"{path}: ") :]
    err.print(f"error: {path}: {reason}", markup=False)
    return {"input": str(path), "error": reason}


def _record_failures(out: Path, failures: list[dict[str, str]]) -> None:
    """Append the batch's failures to ``out/failures.jsonl``."""
    if not failures:
        return
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "failures.jsonl", "a", encoding="utf-8") as handle:
        for row in failures:
            handle.write(json.dumps(row) + "\n")


def _animate(staged, folder: Path, inpainter: str) -> list[str]:  # type: ignore[no-untyped-def]
    """candidate-<i>.mp4 for each candidate, moving the pasted product (Ku et al. §5.4)."""
    from adstage.animate import animate, candidate_alpha

    names = []
    for i, cand in enumerate(staged.candidates):
        name = f"candidate-{i}.mp4"
        alpha = candidate_alpha(cand, staged.product)
        animate(cand.image, alpha, folder / name, size=None, inpainter=inpainter)
        names.append(name)
    return names


def _index(out: Path, stems: dict[str, Path], gallery_cls, cell_cls) -> None:  # type: ignore[no-untyped-def]
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
