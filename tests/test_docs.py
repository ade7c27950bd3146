"""The docs' numbers come from the benchmark results: ``docs/generate.py --check`` must pass.

Every table and number between ``<!-- table:… -->`` / ``<!-- value:… -->`` markers in README.md
and docs/*.md is written by docs/generate.py from benchmarks/results/*.json. These tests fail when
a page drifts from its JSON, and show on a copy of the pages that an edited number is caught.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "adstage_docs_generate", ROOT / "docs" / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


generate = _generator()


def _copy_repo(tmp_path: Path) -> Path:
    """README.md, docs/*.md and benchmarks/results/*.json under ``tmp_path``: a repo to break."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    for page in (ROOT / "docs").glob("*.md"):
        shutil.copy(page, tmp_path / "docs" / page.name)
    for result in (ROOT / "benchmarks" / "results").glob("*.json"):
        shutil.copy(result, tmp_path / "benchmarks" / "results" / result.name)
    return tmp_path


def test_every_generated_region_matches_the_results() -> None:
    problems = generate.run(ROOT, check=True)
    assert not problems, "\n".join([*problems, "run: python docs/generate.py"])


def test_every_results_json_a_page_mentions_exists() -> None:
    mentioned = set()
    for page in generate.pages(ROOT):
        mentioned |= set(generate.RESULTS_PATH.findall(page.read_text()))
    assert mentioned, "no page links a benchmarks/results/*.json"
    missing = sorted(m for m in mentioned if not (ROOT / m).is_file())
    assert not missing


def test_each_page_has_generated_tables() -> None:
    for name in ("segmentation", "retrieval", "staging", "inpainting", "animation", "weights"):
        text = (ROOT / "docs" / f"{name}.md").read_text()
        assert "<!-- table:" in text, f"docs/{name}.md has no generated table"


def test_an_edited_number_in_a_page_fails_the_check(tmp_path: Path) -> None:
    repo = _copy_repo(tmp_path)
    assert generate.run(repo, check=True) == []
    page = repo / "docs" / "segmentation.md"
    text = page.read_text()
    region = re.search(r"<!-- table:segment\.quality -->(.*?)<!-- end -->", text, re.S)
    assert region is not None
    edited = region.group(1).replace("| 0.861 |", "| 0.961 |", 1)  # IS-Net on GrabCut-50
    assert edited != region.group(1)
    page.write_text(text.replace(region.group(1), edited))
    problems = generate.run(repo, check=True)
    assert problems == [
        "docs/segmentation.md: table:segment.quality differs from what "
        "benchmarks/results/segment.json gives"
    ]
    # Writing mode puts the number back, and the check passes again.
    assert generate.run(repo, check=False) == []
    assert page.read_text() == text


def test_an_edited_inline_value_fails_the_check(tmp_path: Path) -> None:
    repo = _copy_repo(tmp_path)
    page = repo / "docs" / "retrieval.md"
    text = page.read_text()
    page.write_text(
        re.sub(r"(<!-- value:retrieval_variants\.n -->)\d+", r"\g<1>130", text, count=1)
    )
    assert any("value:retrieval_variants.n differs" in p for p in generate.run(repo, check=True))


def test_a_changed_result_fails_the_check(tmp_path: Path) -> None:
    repo = _copy_repo(tmp_path)
    path = repo / "benchmarks" / "results" / "segment.json"
    result = json.loads(path.read_text())
    result["triage"]["accuracy"] = 0.5
    path.write_text(json.dumps(result))
    problems = generate.run(repo, check=True)
    assert any("segment.triage differs" in p for p in problems)
    assert any("segment.triage.accuracy differs" in p for p in problems)


def test_a_missing_result_an_unknown_marker_and_an_open_marker_fail(tmp_path: Path) -> None:
    repo = _copy_repo(tmp_path)
    (repo / "benchmarks" / "results" / "animate.json").unlink()
    page = repo / "docs" / "cli.md"
    page.write_text(
        page.read_text()
        + "\n<!-- value:no.such.snippet -->1<!-- end -->\n<!-- value:segment.triage.wrong -->8\n"
    )
    problems = "\n".join(generate.run(repo, check=True))
    assert "benchmarks/results/animate.json (read by animate." in problems
    assert "mentions benchmarks/results/animate.json, which does not exist" in problems
    assert "unknown snippet 'no.such.snippet'" in problems
    assert (
        "docs/cli.md: a `<!-- table:NAME -->` or `<!-- value:NAME -->` has no `<!-- end -->`"
        in problems
    )


def test_markers_in_code_blocks_are_left_alone() -> None:
    text = "```text\n<!-- table:segment.triage -->\n…\n<!-- end -->\n```\n"
    problems: list[str] = []
    assert generate.rewrite(text, ROOT, "page.md", problems, set()) == text
    assert problems == []


def test_holm_matches_a_hand_computed_case() -> None:
    # p = 0.01, 0.04, 0.03 over m = 3: sorted 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 → max(0.06, 0.04)
    adjusted = generate.holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adjusted == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})
    assert generate.holm({"a": 0.6, "b": 0.9}) == {"a": 1.0, "b": 1.0}
