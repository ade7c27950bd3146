"""The slot screen (issue 13, steps 2 and 4): staged with and without it, the same products and
scenes, one run; writes benchmarks/results/screen.json.

    python benchmarks/screen.py                      # 100 products, about 20 min
    python benchmarks/screen.py --products 40

Uses the realism benchmark's catalog of the dev rooms (``benchmarks/realism.py`` builds it in
``benchmarks/.cache/realism-catalog-512``; it is rebuilt here when missing) and its crops: square
crops (1.5× the box, 299²) around real objects vs. around each product's best staged candidate.
Each product is staged into scenes of its own half (products and scenes split by a hash of the
file name, as in ``benchmarks/realism.py``) twice:

* **no screen**: the top 3 retrieved slots as they come (the pipeline until this change);
* **screen**: ``adstage.stage.pipeline.screen_matches`` with the default
  :class:`adstage.stage.screen.Screen` over the top ``max(5k, 20)`` retrieved slots;
* **screen + free space**: the same, and a product with no slot left is stood beside the most
  similar refused object instead (``adstage.stage.freespace``) — what ``adstage stage`` now does
  by default.

Reported per half (A chose the thresholds: the strictest ``max_uncovered`` in {0.3, 0.4, 0.5,
0.6} that kept at least 85 % of half A's products with a candidate; B is reported): the share of
products that still get a candidate, why slots were refused, the C2ST accuracy real vs staged
(``adstage.evaluate.realism.c2st``, Inception pool3 and colour-gradient features) and local KID.
A refused product has no staged crop, so the C2ST rows compare what each setting outputs.
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
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from _common import DATA, data_missing
from adstage.evaluate.fid import kernel_inception_distance
from adstage.evaluate.realism import c2st, crop_features, square_crop
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image
from adstage.provenance import versions
from adstage.retrieve.search import retrieve
from adstage.segment import SEGMENTERS
from adstage.stage.pipeline import (
    SCREEN_POOL,
    StageOptions,
    _stage_beside_any,
    screen_matches,
    stage_candidate,
)
from adstage.stage.screen import Screen
from adstage.types import Cutout
from realism import build_catalog, half_of, real_crops

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.screen")
SETTINGS = ("no screen", "screen", "screen + free space")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "screen.json")
    parser.add_argument("--products", type=int, default=100)
    parser.add_argument("--features", default="inception-v3,colour-gradient")
    parser.add_argument("--min-area", type=float, default=0.01)
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    products_dir = args.data / "ikea-sa-products"
    if data_missing(products_dir):
        return 0
    started = time.time()
    catalog = build_catalog(args.data, ROOT / ".cache" / "realism-catalog-512", 512)

    real, real_scene, real_at_frame = real_crops(catalog, args.min_area)
    away = ~np.array(real_at_frame)

    with open(products_dir / "labels.csv", newline="") as handle:
        products = list(csv.DictReader(handle))
    rng = np.random.default_rng(args.seed)
    picked = sorted(rng.choice(len(products), min(args.products, len(products)), replace=False))
    seg = SEGMENTERS.create("auto")
    options = StageOptions(keep_steps=False)
    assert options.screen is not None
    pool = max(5 * options.k, SCREEN_POOL)
    where = f"staged = true AND area_fraction >= {args.min_area}"
    crops: dict[str, list[np.ndarray]] = {s: [] for s in SETTINGS}
    ids: dict[str, list[str]] = {s: [] for s in SETTINGS}
    per_product: list[dict] = []
    reasons: dict[str, int] = {}
    seconds: list[float] = []
    for n, index in enumerate(picked):
        path = products[index]["path"]
        image = read_image(products_dir / path)
        alpha = seg(image).alpha
        cut = Cutout.from_alpha(image, alpha)
        if cut.empty:
            log.warning("%s: empty segmentation, skipped", path)
            continue
        half = half_of(path, args.seed)
        matches = retrieve(image, catalog, mask=alpha, k=4 * pool, where=where, rerank=True)
        in_half = [m for m in matches if half_of(m.uri, args.seed) == half][:pool]
        t = time.perf_counter()
        kept, record = screen_matches(cut, in_half, options)
        refused = record.pop("refused_matches")
        seconds.append(time.perf_counter() - t)
        beside = [] if kept else _stage_beside_any(cut, refused, catalog, options, path)
        for reason, count in record["reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + count
        chosen = {"no screen": in_half[: options.k], "screen": kept, "screen + free space": kept}
        staged: dict[str, object] = {}
        row = {"product": path, "half": half, "retrieved": len(in_half), "refused": record}
        for setting, slots in chosen.items():
            cands = list(beside) if setting == "screen + free space" else []
            for match in slots:
                if match.id not in staged:
                    try:
                        staged[match.id] = stage_candidate(cut, match, options)
                    except Exception as exc:  # a benchmark reports, it does not stop
                        log.warning("%s / %s: %s", path, match.id, exc)
                        staged[match.id] = None
                if staged[match.id] is not None:
                    cands.append(staged[match.id])
            row[setting] = len(cands)
            if cands:
                best = max(cands, key=lambda c: c.score)  # type: ignore[attr-defined]
                crops[setting].append(square_crop(best.image, best.placement))  # type: ignore[attr-defined]
                ids[setting].append(path)
        per_product.append(row)
        if n % 10 == 0:
            log.info("%d / %d products (%.0f s)", n + 1, len(picked), time.time() - started)

    halves = {s: np.array([half_of(p, args.seed) for p in ids[s]]) for s in SETTINGS}
    coverage = {}
    for part in ("all", "A", "B"):
        rows = [r for r in per_product if part == "all" or r["half"] == part]
        coverage[part] = {
            "products": len(rows),
            **{s: sum(r[s] > 0 for r in rows) for s in SETTINGS},
            **{f"{s} (share)": sum(r[s] > 0 for r in rows) / max(len(rows), 1) for s in SETTINGS},
        }
    results: dict = {"c2st": {}, "kid": {}}
    for name in args.features.split(","):
        extractor = crop_features(name)
        f_real = extractor(real)
        common = {"features": name, "splits": args.splits, "seed": args.seed}
        results["c2st"][name] = {}
        for setting in SETTINGS:
            f_fake = extractor(crops[setting])
            for part in ("all", "A", "B"):
                sel = np.ones(len(ids[setting]), bool) if part == "all" else halves[setting] == part
                r = c2st(
                    f_real, f_fake[sel], groups_real=real_scene,
                    groups_fake=np.array(ids[setting])[sel], **common,
                )  # fmt: skip
                results["c2st"][name][f"{setting} {part}"] = r.as_dict()
                log.info("%s real vs %s (%s): %.3f [%.3f, %.3f]", name, setting, part,
                         r.accuracy, *r.interval)  # fmt: skip
            # Real objects away from the frame only: the screen keeps staged products off the
            # frame, so this row tells a placement difference from a look difference.
            r = c2st(
                f_real[away], f_fake, groups_real=np.array(real_scene)[away],
                groups_fake=np.array(ids[setting]), **common,
            )  # fmt: skip
            results["c2st"][name][f"{setting} vs real away from the frame"] = r.as_dict()
            log.info("%s real away from the frame vs %s: %.3f [%.3f, %.3f]", name, setting,
                     r.accuracy, *r.interval)  # fmt: skip
            if name == "inception-v3":
                mean, std = kernel_inception_distance(f_real, f_fake, subset_size=100, subsets=100)
                results["kid"][setting] = {"kid": mean, "kid_std": std, "n_fake": len(f_fake)}

    result = {
        "benchmark": "screen",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": versions(),
        "command": " ".join(["python", "benchmarks/screen.py", *sys.argv[1:]]),
        "n_products": len(per_product),
        "n_real": len(real),
        "n_real_away_from_frame": int(away.sum()),
        "n_real_scenes": len(set(real_scene)),
        "k": options.k,
        "pool": pool,
        "screen": Screen().as_dict(),
        "selection": {
            "tried": {"max_uncovered": [0.3, 0.4, 0.5, 0.6]},
            "rule": "strictest value keeping >= 85 % of half A's products with a candidate",
        },
        "coverage": coverage,
        "refusals": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "screen_ms_per_product": {
            "median": 1000 * float(np.median(seconds)),
            "p95": 1000 * float(np.quantile(seconds, 0.95)),
        },
        **results,
        "per_product": per_product,
        "elapsed_s": round(time.time() - started, 1),
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({"coverage": coverage, "c2st": results["c2st"]}, indent=2)[:3000])
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
