"""adstage eval report: the file in each container, its line on stderr, exit 2 for runs that are
not runs or do not compare, and the hint when matplotlib is missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adstage.cli import app
from adstage.io.images import write_image, write_mask

runner = CliRunner()


@pytest.fixture(scope="module")
def stage_run(small_catalog: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report-cli") / "staged"
    result = runner.invoke(
        app,
        [
            "stage",
            str(small_catalog / "products"),
            "-c",
            str(small_catalog / "cat"),
            "-o",
            str(out),
            "-k",
            "2",
            "--segmenter",
            "solid-background",
            "--inpainter",
            "telea",
        ],
    )
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def inpaint_run(tmp_path_factory) -> Path:
    """inpaint.jsonl of two ``adstage inpaint --json`` calls."""
    root = tmp_path_factory.mktemp("report-inpaint")
    rng = np.random.default_rng(0)
    run = root / "run"
    lines = []
    for i in range(2):
        image = np.clip(rng.normal(128, 20, (40, 48, 3)), 0, 255).astype(np.uint8)
        hole = np.zeros((40, 48), bool)
        hole[10:25, 12 + i : 30] = True
        write_image(root / f"img-{i}.png", image)
        write_mask(root / f"hole-{i}.png", hole)
        args = ["inpaint", str(root / f"img-{i}.png"), "-m", str(root / f"hole-{i}.png")]
        result = runner.invoke(app, [*args, "-o", str(run / f"img-{i}.png"), "--json"])
        assert result.exit_code == 0, result.stderr
        lines.append(result.stdout.strip())
    (run / "inpaint.jsonl").write_text("\n".join(lines) + "\n")
    return run


def test_report_in_each_container(stage_run: Path, tmp_path: Path) -> None:
    html_out = tmp_path / "report.html"
    result = runner.invoke(app, ["eval", "report", str(stage_run), "-o", str(html_out)])
    assert result.exit_code == 0, result.stderr
    assert f"{html_out}: 1 column(s): staged (stage)" in result.stderr and result.stdout == ""
    page = html_out.read_text()
    assert "<h2>Staging metrics</h2>" in page and "<img class='plot'" in page
    md = runner.invoke(
        app, ["eval", "report", str(stage_run), "-o", str(tmp_path / "r.md"), "--title", "T"]
    )
    assert md.exit_code == 0 and (tmp_path / "r.md").read_text().startswith("# T\n")
    as_json = tmp_path / "numbers.txt"
    js = runner.invoke(
        app, ["eval", "report", str(stage_run), "-o", str(as_json), "--container", "json"]
    )
    assert js.exit_code == 0, js.stderr
    data = json.loads(as_json.read_text())
    best = [
        json.loads(p.read_text())["candidates"][0]["score"]
        for p in stage_run.glob("*/manifest.json")
    ]
    assert data["runs"][0]["metrics"]["best_score"]["mean"] == pytest.approx(np.mean(best))


def test_not_a_run_mixed_kinds_and_empty_runs_are_usage_errors(
    stage_run: Path, inpaint_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    mixed = runner.invoke(app, ["eval", "report", str(inpaint_run), str(stage_run), "-o", str(out)])
    assert mixed.exit_code == 2 and "compare only with inpainting runs" in mixed.stderr
    not_run = runner.invoke(app, ["eval", "report", str(tmp_path), "-o", str(out)])
    assert not_run.exit_code == 2 and f"{tmp_path}: not a run folder" in not_run.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "adstage-run.json").write_text(json.dumps({"command": "generate", "config": {}}))
    gen = runner.invoke(app, ["eval", "report", str(empty), "-o", str(out)])
    assert gen.exit_code == 2 and "without generation.json" in gen.stderr
    bad = runner.invoke(app, ["eval", "report", str(stage_run), "--container", "pdf"])
    assert bad.exit_code == 2 and "--container: expected one of html, md, json" in bad.stderr
    assert not out.exists()


def test_hint_without_matplotlib(inpaint_run: Path, tmp_path: Path, monkeypatch) -> None:
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["eval", "report", str(inpaint_run), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "pip install 'adstage[report]'" in result.stderr
    assert "plot not drawn: matplotlib is not installed" in out.read_text()
