"""How real furniture is shaded in its room, against a studio product shaded by staging (issue 13).

    python benchmarks/object_shading.py          # the dev rooms' objects; the dev products

The judges' most frequent word for a staged product is "flat" ("flat-lit", "flatly lit"), and
staging shades it (:func:`adstage.composite.light.shade_product`: brighter towards the room's
light, darker towards its base, by gains chosen in side-by-side rounds). This measures the
shading real furniture has in the dev photos and asks whether those gains bring a studio
product's towards it.

For an object, its **shading map**: the log luminance (linear light) over its mask eroded by
:data:`ERODE` px, blurred within the mask (a Gaussian of :data:`SIGMA` of its height,
normalised by the blurred mask: its low frequencies, where the room's light shows, not its
texture), averaged on a :data:`GRID` × :data:`GRID` grid over its box (a cell counts when the mask
covers :data:`MIN_COVER` of it) and centred on its mean; mirrored left to right when the room's
light (:func:`adstage.composite.light.light_side`) lies to the object's left, so that the light
is always on the right.

* **Real**: every slot of ``--catalog`` in an IKEA room photo (the dev rooms' objects, their
  U²-Net masks; the catalog's COCO photos left out) whose top and base are inside the frame, with
  at least :data:`MIN_PIXELS` pixels after the erosion and half its cells counted: furniture
  mostly, and what stands on it.
* **Studio**: every floor-standing dev product (its catalog type read by
  :func:`adstage.stage.scale.kind_of`), cut out as ``adstage stage`` does (``auto``).
* **Staged**: the studio products' mean map plus the map of a uniform grey box that
  :func:`shade_product` shaded at strength 1 in each real object's box and light (the product as
  staging shades it there, measured as the objects are), against that real object: the RMS
  difference over the counted cells, after removing the mean difference.

It also fits the darkening towards the base (:data:`adstage.composite.light.SHADE_RAMP`: the log
gain ``−drop · smoothstep(v; start, end)``, ``v`` the row's position, 0 top, 1 base, with
staging's side gains; ``drop`` 0: the side gains alone) to the real objects of half the rooms
(by a hash of the photo's file name; the other half reports), over :data:`DROPS` ×
:data:`STARTS` × :data:`ENDS`. Written to ``results/object_shading.json``: the
mean row and column profiles of each group and the median RMS of each model on each half. The
photos are non-commercial: nothing of them enters the repository.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import os
import platform
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from _common import DATA, command, data_missing, product_types
from adstage.catalog.store import Catalog, decode_mask
from adstage.composite import light
from adstage.composite.light import LUMA, light_side, shade_product, to_linear, towards_light
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image
from adstage.segment.base import SEGMENTERS
from adstage.stage.scale import FLOOR, kind_of

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "object_shading.json"
GRID = 12
ERODE = 5
SIGMA = 0.08
MIN_COVER = 0.3
MIN_PIXELS = 2000
DROPS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)
STARTS = (0.0, 0.2, 0.4, 0.6)
ENDS = (0.8, 1.0)


def shading_map(rgb: NDArray[np.uint8], mask: NDArray[np.bool_]) -> NDArray[np.float32] | None:
    """The centred :data:`GRID`² shading map of the object ``mask`` covers in ``rgb`` (both
    cropped to its box; see the module docstring), or ``None`` when too little is left."""
    kept = cv2.erode(mask.astype(np.uint8), np.ones((ERODE, ERODE), np.uint8)) > 0
    if kept.sum() < MIN_PIXELS:
        return None
    h, w = kept.shape
    log_luma = np.log(to_linear(rgb) @ np.asarray(LUMA, np.float32) + 1e-3)
    weight = kept.astype(np.float32)
    sigma = SIGMA * h
    num = cv2.GaussianBlur(log_luma * weight, (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)
    low = num / np.maximum(den, 1e-3)
    grid = np.full((GRID, GRID), np.nan, np.float32)
    for gy, gx in itertools.product(range(GRID), range(GRID)):
        rows = slice(gy * h // GRID, (gy + 1) * h // GRID)
        cols = slice(gx * w // GRID, (gx + 1) * w // GRID)
        cell = kept[rows, cols]
        if cell.size and cell.mean() > MIN_COVER:
            grid[gy, gx] = float(low[rows, cols][cell].mean())
    if np.isnan(grid).mean() > 0.5:
        return None
    return grid - np.nanmean(grid)


def staging_map(
    obj: dict[str, Any], ramp: tuple[float, float, float] | None = None
) -> NDArray[np.float32]:
    """The map of a uniform grey box that :func:`shade_product` shaded at strength 1 in the real
    object ``obj``'s box and light (with :data:`light.SHADE_RAMP` set to ``ramp`` when given),
    mirrored as ``obj``'s map was."""
    x0, y0, x1, y1 = obj["box"]
    grey = np.full((y1 - y0, x1 - x0, 3), 128, np.uint8)
    saved = light.SHADE_RAMP
    light.SHADE_RAMP = ramp
    try:
        shaded, _ = shade_product(grey, obj["box"], obj["width"], obj["light_x"], 1.0)
    finally:
        light.SHADE_RAMP = saved
    grid = shading_map(shaded, np.ones(grey.shape[:2], bool))
    if grid is None:
        raise ValueError(f"{obj['id']}: a box measured once cannot be too small now")
    return grid[:, ::-1] if obj["mirrored"] else grid


def rms(real: NDArray[np.float32], model: NDArray[np.float32]) -> float:
    """The RMS of ``real − model`` over the cells both count, their mean difference removed."""
    diff = real - model
    diff = diff[~np.isnan(diff)]
    return float(np.sqrt(((diff - diff.mean()) ** 2).mean()))


def real_objects(catalog: Path) -> list[dict[str, Any]]:
    """The shading map of every measurable slot of ``catalog``, with its room's half and light."""
    rows = Catalog(catalog).columns(["id", "uri", "mask_png"]).to_pylist()
    scenes: dict[str, tuple[NDArray[np.uint8], float | None]] = {}
    out = []
    for row in rows:
        if "ikea-room-scenes" not in row["uri"]:
            continue  # the catalog's COCO photos: a clock, a vase, a bench outdoors
        if row["uri"] not in scenes:
            scene = read_image(row["uri"])
            scenes[row["uri"]] = (scene, light_side(scene))
        scene, light_x = scenes[row["uri"]]
        h, w = scene.shape[:2]
        decoded = decode_mask(row["mask_png"], row["id"]).astype(np.uint8) * 255
        if decoded.shape != (h, w):
            decoded = cv2.resize(decoded, (w, h))
        mask = decoded >= 128
        ys, xs = np.nonzero(mask)
        if not ys.size:
            continue
        x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        if y0 <= 2 or y1 >= h - 2:
            continue  # its top or its base cut by the frame
        grid = shading_map(scene[y0:y1, x0:x1], mask[y0:y1, x0:x1])
        if grid is None:
            continue
        mirrored = towards_light(light_x, (x0, y0, x1, y1), w) < 0
        out.append(
            {
                "id": row["id"],
                "half": zlib.crc32(Path(row["uri"]).name.encode()) % 2,
                "box": (x0, y0, x1, y1),
                "width": w,
                "light_x": light_x,
                "mirrored": mirrored,
                "grid": grid[:, ::-1] if mirrored else grid,
            }
        )
    return out


def studio_products(data: Path) -> list[NDArray[np.float32]]:
    """The shading map of every floor-standing dev product, cut out as ``stage`` does."""
    products = data / "ikea-sa-products"
    types = product_types(products)
    with open(products / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    segmenter = SEGMENTERS.create("auto")
    out = []
    for row in rows:
        text = types.get(row["path"])
        kind = kind_of(text) if text else None
        if kind is None or kind.support != FLOOR:
            continue
        image = read_image(products / row["path"])
        mask = segmenter(image).alpha >= 0.5
        ys, xs = np.nonzero(mask)
        if not ys.size:
            continue
        crop = (slice(int(ys.min()), int(ys.max()) + 1), slice(int(xs.min()), int(xs.max()) + 1))
        grid = shading_map(image[crop], mask[crop])
        if grid is not None:
            out.append(grid)
    return out


def _profiles(grid: NDArray[np.float32]) -> dict[str, list[float]]:
    return {
        "rows": [round(float(x), 3) for x in np.nanmean(grid, axis=1)],
        "columns": [round(float(x), 3) for x in np.nanmean(grid, axis=0)],
    }


def summarise(real: list[dict[str, Any]], studio: list[NDArray[np.float32]]) -> dict[str, Any]:
    """Profiles and each model's median RMS per half (0: fits, 1: reports)."""
    studio_mean = np.nanmean(np.stack(studio), axis=0)
    staged = [studio_mean + staging_map(o) for o in real]

    def medians(models: list[NDArray[np.float32]]) -> list[float]:
        return [
            round(float(np.median([rms(o["grid"], m) for o, m in zip(real, models, strict=True)
                                   if o["half"] == h])), 4)
            for h in (0, 1)
        ]  # fmt: skip

    fitting = [o for o in real if o["half"] == 0]
    fits = {}
    for ramp in itertools.product(DROPS, STARTS, ENDS):
        errors = [rms(o["grid"], studio_mean + staging_map(o, ramp)) for o in fitting]
        fits[ramp] = float(np.median(errors))
    best = min(fits, key=lambda k: fits[k])
    ramped = [studio_mean + staging_map(o, best) for o in real]
    sides = [studio_mean + staging_map(o, (0.0, 0.0, 1.0)) for o in real]
    flat = np.zeros((GRID, GRID), np.float32)
    return {
        "real_objects": {"n": len(real), "fitting_half": len(fitting)},
        "studio_products": len(studio),
        "profiles": {
            "real": _profiles(np.nanmean(np.stack([o["grid"] for o in real]), axis=0)),
            "studio": _profiles(studio_mean),
            "staging": _profiles(np.nanmean(np.stack([m - studio_mean for m in staged]), axis=0)),
        },
        "median_rms": {  # [fitting half, reporting half]
            "flat": medians([flat] * len(real)),
            "studio_as_is": medians([studio_mean] * len(real)),
            "studio_side_gains_only": medians(sides),
            "studio_shaded_by_staging": medians(staged),
            "studio_with_the_fitted_ramp": medians(ramped),
        },
        "fitted_ramp": {"drop": best[0], "start": best[1], "end": best[2], "tried": len(fits)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--catalog", type=Path, default=ROOT / ".cache" / "realism-catalog-512-typed"
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if data_missing(args.data / "ikea-sa-products"):
        return 0
    if not args.catalog.is_dir():
        print(f"skipped: no catalog at {args.catalog} (run benchmarks/realism.py first)")
        return 0
    real = real_objects(args.catalog)
    studio = studio_products(args.data)
    result = {
        "benchmark": "object_shading",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "command": command("object_shading.py", parser, args),
        "settings": {
            "grid": GRID,
            "erode": ERODE,
            "sigma": SIGMA,
            "min_cover": MIN_COVER,
            "min_pixels": MIN_PIXELS,
            "shade_max_side": light.SHADE_MAX_SIDE,
            "shade_base": light.SHADE_BASE,
        },
        "summary": summarise(real, studio),
    }
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
