"""Inpainting benchmark on ../shared/data; writes benchmarks/results/inpaint.json.

    python benchmarks/inpaint.py                     # every backend, every set (~4 min)
    python benchmarks/inpaint.py --rooms 10          # fewer room scenes
    python benchmarks/inpaint.py --backends ns "hybrid:inner=4"   # variants: name:key=value,…
    python benchmarks/inpaint.py --sheets            # + contact sheets in benchmarks/.cache
    python benchmarks/inpaint.py --sets heldout_object --held-out RUN/held_out.txt --fid \
        --backends ns "ec=edgeconnect:checkpoint=RUN"   # a trained model on its held-out photos

Sets (issue "Inpainting"):

- ``places2_object``: ``inpainting-masks`` subset ``places2_512_object`` — object-shaped holes in
  Places2 photos (512 px on the long side), the masks shipped with MI-GAN.
- ``rooms_object``: product-shaped holes in ``ikea-room-scenes``. Each room is centre-cropped to a
  square and resized to 512²; the hole is the silhouette of an IKEA catalog product
  (``ikea-sa-products`` segmented with ``solid-background``), scaled to 30–55 % of the scene's
  height, standing in the lower part of the room, then dilated by 8 px (as a removed product's
  slot was until staging's default became 2 px; ``inpaint.json`` was measured with 8). The
  truth is the untouched room.
- ``rooms_square``: the same rooms with a centred 100×100 hole (the speed target of the issue:
  PatchMatch under 1 s for a 100×100 hole in a 512² image on one core).
- ``rooms_paste``: the staging case. The same slot, with another product aligned onto it
  (:func:`adstage.composite.align.align`) and the hole :func:`adstage.inpaint.hole_for_paste`:
  what the new product leaves uncovered. Products are paired at random, so these holes are
  larger than a shape-aware retrieval would leave.
- ``heldout_object`` (with ``--held-out``): the photos an ``adstage train inpaint`` run held out
  (its ``held_out.txt``), centre-cropped to ``--held-out-side``² (256), each with
  ``--holes-per-image`` (3) product-shaped holes placed as in ``rooms_object``
  (:func:`held_out_objects`). The set for comparing a trained EdgeConnect with the others.

Every backend gets the image with its hole zeroed, so none can see the truth, through
:func:`adstage.inpaint.inpaint` (crop around the hole, default margin), and must leave the pixels
outside the hole bit-exact (checked).

Per image and backend: PSNR and SSIM inside the hole and in the 10-px band (the hole pixels within
10 px of its edge, exact Euclidean distance), a texture ratio (mean gradient magnitude of the fill
over the truth's, inside the hole: 1 = as much detail as the truth, well below 1 = a smooth smear)
and seconds. PSNR, SSIM and the band are :mod:`adstage.evaluate.fidelity`'s (the implementation
``adstage eval fidelity`` uses): SSIM after Wang et al. 2004 (Gaussian window σ = 1.5, K1 = 0.01,
K2 = 0.03, per RGB channel), its map computed over the whole image (border reflected) and
averaged over the region's pixels; ``boundary_band(hole, 10, side="inside")``.
``--fid`` adds FID and KID (Inception-V3 pool3, :mod:`adstage.evaluate.fid`) of each backend's
results against the truths: ``whole`` images, and ``local``, the square around each hole's box
grown by a quarter of its side on each side (:func:`local_box`). ``--paired A B`` adds the mean
difference A − B of each PSNR/SSIM over the cases with a 95 % bootstrap interval over the photos
(:func:`paired`). Backends run interleaved image by
image; ``ratio_to_ns`` compares median seconds measured in the
same run (timings on a shared machine are noisy: compare ratios). The licensed images never leave
../shared/data; ``--sheets`` writes its contact sheets under benchmarks/.cache (never committed).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from _common import DATA, data_missing
from adstage.composite.align import align, render_mask
from adstage.evaluate.fidelity import boundary_band, psnr, ssim_map
from adstage.inpaint import DEFAULT_INPAINTER, INPAINTERS, hole_for_paste, inpaint
from adstage.io.atomic import atomic_write_bytes, atomic_write_text
from adstage.io.images import read_image, read_mask
from adstage.provenance import versions
from adstage.segment import SEGMENTERS

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.inpaint")
BAND_PX = 10
SCENE = 512


def rows(data: Path, name: str) -> list[dict[str, str]]:
    with open(data / name / "labels.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def parse_backend(spec: str) -> tuple[str, str, dict[str, Any]]:
    """``"name"``, ``"name:key=value,key=value"`` or ``"label=name:key=value,…"`` → (label,
    registry name, options). Without a label the spec itself labels the row."""
    label = spec
    head, eq, tail = spec.partition("=")
    if eq and ":" not in head:
        label, spec = head, tail
    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, _, raw = item.partition("=")
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        options[key] = value
    if name not in INPAINTERS:
        INPAINTERS.resolve(name)  # raises with the available names
    return label, name, options


# --------------------------------------------------------------------------------------------
# metrics


def gradient(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def scores(result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    ring = boundary_band(hole, BAND_PX, side="inside")
    smap = ssim_map(result, truth)
    inner = cv2.erode(hole.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    inner = inner if inner.any() else hole
    texture = float(gradient(result)[inner].mean()) / max(
        float(gradient(truth)[inner].mean()), 1e-6
    )
    return {
        "psnr_hole": psnr(result, truth, hole),
        "psnr_band": psnr(result, truth, ring),
        "ssim_hole": float(smap[hole].mean()),
        "ssim_band": float(smap[ring].mean()),
        "texture_ratio": texture,
    }


# --------------------------------------------------------------------------------------------
# test cases


def places2(data: Path) -> list[dict[str, Any]]:
    cases = []
    for r in rows(data, "inpainting-masks"):
        if r["category"] != "places2_512_object":
            continue
        image = read_image(data / "inpainting-masks" / r["path"])
        hole = read_mask(data / "inpainting-masks" / r["mask_path"], image.shape[:2]) >= 0.5
        cases.append({"id": r["path"], "image": image, "hole": hole})
    return cases


def square(image: np.ndarray, side: int = SCENE) -> np.ndarray:
    h, w = image.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    crop = image[y0 : y0 + s, x0 : x0 + s]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


def silhouettes(data: Path, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Product masks (cropped to the product) from IKEA catalog photos on white."""
    seg = SEGMENTERS.create("solid-background")
    items = rows(data, "ikea-sa-products")
    picks = rng.permutation(len(items))
    masks: list[np.ndarray] = []
    for i in picks:
        mask = seg(read_image(data / "ikea-sa-products" / items[i]["path"])).mask
        if not 0.05 < mask.mean() < 0.9:
            continue
        ys, xs = np.nonzero(mask)
        masks.append(mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
        if len(masks) == n:
            break
    return masks


def place(shape: np.ndarray, rng: np.random.Generator, side: int = SCENE) -> np.ndarray:
    """A product silhouette scaled and standing in the lower part of a ``side``² scene."""
    h, w = shape.shape
    height = rng.uniform(0.30, 0.55) * side
    scale = min(height / h, 0.6 * side / w)
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    scaled = cv2.resize(shape.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    bottom = int(rng.uniform(0.75, 0.98) * side)
    top = max(0, bottom - size[1])
    left = int(rng.uniform(0.05 * side, 0.95 * side - size[0]))
    canvas = np.zeros((side, side), bool)
    canvas[top : top + size[1], left : left + size[0]] = scaled[: side - top]
    return canvas


def rooms(
    data: Path, n: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    items = rows(data, "ikea-room-scenes")
    stride = max(1, len(items) // n)
    chosen = items[::stride][:n]
    shapes = silhouettes(data, 2 * len(chosen), rng)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (17, 17))
    objects, pastes, squares = [], [], []
    centre = np.zeros((SCENE, SCENE), bool)
    centre[SCENE // 2 - 50 : SCENE // 2 + 50, SCENE // 2 - 50 : SCENE // 2 + 50] = True
    for i, r in enumerate(chosen):
        room = square(read_image(data / "ikea-room-scenes" / r["path"]))
        squares.append({"id": r["path"], "image": room, "hole": centre})
        slot = place(shapes[2 * i], rng)
        hole = cv2.dilate(slot.astype(np.uint8), kernel) > 0
        objects.append({"id": r["path"], "image": room, "hole": hole})
        product = shapes[2 * i + 1]
        placed = render_mask(product, align(product, slot))
        paste = hole_for_paste(slot, placed)
        if paste.any():
            pastes.append({"id": r["path"], "image": room, "hole": paste})
    return objects, squares, pastes


def held_out_objects(
    data: Path, listing: Path, side: int, per_image: int, seed: int
) -> list[dict[str, Any]]:
    """Product-shaped holes in the photos a training run held out (its ``held_out.txt``).

    Each photo is centre-cropped to a square and resized to ``side``²; ``per_image`` IKEA
    silhouettes (:func:`silhouettes`, not among the training run's hole shapes) are placed in it as
    in ``rooms_object`` and dilated by ``side / 64`` px. The truth is the untouched photo.
    """
    if not listing.is_file():
        raise SystemExit(f"error: --held-out {listing}: no such file (a training run writes it)")
    paths = [Path(line) for line in listing.read_text().splitlines() if line.strip()]
    missing = [str(q) for q in paths if not q.is_file()]
    if missing:
        raise SystemExit(
            f"error: --held-out lists {len(missing)} missing photos, e.g. {missing[0]}"
        )
    rng = np.random.default_rng(seed)
    shapes = silhouettes(data, per_image * len(paths), rng)
    radius = max(1, round(side / 64))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    cases = []
    for i, path in enumerate(paths):
        photo = square(read_image(path), side)
        for j in range(per_image):
            slot = place(shapes[(i * per_image + j) % len(shapes)], rng, side)
            hole = cv2.dilate(slot.astype(np.uint8), kernel) > 0
            cases.append(
                {"id": f"{path.parent.parent.name}/{path.name}#{j}", "image": photo, "hole": hole}
            )
    return cases


def local_box(hole: np.ndarray, margin: float = 0.25) -> tuple[int, int, int, int]:
    """A square around the hole's box, grown by ``margin`` of its longer side, inside the image."""
    ys, xs = np.nonzero(hole)
    h, w = hole.shape
    cy, cx = (ys.min() + ys.max() + 1) / 2, (xs.min() + xs.max() + 1) / 2
    side = min(min(h, w), round(max(np.ptp(ys) + 1, np.ptp(xs) + 1) * (1 + 2 * margin)))
    y0 = int(np.clip(round(cy - side / 2), 0, h - side))
    x0 = int(np.clip(round(cx - side / 2), 0, w - side))
    return y0, x0, y0 + side, x0 + side


def paired(
    a: list[dict[str, float]], b: list[dict[str, float]], groups: list[str], seed: int = 0
) -> dict[str, dict[str, float]]:
    """Per metric, the mean of a − b over the cases and its 95 % interval from a bootstrap over
    the photos (holes of one photo are resampled together: they share the photo, so they are not
    independent), 2,000 resamples."""
    names = sorted(set(groups))
    index = {g: i for i, g in enumerate(names)}
    member = np.array([index[g] for g in groups])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), size=(2000, len(names)))
    weights = np.stack([np.bincount(d, minlength=len(names)) for d in draws])[:, member]
    out = {}
    for key in ("psnr_hole", "psnr_band", "ssim_hole", "ssim_band"):
        diff = np.array([x[key] - y[key] for x, y in zip(a, b, strict=True)])
        boot = (weights * diff).sum(axis=1) / weights.sum(axis=1)
        low, high = np.percentile(boot, [2.5, 97.5])
        out[key] = {
            "mean": round(float(diff.mean()), 4),
            "ci95": [round(float(low), 4), round(float(high), 4)],
            "a_better_share": round(float((diff > 0).mean()), 3),
        }
    return out


def distances(
    cases: list[dict[str, Any]], outputs: dict[str, list[np.ndarray]], threads: int
) -> dict[str, dict[str, float]]:
    """FID and KID of each backend's results against the truths, whole and local (the square
    :func:`local_box` around each hole), on Inception-V3 pool3 (:mod:`adstage.evaluate.fid`)."""
    from adstage.evaluate.fid import InceptionFeatures, fid_report

    features = InceptionFeatures(batch_size=16, threads=threads)
    boxes = [local_box(c["hole"]) for c in cases]

    def crops(images: list[np.ndarray]) -> list[np.ndarray]:
        return [im[y0:y1, x0:x1] for im, (y0, x0, y1, x1) in zip(images, boxes, strict=True)]

    truths = [c["image"] for c in cases]
    real = {"whole": features(truths), "local": features(crops(truths))}
    out: dict[str, dict[str, float]] = {}
    subset = min(100, len(cases))
    for label, images in outputs.items():
        fake = {"whole": features(images), "local": features(crops(images))}
        row: dict[str, float] = {}
        for scope in ("whole", "local"):
            report = fid_report(real[scope], fake[scope], subset_size=subset)
            row[f"fid_{scope}"] = round(report["fid"], 2)
            row[f"kid_{scope}"] = round(report["kid"], 5)
            row[f"kid_{scope}_std"] = round(report["kid_std"], 5)
        out[label] = row
        log.info("distances %s: %s", label, row)
    return out


# --------------------------------------------------------------------------------------------
# runs


def run(
    name: str,
    cases: list[dict[str, Any]],
    backends: list[tuple[str, str, dict[str, Any]]],
    sheet: Path | None,
    fid_threads: int | None = None,
    pairs: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Every backend on every case; with ``fid_threads``, also FID/KID (:func:`distances`);
    for each (a, b) of ``pairs``, the paired differences a − b (:func:`paired`)."""
    per: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in backends}
    outputs: dict[str, list[np.ndarray]] = {label: [] for label, _, _ in backends}
    seconds: dict[str, list[float]] = {label: [] for label, _, _ in backends}
    tiles = []
    for i, case in enumerate(cases):
        image, hole = case["image"], case["hole"]
        row = []
        blanked = image.copy()
        blanked[hole] = 0  # no backend may see the truth
        for label, backend, options in backends:
            started = time.perf_counter()
            result = inpaint(blanked, hole, backend=backend, **options)
            seconds[label].append(time.perf_counter() - started)
            if not np.array_equal(result[~hole], image[~hole]):
                raise AssertionError(f"{label} changed pixels outside the hole")
            per[label].append(scores(result, image, hole))
            if fid_threads is not None:
                outputs[label].append(result)
            row.append(result)
        if sheet is not None and i < 8:
            shown = image.copy()
            shown[hole] = (255, 0, 255)
            tiles.append(np.hstack([shown, *row, image]))
        log.info("%s %d/%d", name, i + 1, len(cases))
    base = statistics.median(seconds["ns"]) if "ns" in seconds else None
    out: dict[str, Any] = {
        "n": len(cases),
        "hole_fraction_mean": round(float(np.mean([c["hole"].mean() for c in cases])), 4),
        "backends": {},
    }
    for label in per:
        keys = per[label][0].keys()
        summary: dict[str, Any] = {
            k: round(float(np.mean([s[k] for s in per[label]])), 3) for k in keys
        }
        summary["median_s"] = round(statistics.median(seconds[label]), 4)
        summary["mean_s"] = round(statistics.fmean(seconds[label]), 4)
        summary["p95_s"] = round(float(np.percentile(seconds[label], 95)), 4)
        summary["max_s"] = round(max(seconds[label]), 4)
        if base:
            summary["ratio_to_ns"] = round(statistics.median(seconds[label]) / base, 2)
        out["backends"][label] = summary
    if fid_threads is not None:
        for label, row in distances(cases, outputs, fid_threads).items():
            out["backends"][label] |= row
    groups = [c["id"].split("#")[0] for c in cases]
    for a, b in pairs:
        if a in per and b in per:
            out.setdefault("paired", {})[f"{a} − {b}"] = paired(per[a], per[b], groups)
    if sheet is not None and tiles:
        width = max(t.shape[1] for t in tiles)
        tiles = [
            cv2.copyMakeBorder(t, 0, 4, 0, width - t.shape[1], cv2.BORDER_CONSTANT) for t in tiles
        ]
        grid = np.vstack(tiles)
        ok, png = cv2.imencode(
            ".jpg", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
        )
        if ok:
            atomic_write_bytes(sheet, png.tobytes())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "inpaint.json")
    parser.add_argument(
        "--backends",
        nargs="+",
        default=[
            "ns",
            "telea",
            "patchmatch",
            "patchmatch:em_side=128",
            "hybrid:em_side=128",
            "hybrid",
        ],
    )
    parser.add_argument("--rooms", type=int, default=30, help="room scenes to use")
    parser.add_argument(
        "--sets",
        nargs="+",
        default=["places2_object", "rooms_object", "rooms_square", "rooms_paste"],
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads")
    parser.add_argument("--sheets", action="store_true", help="contact sheets in benchmarks/.cache")
    parser.add_argument(
        "--held-out",
        type=Path,
        help="a training run's held_out.txt: the photos of the heldout_object set",
    )
    parser.add_argument("--held-out-side", type=int, default=256, help="heldout_object scene side")
    parser.add_argument("--holes-per-image", type=int, default=3, help="heldout_object holes")
    parser.add_argument(
        "--fid", action="store_true", help="FID/KID per backend (Inception-V3), whole and local"
    )
    parser.add_argument(
        "--paired",
        nargs=2,
        action="append",
        default=[],
        metavar=("A", "B"),
        help="paired differences A − B per metric with a 95%% bootstrap interval (repeatable)",
    )
    args = parser.parse_args()
    if "heldout_object" in args.sets and args.held_out is None:
        parser.error("the heldout_object set needs --held-out RUN/held_out.txt")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if data_missing(args.data):
        return 0
    cv2.setNumThreads(args.threads)
    backends = [parse_backend(spec) for spec in args.backends]
    if "ns" not in [label for label, _, _ in backends]:
        backends.insert(0, parse_backend("ns"))
    started = time.time()
    result: dict[str, Any] = {
        "benchmark": "inpaint",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "opencv_threads": args.threads,
        },
        "versions": versions(),
        "command": " ".join(["python", "benchmarks/inpaint.py", *sys.argv[1:]]),
        "default_inpainter": DEFAULT_INPAINTER,
        "notes": [
            "PSNR (dB) and SSIM are means over images; 'band' = hole pixels within "
            f"{BAND_PX} px of the hole's edge",
            "SSIM: adstage.evaluate.fidelity.ssim_map (equal to "
            "skimage.metrics.structural_similarity's full map, Gaussian σ=1.5, population "
            "covariance), per channel, averaged over the region; band: "
            "fidelity.boundary_band(hole, 10, side='inside'), exact Euclidean distance",
            "texture_ratio: mean Sobel gradient magnitude of the fill / of the truth inside the "
            "hole (eroded by 1 px); 1 = as detailed as the truth, ≪ 1 = smooth",
            "inpaint() crops each hole to its box grown by the default margin (half the longer "
            "side, ≥ 16 px); seconds include that",
        ],
    }
    cases: dict[str, list[dict[str, Any]]] = {}
    if "places2_object" in args.sets:
        cases["places2_object"] = places2(args.data)
    if {"rooms_object", "rooms_square", "rooms_paste"} & set(args.sets):
        made = dict(
            zip(
                ("rooms_object", "rooms_square", "rooms_paste"),
                rooms(args.data, args.rooms, args.seed),
                strict=True,
            )
        )
        cases |= {name: items for name, items in made.items() if name in args.sets}
    if "heldout_object" in args.sets:
        cases["heldout_object"] = held_out_objects(
            args.data, args.held_out, args.held_out_side, args.holes_per_image, args.seed
        )
    models = {
        label: INPAINTERS.create(name, **options).meta
        for label, name, options in backends
        if name == "edgeconnect"
    }
    if models:
        result["models"] = {
            label: {
                "path": str(meta["path"]),
                "step": meta["step"],
                "train_seconds": round(meta["train_seconds"]),
            }
            | {k: meta["config"].get(k) for k in ("size", "width", "blocks", "wbl", "band")}
            for label, meta in models.items()
        }
    for name, items in cases.items():
        sheet = ROOT / ".cache" / f"inpaint-{name}.jpg" if args.sheets else None
        result[name] = run(
            name,
            items,
            backends,
            sheet,
            args.threads if args.fid else None,
            [tuple(pair) for pair in args.paired],
        )
    result["elapsed_s"] = round(time.time() - started, 1)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {
                k: v["backends"]
                for k, v in result.items()
                if isinstance(v, dict) and "backends" in v
            },
            indent=1,
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
