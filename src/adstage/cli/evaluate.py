"""``adstage eval``: measure a stage. ``retrieval``: P@k / R@k on a catalog; ``fid``: FID and KID."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adstage.cli._common import AsJson, emit_json, err, progress

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


@app.command("fid")
def fid(
    real: Annotated[Path, typer.Argument(help="Folder of real images.")],
    generated: Annotated[Path, typer.Argument(help="Folder of generated images.")],
    kid: Annotated[bool, typer.Option("--kid/--no-kid", help="Also compute KID.")] = True,
    subset_size: Annotated[int, typer.Option(min=2, help="KID subset size.")] = 1000,
    subsets: Annotated[int, typer.Option(min=1, help="KID subsets.")] = 100,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 16,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Recurse.")] = False,
    as_json: AsJson = False,
) -> None:
    """FID (Heusel et al. 2017) and KID (Bińkowski et al. 2018) between two image folders.

    Inception-V3 pool3 features of the whole images, pytorch-fid's 299² bilinear resize.
    Unreadable images are reported and left out; the counts used are in the output.
    """
    from adstage.errors import AdstageError
    from adstage.evaluate.fid import InceptionFeatures, fid_report
    from adstage.io.images import iter_image_paths, read_image

    failed: list[str] = []

    def images(paths):  # type: ignore[no-untyped-def]
        for path in paths:
            try:
                yield read_image(path)
            except AdstageError as exc:
                failed.append(str(exc))
                err.print(f"error: {exc}")

    try:
        sets = {}
        for label, folder in (("real", real), ("generated", generated)):
            if not folder.is_dir():
                err.print(f"error: {label}: {folder} is not a folder")
                raise typer.Exit(2)
            sets[label] = sorted(iter_image_paths([folder], recursive=recursive))
            if len(sets[label]) < 2:
                err.print(f"error: {label}: {folder} holds {len(sets[label])} images, need >= 2")
                raise typer.Exit(2)
        features = InceptionFeatures(batch_size=batch_size)
        feats = {}
        for label, paths in sets.items():
            bar = progress(paths, len(paths), f"features ({label})", enabled=not as_json)
            feats[label] = features(images(bar))
        result = fid_report(
            feats["real"], feats["generated"], kid=kid, subsets=subsets, subset_size=subset_size
        )
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
    result |= {"failed": failed}
    if as_json:
        emit_json(result)
    else:
        line = f"FID {result['fid']:.2f}"
        if kid:
            line += f"   KID {result['kid']:.4f} ± {result['kid_std']:.4f}"
        typer.echo(line + f"   ({result['n_real']} real, {result['n_gen']} generated)")
    if failed:
        raise typer.Exit(1)
