"""benchmarks/product_contrast.py: how far an object's darks fall below its lights."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark_module import load_benchmark


@pytest.fixture
def pc(monkeypatch):  # type: ignore[no-untyped-def]
    pytest.importorskip("lancedb")
    return load_benchmark(monkeypatch, "product_contrast")


def _room(side: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """A white wall over a grey floor; a white box on the floor, its left third at grey ``side``."""
    scene = np.full((200, 300, 3), 235, np.uint8)
    scene[130:] = 150
    scene[60:150, 110:170] = 225  # the box's front
    scene[60:150, 110:130] = side  # its side
    alpha = np.zeros((200, 300), np.float32)
    alpha[60:150, 110:170] = 1.0
    return scene, alpha, (110, 60, 170, 150)


def test_a_shaded_side_reads_as_contrast_and_a_flat_box_as_none(pc) -> None:
    flat = pc.measure(*_room(side=215))
    shaded = pc.measure(*_room(side=90))
    assert flat is not None and shaded is not None
    assert flat["contrast"] < 0.2 < 1.0 < shaded["contrast"]
    assert 0.8 < flat["brightness"] < 1.1  # about as light as the wall's white around it
    # the crop of alpha alone gives the same; too small a box is not measured
    scene, alpha, box = _room(side=90)
    x0, y0, x1, y1 = box
    assert pc.measure(scene, alpha[y0:y1, x0:x1], box) == shaded
    tiny = np.zeros_like(alpha)
    tiny[100:110, 140:150] = 1.0
    assert pc.measure(scene, tiny, (140, 100, 150, 110)) is None
    with pytest.raises(ValueError, match="does not fit"):
        pc.measure(scene, alpha[:50, :50], box)


def test_the_summary_gives_each_group_s_median_per_brightness_band(pc) -> None:
    real = [{"brightness": 0.1, "contrast": 3.0}, {"brightness": 0.8, "contrast": 1.2}]
    staged = [{"brightness": 0.8, "contrast": 0.6}, {"brightness": 0.9, "contrast": 0.8}]
    summary = pc.summarise(real, staged)
    assert summary["real"]["n"] == 2 and summary["staged"]["contrast"] == pytest.approx(0.7)
    top = summary["bands"][-1]
    assert top["brightness"] == [0.75, None]
    assert top["real"] == {"n": 1, "contrast": 1.2}
    assert top["staged"] == {"n": 2, "contrast": pytest.approx(0.7)}
    assert summary["bands"][0]["staged"] == {"n": 0, "contrast": None}
    assert summary["bands"][0]["gap"] is None  # no staged product there
    gap = top["gap"]
    assert gap["staged_minus_real"] == pytest.approx(-0.5)
    assert gap["ci"][0] <= -0.5 <= gap["ci"][1]


def test_summary_only_recomputes_the_stored_rows(pc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    out = tmp_path / "out.json"
    rows = {
        "real": [{"brightness": 0.8, "contrast": 1.0}],
        "staged": [{"brightness": 0.9, "contrast": 0.5}],
    }
    out.write_text(json.dumps(rows | {"summary": None}))
    assert pc.main(["--summary-only", "--out", str(out)]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert summary["bands"][-1]["gap"]["staged_minus_real"] == pytest.approx(-0.5)
    assert pc.main(["--summary-only", "--out", str(tmp_path / "none.json")]) == 2


def test_it_skips_without_the_data(pc, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert pc.main(["--data", str(tmp_path), "--out", str(tmp_path / "out.json")]) == 0
    assert not (tmp_path / "out.json").exists()
