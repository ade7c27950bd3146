"""adstage ingest / retrieve / eval retrieval, end to end on a synthetic catalog."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("lancedb")

from adstage.cli import app
from adstage.datasets.synthetic import SyntheticCatalog, write_catalog

runner = CliRunner()


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("syn")
    write_catalog(SyntheticCatalog(36, seed=4, size=(128, 128)), out)
    return out


def test_ingest_retrieve_eval(labelled: Path, tmp_path: Path) -> None:
    cat = str(tmp_path / "cat")
    ingest = ["ingest", "--labels", str(labelled / "labels.csv"), "-c", cat, "-e", "classical"]
    first = runner.invoke(app, [*ingest, "--json"])
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["added"] == 36
    again = runner.invoke(app, [*ingest, "--json"])  # a re-run skips what is there
    assert json.loads(again.stdout)["skipped"] == 36 and json.loads(again.stdout)["rows"] == 36

    query = sorted((labelled / "images").iterdir())[0]
    hits = runner.invoke(
        app, ["retrieve", str(query), "-c", cat, "-k", "4", "--where", "staged = true", "--json"]
    )
    assert hits.exit_code == 0, hits.stderr
    results = json.loads(hits.stdout)["results"]
    assert len(results) == 4 and all(r["staged"] for r in results)
    bad_sql = runner.invoke(app, ["retrieve", str(query), "-c", cat, "--where", "nonsense ==="])
    assert bad_sql.exit_code == 2 and "--where" in bad_sql.stderr
    ranked = runner.invoke(
        app, ["retrieve", str(query), "-c", cat, "-k", "3", "--rerank", "--json"]
    )
    assert ranked.exit_code == 0, ranked.stderr
    out = json.loads(ranked.stdout)
    assert out["rerank"] is True and len(out["results"]) == 3
    assert all(0.0 <= r["coverage"] <= 1.0 for r in out["results"])
    scores = [r["score"] for r in out["results"]]
    assert scores == sorted(scores, reverse=True)
    missing = runner.invoke(app, ["retrieve", str(query), "-c", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "not a catalog" in missing.stderr

    report = runner.invoke(
        app, ["eval", "retrieval", "-c", cat, "--min-per-category", "3", "--json"]
    )
    assert report.exit_code == 0, report.stderr
    out = json.loads(report.stdout)
    assert set(out) == {
        "embedder",
        "n_queries",
        "n_categories",
        "precision",
        "recall",
        "per_category",
    }
    assert out["embedder"] == "classical" and out["n_categories"] == 12
    assert out["precision"]["1"] > 1 / 12  # far above chance on the synthetic categories


def test_ingest_reports_bad_files_and_finishes(tmp_path: Path, labelled: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bad.jpg").write_bytes(b"\x00\x01")
    good = sorted((labelled / "images").iterdir())[0]
    (folder / "good.png").write_bytes(good.read_bytes())
    result = runner.invoke(
        app,
        [
            "ingest",
            str(folder),
            "-c",
            str(tmp_path / "cat"),
            "-e",
            "classical",
            "--segmenter",
            "solid-background",
        ],
    )
    assert result.exit_code == 1
    assert "bad.jpg" in result.stderr and "added 1" in result.stdout


def test_ingest_without_weights_stops_at_once_and_names_the_fix(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    image = np.full((64, 64, 3), 255, np.uint8)
    image[16:48, 16:48] = 40
    cv2.imwrite(str(folder / "a.png"), image)
    result = runner.invoke(app, ["ingest", str(folder), "-c", str(tmp_path / "cat")])
    assert result.exit_code == 2
    assert "adstage weights fetch inception-v3-fid" in result.stderr
    assert "-e classical" in result.stderr
    assert not (tmp_path / "cat" / "adstage-catalog.json").exists()  # nothing fixed yet
