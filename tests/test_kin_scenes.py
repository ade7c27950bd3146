"""benchmarks/kin_scenes.py: the kinds a dev scene shows, and retrieval kept to them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from benchmark_module import load_benchmark


@pytest.fixture
def kin(monkeypatch):  # type: ignore[no-untyped-def]
    return load_benchmark(monkeypatch, "kin_scenes")


def _data(root: Path) -> Path:
    """Two IKEA rooms' item lists and two COCO photos, as the dev data's metadata.csv has them."""
    rooms = root / "ikea-room-scenes"
    rooms.mkdir(parents=True)
    (rooms / "metadata.csv").write_text(
        "path,category,items\n"
        'images/bedroom.jpg,Bedroom,"bed frame;bedside table;rug, flatwoven;children\'s chair"\n'
        'images/kitchen.jpg,Kitchen,"table;chair;knob"\n'
    )
    coco = root / "coco-mval-objects"
    coco.mkdir()
    (coco / "metadata.csv").write_text(
        "path,coco_category\nimages/couch01.jpg,couch\nimages/cat01.jpg,cat\n"
    )
    return root


def test_scene_kinds_reads_items_and_coco_classes(kin, tmp_path: Path) -> None:
    shows = kin.scene_kinds(_data(tmp_path))
    assert shows["bedroom.jpg"] >= {"bed", "bedside table", "chair"}  # children's chair: chair
    assert "table" not in shows["bedroom.jpg"]
    assert shows["kitchen.jpg"] >= {"table", "chair", "part or accessory"}
    assert shows["couch01.jpg"] == frozenset({"sofa"})
    assert shows["cat01.jpg"] == frozenset()


@dataclass
class _Slot:
    uri: str


def test_restricted_keeps_kin_scenes_and_falls_back(kin) -> None:
    asked: list[int] = []
    slots = [_Slot(f"/x/{n}.jpg") for n in ("kitchen", "bedroom", "kitchen", "bedroom", "attic")]

    def retrieve(*_: Any, k: int = 5, **__: Any) -> list[_Slot]:
        asked.append(k)
        return slots[:k]

    shows = {"bedroom.jpg": frozenset({"bed"}), "kitchen.jpg": frozenset({"table"})}
    state: dict[str, Any] = {"kind": "bed"}
    search = kin.restricted(retrieve, shows, state, widen=3)
    assert [s.uri for s in search(k=2)] == ["/x/bedroom.jpg", "/x/bedroom.jpg"]
    assert asked == [6] and state["calls"] == [{"found": 5, "kept": 2}]
    state["kind"] = "wardrobe"  # no room shows one: the slots as retrieved
    assert search(k=2) == slots[:2]
    state["off"] = True  # a fallback staging: unrestricted, not widened
    assert search(k=1) == slots[:1] and asked[-1] == 1
    state.update(kind=None, off=False)
    assert search(k=3) == slots[:3] and asked[-1] == 3


@dataclass
class _Staged:
    candidates: list[str]


def test_kin_staging_falls_back_when_nothing_is_staged(kin) -> None:
    seen: list[tuple[str | None, bool]] = []
    results: list[Any] = []

    def staging(path: Any, catalog: Any, k: int = 3, options: Any = None) -> _Staged:
        seen.append((state.get("kind"), bool(state.get("off"))))
        got = results.pop(0)
        if isinstance(got, Exception):
            raise got
        return got

    @dataclass
    class _Options:
        kind: str | None

    state: dict[str, Any] = {}
    record: dict[str, dict[str, Any]] = {}
    stage = kin.kin_staging(staging, state, record)
    results[:] = [_Staged(["a"])]
    assert stage("/p/bed.jpg", "cat", options=_Options("Bed frame")).candidates == ["a"]
    assert seen == [("bed", False)] and record["bed.jpg"]["fallback"] is False
    results[:] = [_Staged([]), _Staged(["b"])]  # none among kin rooms: staged again, unrestricted
    assert stage("/p/tv.jpg", "cat", options=_Options("TV bench")).candidates == ["b"]
    assert seen[1:] == [("TV bench", False), ("TV bench", True)]
    assert record["tv.jpg"] == {"kind": "TV bench", "fallback": True, "why": "no candidate",
                                "calls": []}  # fmt: skip
    results[:] = [ValueError("no slot\nmore"), _Staged(["c"])]
    assert stage("/p/desk.jpg", "cat", options=_Options("Desk")).candidates == ["c"]
    assert record["desk.jpg"]["why"] == "no slot" and state["off"] is True
    results[:] = [ValueError("broken")]  # no kind: nothing to fall back from
    with pytest.raises(ValueError, match="broken"):
        stage("/p/x.jpg", "cat", options=_Options(None))
    assert state["off"] is False


def test_kin_first_puts_candidates_in_rooms_of_the_kind_first(kin) -> None:
    @dataclass
    class _Options:
        kind: str | None

    def candidate(room: str) -> Any:
        return SimpleNamespace(match=SimpleNamespace(uri=f"/rooms/{room}"))

    shows = {"bedroom.jpg": frozenset({"bed"}), "kids.jpg": frozenset({"bed", "chair"})}
    record: dict[str, dict[str, Any]] = {}
    made = [candidate(r) for r in ("living.jpg", "kids.jpg", "hall.jpg", "bedroom.jpg")]
    stage = kin.kin_first(lambda *a, **kw: _Staged(list(made)), shows, record)
    got = stage("/p/bed.jpg", "cat", options=_Options("Bed frame"))
    rooms = [Path(c.match.uri).name for c in got.candidates]
    assert rooms == ["kids.jpg", "bedroom.jpg", "living.jpg", "hall.jpg"]  # stable in each group
    assert record["bed.jpg"] == {"kind": "bed", "kin": [False, True, False, True],
                                 "changed": True, "scenes": rooms}  # fmt: skip
    got = stage("/p/lamp.jpg", "cat", options=_Options(None))  # no kind: as staged
    assert got.candidates[0] is made[0]
    assert "lamp.jpg" not in record
    got = stage("/p/chair.jpg", "cat", options=_Options("Chair"))
    assert record["chair.jpg"]["changed"] is True and got.candidates[0] is made[1]
