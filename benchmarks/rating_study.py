"""A graded realism measure: judges rate single pictures, staged and real shuffled together.

    python benchmarks/rating_study.py make --from V-kinds --label RV --real 20 --seed 1
    python benchmarks/rating_study.py tally --label RV J1.json J2.json J3.json

Twenty report sets of the pairwise study (``judge_study.py``) found a staged picture more natural
than a real room photo in 0 or 1 pairs each: a floor effect. Every variant is then chosen by an
A/B round between two staged pictures, where judges reward what looks "more grounded"; whether
that moves a picture towards a photograph is not measured. This script asks another question, one
picture at a time: each judge rates every picture from 1 (surely edited: an object was inserted)
to 7 (surely an unedited photograph), staged pictures of a set (``--from``: a ``judge_study.py
make`` label, its ``staged/`` pictures) and real dev room photos not staged into, shuffled and
renamed ``img-NN.png``, each at the staged pictures' width. The key (which is which) stays out of
the judges' folder.

``tally`` reads one answer file per judge (``{"img-00": {"rating": 5, "why": "..."}, ...}``) and
writes to ``benchmarks/results/rating_study.json``: the mean rating of staged and of real
pictures, the **AUC** — the chance that a random staged picture is rated at least as real as a
random real one, ties counting half (0.5: indistinguishable; 0: always told apart), from each
picture's mean over judges, with a bootstrap 95 % interval over pictures —, how many staged
pictures are rated above 4 (more likely a photograph than not), and per staged picture its mean
rating and mode (free space or replacement). The photos are non-commercial: nothing of
them enters the repository.
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

from _common import DATA, ROOT, data_missing
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image, write_image

WORK = ROOT / ".cache" / "judge"
RESULTS = ROOT / "results" / "rating_study.json"


def make(args: argparse.Namespace) -> int:
    rooms_dir = args.data / "ikea-room-scenes" / "images"
    source = args.work / args.source
    if data_missing(rooms_dir):
        return 0
    if not (source / "key.json").is_file():
        print(f"skipped: no set {args.source} in {args.work} (judge_study.py make first)")
        return 0
    key = json.loads((source / "key.json").read_text())
    staged = sorted((source / "staged").glob("*.png"))
    pairs = {name[-2:]: pair for name, pair in key["pairs"].items()}
    used = {pair["scene"] for pair in key["pairs"].values()}
    rooms = [r for r in sorted(rooms_dir.iterdir()) if r.name not in used]
    rng = np.random.default_rng(args.seed)
    real = [rooms[int(i)] for i in rng.choice(len(rooms), args.real, replace=False)]
    items: list[dict[str, Any]] = [
        {"kind": "staged", "source": p.name, "mode": pairs[p.stem]["mode"]} for p in staged
    ]
    items += [{"kind": "real", "source": r.name, "mode": None} for r in real]
    order = rng.permutation(len(items))
    out = args.work / args.label
    (out / "pictures").mkdir(parents=True, exist_ok=True)
    width = read_image(staged[0]).shape[1] if staged else 1024
    entries = {}
    for n, i in enumerate(order):
        item = items[int(i)]
        path = source / "staged" / item["source"] if item["kind"] == "staged" else None
        image = read_image(path if path is not None else rooms_dir / item["source"])
        if image.shape[1] != width:  # every picture at the staged pictures' width
            height = round(image.shape[0] * width / image.shape[1])
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        name = f"img-{n:02d}"
        write_image(out / "pictures" / f"{name}.png", image)
        entries[name] = item
    record = {"label": args.label, "from": args.source, "seed": args.seed, "pictures": entries}
    atomic_write_text(out / "key.json", json.dumps(record, indent=1) + "\n")
    print(f"wrote {len(entries)} pictures to {out / 'pictures'}")
    return 0


def auc(staged: np.ndarray, real: np.ndarray) -> float:
    """The chance that a random ``staged`` value is at least a random ``real`` one, ties half."""
    if staged.size == 0 or real.size == 0:
        raise ValueError("auc: needs staged and real ratings")
    greater = (staged[:, None] > real[None, :]).mean()
    ties = (staged[:, None] == real[None, :]).mean()
    return float(greater + 0.5 * ties)


def summarise(key: dict[str, Any], answers: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """Per-picture mean ratings over ``answers`` (one dict per judge), the AUC with a bootstrap
    95 % interval (2,000 resamples of the pictures), the means and the staged pictures' list."""
    means: dict[str, float] = {}
    for name in key["pictures"]:
        ratings = []
        for judge in answers:
            if name not in judge:
                raise ValueError(f"a judge gave no rating for {name}")
            value = judge[name]["rating"] if isinstance(judge[name], dict) else judge[name]
            if not isinstance(value, int | float) or not 1 <= value <= 7:
                raise ValueError(f"{name}: expected a rating from 1 to 7, got {value!r}")
            ratings.append(float(value))
        means[name] = float(np.mean(ratings))
    kinds = {name: item["kind"] for name, item in key["pictures"].items()}
    staged = np.array([v for n, v in means.items() if kinds[n] == "staged"])
    real = np.array([v for n, v in means.items() if kinds[n] == "real"])
    rng = np.random.default_rng(seed)
    boot = [auc(rng.choice(staged, staged.size), rng.choice(real, real.size)) for _ in range(2000)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    best_real = float(np.percentile(real, 25))
    return {
        "pictures": {"staged": int(staged.size), "real": int(real.size)},
        "judges": len(answers),
        "mean_rating": {"staged": float(staged.mean()), "real": float(real.mean())},
        "auc": auc(staged, real),
        "auc_ci": [float(lo), float(hi)],
        "staged_at_least_real_lower_quartile": int((staged >= best_real).sum()),
        "staged_rated_real": int((staged > 4).sum()),  # more likely a photograph than not
        "staged": sorted(
            (
                {
                    "picture": n,
                    "source": key["pictures"][n]["source"],
                    "mode": key["pictures"][n]["mode"],
                    "rating": round(v, 3),
                }
                for n, v in means.items()
                if kinds[n] == "staged"
            ),
            key=lambda e: -e["rating"],
        ),
    }


def tally(args: argparse.Namespace) -> int:
    key = json.loads((args.work / args.label / "key.json").read_text())
    answers = [json.loads(Path(f).read_text()) for f in args.answers]
    result = summarise(key, answers) | {"from": key["from"]}
    runs = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"runs": {}}
    runs["runs"][args.label] = result
    runs |= {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
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
    parser.add_argument("--real", type=int, default=20, help="make: real photos mixed in")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("answers", nargs="*", help="tally: one JSON file per judge")
    args = parser.parse_intermixed_args(argv)
    if args.phase == "make" and not args.source:
        parser.error("make needs --from")
    return {"make": make, "tally": tally}[args.phase](args)


if __name__ == "__main__":
    sys.exit(main())
