"""The scene's estimated horizon in the size and support checks (issue 13, placement and scale):
writes benchmarks/results/horizon.json.

    python benchmarks/horizon.py                     # every dev room, 200 products; about 4 min
    python benchmarks/horizon.py --products 40 --sheets 12

Three measurements, one run, on the realism benchmark's catalog of the dev rooms with their room
types (``benchmarks/.cache/realism-catalog-512-typed``; ``scale_screen.py`` builds it):

1. **Estimates**: :func:`adstage.stage.horizon.estimate_horizon` on every scene of the catalog:
   how many give an estimate that is kept (clear enough and inside the prior's range), its rows,
   and the milliseconds per scene.
2. **The catalog's own objects**, real furniture and decor in real photos: how many have their
   base above the highest horizon the camera allows, i.e. what ``support`` would refuse for a
   floor-standing product, with the prior alone and with each scene's estimate. Floor furniture
   among them is a wrong refusal (a horizon estimated too low); wall and hanging objects are
   right. The flagged objects are drawn, box and horizon range, into
   ``benchmarks/.cache/horizon/objects-*.png`` to be looked at.
3. **Products**: random IKEA products with their catalog product type as ``kind`` (seed 3, as
   ``scale_screen.py``), screened with the horizon off and on (``Screen(horizon=...)``):
   refusals by reason, products that keep a slot, and how often the slot staged first changes.
   ``--sheets N`` writes product | before | after pictures of changed ones to
   ``benchmarks/.cache/horizon/`` (git-ignored: the photos are non-commercial).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import dataclasses
import json
import logging
import platform
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from _figures import fit_height
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image, write_image
from adstage.provenance import versions
from adstage.stage import horizon as hz
from adstage.stage.pipeline import SCREEN_POOL, StageOptions, screen_matches, stage_candidate
from adstage.stage.scale import Camera, Kind
from adstage.stage.screen import Screen
from scale_screen import _sheet, arguments, retrieved_products, typed_catalog_and_sample

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.horizon")


def estimates(uris: list[str]) -> tuple[dict[str, dict], list[float]]:
    """Each scene's estimate (row, share, whether kept) and the milliseconds it took."""
    out: dict[str, dict] = {}
    ms: list[float] = []
    prior = Camera()
    for uri in uris:
        image = read_image(uri)
        t = time.perf_counter()
        found = hz.estimate_horizon(image)
        ms.append(1000 * (time.perf_counter() - t))
        camera = hz.camera_for(found, prior)
        out[uri] = {
            "row": None if found is None else round(found.row, 4),
            "share": None if found is None else round(found.share, 4),
            "kept": camera != prior,
            "range": list(camera.horizon),
        }
    return out, ms


def objects_check(catalog, scenes: dict[str, dict], min_area: float, sheets: Path) -> dict:  # type: ignore[no-untyped-def]
    """Catalog objects whose base is above the highest horizon allowed, prior vs estimate."""
    rows = catalog.columns(["id", "uri", "bbox", "area_fraction", "height"]).to_pylist()
    prior = Camera().horizon
    n = 0
    flagged: dict[str, list[dict]] = {"prior": [], "estimate": []}
    for row in rows:
        if row["area_fraction"] < min_area:
            continue
        n += 1
        base = row["bbox"][3] / float(row["height"])
        for label, lo in (("prior", prior[0]), ("estimate", scenes[row["uri"]]["range"][0])):
            if base <= lo:
                flagged[label].append(
                    {"id": row["id"], "uri": row["uri"], "bbox": row["bbox"], "h": row["height"]}
                )
    sheets.mkdir(parents=True, exist_ok=True)
    for k, item in enumerate(flagged["estimate"]):
        image = read_image(item["uri"]).copy()
        h, w = image.shape[:2]
        x0, y0, x1, y1 = (int(v * h / float(item["h"])) for v in item["bbox"])
        cv2.rectangle(image, (x0, y0), (x1, y1), (255, 0, 255), 3)
        lo, hi = scenes[item["uri"]]["range"]
        for r in (lo, hi):
            cv2.line(image, (0, int(r * h)), (w - 1, int(r * h)), (255, 0, 0), 2)
        write_image(sheets / f"objects-{k:02d}.png", fit_height(image, 360))
    return {
        "objects": n,
        "base_above_highest_horizon": {k: len(v) for k, v in flagged.items()},
        "flagged_with_estimate": [f["id"] for f in flagged["estimate"]],
    }


def main() -> int:
    args = arguments(__doc__, "horizon.json")
    started = time.time()
    setup = typed_catalog_and_sample(args)
    if setup is None:
        return 0
    products_dir, catalog, products, picked = setup
    sheets = ROOT / ".cache" / "horizon"
    uris = sorted(set(catalog.columns(["uri"]).column("uri").to_pylist()))
    scenes, ms = estimates(uris)
    log.info("estimated %d scenes", len(scenes))
    objects = objects_check(catalog, scenes, args.min_area, sheets)

    off = StageOptions(keep_steps=False)  # the default: horizon off
    on = dataclasses.replace(off, screen=Screen(horizon=True))
    pool = max(5 * off.k, SCREEN_POOL)
    where = f"staged = true AND area_fraction >= {args.min_area}"
    reasons: dict[str, Counter[str]] = {"horizon off": Counter(), "horizon on": Counter()}
    rows: list[dict] = []
    written = 0

    def floor(kind: Kind | None) -> bool:  # the horizon is used for floor-standing kinds only
        return kind is not None and kind.support == "floor"

    found = retrieved_products(products_dir, catalog, products, picked, pool, where, floor)
    for n, item, _, cut, matches in found:
        if matches is None:
            continue
        row: dict = {"product": item["path"], "product_type": item["product_type"]}
        chosen = {}
        why: dict[str, str | None] = {}
        for label, opts in (("horizon off", off), ("horizon on", on)):
            kept, record = screen_matches(
                cut, matches, dataclasses.replace(opts, kind=item["product_type"])
            )
            why = {m.id: v.reason for m, v in record.pop("refused_matches")}
            reasons[label].update(record["reasons"])
            first = kept[0] if kept else None
            row[label] = {"kept": len(kept), "first": None if first is None else first.id}
            chosen[label] = first
        before, after = chosen["horizon off"], chosen["horizon on"]
        row["first_changed"] = (before.id if before else None) != (after.id if after else None)
        if row["first_changed"] and before is not None:
            row["first_changed_because"] = why.get(before.id) or "reordered"
        if row["first_changed"] and written < args.sheets:
            plain = dataclasses.replace(on, kind=item["product_type"])
            cands = [None if m is None else stage_candidate(cut, m, plain) for m in (before, after)]
            _sheet(cut, *cands, sheets / f"{written:02d}-{Path(item['path']).stem[:60]}.png")
            written += 1
        rows.append(row)
        if n % 20 == 0:
            log.info("%d/%d products", n + 1, len(picked))

    kept_rows = [s for s in scenes.values() if s["kept"]]
    result = {
        "benchmark": "horizon",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/horizon.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(),
        "settings": {
            "products": len(picked),
            "seed": args.seed,
            "min_area": args.min_area,
            "prior": Camera().as_dict(),
            "spread": hz.SPREAD,
            "min_share": hz.MIN_SHARE,
            "variants_tried": "3, chosen by eye on a sheet of 24 dev rooms and on this run's "
            "first version: votes of meeting points' rows; vanishing points supported from both "
            "sides with segments of at least 4 % of the diagonal (wrong estimates on rugs made a "
            "footstool's plausible slot fail the scale check); the same with 8 %",
        },
        "scenes": {
            "n": len(scenes),
            "estimated": sum(s["row"] is not None for s in scenes.values()),
            "kept": len(kept_rows),
            "kept_rows": {
                f"p{q}": round(float(np.percentile([s["row"] for s in kept_rows], q)), 3)
                for q in (10, 50, 90)
            }
            if kept_rows
            else {},
            "ms_median": round(float(np.median(ms)), 1),
            "ms_p90": round(float(np.percentile(ms, 90)), 1),
        },
        "objects": objects,
        "floor_products": len(rows),
        "reasons": {label: dict(c) for label, c in reasons.items()},
        "with_a_slot": {
            label: sum(r[label]["kept"] > 0 for r in rows)
            for label in ("horizon off", "horizon on")
        },
        "first_slot_changed": {
            "n": sum(r["first_changed"] for r in rows),
            "because": dict(
                Counter(r["first_changed_because"] for r in rows if r.get("first_changed_because"))
            ),
        },
        "per_scene": scenes,
        "rows": rows,
        "elapsed_s": round(time.time() - started, 1),
    }
    atomic_write_text(args.out, json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    log.info("wrote %s", args.out)
    keys = ("scenes", "objects", "floor_products", "reasons", "with_a_slot", "first_slot_changed")
    print(json.dumps({k: result[k] for k in keys}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
