"""Copy-paste staging benchmark; writes benchmarks/results/staging.json.

    python benchmarks/staging.py                     # quality (FID/KID) and latency
    python benchmarks/staging.py --products 40       # fewer products, faster

Quality, in one run (Ku et al., AdKDD 2023, §6: FID of staged outputs against real scenes):
the ``ikea-sa-products`` products (a seeded sample) are staged into a catalog of the
``ikea-room-scenes`` rooms (slots segmented by IS-Net via ``auto``) and the home-furnishing
``coco-mval-objects`` scenes (their masks as slots). For each inpainter, the best of k=3 candidates
per product is kept; FID and KID (Inception pool3) against the real scenes, next to two baselines
computed the same way:

* **naive paste**: the product pasted at the same place on the retrieved scene, the old product
  left in place;
* **white**: the un-staged product photos themselves;
* **scene (nothing pasted)**: the retrieved real scene itself, cropped at the same place: the floor
  that a perfect, invisible staging would reach with these scenes and boxes.

The default inpainter's best candidates are also composited with harmonisation and a contact
shadow (``<default> + harmonize 0.5 + shadow 0.5``).

Whole-image scores mostly reward the reused real background, so **local** FID/KID are computed on
square crops around the placed product (1.5× its box) against crops around real objects in real
scenes (the COCO masks and the room slots give those boxes).

Latency per candidate at 512² and 1024² (product and scenes resized so), broken down by step, on
the machine's cores; and the bit-exactness of the product's pixels inside its eroded mask.
The licensed photos never leave ../shared/data; the catalog is cached in benchmarks/.cache.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from _common import DATA, data_missing
from adstage.catalog.store import Catalog, match_from_row
from adstage.composite.align import align
from adstage.composite.blend import despill, paste, scale_cutout
from adstage.evaluate.fid import InceptionFeatures, fid_report
from adstage.evaluate.realism import square_crop
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image
from adstage.provenance import versions
from adstage.retrieve.base import load_embedder
from adstage.retrieve.ingest import Source, ingest, open_or_create
from adstage.retrieve.search import retrieve
from adstage.segment import SEGMENTERS
from adstage.stage.pipeline import StageOptions, stage_candidate
from adstage.types import Cutout

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.staging")


def build_catalog(data: Path, path: Path, embedder: str) -> Catalog:
    catalog = open_or_create(path, embedders=[embedder])
    rooms = data / "ikea-room-scenes"
    sources = [Source(p, "room", staged=True) for p in sorted((rooms / "images").iterdir())]
    coco = data / "coco-mval-objects"
    with open(coco / "metadata.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["home_furnishing"] == "True":
                sources.append(
                    Source(coco / row["path"], row["category"], (coco / row["mask_path"],), True)
                )
    t0 = time.perf_counter()
    report = ingest(catalog, sources, segmenter="auto")
    log.info(
        "catalog: %s in %.0f s, %d slots",
        report.as_dict() | {"failed": len(report.failed)},
        time.perf_counter() - t0,
        len(catalog),
    )
    return catalog


def real_crops(data: Path, catalog: Catalog) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Whole real scenes and crops around real objects in them."""
    wholes, crops = [], []
    rows = catalog.columns(["uri", "bbox", "area_fraction", "slot"]).to_pylist()
    seen = set()
    for row in rows:
        image = None
        if row["uri"] not in seen:
            image = read_image(row["uri"])
            wholes.append(cv2.resize(image, (299, 299), interpolation=cv2.INTER_AREA))
            seen.add(row["uri"])
        if row["area_fraction"] > 0.005:
            image = read_image(row["uri"]) if image is None else image
            crops.append(square_crop(image, row["bbox"]))
    coco = data / "coco-mval-objects"
    with open(coco / "metadata.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["home_furnishing"] == "True" or float(row["fg_fraction"]) < 0.01:
                continue  # home-furnishing scenes are already in the catalog
            image = read_image(coco / row["path"])
            mask = cv2.imread(str(coco / row["mask_path"]), cv2.IMREAD_GRAYSCALE) > 127
            ys, xs = np.nonzero(mask)
            crops.append(square_crop(image, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)))
    return wholes, crops


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "staging.json")
    parser.add_argument("--products", type=int, default=120)
    parser.add_argument("--inpainters", default="ns,telea,patchmatch,hybrid")
    parser.add_argument("--embedder", default="inception-v3")
    parser.add_argument("--latency-n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    products_dir = args.data / "ikea-sa-products"
    if data_missing(products_dir):
        return 0
    started = time.time()
    catalog = build_catalog(
        args.data, ROOT / ".cache" / f"staging-catalog-{args.embedder}", args.embedder
    )
    with open(products_dir / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rng = np.random.default_rng(args.seed)
    picked = sorted(rng.choice(len(rows), min(args.products, len(rows)), replace=False))
    seg = SEGMENTERS.create("auto")
    inpainters = args.inpainters.split(",")
    features = InceptionFeatures(batch_size=16)
    default = StageOptions().inpainter
    polished = f"{default} + harmonize 0.5 + shadow 0.5"
    references = ["naive paste", "scene (nothing pasted)", "white"]
    extra = [polished] if default in inpainters else []
    outputs: dict[str, list] = {name: [] for name in [*inpainters, *extra, *references]}
    crops: dict[str, list] = {name: [] for name in outputs}
    seconds: dict[str, list] = {name: [] for name in inpainters}
    exact = []
    for n, index in enumerate(picked):
        image = read_image(products_dir / rows[index]["path"])
        alpha = seg(image).alpha
        cut = Cutout.from_alpha(image, alpha)
        if cut.empty:
            continue
        matches = retrieve(image, catalog, mask=alpha, k=3, where="staged = true", rerank=True)
        outputs["white"].append(cv2.resize(image, (299, 299), interpolation=cv2.INTER_AREA))
        crops["white"].append(square_crop(image, cut.bbox))
        for name in inpainters:
            options = StageOptions(inpainter=name, keep_steps=True)
            cands = []
            for match in matches:
                try:
                    cands.append(stage_candidate(cut, match, options))
                except Exception as exc:  # a benchmark reports, it does not stop
                    log.warning("%s / %s: %s", rows[index]["path"], match.id, exc)
            if not cands:
                continue
            best = max(cands, key=lambda c: c.score)
            seconds[name].append(best.seconds)
            outputs[name].append(cv2.resize(best.image, (299, 299), interpolation=cv2.INTER_AREA))
            crops[name].append(square_crop(best.image, best.placement))
            if name == default:
                # The same best candidate, composited with harmonisation and a contact shadow.
                placement = align(cut.mask, best.match.mask(), fit="footprint")
                styled = paste(
                    best.steps["filled"],
                    cut.rgba,
                    placement,
                    despill_background=(255, 255, 255),
                    harmonize=0.5,
                    shadow=0.5,
                )
                outputs[polished].append(
                    cv2.resize(styled, (299, 299), interpolation=cv2.INTER_AREA)
                )
                crops[polished].append(square_crop(styled, placement.box))
            if name == inpainters[0]:
                scene = best.steps["scene"]
                placement = align(cut.mask, best.match.mask(), fit="footprint")
                # The floor: the real scene itself, cropped where the product would go.
                outputs["scene (nothing pasted)"].append(
                    cv2.resize(scene, (299, 299), interpolation=cv2.INTER_AREA)
                )
                crops["scene (nothing pasted)"].append(square_crop(scene, placement.box))
                naive = paste(scene, cut.rgba, placement, despill_background=(255, 255, 255))
                outputs["naive paste"].append(
                    cv2.resize(naive, (299, 299), interpolation=cv2.INTER_AREA)
                )
                crops["naive paste"].append(square_crop(naive, placement.box))
                # What the pipeline pastes with product_exact (the default light match changes
                # the product's pixels by design): the despilled cut-out, scaled.
                exact_candidate = stage_candidate(
                    cut, best.match, StageOptions(inpainter=name, product_exact=True)
                )
                # the candidate records only its box; its placement is the pipeline's alignment
                aligned = align(cut.mask, best.match.mask(), fit="footprint", stand=True)
                assert aligned.box == exact_candidate.placement
                scaled = scale_cutout(despill(cut.rgba), aligned)
                x0, y0, x1, y1 = aligned.box
                core = (
                    cv2.erode((scaled[..., 3] == 255).astype(np.uint8), np.ones((3, 3), np.uint8))
                    > 0
                )
                exact.append(
                    bool(
                        np.array_equal(
                            exact_candidate.image[y0:y1, x0:x1][core], scaled[..., :3][core]
                        )
                    )
                )
        if n % 10 == 0:
            log.info("%d / %d products", n + 1, len(picked))

    log.info("features of the real scenes and crops")
    real_whole, real_local = real_crops(args.data, catalog)
    f_whole = features(real_whole)
    f_local = features(real_local)
    quality = {}
    for name in outputs:
        if len(outputs[name]) < 2:
            continue
        whole = fid_report(f_whole, features(outputs[name]), subset_size=100)
        local = fid_report(f_local, features(crops[name]), subset_size=100)
        quality[name] = {
            "n": len(outputs[name]),
            "fid": round(whole["fid"], 2),
            "kid": round(whole["kid"], 5),
            "kid_std": round(whole["kid_std"], 5),
            "local_fid": round(local["fid"], 2),
            "local_kid": round(local["kid"], 5),
            "local_kid_std": round(local["kid_std"], 5),
        }
        if seconds.get(name):
            quality[name]["ms_per_candidate"] = {
                step: round(1000 * float(np.mean([s[step] for s in seconds[name]])), 1)
                for step in seconds[name][0]
            }
        log.info("%s: %s", name, quality[name])

    latency = measure_latency(products_dir, rows, picked[: args.latency_n], catalog, seg)
    result = {
        "benchmark": "staging",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": versions(),
        "command": " ".join(["python", "benchmarks/staging.py", *sys.argv[1:]]),
        "catalog": {"slots": len(catalog), "embedder": args.embedder},
        "n_products": len(picked),
        "real": {"scenes": len(real_whole), "object_crops": len(real_local)},
        "quality": quality,
        "product_pixels_exact": {"checked": len(exact), "exact": int(sum(exact))},
        "latency": latency,
        "paper_fid": {"copy-paste (EdgeConnect+WBL)": 37.44, "pix2pix (vanilla)": 122.22},
        "elapsed_s": round(time.time() - started, 1),
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({"quality": quality, "latency": latency}, indent=2))
    print(f"wrote {args.out}")
    return 0


def measure_latency(products_dir, rows, picked, catalog, seg) -> dict:
    """ms per step for one candidate, product and scenes at 512² and 1024² (longer side)."""
    embedder = load_embedder(catalog.embedders[0])
    out = {}
    for side in (512, 1024):
        options = StageOptions(max_side=side, keep_steps=False)
        steps: dict[str, list[float]] = {}
        for index in picked:
            image = read_image(products_dir / rows[index]["path"])
            f = side / max(image.shape[:2])
            image = cv2.resize(
                image,
                (round(image.shape[1] * f), round(image.shape[0] * f)),
                interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC,
            )
            t = time.perf_counter()
            alpha = seg(image).alpha
            cut = Cutout.from_alpha(image, alpha)
            t_seg = time.perf_counter() - t
            t = time.perf_counter()
            vector = embedder.embed([image], [alpha])[0]
            t_embed = time.perf_counter() - t
            t = time.perf_counter()
            hits = catalog.search(vector, k=1, where="staged = true AND area_fraction > 0")
            t_search = time.perf_counter() - t
            if not hits or cut.empty:
                continue
            match = match_from_row(hits[0])
            cand = stage_candidate(cut, match, options)
            for key, value in {
                "segment": t_seg,
                "embed": t_embed,
                "retrieve": t_search,
                **cand.seconds,
            }.items():
                steps.setdefault(key, []).append(value)
        ms = {k: round(1000 * float(np.median(v)), 1) for k, v in steps.items()}
        ms["total"] = round(sum(ms.values()), 1)
        out[f"{side}"] = ms
        log.info("latency at %d: %s", side, ms)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
