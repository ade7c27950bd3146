"""Does a busy background tell the judges' bad free-space places? Writes
benchmarks/results/clutter_agreement.json.

    python benchmarks/clutter_agreement.py      # session 26's free-space rounds

Every free-space variant judged in session 26 (issue 13) won where it moved a product off a spot
the judges named (in front of a TV bench, in the open middle of a room) and lost where the new spot
held furniture the catalog's masks do not know (a basket, an armchair). Were those spots *busy*,
so that a cheap measure of clutter behind the product could refuse them? For each A/B pair of the
rounds below whose two pictures are both free space, this scores each picture's place by the share
of Canny edges (thresholds 50/150 on the grey room photo at the picture's size) inside the
product's box above its lowest eighth (the floor line left out), and counts how often the place
with fewer edges is the judges' majority choice (votes from ``benchmarks/results/judge_study.json``,
boxes and rooms from the sets' ``key.json`` in ``benchmarks/.cache/judge``). Chance is one half.
The photos are non-commercial: only counts enter the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from _common import DATA, data_missing
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image

ROOT = Path(__file__).resolve().parent
JUDGE = ROOT / ".cache" / "judge"
ROUNDS = (  # (A/B round, its variant's set, the set it was judged against)
    ("A-off-vs-A-b26", "A-off", "A-b26"),
    ("A2-off-vs-A2-b26", "A2-off", "A2-b26"),
    ("A-edge-vs-A-off", "A-edge", "A-off"),
    ("A2-edge-vs-A2-off", "A2-edge", "A2-off"),
    ("A-below-vs-A-b26o", "A-below", "A-b26o"),
    ("A2-below-vs-A2-b26o", "A2-below", "A2-b26o"),
)


def clutter(room: np.ndarray, box: list[int]) -> float:
    """The share of edge pixels in ``box`` (x0, y0, x1, y1) of ``room`` above its lowest eighth."""
    grey = cv2.cvtColor(room, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, 50, 150) > 0
    x0, y0, x1, y1 = box
    x0, x1 = max(0, x0), min(room.shape[1], x1)
    return float(edges[y0 : y1 - (y1 - y0) // 8, x0:x1].mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "clutter_agreement.json")
    args = parser.parse_args()
    if data_missing(DATA):
        return 0
    rooms = {p.name: p for p in DATA.rglob("*.jpg")}
    runs = json.loads((ROOT / "results" / "judge_study.json").read_text())["runs"]
    rows: list[dict[str, Any]] = []
    for label, variant, base in ROUNDS:
        if label not in runs or not (JUDGE / variant / "key.json").exists():
            print(f"skipped {label}: not tallied or its sets are not in {JUDGE}")
            continue
        new = json.loads((JUDGE / variant / "key.json").read_text())["pairs"]
        old = json.loads((JUDGE / base / "key.json").read_text())["pairs"]
        for pair, votes in runs[label]["comparisons"]["ab"]["per_pair"].items():
            a, b = new.get(pair), old.get(pair)
            if a is None or b is None or {a["mode"], b["mode"]} != {"free-space"}:
                continue
            staged = read_image(JUDGE / variant / "staged" / f"{pair.split('-')[1]}.png")
            size = (staged.shape[1], staged.shape[0])
            scores = []
            for placed in (a, b):
                room = read_image(rooms[placed["scene"]])
                room = cv2.resize(room, size, interpolation=cv2.INTER_AREA)
                scores.append(clutter(room, placed["box"]))
            won = votes["staged_votes"] >= 2  # the variant's picture is the majority's
            rows.append(
                {
                    "round": label,
                    "pair": pair,
                    "clutter_variant": round(scores[0], 4),
                    "clutter_other": round(scores[1], 4),
                    "variant_won": won,
                    "plainer_won": (scores[0] < scores[1]) == won,
                }
            )
    agree = sum(r["plainer_won"] for r in rows)
    result = {
        "benchmark": "clutter_agreement",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "command": "python benchmarks/clutter_agreement.py",
        "pairs": len(rows),
        "plainer_place_chosen": agree,
        "share": agree / len(rows) if rows else None,
        "rows": rows,
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"the place with fewer edges was the judges' choice in {agree} of {len(rows)} pairs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
