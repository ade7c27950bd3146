"""The README's inpainting figure, from synthetic scenes only (no licensed photo enters the repo).

    python benchmarks/inpaint_figure.py --backends ns telea patchmatch hybrid \\
        "EdgeConnect + WBL=edgeconnect:checkpoint=RUN" --out docs/images/inpaint-comparison.jpg

Each row is a staged scene of :class:`adstage.datasets.synthetic.SyntheticCatalog` whose product
was removed: the hole is the product's mask dilated by 6 px (staging grows a slot by 2 px). The
columns are the scene with the hole in magenta, each backend's fill (labelled), and the truth: the
scene as drawn, product included, since a synthetic scene without its product was never drawn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from adstage.datasets.synthetic import SyntheticCatalog
from adstage.inpaint import inpaint
from adstage.io.images import write_image
from inpaint import parse_backend

SIDE = 256


def label(tile: np.ndarray, text: str) -> np.ndarray:
    out = tile.copy()
    cv2.rectangle(out, (0, 0), (SIDE, 22), (255, 255, 255), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", nargs="+", default=["ns", "telea", "patchmatch", "hybrid"])
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("docs/images/inpaint-comparison.jpg"))
    args = parser.parse_args()
    backends = [parse_backend(spec) for spec in args.backends]
    catalog = SyntheticCatalog(64, seed=args.seed, size=(SIDE, SIDE))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))
    rows = []
    for item in (catalog[i] for i in range(len(catalog))):
        if not item.staged or not 0.04 < item.mask.mean() < 0.3:
            continue
        hole = cv2.dilate(item.mask.astype(np.uint8), kernel) > 0
        blanked = item.image.copy()
        blanked[hole] = 0
        shown = item.image.copy()
        shown[hole] = (255, 0, 255)
        tiles = [label(shown, "hole")]
        for name, backend, options in backends:
            tiles.append(label(inpaint(blanked, hole, backend=backend, **options), name))
        tiles.append(label(item.image, "drawn (with product)"))
        rows.append(np.hstack(tiles))
        if len(rows) == args.rows:
            break
    write_image(args.out, np.vstack(rows), quality=85)
    print(f"wrote {args.out} ({len(rows)} scenes × {len(backends)} backends)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
