"""The study file: CSV checks, images copied in as clean PNGs, randomisation recorded and
reproducible from the token, balanced assignment, one vote per item per judge."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from study_helpers import picture, write_csv

from adstage.errors import InputError
from adstage.io.images import write_image
from adstage.serve.study.store import (
    AlreadyVoted,
    BadChoice,
    Study,
    UnknownItem,
    UnknownToken,
    create_study,
    judge_rng,
)


def _query(db: Path, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def test_a_study_file_holds_everything_and_only_its_owner_reads_it(make_study) -> None:
    db = make_study("pairwise", items=4, judges=3, checks=2)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert _query(db, "PRAGMA journal_mode") == [("wal",)]
    assert not Path(f"{db}-wal").exists() and not list(db.parent.glob(".study.db*"))
    with Study(db) as study:
        assert study.protocol == "pairwise" and study.question == "Which image is more realistic?"
        items = study.items()
        assert [i.name for i in items] == ["p1", "p2", "p3", "p4", "c1", "c2"]
        assert [i.is_check for i in items] == [False] * 4 + [True] * 2
        assert items[4].answer == 0 and all(Path(s).is_absolute() for s in items[0].sources)
        judges = study.judges()
        assert [j.name for j in judges] == ["judge-1", "judge-2", "judge-3"]
        assert len({j.token for j in judges}) == 3 and all(len(j.token) == 32 for j in judges)
        assert study.assigned_counts() == {"judge-1": 6, "judge-2": 6, "judge-3": 6}
    assert _query(db, "SELECT COUNT(*) FROM blobs") == [(12,)]


def test_images_are_decoded_and_stored_as_png_without_metadata(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0110] = "A Real Camera"  # Model
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    Image.fromarray(picture(1, (40, 30))).save(tmp_path / "real.jpg", exif=exif, quality=95)
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a generated picture, steps 50, sampler DDIM")
    Image.fromarray(picture(2, (30, 40))).save(tmp_path / "fake.png", pnginfo=info)
    write_csv(tmp_path / "items.csv", ["id", "image", "truth"], [["a", "real.jpg", "real"]])
    with open(tmp_path / "items.csv", "a") as f:
        f.write("b,fake.png,generated\nc,real.jpg,real\n")  # c: the same file again
    create_study(tmp_path / "s.db", protocol="g2r", items=tmp_path / "items.csv", judges=1)
    blobs = _query(tmp_path / "s.db", "SELECT media_type, width, height, data FROM blobs")
    assert len(blobs) == 2  # the repeated file is stored once
    for media_type, width, height, data in blobs:
        assert media_type == "image/png" and data[:8] == b"\x89PNG\r\n\x1a\n"
        image = Image.open(io.BytesIO(data))
        assert image.size == (width, height) == (30, 40)  # the JPEG was turned upright
        assert not image.info.get("exif") and "parameters" not in image.info
        assert b"Camera" not in data and b"DDIM" not in data
    sources = _query(tmp_path / "s.db", "SELECT COUNT(DISTINCT source_sha256) FROM slots")
    assert sources == [(2,)]


def test_order_and_sides_come_from_the_token_and_are_recorded(make_study) -> None:
    db = make_study("best-of-n", items=6, judges=2, checks=1, n=4)
    orders = []
    with Study(db) as study:
        for judge in study.judges():
            rows = _query(
                db,
                f"SELECT item_id, display FROM assignments WHERE judge_id = {judge.id} ORDER BY seq",
            )
            rng = judge_rng(judge.token)
            order = sorted(item for item, _ in rows)
            rng.shuffle(order)
            assert [item for item, _ in rows] == order
            orders.append(order)
            assert [json.loads(d) for _, d in rows] == [rng.sample(range(4), 4) for _ in rows]
    assert orders[0] != orders[1]  # 7! orders: two judges share one with probability 1/5040


def test_per_item_spreads_items_evenly_and_checks_go_to_everyone(make_study) -> None:
    db = make_study("pairwise", items=10, judges=4, per_item=3, checks=2, seed=7)
    rows = _query(
        db,
        "SELECT a.judge_id, i.name, i.is_check FROM assignments a JOIN items i ON i.id = a.item_id",
    )
    per_item: dict[str, int] = {}
    load: dict[int, int] = {}
    for judge, name, check in rows:
        per_item[name] = per_item.get(name, 0) + 1
        load[judge] = load.get(judge, 0) + (not check)
    assert all(per_item[f"p{i}"] == 3 for i in range(1, 11))
    assert per_item["c1"] == per_item["c2"] == 4
    assert sorted(load.values()) == [7, 7, 8, 8]  # 30 assignments over 4 judges
    assert _query(db, "SELECT value FROM meta WHERE key = 'assignment_seed'") == [("7",)]


def test_votes_map_screen_choices_to_csv_columns_once(make_study) -> None:
    db = make_study("pairwise", items=2, judges=1, checks=0)
    with Study(db) as study:
        judge = study.judges()[0]
        first = study.next_item(judge)
        assert first is not None
        progress = study.vote(judge, first.key, "left", ms=1200)
        assert (progress.done, progress.total) == (1, 2)
        with pytest.raises(AlreadyVoted):
            study.vote(judge, first.key, "right")
        second = study.next_item(judge)
        assert second is not None and second.key != first.key
        with pytest.raises(BadChoice):
            study.vote(judge, second.key, "up")
        with pytest.raises(UnknownItem):
            study.vote(judge, "x" * 16, "left")
        study.vote(judge, second.key, "right")
        assert study.next_item(judge) is None
        assert [v.choice for v in study.votes()] == [first.display[0], second.display[1]]
        with pytest.raises(UnknownToken):
            study.judge("not-a-token-but-long-enough")
    shown = _query(db, "SELECT shown, ms FROM votes ORDER BY id")
    assert shown == [("left", 1200), ("right", None)]


def test_g2r_and_best_of_n_choices(make_study) -> None:
    with Study(make_study("g2r", items=1, judges=1, checks=0)) as study:
        judge = study.judges()[0]
        item = study.next_item(judge)
        assert item is not None and item.display == (0,)
        study.vote(judge, item.key, "generated")
        assert study.votes()[0].choice == 1
    with Study(make_study("best-of-n", items=1, judges=1, checks=0, n=3)) as study:
        judge = study.judges()[0]
        item = study.next_item(judge)
        assert item is not None
        with pytest.raises(BadChoice):
            study.vote(judge, item.key, "4")
        study.vote(judge, item.key, "3")
        assert study.votes()[0].choice == item.display[2]


def _csv(tmp_path: Path, header: list[str], *rows: list[str]) -> Path:
    write_image(tmp_path / "a.png", picture(0))
    (tmp_path / "notes.txt").write_text("not an image")
    return write_csv(tmp_path / "items.csv", header, [list(r) for r in rows])


@pytest.mark.parametrize(
    ("protocol", "header", "rows", "message"),
    [
        ("pairwise", ["id", "left"], [["x", "a.png"]], "missing right"),
        ("pairwise", ["id", "left", "right", "knd"], [["x", "a.png", "a.png", ""]], "unknown knd"),
        ("pairwise", ["id", "left", "right"], [], "no rows"),
        ("pairwise", ["id", "left", "right"], [["x", "a.png", "b.png"]], "no such file"),
        ("pairwise", ["id", "left", "right"], [["x", "a.png", ""]], "right: empty"),
        ("pairwise", ["id", "left", "right"], [["", "a.png", "a.png"]], "id: expected"),
        ("pairwise", ["id", "left", "right"], [["x", "a.png", "a.png"]] * 2, "already used"),
        ("pairwise", ["id", "left", "right"], [["x", "a.png", "notes.txt"]], "notes.txt"),
        ("g2r", ["id", "image"], [["x", "a.png", "b.png"]], "expected 2 cells"),
        ("best-of-n", ["id", "image1", "image3"], [["x", "a.png", "a.png"]], "image1, image2"),
        ("best-of-n", ["id", "image1"], [["x", "a.png"]], "2 to 9 images"),
        ("sideways", ["id"], [["x"]], "protocol: expected one of"),
    ],
)
def test_bad_items_csvs_are_refused_by_name(
    tmp_path: Path, protocol: str, header: list[str], rows: list[list[str]], message: str
) -> None:
    items = _csv(tmp_path, header, *rows)
    with pytest.raises(InputError, match=message):
        create_study(tmp_path / "s.db", protocol=protocol, items=items, judges=1)
    assert not (tmp_path / "s.db").exists() and not list(tmp_path.glob(".s.db*"))


def test_bad_attention_checks_and_options_are_refused(tmp_path: Path) -> None:
    items = _csv(tmp_path, ["id", "left", "right"], ["x", "a.png", "a.png"])
    checks = write_csv(tmp_path / "checks.csv", ["id", "left", "right"], [["c", "a.png", "a.png"]])
    with pytest.raises(InputError, match="missing answer"):
        create_study(
            tmp_path / "s.db", protocol="pairwise", items=items, judges=1, attention_checks=checks
        )
    write_csv(checks, ["id", "left", "right", "answer"], [["c", "a.png", "a.png", "up"]])
    with pytest.raises(InputError, match="answer: expected one of left, right"):
        create_study(
            tmp_path / "s.db", protocol="pairwise", items=items, judges=1, attention_checks=checks
        )
    write_csv(checks, ["id", "left", "right", "answer"], [["x", "a.png", "a.png", "left"]])
    with pytest.raises(InputError, match="already used"):
        create_study(
            tmp_path / "s.db", protocol="pairwise", items=items, judges=1, attention_checks=checks
        )
    for judges, per_item in ((0, None), (2, 3), (2, 0)):
        with pytest.raises(InputError, match=r"judges|per_item"):
            create_study(
                tmp_path / "s.db",
                protocol="pairwise",
                items=items,
                judges=judges,
                per_item=per_item,
            )
    with pytest.raises(InputError, match="max_pixels"):
        create_study(tmp_path / "s.db", protocol="pairwise", items=items, judges=1, max_pixels=100)


def test_an_existing_study_is_never_overwritten(make_study) -> None:
    db = make_study("g2r", items=1, judges=1, checks=0)
    before = db.read_bytes()
    items = db.parent / "items.csv"
    with pytest.raises(InputError, match="never overwritten"):
        create_study(db, protocol="g2r", items=items, judges=1)
    assert db.read_bytes() == before


def test_a_file_that_is_not_a_study_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such study file"):
        Study(tmp_path / "missing.db")
    (tmp_path / "junk.db").write_bytes(np.arange(4096, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="not an adstage study file"):
        Study(tmp_path / "junk.db")
    with contextlib.closing(sqlite3.connect(tmp_path / "other.db")) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(InputError, match="not an adstage study file"):
        Study(tmp_path / "other.db")
