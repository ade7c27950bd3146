"""The docs' figure of close-ups (parts and accessories), from synthetic data only.

    python benchmarks/closeup_figure.py --out docs/images/closeup.jpg
    python benchmarks/closeup_figure.py --pieces --out docs/images/closeup-pieces.jpg

The demo's catalog (``adstage demo``'s synthetic rooms: 48 staged scenes, 512²) and synthetic
products (seed 9), each staged as a part (``kind="knob"``: before session 29, refused) with the
default options. Rows: the first ``--rows`` products; columns: the product | the room its best
close-up was made from | the close-up.

``--pieces``: each product photographed as a part's catalog photo often shows one, twice: a view
at 60 % above the product itself, on white; columns: that photo | before: its close-up as
photographed (``closeup.LAY_PIECES`` off) | after: the pieces laid side by side (the default).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from _figures import demo_rooms, sheet, tile
from adstage.datasets.synthetic import SyntheticCatalog
from adstage.io.images import write_image
from adstage.stage import closeup
from adstage.stage.pipeline import stage
from adstage.types import RGB


def two_views(image: RGB, mask: np.ndarray) -> tuple[RGB, np.ndarray]:
    """The product on white twice, as a part's catalog photo shows it: a view at 60 % of its size
    above it, a gap between."""
    ys, xs = np.nonzero(mask)
    crop = image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    cut = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = cut.shape
    sh, sw = max(1, round(0.6 * h)), max(1, round(0.6 * w))
    small = cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA)
    small_cut = cv2.resize(cut.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST) > 0
    gap, pad = max(4, h // 6), max(8, h // 8)
    height, width = pad + sh + gap + h + pad, w + 2 * pad
    photo = np.full((height, width, 3), 255, np.uint8)
    shape = np.zeros((height, width), bool)
    x = pad + (w - sw) // 2
    photo[pad : pad + sh, x : x + sw][small_cut] = small[small_cut]
    shape[pad : pad + sh, x : x + sw] = small_cut
    y = pad + sh + gap
    photo[y : y + h, pad : pad + w][cut] = crop[cut]
    shape[y : y + h, pad : pad + w] = cut
    return photo, shape


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/images/closeup.jpg"))
    parser.add_argument("--rows", type=int, default=3)
    parser.add_argument("--pieces", action="store_true", help="before / after laying the pieces")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="adstage-closeup-figure-"))
    store = demo_rooms(work)
    products = SyntheticCatalog(4 * args.rows, seed=9, size=(384, 384), staged_fraction=0.0)
    rows = []
    if args.pieces:
        for item in products[: args.rows]:
            photo, shape = two_views(item.image, item.mask)
            pictures = []
            for lay in (False, True):
                closeup.LAY_PIECES = lay
                staged = stage(photo, store, mask=shape, k=1, kind="knob")
                pictures.append(staged.candidates[0].image)
            rows.append(
                [
                    tile(photo, "a part's photo: two views"),
                    tile(pictures[0], "before: as photographed"),
                    tile(pictures[1], "after: the pieces laid"),
                ]
            )
        write_image(args.out, sheet(rows))
        print(f"wrote {args.out} ({len(rows)} parts photographed twice)")
        return 0
    for item in products[: args.rows]:
        staged = stage(item.image, store, mask=item.mask, k=1, kind="knob", keep_steps=True)
        best = staged.candidates[0]
        if best.provenance["mode"] != "close-up":
            raise SystemExit(f"{item.id}: staged as {best.provenance['mode']}, not a close-up")
        rows.append(
            [
                tile(item.image, item.category.split(" > ")[-1]),
                tile(best.steps["scene"], "the room retrieved"),
                tile(best.image, "after: a close-up (before: refused)"),
            ]
        )
    write_image(args.out, sheet(rows))
    print(f"wrote {args.out} ({len(rows)} products staged as parts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
