"""A real pairwise study judged end to end in Chromium through the real pages: three judges, one
on the keyboard (← / →), one with the mouse, one with both who reloads half-way; then the
majorities and Fleiss' κ from ``adstage study results --json``.

Needs the ``playwright`` package and Debian's ``chromium`` (``/usr/bin/chromium``); never runs
``playwright install``. ``ADSTAGE_WRITE_SCREENSHOT=1`` also saves the judging page to
``docs/images/study-judging.png`` (synthetic images only).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from study_helpers import CHROMIUM, require_chromium, write_csv
from typer.testing import CliRunner

from adstage.cli import app
from adstage.datasets.synthetic import SyntheticCatalog
from adstage.io.images import write_image

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "study-judging.png"

sync_api = require_chromium()

# The CSV column (0 = left, 1 = right) each judge picks; c1 is the attention check, whose real
# photo is on the left. Majorities: left, left, left, right; κ = 1/9 (see test_study_stats).
PLAN = {
    "judge-1": {"p1": 0, "p2": 0, "p3": 0, "p4": 0, "c1": 0},
    "judge-2": {"p1": 0, "p2": 0, "p3": 0, "p4": 1, "c1": 0},
    "judge-3": {"p1": 1, "p2": 0, "p3": 0, "p4": 1, "c1": 0},
}


def _images(folder: Path) -> tuple[Path, Path]:
    """Synthetic rooms: each item pairs a rendered room (left) with a softened, colour-cast copy
    (right, a stand-in for a generator's output); the check pairs a room with a blocky fake."""
    syn = SyntheticCatalog(5, seed=3, staged_fraction=1.0, size=(360, 270))
    rows = []
    for i, item in enumerate(syn, start=1):
        room = item.image
        write_image(folder / f"room{i}.png", room)
        if i <= 4:
            soft = cv2.GaussianBlur(room, (0, 0), 1.6).astype(np.float32) * (1.06, 1.0, 0.9)
            write_image(folder / f"generated{i}.png", np.clip(soft, 0, 255).astype(np.uint8))
            rows.append([f"p{i}", f"room{i}.png", f"generated{i}.png", "room-vs-generated"])
        else:
            h, w = room.shape[:2]
            blocks = cv2.resize(room, (w // 12, h // 12), interpolation=cv2.INTER_AREA)
            fake = cv2.resize(blocks, (w, h), interpolation=cv2.INTER_NEAREST)
            write_image(
                folder / "fake.png", np.ascontiguousarray((fake // 64 * 64 + 32)[..., ::-1])
            )
    items = write_csv(folder / "items.csv", ["id", "left", "right", "kind"], rows)
    checks = write_csv(
        folder / "checks.csv",
        ["id", "left", "right", "answer"],
        [["c1", "room5.png", "fake.png", "left"]],
    )
    return items, checks


def test_three_judges_in_chromium(tmp_path: Path, server, study_assignments) -> None:
    items, checks = _images(tmp_path)
    db = tmp_path / "study.db"
    runner = CliRunner()
    args = ["study", "create", "--protocol", "pairwise", "--items", str(items), "--judges", "3"]
    args += ["--attention-checks", str(checks), "-o", str(db), "--json"]
    created = runner.invoke(app, args)
    assert created.exit_code == 0, created.stderr
    judges = json.loads(created.stdout)["judges"]
    plan = study_assignments(db)
    expect = sync_api.expect
    expect.set_options(timeout=20_000)  # a busy 2-core machine
    screenshot = os.environ.get("ADSTAGE_WRITE_SCREENSHOT") == "1"

    with server(db, tmp_path / "server.log") as (_, url), sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            for judge in judges:
                name, token = judge["name"], judge["token"]
                page = browser.new_page(viewport={"width": 1000, "height": 470})
                page.goto(f"{url}/j/{token}")
                for step, item in enumerate(plan[token]):
                    if name == "judge-3" and step == 2:
                        page.reload()  # resumes at the first item without a vote
                    expect(page.locator("#count")).to_have_text(f"{step} / 5")
                    picks = page.locator("button.pick")
                    expect(picks).to_have_count(2)
                    expect(picks.nth(1)).to_be_enabled()  # both images decoded
                    if screenshot and name == "judge-1" and step and item["name"] != "c1":
                        page.screenshot(path=str(SCREENSHOT))  # an item, not the check
                        screenshot = False
                    position = item["display"].index(PLAN[name][item["name"]])
                    keyboard = name == "judge-1" or (name == "judge-3" and step % 2 == 0)
                    if keyboard:
                        page.keyboard.press(["ArrowLeft", "ArrowRight"][position])
                    else:
                        picks.nth(position).click()
                page.wait_for_url(f"{url}/j/{token}/done")
                expect(page.locator("h1")).to_have_text("Thank you!")
                page.close()
        finally:
            browser.close()

    result = runner.invoke(app, ["study", "results", str(db), "--json"])
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["votes"] == record["expected_votes"] == 15
    assert [i["majority"] for i in record["items"]] == ["left", "left", "left", "right"]
    assert [i["counts"]["left"] for i in record["items"]] == [2, 3, 3, 1]
    assert record["kappa"]["value"] == pytest.approx(1 / 9)
    assert record["kappa"]["items"] == 4 and record["kappa"]["raters_per_item"] == 3
    assert record["excluded_judges"] == []
    assert all(
        j["attention_checks"] == {"answered": 1, "failed": 0, "failed_share": 0.0}
        for j in record["judges"]
    )
    left = record["win_rates"][0]
    assert (left["group"], left["category"], left["k"], left["n"]) == ("all", "left", 3, 4)
