"""The docs' before/after figure of free space first, from synthetic data only.

    python benchmarks/freespace_figure.py --out docs/images/freespace-before-after.jpg

The demo's catalog (``adstage demo``'s synthetic rooms: 48 staged scenes, 512², Inception-V3 when
its weights are installed, else the classical embedder) and synthetic products (seed 9). Each
product is staged twice: with ``free_space_first=False`` (before: replace an object first, free
space only when no slot passes) and with the defaults (after: free space first). Rows: the first
``--rows`` products whose best candidate is a replacement before and a free-space placement
after; columns: the product | before | after, whole scenes.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _figures import demo_rooms, sheet, tile
from adstage.datasets.synthetic import SyntheticCatalog
from adstage.errors import AdstageError
from adstage.io.images import write_image
from adstage.stage.pipeline import stage


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/images/freespace-before-after.jpg"))
    parser.add_argument("--products", type=int, default=24, help="products tried")
    parser.add_argument("--rows", type=int, default=4)
    args = parser.parse_args()
    store = demo_rooms(Path(tempfile.mkdtemp(prefix="adstage-freespace-figure-")))
    products = SyntheticCatalog(4 * args.products, seed=9, size=(384, 384), staged_fraction=0.0)
    rows, tried = [], 0
    for item in products[: args.products]:
        if len(rows) == args.rows:
            break
        tried += 1
        try:
            before = stage(item.image, store, mask=item.mask, k=3, free_space_first=False)
            after = stage(item.image, store, mask=item.mask, k=3)
        except AdstageError:
            continue
        b, a = before.candidates[0], after.candidates[0]
        if b.provenance["mode"] != "replace" or a.provenance["mode"] != "free-space":
            continue
        rows.append(
            [
                tile(item.image, item.category.split(" > ")[-1]),
                tile(b.image, "before: replace first"),
                tile(a.image, "after: free space first"),
            ]
        )
    if not rows:
        print(f"no product of {tried} changed from a replacement to free space")
        return 1
    write_image(args.out, sheet(rows))
    print(f"wrote {args.out} ({len(rows)} rows; {tried} products tried)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
