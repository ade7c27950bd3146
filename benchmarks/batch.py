"""Batch staging throughput: the local engine and Ray Data at 1 and 2 workers, and what a million
products would cost.

Data: the synthetic catalog that ships with adstage, as ``adstage demo`` builds it — 48 staged
rooms (``SyntheticCatalog(48, seed=7, size=512×512, staged_fraction=1)``, their ground-truth
masks as slots, classical embedder: no weights needed) — and ``--products`` un-staged synthetic
products (seed 8, 384×384) with their masks, in a CSV. Every run stages the same products with
the default staging options (k=3, hybrid inpainter) into a fresh output folder, so nothing is
skipped; the time is the wall clock of :func:`adstage.batch.stage_batch`, engine start-up
(spawning processes, starting Ray) included. Ratios are against local-1-worker measured in the
same run. Cost per 1M products = 1e6 / items-per-second × workers / 3600 CPU-hours, and in
dollars at an assumed ``--price`` per vCPU-hour (an estimate; no provider is measured).

    python benchmarks/batch.py [--products 24] [--out benchmarks/results/batch.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT
from adstage.batch import iter_items, stage_batch
from adstage.datasets.synthetic import SyntheticCatalog, write_catalog
from adstage.io.atomic import atomic_write_text
from adstage.io.images import write_image, write_mask
from adstage.provenance import versions
from adstage.retrieve.ingest import ingest, open_or_create, sources_from_csv

RUNS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))


def build(root: Path, n_products: int) -> Path:
    scenes = SyntheticCatalog(48, seed=7, size=(512, 512), staged_fraction=1.0)
    write_catalog(scenes, root / "scenes")
    store = open_or_create(root / "catalog", embedders=["classical"])
    ingest(store, sources_from_csv(root / "scenes" / "labels.csv")[0])
    lines = ["path,mask,category,id"]
    for item in SyntheticCatalog(n_products, seed=8, size=(384, 384), staged_fraction=0.0):
        write_image(root / "products" / f"{item.id}.png", item.image)
        write_mask(root / "masks" / f"{item.id}.png", item.mask)
        lines.append(f"products/{item.id}.png,masks/{item.id}.png,{item.category},{item.id}")
    table = root / "products.csv"
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=24)
    parser.add_argument("--price", type=float, default=0.05, help="assumed USD per vCPU-hour")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "batch.json")
    args = parser.parse_args()
    try:
        import ray

        ray_version: str | None = ray.__version__
    except ImportError:
        ray_version = None
    root = Path(tempfile.mkdtemp(prefix="adstage-bench-batch-"))
    try:
        table = build(root, args.products)
        runs = []
        for engine, workers in RUNS:
            if engine == "ray" and ray_version is None:
                print(f"skipped {engine}-{workers}: ray is not installed")
                continue
            out = root / f"out-{engine}-{workers}"
            started = time.perf_counter()
            summary = stage_batch(
                iter_items(table), root / "catalog", out, engine=engine, workers=workers
            )
            seconds = time.perf_counter() - started
            rate = summary.done / seconds
            cpu_hours = 1e6 / rate * workers / 3600 if rate else None
            runs.append(
                {
                    "engine": engine,
                    "workers": workers,
                    "done": summary.done,
                    "failed": summary.failed,
                    "seconds": round(seconds, 2),
                    "items_per_second": round(rate, 3),
                    "cpu_hours_per_million": round(cpu_hours, 1) if cpu_hours else None,
                    "usd_per_million_estimate": round(cpu_hours * args.price, 2)
                    if cpu_hours
                    else None,
                }
            )
            print(json.dumps(runs[-1]))
        base = runs[0]["items_per_second"]
        for run in runs:
            run["ratio_to_local_1"] = round(run["items_per_second"] / base, 3) if base else None
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "benchmark": "batch",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "note": "2 cores shared with other work while measured; start-up included",
        },
        "versions": versions() | ({"ray": ray_version} if ray_version else {}),
        "command": "python benchmarks/batch.py " + " ".join(sys.argv[1:]),
        "data": {
            "catalog": "SyntheticCatalog(48, seed=7, 512x512, staged) as adstage demo builds it; "
            "classical embedder",
            "products": f"SyntheticCatalog({args.products}, seed=8, 384x384, un-staged) + masks",
            "options": "stage() defaults: k=3, hybrid inpainter",
        },
        "price": {
            "usd_per_vcpu_hour": args.price,
            "note": "assumed, roughly an on-demand general-purpose cloud vCPU; an estimate",
        },
        "runs": runs,
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
