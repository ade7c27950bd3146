"""Retrieval benchmark on ../shared/data/ikea-sa-products; writes benchmarks/results/retrieval.json.

    python benchmarks/retrieval.py                 # P@k / R@k per embedder, cut-out vs whole
    python benchmarks/retrieval.py --ingest-n 100  # and ingest throughput on 100 products

The paper's protocol (Ku et al., AdKDD 2023, §5.3, Table 1): leave-one-out over the labelled
products, cosine similarity, an item is relevant when it shares the query's category; exact and
near-duplicate photos of the query (16×16 dHash within 4 of 256 bits, or equal sha256) are removed from its
gallery; categories with fewer than 20 items are dropped. Every embedder sees the same images and
the same masks (``solid-background``, the catalog's backend for plain products), in one run.

Ingest throughput runs the real catalog (LanceDB) ingest: read, triage, segment, embed, commit.
The licensed photos never leave ../shared/data.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from _common import DATA, data_missing
from adstage.evaluate.retrieval import (
    DEFAULT_MAX_DISTANCE,
    HASH_SIZE,
    evaluate_retrieval,
    near_duplicates,
)
from adstage.io.atomic import atomic_write_text
from adstage.io.hashing import dhash, sha256_bytes
from adstage.io.images import read_image
from adstage.provenance import versions
from adstage.retrieve.base import EMBEDDERS
from adstage.segment import SEGMENTERS

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.retrieval")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "retrieval.json")
    parser.add_argument("--embedders", default="inception-v3,efficientnet-lite0,classical")
    parser.add_argument("--min-per-category", type=int, default=20)
    parser.add_argument("--ingest-n", type=int, default=200, help="products for the ingest timing")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    folder = args.data / "ikea-sa-products"
    if data_missing(folder):
        return 0
    with open(folder / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    started = time.time()
    seg = SEGMENTERS.create("solid-background")
    images, masks, labels, hashes, digests = [], [], [], [], []
    for row in rows:
        path = folder / row["path"]
        data = path.read_bytes()
        image = read_image(data)
        images.append(image)
        masks.append(seg(image).alpha)
        labels.append(row["category"])
        hashes.append(dhash(image, HASH_SIZE))
        digests.append(sha256_bytes(data))
    exclude = near_duplicates(hashes, max_distance=DEFAULT_MAX_DISTANCE, digests=digests)
    log.info("%d products, %d near-duplicate pairs", len(rows), int(exclude.sum()) // 2)

    results: dict[str, dict] = {}
    for name in args.embedders.split(","):
        for mode in ("cutout", "whole"):
            embedder = EMBEDDERS.create(name, mode=mode)
            t0 = time.perf_counter()
            vectors = embedder.embed(images, masks)
            seconds = (time.perf_counter() - t0) / len(images)
            report = evaluate_retrieval(
                vectors,
                labels,
                ks=(1, 3, 5),
                exclude=exclude,
                min_per_category=args.min_per_category,
                embedder=name,
            )
            out = report.as_dict()
            results[f"{name}/{mode}"] = {
                "precision": {k: round(v, 4) for k, v in out["precision"].items()},
                "recall": {k: round(v, 4) for k, v in out["recall"].items()},
                "n_queries": out["n_queries"],
                "n_categories": out["n_categories"],
                "embed_ms_per_image": round(seconds * 1000, 1),
            }
            log.info(
                "%s/%s: P@1 %.3f R@5 %.3f", name, mode, out["precision"]["1"], out["recall"]["5"]
            )

    ingest = {}
    if args.ingest_n:
        from adstage.retrieve.base import load_embedder
        from adstage.retrieve.ingest import Source, open_or_create
        from adstage.retrieve.ingest import ingest as ingest_sources

        sources = [Source(folder / r["path"], r["category"]) for r in rows[: args.ingest_n]]
        for name in args.embedders.split(","):
            tmp = Path(tempfile.mkdtemp(prefix="adstage-bench-"))
            try:
                catalog = open_or_create(tmp, embedders=[name])
                # Load and warm the network outside the timing: a catalog ingests millions of
                # images, so the steady state is what counts, not the first batch's set-up.
                warm = np.full((256, 256, 3), 255, np.uint8)
                warm[64:192, 64:192] = 90
                load_embedder(name).embed([warm] * 4, [warm[..., 0] < 128] * 4)
                t0 = time.perf_counter()
                report = ingest_sources(catalog, sources, segmenter="auto")
                elapsed = time.perf_counter() - t0
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            ingest[name] = {"n": report.added, "images_per_s": round(report.added / elapsed, 2)}
            log.info("ingest with %s: %.2f images/s", name, report.added / elapsed)

    result = {
        "benchmark": "retrieval",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": versions(),
        "command": " ".join(["python", "benchmarks/retrieval.py", *sys.argv[1:]]),
        "protocol": "leave-one-out, cosine, same-category relevant, near-duplicates (16×16 dHash "
        f"≤ {DEFAULT_MAX_DISTANCE} of 256 bits, or equal sha256) excluded, categories < "
        f"{args.min_per_category} dropped",
        "n_products": len(rows),
        "embedders": results,
        "ingest": ingest,
        "paper_table1_42_furniture_subcategories": {
            "P@1": 0.468,
            "P@3": 0.409,
            "P@5": 0.374,
            "R@3": 0.664,
            "R@5": 0.734,
        },
        "elapsed_s": round(time.time() - started, 1),
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v["precision"]["1"] for k, v in results.items()}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
