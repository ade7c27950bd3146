"""The docs' figure of close-ups (parts and accessories), from synthetic data only.

    python benchmarks/closeup_figure.py --out docs/images/closeup.jpg

The demo's catalog (``adstage demo``'s synthetic rooms: 48 staged scenes, 512²) and synthetic
products (seed 9), each staged as a part (``kind="knob"``: before session 29, refused) with the
default options. Rows: the first ``--rows`` products; columns: the product | the room its best
close-up was made from | the close-up.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _figures import demo_rooms, sheet, tile
from adstage.datasets.synthetic import SyntheticCatalog
from adstage.io.images import write_image
from adstage.stage.pipeline import stage


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/images/closeup.jpg"))
    parser.add_argument("--rows", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="adstage-closeup-figure-"))
    store = demo_rooms(work)
    products = SyntheticCatalog(4 * args.rows, seed=9, size=(384, 384), staged_fraction=0.0)
    rows = []
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
