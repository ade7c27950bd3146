"""Rooms that show the product's kind: staging restricted to them, for the blind study (issue 13).

    python benchmarks/kin_scenes.py count                      # rooms per kind, products per kind
    python benchmarks/kin_scenes.py make --kinds --heights --catalog \\
        benchmarks/.cache/realism-catalog-512-typed --seed 13 --label A-kin
    python benchmarks/judge_study.py ab --label A-kin --against A-l75 --seed 13
    python benchmarks/kin_scenes.py tiebreak --kinds --heights --catalog \
        benchmarks/.cache/realism-catalog-512-typed --seed 13 --label A-kinfirst

The judges keep naming where a product stands: "a white bed frame floating in the middle of a
living room", "a brown nightstand in front of the TV unit", a TV storage unit in a nursery. Each
IKEA room photo of the dev data lists the products it shows (``metadata.csv``'s ``items``: "sofa;
bedside table; rug, flatwoven; …"), as an ad platform knows which products each of its staged
photos advertises (the staged images Ku et al., AdKDD 2023, retrieve from are product ads). So
a chest of drawers can be staged only into rooms that show a chest of drawers — beside one, or in
the place of one — and a bed only into rooms with a bed.

``make`` runs ``judge_study.py make`` (same arguments) with retrieval restricted to such rooms:
every search :mod:`adstage.stage.pipeline` makes (the slots to screen and the free-space anchors)
asks for :data:`WIDEN` times as many slots (re-ranked among them, as ``retrieve`` re-ranks its
pool) and keeps those whose scene shows the product's kind (:func:`scene_kinds`: each listed item
read by :func:`adstage.stage.scale.kind_of`, children's kinds as the adult kind; a COCO photo
shows its own object's class), up to the number asked for; none kept, the first of the widened
search. A product that gets no candidate at all so (or fails) is staged again without the
restriction (``key.json``'s ``kin`` lists, per product, its kind, each search's slots found and
kept, and whether and why it fell back). A part or accessory takes its close-up's floor from a
room that lists one (176 of the 215 do); a product without a kind is staged as before.

``tiebreak`` (session 38) stages as the defaults do and only puts first, among a product's
candidates, those whose scene shows its kind (:func:`kin_first`): rooms of the kind as a
tie-break, not a restriction (``key.json``'s ``kin_first``).

``count`` writes ``results/kin_scenes.json``: how many dev rooms show each kind and how many dev
products are of it. The photos are non-commercial: nothing of them enters the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import DATA, command, data_missing, judge_make, made_first, product_types
from adstage.io.atomic import atomic_write_text
from adstage.stage.scale import kind_of

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


def room_kinds(data: Path) -> dict[str, frozenset[str]]:
    """The kinds each IKEA room of the dev data shows, by file name: its listed ``items`` (``;``
    separated), each read by :func:`kind_name`."""
    out: dict[str, frozenset[str]] = {}
    with open(data / "ikea-room-scenes" / "metadata.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            names = {kind_name(item.strip()) for item in row["items"].split(";") if item.strip()}
            out[Path(row["path"]).name] = frozenset(n for n in names if n is not None)
    return out


def scene_kinds(data: Path) -> dict[str, frozenset[str]]:
    """The kinds each dev scene shows, by file name: an IKEA room's (:func:`room_kinds`), a
    COCO photo's object class (:data:`COCO_KINDS`)."""
    out = room_kinds(data)
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
    ``widen`` times ``k``; none kept, the first ``k`` of that widened search (which re-ranks a
    larger pool: not what a search for ``k`` returns). Each restricted call is recorded in
    ``state["calls"]``: the slots found and kept."""

    def search(*args: Any, k: int = 5, **kwargs: Any) -> list[Any]:
        kind = state.get("kind")
        if kind is None or state.get("off"):
            return retrieve(*args, k=k, **kwargs)
        found = retrieve(*args, k=k * widen, **kwargs)
        kin = [m for m in found if kind in shows.get(Path(m.uri).name, frozenset())]
        state.setdefault("calls", []).append({"found": len(found), "kept": min(k, len(kin))})
        return (kin or found)[:k]

    return search


def kin_staging(
    staging: Callable[..., Any], state: dict[str, Any], record: dict[str, dict[str, Any]]
) -> Callable[..., Any]:
    """``staging`` (:func:`adstage.stage_product`'s signature) with ``state["kind"]`` set to the
    product's kind name for :func:`restricted`, and staged again unrestricted (``state["off"]``)
    when it gets no candidate or fails; ``record[product file name]``: its kind, the restricted
    searches, and whether and why it fell back."""

    def stage_product(path: Any, catalog: Any, k: int = 3, options: Any = None) -> Any:
        kind = kind_name(None if options is None else options.kind)
        state.update(kind=kind, off=False, calls=[])
        entry: dict[str, Any] = {"kind": kind, "fallback": False}
        record[Path(path).name] = entry
        try:
            staged = staging(path, catalog, k=k, options=options)
        except Exception as exc:
            if kind is None:
                raise
            entry["why"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        else:
            if staged.candidates or kind is None:
                entry["calls"] = state["calls"]
                return staged
            entry["why"] = "no candidate"
        entry.update(calls=state["calls"], fallback=True)
        state["off"] = True
        return staging(path, catalog, k=k, options=options)

    return stage_product


def kin_first(
    staging: Callable[..., Any],
    shows: dict[str, frozenset[str]],
    record: dict[str, dict[str, Any]],
) -> Callable[..., Any]:
    """``staging`` (:func:`adstage.stage_product`'s signature) with its candidates reordered: those
    whose scene shows the product's kind first, each group in staging's own order (a tie-break
    among candidates that passed the same screens; nothing retrieved or staged differently);
    ``record[product file name]``: its kind and the candidates' scenes before and after."""

    def stage_product(path: Any, catalog: Any, k: int = 3, options: Any = None) -> Any:
        staged = staging(path, catalog, k=k, options=options)
        kind = kind_name(None if options is None else options.kind)
        if kind is None or not staged.candidates:
            return staged
        before = [c.match.uri for c in staged.candidates]
        kin = [kind in shows.get(Path(uri).name, frozenset()) for uri in before]
        order = sorted(range(len(before)), key=lambda i: not kin[i])  # stable: ties keep order
        staged.candidates[:] = [staged.candidates[i] for i in order]
        record[Path(path).name] = {
            "kind": kind,
            "kin": kin,
            "changed": order[0] != 0,
            "scenes": [Path(before[i]).name for i in order],
        }
        return staged

    return stage_product


def _scene_kinds_of(argv: list[str]) -> dict[str, frozenset[str]] | None:
    """:func:`scene_kinds` of ``judge_study.py make``'s ``--data`` in ``argv``; ``None`` (said
    why) when its item lists are missing."""
    known = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    known.add_argument("--data", type=Path, default=DATA)  # judge_study's, for the item lists
    args, _ = known.parse_known_args(argv)
    if data_missing(args.data / "ikea-room-scenes") or data_missing(
        args.data / "coco-mval-objects"
    ):
        return None
    return scene_kinds(args.data)


def _tiebreak(argv: list[str]) -> int:
    """``judge_study.py make`` with the candidates that show the product's kind first; the set's
    ``key.json`` gets the ``kin_first`` record."""
    shows = _scene_kinds_of(argv)
    if shows is None:
        return 0
    import adstage

    record: dict[str, dict[str, Any]] = {}
    adstage.stage_product = kin_first(adstage.stage_product, shows, record)  # type: ignore[assignment]
    judge_make(argv, add={"kin_first": record})
    return 0


def _make(argv: list[str]) -> int:
    """``judge_study.py make`` with retrieval restricted to rooms that show the product's kind;
    the set's ``key.json`` gets the ``kin`` record."""
    shows = _scene_kinds_of(argv)
    if shows is None:
        return 0
    import adstage
    import adstage.stage.pipeline as pipeline

    state: dict[str, Any] = {}
    record: dict[str, dict[str, Any]] = {}
    adstage.stage_product = kin_staging(adstage.stage_product, state, record)  # type: ignore[assignment]
    pipeline.retrieve = restricted(pipeline.retrieve, shows, state)  # type: ignore[attr-defined]
    judge_make(argv, add={"kin": {"widen": WIDEN, "products": record}})
    return 0


def count(data: Path) -> dict[str, Any]:
    """How many dev rooms show each kind and how many dev products are of it."""
    shown = room_kinds(data)
    rooms = Counter(kind for kinds in shown.values() for kind in kinds)
    types = product_types(data / "ikea-sa-products")
    products = Counter(kind_name(text) or "(none)" for text in types.values())
    alone = sum(
        n
        for name, n in products.items()
        if name != "(none)" and rooms.get(name, 0) == 0 and kind_of(name) is not None
    )
    return {
        "rooms": len(shown),
        "rooms_showing": dict(rooms.most_common()),
        "products": dict(products.most_common()),
        "products_of_a_kind_no_room_shows": alone,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    made = made_first(argv, _make)
    if made is not None:
        return made
    if argv[:1] == ["tiebreak"]:  # judge_study's arguments follow, as for make
        return made_first(["make", *argv[1:]], _tiebreak) or 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", choices=["count", "make", "tiebreak"], help="make, tiebreak: put it first"
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "kin_scenes.json")
    args = parser.parse_args(argv)
    if args.command in ("make", "tiebreak"):
        parser.error(f"{args.command} takes judge_study.py's arguments: put it first")
    for folder in ("ikea-room-scenes", "ikea-sa-products", "coco-mval-objects"):
        if data_missing(args.data / folder):
            return 0
    result = {
        "benchmark": "kin_scenes",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "command": command("kin_scenes.py", parser, args).replace(".py", ".py count", 1),
        "count": count(args.data),
    }
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["count"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
