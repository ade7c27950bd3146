"""Contact sheets of staging before / after the slot screen of issue 13, to look at.

    python benchmarks/contact_sheet.py                 # 24 products, seed 2026
    python benchmarks/contact_sheet.py --n 8 --seed 1
    python benchmarks/contact_sheet.py --kinds         # *after* with each product's type as kind
    python benchmarks/contact_sheet.py --kinds --heights  # and storage furniture's own height

Random IKEA products of ``../shared/data/ikea-sa-products`` (``numpy.random.default_rng(seed)
.choice`` over ``labels.csv``), each staged with ``adstage.stage_product(..., k=3)`` into the
realism benchmark's catalog (``benchmarks/.cache/realism-catalog-512``; run
``benchmarks/realism.py`` or ``benchmarks/screen.py`` first) twice: *before* (``screen=None``:
the top 3 slots as retrieved, the pipeline until the screen) and *after* (the current defaults:
the slot screen, and free-space placement when no slot passes). Per product, in
``benchmarks/.cache/contact/`` (git-ignored: the photos are non-commercial and never enter the
repository):

* ``NN-full.png``: input | before: removed (magenta) | before | after: scene | after: removed |
  after: filled | after, each at full size;
* ``NN-crop.png``: the product's neighbourhood (1.5× its box) before | after, enlarged 2× when
  small.

Also writes ``benchmarks/.cache/contact/index.json`` (product, scene, mode, box, seconds).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from _common import DATA, data_missing, product_height, product_types
from _figures import fit_height
from adstage import StageOptions, stage_product
from adstage.io.images import read_image, write_image

ROOT = Path(__file__).resolve().parent
BEFORE = {"screen": None}
log = logging.getLogger("benchmarks.contact_sheet")


def _row(images: list[np.ndarray], height: int, gap: int = 8) -> np.ndarray:
    tiles = [fit_height(im, height) for im in images]
    spacer = np.full((height, gap, 3), 255, np.uint8)
    parts: list[np.ndarray] = []
    for tile in tiles:
        parts += [tile, spacer]
    return np.concatenate(parts[:-1], axis=1)


def _crop(image: np.ndarray, box: tuple[int, int, int, int], factor: float = 1.5) -> np.ndarray:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = factor * max(x1 - x0, y1 - y0) / 2
    h, w = image.shape[:2]
    a, b = max(0, round(cx - half)), min(w, round(cx + half))
    c, d = max(0, round(cy - half)), min(h, round(cy + half))
    out = image[c:d, a:b]
    if max(out.shape[:2]) < 400:
        out = cv2.resize(out, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--catalog", type=Path, default=ROOT / ".cache" / "realism-catalog-512")
    parser.add_argument("--out", type=Path, default=ROOT / ".cache" / "contact")
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--kinds",
        action="store_true",
        help="stage *after* with each product's catalog product type (metadata.csv) as kind",
    )
    parser.add_argument(
        "--heights",
        action="store_true",
        help="with --kinds, also each storage product's height from its name as height_cm",
    )
    args = parser.parse_args()
    if args.heights and not args.kinds:
        parser.error("--heights needs --kinds (a height is read only for storage kinds)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    products_dir = args.data / "ikea-sa-products"
    if data_missing(products_dir):
        return 0
    if not args.catalog.is_dir():
        print(f"skipped: no catalog at {args.catalog} (run benchmarks/realism.py first)")
        return 0
    with open(products_dir / "labels.csv", newline="") as handle:
        products = list(csv.DictReader(handle))
    types = product_types(products_dir) if args.kinds else {}
    rng = np.random.default_rng(args.seed)
    picked = rng.choice(len(products), min(args.n, len(products)), replace=False)
    args.out.mkdir(parents=True, exist_ok=True)
    index = []
    for n, i in enumerate(picked):
        path = products_dir / products[i]["path"]
        try:
            before = stage_product(path, args.catalog, k=3, options=StageOptions(**BEFORE))
            kind = types.get(products[i]["path"])  # None without --kinds: types is empty
            height_cm = product_height(path.name, kind) if args.heights and kind else None
            after = stage_product(
                path, args.catalog, k=3, options=StageOptions(kind=kind, height_cm=height_cm)
            )
        except Exception as exc:  # a benchmark reports, it does not stop
            log.warning("%02d %s: %s", n, path.name, exc)
            index.append({"n": n, "product": path.name, "error": str(exc).splitlines()[0]})
            continue
        b, a = before.candidates[0], after.candidates[0]
        image = read_image(path)
        steps = [a.steps[key] for key in ("scene", "removed", "filled")]
        height = steps[0].shape[0]
        row = _row([image, b.steps["removed"], b.image, *steps, a.image], height)
        write_image(args.out / f"{n:02d}-full.png", row)
        crops = [_crop(b.image, b.placement), _crop(a.image, a.placement)]
        write_image(args.out / f"{n:02d}-crop.png", _row(crops, crops[0].shape[0]))
        index.append(
            {
                "n": n,
                "product": path.name,
                "scene": Path(a.match.uri).name,
                "scene_before": Path(b.match.uri).name,
                "mode": a.provenance["mode"],
                "kind": kind,
                "height_cm": height_cm,
                "screen": after.provenance["screen"],
                "box": list(a.placement),
                "composite": a.provenance["composite"],
                "seconds": {k: round(v, 3) for k, v in a.seconds.items()},
            }
        )
        log.info("%02d %s → %s", n, path.name, Path(a.match.uri).name)
    (args.out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    print(f"wrote {len(index)} sheets to {args.out} ({time.strftime('%H:%M:%S')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
