"""Does the cut-out check (adstage.segment.prompt.check_cutout) refuse the bad cut-outs of photos
taken off a studio backdrop, and keep the good ones? Writes benchmarks/results/cutout_check.json.

    python benchmarks/cutout_check.py

Photos with one object and its ground-truth mask: GrabCut-50 (objects in real scenes) and the
COCO photos of ``coco-mval-objects`` whose object covers ≥ 5 % of the photo (objects among other
objects and people). Each is segmented with ``auto`` as ``adstage stage`` does (photos routed to
``solid-background`` are skipped by the check, and counted apart); the IoU with the ground truth
of the cut-outs the check accepts is compared with that of those it refuses, and the refusals are
counted by reason. A check worth having refuses mostly bad cut-outs: a lower IoU among the
refused. Nothing was tuned on these photos: the thresholds are the module's defaults.
"""

from __future__ import annotations

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
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image
from adstage.provenance import versions
from adstage.segment import SEGMENTERS
from adstage.segment.prompt import MAX_AREA, MAX_SIDES, MIN_PIECE, check_cutout

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.cutout_check")


def _photos(data: Path) -> list[tuple[str, Path, Path]]:
    out = []
    grabcut = data / "grabcut-50"
    with open(grabcut / "labels.csv", newline="") as handle:
        out += [
            ("grabcut-50", grabcut / r["path"], grabcut / r["mask_path"])
            for r in csv.DictReader(handle)
        ]
    coco = data / "coco-mval-objects"
    with open(coco / "metadata.csv", newline="") as handle:
        out += [
            ("coco (fg ≥ 5 %)", coco / r["path"], coco / r["mask_path"])
            for r in csv.DictReader(handle)
            if float(r["fg_fraction"]) >= 0.05
        ]
    return out


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if data_missing(DATA / "grabcut-50"):
        return 0
    started = time.time()
    seg = SEGMENTERS.create("auto")
    rows = []
    for n, (dataset, path, truth_path) in enumerate(_photos(DATA)):
        image = read_image(path)
        result = seg(image)
        backend = result.provenance.get("auto", {}).get("chosen", result.backend)
        truth = cv2.imread(str(truth_path), cv2.IMREAD_GRAYSCALE)
        if truth.shape != image.shape[:2]:
            truth = cv2.resize(
                truth, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST
            )
        known = truth != 128  # GrabCut's uncertain band is left out of IoU
        gt = truth > 128
        pred = result.alpha >= 0.5
        iou = float((pred & gt & known).sum()) / max(float(((pred | gt) & known).sum()), 1.0)
        verdict = check_cutout(result.alpha)
        rows.append(
            {
                "set": dataset,
                "image": path.name,
                "backend": backend,
                "iou": iou,
                "checked": backend != "solid-background",
                "ok": verdict.ok,
                "sides": verdict.sides,
                "pieces": verdict.pieces,
                "area": verdict.area,
                "reasons": [r.split(" (")[0] for r in verdict.reasons],
            }
        )
        if n % 20 == 0:
            log.info("%d photos (%.0f s)", n + 1, time.time() - started)
    summary: dict = {}
    for dataset in [*sorted({r["set"] for r in rows}), "all"]:
        sel = [r for r in rows if (dataset == "all" or r["set"] == dataset) and r["checked"]]
        kept = [r["iou"] for r in sel if r["ok"]]
        refused = [r["iou"] for r in sel if not r["ok"]]
        reasons: dict[str, int] = {}
        for r in sel:
            for reason in r["reasons"]:
                key = next(k for k in ("sides", "pieces", "covers", "empty") if k in reason)
                reasons[key] = reasons.get(key, 0) + 1
        summary[dataset] = {
            "photos": sum(1 for r in rows if dataset == "all" or r["set"] == dataset),
            "checked": len(sel),
            "kept": len(kept),
            "refused": len(refused),
            "iou_kept_mean": float(np.mean(kept)) if kept else None,
            "iou_refused_mean": float(np.mean(refused)) if refused else None,
            "kept_below_0.5": sum(i < 0.5 for i in kept),
            "refused_below_0.5": sum(i < 0.5 for i in refused),
            "reasons": reasons,
        }
        log.info("%s: %s", dataset, summary[dataset])
    result = {
        "benchmark": "cutout_check",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": versions(),
        "command": " ".join(["python", "benchmarks/cutout_check.py", *sys.argv[1:]]),
        "thresholds": {"max_sides": MAX_SIDES, "min_piece": MIN_PIECE, "max_area": MAX_AREA},
        "summary": summary,
        "rows": rows,
        "elapsed_s": round(time.time() - started, 1),
    }
    atomic_write_text(ROOT / "results" / "cutout_check.json", json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
