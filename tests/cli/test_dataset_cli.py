"""``adstage dataset build``: exit codes, --json records, the run record, and the catalog source."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from adstage.cli import app
from adstage.datasets.adprod import read_dataset

runner = CliRunner()


def test_build_from_the_synthetic_catalog(tmp_path: Path):
    out = tmp_path / "ds"
    args = ["dataset", "build", "synthetic:3:1", "-o", str(out), "--variants", "2"]
    result = runner.invoke(app, [*args, "--min-side", "128", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1]["summary"]["built"] == 3 and lines[-1]["summary"]["rows"] == 6
    assert len(read_dataset(out)) == 6
    record = json.loads((out / "adstage-run.json").read_text())
    assert record["command"] == "dataset build" and record["summary"]["built"] == 3
    again = runner.invoke(app, [*args, "--min-side", "128"])
    assert again.exit_code == 0 and "skipped 3" in again.output


def test_usage_errors_exit_2(tmp_path: Path):
    for source in ("synthetic:nope", str(tmp_path / "missing")):
        result = runner.invoke(app, ["dataset", "build", source, "-o", str(tmp_path / "ds")])
        assert result.exit_code == 2, result.output
    vlm = ["dataset", "build", "synthetic:1", "-o", str(tmp_path / "ds"), "--captioner", "vlm"]
    result = runner.invoke(app, vlm)
    assert result.exit_code == 2 and "Captioner" in result.output
    bad = ["dataset", "build", "synthetic:1", "-o", str(tmp_path), "--segmenter", "nope"]
    assert runner.invoke(app, bad).exit_code == 2


def test_a_failed_photo_exits_1_and_the_rest_is_built(tmp_path: Path):
    from adstage.datasets.synthetic import SyntheticCatalog, write_catalog

    src = write_catalog(SyntheticCatalog(2, seed=4, staged_fraction=1.0), tmp_path / "src")
    labels = (src / "labels.csv").read_text() + "images/gone.png,Chairs,masks/gone.png,1\n"
    (src / "labels.csv").write_text(labels)
    (src / "metadata.csv").unlink()
    out = tmp_path / "ds"
    result = runner.invoke(app, ["dataset", "build", str(src), "-o", str(out), "--variants", "1"])
    assert result.exit_code == 1, result.output
    assert "gone.png" in result.output and len(read_dataset(out)) == 2
    assert "gone.png" in (out / "failures.jsonl").read_text()


def test_build_from_a_catalog(small_catalog: Path, tmp_path: Path):
    out = tmp_path / "ds"
    args = ["dataset", "build", f"catalog:{small_catalog / 'cat'}", "-o", str(out)]
    result = runner.invoke(app, [*args, "--variants", "1", "--min-side", "64"])
    assert result.exit_code == 0, result.output
    rows = read_dataset(out)
    assert rows and all(
        r["segmenter"] == "given" and r["source"].startswith("catalog:") for r in rows
    )
