"""The realism critic on the dev photos; writes benchmarks/results/realism.json.

    python benchmarks/realism.py                    # 120 products, both feature sets
    python benchmarks/realism.py --products 40      # faster

A classifier two-sample test (Lopez-Paz & Oquab, ICLR 2017; ``adstage.evaluate.realism``) on
square crops (1.5× the box, 299²) around a product or an object: can a logistic regression on the
crops' features tell fakes from real photographs, on held-out crops?

* **real**: crops around the real objects of the staging catalog's scenes (the IS-Net slots of
  ``ikea-room-scenes`` and the masks of the home-furnishing ``coco-mval-objects`` photos, the scenes
  staging pastes into), slots covering ≥ ``--min-area`` of the image;
* **naive paste**: the product's IS-Net cut-out, scaled so its longer side is 40 % of the room's
  shorter side, pasted at the centre of a random IKEA room (the naive paste of
  ``../shared/REFERENCES.md`` §5), with no inpainting, shadow or harmonisation;
* **staged**: adstage's copy-paste staging (default options, as ``benchmarks/staging.py`` runs
  it): the best of k = 3 candidates, cropped at the product's box from its manifest placement;
* **real vs real**: the real crops of one half of the scenes against the other half (the sanity
  row: a sound test gives ≈ 0.5).

Splits are grouped (a product's or a scene's crops never sit on both sides of a C2ST split). KID
(Inception pool3, as ``adstage.evaluate.fid``) on the same crops is reported beside it.

The per-image critic (``RealismCritic``) is fitted on half A (products and scenes of one half:
real crops of A's scenes vs. naive and staged crops of A's products, staged only into A's scenes)
and evaluated on half B; a critic fitted on all of it is saved to benchmarks/.cache (it is derived
from the non-commercial photos, so it stays out of the repository).

Run with ``OPENBLAS_NUM_THREADS=1`` on a busy machine (the script sets it if unset): small LAPACK
solves with several OpenBLAS threads crawl when the cores are shared.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import csv
import json
import logging
import platform
import sys
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from _common import DATA, data_missing
from adstage.catalog.store import Catalog
from adstage.composite.blend import paste
from adstage.evaluate.fid import kernel_inception_distance
from adstage.evaluate.realism import (
    RealismCritic,
    c2st,
    crop_features,
    square_crop,
)
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image, write_mask
from adstage.provenance import versions
from adstage.retrieve.ingest import Source, ingest, open_or_create
from adstage.retrieve.search import retrieve
from adstage.segment import SEGMENTERS
from adstage.segment.isnet import ISNet
from adstage.stage.pipeline import StageOptions, stage_candidate
from adstage.types import Cutout, Placement

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.realism")


def build_catalog(data: Path, path: Path, input_size: int) -> Catalog:
    """The staging catalog's scenes (``benchmarks/staging.py``), with the rooms' slots from IS-Net
    at ``input_size`` (cached masks: 512² is ~4× faster than 1024² on a shared CPU) and the
    home-furnishing COCO photos with their own masks."""
    masks = ROOT / ".cache" / f"realism-room-masks-{input_size}"
    isnet = ISNet(input_size=input_size)
    sources = []
    rooms = sorted((data / "ikea-room-scenes" / "images").iterdir())
    for i, room in enumerate(rooms):
        mask = masks / f"{room.stem}.png"
        if not mask.exists():
            write_mask(mask, isnet(read_image(room)).alpha >= 0.5)
            if i % 20 == 0:
                log.info("room masks: %d / %d", i + 1, len(rooms))
        sources.append(Source(room, "room", (mask,), True))
    coco = data / "coco-mval-objects"
    with open(coco / "metadata.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["home_furnishing"] == "True":
                sources.append(
                    Source(coco / row["path"], row["category"], (coco / row["mask_path"],), True)
                )
    catalog = open_or_create(path, embedders=["inception-v3"])
    # work_side=None: at the default 512, a given mask resized with INTER_AREA can reach
    # 1.0000001 and is refused by as_alpha (adstage.retrieve.ingest._resize does not clip).
    report = ingest(catalog, sources, work_side=None)
    log.info("catalog: %s, %d slots", report.as_dict(), len(catalog))
    return catalog


def half_of(key: str, seed: int) -> str:
    """``"A"`` or ``"B"``, a stable hash of the file name in ``key`` (so scenes and products split
    the same way in every run, wherever the data lives)."""
    return "AB"[zlib.crc32(f"{seed}:{Path(key).name}".encode()) % 2]


def naive_paste(room: np.ndarray, cut: Cutout) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The cut-out scaled to 40 % of the room's shorter side (longer side), centred."""
    h, w = room.shape[:2]
    ch, cw = cut.rgba.shape[:2]
    scale = 0.4 * min(h, w) / max(ch, cw)
    pw, ph = max(1, round(cw * scale)), max(1, round(ch * scale))
    x0, y0 = (w - pw) // 2, (h - ph) // 2
    placement = Placement((x0, y0, x0 + pw, y0 + ph), scale, "naive", (w, h))
    return paste(room, cut.rgba, placement, despill_background=(255, 255, 255)), placement.box


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties ½."""
    if not len(pos) or not len(neg):
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "realism.json")
    parser.add_argument("--products", type=int, default=120)
    parser.add_argument("--features", default="inception-v3,colour-gradient")
    parser.add_argument("--min-area", type=float, default=0.01)
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--isnet-size", type=int, default=512, help="IS-Net input for room slots")
    parser.add_argument("--segmenter", default="auto", help="segmenter of the products")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the crops cached by an earlier run"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    products_dir = args.data / "ikea-sa-products"
    if data_missing(products_dir):
        return 0
    started = time.time()
    cache = ROOT / ".cache" / f"realism-crops-{args.products}-{args.seed}-{args.isnet_size}.npz"
    if args.reuse and cache.exists():
        log.info("crops from %s", cache)
        with np.load(cache) as data:
            c = {k: data[k] for k in data.files}
        real, real_scene = list(c["real"]), [str(v) for v in c["real_scene"]]
        naive, naive_id = list(c["naive"]), [str(v) for v in c["naive_id"]]
        staged, staged_id = list(c["staged"]), [str(v) for v in c["staged_id"]]
        candidates = [
            {"crop": crop, "score": float(score), "product": str(p), "rank": int(rank)}
            for crop, score, p, rank in zip(
                c["cand_crop"], c["cand_score"], c["cand_product"], c["cand_rank"], strict=True
            )
        ]
        picked = list(range(int(c["n_products"])))
        inpainter = str(c["inpainter"])
    else:
        catalog = build_catalog(
            args.data, ROOT / ".cache" / f"realism-catalog-{args.isnet_size}", args.isnet_size
        )

        # Real crops: the catalog's slots (real objects in the scenes staging pastes into).
        real: list[np.ndarray] = []
        real_scene: list[str] = []
        rows = catalog.columns(["uri", "bbox", "area_fraction"]).to_pylist()
        images: dict[str, np.ndarray] = {}
        for row in rows:
            if row["area_fraction"] < args.min_area:
                continue
            if row["uri"] not in images:
                images[row["uri"]] = read_image(row["uri"])
            real.append(square_crop(images[row["uri"]], row["bbox"]))
            real_scene.append(Path(row["uri"]).name)
        images.clear()
        rooms = sorted((args.data / "ikea-room-scenes" / "images").iterdir())
        log.info("%d real crops from %d scenes", len(real), len(set(real_scene)))

        # Fakes: naive paste and staged, each product in one half, pasted into scenes of its half.
        with open(products_dir / "labels.csv", newline="") as handle:
            products = list(csv.DictReader(handle))
        rng = np.random.default_rng(args.seed)
        picked = sorted(rng.choice(len(products), min(args.products, len(products)), replace=False))
        seg = SEGMENTERS.create(args.segmenter)
        options = StageOptions(keep_steps=False)
        naive, naive_id, staged, staged_id = [], [], [], []
        where = f"staged = true AND area_fraction >= {args.min_area}"
        candidates: list[dict] = []  # every staged candidate: crop, pipeline score, product, rank
        for n, index in enumerate(picked):
            path = products[index]["path"]
            half = half_of(path, args.seed)
            image = read_image(products_dir / path)
            alpha = seg(image).alpha
            cut = Cutout.from_alpha(image, alpha)
            if cut.empty:
                log.warning("%s: empty segmentation, skipped", path)
                continue
            same = [r for r in rooms if half_of(r.name, args.seed) == half]
            room = read_image(same[int(rng.integers(len(same)))])
            picture, box = naive_paste(room, cut)
            naive.append(square_crop(picture, box))
            naive_id.append(path)
            matches = retrieve(
                image, catalog, mask=alpha, k=12, where=where, rerank=True
            )  # slots as large as the real crops' (segment.slots.DEFAULT_MIN_AREA is 0.01)
            matches = [m for m in matches if half_of(m.uri, args.seed) == half][:3]
            cands = []
            for match in matches:
                try:
                    cands.append(stage_candidate(cut, match, options))
                except Exception as exc:  # a benchmark reports, it does not stop
                    log.warning("%s / %s: %s", path, match.id, exc)
            cands.sort(key=lambda c: -c.score)
            for rank, cand in enumerate(cands):
                crop = square_crop(cand.image, cand.placement)
                candidates.append(
                    {"crop": crop, "score": cand.score, "product": path, "rank": rank}
                )
                if rank == 0:
                    staged.append(crop)
                    staged_id.append(path)
            if n % 10 == 0:
                log.info("%d / %d products (%.0f s)", n + 1, len(picked), time.time() - started)

        inpainter = options.inpainter
        np.savez(
            cache,
            real=np.asarray(real),
            real_scene=np.asarray(real_scene),
            naive=np.asarray(naive),
            naive_id=np.asarray(naive_id),
            staged=np.asarray(staged),
            staged_id=np.asarray(staged_id),
            cand_crop=np.asarray([c["crop"] for c in candidates]),
            cand_score=np.asarray([c["score"] for c in candidates]),
            cand_product=np.asarray([c["product"] for c in candidates]),
            cand_rank=np.asarray([c["rank"] for c in candidates]),
            n_products=len(picked),
            inpainter=inpainter,
        )

    real_half = np.array([half_of(u, args.seed) for u in real_scene])
    naive_half = np.array([half_of(p, args.seed) for p in naive_id])
    staged_half = np.array([half_of(p, args.seed) for p in staged_id])
    cand_half = np.array([half_of(c["product"], args.seed) for c in candidates])
    results: dict = {"c2st": {}, "kid": {}, "critic": {}}
    for name in args.features.split(","):
        t = time.time()
        extractor = crop_features(name)
        f_real = extractor(real)
        f_naive = extractor(naive)
        f_staged = extractor(staged)
        f_cand = extractor([c["crop"] for c in candidates])
        log.info("%s features in %.0f s", name, time.time() - t)
        common = {"features": name, "splits": args.splits, "seed": args.seed}
        a, b = real_half == "A", real_half == "B"
        rows_c2st = {
            "real vs naive paste": c2st(
                f_real, f_naive, groups_real=real_scene, groups_fake=naive_id, **common
            ),
            "real vs staged": c2st(
                f_real, f_staged, groups_real=real_scene, groups_fake=staged_id, **common
            ),
            "real vs real (disjoint scene halves)": c2st(
                f_real[a],
                f_real[b],
                groups_real=np.array(real_scene)[a],
                groups_fake=np.array(real_scene)[b],
                **common,
            ),
            "naive paste vs staged": c2st(
                f_naive, f_staged, groups_real=naive_id, groups_fake=staged_id, **common
            ),
        }
        results["c2st"][name] = {k: v.as_dict() | {"accuracies": v.accuracies}
                                 for k, v in rows_c2st.items()}  # fmt: skip
        for k, v in rows_c2st.items():
            log.info("%s %s: %.3f [%.3f, %.3f]", name, k, v.accuracy, *v.interval)
        if name == "inception-v3":
            for label, (x, y) in {
                "real vs naive paste": (f_real, f_naive),
                "real vs staged": (f_real, f_staged),
                "real vs real (disjoint scene halves)": (f_real[a], f_real[b]),
            }.items():
                mean, std = kernel_inception_distance(x, y, subset_size=100, subsets=100)
                results["kid"][label] = {
                    "kid": mean, "kid_std": std, "n_real": len(x), "n_fake": len(y)
                }  # fmt: skip

        # Per-image critic: fit on half A, evaluate on half B.
        fit_fake = np.concatenate([f_naive[naive_half == "A"], f_staged[staged_half == "A"]])
        critic = RealismCritic.fit(f_real[a], fit_fake, features=name, seed=args.seed)
        s_real = critic.score_features(f_real[b])
        s_naive = critic.score_features(f_naive[naive_half == "B"])
        s_staged = critic.score_features(f_staged[staged_half == "B"])
        s_cand = critic.score_features(f_cand[cand_half == "B"])
        held = [c for c, h in zip(candidates, cand_half, strict=True) if h == "B"]
        by_product: dict[str, list[tuple[float, int]]] = {}
        for c, s in zip(held, s_cand, strict=True):
            by_product.setdefault(c["product"], []).append((float(s), c["rank"]))
        multi = [v for v in by_product.values() if len(v) > 1]
        agree = sum(max(v)[1] == 0 for v in multi)
        fake_b = np.concatenate([s_naive, s_staged])
        balanced = 0.5 * (float((s_real >= 0.5).mean()) + float((fake_b < 0.5).mean()))
        results["critic"][name] = {
            "fit": {"n_real": int(a.sum()), "n_fake": len(fit_fake), "l2": critic.l2},
            "held_out": {"n_real": len(s_real), "n_naive": len(s_naive), "n_staged": len(s_staged)},
            "balanced_accuracy": balanced,
            "auc": {
                "real vs naive paste": auc(s_real, s_naive),
                "real vs staged": auc(s_real, s_staged),
                "real vs all fakes": auc(s_real, fake_b),
            },
            "mean_score": {
                "real": float(s_real.mean()),
                "naive paste": float(s_naive.mean()),
                "staged": float(s_staged.mean()),
            },
            "share_at_least_0.5": {
                "real": float((s_real >= 0.5).mean()),
                "naive paste": float((s_naive >= 0.5).mean()),
                "staged": float((s_staged >= 0.5).mean()),
            },
            "ranking": {
                "products_with_several_candidates": len(multi),
                "critic_top_is_pipeline_top": agree,
            },
        }
        log.info("critic %s: %s", name, results["critic"][name])
        full = RealismCritic.fit(
            f_real,
            np.concatenate([f_naive, f_staged]),
            features=name,
            seed=args.seed,
            meta={"trained_on": "benchmarks/realism.py, ../shared/data (non-commercial)"},
        )
        full.save(ROOT / ".cache" / f"realism-critic-{name}.npz")

    result = {
        "benchmark": "realism",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": versions(),
        "command": " ".join(["python", "benchmarks/realism.py", *sys.argv[1:]]),
        "crop": {"factor": 1.5, "size": 299},
        "n_products": len(picked),
        "n": {
            "real": len(real),
            "real_scenes": len(set(real_scene)),
            "naive paste": len(naive),
            "staged": len(staged),
            "staged candidates": len(candidates),
        },
        "stage_options": {"inpainter": inpainter, "k": 3, "retrieved": 12},
        **results,
        "human_agreement": None,
        "elapsed_s": round(time.time() - started, 1),
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(results["c2st"], indent=2)[:4000])
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
