"""benchmarks/floating_pieces.py: the dev products photographed in pieces, counted."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from adstage.io.images import write_image
from benchmark_module import load_benchmark


@pytest.fixture
def fp(monkeypatch):  # type: ignore[no-untyped-def]
    return load_benchmark(monkeypatch, "floating_pieces")


def _products(root: Path) -> Path:
    """A tiny ikea-sa-products: a handle photographed twice (one view above the other), two knobs
    side by side, a chest (one piece), each on white, with their catalog types."""
    folder = root / "ikea-sa-products"
    (folder / "images").mkdir(parents=True)
    shots = {}
    handle = np.full((200, 200, 3), 255, np.uint8)
    handle[20:60, 30:170] = 90
    handle[120:180, 70:130] = 90
    shots["Handle.jpg"] = (handle, "Handle")
    knobs = np.full((200, 200, 3), 255, np.uint8)
    knobs[100:160, 20:80] = 60
    knobs[102:160, 120:180] = 60
    shots["Knob.jpg"] = (knobs, "Knob")
    chest = np.full((200, 200, 3), 255, np.uint8)
    chest[30:180, 40:160] = 120
    chest[60:120, 40:160] = 150  # two-tone, one piece
    shots["Chest.jpg"] = (chest, "Chest of 3 drawers")
    rows = []
    for name, (image, kind) in shots.items():
        write_image(folder / "images" / name.replace(".jpg", ".png"), image)
        rows.append({"path": f"images/{name.replace('.jpg', '.png')}", "product_type": kind})
    for table, fields in (("labels.csv", ["path"]), ("metadata.csv", ["path", "product_type"])):
        with open(folder / table, "w", newline="") as handle_:
            writer = csv.DictWriter(handle_, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    return root


def test_count_finds_the_part_whose_upper_view_would_float(fp, tmp_path: Path) -> None:
    data = _products(tmp_path / "data")
    out = tmp_path / "floating.json"
    assert fp.main(["count", "--data", str(data), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = {r["product"]: r for r in result["rows"]}
    handle, knob, chest = rows["Handle.png"], rows["Knob.png"], rows["Chest.png"]
    assert (handle["pieces"], handle["floating"], handle["laid"]) == (2, True, True)
    assert (knob["pieces"], knob["floating"], knob["laid"]) == (2, False, False)  # side by side
    assert (chest["pieces"], chest["floating"], chest["laid"]) == (1, False, False)
    assert handle["part"] and not chest["part"]
    assert result["all"] == {"products": 3, "in_pieces": 2, "floating": 1, "laid": 1}
    assert result["floating_parts"] == ["Handle.png"]


def test_without_the_data_or_a_count_nothing_is_made(fp, tmp_path: Path, capsys) -> None:
    assert fp.main(["count", "--data", str(tmp_path / "absent")]) == 0
    assert "skipped" in capsys.readouterr().out
    data = _products(tmp_path / "data")
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    args = ["make", "--data", str(data), "--catalog", str(catalog), "--out", str(tmp_path / "x")]
    assert fp.main(args) == 2
    assert "run `count` first" in capsys.readouterr().err
