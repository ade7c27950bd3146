"""The study's statistics: Fleiss' κ on worked examples and against statsmodels, majorities, win
rates with Wilson intervals, attention-check exclusion and agreement with the majority."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adstage.errors import InputError
from adstage.evaluate.realism import wilson
from adstage.serve.study.stats import fleiss_kappa, majority, summarize
from adstage.serve.study.store import ItemRow, Layout, VoteRow

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories.
WIKIPEDIA = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_matches_the_wikipedia_worked_example() -> None:
    # P̄ = 0.378, P̄e = 0.213, κ = 0.210 (the page's rounded values)
    p = [sum(row[j] for row in WIKIPEDIA) / 140 for j in range(5)]
    assert p == pytest.approx([0.143, 0.200, 0.279, 0.150, 0.229], abs=5e-4)
    assert fleiss_kappa(WIKIPEDIA) == pytest.approx(0.20993, abs=1e-5)


def test_fleiss_kappa_by_hand() -> None:
    # 3 raters, 2 categories: p = (5/9, 4/9), P̄e = 41/81; P_i = 1, 1, 1/3 → P̄ = 7/9;
    # κ = (7/9 − 41/81) / (1 − 41/81) = 22/40
    assert fleiss_kappa([[3, 0], [0, 3], [2, 1]]) == pytest.approx(0.55)
    # the browser test's study: p = (3/4, 1/4), P̄e = 5/8, P̄ = 2/3 → κ = 1/9
    assert fleiss_kappa([[2, 1], [3, 0], [3, 0], [1, 2]]) == pytest.approx(1 / 9)
    assert fleiss_kappa([[3, 0], [0, 3]]) == pytest.approx(1.0)
    # raters split as evenly as they can on every subject: agreement below chance
    assert fleiss_kappa([[1, 1], [1, 1]]) == pytest.approx(-1.0)
    assert fleiss_kappa([[3, 0], [3, 0]]) is None  # one category only: undefined


def test_fleiss_kappa_agrees_with_statsmodels() -> None:
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    rng = np.random.default_rng(0)
    for _ in range(20):
        subjects, k, n = rng.integers(2, 30), rng.integers(2, 6), rng.integers(2, 9)
        table = [list(rng.multinomial(n, rng.dirichlet(np.ones(k)))) for _ in range(subjects)]
        table = [[int(c) for c in row] for row in table]
        ours = fleiss_kappa(table)
        theirs = inter_rater.fleiss_kappa(np.array(table), method="fleiss")
        if ours is None:
            assert not np.isfinite(theirs)
        else:
            assert ours == pytest.approx(theirs, abs=1e-12)
    assert fleiss_kappa(WIKIPEDIA) == pytest.approx(inter_rater.fleiss_kappa(WIKIPEDIA))


@pytest.mark.parametrize(
    "table",
    [[], [[]], [[2, 1], [2]], [[2, 1], [1, 1]], [[1, 0], [0, 1]], [[2, -1]], [[1.5, 1.5]]],
)
def test_fleiss_kappa_refuses_bad_tables(table: list[list[int]]) -> None:
    with pytest.raises(InputError, match="table"):
        fleiss_kappa(table)


def test_majority() -> None:
    assert majority([2, 1]) == 0 and majority([0, 3]) == 1 and majority([1, 2, 0]) == 1
    assert majority([1, 1]) is None and majority([0, 0]) is None and majority([2, 2, 1]) is None


def _item(i: int, label: str | None = None, answer: int | None = None) -> ItemRow:
    return ItemRow(i, f"p{i}" if answer is None else f"c{i}", label, answer is not None, answer, ())


def test_pairwise_summary_by_hand() -> None:
    layout = Layout.of("pairwise")
    items = [_item(1, "a"), _item(2, "a"), _item(3, "b"), _item(4, "b"), _item(9, answer=0)]
    choices = {  # judge → item → CSV column (0 left, 1 right)
        "j1": {1: 0, 2: 0, 3: 0, 4: 0, 9: 0},
        "j2": {1: 0, 2: 0, 3: 0, 4: 1, 9: 0},
        "j3": {1: 1, 2: 0, 3: 0, 4: 1, 9: 0},
        "j4": {1: 1, 2: 1, 3: 1, 4: 0, 9: 1},  # fails its one attention check: excluded
    }
    votes = [VoteRow(j, i, c) for j, by in choices.items() for i, c in by.items()]
    result = summarize(layout, items, votes, list(choices))
    assert result["excluded_judges"] == ["j4"]
    assert [item["majority"] for item in result["items"]] == ["left", "left", "left", "right"]
    assert result["items"][0]["counts"] == {"left": 2, "right": 1}
    assert result["items"][0]["kind"] == "a"
    rates = {(r["group"], r["category"]): r for r in result["win_rates"]}
    assert set(rates) == {("all", "left"), ("a", "left"), ("b", "left")}
    everything = rates[("all", "left")]
    assert (everything["k"], everything["n"], everything["ties"]) == (3, 4, 0)
    assert everything["rate"] == 0.75 and everything["ci"] == list(wilson(3, 4))
    assert everything["votes"]["k"] == 9 and everything["votes"]["n"] == 12
    assert rates[("b", "left")]["k"] == 1 and rates[("b", "left")]["n"] == 2
    assert result["kappa"]["value"] == pytest.approx(1 / 9)
    assert result["kappa"]["items"] == 4 and result["kappa"]["raters_per_item"] == 3
    judges = {j["name"]: j for j in result["judges"]}
    assert judges["j1"]["agreement"]["k"] == 3 and judges["j1"]["agreement"]["n"] == 4
    assert judges["j2"]["agreement"]["k"] == 4
    assert judges["j3"]["agreement"]["k"] == 3
    assert judges["j4"]["agreement"]["k"] == 0  # against the included judges' majority
    assert judges["j4"]["attention_checks"] == {"answered": 1, "failed": 1, "failed_share": 1.0}
    assert judges["j4"]["excluded"] and not judges["j1"]["excluded"]
    # a looser threshold keeps j4, whose votes then tie the first and the last item
    kept = summarize(layout, items, votes, list(choices), max_failed_checks=1.0)
    assert kept["excluded_judges"] == [] and kept["items"][0]["majority"] is None
    assert kept["win_rates"][0]["ties"] == 2 and kept["win_rates"][0]["n"] == 2  # 1 and 4


def test_kappa_uses_the_complete_items_only() -> None:
    layout = Layout.of("pairwise")
    items = [_item(1), _item(2), _item(3)]
    votes = [VoteRow("a", 1, 0), VoteRow("b", 1, 0), VoteRow("a", 2, 1), VoteRow("b", 2, 0)]
    votes.append(VoteRow("a", 3, 1))  # item 3 has one vote so far
    kappa = summarize(layout, items, votes, ["a", "b"])["kappa"]
    assert kappa["items"] == 2 and kappa["raters_per_item"] == 2
    assert kappa["value"] == pytest.approx(fleiss_kappa([[2, 0], [1, 1]]))
    empty = summarize(layout, items, [], ["a", "b"])
    assert empty["kappa"]["value"] is None and empty["win_rates"][0]["rate"] is None


def test_g2r_summary_counts_judged_real_and_accuracy() -> None:
    layout = Layout.of("g2r")
    items = [_item(1, "real"), _item(2, "real"), _item(3, "ours"), _item(4, "ours")]
    # majorities: real, generated, real (fooled), generated
    by = {1: [0, 0, 1], 2: [1, 1, 0], 3: [0, 0, 0], 4: [1, 1, 1]}
    votes = [VoteRow(f"j{k}", i, c[k]) for i, c in by.items() for k in range(3)]
    result = summarize(layout, items, votes, ["j0", "j1", "j2"])
    rates = {r["group"]: r for r in result["win_rates"]}
    assert all(r["category"] == "real" for r in rates.values())
    assert (rates["ours"]["k"], rates["ours"]["n"]) == (1, 2)
    assert (rates["real"]["k"], rates["real"]["n"]) == (1, 2)
    assert (rates["all"]["k"], rates["all"]["n"]) == (2, 4)
    assert result["accuracy"]["k"] == 2 and result["accuracy"]["n"] == 4
    assert result["items"][2]["truth"] == "ours" and result["items"][2]["majority"] == "real"


def test_best_of_n_summary_counts_each_column() -> None:
    layout = Layout.of("best-of-n", 3)
    items = [_item(1), _item(2), _item(3)]
    by = {1: [0, 0, 1], 2: [2, 2, 2], 3: [0, 1, 2]}  # the last is a three-way tie
    votes = [VoteRow(f"j{k}", i, c[k]) for i, c in by.items() for k in range(3)]
    result = summarize(layout, items, votes, ["j0", "j1", "j2"])
    rates = {r["category"]: r for r in result["win_rates"]}
    assert list(rates) == ["image1", "image2", "image3"]
    assert [rates[c]["k"] for c in rates] == [1, 0, 1]
    assert all(rates[c]["n"] == 2 and rates[c]["ties"] == 1 for c in rates)
    assert [rates[c]["votes"]["k"] for c in rates] == [3, 2, 4]
    assert [i["majority"] for i in result["items"]] == ["image1", "image3", None]
    assert math.isclose(result["kappa"]["value"], fleiss_kappa([[2, 1, 0], [0, 0, 3], [1, 1, 1]]))


def test_summary_refuses_a_bad_threshold() -> None:
    with pytest.raises(InputError, match="max_failed_checks"):
        summarize(Layout.of("g2r"), [], [], [], max_failed_checks=1.5)
