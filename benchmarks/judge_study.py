"""A blind pairwise study on the dev photos, in the acceptance test's protocol (issue 13).

    python benchmarks/judge_study.py make --label default            # stage, write the pairs
    python benchmarks/judge_study.py tally --label default A.json B.json C.json
    python benchmarks/judge_study.py real --label default --mode free-space  # every picture vs real

The acceptance test of issue 13 (and the AdKDD paper's expert test, Ku et al. 2023 §6.3) shows a
judge two pictures and asks which is more natural: the staged image against a **real room photo**,
and against a **naive paste** (the same cut-out, its longer side 40 % of the room's shorter side,
centred on a random room, old furniture left in place; :func:`realism.naive_paste`). Three
independent judges, blind, left/right randomised, majority vote.

``make`` picks ``--n`` random IKEA products (``../shared/data/ikea-sa-products``, seeded), stages
each with ``adstage.stage_product(..., k=3)`` (``--k``; the best candidate is judged, as
``adstage stage`` ranks them) into the realism benchmark's catalog of the dev rooms
(``benchmarks/.cache/realism-catalog-512``; ``benchmarks/realism.py`` builds it) and writes, to
``benchmarks/.cache/judge/<label>/``:

* ``pairs/pair-NN.png``: two pictures side by side, labelled A and B, each scaled to the same
  height; the first half of the products are paired with a real room photo (a random dev room other
  than the one staged into), the second half with their naive paste;
* ``key.json``: which side is staged, kept out of ``pairs/`` (the judges see only ``pairs/``).

``--exclude-seeds 13,14,15`` leaves out the products those seeds' draws picked from the whole
list; a set that was itself made with exclusions drew from what was left, so only
``--exclude-labels F-kinds,G-kinds`` (the products named in those sets' ``key.json``, or, when
the folder is gone, in their tallied runs in ``benchmarks/results/judge_study.json``) leaves out
exactly what an earlier set judged. (Report sets E–J were made with ``--exclude-seeds`` alone and
share up to 7 of 40 products with each other; none shares a product with set A, seed 13, which
was drawn without exclusions.) Fewer than ``--n`` products left after the exclusions is an
error: set T (session 23) left sets E–J out of ``--exclude-labels`` and reused their products.

``--per-scene N`` shows, instead of each product's best candidate, the one ``adstage batch stage
--per-scene N`` would pick (:func:`adstage.batch.spread.spread`: at most ``N`` products per
scene); ``key.json`` records each pair's ``rank`` (0 = the best) and the moves.

``ab`` shows every pair twice, once each way round, under shuffled names (``--both-orders``,
the default since session 31; ``--no-both-orders``: once, sides balanced)
(``key.json`` names each showing's ``product_pair``): in session 31 two of three fresh judges
answered "A" in 11 of 11 pairs and one in 15 of 15, so a side bias decided whole rounds. The
tally (:func:`both_orders_tally`) gives a judge's vote on a pair as the share of its two showings
where they chose ``--label``'s picture (½ for the same side twice) and reports each judge's
share of consistent answers and of "A". Where the two pictures differ subtly, judges who notice
a repeat may copy their first letter onto the swapped showing (session 34: consistent in 0–10 %
of the pairs, every vote ½); tell them that each pair comes twice, once each way round, and read
the shares before the result.

A product that gets no candidate (the screen refuses every slot and no free space is found) is
counted as such and gets no pair.

``tally`` reads one answer file per judge (``{"pair-00": "A", ...}`` or ``{"pair-00": {"choice":
"A", "why": "..."}, ...}``: the picture judged more natural), and writes ``benchmarks/results/judge_study.json`` (one entry per label): per
comparison, the share of pairs whose majority chose the staged picture with its Wilson interval,
the votes, and Fleiss' κ. The photos are non-commercial: nothing of them enters the repository.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib
import json
import logging
import os
import platform
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from _common import DATA, data_missing, product_height, product_types
from _figures import fit_height
from adstage import StageOptions, stage_product
from adstage.batch.spread import spread
from adstage.evaluate.realism import RealismCritic
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image, write_image
from adstage.stage.screen import Screen
from realism import naive_paste

ROOT = Path(__file__).resolve().parent
HEIGHT = 480
log = logging.getLogger("benchmarks.judge_study")


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left`` (A) and ``right`` (B) at the same height, a white gap, a label bar above each."""
    tiles = []
    for name, image in (("A", left), ("B", right)):
        tile = fit_height(image, HEIGHT)
        bar = np.full((28, tile.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, name, (tile.shape[1] // 2 - 8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                    (0, 0, 0), 2, cv2.LINE_AA)  # fmt: skip
        tiles.append(np.vstack([bar, tile]))
    gap = np.full((tiles[0].shape[0], 24, 3), 255, np.uint8)
    return np.hstack([tiles[0], gap, tiles[1]])


CONSTANTS = {
    "adstage.composite.blend": (
        "CONTACT_KNEE",
        "CONTACT_SPREAD",
        "CONTACT_THIN_RUN",
        "CONTACT_THIN_SPREAD",
        "SHADOW_MAP_WIDTH",
        "AMBIENT",
        "CONTACT_EVERY_FOOT",
        "FOOT_CLEAR",
        "UNDER_GAP",
        "UNDER_SKIP_LEGS",
        "OCCLUSION_AMBIENT",
        "OCCLUSION_KEY",
        "OCCLUSION_CONTACT",
        "OCCLUSION_LINEAR",
        "OCCLUSION_UNDER",
        "LIGHT_FROM_BELOW_TOP",
        "LIGHT_SKIP_SOURCES",
        "OCCLUDER_SOFT",
        "FOOTPRINT",
        "FOOTPRINT_DEPTH",
        "FOOTPRINT_BLUR",
        "DEEPEN",
        "DEEPEN_MAX_GAMMA",
    ),
    "adstage.composite.occlusion": ("FORESHORTEN", "DEPTH", "KEY_ELEVATION", "KEY_SPREAD"),
    "adstage.composite.light": ("SHADE_MAX_SIDE", "SHADE_BASE", "SHADE_RAMP"),
    "adstage.stage.pipeline": (
        "FREE_SPACE_MIN_BASE",
        "FREE_SPACE_MAX_ASPECT",
        "FREE_SPACE_MAX_HIDDEN",
        "FREE_SPACE_AGAINST_WALL",
        "FREE_SPACE_POOL",
        "FREE_SPACE_SIZE",
        "FREE_SPACE_GROW_AGAINST_WALL",
        "FREE_SPACE_AT_WALL",
        "FREE_SPACE_IN_FRONT",
        "FREE_SPACE_OBJECTS",
        "FREE_SPACE_CLEAR",
        "FREE_SPACE_CLEAR_MAPS",
        "FREE_SPACE_CLEAR_STEPS",
        "FREE_SPACE_CLEAR_LOCAL",
        "REPLACE_FIRST_AGAINST_WALL",
        "FREE_SPACE_CLEAR_SCREENS",
        "FREE_SPACE_OFF_FRAME",
        "FREE_SPACE_EDGE_FIRST",
        "FREE_SPACE_GROW_AT_EDGE",
        "FREE_SPACE_EDGE_ANY_SHAPE",
        "FREE_SPACE_EDGE_FLOOR_AHEAD",
        "FREE_SPACE_LEAST",
        "FREE_SPACE_BELOW_SCREENS",
        "FREE_SPACE_CAST_FROM_ANCHOR",
        "FREE_SPACE_UNDER_FROM_ANCHOR",
        "FREE_SPACE_SCALE_ANCHORS",
        "PERSPECTIVE",
    ),
    "adstage.stage.screen": ("MAX_OVER_OTHERS",),
    "adstage.stage.perspective": ("MIN_FAR", "MIN_SPAN", "MAX_TURN", "FRONT_SUPPORT", "INLIER_DEG"),
    "adstage.stage.closeup": ("SHARE", "FOCUS", "BLUR", "RAMP", "SHARPEN", "HEIGHT", "MAX_WIDTH"),
}
"""Module constants the judged rounds varied (a wrapper sets them before this script runs):
``make`` records their values in ``key.json`` and ``tally`` in the result, so a label says what
it staged with, not only its ``--options``."""


def module_constants() -> dict[str, Any]:
    """The current values of :data:`CONSTANTS` (``module.NAME``)."""
    out: dict[str, Any] = {}
    for module_name, names in CONSTANTS.items():
        module = importlib.import_module(module_name)
        for name in names:
            out[f"{module_name.rsplit('.', 1)[-1]}.{name}"] = getattr(module, name)
    return out


def judged_products(work: Path, label: str) -> list[str]:
    """The product file names an earlier set ``label`` staged: from its ``key.json`` in ``work``,
    or, when that folder is gone (a fresh checkout), from its tallied run in
    ``benchmarks/results/judge_study.json`` (every judged pair's product and every product
    without a candidate). A label found in neither is an error: excluding nothing would
    silently reuse products."""
    key = work / label / "key.json"
    if key.exists():
        earlier = json.loads(key.read_text())
        if any("product" not in p for p in earlier["pairs"].values()):
            raise SystemExit(f"--exclude-labels: {key} is an A/B round's; name a set made by make")
        named = [p["product"] for p in earlier["pairs"].values()]
        return named + [n["product"] for n in earlier["none"] if "product" in n]
    results = ROOT / "results" / "judge_study.json"
    runs = json.loads(results.read_text())["runs"] if results.exists() else {}
    if label not in runs or "comparisons" not in runs[label]:
        raise SystemExit(f"--exclude-labels: no {key} and no tallied set {label!r} in {results}")
    run = runs[label]
    named = [p.get("product") for c in run["comparisons"].values() for p in c["per_pair"].values()]
    none = run.get("without_candidate_why", [])
    named += [n.get("product") for n in none]
    if not named or None in named or len(none) != run.get("without_candidate", 0):
        # an A/B round, or an old run that did not name its products without a candidate
        raise SystemExit(
            f"--exclude-labels: {label!r} in {results} does not name its products; make that "
            f"set again into {work} (its draw depends only on its seed and exclusions)"
        )
    return [str(name) for name in named]


def draw(total: int, n: int, rng: np.random.Generator, used: set[int]) -> list[int]:
    """``n`` of the ``total`` products' indices not in ``used``, drawn with ``rng``. Fewer left
    is an error, not a smaller set: the dev products run out as report sets exclude the earlier
    ones (session 23: 9 of 740 were left with sets E–S excluded)."""
    pool = [i for i in range(total) if i not in used]
    if len(pool) < n:
        raise SystemExit(
            f"--n {n}: only {len(pool)} of {total} products are left after the exclusions; "
            "exclude fewer --exclude-labels (say which products are reused) or lower --n"
        )
    return [pool[int(i)] for i in rng.choice(len(pool), n, replace=False)]


def make(args: argparse.Namespace) -> int:
    products_dir = args.data / "ikea-sa-products"
    rooms_dir = args.data / "ikea-room-scenes" / "images"
    if data_missing(products_dir) or data_missing(rooms_dir):
        return 0
    if not args.catalog.is_dir():
        print(f"skipped: no catalog at {args.catalog} (run benchmarks/realism.py first)")
        return 0
    with open(products_dir / "labels.csv", newline="") as handle:
        products = list(csv.DictReader(handle))
    types = product_types(products_dir) if args.kinds else {}
    rooms = sorted(rooms_dir.iterdir())
    rng = np.random.default_rng(args.seed)
    used: set[int] = set()
    for seed in args.exclude_seeds:  # the products those seeds picked (with the same --n)
        earlier = np.random.default_rng(seed).choice(
            len(products), min(args.n, len(products)), False
        )
        used |= {int(i) for i in earlier}
    by_name = {Path(row["path"]).name: i for i, row in enumerate(products)}
    for label in args.exclude_labels:  # the products an earlier set really judged
        used |= {by_name[name] for name in judged_products(args.work, label) if name in by_name}
    picked = draw(len(products), args.n, rng, used)
    out = args.work / args.label
    (out / "pairs").mkdir(parents=True, exist_ok=True)
    (out / "staged").mkdir(parents=True, exist_ok=True)
    options = None
    if args.options:
        given = json.loads(args.options)
        if isinstance(given.get("screen"), dict):  # the screen's thresholds, as JSON
            given["screen"] = Screen(**given["screen"])
        options = StageOptions(**given)
    if args.critic is not None:  # the critic ranks each product's candidates (issue 13, item 7)
        critic = RealismCritic.load(args.critic)
        options = dataclasses.replace(options or StageOptions(), realism=critic.score_image)
    refine = None
    if args.refine_base is not None:  # a diffusion model re-draws around each paste (issue 13)
        from adstage.generate.refine import StagingRefiner, load_refiner

        model = load_refiner(args.refine_base, device=args.device, dtype=args.refine_dtype)
        staging = StagingRefiner(model, strength=args.refine_strength)
        options = dataclasses.replace(options or StageOptions(), refine=staging)
        refine = staging.settings()
    key: dict[str, Any] = {
        "label": args.label,
        "options": args.options,
        "critic": None if args.critic is None else args.critic.name,
        "refine": refine,
        "constants": module_constants(),
        "k": args.k,
        "seed": args.seed,
        "exclude_seeds": args.exclude_seeds,
        "exclude_labels": args.exclude_labels,
        "kinds": args.kinds,
        "heights": args.heights,
        "pairs": {},
        "none": [],
    }
    started = time.perf_counter()
    staged_all: dict[int, Any] = {}
    for n, i in enumerate(picked):
        path = products_dir / products[i]["path"]
        kind = types.get(products[i]["path"])  # None without --kinds: types is empty
        given = dataclasses.replace(options or StageOptions(), kind=kind) if kind else options
        height = product_height(path.name, kind) if args.heights and kind else None
        if height is not None:
            given = dataclasses.replace(given or StageOptions(), height_cm=height)
        try:
            staged = stage_product(path, args.catalog, k=args.k, options=given)
        except Exception as exc:  # a benchmark reports, it does not stop
            log.warning("%02d %s: %s", n, path.name, exc)
            key["none"].append({"n": n, "product": path.name, "why": str(exc).splitlines()[0]})
            continue
        if not staged.candidates:
            key["none"].append({"n": n, "product": path.name, "why": "no candidate"})
            continue
        staged_all[n] = staged
    shown = {n: 0 for n in staged_all}  # the candidate each product shows: its best…
    if args.per_scene is not None:  # …or as `adstage batch stage --per-scene` picks it
        picks = spread(
            {f"{n:02d}": [c.match.uri for c in s.candidates] for n, s in staged_all.items()},
            args.per_scene,
        )
        shown = {int(k): pick.rank for k, pick in picks.items()}
        key["spread"] = {
            "per_scene": args.per_scene,
            "moved": sum(p.rank > 0 for p in picks.values()),
            "over": sum(p.over for p in picks.values()),
        }
    for n, i in enumerate(picked):
        if n not in staged_all:
            continue
        path = products_dir / products[i]["path"]
        comparison = "real" if n < len(picked) // 2 else "naive"
        staged = staged_all[n]
        best = staged.candidates[shown[n]]
        write_image(out / "staged" / f"{n:02d}.png", best.image)
        scene = Path(best.match.uri).name
        others = [r for r in rooms if r.name != scene]
        room = read_image(others[int(rng.integers(len(others)))])
        # the real photo itself, or the same cut-out pasted naively into it
        other = room if comparison == "real" else naive_paste(room, staged.product)[0]
        staged_left = bool(rng.integers(2))
        pair = side_by_side(best.image, other) if staged_left else side_by_side(other, best.image)
        name = f"pair-{n:02d}"
        write_image(out / "pairs" / f"{name}.png", pair)
        key["pairs"][name] = {
            "comparison": comparison,
            "staged": "A" if staged_left else "B",
            "product": path.name,
            "scene": scene,
            "mode": best.provenance.get("mode"),
            "rank": shown[n],
            "box": [int(v) for v in best.placement],  # the product's, in the staged picture
        }
        log.info("%s %s (%s) → %s", name, path.name, comparison, scene)
    key["seconds"] = time.perf_counter() - started
    atomic_write_text(out / "key.json", json.dumps(key, indent=1) + "\n")
    print(f"wrote {len(key['pairs'])} pairs to {out / 'pairs'} ({len(key['none'])} without one)")
    return 0


def _changed_share(x: np.ndarray, y: np.ndarray) -> float:
    """The share of pixels where two same-size images differ by more than 8 grey levels."""
    return float((np.abs(x.astype(np.int16) - y).max(axis=2) > 8).mean())


def ab(args: argparse.Namespace) -> int:
    """Pairs of two variants' staged images of the same products (``--label`` vs ``--against``,
    both made by ``make`` with the same ``--n`` and ``--seed``): each shown both ways round
    (``--both-orders``, the default), or once with the sides balanced."""
    a, b = args.work / args.label / "staged", args.work / args.against / "staged"
    out = args.work / f"{args.label}-vs-{args.against}"
    (out / "pairs").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    made = args.work / args.label / "key.json"  # what --label was staged with
    made_key = json.loads(made.read_text()) if made.is_file() else {}
    key: dict[str, Any] = {
        "label": out.name,
        "options": made_key.get("options"),
        "critic": made_key.get("critic"),
        "constants": made_key.get("constants"),
        "pairs": {},
        "none": [],
    }
    both = []
    for path in sorted(a.glob("*.png")):
        other = b / path.name
        if not other.is_file():
            key["none"].append({"n": int(path.stem), "why": f"no {args.against} image"})
            continue
        x, y = read_image(path), read_image(other)
        if x.shape == y.shape and _changed_share(x, y) < 0.0005:
            key["none"].append({"n": int(path.stem), "why": "the same image"})
            continue
        both.append((path, x, y))
    if args.both_orders:
        # every pair twice, once each way round, under shuffled names: a judge who picks a
        # side rather than a picture splits the two (the tally counts that as half a vote)
        shows = [(path, x, y, first) for path, x, y in both for first in (True, False)]
        key["both_orders"] = True
        for n, i in enumerate(rng.permutation(len(shows))):
            path, x, y, first = shows[int(i)]
            name = f"pair-{n:02d}"
            image = side_by_side(x, y) if first else side_by_side(y, x)
            write_image(out / "pairs" / f"{name}.png", image)
            key["pairs"][name] = {
                "comparison": "ab",
                "staged": "A" if first else "B",
                "product_pair": f"pair-{path.stem}",
            }
        atomic_write_text(out / "key.json", json.dumps(key, indent=1) + "\n")
        print(f"wrote {len(shows)} pairs ({len(both)} each way round) to {out / 'pairs'}")
        return 0
    # balanced sides: --label's image is A in half of the pairs (a position bias cancels out)
    firsts = rng.permutation([i < (len(both) + 1) // 2 for i in range(len(both))])
    for (path, x, y), first in zip(both, firsts, strict=True):
        name = f"pair-{path.stem}"
        write_image(
            out / "pairs" / f"{name}.png", side_by_side(x, y) if first else side_by_side(y, x)
        )
        # "staged" is the side showing --label's image: the tally counts its wins
        key["pairs"][name] = {"comparison": "ab", "staged": "A" if first else "B"}
    atomic_write_text(out / "key.json", json.dumps(key, indent=1) + "\n")
    print(f"wrote {len(key['pairs'])} pairs to {out / 'pairs'}")
    return 0


def real(args: argparse.Namespace) -> int:
    """Pairs of ``--label``'s staged images (all of them, or only those whose candidate's mode
    is ``--mode``) against a random dev room photo other than the scene staged into: the
    real-photo comparison for every picture of a variant, not only the first half's."""
    src = args.work / args.label
    key_in = json.loads((src / "key.json").read_text())
    rooms_dir = args.data / "ikea-room-scenes" / "images"
    if data_missing(rooms_dir):
        return 0
    rooms = sorted(rooms_dir.iterdir())
    rng = np.random.default_rng(args.seed)
    label = f"{args.label}-real" + (f"-{args.mode}" if args.mode else "")
    out = args.work / label
    (out / "pairs").mkdir(parents=True, exist_ok=True)
    key: dict[str, Any] = {"label": label, "options": key_in["options"], "pairs": {}, "none": []}
    for name, pair in sorted(key_in["pairs"].items()):
        if args.mode and pair.get("mode") != args.mode:
            continue
        staged = read_image(src / "staged" / f"{name.removeprefix('pair-')}.png")
        others = [r for r in rooms if r.name != pair["scene"]]
        room = read_image(others[int(rng.integers(len(others)))])
        staged_left = bool(rng.integers(2))
        image = side_by_side(staged, room) if staged_left else side_by_side(room, staged)
        write_image(out / "pairs" / f"{name}.png", image)
        key["pairs"][name] = pair | {"comparison": "real", "staged": "A" if staged_left else "B"}
    atomic_write_text(out / "key.json", json.dumps(key, indent=1) + "\n")
    print(f"wrote {len(key['pairs'])} pairs to {out / 'pairs'}")
    return 0


def _choice(answer: Any) -> str:
    """``"A"``/``"B"`` from an answer: the letter, or ``{"choice": letter, "why": ...}``."""
    if isinstance(answer, dict):
        answer = answer.get("choice")
    return str(answer or "").strip().upper()


def tally(args: argparse.Namespace) -> int:
    from adstage.serve.study.stats import fleiss_kappa, majority, rate

    out = args.work / args.label
    key = json.loads((out / "key.json").read_text())
    answers = [json.loads(Path(p).read_text()) for p in args.answers]
    # one entry per pair judged: a --both-orders set shows each twice
    shown = {p.get("product_pair", n): p for n, p in key["pairs"].items()}
    result: dict[str, Any] = {
        "label": args.label,
        "options": key["options"],
        "critic": key.get("critic"),
        "constants": key.get("constants"),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "judges": len(answers),
        "answers": [str(p) for p in args.answers],
        "seed": key.get("seed"),
        "exclude_seeds": key.get("exclude_seeds", []),
        "k": key.get("k"),
        "products": len(shown) + len(key["none"]),
        "without_candidate": len(key["none"]),
        # why: refused as a part or accessory (its kind), or no slot and no free space
        "refused_as_part": sum("part or accessory" in n["why"] for n in key["none"]),
        # candidates by mode (replace, free-space, close-up: a part staged as a close-up)
        "modes": dict(sorted(Counter(str(p.get("mode")) for p in shown.values()).items())),
        "without_candidate_why": [
            {"product": n.get("product"), "why": n["why"][-240:]} for n in key["none"]
        ],
        "comparisons": {},
    }
    if key.get("both_orders"):  # only A/B pairs, each shown twice
        result["comparisons"]["ab"] = both_orders_tally(key, answers)
    for comparison in ("real", "naive", "ab"):
        if comparison in result["comparisons"]:
            continue
        names = sorted(n for n, p in key["pairs"].items() if p["comparison"] == comparison)
        table, wins, per_pair = [], 0, {}
        for name in names:
            staged = key["pairs"][name]["staged"]
            votes = [_choice(a.get(name)) for a in answers]
            if any(v not in ("A", "B") for v in votes):
                raise SystemExit(f"{name}: every judge must answer A or B, got {votes}")
            counts = [sum(v == staged for v in votes), sum(v != staged for v in votes)]
            table.append(counts)
            wins += majority(counts) == 0
            per_pair[name] = {
                "staged_votes": counts[0],
                **key["pairs"][name],
                "why": [a[name].get("why") for a in answers if isinstance(a.get(name), dict)],
            }
        if not names:
            continue
        modes: dict[str, list[int]] = {}  # won and judged, by the staged picture's mode
        for name, counts in zip(names, table, strict=True):
            mode = str(key["pairs"][name].get("mode"))
            modes.setdefault(mode, [0, 0])
            modes[mode][0] += majority(counts) == 0
            modes[mode][1] += 1
        result["comparisons"][comparison] = {
            "pairs": len(names),
            "staged_preferred": rate(wins, len(names)),
            "by_mode": {mode: rate(k, n) for mode, (k, n) in sorted(modes.items())},
            "staged_votes": rate(sum(c[0] for c in table), sum(sum(c) for c in table)),
            "fleiss_kappa": fleiss_kappa(table) if table else None,
            "per_pair": per_pair,
        }
    path = ROOT / "results" / "judge_study.json"
    stored = json.loads(path.read_text()) if path.is_file() else {"benchmark": "judge_study"}
    stored |= {
        "date": result["date"],
        "command": "python benchmarks/judge_study.py make, ab and tally (see its docstring)",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    stored.setdefault("runs", {})[args.label] = result
    atomic_write_text(path, json.dumps(stored, indent=1, ensure_ascii=False) + "\n")
    for comparison, c in result["comparisons"].items():
        s = c["staged_preferred"]
        print(
            f"{args.label} vs {comparison}: staged preferred {s['k']}/{s['n']}, κ {c['fleiss_kappa']}"
        )
        sided = [n + 1 for n, flag in enumerate(c.get("by_side", ())) if flag]
        if sided:
            print(
                f"warning: judge(s) {sided} chose the same picture in both showings of fewer "
                f"than {BY_SIDE:.0%} of the pairs: they answered by side (a panel to replace)"
            )
    return 0


BY_SIDE = 0.2
"""A judge who chose the same picture in both showings of fewer than this share of the pairs
answered by side, or copied a letter onto the swapped showing (:func:`both_orders_tally`'s
``by_side``; session 34: 0–10 % in two panels whose votes were all ½)."""


def both_orders_tally(key: dict[str, Any], answers: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``ab`` comparison of a set made with ``--both-orders``: each pair was shown twice, once
    each way round. A judge's vote on a pair is the share of its two showings where they chose
    ``--label``'s picture (0, ½ or 1: ½ when they chose the same side both times, a position
    bias); a pair is won when its votes sum to more than half the judges', tied at half (counted
    as ½ a win). Also each judge's share of pairs answered consistently (the same picture both
    times) and of showings answered "A"; Fleiss' κ over the showings."""
    from adstage.serve.study.stats import fleiss_kappa, rate

    groups: dict[str, list[str]] = {}
    for name, pair in sorted(key["pairs"].items()):
        groups.setdefault(pair["product_pair"], []).append(name)
    sides = [sorted(key["pairs"][n]["staged"] for n in names) for names in groups.values()]
    if any(side != ["A", "B"] for side in sides):
        raise SystemExit("a --both-orders set must show every pair exactly twice, once each way")
    table, per_pair, wins = [], {}, 0.0
    consistent = [0] * len(answers)
    left = [0] * len(answers)
    for pair, names in sorted(groups.items()):
        votes = []
        for j, judge in enumerate(answers):
            chose = [_choice(judge.get(name)) for name in names]
            if any(c not in ("A", "B") for c in chose):
                raise SystemExit(f"{names}: every judge must answer A or B, got {chose}")
            picked = [
                c == key["pairs"][name]["staged"] for c, name in zip(chose, names, strict=True)
            ]
            votes.append(sum(picked) / 2)
            consistent[j] += picked[0] == picked[1]
            left[j] += sum(c == "A" for c in chose)
        for name in names:  # κ over the showings
            staged = key["pairs"][name]["staged"]
            won = sum(_choice(a.get(name)) == staged for a in answers)
            table.append([won, len(answers) - won])
        total = sum(votes)
        wins += 1.0 if total > len(answers) / 2 else 0.5 if total == len(answers) / 2 else 0.0
        per_pair[pair] = {
            "staged_votes": total,
            "showings": names,
            "why": [a[n].get("why") for n in names for a in answers if isinstance(a.get(n), dict)],
        }
    n = len(groups)

    def half_rate(k: float, total: int) -> dict[str, Any]:
        """:func:`rate` of a count that may end in a half: the interval from the count rounded
        down's low end to the count rounded up's high end."""
        low, high = rate(int(k), total), rate(int(k + 0.5), total)
        ci = None if low["ci"] is None else [low["ci"][0], high["ci"][1]]
        return {"k": k, "n": total, "rate": k / total if total else None, "ci": ci}

    return {
        "pairs": n,
        "both_orders": True,
        "staged_preferred": half_rate(wins, n),
        "staged_votes": half_rate(
            sum(p["staged_votes"] for p in per_pair.values()), n * len(answers)
        ),
        "consistent_share": [round(c / n, 3) if n else None for c in consistent],
        "left_share": [round(c / (2 * n), 3) if n else None for c in left],
        # a judge who gave the same letter to both showings of most pairs answered by side
        "by_side": [bool(n) and c / n < BY_SIDE for c in consistent],
        "fleiss_kappa": fleiss_kappa(table) if table else None,
        "per_pair": per_pair,
    }


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {value}")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("phase", choices=("make", "ab", "real", "tally"))
    parser.add_argument("answers", nargs="*", help="tally: one JSON answer file per judge")
    parser.add_argument("--label", required=True, help="the variant's name (a folder per label)")
    parser.add_argument("--against", default="", help="ab: the other variant's label")
    parser.add_argument(
        "--both-orders",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ab: show every pair twice, once each way round (a judge's side bias cancels; the "
        "default since session 31); --no-both-orders shows each pair once",
    )
    parser.add_argument("--mode", default="", help="real: only candidates of this mode")
    parser.add_argument("--options", default="", help="StageOptions as JSON (default: defaults)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--catalog", type=Path, default=ROOT / ".cache" / "realism-catalog-512")
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "judge")
    parser.add_argument("--n", type=int, default=40, help="products: half vs real, half vs naive")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--exclude-seeds",
        type=lambda text: [int(x) for x in text.split(",") if x],
        default=[],
        help="make: leave out the products these seeds picked (comma-separated), e.g. 13,14,15; "
        "the earlier sets must have used the same --n and the same labels.csv",
    )
    parser.add_argument(
        "--exclude-labels",
        type=lambda text: [x for x in text.split(",") if x],
        default=[],
        help="make: leave out the products the sets with these labels judged (their key.json, "
        "else their tallied run in results/judge_study.json): exact, where --exclude-seeds "
        "replays only a seed's draw without its own exclusions",
    )
    parser.add_argument(
        "--kinds",
        action="store_true",
        help="make: give each product its catalog product type (metadata.csv) as kind",
    )
    parser.add_argument(
        "--heights",
        action="store_true",
        help="make, with --kinds: give storage furniture its height read from the product's name "
        "(_common.product_height) as height_cm",
    )
    parser.add_argument("--k", type=int, default=3, help="candidates staged; the best is judged")
    parser.add_argument(
        "--critic",
        type=Path,
        default=None,
        help="make: a realism critic (.npz, benchmarks/realism.py) that ranks the candidates",
    )
    parser.add_argument(
        "--refine-base",
        type=Path,
        default=None,
        help="make: a diffusers SD-1.5 folder that re-draws around each paste "
        "(adstage.generate.refine; none ships: bring one, best on a GPU)",
    )
    parser.add_argument("--refine-strength", type=float, default=0.4, help="make: with a base")
    parser.add_argument("--refine-dtype", default="float32", help="make: with a base")
    parser.add_argument("--device", default="cpu", help="make: with --refine-base (cuda on a GPU)")
    parser.add_argument(
        "--per-scene",
        type=_at_least_one,
        default=None,
        help="make: at most this many products per scene (adstage.batch.spread; default: off)",
    )
    args = parser.parse_intermixed_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    return {"make": make, "ab": ab, "real": real, "tally": tally}[args.phase](args)


if __name__ == "__main__":
    raise SystemExit(main())
