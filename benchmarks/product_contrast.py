"""How far a staged product's darks fall below its lights, against real objects (issue 13).

    python benchmarks/product_contrast.py                  # the catalog's objects; sets A, A2

Raters of staged pictures, one at a time, call free-space products "flat" or "flatly lit" more
often than anything else (session 34: the reasons of the rating runs ``RZ``, ``RAA``, ``RBB``).
This measures it. For every object, in the picture it stands in:

* **brightness**: its median luminance (linear light) over the white of its surroundings, the
  white the light match reads there (:func:`adstage.composite.light.estimate_light` on
  :func:`adstage.composite.blend._surroundings`, as :func:`adstage.composite.blend.composite`
  reads it), so a white object in a dim room and one in a bright room count alike;
* **contrast**: :func:`adstage.composite.light.product_contrast` on the object's opaque pixels
  eroded by :data:`ERODE` pixels (its own edge left out): the log ratio of its 90th to its 10th
  percentile luminance.

Real objects: every slot of ``--catalog`` (the dev rooms' objects, as ingested: U²-Net masks)
with at least :data:`MIN_PIXELS` pixels left. Staged products: each product of the judge sets
``--sets`` (their ``key.json``), staged again as ``judge_study.py make --kinds --heights`` stages
it (``k`` 3), its best candidate when that is free space standing whole in the frame (nothing
cut by the frame or turned: the product's cut-out, scaled to the candidate's box, is its mask).
The result (``results/product_contrast.json``) gives both groups' medians per brightness band
(:data:`BANDS`), with the difference and its bootstrap interval (``--summary-only`` recomputes
the summary from the rows a run stored). The real objects' masks are the catalog's (U²-Net, as
ingested), looser than a product's cut-out. The photos are non-commercial: nothing of them enters the repository.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from _common import DATA, data_missing, product_height, product_types
from adstage.catalog.store import Catalog, decode_mask
from adstage.composite.blend import _surroundings
from adstage.composite.light import LUMA, estimate_light, product_contrast, to_linear
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "product_contrast.json"
ERODE = 2
"""Pixels taken off the object's mask before measuring: its edge mixes with the background."""
MIN_PIXELS = 300
"""Fewer opaque pixels than this after the erosion: not measured."""
BANDS = ((0.0, 0.15), (0.15, 0.5), (0.5, 0.75), (0.75, float("inf")))
RESAMPLES = 2000
"""Bootstrap resamples of :func:`summarise`'s intervals."""
"""Brightness bands (median luminance over the surroundings' white) the medians are given in."""
log = logging.getLogger("benchmarks.product_contrast")


def measure(
    image: NDArray[np.uint8], alpha: NDArray[np.float32], box: tuple[int, int, int, int]
) -> dict[str, float] | None:
    """``{"brightness", "contrast"}`` of the object of ``alpha`` (the size of ``box``'s crop)
    standing at ``box`` in ``image``; ``None`` when too little of it is left to measure."""
    x0, y0, x1, y1 = box
    crop = alpha[y0:y1, x0:x1] if alpha.shape == image.shape[:2] else alpha
    if crop.shape != (y1 - y0, x1 - x0):
        raise ValueError(f"measure: alpha {alpha.shape} does not fit the box {box}")
    kernel = np.ones((2 * ERODE + 1, 2 * ERODE + 1), np.uint8)
    inner = cv2.erode((crop >= 0.9).astype(np.uint8), kernel) > 0
    if inner.sum() < MIN_PIXELS:
        return None
    pixels = image[y0:y1, x0:x1]
    contrast = product_contrast(pixels, inner.astype(np.float32))
    around = _surroundings(image, crop, box, 0.5, from_top=True)
    if contrast is None or len(around) < 16:
        return None
    light = estimate_light(
        around, strength=1.0, min_exposure=1e-3, max_exposure=1e3, max_cast=10, skip_sources=True
    )
    white = float(np.asarray(light.local_white) @ LUMA)
    median = float(np.median(to_linear(pixels[inner]) @ LUMA))
    return {"brightness": median / max(white, 1e-4), "contrast": contrast}


def summarise(
    real: list[dict[str, Any]], staged: list[dict[str, Any]], seed: int = 0
) -> dict[str, Any]:
    """Counts and median contrast of both groups, overall and per band of :data:`BANDS`, with the
    staged minus real difference of the medians and its 95 % bootstrap interval (both groups
    resampled, :data:`RESAMPLES` times; ``None`` where a group is empty)."""
    rng = np.random.default_rng(seed)

    def medians(rows: list[dict[str, Any]]) -> dict[str, Any]:
        values = [r["contrast"] for r in rows]
        return {
            "n": len(values),
            "contrast": round(float(np.median(values)), 3) if values else None,
        }

    def gap(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, Any] | None:
        x = np.array([r["contrast"] for r in a])
        y = np.array([r["contrast"] for r in b])
        if not len(x) or not len(y):
            return None
        draws = [
            np.median(rng.choice(y, len(y))) - np.median(rng.choice(x, len(x)))
            for _ in range(RESAMPLES)
        ]
        low, high = np.percentile(draws, [2.5, 97.5])
        return {
            "staged_minus_real": round(float(np.median(y) - np.median(x)), 3),
            "ci": [round(float(low), 3), round(float(high), 3)],
        }

    bands = []
    for low, high in BANDS:
        in_real = [r for r in real if low <= r["brightness"] < high]
        in_staged = [r for r in staged if low <= r["brightness"] < high]
        bands.append(
            {"brightness": [low, None if high == float("inf") else high]}
            | {"real": medians(in_real), "staged": medians(in_staged)}
            | {"gap": gap(in_real, in_staged)}
        )
    return {
        "real": medians(real) | {"brightness": _median(real, "brightness")},
        "staged": medians(staged) | {"brightness": _median(staged, "brightness")},
        "bands": bands,
    }


def _median(rows: list[dict[str, Any]], field: str) -> float | None:
    return round(float(np.median([r[field] for r in rows])), 3) if rows else None


def real_objects(catalog: Path) -> list[dict[str, Any]]:
    """:func:`measure` of every slot of ``catalog`` large enough to measure."""
    rows = Catalog(catalog).columns(["id", "uri", "mask_png"]).to_pylist()
    scenes: dict[str, NDArray[np.uint8]] = {}
    out = []
    for row in rows:
        scene = scenes.get(row["uri"])
        if scene is None:
            scene = scenes.setdefault(row["uri"], read_image(row["uri"]))
        decoded = decode_mask(row["mask_png"], row["id"]).astype(np.uint8) * 255  # stored 0/255
        if decoded.shape != scene.shape[:2]:
            decoded = cv2.resize(decoded, (scene.shape[1], scene.shape[0]))
        alpha = (decoded >= 128).astype(np.float32)
        ys, xs = np.nonzero(alpha)
        if len(ys) == 0:
            continue
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        found = measure(scene, alpha, box)
        if found is not None:
            out.append(found | {"id": row["id"]})
    return out


def staged_products(sets: list[str], work: Path, catalog: Path, data: Path) -> list[dict[str, Any]]:
    """:func:`measure` of each product of the judge ``sets`` staged again, its best candidate
    when that is free space shown whole."""
    from adstage import StageOptions, stage_product

    products_dir = data / "ikea-sa-products"
    types = product_types(products_dir)
    with open(products_dir / "labels.csv", newline="") as handle:
        paths = {Path(r["path"]).name: r["path"] for r in csv.DictReader(handle)}
    out = []
    for label in sets:
        key = json.loads((work / label / "key.json").read_text())
        for name, pair in sorted(key["pairs"].items()):
            path = paths[pair["product"]]
            kind = types.get(path)
            options = StageOptions(kind=kind) if kind else StageOptions()
            height = product_height(Path(path).name, kind) if kind else None
            if height is not None:
                options = dataclasses.replace(options, height_cm=height)
            try:
                staged = stage_product(products_dir / path, catalog, k=3, options=options)
            except Exception as exc:  # a benchmark reports, it does not stop
                log.warning("%s %s: %s", label, name, exc)
                continue
            best = staged.candidates[0]
            record = best.provenance
            if (
                record.get("mode") != "free-space"
                or record.get("off_frame")
                or record.get("perspective")
            ):
                continue
            x0, y0, x1, y1 = best.placement
            rgba = staged.product.rgba
            alpha = cv2.resize(rgba[..., 3], (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
            found = measure(best.image, alpha.astype(np.float32) / 255.0, best.placement)
            if found is not None:
                out.append(found | {"set": label, "pair": name, "product": pair["product"]})
                log.info("%s %s %s", label, name, found)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--catalog", type=Path, default=ROOT / ".cache" / "realism-catalog-512-typed"
    )
    parser.add_argument("--sets", default="A-l75,A2-l75", help="judge_study.py sets, by label")
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "judge")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--summary-only", action="store_true", help="recompute the summary of --out's stored rows"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.summary_only:
        if not args.out.is_file():
            print(f"error: no {args.out} to summarise")
            return 2
        stored = json.loads(args.out.read_text())
        stored["summary"] = summarise(stored["real"], stored["staged"])
        atomic_write_text(args.out, json.dumps(stored, indent=1) + "\n")
        print(json.dumps(stored["summary"], indent=1))
        return 0
    if data_missing(args.data / "ikea-sa-products"):
        return 0
    if not args.catalog.is_dir():
        print(f"skipped: no catalog at {args.catalog} (run benchmarks/realism.py first)")
        return 0
    sets = [s for s in args.sets.split(",") if s]
    missing = [s for s in sets if not (args.work / s / "key.json").is_file()]
    if missing:
        print(f"skipped: no judge sets {missing} in {args.work} (judge_study.py make first)")
        return 0
    real = real_objects(args.catalog)
    staged = staged_products(sets, args.work, args.catalog, args.data)
    result = {
        "benchmark": "product_contrast",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "command": " ".join(["python benchmarks/product_contrast.py", *(argv or sys.argv[1:])]),
        "sets": sets,
        "summary": summarise(real, staged),
        "real": real,
        "staged": staged,
    }
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
