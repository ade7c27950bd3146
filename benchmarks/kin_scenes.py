"""Rooms that show the product's kind: staging restricted to them, for the blind study (issue 13).

    python benchmarks/kin_scenes.py count                      # rooms per kind, products per kind
    python benchmarks/kin_scenes.py make --kinds --heights --catalog \\
        benchmarks/.cache/realism-catalog-512-typed --seed 13 --label A-kin
    python benchmarks/judge_study.py ab --label A-kin --against A-l75 --seed 13

The judges keep naming where a product stands: "a white bed frame floating in the middle of a
living room", "a brown nightstand in front of the TV unit", a TV storage unit in a nursery. Each
IKEA room photo of the dev data lists the products it shows (``metadata.csv``'s ``items``: "sofa;
bedside table; rug, flatwoven; …"), as an ad platform knows which products each of its staged
photos advertises (the staged images Ku et al., AdKDD 2023, retrieve from are product ads). So
a chest of drawers can be staged only into rooms that show a chest of drawers — beside one, or in
the place of one — and a bed only into rooms with a bed.

``make`` runs ``judge_study.py make`` (same arguments) with retrieval restricted to such rooms:
every search :mod:`adstage.stage.pipeline` makes (the slots to screen and the free-space anchors)
asks for :data:`WIDEN` times as many slots and keeps those whose scene shows the product's kind
(:func:`scene_kinds`: each listed item read by :func:`adstage.stage.scale.kind_of`, children's
kinds as the adult kind; a COCO photo shows its own object's class), up to the number asked for;
none left, the unrestricted slots. A product of a kind no room shows, or with no candidate among
the rooms that do, is staged again without the restriction (``key.json``'s ``kin`` lists, per
product, its kind, the slots kept of those asked for and whether it fell back). A part or
accessory takes its close-up's floor from a room that lists one (176 of the 215 do); a product
without a kind is staged as before.

``count`` writes ``results/kin_scenes.json``: how many dev rooms show each kind and how many dev
products are of it. The photos are non-commercial: nothing of them enters the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import runpy
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import DATA, data_missing, product_types
from adstage.io.atomic import atomic_write_text
from adstage.stage.scale import PART, kind_of

log = logging.getLogger("kin_scenes")
ROOT = Path(__file__).resolve().parent
WIDEN = 4
"""A restricted search asks for this many times the slots it returns."""
COCO_KINDS = {"chair": "chair", "couch": "sofa", "bed": "bed", "dining table": "table"}
"""The kind a home-furnishing COCO photo shows, by its object's COCO class (others: none)."""


def kind_name(text: str | None) -> str | None:
    """The name of the :class:`~adstage.stage.scale.Kind` ``text`` reads as, a children's kind as
    the adult one ("children's chair" → "chair"); ``None``: no kind."""
    kind = kind_of(text)
    return None if kind is None else kind.name.removeprefix("children's ")


def scene_kinds(data: Path) -> dict[str, frozenset[str]]:
    """The kinds each dev scene shows, by file name: an IKEA room's listed ``items`` (``;``
    separated), a COCO photo's object class (:data:`COCO_KINDS`)."""
    out: dict[str, frozenset[str]] = {}
    with open(data / "ikea-room-scenes" / "metadata.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            names = {kind_name(item.strip()) for item in row["items"].split(";") if item.strip()}
            out[Path(row["path"]).name] = frozenset(n for n in names if n is not None)
    with open(data / "coco-mval-objects" / "metadata.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            kind = COCO_KINDS.get(row["coco_category"])
            out[Path(row["path"]).name] = frozenset([kind] if kind else [])
    return out


def restricted(
    retrieve: Callable[..., list[Any]],
    shows: dict[str, frozenset[str]],
    state: dict[str, Any],
    widen: int = WIDEN,
) -> Callable[..., list[Any]]:
    """``retrieve`` (:func:`adstage.retrieve.search.retrieve`'s signature) keeping only slots
    whose scene shows ``state["kind"]`` (when it is set and ``state["off"]`` is not), asking for
    ``widen`` times ``k``; none kept, the first ``k`` as asked. Each restricted call is counted
    in ``state["calls"]``."""

    def search(*args: Any, k: int = 5, **kwargs: Any) -> list[Any]:
        kind = state.get("kind")
        if kind is None or state.get("off"):
            return retrieve(*args, k=k, **kwargs)
        found = retrieve(*args, k=k * widen, **kwargs)
        kin = [m for m in found if kind in shows.get(Path(m.uri).name, frozenset())]
        state.setdefault("calls", []).append({"asked": len(found), "kept": min(k, len(kin))})
        return (kin or found)[:k]

    return search


def _make(argv: list[str]) -> int:
    """``judge_study.py make`` with retrieval restricted to rooms that show the product's kind."""
    if data_missing(DATA / "ikea-room-scenes") or data_missing(DATA / "coco-mval-objects"):
        return 0
    import adstage
    import adstage.stage.pipeline as pipeline

    shows = scene_kinds(DATA)
    state: dict[str, Any] = {}
    record: dict[str, dict[str, Any]] = {}
    staging = adstage.stage_product

    def stage_product(path: Any, catalog: Any, k: int = 3, options: Any = None) -> Any:
        given = None if options is None else options.kind
        kind = kind_name(given)
        state.update(kind=kind, off=False, calls=[])
        entry: dict[str, Any] = {"kind": kind, "fallback": False}
        record[Path(path).name] = entry
        try:
            staged = staging(path, catalog, k=k, options=options)
            if staged.candidates or kind is None:
                entry["calls"] = state["calls"]
                return staged
        except Exception:
            if kind is None:
                raise
        entry.update(calls=state["calls"], fallback=True)  # no candidate in a kin room
        state["off"] = True
        return staging(path, catalog, k=k, options=options)

    adstage.stage_product = stage_product  # type: ignore[assignment]
    pipeline.retrieve = restricted(pipeline.retrieve, shows, state)  # type: ignore[assignment]
    sys.argv = [str(ROOT / "judge_study.py"), "make", *argv]
    try:
        runpy.run_path(str(ROOT / "judge_study.py"), run_name="__main__")
    except SystemExit as done:
        if done.code not in (0, None):
            return int(done.code) if isinstance(done.code, int) else 1
    label = argv[argv.index("--label") + 1]
    work = ROOT / ".cache" / "judge" / label / "key.json"
    if work.exists():
        key = json.loads(work.read_text())
        key["kin"] = {"widen": WIDEN, "products": record}
        atomic_write_text(work, json.dumps(key, indent=1) + "\n")
    return 0


def count(data: Path) -> dict[str, Any]:
    """Dev rooms per kind shown and dev products per kind (parts and accessories apart)."""
    shows = scene_kinds(data)
    rooms = Counter(kind for name, kinds in shows.items() if "ikea" in name for kind in kinds)
    types = product_types(data / "ikea-sa-products")
    products = Counter(kind_name(text) or "(none)" for text in types.values())
    staged = {k: n for k, n in products.items() if k != "(none)" and kind_of(k) is not None}
    return {
        "rooms": len([n for n in shows if "ikea" in n]),
        "rooms_showing": dict(rooms.most_common()),
        "products": dict(products.most_common()),
        "products_of_a_kind_no_room_shows": sum(
            n
            for k, n in staged.items()
            if rooms.get(k, 0) == 0 and kind_of(k).support != PART  # type: ignore[union-attr]
        ),
    }


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["make"]:
        return _make(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["count", "make"])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    if data_missing(args.data / "ikea-room-scenes") or data_missing(args.data / "ikea-sa-products"):
        return 0
    result = {
        "benchmark": "kin_scenes",
        "count": count(args.data),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/kin_scenes.py count",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    out = ROOT / "results" / "kin_scenes.json"
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["count"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
