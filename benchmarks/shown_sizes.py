"""How tall the free-space products of judged sets are shown, against their own height (issue 13).

    python benchmarks/shown_sizes.py --labels X-kinds,Y-kinds

Free space keeps furniture that stands against a wall at its anchor's scale when that is too small
(``pipeline.FREE_SPACE_GROW_AGAINST_WALL`` off), so a shelving unit beside a step stool is shown
at the step stool's height. For each free-space pair a ``judge_study.py make`` set wrote
(``benchmarks/.cache/judge/<label>/key.json``: product, scene, box), this reads the height the
box shows in cm at the scene's typical camera (:func:`adstage.stage.scale.typical_per_cm`, as
staging sizes free space) and divides it by the product's own height (its file name's, for the
kinds ``--heights`` reads) or else its kind's lowest. Writes
``benchmarks/results/shown_sizes.json``: per set, every ratio and how many are under 0.7.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from _common import DATA, command, data_missing, product_height, product_types
from adstage.io.atomic import atomic_write_text
from adstage.provenance import versions
from adstage.stage.horizon import scene_camera
from adstage.stage.pipeline import StageOptions
from adstage.stage.scale import kind_of, typical_per_cm

ROOT = Path(__file__).resolve().parent
UNDER = 0.7
"""A product shown under this share of its height counts as far too small."""


def shown(label: str, work: Path, types: dict[str, str], paths: dict[str, str]) -> dict[str, Any]:
    """Every free-space pair of set ``label``: the product's kind, the cm its box shows, the ratio
    to its own (or its kind's lowest) height."""
    key = json.loads((work / label / "key.json").read_text())
    rooms = DATA / "ikea-room-scenes" / "images"
    prior = StageOptions().camera_prior
    out: dict[str, Any] = {}
    for name, pair in sorted(key["pairs"].items()):
        if pair.get("mode") != "free-space":
            continue
        text = types.get(paths.get(pair["product"], ""))
        kind = kind_of(text)
        own = product_height(pair["product"], text) if text else None
        with Image.open(work / label / "staged" / f"{name.removeprefix('pair-')}.png") as image:
            height = image.height
        _, y0, _, y1 = pair["box"]
        per_cm = typical_per_cm(y1 / height, scene_camera(str(rooms / pair["scene"]), prior))
        cm = (y1 - y0) / height / per_cm if per_cm else None
        wanted = own if own is not None else (kind.low_cm if kind is not None else None)
        out[name] = {
            "product": pair["product"],
            "kind": None if kind is None else kind.name,
            "own_cm": own,
            "shown_cm": None if cm is None else round(cm, 1),
            "ratio": None if cm is None or not wanted else round(cm / wanted, 3),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", default="X-kinds,Y-kinds", help="judged sets, comma-separated")
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "judge")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "shown_sizes.json")
    args = parser.parse_args()
    products = DATA / "ikea-sa-products"
    if data_missing(products):
        return 0
    with open(products / "labels.csv", newline="") as handle:
        paths = {Path(row["path"]).name: row["path"] for row in csv.DictReader(handle)}
    types = product_types(products)
    sets: dict[str, Any] = {}
    for label in filter(None, args.labels.split(",")):
        if not (args.work / label / "key.json").is_file():
            print(f"skipped {label}: no {args.work / label / 'key.json'}")
            continue
        pairs = shown(label, args.work, types, paths)
        ratios = [p["ratio"] for p in pairs.values() if p["ratio"] is not None]
        small = [r for r in ratios if r < UNDER]
        sets[label] = {
            "free_space": len(pairs),
            "measured": len(ratios),
            "under": len(small),
            "under_range": [min(small), max(small)] if small else None,
            "pairs": pairs,
        }
        print(
            f"{label}: {len(small)} of {len(ratios)} measured ({len(pairs)} free-space pictures) "
            f"show the product under {UNDER} of its height"
            + (f" ({min(small)}–{max(small)})" if small else "")
        )
    result = {
        "benchmark": "shown_sizes",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "under": UNDER,
        "sets": sets,
        "command": command("shown_sizes.py", parser, args),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": versions(),
    }
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
