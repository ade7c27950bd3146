"""The staging page in Chromium against a real server: upload a product, watch the job, see the
ranked candidates with their scores and contact sheets, animate the best one, download it.

Needs the ``playwright`` package and Debian's ``chromium`` (``/usr/bin/chromium``); never runs
``playwright install``. ``ADSTAGE_REQUIRE_BROWSER=1`` turns a missing browser into a failure.
``ADSTAGE_WRITE_SCREENSHOT=1`` also saves the page to ``docs/images/service-page.png``.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image
from study_helpers import CHROMIUM, require_chromium
from test_service_helpers import catalog, product_png, running_service

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "service-page.png"

sync_api = require_chromium()


def test_upload_stage_animate_and_download_in_chromium(tmp_path_factory, tmp_path: Path) -> None:
    cat = catalog(tmp_path_factory)
    product = tmp_path / "cabinet.png"
    product.write_bytes(product_png(cat))
    expect = sync_api.expect
    expect.set_options(timeout=30_000)  # a busy 2-core machine
    log = tmp_path / "server.log"
    with (
        running_service(cat, log, "--work", str(tmp_path / "work")) as (_, url),
        sync_api.sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda m: errors.append(m.text) if m.type == "error" else None,
            )
            page.goto(url)
            expect(page.locator("#server")).to_contain_text("classical")
            expect(page.locator("#stage")).to_be_disabled()
            page.set_input_files("#file", str(product))
            expect(page.locator("#preview")).to_be_visible()
            page.fill("#k", "2")
            page.select_option("#inpainter", "telea")
            page.click("#stage")

            cards = page.locator("article.candidate")
            expect(cards.first).to_be_visible()
            expect(page.locator("#state")).to_have_text("done")
            expect(page.locator("#provenance")).to_contain_text("segmented by solid-background")
            n = cards.count()
            assert 1 <= n <= 2
            scores = [
                float(cards.nth(i).locator(".score").inner_text().split()[0]) for i in range(n)
            ]
            assert scores == sorted(scores, reverse=True)
            best = cards.first
            expect(best.locator(".rank")).to_have_text("#1")
            expect(best.locator(".comp")).to_have_count(4)
            sheet = best.locator(".sheet img")
            expect(sheet).to_be_visible()
            assert sheet.evaluate("img => img.naturalWidth > 3 * img.naturalHeight")
            assert best.locator(".shot img").evaluate("img => img.naturalWidth") > 0

            best.locator("button.animate").click()
            loop = best.locator(".loop img")
            expect(loop).to_be_visible()
            assert loop.evaluate("img => img.complete && img.naturalWidth > 0")
            expect(best.locator(".loop .hint")).to_contain_text("24 frames")

            with page.expect_download() as download_info:
                best.locator("a.download").click()
            download = download_info.value
            assert download.suggested_filename == "staged-1.png"
            saved = tmp_path / "downloaded.png"
            download.save_as(saved)
            with Image.open(saved) as staged:
                assert staged.format == "PNG" and staged.size[0] >= 64
            if os.environ.get("ADSTAGE_WRITE_SCREENSHOT") == "1":
                page.screenshot(path=str(SCREENSHOT), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    assert "Traceback" not in log.read_text()
