"""Seconds per staged candidate end to end, with and without the slot screen; writes
benchmarks/results/screen_latency.json.

    python benchmarks/screen_latency.py              # 12 products
    python benchmarks/screen_latency.py --n 24

``adstage.stage_product(path, catalog, k=3)`` on IKEA products (a seeded sample of
``ikea-sa-products``), into the realism benchmark's catalog of the dev rooms (1024-px-wide photos;
``benchmarks/.cache/realism-catalog-512``, built by ``benchmarks/realism.py`` or
``benchmarks/screen.py``): the whole call (segmentation, retrieval, screen, removal, inpainting,
compositing) divided by the candidates it returned, default options, then the same with
``screen=None`` (the baseline, in the same run, alternating per product so machine load hits
both alike). The issue's budget is 1.0 s per candidate at 1024² on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from _common import DATA, data_missing
from adstage import StageOptions, stage_product
from adstage.errors import AdstageError
from adstage.io.atomic import atomic_write_text
from adstage.provenance import versions

ROOT = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--catalog", type=Path, default=ROOT / ".cache" / "realism-catalog-512")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "screen_latency.json")
    args = parser.parse_args()
    products_dir = DATA / "ikea-sa-products"
    if data_missing(products_dir):
        return 0
    if not args.catalog.is_dir():
        print(f"skipped: no catalog at {args.catalog} (run benchmarks/screen.py first)")
        return 0
    with open(products_dir / "labels.csv", newline="") as handle:
        products = list(csv.DictReader(handle))
    rng = np.random.default_rng(args.seed)
    picked = rng.choice(len(products), args.n, replace=False)
    settings = {"screen": StageOptions(), "no screen": StageOptions(screen=None)}
    stage_product(products_dir / products[picked[0]]["path"], args.catalog, k=3)  # warm-up
    per: dict[str, list[float]] = {name: [] for name in settings}
    refused = 0
    for i in picked:
        path = products_dir / products[i]["path"]
        for name, options in settings.items():
            t = time.perf_counter()
            try:
                result = stage_product(path, args.catalog, k=3, options=options)
            except AdstageError:
                refused += name == "screen"
                continue
            per[name].append((time.perf_counter() - t) / len(result.candidates))
    summary = {
        name: {
            "n": len(v),
            "median_s_per_candidate": float(np.median(v)),
            "mean_s_per_candidate": float(np.mean(v)),
            "p90_s_per_candidate": float(np.quantile(v, 0.9)),
        }
        for name, v in per.items()
    }
    result = {
        "benchmark": "screen_latency",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()),
        },
        "versions": versions(),
        "command": " ".join(["python", "benchmarks/screen_latency.py", *sys.argv[1:]]),
        "products": args.n,
        "refused_with_screen": refused,
        "summary": summary,
        "ratio_median_screen_over_no_screen": summary["screen"]["median_s_per_candidate"]
        / summary["no screen"]["median_s_per_candidate"],
        "budget_s_per_candidate": 1.0,
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
