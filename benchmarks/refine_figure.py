"""The docs' figure of what generative refinement re-draws, from synthetic data only (no licensed
photo, no diffusion model: the region is computed, not re-drawn).

    python benchmarks/refine_figure.py --out docs/images/refine-region.jpg

The demo's catalog (``_figures.demo_rooms``) and the demo's first synthetic products staged
with the defaults; each row is one product's best candidate: the staged picture | the region
``adstage stage --refine-base`` would re-draw (:func:`adstage.generate.refine.composite_region`:
the ring outside the product's edge, the drawn shadows, the filled hole) in magenta and the
product's pixels it keeps in green, over the same picture.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from _figures import demo_rooms, sheet, tile
from adstage.datasets.synthetic import SyntheticCatalog
from adstage.errors import AdstageError
from adstage.generate.refine import composite_region
from adstage.io.images import write_image
from adstage.stage.pipeline import stage


def _overlay(image: np.ndarray, region: Any) -> np.ndarray:
    out = image.astype(np.float32)
    out[region.region] = 0.35 * out[region.region] + 0.65 * np.array((255, 0, 255))
    out[region.keep] = 0.55 * out[region.keep] + 0.45 * np.array((0, 200, 0))
    return np.clip(out, 0, 255).astype(np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/images/refine-region.jpg"))
    parser.add_argument("--rows", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="adstage-refine-figure-"))
    store = demo_rooms(work)
    products = SyntheticCatalog(64, seed=9, size=(384, 384), staged_fraction=0.0)
    rows: list[list[np.ndarray]] = []
    for item in products:
        seen: dict[str, Any] = {}

        def record(composite, background, product, hole=None, protect=None, seen=seen):
            seen["region"] = composite_region(composite, background, product, hole, protect)
            return composite, {"backend": "figure (region only)"}

        try:
            best = stage(item.image, store, mask=item.mask, k=1, refine=record).candidates[0]
        except AdstageError:
            continue
        region = seen["region"]
        mode = best.provenance["mode"]
        rows.append(
            [
                tile(best.image, f"{item.category.split(' > ')[-1]}: {mode}"),
                tile(_overlay(best.image, region), "re-drawn (magenta), kept (green)"),
            ]
        )
        if len(rows) == args.rows:
            break
    write_image(args.out, sheet(rows))
    print(f"wrote {args.out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
