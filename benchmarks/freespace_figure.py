"""The docs' before/after figures of free space, from synthetic data only.

    python benchmarks/freespace_figure.py --out docs/images/freespace-before-after.jpg
    python benchmarks/freespace_figure.py --compare screens --out docs/images/screens-before-after.jpg

The demo's catalog (``adstage demo``'s synthetic rooms: 48 staged scenes, 512², Inception-V3 when
its weights are installed, else the classical embedder) and synthetic products (seed 9). Each
product is staged twice: with ``free_space_first=False`` (before: replace an object first, free
space only when no slot passes) and with the defaults (after: free space first). Rows: the first
``--rows`` products whose best candidate is a replacement before and a free-space placement
after; columns: the product | before | after, whole scenes.

``--compare screens``: each product is staged with the screens not kept clear
(``pipeline.FREE_SPACE_CLEAR_SCREENS`` off); where its best candidate is free space, a switched-off
television (a black bezel round a dark screen brightening from left to right, 16:9) is drawn into
that scene's file behind the product's upper part (half as wide again), and the product is staged again with the
defaults, which keep the screen clear (the file is then put back). Rows: the first ``--rows``
products that moved; columns: the product | before | after.

``--compare frame``: each product is staged with free space kept inside the frame
(``cut_by_frame=False``) and with the defaults (a product may be cut by the photo's
left or right edge where no place inside it is left). Rows: the first ``--rows`` products whose
best candidate after is free space cut by the frame and differs from before; columns: the
product | before | after.

``--compare edge``: each product is staged with its category as its kind, with
``pipeline.FREE_SPACE_GROW_AT_EDGE`` off and on (the default: furniture that stands against a
wall is first tried at the photo's left or right edge, grown to its size where its anchor's scale
makes it too small). Of the synthetic categories only shelves read as such a kind. Rows: the
first ``--rows`` products whose best candidate changed; columns: the product | before | after.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from _figures import demo_rooms, sheet, tile
from adstage.datasets.synthetic import SyntheticCatalog
from adstage.errors import AdstageError
from adstage.io.images import read_image, write_image
from adstage.stage import pipeline
from adstage.stage.freespace import screens
from adstage.stage.pipeline import stage


def product_tile(item):  # type: ignore[no-untyped-def]
    """The first column of a row: the synthetic product, named by its category's last part."""
    return tile(item.image, item.category.split(" > ")[-1])


def draw_television(scene: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """A switched-off set drawn into ``scene`` (RGB, in place) in ``box``: a black bezel round a
    dark screen whose reflection brightens it from left to right."""
    x0, y0, x1, y1 = box
    rim = max(3, (x1 - x0) // 30)
    scene[y0:y1, x0:x1] = 8
    ramp = np.linspace(30, 110, x1 - x0 - 2 * rim, dtype=np.float32).astype(np.uint8)
    scene[y0 + rim : y1 - rim, x0 + rim : x1 - rim] = ramp[None, :, None]


def best_candidate(store, item, clear: bool, drawn: tuple[Path, np.ndarray] | None = None):  # type: ignore[no-untyped-def]
    """``item``'s best candidate staged with the screens kept clear or not
    (``pipeline.FREE_SPACE_CLEAR_SCREENS``), the scene file ``drawn[0]`` holding the picture
    ``drawn[1]`` meanwhile; both put back after."""
    was = pipeline.FREE_SPACE_CLEAR_SCREENS
    original = None if drawn is None else read_image(drawn[0])
    pipeline.FREE_SPACE_CLEAR_SCREENS = clear
    try:
        if drawn is not None:
            write_image(drawn[0], drawn[1])
        return stage(item.image, store, mask=item.mask, k=3).candidates[0]
    finally:
        pipeline.FREE_SPACE_CLEAR_SCREENS = was
        if drawn is not None and original is not None:
            write_image(drawn[0], original)


def screens_rows(store, products, rows: int) -> tuple[list[list[np.ndarray]], int]:  # type: ignore[no-untyped-def]
    """The figure's rows for ``--compare screens`` and how many products were tried."""
    out, tried = [], 0
    for item in products:
        if len(out) == rows:
            break
        tried += 1
        try:
            best = best_candidate(store, item, clear=False)
        except AdstageError:
            continue
        if best.provenance["mode"] != "free-space":
            continue
        path = Path(best.match.uri)
        scene = read_image(path)
        h, w = scene.shape[:2]
        x0, y0, x1, y1 = best.placement
        tw = max(96, round(1.5 * (x1 - x0)))  # wider than the product: seen round it
        th = round(tw / 1.78)
        cx, bottom = (x0 + x1) // 2, y0 + max(8, round(0.3 * (y1 - y0)))
        tv = (max(0, cx - tw // 2), max(0, bottom - th), min(w, cx + tw // 2), min(h, bottom))
        draw_television(scene, tv)
        if not screens(scene):
            continue  # not a set the detector would see
        try:
            moved = best_candidate(store, item, clear=True, drawn=(path, scene))
            covered = best_candidate(store, item, clear=False, drawn=(path, scene))
        except AdstageError:
            continue
        kept = (moved.provenance.get("screens") or {}).get("kept_clear")
        if moved.provenance["mode"] != "free-space" or not kept:
            continue
        out.append(
            [
                product_tile(item),
                tile(covered.image, "before: in front of the TV"),
                tile(moved.image, "after: the screen kept clear"),
            ]
        )
    return out, tried


def frame_rows(store, products, rows: int) -> tuple[list[list[np.ndarray]], int]:  # type: ignore[no-untyped-def]
    """The figure's rows for ``--compare frame`` and how many products were tried."""
    out, tried = [], 0
    for item in products:
        if len(out) == rows:
            break
        tried += 1
        try:
            before = stage(item.image, store, mask=item.mask, k=3, cut_by_frame=False).candidates[0]
        except AdstageError:
            before = None
        try:
            after = stage(item.image, store, mask=item.mask, k=3).candidates[0]
        except AdstageError:
            continue
        if after.provenance["mode"] != "free-space" or not after.provenance["off_frame"]:
            continue
        if before is None:
            shown = tile(np.full_like(after.image, 255), "before: no candidate")
        else:
            shown = tile(before.image, f"before: {before.provenance['mode']}")
        out.append(
            [
                product_tile(item),
                shown,
                tile(after.image, f"after: {after.provenance['off_frame']:.0%} off the frame"),
            ]
        )
    return out, tried


def edge_rows(store, products, rows: int) -> tuple[list[list[np.ndarray]], int]:  # type: ignore[no-untyped-def]
    """The figure's rows for ``--compare edge`` and how many products were tried."""
    out, tried = [], 0
    default = pipeline.FREE_SPACE_GROW_AT_EDGE
    for item in products:
        if len(out) == rows:
            break
        tried += 1
        shown = []
        for grow in (False, True):
            pipeline.FREE_SPACE_GROW_AT_EDGE = grow
            try:
                shown.append(stage(item.image, store, mask=item.mask, k=3, kind=item.category))
            except AdstageError:
                shown.append(None)
            finally:
                pipeline.FREE_SPACE_GROW_AT_EDGE = default
        before, after = (None if s is None else s.candidates[0] for s in shown)
        if after is None or (before is not None and np.array_equal(before.image, after.image)):
            continue
        left = (
            tile(np.full_like(after.image, 255), "before: no candidate")
            if before is None
            else tile(before.image, f"before: {before.provenance['mode']}")
        )
        (_, by0, _, by1), (_, ay0, _, ay1) = (
            (0, 0, 0, 0) if before is None else before.placement,
            after.placement,
        )
        how = f"{after.provenance['mode']}"
        if after.provenance.get("off_frame"):
            how += ", at the edge"
        if before is not None and ay1 - ay0 > by1 - by0:
            how += ", grown"
        out.append([product_tile(item), left, tile(after.image, f"after: {how}")])
    return out, tried


def first_rows(store, products, rows: int) -> tuple[list[list[np.ndarray]], int]:  # type: ignore[no-untyped-def]
    """The figure's rows for ``--compare first`` and how many products were tried."""
    out, tried = [], 0
    for item in products:
        if len(out) == rows:
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
        out.append(
            [
                product_tile(item),
                tile(b.image, "before: replace first"),
                tile(a.image, "after: free space first"),
            ]
        )
    return out, tried


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/images/freespace-before-after.jpg"))
    parser.add_argument("--products", type=int, default=24, help="products tried")
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--compare", choices=("first", "screens", "frame", "edge"), default="first")
    args = parser.parse_args()
    store = demo_rooms(Path(tempfile.mkdtemp(prefix="adstage-freespace-figure-")))
    products = SyntheticCatalog(4 * args.products, seed=9, size=(384, 384), staged_fraction=0.0)
    make, none = {
        "first": (first_rows, "changed from a replacement to free space"),
        "screens": (screens_rows, "moved off a screen"),
        "frame": (frame_rows, "cut by the frame"),
        "edge": (edge_rows, "changed by growing at the edge"),
    }[args.compare]
    rows, tried = make(store, products[: args.products], args.rows)
    if not rows:
        print(f"no product of {tried} {none}")
        return 1
    write_image(args.out, sheet(rows))
    print(f"wrote {args.out} ({len(rows)} rows; {tried} products tried)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
