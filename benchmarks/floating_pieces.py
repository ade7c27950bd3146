"""Parts photographed in pieces: how many, and the close-ups with their pieces laid (issue 13).

    python benchmarks/floating_pieces.py count                        # every dev product
    python benchmarks/floating_pieces.py make --label LAY-on --seed 36
    python benchmarks/floating_pieces.py make --label LAY-off --seed 36 --no-lay
    python benchmarks/judge_study.py ab --label LAY-on --against LAY-off --seed 36

A catalog photo of a part often shows it in pieces: a handle from the front and from the side,
one view above the other; four legs in a row, in perspective; a dozen fittings in a grid. A
close-up (:mod:`adstage.stage.closeup`) stands the cut-out on the floor as photographed, so every
piece whose base is above the lowest hangs in the air (report set BB's 40-mm handle: "a metal
piece floating in mid-air"). :func:`adstage.stage.closeup.lay_pieces` stands them side by side
on one base line.

``count`` cuts out every product of ``../shared/data/ikea-sa-products`` as ``adstage stage``
does (the ``auto`` segmenter) and counts the cut-outs in pieces (at least two of
:data:`adstage.stage.closeup.PIECE_SHARE`), those with a floating piece and those
:func:`lay_pieces` lays (at most :data:`adstage.stage.closeup.MAX_PIECES` pieces), by whether
the product's catalog type reads as a part (:func:`adstage.stage.scale.kind_of`): only parts are
staged as close-ups, and times :func:`lay_pieces` where it lays (``laid_ms``: once per
close-up). It writes ``results/floating_pieces.json``.

``make`` stages ``--n`` of the parts with a floating piece (drawn with ``--seed``), each with its catalog type as
kind, ``k`` 1, into ``--catalog``, with the pieces laid (default) or not (``--no-lay``), and
writes ``.cache/judge/<label>/staged/NN.png`` and a ``key.json`` as ``judge_study.py make``
does, for ``judge_study.py ab`` and ``tally``. The photos are non-commercial: nothing of them
enters the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from _common import DATA, data_missing, product_types
from adstage import StageOptions, stage_product
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image, write_image
from adstage.segment.base import SEGMENTERS
from adstage.stage import closeup
from adstage.stage.scale import PART, kind_of
from adstage.types import Cutout

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "floating_pieces.json"
log = logging.getLogger("floating_pieces")


def survey(data: Path) -> list[dict[str, Any]]:
    """Every dev product: its catalog type, whether that reads as a part, its pieces, whether one
    floats and whether :func:`lay_pieces` lays them."""
    products_dir = data / "ikea-sa-products"
    with open(products_dir / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    types = product_types(products_dir)
    segmenter = SEGMENTERS.create("auto")
    out = []
    for n, row in enumerate(rows):
        image = read_image(products_dir / row["path"])
        cut = Cutout.from_alpha(image, segmenter(image).alpha)
        kind_text = types.get(row["path"])
        kind = kind_of(kind_text) if kind_text else None
        started = time.perf_counter()
        laid = closeup.lay_pieces(cut)
        seconds = time.perf_counter() - started
        out.append(
            {
                "product": Path(row["path"]).name,
                "type": kind_text,
                "part": kind is not None and kind.support == PART,
                "pieces": laid.pieces,
                "floating": laid.floating,
                "laid": laid.laid,
                "seconds": round(seconds, 4),
            }
        )
        if n % 100 == 99:
            log.info("%d of %d products", n + 1, len(rows))
    return out


def count(args: argparse.Namespace) -> int:
    if data_missing(args.data / "ikea-sa-products"):
        return 0
    rows = survey(args.data)

    def share(rows: list[dict[str, Any]]) -> dict[str, int]:
        return {
            "products": len(rows),
            "in_pieces": sum(r["pieces"] >= 2 for r in rows),
            "floating": sum(r["floating"] for r in rows),
            "laid": sum(r["laid"] for r in rows),
        }

    result = {
        "benchmark": "floating_pieces",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "command": "python benchmarks/floating_pieces.py count",
        "piece_share": closeup.PIECE_SHARE,
        "float_share": closeup.FLOAT_SHARE,
        "max_pieces": closeup.MAX_PIECES,
        "all": share(rows),
        "parts": share([r for r in rows if r["part"]]),
        "floating_parts": sorted(r["product"] for r in rows if r["part"] and r["floating"]),
        "laid_ms": {  # lay_pieces' time on the cut-outs it laid, once per close-up
            "median": round(1000 * float(np.median([r["seconds"] for r in laid])), 1),
            "max": round(1000 * max(r["seconds"] for r in laid), 1),
        }
        if (laid := [r for r in rows if r["laid"]])
        else None,
        "rows": rows,
    }
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("all", "parts")}, indent=1))
    return 0


def make(args: argparse.Namespace) -> int:
    if data_missing(args.data / "ikea-sa-products"):
        return 0
    if not args.catalog.is_dir():
        print(f"skipped: no catalog at {args.catalog} (run benchmarks/realism.py first)")
        return 0
    if not args.out.is_file():
        print(f"error: no {args.out}: run `count` first", file=sys.stderr)
        return 2
    names = json.loads(args.out.read_text())["floating_parts"]
    rng = np.random.default_rng(args.seed)
    picked = [names[int(i)] for i in sorted(rng.choice(len(names), min(args.n, len(names)), False))]
    products_dir = args.data / "ikea-sa-products"
    types = product_types(products_dir)
    closeup.LAY_PIECES = args.lay
    out = args.work / args.label
    (out / "staged").mkdir(parents=True, exist_ok=True)
    key: dict[str, Any] = {"label": args.label, "lay_pieces": args.lay, "seed": args.seed}
    key |= {"options": "", "pairs": {}, "none": []}
    for n, name in enumerate(picked):
        kind = types.get(f"images/{name}")
        try:
            staged = stage_product(
                products_dir / "images" / name, args.catalog, k=1, options=StageOptions(kind=kind)
            )
        except Exception as exc:  # a benchmark reports, it does not stop
            log.warning("%02d %s: %s", n, name, exc)
            key["none"].append({"n": n, "product": name, "why": str(exc).splitlines()[0]})
            continue
        best = staged.candidates[0]
        write_image(out / "staged" / f"{n:02d}.png", best.image)
        key["pairs"][f"pair-{n:02d}"] = {
            "product": name,
            "mode": best.provenance["mode"],
            "scene": Path(best.match.uri).name,
            "pieces": (best.provenance.get("closeup") or {}).get("pieces"),
        }
    atomic_write_text(out / "key.json", json.dumps(key, indent=1) + "\n")
    print(f"wrote {len(key['pairs'])} pictures to {out / 'staged'} ({len(key['none'])} without)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=("count", "make"))
    parser.add_argument("--label", default="LAY-on", help="make: the set's name")
    parser.add_argument("--seed", type=int, default=36)
    parser.add_argument("--n", type=int, default=14, help="make: parts staged")
    parser.add_argument(
        "--lay", action=argparse.BooleanOptionalAction, default=True, help="make: lay the pieces"
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument(
        "--catalog", type=Path, default=ROOT / ".cache" / "realism-catalog-512-typed"
    )
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "judge")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    return {"count": count, "make": make}[args.phase](args)


if __name__ == "__main__":
    raise SystemExit(main())
