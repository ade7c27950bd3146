"""The docs' before/after figure of the slot screen, from synthetic data only (no licensed photo).

    python benchmarks/screen_figure.py --out docs/images/screen-before-after.jpg

The demo's catalog (``adstage demo``'s synthetic rooms: 48 staged scenes, 512², Inception-V3 when
its weights are installed, else the classical embedder) and the demo's first synthetic products;
each row is one product: the product | *before* (``--no-screen``: the best of the top 3 slots as
retrieved): the removed region in magenta, the result | *after* (the default screen and
free-space placement): the same two, or "refused" with the reasons. Rows are the products whose
best candidate changed or that were refused.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from _figures import SIDE, demo_rooms, sheet, tile
from adstage.datasets.synthetic import SyntheticCatalog
from adstage.errors import AdstageError
from adstage.io.images import write_image
from adstage.stage.pipeline import stage


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/images/screen-before-after.jpg"))
    parser.add_argument("--products", type=int, default=16, help="products tried")
    parser.add_argument("--rows", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="adstage-screen-figure-"))
    store = demo_rooms(work)
    products = SyntheticCatalog(4 * args.products, seed=9, size=(384, 384), staged_fraction=0.0)
    rows: list[list[np.ndarray]] = []
    for item in products[: args.products]:
        before = stage(item.image, store, mask=item.mask, k=3, screen=None).candidates[0]
        try:
            after = stage(item.image, store, mask=item.mask, k=3).candidates[0]
        except AdstageError as exc:  # refused: every slot failed the screen, no free floor
            blank = np.full((SIDE, SIDE, 3), 235, np.uint8)
            reason = str(exc).split("refused: ")[-1].split(";")[0]
            tiles_after = [tile(blank, "after: refused"), tile(blank, reason[:34])]
        else:
            if before.match.id == after.match.id:
                continue
            label = (
                "after: removed" if after.provenance["mode"] == "replace" else "after: free space"
            )
            tiles_after = [
                tile(after.steps["removed"], label),
                tile(after.image, "after: staged"),
            ]
        rows.append(
            [
                tile(item.image, item.category.split(" > ")[-1]),
                tile(before.steps["removed"], "before: removed (magenta)"),
                tile(before.image, "before: staged"),
                *tiles_after,
            ]
        )
        if len(rows) == args.rows:
            break
    write_image(args.out, sheet(rows))
    print(f"wrote {args.out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
