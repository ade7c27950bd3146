"""Does the realism critic agree with the judges? Writes benchmarks/results/critic_agreement.json.

    python benchmarks/critic_agreement.py          # every judged A/B pair still in the cache
    python benchmarks/critic_agreement.py --critics benchmarks/.cache/realism-critic-inception-v3.npz

Issue 13 asks for the realism critic's agreement with people where it can be measured. The judge
study (``benchmarks/judge_study.py``) has asked three blind judges, pair by pair, which of two
stagings of the same product into the same room looks more like an unedited photograph: every
A/B round tallied in ``benchmarks/results/judge_study.json`` (``comparisons.ab.per_pair``: the
votes for ``--label``'s picture). This script scores both pictures of each such pair with a
per-image critic (:class:`adstage.evaluate.realism.RealismCritic`, fitted by
``benchmarks/realism.py``, saved in ``benchmarks/.cache/realism-critic-<features>.npz``; session
24's critics: ``python benchmarks/realism.py --products 100 --out
benchmarks/results/realism-critics.json``) and counts
how often the picture the critic scores higher is the one the judges' majority chose.

The critic scores a crop around a box (1.5× its longer side): the product's box that
``judge_study.py make`` records in ``key.json`` (since session 24), or, for sets made before, the
box of the pixels the staging changed in the room (the product, its shadows and any fill: every
pixel more than :data:`CHANGED` grey levels from the room photo, specks of fewer than 5×5 pixels
left out), read from the room photo the key names.

Read the result against two references: chance (0.5) and the rate at which the judges preferred
``--label``'s picture (a critic that always picked the newer variant would agree that often).
Caveats, reported with the numbers: the critic was fitted on crops of the same dev rooms (other
products), and rounds that changed only light or shade differ little inside the crop.
The photos are non-commercial: only counts enter the repository.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from _common import DATA, data_missing
from adstage.evaluate.realism import RealismCritic, crop_features, square_crop, wilson
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image

ROOT = Path(__file__).resolve().parent
TIE = 1e-6
"""Scores closer than this are a tie (the pair is left out)."""

SAME_PLACE = 0.8
"""Two pictures whose boxes overlap by at least this IoU show the product in the same place (the
round changed its light, shade or shadow); below it the round moved it (another slot, free space,
another size): the choice a critic that ranks candidates makes."""

CHANGED = 40
"""Grey levels (largest channel) by which a pixel must differ from the room photo to count as
changed by the staging (the rooms are resized JPEGs: a few levels of difference are noise)."""

log = logging.getLogger("benchmarks.critic_agreement")


def changed_box(image: np.ndarray, room: np.ndarray) -> tuple[int, int, int, int] | None:
    """The box ``(x0, y0, x1, y1)`` of the pixels where ``image`` differs from ``room`` (resized to
    it) by more than :data:`CHANGED` levels, specks removed; ``None`` when nothing changed."""
    h, w = image.shape[:2]
    if room.shape[:2] != (h, w):
        room = cv2.resize(room, (w, h), interpolation=cv2.INTER_AREA)
    diff = np.abs(image.astype(np.int16) - room.astype(np.int16)).max(axis=2) > CHANGED
    opened = cv2.morphologyEx(diff.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    ys, xs = np.nonzero(opened)
    if ys.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def box_iou(a: Any, b: Any) -> float:
    """Intersection over union of two boxes ``(x0, y0, x1, y1)``."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def product_bootstrap(
    groups: list[str], agree: np.ndarray, seed: int = 0, n: int = 2000
) -> list[float] | None:
    """A 95 % interval of the agreement rate resampling products, not pairs: the A/B rounds
    judge the same products again and again, so their pairs are not independent (``None``: no
    pairs)."""
    names = sorted(set(groups))
    if not names:
        return None
    index = {g: i for i, g in enumerate(names)}
    ids = np.array([index[g] for g in groups])
    k = np.bincount(ids, weights=agree.astype(float), minlength=len(names))
    m = np.bincount(ids, minlength=len(names)).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(len(names), size=(n, len(names)))
    rates = k[draws].sum(axis=1) / m[draws].sum(axis=1)
    return [float(v) for v in np.quantile(rates, [0.025, 0.975])]


def find_room(name: str, data: Path) -> Path | None:
    """The dev room photo called ``name`` (any dataset folder under ``data``)."""
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        path = folder / "images" / name
        if path.is_file():
            return path
    return None


def ab_pairs(study: dict[str, Any], work: Path, data: Path) -> tuple[list[dict], list[dict]]:
    """Every judged A/B pair whose two pictures and their rooms are still on this machine (each
    picture's own room: a round may stage the product into another scene), and the runs and
    pairs skipped (with why)."""
    pairs, skipped = [], []
    rooms: dict[str, Path | None] = {}

    def room_of(scene: str | None) -> Path | None:
        if scene is None:
            return None
        if scene not in rooms:
            rooms[scene] = find_room(scene, data)
        return rooms[scene]

    for label, run in sorted(study["runs"].items()):
        ab = run.get("comparisons", {}).get("ab")
        if ab is None:
            continue
        if "-vs-" not in label:
            skipped.append({"run": label, "why": "not named NEW-vs-OLD"})
            continue
        new, old = label.split("-vs-", 1)
        keys = {side: work / side / "key.json" for side in (new, old)}
        missing = [side for side, path in keys.items() if not path.is_file()]
        if missing:
            skipped.append({"run": label, "why": f"no {missing[0]}/key.json"})
            continue
        made_key = json.loads(keys[new].read_text())
        if made_key.get("critic"):  # the critic chose the new picture: not an independent check
            skipped.append({"run": label, "why": "its pictures were ranked by a critic"})
            continue
        made, made_old = made_key["pairs"], json.loads(keys[old].read_text())["pairs"]
        for name, pair in sorted(ab["per_pair"].items()):
            stem = name.removeprefix("pair-")
            a, b = work / new / "staged" / f"{stem}.png", work / old / "staged" / f"{stem}.png"
            room_new = room_of(made.get(name, {}).get("scene"))
            room_old = room_of(made_old.get(name, {}).get("scene"))
            if not (a.is_file() and b.is_file() and room_new and room_old):
                skipped.append({"run": label, "pair": name, "why": "a picture or its room is gone"})
                continue
            pairs.append(
                {
                    "run": label,
                    "pair": name,
                    "new": a,
                    "old": b,
                    "rooms": (room_new, room_old),
                    "boxes": (made[name].get("box"), made_old[name].get("box")),
                    "votes_new": int(pair["staged_votes"]),
                    "judges": int(run["judges"]),
                }
            )
    return pairs, skipped


def crops_of(pairs: list[dict]) -> tuple[list[np.ndarray], list[np.ndarray], list[dict]]:
    """The critic's crops of each pair's two pictures (``factor`` 1.5, 299²), in pair order; the
    pairs where a picture shows no change are dropped (returned third, with why)."""
    new_crops, old_crops, kept, dropped = [], [], [], []
    for pair in pairs:
        new, old = read_image(pair["new"]), read_image(pair["old"])
        box_new, box_old = pair["boxes"]  # recorded by judge_study.py make since session 24
        if box_new is None or box_old is None:  # each against its own room
            box_new = changed_box(new, read_image(pair["rooms"][0]))
            box_old = changed_box(old, read_image(pair["rooms"][1]))
        if box_new is None or box_old is None:
            dropped.append({"run": pair["run"], "pair": pair["pair"], "why": "no change found"})
            continue
        new_crops.append(square_crop(new, box_new))
        old_crops.append(square_crop(old, box_old))
        kept.append(pair | {"iou": box_iou(box_new, box_old)})
    pairs[:] = kept
    return new_crops, old_crops, dropped


def _rate(k: int, n: int) -> dict[str, Any]:
    return {"k": k, "n": n, "rate": k / n if n else None, "ci": list(wilson(k, n)) if n else None}


def agreement(pairs: list[dict], s_new: np.ndarray, s_old: np.ndarray) -> dict[str, Any]:
    """How often the critic's higher-scored picture is the judges' majority choice (ties, equal
    scores, within :data:`TIE`, left out): overall (with a Wilson interval over pairs and a
    bootstrap one over products), on unanimous pairs, on pairs showing the product in the same
    place and in another (:data:`SAME_PLACE`), on the half of the pairs with the larger score
    difference, and per vote."""
    votes = np.array([p["votes_new"] for p in pairs], dtype=int)
    judges = np.array([p["judges"] for p in pairs], dtype=int)
    diff = np.asarray(s_new, np.float64) - np.asarray(s_old, np.float64)
    majority_new = 2 * votes > judges
    critic_new = diff > 0
    ties = np.abs(diff) < TIE
    ok = ~ties
    agree = (critic_new == majority_new) & ok
    unanimous = ok & ((votes == 0) | (votes == judges))
    vote_agree = np.where(critic_new, votes, judges - votes)[ok].sum()
    same = np.array([p["iou"] >= SAME_PLACE for p in pairs], dtype=bool) & ok
    moved = ~same & ok
    larger = ok & (np.abs(diff) >= (np.median(np.abs(diff[ok])) if ok.any() else 0.0))
    groups = [f"{p['run'].split('-', 1)[0]}/{p['pair']}" for p in pairs]  # set A or A2, product
    n, k = int(ok.sum()), int(agree.sum())
    nu, ku = int(unanimous.sum()), int((agree & unanimous).sum())
    nv = int(judges[ok].sum())
    new_rate = int(majority_new[ok].sum())
    return {
        "pairs": n,
        "ties": int(ties.sum()),
        "agree": _rate(k, n),
        "agree_unanimous": _rate(ku, nu),
        "agree_product_bootstrap_ci": product_bootstrap(
            [g for g, o in zip(groups, ok, strict=True) if o], agree[ok]
        ),
        "products": len({g for g, o in zip(groups, ok, strict=True) if o}),
        "agree_same_place": _rate(int((agree & same).sum()), int(same.sum())),
        "agree_moved": _rate(int((agree & moved).sum()), int(moved.sum())),
        "agree_larger_half": _rate(int((agree & larger).sum()), int(larger.sum())),
        "agree_votes": {"k": int(vote_agree), "n": nv, "rate": vote_agree / nv if nv else None},
        "judges_prefer_new": {"k": new_rate, "n": n, "rate": new_rate / n if n else None},
        "critic_prefers_new": {"k": int(critic_new[ok].sum()), "n": n},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "judge")
    parser.add_argument("--study", type=Path, default=ROOT / "results" / "judge_study.json")
    parser.add_argument(
        "--critics",
        type=Path,
        nargs="*",
        default=sorted((ROOT / ".cache").glob("realism-critic-*.npz")),
        help="critic files (default: every benchmarks/.cache/realism-critic-*.npz)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "critic_agreement.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if data_missing(args.data) or data_missing(args.work):
        return 0
    if not args.critics:
        print("skipped: no critic in benchmarks/.cache (run benchmarks/realism.py first)")
        return 0
    started = time.time()
    study = json.loads(args.study.read_text())
    pairs, skipped = ab_pairs(study, args.work, args.data)
    new_crops, old_crops, dropped = crops_of(pairs)
    log.info(
        "%d judged pairs scored, %d skipped, %d dropped", len(pairs), len(skipped), len(dropped)
    )
    if not pairs:
        print(f"skipped: no judged A/B pair with its pictures and rooms under {args.work}")
        return 0
    results: dict[str, Any] = {}
    per_pair: dict[str, dict[str, Any]] = {}
    for path in args.critics:
        critic = RealismCritic.load(path)
        extractor = crop_features(critic.features)
        s_new = critic.score(new_crops, extractor)
        s_old = critic.score(old_crops, extractor)
        results[critic.features] = {"critic": path.name, "fit": critic.meta} | agreement(
            pairs, s_new, s_old
        )
        for pair, a, b in zip(pairs, s_new, s_old, strict=True):
            row = per_pair.setdefault(
                f"{pair['run']}/{pair['pair']}",
                {"votes_new": pair["votes_new"], "iou": round(pair["iou"], 3)},
            )
            row[critic.features] = [round(float(a), 6), round(float(b), 6)]
        log.info("%s: %s", critic.features, results[critic.features]["agree"])
    result = {
        "benchmark": "critic_agreement",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "command": "python benchmarks/critic_agreement.py",
        "changed_levels": CHANGED,
        "runs": len({p["run"] for p in pairs}),
        "critics": results,
        "skipped_runs": sum("pair" not in s for s in skipped),
        "skipped_pairs": sum("pair" in s for s in skipped) + len(dropped),
        "skipped_why": sorted({s["why"] for s in skipped + dropped}),
        "per_pair": per_pair,
        "elapsed_s": round(time.time() - started, 1),
    }
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v["agree"] for k, v in results.items()}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
