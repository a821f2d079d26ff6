"""An Arabic-speaking employer opens a verify link, in a real Chromium against a real server.

The browser says it reads Arabic (its locale sends ``Accept-Language: ar``): the page comes in
Arabic, right to left, its layout mirrored (the verdict's icon on the right of its text), and
the DID of the issuer still reads left to right. The language switcher turns it into English.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import Page, expect, sync_playwright

from .test_browser import (  # noqa: F401  (screenshots: a fixture)
    CHROMIUM,
    LAUNCH_ARGS,
    LAUNCH_TIMEOUT_MS,
    TIMEOUT_MS,
    _watch,
    screenshots,
)
from .test_browser_centre import _chromium_or_skip

PHONE = {"width": 360, "height": 740}


def _in_arabic_browser(base_url: str, steps) -> None:  # type: ignore[no-untyped-def]
    def run() -> None:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=LAUNCH_ARGS, timeout=LAUNCH_TIMEOUT_MS
            )
            try:
                context = browser.new_context(
                    base_url=base_url, locale="ar", viewport={"width": 1280, "height": 900}
                )
                context.set_default_timeout(TIMEOUT_MS)
                page = context.new_page()
                problems = _watch(page)
                steps(page)
                assert problems == []
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(run).result()


def _box(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


def test_the_verify_page_reads_right_to_left_in_arabic(live_server, screenshots):  # noqa: F811
    _chromium_or_skip()

    def steps(page: Page) -> None:
        page.goto(live_server.valid.verify_url.removeprefix(live_server.base_url))
        assert page.evaluate("document.documentElement.dir") == "rtl"
        assert page.evaluate("document.documentElement.lang") == "ar"
        expect(page.locator("#verdict-title")).to_have_text("صالحة")  # "Valid"
        expect(page.locator(".verdict__kicker")).to_have_text("نتيجة التحقق")

        # Mirrored: the icon sits to the right of the verdict's words, as Arabic reads.
        icon, words = _box(page, ".verdict__icon"), _box(page, ".verdict__body")
        assert icon["x"] > words["x"] + words["width"] - 1
        # The issuer's DID keeps its left-to-right order inside the right-to-left page.
        direction = page.locator(".identifier").first.evaluate("e => getComputedStyle(e).direction")
        assert direction == "ltr"
        page.screenshot(path=str(screenshots / "verify-arabic.png"), full_page=True)

        page.set_viewport_size(PHONE)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the Arabic page is {width}px wide on a phone"
        page.screenshot(path=str(screenshots / "verify-arabic-phone.png"), full_page=True)

        # The switcher (plain links, no script) turns the same page into English, and it stays.
        page.set_viewport_size({"width": 1280, "height": 900})
        page.get_by_role("navigation", name="اللغة").get_by_role("link", name="English").click()
        expect(page.locator("#verdict-title")).to_have_text("Valid")
        assert page.evaluate("document.documentElement.dir") == "ltr"
        icon, words = _box(page, ".verdict__icon"), _box(page, ".verdict__body")
        assert icon["x"] + icon["width"] <= words["x"] + 1  # back on the left
        page.reload()
        expect(page.locator("#verdict-title")).to_have_text("Valid")
        expect(page.get_by_role("link", name="English")).to_have_attribute("aria-current", "true")

    _in_arabic_browser(live_server.base_url, steps)
