"""``adstage study create / links / results / serve``: outputs, --json, exit codes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from study_helpers import picture, write_csv
from typer.testing import CliRunner

from adstage.cli import app
from adstage.io.images import write_image
from adstage.serve.study.store import Study

runner = CliRunner()


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    for i in range(6):
        write_image(tmp_path / f"{i}.png", picture(i))
    items = write_csv(
        tmp_path / "items.csv",
        ["id", "left", "right", "kind"],
        [["p1", "0.png", "1.png", "a"], ["p2", "2.png", "3.png", "b"]],
    )
    checks = write_csv(
        tmp_path / "checks.csv",
        ["id", "left", "right", "answer"],
        [["c1", "4.png", "5.png", "right"]],
    )
    return items, checks


def _create(tmp_path: Path, *extra: str):
    items, checks = _inputs(tmp_path)
    args = ["study", "create", "--protocol", "pairwise", "--items", str(items), "--judges", "3"]
    return runner.invoke(
        app, [*args, "--attention-checks", str(checks), "-o", str(tmp_path / "s.db"), *extra]
    )


def test_create_prints_one_private_link_per_judge(tmp_path: Path) -> None:
    result = _create(tmp_path)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["judge-1", "judge-2", "judge-3"]
    assert all(line.split("\t")[1].startswith("http://127.0.0.1:8080/j/") for line in lines)
    assert "pairwise, 2 items, 1 attention checks, 6 images; 3 judges, 3 per item" in result.stderr
    with Study(tmp_path / "s.db") as study:
        tokens = [j.token for j in study.judges()]
    assert [line.rsplit("/", 1)[1] for line in lines] == tokens


def test_create_json_and_links(tmp_path: Path) -> None:
    result = _create(
        tmp_path, "--json", "--base-url", "https://study.example.org/", "--per-item", "2"
    )
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["protocol"] == "pairwise" and record["items"] == 2
    assert record["attention_checks"] == 1 and record["judges_per_item"] == 2
    links = [j["link"] for j in record["judges"]]
    assert links == [f"https://study.example.org/j/{j['token']}" for j in record["judges"]]
    again = runner.invoke(
        app,
        [
            "study",
            "links",
            str(tmp_path / "s.db"),
            "--json",
            "--base-url",
            "https://study.example.org",
        ],
    )
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["judges"] == record["judges"]
    text = runner.invoke(app, ["study", "links", str(tmp_path / "s.db")])
    assert (
        text.stdout.splitlines()[0]
        == f"judge-1\thttp://127.0.0.1:8080/j/{record['judges'][0]['token']}"
    )


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert _create(tmp_path).exit_code == 0
    again = _create(tmp_path)
    assert again.exit_code == 2 and "never overwritten" in again.stderr
    items, _ = _inputs(tmp_path)
    bad = runner.invoke(
        app,
        [
            "study",
            "create",
            "--protocol",
            "triplet",
            "--items",
            str(items),
            "--judges",
            "1",
            "-o",
            str(tmp_path / "t.db"),
        ],
    )
    assert bad.exit_code == 2 and "protocol: expected one of pairwise, g2r, best-of-n" in bad.stderr
    missing = runner.invoke(
        app,
        [
            "study",
            "create",
            "--protocol",
            "g2r",
            "--items",
            str(tmp_path / "no.csv"),
            "--judges",
            "1",
            "-o",
            str(tmp_path / "t.db"),
        ],
    )
    assert missing.exit_code == 2 and "no such CSV file" in missing.stderr
    assert not (tmp_path / "t.db").exists()
    for verb in ("results", "links", "serve"):
        result = runner.invoke(app, ["study", verb, str(tmp_path / "items.csv")])
        assert result.exit_code == 2 and "not an adstage study file" in result.stderr, verb
    assert runner.invoke(app, ["study", "create", "--judges", "0"]).exit_code == 2


def test_results_json_csv_and_text(tmp_path: Path) -> None:
    assert _create(tmp_path).exit_code == 0
    db = tmp_path / "s.db"
    with Study(db) as study:
        names = {i.id: i.name for i in study.items()}
        for judge in study.judges():
            while (item := study.next_item(judge)) is not None:
                name = names[study._assignment(judge, item.key)[0]]
                # judge-3 fails the attention check (its answer is the right image)
                column = 0 if (judge.name == "judge-3" or name == "p1") else 1
                study.vote(judge, item.key, "left" if item.display[0] == column else "right")
    out = tmp_path / "items-out.csv"
    result = runner.invoke(app, ["study", "results", str(db), "--json", "--csv", str(out)])
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["excluded_judges"] == ["judge-3"]
    assert [i["majority"] for i in record["items"]] == ["left", "right"]
    assert record["kappa"]["value"] == 1.0 and record["kappa"]["raters_per_item"] == 2
    assert record["votes"] == record["expected_votes"] == 9
    rows = list(csv.DictReader(out.open()))
    assert rows == [
        {"id": "p1", "kind": "a", "votes": "2", "left": "2", "right": "0", "majority": "left"},
        {"id": "p2", "kind": "b", "votes": "2", "left": "0", "right": "2", "majority": "right"},
    ]
    kept = runner.invoke(app, ["study", "results", str(db), "--json", "--max-failed-checks", "1"])
    assert json.loads(kept.stdout)["excluded_judges"] == []
    text = runner.invoke(app, ["study", "results", str(db)])
    assert text.exit_code == 0, text.stderr
    assert "Fleiss' kappa 1.000 over 2 items x 2 judges" in text.stdout
    assert "judge-3" in text.stdout and "EXCLUDED" in text.stdout


def test_help_lists_the_verbs() -> None:
    result = runner.invoke(app, ["study", "--help"])
    assert result.exit_code == 0
    for verb in ("create", "serve", "results", "links"):
        assert verb in result.stdout
