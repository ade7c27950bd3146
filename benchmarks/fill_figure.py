"""The docs' before/after figure of filling the whole slot, from synthetic data only.

    python benchmarks/fill_figure.py --out docs/images/fill-before-after.jpg

The demo's catalog (``adstage demo``'s synthetic rooms: 48 staged scenes, 512², Inception-V3 when
its weights are installed, else the classical embedder) and synthetic products. Each product's
best candidate with the default options is staged again into the same slot with
``fill="gap"`` (before: only what the product leaves uncovered is filled, the old object under it
is the fill's context). Rows: the ``--rows`` products whose two results differ most around the
product (the share of changed pixels in its box grown by a quarter); columns: the product |
before | after, each cropped to that neighbourhood.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _figures import before_after, demo_rooms, write_before_after
from adstage.stage.pipeline import StageOptions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/images/fill-before-after.jpg"))
    parser.add_argument("--products", type=int, default=24, help="products tried")
    parser.add_argument("--rows", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="adstage-fill-figure-"))
    store = demo_rooms(work)
    scored = before_after(store, args.products, StageOptions(k=3, fill="gap"), 12)
    write_before_after(args.out, scored, args.rows, "before: gap filled", "after: slot filled")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
