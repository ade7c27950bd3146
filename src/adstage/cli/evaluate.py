"""``adstage eval``: measure a stage. ``retrieval``: P@k / R@k on a catalog; ``fid``: FID and KID;
``realism``: a classifier two-sample test on crops around the product; ``lpips``: LPIPS between
paired images of two folders."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from adstage.cli._common import (
    AsJson,
    Batch,
    CatalogDir,
    MaxPixels,
    Recursive,
    accept_renamed,
    embedder_option,
    emit_json,
    err,
    limit,
    one_of,
    out_option,
    progress,
    renamed,
    top_k_option,
)

app = typer.Typer(help="Measure a stage on labelled data.", no_args_is_help=True)


@app.command("retrieval")
def retrieval(
    catalog: CatalogDir,
    embedder: Annotated[str | None, embedder_option()] = None,
    top_k: Annotated[str, top_k_option("Ranks, comma-separated.")] = "1,3,5",
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
    _k: Annotated[str | None, renamed("--k", new="-k/--top-k", dest="top_k")] = None,
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
        ks = [int(v) for v in top_k.split(",") if v.strip()]
    except ValueError:
        err.print(f"error: --top-k: expected comma-separated integers, got {top_k!r}")
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
    generated: Annotated[
        Path,
        typer.Argument(
            help="Folder of generated images, or an `adstage stage` output (its candidates)."
        ),
    ],
    kid: Annotated[bool, typer.Option("--kid/--no-kid", help="Also compute KID.")] = True,
    subset_size: Annotated[int, typer.Option(min=2, help="KID subset size.")] = 1000,
    subsets: Annotated[int, typer.Option(min=1, help="KID subsets.")] = 100,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 16,
    best: Annotated[
        bool,
        typer.Option(help="In a stage output, only each product's best candidate (#0)."),
    ] = False,
    recursive: Recursive = False,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
) -> None:
    """FID (Heusel et al. 2017) and KID (Bińkowski et al. 2018) between two image folders.

    Inception-V3 pool3 features of the whole images, pytorch-fid's 299² bilinear resize. A
    folder written by `adstage stage` (OUT/<stem>/manifest.json) gives the staged candidates its
    manifests list (not its contact-sheet panels). The images used are counted on stderr and in
    the output ("inputs"); unreadable ones are reported and left out (exit 1).
    """
    from adstage.errors import AdstageError
    from adstage.evaluate.fid import InceptionFeatures, fid_report
    from adstage.io.images import read_image

    batch = Batch("eval fid", None, as_json=False)  # --json: the one result, below

    def images(paths: Iterable[Path]) -> Iterator[Any]:
        for path in paths:
            try:
                yield read_image(path, max_pixels=limit(max_pixels))
            except Exception as exc:  # one unreadable image never stops the measure
                batch.fail(path, exc)

    sets: dict[str, list[Path]] = {}
    inputs: dict[str, dict[str, Any]] = {}
    for label, folder in (("real", real), ("generated", generated)):
        if not folder.is_dir():
            err.print(f"error: {label}: {folder} is not a folder")
            raise typer.Exit(2)
        sets[label], inputs[label] = _fid_inputs(folder, recursive=recursive, best=best)
        if len(sets[label]) < 2:
            err.print(f"error: {label}: {folder} holds {len(sets[label])} images, need >= 2")
            raise typer.Exit(2)
        err.print(f"{label}: {inputs[label]['description']}")
    try:
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
    result |= {"inputs": inputs, "failed": batch.failed}
    if as_json:
        emit_json(result)
    else:
        line = f"FID {result['fid']:.2f}"
        if kid:
            line += f"   KID {result['kid']:.4f} ± {result['kid_std']:.4f}"
        typer.echo(line + f"   ({result['n_real']} real, {result['n_gen']} generated)")
    batch.exit()


def _fid_inputs(folder: Path, *, recursive: bool, best: bool) -> tuple[list[Path], dict[str, Any]]:
    """The images of ``folder`` to measure and how they were found.

    A stage output (``<stem>/manifest.json`` per product) gives the candidates its manifests
    list, best first (only the best with ``best``); any other folder its image files.
    """
    from adstage.io.images import iter_image_paths

    manifests = sorted(folder.glob("*/manifest.json"))
    if not manifests:
        paths = sorted(iter_image_paths([folder], recursive=recursive))
        return paths, {
            "folder": str(folder),
            "kind": "images",
            "images": len(paths),
            "description": f"{folder}: {len(paths)} images",
        }
    paths = []
    unreadable = 0
    for manifest in manifests:
        try:
            candidates = json.loads(manifest.read_text())["candidates"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            unreadable += 1
            err.print(f"error: {manifest}: not a stage manifest ({type(exc).__name__}: {exc})")
            continue
        paths += [manifest.parent / c["path"] for c in candidates[: 1 if best else None]]
    which = "best candidates" if best else "staged candidates"
    return paths, {
        "folder": str(folder),
        "kind": "stage",
        "manifests": len(manifests) - unreadable,
        "images": len(paths),
        "description": f"{folder}: {len(paths)} {which} from {len(manifests) - unreadable} "
        "products' manifests (a stage output)",
    }


@app.command("realism")
def realism(
    real: Annotated[
        Path,
        typer.Argument(
            help="Real photos: a folder of images, or a labelled folder (labels.csv with mask_path)."
        ),
    ],
    fake: Annotated[
        Path,
        typer.Argument(help="Fakes: a folder of images, or an `adstage stage` output (manifests)."),
    ],
    features: Annotated[
        str,
        typer.Option(
            help="Crop features: inception-v3 (needs `adstage weights fetch inception-v3-fid`) "
            "or colour-gradient (no weights).",
            callback=accept_renamed(one_of("--features", ["inception-v3", "colour-gradient"])),
        ),
    ] = "inception-v3",
    real_boxes: Annotated[
        Path | None,
        typer.Option(help="CSV path,x0,y0,x1,y1 (paths relative to REAL): the boxes to crop."),
    ] = None,
    fake_boxes: Annotated[
        Path | None,
        typer.Option(help="CSV path,x0,y0,x1,y1 (paths relative to FAKE): the boxes to crop."),
    ] = None,
    crop_factor: Annotated[
        float, typer.Option(min=1.0, help="Crop side: this × the box's longer side.")
    ] = 1.5,
    crop_size: Annotated[int, typer.Option(min=32, help="Crops are resized to this side.")] = 299,
    splits: Annotated[int, typer.Option(min=1, help="Random train/test splits, averaged.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the splits.")] = 0,
    best: Annotated[
        bool,
        typer.Option(help="In a stage output, only each product's best candidate (#0)."),
    ] = False,
    out: Annotated[
        Path | None,
        out_option("Also fit a per-image critic on all the crops and save it here (.npz)."),
    ] = None,
    recursive: Recursive = False,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
) -> None:
    """Can a classifier tell the fakes from real photos? (Lopez-Paz & Oquab, ICLR 2017.)

    A classifier two-sample test on square crops around a box: in a stage output, each
    candidate's product placement; in a labelled folder (labels.csv with a mask_path column, as
    the dev data), each object's mask box; with --real-boxes/--fake-boxes, the listed boxes; in any
    other folder, each whole image. A logistic regression on the crops' features is trained on a
    random half and scored on the other (classes balanced; a stage output's candidates of one
    product stay on one side), over --splits splits. Prints the mean held-out accuracy (0.5 =
    indistinguishable), its exact 95 % interval and the binomial p-value against 0.5.
    """
    from adstage.errors import AdstageError
    from adstage.evaluate.realism import RealismCritic, c2st, crop_features, square_crop
    from adstage.io.images import read_image

    batch = Batch("eval realism", None, as_json=False)  # --json: the one result, below
    sets: dict[str, list[tuple[Path, Any, str]]] = {}
    inputs: dict[str, dict[str, Any]] = {}
    for label, folder, boxes in (("real", real, real_boxes), ("fake", fake, fake_boxes)):
        if not folder.is_dir():
            err.print(f"error: {label}: {folder} is not a folder")
            raise typer.Exit(2)
        try:
            sets[label], inputs[label] = _realism_inputs(
                folder, boxes, recursive=recursive, best=best
            )
        except AdstageError as exc:
            err.print(f"error: {label}: {exc}")
            raise typer.Exit(2) from exc
        if len(sets[label]) < 2:
            err.print(f"error: {label}: {folder} gives {len(sets[label])} crops, need >= 2")
            raise typer.Exit(2)
        err.print(f"{label}: {inputs[label]['description']}")
    try:
        extractor = crop_features(features)
        feats, groups = {}, {}
        for label, items in sets.items():
            crops, kept = [], []
            bar = progress(items, len(items), f"crops ({label})", enabled=not as_json)
            for path, box, group in bar:
                try:
                    image = read_image(path, max_pixels=limit(max_pixels))
                    if box is None:  # the whole image
                        box, factor = (0, 0, image.shape[1], image.shape[0]), 1.0
                    else:
                        factor = crop_factor
                    crops.append(square_crop(image, box, factor, crop_size))
                    kept.append(group)
                except Exception as exc:  # one unreadable image never stops the measure
                    batch.fail(path, exc)
            feats[label], groups[label] = extractor(crops), kept
        result = c2st(
            feats["real"],
            feats["fake"],
            features=extractor.name,
            groups_real=groups["real"],
            groups_fake=groups["fake"],
            splits=splits,
            seed=seed,
        ).as_dict()
        if out is not None:
            critic = RealismCritic.fit(
                feats["real"],
                feats["fake"],
                features=extractor.name,
                seed=seed,
                factor=crop_factor,
                size=crop_size,
                meta={"real": str(real), "fake": str(fake)},
            )
            result["critic"] = str(critic.save(out))
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
    result |= {"inputs": inputs, "failed": batch.failed}
    if as_json:
        emit_json(result)
    else:
        lo, hi = result["interval"]
        typer.echo(
            f"C2ST accuracy {result['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]   "
            f"p = {result['p_value']:.3g}   ({result['n_real']} real, {result['n_fake']} fake, "
            f"{result['features']} features)"
        )
        if out is not None:
            typer.echo(f"critic: {result['critic']}")
    batch.exit()


def _realism_inputs(
    folder: Path, boxes: Path | None, *, recursive: bool, best: bool
) -> tuple[list[tuple[Path, Any, str]], dict[str, Any]]:
    """``(image path, box or None for the whole image, group)`` per crop of ``folder``, and how
    they were found: a boxes CSV; a stage output (placements; group = product); a labelled folder
    (labels.csv with mask_path: mask boxes); else every image, whole."""
    import csv

    from adstage.errors import InputError
    from adstage.evaluate.realism import mask_box
    from adstage.io.images import read_mask

    info: dict[str, Any] = {"folder": str(folder)}
    if boxes is not None:
        try:
            with open(boxes, newline="") as handle:
                rows = list(csv.DictReader(handle))
            items = [
                (
                    folder / r["path"],
                    tuple(float(r[k]) for k in ("x0", "y0", "x1", "y1")),
                    r["path"],
                )
                for r in rows
            ]
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise InputError(
                f"{boxes}: expected a CSV with columns path,x0,y0,x1,y1 "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        return items, info | {
            "kind": "boxes",
            "crops": len(items),
            "description": f"{folder}: {len(items)} boxes from {boxes}",
        }
    manifests = sorted(folder.glob("*/manifest.json"))
    if manifests:
        items = []
        for manifest in manifests:
            try:
                candidates = json.loads(manifest.read_text())["candidates"]
                for c in candidates[: 1 if best else None]:
                    box = tuple(int(v) for v in c["placement"])
                    items.append((manifest.parent / c["path"], box, manifest.parent.name))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                err.print(f"error: {manifest}: not a stage manifest ({type(exc).__name__}: {exc})")
        which = "best candidates" if best else "staged candidates"
        return items, info | {
            "kind": "stage",
            "crops": len(items),
            "description": f"{folder}: {len(items)} {which} of {len(manifests)} products, "
            "cropped at their placements (a stage output)",
        }
    labels = folder / "labels.csv"
    if labels.is_file():
        with open(labels, newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("mask_path")]
        if rows:
            items = []
            for r in rows:
                try:
                    items.append(
                        (
                            folder / r["path"],
                            mask_box(read_mask(folder / r["mask_path"])),
                            r["path"],
                        )
                    )
                except Exception as exc:  # a bad mask drops its crop, said on stderr
                    err.print(f"error: {folder / r['mask_path']}: {exc}")
            return items, info | {
                "kind": "labelled",
                "crops": len(items),
                "description": f"{folder}: {len(items)} objects, cropped at their mask boxes "
                "(labels.csv)",
            }
    from adstage.io.images import iter_image_paths

    paths = sorted(iter_image_paths([folder], recursive=recursive))
    return [(p, None, str(p)) for p in paths], info | {
        "kind": "images",
        "crops": len(paths),
        "description": f"{folder}: {len(paths)} images, each taken whole",
    }


@app.command("lpips")
def lpips(
    a_dir: Annotated[Path, typer.Argument(help="Folder of images (e.g. the references).")],
    b_dir: Annotated[
        Path,
        typer.Argument(help="Folder of images to compare, paired with A's by file name."),
    ],
    net: Annotated[
        str,
        typer.Option(
            help="Backbone: alex (needs `adstage weights fetch lpips-alex`) or vgg (`lpips-vgg`).",
            callback=accept_renamed(one_of("--net", ["alex", "vgg"])),
        ),
    ] = "alex",
    masks: Annotated[
        Path | None,
        typer.Option(
            help="Folder of masks named like the pairs (1 = counts): each layer's distance is "
            "averaged with the mask, area-resized, as weights.",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """LPIPS v0.1 (Zhang et al., CVPR 2018) between the images of two folders, pair by pair.

    Files pair by name without the suffix (a/x.png with b/x.jpg); the two images of a pair must
    have one size (they are never resized). Files without a partner, pairs without a mask
    (with --masks) and pairs that cannot be measured are listed, and the exit code is then 1.
    Prints the mean over the measured pairs (lower = more alike); --json: the mean, the count,
    the backbone and the value of each pair.
    """
    from adstage.errors import AdstageError
    from adstage.evaluate.lpips import lpips_paths, pair_folders

    try:
        pairing = pair_folders(a_dir, b_dir, masks=masks)
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    if not pairing.pairs:
        err.print(
            f"error: no image pairs in {a_dir} and {b_dir} (files pair by name without the "
            f"suffix; {len(pairing.only_a)} only in A, {len(pairing.only_b)} only in B"
            + (f", {len(pairing.no_mask)} pairs without a mask in {masks}" if masks else "")
            + ")"
        )
        raise typer.Exit(2)
    for label, names in pairing.unpaired.items():
        if names:
            what = "without a mask" if label == "masks" else f"only in {label.upper()}"
            err.print(f"warning: {len(names)} {what}: {', '.join(names)}")
    try:
        report = lpips_paths(
            a_dir,
            b_dir,
            net=net,
            masks=masks,
            pairing=pairing,
            progress=lambda pairs: progress(pairs, len(pairs), "lpips", enabled=not as_json),
        )
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
    for name, why in report.failed.items():
        err.print(f"error: {name}: {why}")
    result = report.as_dict()
    if as_json:
        emit_json(result)
    elif report.mean is not None:
        typer.echo(
            f"LPIPS-{net} {report.mean:.4f} over {result['n']} pairs"
            + (f" (masked by {masks})" if masks else "")
        )
    if report.failed or any(pairing.unpaired.values()) or report.mean is None:
        raise typer.Exit(1)
