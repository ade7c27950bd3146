"""adstage batch spread: at most --per-scene products per scene, stable picks, the files."""

from __future__ import annotations

import csv
import itertools
import json
import random
from collections import Counter
from pathlib import Path

import pytest
from batch_shop import FAST
from typer.testing import CliRunner

from adstage.batch import iter_items, stage_batch
from adstage.batch.spread import Pick, spread, spread_batch
from adstage.cli import app
from adstage.errors import InputError

runner = CliRunner()


def _loads(picks: dict[str, Pick]) -> Counter[str]:
    return Counter(p.scene for p in picks.values())


def _stable(candidates: dict[str, list[str]], picks: dict[str, Pick], per_scene: int) -> bool:
    """No product is refused a scene it likes better while that scene has room or holds a
    product with a weaker claim (rank, then fewer scenes, then key: lower is stronger)."""
    first = {k: {s: r for r, s in reversed(list(enumerate(v)))} for k, v in candidates.items()}
    choices = {k: len(v) for k, v in first.items()}
    held: dict[str, list[tuple[int, int, str]]] = {}
    for k, p in picks.items():
        if not p.over:
            held.setdefault(p.scene, []).append((first[k][p.scene], choices[k], k))
    for k, p in picks.items():
        mine = first[k][p.scene] if not p.over else len(candidates[k])
        for scene, rank in first[k].items():
            if rank >= mine:
                continue
            holders = held.get(scene, [])
            if len(holders) < per_scene or max(holders) > (rank, choices[k], k):
                return False
    return True


def test_a_full_scene_keeps_the_strongest_claims_and_sends_the_rest_on() -> None:
    candidates = {
        "a": ["living", "nursery", "kitchen"],
        "b": ["living", "kitchen"],
        "c": ["living"],  # nowhere else to go: its claim beats a's and b's
        "d": ["nursery", "living"],
    }
    picks = spread(candidates, 1)
    assert picks["c"] == Pick("c", 0, "living")
    assert picks["d"] == Pick("d", 0, "nursery")
    assert picks["b"] == Pick("b", 1, "kitchen")  # fewer scenes than a: kitchen is b's
    assert picks["a"].over and picks["a"].rank == 0 and picks["a"].scene == "living"
    assert _stable(candidates, picks, 1)
    # a budget of two moves only a, the product with the most scenes to go to
    two = spread(candidates, 2)
    assert _loads(two)["living"] == 2 and not any(p.over for p in two.values())
    assert [two[k].rank for k in "abcd"] == [1, 0, 0, 0] and two["a"].scene == "nursery"


def test_every_product_keeps_its_best_when_the_budget_allows() -> None:
    candidates = {f"p{i}": [f"s{i % 4}", "other"] for i in range(8)}
    assert all(p.rank == 0 for p in spread(candidates, 2).values())
    squeezed = spread(candidates, 1)
    assert max(_loads({k: p for k, p in squeezed.items() if not p.over}).values()) == 1
    assert sum(p.rank == 1 for p in squeezed.values()) == 1  # "other" takes one
    assert sum(p.over for p in squeezed.values()) == 3


@pytest.mark.parametrize("seed", range(40))
def test_random_batches_stay_within_budget_and_do_not_depend_on_order(seed: int) -> None:
    rng = random.Random(seed)
    scenes = [f"room{i}" for i in range(rng.randint(1, 6))]
    candidates = {
        f"item{i:02d}": rng.sample(scenes, rng.randint(1, len(scenes)))
        + rng.sample(scenes, rng.randint(0, 1))  # sometimes a scene twice (two slots)
        for i in range(rng.randint(1, 12))
    }
    per_scene = rng.randint(1, 3)
    picks = spread(candidates, per_scene)
    assert set(picks) == set(candidates)
    within = _loads({k: p for k, p in picks.items() if not p.over})
    assert max(within.values(), default=0) <= per_scene
    for k, p in picks.items():
        assert candidates[k][p.rank] == p.scene and candidates[k].index(p.scene) == p.rank
        if p.over:  # over only when every one of its scenes is full
            assert all(within[s] == per_scene for s in candidates[k]) and p.rank == 0
    for k, p in picks.items():  # never below a scene of its own with room
        assert all(within[s] == per_scene for s in candidates[k][: p.rank])
    shuffled = dict(rng.sample(list(candidates.items()), len(candidates)))
    assert spread(shuffled, per_scene) == picks


def _small_batch(rng: random.Random, most: int) -> tuple[dict[str, list[str]], int]:
    """Up to ``most`` products, each with distinct candidate scenes among up to 4, and a budget
    of 1 or 2: small enough for brute force."""
    scenes = [f"r{i}" for i in range(rng.randint(1, 4))]
    candidates = {
        f"i{n}": rng.sample(scenes, rng.randint(1, len(scenes)))
        for n in range(rng.randint(1, most))
    }
    return candidates, rng.randint(1, 2)


def test_over_budget_only_where_no_pick_within_it_exists() -> None:
    """On small batches: whenever some assignment keeps every product within the budget, the
    spread finds one too (brute force over every combination)."""
    rng = random.Random(5)
    checked = 0
    for _ in range(300):
        candidates, per_scene = _small_batch(rng, 6)
        feasible = any(
            max(Counter(choice).values()) <= per_scene
            for choice in itertools.product(*candidates.values())
        )
        over = sum(p.over for p in spread(candidates, per_scene).values())
        if feasible:
            checked += 1
            assert over == 0, candidates
    assert checked > 100


def _most_seated(candidates: dict[str, list[str]], per_scene: int) -> int:
    """The most products any pick seats within the budget: a plain augmenting-path matcher
    (depth first, every search from scratch), independent of the one under test."""
    held: dict[str, list[str]] = {}

    def seat(key: str, seen: set[str]) -> bool:
        """Seat ``key`` in a scene not yet in ``seen``, moving a holder on where that frees a
        seat (``seen`` already holds the scene a moved product is leaving: it is never sent
        back)."""
        for scene in dict.fromkeys(candidates[key]):
            if scene in seen:
                continue
            seen.add(scene)
            holders = held.setdefault(scene, [])
            if len(holders) < per_scene:
                holders.append(key)
                return True
            for other in list(holders):
                if seat(other, seen):
                    holders.remove(other)
                    holders.append(key)
                    return True
        return False

    return sum(seat(key, set()) for key in candidates)


@pytest.mark.parametrize("seed", range(30))
def test_as_many_products_within_budget_as_any_pick_allows(seed: int) -> None:
    rng = random.Random(100 + seed)
    scenes = [f"s{i}" for i in range(rng.randint(3, 12))]
    weights = [1 / (i + 1) for i in range(len(scenes))]  # a few popular rooms
    candidates = {
        f"p{i:02d}": rng.choices(scenes, weights, k=rng.randint(1, 4))
        for i in range(rng.randint(10, 30))
    }
    per_scene = rng.randint(1, 3)
    picks = spread(candidates, per_scene)
    assert sum(not p.over for p in picks.values()) == _most_seated(candidates, per_scene)


def test_before_the_repair_the_picks_are_stable_and_best_for_every_product(monkeypatch) -> None:
    """Deferred acceptance alone (the repair switched off) against brute force: stable, and no
    stable pick gives any product a better-ranked scene."""
    import adstage.batch.spread as module

    monkeypatch.setattr(module, "_make_room", lambda *args: None)
    rng = random.Random(9)
    for _ in range(200):
        candidates, per_scene = _small_batch(rng, 5)
        picks = spread(candidates, per_scene)
        assert _stable(candidates, picks, per_scene), candidates
        keys = sorted(candidates)
        for choice in itertools.product(*[[*candidates[k], None] for k in keys]):
            if max(Counter(c for c in choice if c).values(), default=0) > per_scene:
                continue
            other = {
                k: Pick(k, candidates[k].index(c), c) if c else Pick(k, 0, candidates[k][0], True)
                for k, c in zip(keys, choice, strict=True)
            }
            if not _stable(candidates, other, per_scene):
                continue
            for k in keys:  # the asking side's best stable pick (Gale and Shapley)
                mine = len(candidates[k]) if picks[k].over else picks[k].rank
                theirs = len(candidates[k]) if other[k].over else other[k].rank
                assert mine <= theirs, (candidates, k)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(InputError, match="per_scene"):
        spread({"a": ["x"]}, 0)
    with pytest.raises(InputError, match="per_scene"):
        spread({"a": ["x"]}, True)
    with pytest.raises(InputError, match="a string"):
        spread({"a": "living"}, 1)  # type: ignore[dict-item]
    assert spread({"a": []}, 1) == {}


def test_spread_batch_writes_picks_that_name_real_files(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = stage_batch(
        iter_items(shop / "products.csv"), shop / "catalog", out, **(FAST | {"k": 3})
    )
    assert summary.done >= 4
    result = spread_batch(out, 1)
    record = json.loads((out / "spread.json").read_text())
    assert record["per_scene"] == 1 and record["products"] == summary.done
    picks = record["picks"]
    within = Counter(p["scene"] for p in picks if not p["over"])
    assert max(within.values()) <= 1
    for pick in picks:
        assert (out / pick["candidate"]).is_file() and (out / pick["best"]).is_file()
        item = json.loads((out / pick["item"] / "manifest.json").read_text())
        assert item["candidates"][pick["rank"]]["scene"] == pick["scene"]
    assert result["moved"] == sum(p["rank"] > 0 for p in picks)
    with open(out / "spread.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["candidate"] for r in rows] == [p["candidate"] for p in picks]
    page = (out / "spread.html").read_text()
    assert all(p["candidate"] in page for p in picks)
    # the items are not touched; the CLI gives the same picks and names bad input
    cli = runner.invoke(app, ["batch", "spread", str(out), "--per-scene", "1", "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["spread"]["moved"] == result["moved"]
    bad = runner.invoke(app, ["batch", "spread", str(tmp_path), "--per-scene", "1"])
    assert bad.exit_code == 2 and "manifest.sqlite" in bad.output
    wrong = runner.invoke(app, ["batch", "spread", str(out), "--config", "zzzz"])
    assert wrong.exit_code == 2 and "'zzzz' names 0" in wrong.output


def test_an_unreadable_item_is_reported_and_the_rest_spread(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stage_batch(iter_items(shop / "products.csv"), shop / "catalog", out, **(FAST | {"k": 2}))
    first = sorted(out.glob("items/*/*/manifest.json"))[0]
    first.write_text("{not json")
    result = spread_batch(out, 2)
    assert len(result["unreadable"]) == 1 and "JSONDecodeError" in result["unreadable"][0]["error"]
    assert result["products"] == len(list(out.glob("items/*/*/manifest.json"))) - 1


def test_batch_stage_per_scene_spreads_after_the_run(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    base = ["batch", "stage", "-c", str(shop / "catalog"), "--products", str(shop / "products.csv")]
    fast = ["-k", "3", "--inpainter", "telea", "--no-shadow", "--light", "0", "--edges", "unmix"]
    result = runner.invoke(app, [*base, *fast, "-o", str(out), "--per-scene", "1", "--json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    spread_record = records[-1]["spread"]
    assert spread_record["per_scene"] == 1
    assert spread_record["config"] == records[-1]["summary"]["config"]
    assert json.loads((out / "spread.json").read_text())["moved"] == spread_record["moved"]
    plain = runner.invoke(app, [*base, *fast, "-o", str(out), "--per-scene", "2"])
    assert plain.exit_code == 0 and "at most 2 per scene" in plain.stdout


def test_the_default_run_is_the_last_one_and_bad_manifests_are_named(
    shop: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = stage_batch(iter_items(shop / "products.csv"), shop / "catalog", out, **FAST)
    second = stage_batch(
        iter_items(shop / "products.csv"), shop / "catalog", out, **(FAST | {"shadow": 0.3})
    )
    again = stage_batch(iter_items(shop / "products.csv"), shop / "catalog", out, **FAST)
    assert again.done == 0 and first.config != second.config
    # no run record (the Python API): the config whose items finished last
    assert spread_batch(out, 1)["config"] == second.config
    # the CLI's run record names the last run, even one that only skipped done items
    (out / "adstage-run.json").write_text(
        json.dumps({"command": "batch stage", "summary": {"config": first.config}})
    )
    assert spread_batch(out, 1)["config"] == first.config
    assert spread_batch(out, 1, config=second.config[:6])["config"] == second.config
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.sqlite").write_bytes(b"not a database at all" * 10)
    result = runner.invoke(app, ["batch", "spread", str(broken)])
    assert result.exit_code == 2 and "not a readable batch manifest" in result.stderr
    odd = tmp_path / "what?#now"  # a ? or # in a folder's name is part of the path
    stage_batch(iter_items(shop / "products.csv"), shop / "catalog", odd, **FAST)
    assert spread_batch(odd, 1)["products"] >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "out", "what?#now"]


def test_the_cli_names_unreadable_items_and_exits_1(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stage_batch(iter_items(shop / "products.csv"), shop / "catalog", out, **FAST)
    bad = sorted(out.glob("items/*/*/manifest.json"))[0]
    bad.unlink()
    result = runner.invoke(app, ["batch", "spread", str(out), "--per-scene", "1"])
    assert result.exit_code == 1
    assert "left out of the spread" in result.stderr and str(bad.parent) in result.stderr
    assert (out / "spread.json").is_file()
