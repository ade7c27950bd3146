"""What every benchmark shares: where the licensed development data lives, and a clean skip when
it is not on the machine (benchmarks are scripts: ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import runpy
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adstage.io.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parent.parent / "shared" / "data"
"""``../shared/data`` beside the checkout: non-commercial photos, never copied into the repo."""


def data_missing(path: Path) -> bool:
    """Print the skip line and return True when ``path`` (a data folder) is absent."""
    if path.is_dir():
        return False
    print(f"skipped: {path} not found (the licensed development data is not on this machine)")
    return True


def product_types(products_dir: Path) -> dict[str, str]:
    """The catalog product type (``metadata.csv``'s ``product_type``) of each IKEA product, by its
    ``path`` in ``labels.csv``: what ``--kinds`` passes to staging as each product's kind."""
    with open(products_dir / "metadata.csv", newline="") as handle:
        return {row["path"]: row["product_type"] for row in csv.DictReader(handle)}


_SIZES = re.compile(r"-(\d+)x(\d+)(?:x(\d+))?-cm(?:-[a-z0-9-]*)?\.[a-z]+$", re.IGNORECASE)
_TALL_LAST = (
    "wardrobe",
    "chest of drawers",
    "shelving",
    "cabinet",
    "sideboard",
    "TV bench",
    "box or basket",
)
"""Kinds whose catalog sizes end with the height: width x height ("Chest of 5 drawers 120x76
cm"), or width x depth x height ("TV bench 120x40x64 cm", "Corner wardrobe 160/88x236 cm", the
"/" lost in the file name; "Storage box 42x30x10 cm", kind ``box or basket``: every such dev product's
sizes end with its height). A table's or a bed's sizes are its top's or its mattress's."""


def product_height(name: str, kind_text: str) -> float | None:
    """The height (cm) a dev product's file name gives, for the kinds of :data:`_TALL_LAST`;
    ``None`` for other kinds or a name without sizes."""
    from adstage.stage.scale import kind_of

    kind = kind_of(kind_text)
    found = _SIZES.search(name)
    if kind is None or kind.name not in _TALL_LAST or found is None:
        return None
    numbers = [int(g) for g in found.groups() if g is not None]
    return float(numbers[-1]) if numbers[-1] > 0 else None


def command(
    script: str,
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    skip: tuple[str, ...] = ("out",),
) -> str:
    """``python benchmarks/SCRIPT`` with every option that differs from its default, as typed
    (the command a result's JSON records, so that it reproduces the run); ``skip``: options
    (by ``dest``) that do not change the result."""
    words = [f"python benchmarks/{script}"]
    for action in parser._actions:
        if not action.option_strings or action.dest == "help" or action.dest in skip:
            continue
        value = getattr(args, action.dest)
        if value == action.default:
            continue
        flag = action.option_strings[0]
        if isinstance(action, argparse._StoreConstAction):  # store_true / store_false
            words.append(flag)
        elif isinstance(value, list):
            words += [flag, *(shlex.quote(str(v)) for v in value)]
        else:
            words += [flag, shlex.quote(str(value))]
    return " ".join(words)


def judge_make(argv: list[str], add: dict[str, Any] | None = None) -> Path | None:
    """Run ``judge_study.py make`` with ``argv`` in this process (so that a caller's changes to
    adstage's modules take effect: the variants that are not options) and return the ``key.json``
    it wrote (its ``--label`` under its ``--work``), with ``add``'s entries added (as they stand
    when the set is made), or ``None`` when it made no set (it skipped). judge_study's own errors
    exit with their message and status."""
    known = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    known.add_argument("--label", required=True)
    known.add_argument("--work", type=Path, default=ROOT / ".cache" / "judge")
    args, _ = known.parse_known_args(argv)
    started = time.time()
    saved, sys.argv = sys.argv, [str(ROOT / "judge_study.py"), "make", *argv]
    try:
        runpy.run_path(str(ROOT / "judge_study.py"), run_name="__main__")
    except SystemExit as done:
        if done.code not in (0, None):
            raise
    finally:
        sys.argv = saved
    key = Path(args.work) / args.label / "key.json"
    if not key.exists() or key.stat().st_mtime < started:
        return None
    if add:
        atomic_write_text(key, json.dumps(json.loads(key.read_text()) | add, indent=1) + "\n")
    return key


def made_first(argv: list[str], make: Callable[[list[str]], int]) -> int | None:
    """For a script whose ``make`` takes ``judge_study.py make``'s arguments (its own parser would
    refuse them): when ``argv`` starts with ``make``, logging set up and ``make(the rest)``'s
    status; otherwise ``None`` (parse ``argv`` as usual)."""
    if argv[:1] != ["make"]:
        return None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    return make(argv[1:])
