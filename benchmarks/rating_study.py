"""A graded realism measure: judges rate single pictures, staged and real shuffled together.

    python benchmarks/rating_study.py make --from W-kinds --label RW --seed 1
    python benchmarks/rating_study.py tally --label RW J1.json J2.json J3.json

Twenty report sets of the pairwise study (``judge_study.py``) found a staged picture more natural
than a real room photo in 0 or 1 pairs each: a floor effect. Every variant is then chosen by an
A/B round between two staged pictures, where judges reward what looks "more grounded"; whether
that moves a picture towards a photograph is not measured. This script asks another question, one
picture at a time: each judge rates every picture from 1 (surely edited: an object was inserted)
to 7 (surely an unedited photograph). ``make`` takes the staged pictures of a set (``--from``: a
``judge_study.py make`` label, its ``staged/`` pictures), **at most one per room** (the first pair
of each scene: a room seen twice with different furniture gives the edit away), and as many real
dev room photos, drawn from the rooms not staged into whose width-to-height ratio lies within
the staged pictures' (± 0.05: the shape must not tell them apart), shuffles them and writes them,
each at the staged pictures' width, as ``img-NN.png`` into ``benchmarks/.cache/rating/<label>/
pictures/`` (the key, which is which, beside it, out of the judges' folder). An existing label is
refused.

``tally`` reads one answer file per judge (``{"img-00": {"rating": 5, "why": "..."}, ...}``, every
picture and nothing else) and writes to ``benchmarks/results/rating_study.json``, per label: the
mean rating of staged and of real pictures, the **AUC** — the chance that a random staged picture
is rated higher than a random real one, ties counting half (0.5: indistinguishable; 0: always
told apart), from each picture's mean over judges, with a bootstrap 95 % interval over pictures
(degenerate at 0 or 1: then every resample agrees) —, how many staged pictures are rated above 4
(more likely a photograph than not), and every picture's mean rating. The photos are
non-commercial: nothing of them enters the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from _common import DATA, ROOT, data_missing
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image, write_image

SETS = ROOT / ".cache" / "judge"
WORK = ROOT / ".cache" / "rating"
RESULTS = ROOT / "results" / "rating_study.json"


def make(args: argparse.Namespace) -> int:
    rooms_dir = args.data / "ikea-room-scenes" / "images"
    source = args.sets / args.source
    if data_missing(rooms_dir):
        return 0
    if not (source / "key.json").is_file():
        print(f"skipped: no set {args.source} in {args.sets} (judge_study.py make first)")
        return 0
    out = args.work / args.label
    if out.exists():
        print(f"error: {out} exists: choose another --label (judges may have rated it)")
        return 2
    key = json.loads((source / "key.json").read_text())
    chosen: dict[str, dict[str, Any]] = {}  # scene -> the first pair staged into it
    for name, pair in sorted(key["pairs"].items()):
        chosen.setdefault(pair["scene"], {"pair": name.removeprefix("pair-")} | pair)
    staged = [(source / "staged" / f"{pair['pair']}.png", pair["mode"]) for pair in chosen.values()]
    staged = [(path, mode) for path, mode in staged if path.is_file()]
    if not staged:
        print(f"error: no staged pictures in {source / 'staged'}")
        return 2
    shapes = [read_image(path).shape[:2] for path, _ in staged]
    aspects = [w / h for h, w in shapes]
    low, high = min(aspects) - 0.05, max(aspects) + 0.05
    width = shapes[0][1]
    rng = np.random.default_rng(args.seed)
    rooms = []
    for room in sorted(rooms_dir.iterdir()):
        if room.name in chosen:
            continue
        with Image.open(room) as opened:  # the header only
            w, h = opened.size
        if low <= w / h <= high:
            rooms.append(room)
    n_real = args.real or len(staged)
    if n_real > len(rooms):
        print(f"error: only {len(rooms)} real photos of that shape, asked for {n_real}")
        return 2
    real = [rooms[int(i)] for i in rng.choice(len(rooms), n_real, replace=False)]
    items: list[dict[str, Any]] = [
        {"kind": "staged", "source": path.name, "mode": mode} for path, mode in staged
    ]
    items += [{"kind": "real", "source": r.name, "mode": None} for r in real]
    order = rng.permutation(len(items))
    (out / "pictures").mkdir(parents=True)
    entries = {}
    for n, i in enumerate(order):
        item = items[int(i)]
        folder = source / "staged" if item["kind"] == "staged" else rooms_dir
        image = read_image(folder / item["source"])
        if image.shape[1] != width:  # every picture at the staged pictures' width
            height = round(image.shape[0] * width / image.shape[1])
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        name = f"img-{n:02d}"
        write_image(out / "pictures" / f"{name}.png", image)
        entries[name] = item
    record = {"label": args.label, "from": args.source, "seed": args.seed, "pictures": entries}
    atomic_write_text(out / "key.json", json.dumps(record, indent=1) + "\n")
    print(f"wrote {len(entries)} pictures to {out / 'pictures'} ({len(staged)} staged)")
    return 0


def auc(staged: np.ndarray, real: np.ndarray) -> float:
    """The chance that a random ``staged`` value is at least a random ``real`` one, ties half."""
    if staged.size == 0 or real.size == 0:
        raise ValueError("auc: needs staged and real ratings")
    greater = (staged[:, None] > real[None, :]).mean()
    ties = (staged[:, None] == real[None, :]).mean()
    return float(greater + 0.5 * ties)


def summarise(key: dict[str, Any], answers: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """Per-picture mean ratings over ``answers`` (one dict per judge, each rating every picture
    of ``key`` and nothing else), the AUC with a bootstrap 95 % interval (2,000 resamples of the
    pictures), the means and every picture's rating, the staged best first."""
    if not answers:
        raise ValueError("no answers: one file per judge")
    names = set(key["pictures"])
    for n, judge in enumerate(answers):
        if set(judge) != names:
            missing, extra = sorted(names - set(judge)), sorted(set(judge) - names)
            raise ValueError(f"judge {n}: no rating for {missing}, ratings of unknown {extra}")
    means: dict[str, float] = {}
    for name in key["pictures"]:
        ratings = []
        for judge in answers:
            value = judge[name]["rating"] if isinstance(judge[name], dict) else judge[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 7:
                raise ValueError(f"{name}: expected a rating from 1 to 7, got {value!r}")
            ratings.append(float(value))
        means[name] = float(np.mean(ratings))
    kinds = {name: item["kind"] for name, item in key["pictures"].items()}
    staged = np.array([v for n, v in means.items() if kinds[n] == "staged"])
    real = np.array([v for n, v in means.items() if kinds[n] == "real"])
    rng = np.random.default_rng(seed)
    boot = [auc(rng.choice(staged, staged.size), rng.choice(real, real.size)) for _ in range(2000)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    real_lower_quartile = float(np.percentile(real, 25))

    def listed(kind: str) -> list[dict[str, Any]]:
        rows = [
            {
                "picture": n,
                "source": key["pictures"][n]["source"],
                "mode": key["pictures"][n]["mode"],
                "rating": round(v, 3),
            }
            for n, v in means.items()
            if kinds[n] == kind
        ]
        return sorted(rows, key=lambda e: -e["rating"])

    return {
        "pictures": {"staged": int(staged.size), "real": int(real.size)},
        "judges": len(answers),
        "mean_rating": {"staged": float(staged.mean()), "real": float(real.mean())},
        "lowest_real": float(real.min()),
        "auc": auc(staged, real),
        "auc_ci": [float(lo), float(hi)],
        "staged_at_least_real_lower_quartile": int((staged >= real_lower_quartile).sum()),
        "staged_rated_real": int((staged > 4).sum()),  # more likely a photograph than not
        "staged": listed("staged"),
        "real": listed("real"),
    }


def tally(args: argparse.Namespace) -> int:
    key = json.loads((args.work / args.label / "key.json").read_text())
    answers = [json.loads(Path(f).read_text()) for f in args.answers]
    try:
        result = summarise(key, answers)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    result |= {
        "from": key["from"],
        "seed": key["seed"],
        "answers": [str(f) for f in args.answers],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    runs = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"runs": {}}
    runs["runs"][args.label] = result
    runs |= {
        "date": result["date"],
        "command": "python benchmarks/rating_study.py make and tally (see its docstring)",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    atomic_write_text(RESULTS, json.dumps(runs, indent=1) + "\n")
    m = result["mean_rating"]
    lo, hi = result["auc_ci"]
    print(
        f"{args.label}: staged {m['staged']:.2f} vs real {m['real']:.2f} (1–7); AUC "
        f"{result['auc']:.3f} (95 % {lo:.3f}–{hi:.3f}); "
        f"{result['staged_at_least_real_lower_quartile']} of {result['pictures']['staged']} staged "
        f"at or above the real photos' lower quartile, {result['staged_rated_real']} rated above 4"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("phase", choices=("make", "tally"))
    parser.add_argument("--label", required=True)
    parser.add_argument("--from", dest="source", help="make: the judge_study set's label")
    parser.add_argument(
        "--real", type=int, default=0, help="make: real photos mixed in (default: as many)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--sets", type=Path, default=SETS, help="judge_study.py's sets")
    parser.add_argument("answers", nargs="*", help="tally: one JSON file per judge")
    args = parser.parse_intermixed_args(argv)
    if args.phase == "make" and not args.source:
        parser.error("make needs --from")
    return {"make": make, "tally": tally}[args.phase](args)


if __name__ == "__main__":
    sys.exit(main())
