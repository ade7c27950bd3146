"""``adstage eval``: measure a stage. ``retrieval``: P@k / R@k on a catalog; ``fid``: FID and KID;
``realism``: a classifier two-sample test on crops around the product; ``lpips``: LPIPS between
paired images of two folders; ``fidelity``: product fidelity (bit-exactness, CIEDE2000) and
PSNR / SSIM / MS-SSIM of paired images; ``mp-lpips``: Magic Clothing's matched-points LPIPS;
``clip-score`` and ``image-reward``: text–image agreement and preference with the user's
checkpoints; ``report``: one HTML / Markdown / JSON report of staging, generation or inpainting
runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
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
        name = store.embedder_name(embedder)
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
    from adstage.evaluate.lpips import lpips_paths

    pairing = _pairs(a_dir, b_dir, masks=masks)
    report = _measured(
        lambda: lpips_paths(
            a_dir,
            b_dir,
            net=net,
            masks=masks,
            pairing=pairing,
            progress=lambda pairs: progress(pairs, len(pairs), "lpips", enabled=not as_json),
        )
    )
    result = report.as_dict()
    if as_json:
        emit_json(result)
    elif report.mean is not None:
        typer.echo(
            f"LPIPS-{net} {report.mean:.4f} over {result['n']} pairs"
            + (f" (masked by {masks})" if masks else "")
        )
    _exit_unless_complete(report.failed, pairing, measured=report.mean is not None)


@app.command("report")
def report(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="Run folders: `adstage stage` or `adstage generate` outputs, or folders with "
            "inpaint.jsonl (`adstage inpaint --json` records).",
            show_default=False,
        ),
    ],
    out: Annotated[Path | None, out_option("The report file (default: report.<format>).")] = None,
    container: Annotated[
        str | None,
        typer.Option(
            "--container",
            help="html (self-contained), md (images linked) or json (the numbers only); "
            "default: from the --out suffix, else html.",
            callback=accept_renamed(one_of("--container", ["html", "md", "json"])),
            show_default=False,
        ),
    ] = None,
    title: Annotated[str, typer.Option(help="The report's title.")] = "adstage report",
    extra: Annotated[
        list[Path] | None,
        typer.Option(
            "--extra",
            help="An `adstage eval retrieval --json` result to add (P/R@k); repeatable.",
            show_default=False,
        ),
    ] = None,
    max_rows: Annotated[
        int, typer.Option("--max-rows", min=0, help="At most this many image-grid rows.")
    ] = 40,
) -> None:
    """One report of several runs: metrics with 95 % intervals, plots and image grids.

    Staging runs compare with staging and generation runs (a grid row per product name), and
    inpainting runs with inpainting runs. Means carry a Student-t interval, rates Wilson's. The
    HTML embeds plots and JPEG thumbnails (at most 256 px a side); Markdown writes its plots
    into <name>_files/ beside the report and links the run images relative to it. Plots need
    matplotlib (pip install 'adstage[report]'); without it the report says so in their place.
    Exit 2 when a folder is not a run to report, is empty, or does not compare with the others.
    """
    from adstage.errors import AdstageError
    from adstage.evaluate.report import HINT, build_report, matplotlib_available, render

    suffixes = {".html": "html", ".htm": "html", ".md": "md", ".json": "json"}
    chosen = container or (suffixes.get(out.suffix.lower(), "html") if out else "html")
    target = out if out is not None else Path(f"report.{chosen}")
    try:
        built = build_report(runs, title=title, extra=extra or [], max_rows=max_rows)
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    try:
        written = render(built, target, chosen)
    except (AdstageError, OSError) as exc:
        err.print(f"error: {target}: {exc}")
        raise typer.Exit(1) from exc
    kinds = ", ".join(f"{r.label} ({r.kind})" for r in built.runs)
    err.print(f"{written}: {len(built.runs)} column(s): {kinds}")
    if chosen != "json" and not matplotlib_available():
        err.print(f"hint: the plots were left out; for them: {HINT}")


# --- CLIP-score and ImageReward: metrics on weights the user brings ---------------------------

_PromptsOption = Annotated[
    Path | None,
    typer.Option(
        "--prompts",
        help="CSV with columns path,prompt (paths relative to IMAGES_DIR): the prompt of each "
        "image; only the listed images are measured.",
    ),
]
_PromptOption = Annotated[
    str | None, typer.Option("--prompt", help="One prompt for every image of IMAGES_DIR.")
]


def _prompted_images(
    images_dir: Path, prompts: Path | None, prompt: str | None, *, recursive: bool
) -> list[tuple[Path, str]]:
    """``(image, prompt)`` pairs from ``--prompts CSV`` or ``--prompt TEXT``; usage errors
    (exit 2) for a missing folder, both or neither option, a bad CSV or nothing to measure."""
    import csv

    from adstage.io.images import iter_image_paths

    if not images_dir.is_dir():
        err.print(f"error: IMAGES_DIR: {images_dir} is not a folder")
        raise typer.Exit(2)
    if (prompts is None) == (prompt is None):
        err.print("error: give exactly one of --prompts CSV and --prompt TEXT")
        raise typer.Exit(2)
    if prompts is None:
        found = sorted(iter_image_paths([images_dir], recursive=recursive))
        pairs = [(p, str(prompt)) for p in found]
    else:
        try:
            with open(prompts, newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            pairs = [(images_dir / r["path"], str(r["prompt"])) for r in rows]
        except (OSError, KeyError, TypeError, ValueError) as exc:
            err.print(
                f"error: --prompts: {prompts}: expected a CSV with columns path,prompt "
                f"({type(exc).__name__}: {exc})"
            )
            raise typer.Exit(2) from exc
    if not pairs:
        err.print(f"error: no images to measure in {images_dir}")
        raise typer.Exit(2)
    return pairs


def _score_prompted(
    pairs: list[tuple[Path, str]],
    score: Any,
    *,
    batch: Batch,
    batch_size: int,
    max_pixels: int | None,
    label: str,
    quiet: bool,
) -> list[tuple[Path, str, float]]:
    """Read the images (a failed read goes to ``batch`` and the run goes on) and score them
    ``batch_size`` at a time with ``score(images, prompts) -> list[float]``."""
    from adstage.io.images import read_image

    done: list[tuple[Path, str, float]] = []
    chunk: list[tuple[Path, str, Any]] = []

    def flush() -> None:
        values = score([c[2] for c in chunk], [c[1] for c in chunk])
        done.extend((path, text, v) for (path, text, _), v in zip(chunk, values, strict=True))
        chunk.clear()

    for path, text in progress(pairs, len(pairs), label, enabled=not quiet):
        try:
            chunk.append((path, text, read_image(path, max_pixels=limit(max_pixels))))
        except Exception as exc:  # one unreadable image never stops the measure
            batch.fail(path, exc)
        if len(chunk) >= batch_size:
            flush()
    if chunk:
        flush()
    return done


@app.command("clip-score")
def clip_score_command(
    images_dir: Annotated[Path, typer.Argument(help="Folder of images.")],
    model: Annotated[
        Path,
        typer.Option(
            "--model",
            help="A Hugging Face CLIP folder you downloaded (e.g. openai/clip-vit-large-patch14: "
            "config.json, model.safetensors, vocab.json, merges.txt, tokenizer_config.json).",
        ),
    ],
    prompts: _PromptsOption = None,
    prompt: _PromptOption = None,
    prefix: Annotated[
        str, typer.Option(help='Text put before each prompt (Hessel et al.: "A photo depicts ").')
    ] = "",
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 16,
    recursive: Recursive = False,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
) -> None:
    """CLIP-score of each image for its prompt (Hessel et al., EMNLP 2021).

    Prints first the mean of 100·cos(image, text) (clamped at 0, as torchmetrics and
    RefAdGen's "CLIP 34.51" report it), then Hessel's CLIPScore 2.5·max(cos, 0), then each
    image's two values. --json: the means, "model" and the sha256 of its weight files, and
    per image path, prompt, cosine, clip_100 and clip_score. A missing --model folder exits 1
    with what to download; nothing is downloaded.
    """
    from adstage.errors import AdstageError, InputError
    from adstage.evaluate.clip_score import ClipScores, load_clip

    pairs = _prompted_images(images_dir, prompts, prompt, recursive=recursive)
    try:
        scorer = load_clip(model)
    except InputError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
    batch = Batch("eval clip-score", None, as_json=False)  # --json: the one result, below
    try:
        done = _score_prompted(
            pairs,
            lambda ims, texts: scorer.cosine(ims, texts, prefix=prefix).tolist(),
            batch=batch,
            batch_size=batch_size,
            max_pixels=max_pixels,
            label="clip-score",
            quiet=as_json,
        )
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
    scores = ClipScores([c for _, _, c in done], scorer.name, prefix, scorer.files)
    result = scores.as_dict()
    result["images"] = [
        {"path": str(path), "prompt": text, "cosine": c, "clip_100": c100, "clip_score": cs}
        for (path, text, c), c100, cs in zip(done, scores.clip_100, scores.clip_score, strict=True)
    ]
    result["failed"] = batch.failed
    if as_json:
        emit_json(result)
    elif done:
        typer.echo(
            f"CLIP (100·cos) {result['clip_100']:.2f}   CLIPScore (2.5·max(cos, 0)) "
            f"{result['clip_score']:.4f}   ({result['n']} images, {model})"
        )
        for item in result["images"]:
            typer.echo(f"  {item['path']}\t{item['clip_100']:.2f}\t{item['clip_score']:.4f}")
    if not done:
        err.print("error: no image could be measured")
        raise typer.Exit(1)
    batch.exit()


@app.command("image-reward")
def image_reward_command(
    images_dir: Annotated[Path, typer.Argument(help="Folder of images.")],
    checkpoint: Annotated[
        Path,
        typer.Option(
            "--checkpoint",
            help="ImageReward.pt from Hugging Face THUDM/ImageReward (a state dict).",
        ),
    ],
    med_config: Annotated[
        Path, typer.Option("--med-config", help="med_config.json from THUDM/ImageReward.")
    ],
    tokenizer: Annotated[
        Path,
        typer.Option(
            "--tokenizer",
            help="bert-base-uncased's vocab.txt, or a folder holding it "
            "(google-bert/bert-base-uncased).",
        ),
    ],
    prompts: _PromptsOption = None,
    prompt: _PromptOption = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 8,
    recursive: Recursive = False,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
) -> None:
    """ImageReward of each image for its prompt (Xu et al., NeurIPS 2023).

    BLIP ViT-L/16 + BERT with cross-attention + the released MLP head, normalised with the
    release's mean and std (RefAdGen's Table 3 reports 0.239). Prints the mean, then each
    image's reward. --json: the mean, "checkpoint" and the sha256 of the files read, and per
    image path, prompt and image_reward. A missing file exits 1 with where to get it; nothing is
    downloaded.
    """
    from adstage.errors import AdstageError, InputError
    from adstage.evaluate.image_reward import ImageRewards, load_image_reward

    pairs = _prompted_images(images_dir, prompts, prompt, recursive=recursive)
    try:
        scorer = load_image_reward(checkpoint, med_config, tokenizer)
    except InputError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
    batch = Batch("eval image-reward", None, as_json=False)  # --json: the one result, below
    try:
        done = _score_prompted(
            pairs,
            lambda ims, texts: scorer.rewards(ims, texts).tolist(),
            batch=batch,
            batch_size=batch_size,
            max_pixels=max_pixels,
            label="image-reward",
            quiet=as_json,
        )
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
    rewards = ImageRewards([r for _, _, r in done], scorer.checkpoint, scorer.files)
    result = rewards.as_dict()
    result["images"] = [
        {"path": str(path), "prompt": text, "image_reward": r} for path, text, r in done
    ]
    result["failed"] = batch.failed
    if as_json:
        emit_json(result)
    elif done:
        typer.echo(
            f"ImageReward {result['image_reward']:.4f}   ({result['n']} images, {checkpoint})"
        )
        for item in result["images"]:
            typer.echo(f"  {item['path']}\t{item['image_reward']:.4f}")
    if not done:
        err.print("error: no image could be measured")
        raise typer.Exit(1)
    batch.exit()


def _pairs(
    a_dir: Path,
    b_dir: Path,
    *,
    masks: Path | None = None,
    b_masks: Path | None = None,
    names: tuple[str, str] = ("A", "B"),
    b_masks_option: str = "--b-masks",
) -> Any:
    """The :class:`~adstage.evaluate.pairs.Pairing` of two folders for a paired metric, with its
    files left without a partner said on stderr; exit 2 when a folder is missing or nothing
    pairs. ``names``: how the two folders are called in the messages."""
    from adstage.errors import AdstageError
    from adstage.evaluate.pairs import pair_folders

    try:
        pairing = pair_folders(a_dir, b_dir, masks=masks, b_masks=b_masks)
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    if not pairing.pairs:
        err.print(
            f"error: no image pairs in {a_dir} and {b_dir} (files pair by name without the "
            f"suffix; {len(pairing.only_a)} only in {names[0]}, {len(pairing.only_b)} only in "
            f"{names[1]}"
            + (f", {len(pairing.no_mask)} pairs without a mask in {masks}" if masks else "")
            + (
                f", {len(pairing.no_b_mask or [])} pairs without a mask in {b_masks}"
                if b_masks
                else ""
            )
            + ")"
        )
        raise typer.Exit(2)
    what = {
        "a": f"only in {names[0]}",
        "b": f"only in {names[1]}",
        "masks": "without a mask",
        "b_masks": f"without a mask in {b_masks_option}",
    }
    for label, unpaired in pairing.unpaired.items():
        if unpaired:
            err.print(f"warning: {len(unpaired)} {what[label]}: {', '.join(unpaired)}")
    return pairing


def _print_failed(failed: dict[str, str]) -> None:
    """One ``error:`` line per pair a folder metric could not measure, with the reason."""
    for name, why in failed.items():
        err.print(f"error: {name}: {why}")


def _measured(measure: Callable[[], Any]) -> Any:
    """``measure()`` (a folder metric's report): an :class:`AdstageError` it raises (missing
    weights …) exits 1 with its message; the pairs it could not measure are printed."""
    from adstage.errors import AdstageError

    try:
        report = measure()
    except AdstageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
    _print_failed(report.failed)
    return report


def _exit_unless_complete(failed: dict[str, str], pairing: Any, *, measured: bool) -> None:
    """Exit 1 when a pair failed, a file had no partner, or nothing was measured."""
    if failed or any(pairing.unpaired.values()) or not measured:
        raise typer.Exit(1)


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@app.command("fidelity")
def fidelity(
    a_dir: Annotated[Path, typer.Argument(help="Folder of images (e.g. the inputs).")],
    b_dir: Annotated[
        Path,
        typer.Argument(help="Folder of images to compare (e.g. outputs), paired by file name."),
    ],
    masks: Annotated[
        Path | None,
        typer.Option(
            help="Folder of masks named like the pairs (1 = product): adds bit-exactness and "
            "CIEDE2000 inside the mask, and PSNR/SSIM/MS-SSIM inside it and in its edge band.",
        ),
    ] = None,
    band: Annotated[
        int, typer.Option(min=1, help="Half-width of the band around the mask's edge, px.")
    ] = 10,
    as_json: AsJson = False,
) -> None:
    """Product fidelity and image quality between the images of two folders, pair by pair.

    Whole image: PSNR, SSIM (Wang et al. 2004) and MS-SSIM (Wang et al. 2003; images of at
    least 176 px a side). With --masks: the share of the mask's pixels left bit-exact, CIEDE2000
    (Sharma et al. 2005) mean and 95th percentile inside the mask (sRGB → Lab D65), and PSNR /
    SSIM / MS-SSIM inside the mask and in the band of ±--band px around its edge. Files pair by
    name without the suffix; the two images of a pair must have one size (never resized). Prints
    the means and each pair's values; files without a partner and pairs that cannot be measured
    are listed, and the exit code is then 1. --json: the means, each pair's values (an infinite
    PSNR, identical pixels, is null).
    """
    from adstage.evaluate.fidelity import fidelity_paths

    pairing = _pairs(a_dir, b_dir, masks=masks)
    report = fidelity_paths(
        a_dir,
        b_dir,
        masks=masks,
        band=band,
        pairing=pairing,
        progress=lambda pairs: progress(pairs, len(pairs), "fidelity", enabled=not as_json),
    )
    _print_failed(report.failed)
    result = report.as_dict()
    if as_json:
        emit_json(result)
    elif report.per_image:
        columns = [
            ("psnr", "PSNR", 2),
            ("ssim", "SSIM", 4),
            ("ms_ssim", "MS-SSIM", 4),
            ("bit_exact", "exact", 4),
            ("delta_e00_mean", "ΔE00", 3),
            ("delta_e00_p95", "ΔE00 p95", 3),
            ("psnr_mask", "PSNR mask", 2),
            ("ssim_mask", "SSIM mask", 4),
            ("ms_ssim_mask", "MS-SSIM mask", 4),
            ("psnr_band", "PSNR band", 2),
            ("ssim_band", "SSIM band", 4),
            ("ms_ssim_band", "MS-SSIM band", 4),
        ]
        means = report.mean
        shown = [c for c in columns if means[c[0]] is not None]
        rows = [("mean", means), *((n, s.as_dict()) for n, s in report.per_image.items())]
        first = max(len(n) for n, _ in rows)
        widths = [max(len(label), 8) for _, label, _ in shown]
        typer.echo(
            f"fidelity over {result['n']} pairs"
            + (f" (masks {masks}, band ±{band} px)" if masks else "")
        )
        typer.echo(
            " ".join(
                [" " * first, *(lab.rjust(w) for (_, lab, _), w in zip(shown, widths, strict=True))]
            )
        )
        for name, values in rows:
            cells = (
                _number(values[key], digits).rjust(w)
                for (key, _, digits), w in zip(shown, widths, strict=True)
            )
            typer.echo(" ".join([name.ljust(first), *cells]))
    _exit_unless_complete(report.failed, pairing, measured=bool(report.per_image))


@app.command("mp-lpips")
def mp_lpips(
    gen_dir: Annotated[Path, typer.Argument(help="Folder of generated images.")],
    ref_dir: Annotated[
        Path, typer.Argument(help="Folder of reference product images, paired by file name.")
    ],
    masks: Annotated[
        Path,
        typer.Option(help="Folder of the references' product masks (1 = product), by name."),
    ],
    gen_masks: Annotated[
        Path | None,
        typer.Option(
            help="Folder of the generated images' product masks; default: the reference's mask "
            "(the product assumed where it is in the reference; then sizes must agree).",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """MP-LPIPS (Chen et al. 2024, Magic Clothing): LPIPS-alex between 33×33 patches at matched
    points of the reference product and the generated image, averaged (lower = details kept).

    Both images and masks are resized to 512²; query points on a 40-px grid inside the
    reference's mask are matched to the generated image by dense-feature cosine similarity; a
    match outside the generated image's mask (dilated 17 px) scores the LPIPS of white against
    black. The release matches with DIFT (Stable Diffusion 2.1 features), which needs weights not
    available here; this command matches with LPIPS-alex's own relu2+relu3 features, so its
    values are not comparable with published MP-LPIPS numbers (the matcher is printed and in
    --json). Needs `adstage weights fetch lpips-alex`.
    """
    from adstage.evaluate.mp_lpips import mp_lpips_paths

    pairing = _pairs(
        ref_dir,
        gen_dir,
        masks=masks,
        b_masks=gen_masks,
        names=("REF_DIR", "GEN_DIR"),
        b_masks_option="--gen-masks",
    )
    report = _measured(
        lambda: mp_lpips_paths(
            gen_dir,
            ref_dir,
            masks=masks,
            gen_masks=gen_masks,
            pairing=pairing,
            progress=lambda pairs: progress(pairs, len(pairs), "mp-lpips", enabled=not as_json),
        )
    )
    result = report.as_dict()
    if as_json:
        emit_json(result)
    elif report.mean is not None:
        typer.echo(
            f"MP-LPIPS {report.mean:.4f} over {result['n']} pairs (matcher {report.matcher}; "
            f"{result['penalised']} of {result['points']} points matched outside the product)"
        )
        first = max(len(n) for n in report.per_image)
        for name, row in report.per_image.items():
            typer.echo(
                f"  {name.ljust(first)} {row['mp_lpips']:.4f}  "
                f"({row['penalised']}/{row['points']} penalised)"
            )
    _exit_unless_complete(report.failed, pairing, measured=report.mean is not None)
