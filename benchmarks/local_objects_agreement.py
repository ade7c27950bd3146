"""Does segmenting the crop around a free-space place tell where the judges saw a product stand in
front of or over furniture? Writes benchmarks/results/local_objects_agreement.json.

    python benchmarks/local_objects_agreement.py                 # U²-Net, IS-Net, both, U²-Netp
    python benchmarks/local_objects_agreement.py --backends u2net

Free space stands a product beside a similar object; the judges' most frequent reason against
it is that it stands "in front of" or "over" other furniture (issue 13). Saliency on the whole
photo and on fixed tiles misses much of it (``clutter_agreement.py``, session 34's tile maps). This
reads every report set's (``*-kinds``) free-space pairs from ``benchmarks/results/judge_study.json``
— each pair's room, the product's box and the judges' reasons — and, for each backend, the share
of the box over what the backend marks in the crop around it
(:class:`adstage.stage.objects.LocalObjects`, run on the room photo alone: no staged picture is
needed). Against the real-photo pairs (every reason there is about the staged picture) it
reports:

* how well the share ranks the pairs whose reasons name an overlap (:data:`OVERLAP`: "in front
  of", "over the", "blocks", "overlaps", …) above the others: the AUC (0.5: chance), with a
  bootstrap interval over pairs;
* at :data:`CLEAR` (the threshold ``pipeline.FREE_SPACE_CLEAR`` is tried with), how many of each
  group lie above it;
* the judges' votes for the staged picture (a vote for it against the real photo) in clear and
  in crowded places;
* the rating study's free-space pictures of those sets (``rating_study.json``) in clear and in
  crowded places: their mean rating (1: surely edited, 7: surely a photograph) and how many were
  rated 4 or more.

``--summary-only`` recomputes the summaries from the shares already stored in ``--out``.

The photos are non-commercial: only numbers enter the repository. The reasons are matched by a
regular expression, which reads "pasted in front of the cabinets" as an overlap as well.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from _common import DATA, ROOT, data_missing
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image

log = logging.getLogger("local_objects_agreement")

OVERLAP = re.compile(
    r"in front of|over (the|a|an) |blocks|blocking|overlap|across the|intersect|on top of|"
    r"pasted over|covering|covers",
    re.IGNORECASE,
)
"""Reasons that name a product standing in front of, over or across other furniture."""

CLEAR = 0.15
"""The share of the box over marked objects up to which a place counts as clear."""

BACKENDS = {
    "u2net": ("u2net", {}),
    "isnet": ("isnet", {"input_size": 512}),
    "u2netp": ("u2net", {"variant": "u2netp"}),
}
"""Backends by the name reported: (registry name, options)."""


def auc(positive: list[float], negative: list[float]) -> float | None:
    """The chance that a random ``positive`` score exceeds a random ``negative`` one, ties half."""
    if not positive or not negative:
        return None
    p, n = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(((p > n) + 0.5 * (p == n)).mean())


def auc_interval(
    positive: list[float], negative: list[float], rng: np.random.Generator, draws: int = 2000
) -> list[float] | None:
    """A 95 % bootstrap interval of :func:`auc`, resampling each group."""
    if not positive or not negative:
        return None
    p, n = np.asarray(positive), np.asarray(negative)
    values = [
        auc(list(rng.choice(p, p.size)), list(rng.choice(n, n.size))) or 0.0 for _ in range(draws)
    ]
    return [
        round(float(np.quantile(values, 0.025)), 3),
        round(float(np.quantile(values, 0.975)), 3),
    ]


def free_space_pairs(runs: dict[str, Any]) -> list[dict[str, Any]]:
    """Every report set's free-space pair with a room, a box and reasons: set, pair, comparison,
    scene, box, the staged picture's votes, the joined reasons and whether they name an overlap
    (real-photo pairs only; ``None`` for the naive-paste ones)."""
    out = []
    for label, run in runs.items():
        if not label.endswith("-kinds"):
            continue
        for comparison in ("real", "naive"):
            pairs = run.get("comparisons", {}).get(comparison, {}).get("per_pair", {})
            for name, pair in sorted(pairs.items()):
                if pair.get("mode") != "free-space" or "box" not in pair or "scene" not in pair:
                    continue
                why = " | ".join(pair.get("why", []))
                out.append(
                    {
                        "set": label,
                        "pair": name,
                        "comparison": comparison,
                        "scene": pair["scene"],
                        "box": [int(v) for v in pair["box"]],
                        "staged_votes": pair.get("staged_votes"),
                        "overlap_named": (
                            bool(OVERLAP.search(why)) if comparison == "real" else None
                        ),
                        "why": why,
                    }
                )
    return out


def summary(rows: list[dict[str, Any]], backend: str, seed: int) -> dict[str, Any]:
    """The agreement of ``backend``'s shares with the real-photo pairs' reasons and votes."""
    real = [r for r in rows if r["comparison"] == "real" and backend in r["share"]]
    named = [r["share"][backend] for r in real if r["overlap_named"]]
    other = [r["share"][backend] for r in real if not r["overlap_named"]]
    clear = [r for r in real if r["share"][backend] <= CLEAR]
    crowded = [r for r in real if r["share"][backend] > CLEAR]
    value = auc(named, other)
    return {
        "pairs": len(real),
        "overlap_named": len(named),
        "auc": None if value is None else round(value, 3),
        "auc_ci": auc_interval(named, other, np.random.default_rng(seed)),
        "above_clear": {
            "overlap_named": sum(s > CLEAR for s in named),
            "not_named": sum(s > CLEAR for s in other),
        },
        "staged_votes": {
            "clear": {"k": sum(r["staged_votes"] or 0 for r in clear), "n": 3 * len(clear)},
            "crowded": {"k": sum(r["staged_votes"] or 0 for r in crowded), "n": 3 * len(crowded)},
        },
    }


def rated(rows: list[dict[str, Any]], ratings: dict[str, Any], backend: str) -> dict[str, Any]:
    """The rating study's free-space pictures (``benchmarks/results/rating_study.json``: one
    picture per room of a report set, rated 1–7 by three judges) in clear and in crowded places by
    ``backend``'s share: how many, their mean rating and how many rated 4 or more."""
    share = {(r["set"], r["pair"]): r["share"].get(backend) for r in rows}
    groups: dict[str, list[float]] = {"clear": [], "crowded": []}
    for run in ratings.values():
        for picture in run.get("staged", []):
            if picture.get("mode") != "free-space":
                continue
            found = share.get((run.get("from"), "pair-" + Path(picture["source"]).stem))
            if found is not None:
                groups["clear" if found <= CLEAR else "crowded"].append(picture["rating"])
    return {
        name: {
            "pictures": len(values),
            "mean_rating": round(float(np.mean(values)), 2) if values else None,
            "rated_4_or_more": sum(v >= 4 for v in values),
        }
        for name, values in groups.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "results" / "local_objects_agreement.json"
    )
    parser.add_argument(
        "--backends",
        default="u2net,isnet,u2netp",
        help=f"comma-separated, of {', '.join(BACKENDS)}; 'isnet+u2net' adds their union",
    )
    parser.add_argument("--seed", type=int, default=0, help="the bootstrap's")
    parser.add_argument(
        "--summary-only",
        action="store_true",
        help="recompute the summaries from the shares stored in --out (no segmenting)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    names = [b for b in args.backends.split(",") if b]
    singles = sorted({part for b in names for part in b.split("+")})
    unknown = set(singles) - set(BACKENDS)
    if unknown:
        parser.error(f"--backends: unknown {sorted(unknown)}; known: {', '.join(BACKENDS)}")
    ratings_file = ROOT / "results" / "rating_study.json"
    ratings = json.loads(ratings_file.read_text())["runs"] if ratings_file.exists() else {}
    if args.summary_only:
        stored = json.loads(args.out.read_text())
        rows = stored["rows"]
        stored["backends"] = {name: summary(rows, name, args.seed) for name in stored["backends"]}
        stored["rated"] = {name: rated(rows, ratings, name) for name in stored["backends"]}
        atomic_write_text(args.out, json.dumps(stored, indent=2) + "\n")
        print(f"summaries of {len(rows)} stored pairs rewritten in {args.out}")
        return 0
    rooms_dir = DATA / "ikea-room-scenes" / "images"
    if data_missing(rooms_dir):
        return 0
    from adstage.segment.base import SEGMENTERS
    from adstage.stage.objects import LocalObjects, box_share, local_crop

    results = ROOT / "results" / "judge_study.json"
    rows = free_space_pairs(json.loads(results.read_text())["runs"])
    segmenters = {b: SEGMENTERS.create(BACKENDS[b][0], **BACKENDS[b][1]) for b in singles}
    seconds = dict.fromkeys(singles, 0.0)
    rooms: dict[str, np.ndarray] = {}
    for i, row in enumerate(rows):
        if row["scene"] not in rooms:
            rooms[row["scene"]] = read_image(rooms_dir / row["scene"])
        room, box = rooms[row["scene"]], tuple(row["box"])
        crop = local_crop(box, room.shape[1], room.shape[0])  # type: ignore[arg-type]
        maps = {}
        for b in singles:
            t = time.perf_counter()
            maps[b] = LocalObjects(room, [segmenters[b]]).crop_map(crop)
            seconds[b] += time.perf_counter() - t
        row["share"] = {
            name: round(
                box_share(np.logical_or.reduce([maps[p] for p in name.split("+")]), crop, box), 4
            )  # type: ignore[arg-type]
            for name in names
        }
        if i % 20 == 0:
            log.info("%d / %d free-space pairs", i + 1, len(rows))
    result = {
        "benchmark": "local_objects_agreement",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "command": "python benchmarks/local_objects_agreement.py --backends " + args.backends,
        "clear": CLEAR,
        "seconds_per_crop": {b: round(seconds[b] / max(1, len(rows)), 3) for b in singles},
        "backends": {name: summary(rows, name, args.seed) for name in names},
        "rated": {name: rated(rows, ratings, name) for name in names},
        "rows": [{k: v for k, v in r.items() if k != "why"} for r in rows],
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    for name, s in result["backends"].items():
        print(
            f"{name}: AUC {s['auc']} {s['auc_ci']} over {s['pairs']} real-photo pairs "
            f"({s['overlap_named']} name an overlap); staged votes clear "
            f"{s['staged_votes']['clear']}, crowded {s['staged_votes']['crowded']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
