"""A study's statistics: majorities, win rates with Wilson intervals, Fleiss' κ, each judge's
agreement with the majority, and the judges excluded for failing attention checks.

Fleiss' κ is from J. L. Fleiss, "Measuring nominal scale agreement among many raters",
*Psychological Bulletin* 76(5):378–382, 1971. ``N`` subjects are each put into one of ``k``
categories by ``n`` raters (not necessarily the same raters for every subject); ``n_ij`` raters
put subject ``i`` into category ``j``::

    p_j  = Σ_i n_ij / (N n)                    the share of all assignments that went to j
    P_i  = (Σ_j n_ij² − n) / (n (n − 1))       the share of agreeing rater pairs on subject i
    P̄    = Σ_i P_i / N                          observed agreement
    P̄_e  = Σ_j p_j²                             agreement expected by chance
    κ    = (P̄ − P̄_e) / (1 − P̄_e)

κ is 1 for perfect agreement and 0 for chance; it is undefined (``None`` here) when every
assignment went to one category (``P̄_e = 1``). The formulas need the same ``n`` for every
subject, so κ is computed over the items that have the most ratings (normally every item, once
the study is complete) and the result says how many items and raters it used.

Win rates count items, not votes: an item's outcome is its majority (the category with the most
votes of the included judges; a tie decides nothing), so the items are independent trials and the
95 % Wilson (1927) interval of :func:`adstage.evaluate.realism.wilson` applies. The vote-level
shares are reported too; their intervals treat votes as independent, which the votes of one item
are not, so they are narrower than they should be.

A judge is excluded when the share of attention checks they failed is above
``max_failed_checks``; their votes then count nowhere (majorities, rates, κ), and they are listed
with their score. Each judge's agreement is the share of their votes on decided items that match
the majority of the included judges.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from adstage.errors import InputError
from adstage.evaluate.realism import wilson
from adstage.serve.study.store import ItemRow, Layout, Study, VoteRow

DEFAULT_MAX_FAILED_CHECKS = 0.25
"""Exclude a judge who fails more than this share of their attention checks."""


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' (1971) κ of a subjects × categories table of rating counts.

    Every row must sum to the same number of raters ``n >= 2``. Returns ``None`` when κ is
    undefined (all ratings in one category).
    """
    if not table or not table[0]:
        raise InputError("table: expected at least one subject and one category")
    k = len(table[0])
    if any(len(row) != k for row in table):
        raise InputError(f"table: expected {k} categories in every row")
    if any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for row in table for c in row):
        raise InputError("table: expected non-negative integer counts")
    n = sum(table[0])
    if n < 2 or any(sum(row) != n for row in table):
        raise InputError(f"table: every row must sum to the same number of raters >= 2, got {n}")
    subjects = len(table)
    p = [sum(row[j] for row in table) / (subjects * n) for j in range(k)]
    agreement = [(sum(c * c for c in row) - n) / (n * (n - 1)) for row in table]
    observed = sum(agreement) / subjects
    chance = sum(pj * pj for pj in p)
    if math.isclose(chance, 1.0):
        return None
    return (observed - chance) / (1.0 - chance)


def majority(counts: Sequence[int]) -> int | None:
    """The category with the most votes, or ``None`` for no votes or a tie at the top."""
    if not counts or max(counts) == 0:
        return None
    top = max(counts)
    winners = [j for j, c in enumerate(counts) if c == top]
    return winners[0] if len(winners) == 1 else None


def rate(k: int, n: int, confidence: float = 0.95) -> dict[str, Any]:
    """``k`` of ``n`` as a share with its Wilson interval (``None`` for ``n = 0``)."""
    if n == 0:
        return {"k": k, "n": n, "rate": None, "ci": None}
    low, high = wilson(k, n, confidence)
    return {"k": k, "n": n, "rate": k / n, "ci": [low, high]}


def _category(layout: Layout, index: int | None) -> str | None:
    return None if index is None else layout.categories[index]


def _checks(
    items: dict[int, ItemRow], votes: Sequence[VoteRow], judges: Sequence[str], threshold: float
) -> dict[str, dict[str, Any]]:
    answered: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for vote in votes:
        item = items[vote.item]
        if item.is_check:
            answered[vote.judge] += 1
            failed[vote.judge] += vote.choice != item.answer
    out = {}
    for judge in judges:
        share = failed[judge] / answered[judge] if answered[judge] else None
        out[judge] = {
            "answered": answered[judge],
            "failed": failed[judge],
            "failed_share": share,
            "excluded": share is not None and share > threshold,
        }
    return out


def _win_rates(
    layout: Layout,
    items: Sequence[ItemRow],
    counts: dict[int, list[int]],
    outcome: dict[int, int | None],
    confidence: float,
) -> list[dict[str, Any]]:
    """Per group and category: the items whose majority is the category, and the votes for it."""
    if layout.protocol == "best-of-n":
        targets = list(range(len(layout.categories)))
        groups: dict[str, list[ItemRow]] = {"all": list(items)}
    else:
        targets = [0]  # pairwise: the CSV's left column; g2r: judged real
        groups = {"all": list(items)}
        labels = sorted({item.label for item in items if item.label is not None})
        if labels and (len(labels) > 1 or any(item.label is None for item in items)):
            for label in labels:
                groups[label] = [item for item in items if item.label == label]
    rows = []
    for group, members in groups.items():
        voted = [item for item in members if sum(counts[item.id])]
        decided = [item for item in voted if outcome[item.id] is not None]
        total = sum(sum(counts[item.id]) for item in members)
        for target in targets:
            wins = sum(outcome[item.id] == target for item in decided)
            for_target = sum(counts[item.id][target] for item in members)
            rows.append(
                {
                    "group": group,
                    "category": layout.categories[target],
                    "items": len(voted),
                    "ties": len(voted) - len(decided),
                    **rate(wins, len(decided), confidence),
                    "votes": rate(for_target, total, confidence),
                }
            )
    return rows


def summarize(
    layout: Layout,
    items: Sequence[ItemRow],
    votes: Sequence[VoteRow],
    judges: Sequence[str],
    *,
    max_failed_checks: float = DEFAULT_MAX_FAILED_CHECKS,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The results of a study's votes (see the module docstring); a JSON-ready dict."""
    if not 0.0 <= max_failed_checks <= 1.0:
        raise InputError(f"max_failed_checks: expected a share in [0, 1], got {max_failed_checks}")
    by_id = {item.id: item for item in items}
    checks = _checks(by_id, votes, judges, max_failed_checks)
    included = {judge for judge in judges if not checks[judge]["excluded"]}
    studied = [item for item in items if not item.is_check]
    k = len(layout.categories)
    counts: dict[int, list[int]] = {item.id: [0] * k for item in studied}
    for vote in votes:
        if vote.judge in included and vote.item in counts:
            counts[vote.item][vote.choice] += 1
    outcome = {item_id: majority(c) for item_id, c in counts.items()}

    agreed: Counter[str] = Counter()
    compared: Counter[str] = Counter()
    cast: Counter[str] = Counter()
    for vote in votes:
        cast[vote.judge] += 1
        decided = outcome.get(vote.item)
        if decided is not None:
            compared[vote.judge] += 1
            agreed[vote.judge] += vote.choice == decided

    rated = [c for c in counts.values() if sum(c)]
    raters = max((sum(c) for c in rated), default=0)
    complete = [c for c in rated if sum(c) == raters]
    kappa = fleiss_kappa(complete) if raters >= 2 else None

    label = layout.label
    result: dict[str, Any] = {
        "protocol": layout.protocol,
        "categories": list(layout.categories),
        "max_failed_checks": max_failed_checks,
        "confidence": confidence,
        "excluded_judges": [j for j in judges if checks[j]["excluded"]],
        "judges": [
            {
                "name": judge,
                "votes": cast[judge],
                "excluded": checks[judge]["excluded"],
                "attention_checks": {
                    key: checks[judge][key] for key in ("answered", "failed", "failed_share")
                },
                "agreement": rate(agreed[judge], compared[judge], confidence),
            }
            for judge in judges
        ],
        "kappa": {
            "value": kappa,
            "items": len(complete) if raters >= 2 else 0,
            "raters_per_item": raters,
            "method": "Fleiss 1971",
        },
        "win_rates": _win_rates(layout, studied, counts, outcome, confidence),
        "items": [
            {
                "id": item.name,
                **({label: item.label} if label else {}),
                "images": list(item.sources),
                "votes": sum(counts[item.id]),
                "counts": dict(zip(layout.categories, counts[item.id], strict=True)),
                "majority": _category(layout, outcome[item.id]),
            }
            for item in studied
        ],
    }
    if layout.protocol == "g2r":
        truths = [item for item in studied if item.label is not None]
        judged = [item for item in truths if outcome[item.id] is not None]
        correct = sum((item.label == "real") == (outcome[item.id] == 0) for item in judged)
        result["accuracy"] = rate(correct, len(judged), confidence) | {"labelled": len(truths)}
    return result


def study_results(
    study: Study,
    *,
    max_failed_checks: float = DEFAULT_MAX_FAILED_CHECKS,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """:func:`summarize` of an open study, with its file, question and each judge's progress."""
    assigned = study.assigned_counts()
    result = summarize(
        study.layout,
        study.items(),
        study.votes(),
        list(assigned),
        max_failed_checks=max_failed_checks,
        confidence=confidence,
    )
    for judge in result["judges"]:
        judge["progress"] = {"done": judge["votes"], "total": assigned[judge["name"]]}
    return {
        "study": str(study.path),
        "question": study.question,
        "judges_per_item": int(study.meta["judges_per_item"]),
        "votes": sum(judge["votes"] for judge in result["judges"]),
        "expected_votes": sum(assigned.values()),
    } | result
