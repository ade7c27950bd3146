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

import cv2
import numpy as np

from adstage.datasets.synthetic import SyntheticCatalog, write_catalog
from adstage.demo import demo_embedder
from adstage.errors import AdstageError
from adstage.io.images import write_image
from adstage.retrieve.ingest import ingest, open_or_create, sources_from_csv
from adstage.stage.pipeline import stage

SIDE = 256


def _tile(image: np.ndarray, label: str) -> np.ndarray:
    h, w = image.shape[:2]
    f = SIDE / max(h, w)
    small = cv2.resize(image, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    tile = np.full((SIDE + 24, SIDE, 3), 255, np.uint8)
    y, x = (SIDE - small.shape[0]) // 2 + 24, (SIDE - small.shape[1]) // 2
    tile[y : y + small.shape[0], x : x + small.shape[1]] = small
    cv2.putText(tile, label, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (20, 20, 20), 1, cv2.LINE_AA)
    return tile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/images/screen-before-after.jpg"))
    parser.add_argument("--products", type=int, default=16, help="products tried")
    parser.add_argument("--rows", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="adstage-screen-figure-"))
    scenes = SyntheticCatalog(48, seed=8, size=(512, 512), staged_fraction=1.0)
    write_catalog(scenes, work / "src")
    embedder, _ = demo_embedder()
    store = open_or_create(work / "cat", embedders=[embedder])
    ingest(store, sources_from_csv(work / "src" / "labels.csv")[0])
    products = SyntheticCatalog(4 * args.products, seed=9, size=(384, 384), staged_fraction=0.0)
    gap = np.full((SIDE + 24, 8, 3), 255, np.uint8)
    rows = []
    for item in products[: args.products]:
        before = stage(item.image, store, mask=item.mask, k=3, screen=None).candidates[0]
        try:
            after = stage(item.image, store, mask=item.mask, k=3).candidates[0]
        except AdstageError as exc:  # refused: every slot failed the screen, no free floor
            blank = np.full((SIDE, SIDE, 3), 235, np.uint8)
            reason = str(exc).split("refused: ")[-1].split(";")[0]
            tiles_after = [_tile(blank, "after: refused"), _tile(blank, reason[:34])]
        else:
            if before.match.id == after.match.id:
                continue
            label = (
                "after: removed" if after.provenance["mode"] == "replace" else "after: free space"
            )
            tiles_after = [
                _tile(after.steps["removed"], label),
                _tile(after.image, "after: staged"),
            ]
        tiles = [
            _tile(item.image, item.category.split(" > ")[-1]),
            _tile(before.steps["removed"], "before: removed (magenta)"),
            _tile(before.image, "before: staged"),
            *tiles_after,
        ]
        parts: list[np.ndarray] = []
        for tile in tiles:
            parts += [tile, gap]
        rows.append(np.concatenate(parts[:-1], axis=1))
        if len(rows) == args.rows:
            break
    sheet = np.concatenate(
        [np.concatenate([r, np.full((8, r.shape[1], 3), 255, np.uint8)]) for r in rows]
    )
    write_image(args.out, sheet)
    print(f"wrote {args.out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
