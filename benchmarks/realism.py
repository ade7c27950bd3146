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

``--variants before,after,…`` (names in ``VARIANTS``) also re-composites each product's best
candidate (same slot, same fill) with other compositing options and reports, per variant, the
C2ST real vs staged on all products and on each half (A: to choose settings, B: to report), KID,
and a cross-fitted critic score (a critic fitted on one half's real vs. naive and ``before``
crops scores the other half's variant crops; paired per product against ``before``).

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
from adstage.io.images import read_image, read_mask, write_mask
from adstage.provenance import versions
from adstage.retrieve.ingest import GIVEN_MIN_AREA, Source, ingest, open_or_create
from adstage.retrieve.search import retrieve
from adstage.segment import SEGMENTERS
from adstage.segment.isnet import ISNet
from adstage.segment.slots import refine_slots, split_slots
from adstage.stage.pipeline import StageOptions, stage_candidate
from adstage.stage.screen import Screen
from adstage.types import Cutout, Placement

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.realism")

VARIANTS: dict[str, dict] = {
    "before": {"edges": "unmix", "light": 0.0, "shadow": 0.0},  # the defaults until issue 13/5
    "edges": {"edges": "refine", "light": 0.0, "shadow": 0.0},
    "shadow-0.3": {"edges": "unmix", "light": 0.0, "shadow": 0.3},
    "shadow-0.6": {"edges": "unmix", "light": 0.0, "shadow": 0.6},
    "light-0.5": {"edges": "unmix", "light": 0.5, "shadow": 0.0},
    "light-1": {"edges": "unmix", "light": 1.0, "shadow": 0.0},
    "edges+shadow-0.3": {"edges": "refine", "light": 0.0, "shadow": 0.3},
    "edges+shadow-0.6": {"edges": "refine", "light": 0.0, "shadow": 0.6},
    "edges+shadow-0.3+light-0.5": {"edges": "refine", "light": 0.5, "shadow": 0.3},
    "product-exact": {"product_exact": True},
    "after": {},  # the current defaults
}
"""Compositing variants for ``--variants`` (StageOptions fields; {} = the defaults)."""


def build_catalog(
    data: Path, path: Path, input_size: int, room_types: bool = False, refine: bool = False
) -> Catalog:
    """The staging catalog's scenes (``benchmarks/staging.py``), with the rooms' slots from IS-Net
    at ``input_size`` (cached masks: 512² is ~4× faster than 1024² on a shared CPU) and the
    home-furnishing COCO photos with their own masks. The rooms' category is ``"room"``, or with
    ``room_types`` their room type from ``labels.csv`` ("Bedroom", "Outdoor", …). ``refine``:
    each room slot of at least 0.5 % of the image completed or dropped by
    :func:`adstage.segment.slots.refine_slots` (IS-Net again on its surroundings)."""
    masks = ROOT / ".cache" / f"realism-room-masks-{input_size}"
    isnet = ISNet(input_size=input_size)
    sources = []
    rooms = sorted((data / "ikea-room-scenes" / "images").iterdir())
    types: dict[str, str] = {}
    if room_types:
        with open(data / "ikea-room-scenes" / "labels.csv", newline="") as handle:
            types = {Path(row["path"]).name: row["category"] for row in csv.DictReader(handle)}
    dropped = 0
    for i, room in enumerate(rooms):
        mask = masks / f"{room.stem}.png"
        if not mask.exists():
            write_mask(mask, isnet(read_image(room)).alpha >= 0.5)
            if i % 20 == 0:
                log.info("room masks: %d / %d", i + 1, len(rooms))
        given: tuple[Path, ...] = (mask,)
        if refine:
            given, lost = refined_slots(
                room, mask, isnet, ROOT / ".cache" / f"{masks.name}-refined"
            )
            dropped += lost
            if i % 20 == 0:
                log.info(
                    "refined slots: %d / %d rooms, %d slots dropped", i + 1, len(rooms), dropped
                )
            if not given:
                continue
        sources.append(Source(room, types.get(room.name, "room"), given, True))
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


def refined_slots(
    room: Path, mask: Path, isnet: ISNet, folder: Path
) -> tuple[tuple[Path, ...], int]:
    """The room's slots (``mask`` split like ``ingest`` splits a given mask), those of at least
    0.5 % of the image refined by :func:`refine_slots`, one mask file each in ``folder`` (cached;
    a ``.dropped`` file per room counts the slots dropped): ``(mask files, dropped)``."""
    done = folder / f"{room.stem}.dropped"
    if done.exists():
        return tuple(sorted(folder.glob(f"{room.stem}--*.png"))), int(done.read_text())
    image = read_image(room)
    slots = split_slots(read_mask(mask), staged=True, min_area=GIVEN_MIN_AREA)
    big, small = [], []
    for slot in slots:  # the screen refuses slots smaller than its min_area: left as they are
        (big if float((slot >= 0.5).mean()) >= Screen().min_area else small).append(slot)
    refined = refine_slots(image, big, isnet)
    kept = [a for a, _ in refined if a is not None] + small
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, slot in enumerate(kept):
        out = folder / f"{room.stem}--{n:02d}.png"
        write_mask(out, slot >= 0.5)
        paths.append(out)
    lost = sum(a is None for a, _ in refined)
    atomic_write_text(done, f"{lost}\n")
    return tuple(paths), lost


def real_crops(catalog: Catalog, min_area: float) -> tuple[list[np.ndarray], list[str], list[bool]]:
    """Square crops around the catalog's slots covering at least ``min_area`` of their image (the
    real objects of the scenes staging pastes into), each one's scene file name, and whether the
    object touches the left, right or bottom edge of its photo (the slot screen's frame test)."""
    crops: list[np.ndarray] = []
    scenes: list[str] = []
    at_frame: list[bool] = []
    images: dict[str, np.ndarray] = {}
    for row in catalog.columns(["uri", "bbox", "area_fraction", "width", "height"]).to_pylist():
        if row["area_fraction"] < min_area:
            continue
        if row["uri"] not in images:
            images[row["uri"]] = read_image(row["uri"])
        crops.append(square_crop(images[row["uri"]], row["bbox"]))
        scenes.append(Path(row["uri"]).name)
        x0, _, x1, y1 = row["bbox"]
        w, h = row["width"], row["height"]
        at_frame.append(x0 <= 0.01 * w or x1 >= 0.99 * w or y1 >= 0.99 * h)
    return crops, scenes, at_frame


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


def compare_variants(
    names: list[str],
    crops: dict[str, list[np.ndarray]],
    ids: dict[str, list[str]],
    extractor,
    f_real: np.ndarray,
    f_naive: np.ndarray,
    real_scene: list[str],
    naive_half: np.ndarray,
    real_half: np.ndarray,
    features: str,
    args: argparse.Namespace,
) -> dict:
    """Per variant: C2ST real vs variant on all products and on each half; KID (Inception);
    the cross-fitted critic's mean score and its paired difference against ``before``."""
    feats = {v: extractor(crops[v]) for v in names}
    halves = {v: np.array([half_of(p, args.seed) for p in ids[v]]) for v in names}
    common = {"features": features, "splits": args.splits, "seed": args.seed}
    # Cross-fitted critic: fit on one half's real vs naive (+ "before" if compared), score the other.
    scores: dict[str, np.ndarray] = {}
    for v in names:
        scores[v] = np.full(len(ids[v]), np.nan)
    for fit_half, score_half in (("A", "B"), ("B", "A")):
        fake = [f_naive[naive_half == fit_half]]
        if "before" in names:
            fake.append(feats["before"][halves["before"] == fit_half])
        critic = RealismCritic.fit(
            f_real[real_half == fit_half], np.concatenate(fake), features=features, seed=args.seed
        )
        for v in names:
            sel = halves[v] == score_half
            if sel.any():
                scores[v][sel] = critic.score_features(feats[v][sel])
    out: dict = {}
    rng = np.random.default_rng(args.seed)
    for v in names:
        row: dict = {"options": VARIANTS[v], "n": len(ids[v])}
        for part in ("all", "A", "B"):
            sel = np.ones(len(ids[v]), bool) if part == "all" else halves[v] == part
            r = c2st(
                f_real, feats[v][sel], groups_real=real_scene,
                groups_fake=np.array(ids[v])[sel], **common,
            )  # fmt: skip
            row[f"c2st_{part}"] = {
                "accuracy": r.accuracy, "interval": list(r.interval), "n_fake": int(sel.sum())
            }  # fmt: skip
            s = scores[v][sel]
            row[f"critic_{part}"] = float(np.mean(s))
            if "before" in names and v != "before":
                base = dict(zip(ids["before"], scores["before"], strict=True))
                diff = np.array(
                    [x - base[p] for x, p in zip(s, np.array(ids[v])[sel], strict=True)]
                )
                boot = [rng.choice(diff, len(diff)).mean() for _ in range(2000)]
                row[f"critic_{part}_vs_before"] = {
                    "mean": float(diff.mean()),
                    "interval": [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))],
                }
        if features == "inception-v3":
            mean, std = kernel_inception_distance(f_real, feats[v], subset_size=100, subsets=100)
            row["kid"] = {"kid": mean, "kid_std": std}
        out[v] = row
        log.info(
            "variant %s (%s): C2ST all %.3f A %.3f B %.3f; critic A %.3f B %.3f",
            v, features, row["c2st_all"]["accuracy"], row["c2st_A"]["accuracy"],
            row["c2st_B"]["accuracy"], row["critic_A"], row["critic_B"],
        )  # fmt: skip
    return out


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
    parser.add_argument(
        "--variants",
        default="",
        help=f"comma-separated compositing variants to compare ({', '.join(VARIANTS)})",
    )
    args = parser.parse_args()
    variant_names = [v for v in args.variants.split(",") if v]
    unknown = set(variant_names) - set(VARIANTS)
    if unknown:
        parser.error(f"--variants: unknown {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    products_dir = args.data / "ikea-sa-products"
    if data_missing(products_dir):
        return 0
    started = time.time()
    cache = ROOT / ".cache" / f"realism-crops-{args.products}-{args.seed}-{args.isnet_size}.npz"
    variant_crops: dict[str, list[np.ndarray]] = {v: [] for v in variant_names}
    variant_id: dict[str, list[str]] = {v: [] for v in variant_names}
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
        for v in variant_names:
            if f"variant_{v}" not in c:
                raise SystemExit(f"--reuse: variant {v} is not in {cache}; run without --reuse")
            variant_crops[v] = list(c[f"variant_{v}"])
            variant_id[v] = [str(p) for p in c[f"variant_{v}_id"]]
    else:
        catalog = build_catalog(
            args.data, ROOT / ".cache" / f"realism-catalog-{args.isnet_size}", args.isnet_size
        )

        real, real_scene, _ = real_crops(catalog, args.min_area)
        rooms = sorted((args.data / "ikea-room-scenes" / "images").iterdir())
        log.info("%d real crops from %d scenes", len(real), len(set(real_scene)))

        # Fakes: naive paste and staged, each product in one half, pasted into scenes of its half.
        with open(products_dir / "labels.csv", newline="") as handle:
            products = list(csv.DictReader(handle))
        rng = np.random.default_rng(args.seed)
        picked = sorted(rng.choice(len(products), min(args.products, len(products)), replace=False))
        seg = SEGMENTERS.create(args.segmenter)
        options = StageOptions(keep_steps=False)
        variant_options = {v: StageOptions(keep_steps=False, **VARIANTS[v]) for v in variant_names}
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
            for v, opts in variant_options.items():
                if cands:  # the same slot and fill (the ranking ignores compositing)
                    again = stage_candidate(cut, cands[0].match, opts)
                    variant_crops[v].append(square_crop(again.image, again.placement))
                    variant_id[v].append(path)
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
            **{f"variant_{v}": np.asarray(variant_crops[v]) for v in variant_names},
            **{f"variant_{v}_id": np.asarray(variant_id[v]) for v in variant_names},
        )

    real_half = np.array([half_of(u, args.seed) for u in real_scene])
    naive_half = np.array([half_of(p, args.seed) for p in naive_id])
    staged_half = np.array([half_of(p, args.seed) for p in staged_id])
    cand_half = np.array([half_of(c["product"], args.seed) for c in candidates])
    results: dict = {"c2st": {}, "kid": {}, "critic": {}, "variants": {}}
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

        if variant_names:
            results["variants"][name] = compare_variants(
                variant_names, variant_crops, variant_id, extractor, f_real, f_naive, real_scene,
                naive_half, real_half, name, args,
            )  # fmt: skip

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
        "stage_options": {
            "inpainter": inpainter,
            "k": 3,
            "retrieved": 12,
            "composite": {
                f: getattr(StageOptions(), f)
                for f in ("despill", "edges", "light", "harmonize", "shadow", "product_exact")
            },
        },
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
