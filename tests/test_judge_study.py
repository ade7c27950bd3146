"""benchmarks/judge_study.py: which products an earlier set staged (``--exclude-labels``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark_module import load_benchmark

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def judge_study(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    module = load_benchmark(monkeypatch, "judge_study")
    monkeypatch.setattr(module, "ROOT", tmp_path)  # results/judge_study.json under tmp_path
    return module


def test_exclude_labels_reads_key_json_then_the_tallied_run(judge_study, tmp_path) -> None:
    work = tmp_path / "judge"
    (work / "S").mkdir(parents=True)
    key = {"pairs": {"pair-00": {"product": "a.jpg"}}, "none": [{"product": "b.jpg"}, {}]}
    (work / "S" / "key.json").write_text(json.dumps(key))
    assert judge_study.judged_products(work, "S") == ["a.jpg", "b.jpg"]

    # The folder gone: the tallied run names every judged pair's product and those without one.
    (tmp_path / "results").mkdir()
    run = {
        "comparisons": {"real": {"per_pair": {"pair-00": {"product": "c.jpg"}}}},
        "without_candidate": 1,
        "without_candidate_why": [{"product": "d.jpg", "why": "a part"}],
    }
    ab = {"comparisons": {"ab": {"per_pair": {"pair-00": {"staged_votes": 2}}}}}
    old = dict(run, without_candidate=2)  # one product without a candidate is not named
    runs = {"T": run, "T-vs-S": ab, "U": old}
    (tmp_path / "results" / "judge_study.json").write_text(json.dumps({"runs": runs}))
    assert judge_study.judged_products(work, "T") == ["c.jpg", "d.jpg"]
    for label in ("T-vs-S", "U", "missing"):  # excluding nothing would reuse products: an error
        with pytest.raises(SystemExit, match="--exclude-labels"):
            judge_study.judged_products(work, label)
    (work / "V").mkdir()
    (work / "V" / "key.json").write_text(json.dumps({"pairs": {"pair-00": {}}, "none": []}))
    with pytest.raises(SystemExit, match="A/B"):
        judge_study.judged_products(work, "V")


def test_a_made_set_records_the_module_constants_it_staged_with(judge_study, monkeypatch) -> None:
    from adstage.composite import blend

    recorded = judge_study.module_constants()
    assert recorded["blend.CONTACT_EVERY_FOOT"] is blend.CONTACT_EVERY_FOOT
    monkeypatch.setattr(blend, "FOOT_CLEAR", 0.02)  # as a wrapper varying it would
    assert judge_study.module_constants()["blend.FOOT_CLEAR"] == 0.02


def test_a_set_draws_its_products_or_says_too_few_are_left(judge_study) -> None:
    import numpy as np

    picked = judge_study.draw(10, 4, np.random.default_rng(0), {0, 1, 2})
    assert len(picked) == 4 == len(set(picked)) and not set(picked) & {0, 1, 2}
    again = judge_study.draw(10, 4, np.random.default_rng(0), {0, 1, 2})
    assert picked == again  # the draw depends only on the seed and the exclusions
    with pytest.raises(SystemExit, match="only 3 of 10 products are left"):
        judge_study.draw(10, 4, np.random.default_rng(0), set(range(7)))


def test_both_orders_counts_a_side_picked_twice_as_half_a_vote(judge_study) -> None:
    # two pairs, each shown twice (the label's picture on A, then on B)
    pairs = {
        "pair-00": {"comparison": "ab", "staged": "A", "product_pair": "pair-03"},
        "pair-01": {"comparison": "ab", "staged": "B", "product_pair": "pair-07"},
        "pair-02": {"comparison": "ab", "staged": "B", "product_pair": "pair-03"},
        "pair-03": {"comparison": "ab", "staged": "A", "product_pair": "pair-07"},
    }
    key = {"pairs": pairs, "both_orders": True}
    picks_label = {"pair-00": "A", "pair-01": "B", "pair-02": "B", "pair-03": "A"}
    always_left = {name: {"choice": "A", "why": "left"} for name in pairs}
    result = judge_study.both_orders_tally(key, [picks_label, picks_label, always_left])
    assert result["pairs"] == 2
    # pair-03: 1 + 1 + ½ of 3 votes; pair-07 the same: both won
    assert result["per_pair"]["pair-03"]["staged_votes"] == 2.5
    assert result["staged_preferred"]["k"] == 2
    assert result["consistent_share"] == [1.0, 1.0, 0.0]
    assert result["left_share"] == [0.5, 0.5, 1.0]
    assert result["by_side"] == [False, False, True]  # the third answered by side
    # three judges who only ever pick the left side: every pair a tie, half a win each
    tied = judge_study.both_orders_tally(key, [always_left] * 3)
    assert tied["staged_preferred"]["k"] == 1.0 and tied["staged_votes"]["k"] == 3.0
    never = {name: ("B" if p["staged"] == "A" else "A") for name, p in pairs.items()}
    assert judge_study.both_orders_tally(key, [never] * 3)["staged_preferred"]["k"] == 0
    assert judge_study.both_orders_tally(key, [never] * 3)["by_side"] == [False] * 3
    with pytest.raises(SystemExit, match="exactly twice"):
        judge_study.both_orders_tally({"pairs": dict(list(pairs.items())[:3])}, [picks_label])
    same_side = dict(pairs, **{"pair-02": dict(pairs["pair-02"], staged="A")})
    with pytest.raises(SystemExit, match="once each way"):
        judge_study.both_orders_tally({"pairs": same_side}, [picks_label])


def test_ab_both_orders_writes_each_pair_twice_and_tallies_pairs(judge_study, tmp_path) -> None:
    import argparse

    import numpy as np

    from adstage.io.images import write_image

    work = tmp_path / "judge"
    for label, shade in (("new", 40), ("old", 200)):
        (work / label / "staged").mkdir(parents=True)
        for n in range(3):  # product 02 is the same picture in both: not paired
            value = 90 if n == 2 else shade + n
            write_image(
                work / label / "staged" / f"{n:02d}.png", np.full((30, 40, 3), value, np.uint8)
            )
    args = argparse.Namespace(
        work=work, label="new", against="old", seed=1, both_orders=True, answers=[]
    )
    assert judge_study.ab(args) == 0
    out = work / "new-vs-old"
    key = json.loads((out / "key.json").read_text())
    assert key["both_orders"] and len(key["pairs"]) == 4 and len(key["none"]) == 1
    assert sorted(p["product_pair"] for p in key["pairs"].values()) == 2 * ["pair-00"] + 2 * [
        "pair-01"
    ]
    assert len(list((out / "pairs").glob("*.png"))) == 4
    # judges who always pick the darker picture (the label's): every pair won, both times
    answers = []
    for j in range(3):
        picks = {n: p["staged"] for n, p in key["pairs"].items()}
        path = tmp_path / f"j{j}.json"
        path.write_text(json.dumps(picks))
        answers.append(path)
    (tmp_path / "results").mkdir()
    judge_study.tally(argparse.Namespace(work=work, label="new-vs-old", answers=answers))
    run = json.loads((tmp_path / "results" / "judge_study.json").read_text())["runs"]["new-vs-old"]
    assert run["products"] == 3  # two pairs and the one without: not four showings
    ab = run["comparisons"]["ab"]
    assert ab["pairs"] == 2 and ab["staged_preferred"]["k"] == 2.0
    assert ab["consistent_share"] == [1.0, 1.0, 1.0]
