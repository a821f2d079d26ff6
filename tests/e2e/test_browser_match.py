"""An employer matches a worker's files against a job, in a real Chromium against a real server.

The shared ``live_server`` issued a welding credential and revoked another with the CLI. The
employer picks the catalogue's Welder role, uploads both files at once, and sees the welding
task covered by the valid one and the revoked one listed beside it as not counting, with the
reason. The same page on a 360-pixel phone never scrolls sideways.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .test_browser import screenshots  # noqa: F401  (a fixture)
from .test_browser_centre import _chromium_or_skip, in_browser

WELD_TASK = "Weld steel with metal active gas (MAG) welding"
PHONE = {"width": 360, "height": 740}


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width}px wide"


def test_an_employer_matches_a_valid_and_a_revoked_credential(live_server, screenshots):  # noqa: F811
    _chromium_or_skip()
    files = [str(live_server.valid.json_file), str(live_server.revoked.json_file)]

    def steps(page: Page) -> None:
        page.goto("/verify")
        page.get_by_role("link", name="Match to a job").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Match to a job")
        page.get_by_label("Role", exact=True).select_option(label="Welder")
        page.get_by_label("Upload credential files or a wallet").set_input_files(files)
        page.get_by_role("button", name="Match").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Welder")
        expect(page.locator(".match-summary")).to_have_text(
            "1 of 5 tasks covered by valid credentials."
        )
        weld = page.locator(f'.match-task[data-task="{WELD_TASK}"]')
        expect(weld.locator(".match-task__state")).to_have_text("Covered")
        covered = weld.locator(".match-evidence__item[data-verdict='valid']")
        expect(covered).to_contain_text(live_server.achievement_name)
        expect(covered).to_contain_text(live_server.valid.json_file.name)
        revoked = weld.locator(".match-evidence--not-counted .match-evidence__item")
        expect(revoked).to_have_count(1)
        expect(revoked).to_contain_text("Revoked")
        expect(revoked).to_contain_text(live_server.revoked.json_file.name)
        expect(revoked).to_contain_text("Not counted: revoked by its issuer.")

        gap = page.locator('.match-task[data-task="Inspect finished welds"]')
        expect(gap.locator(".match-task__state")).to_have_text("Not covered")

        rows = page.locator(".match-presented .wallet-row")
        expect(rows).to_have_count(2)
        expect(page.locator(".match-presented [data-verdict='revoked']").first).to_contain_text(
            "Does not count: revoked by its issuer."
        )
        page.screenshot(path=str(screenshots / "match-desktop.png"), full_page=True)

        page.set_viewport_size(PHONE)
        _no_sideways_scroll(page)
        page.screenshot(path=str(screenshots / "match-phone.png"), full_page=True)
        page.get_by_role("link", name="Match another worker").click()
        expect(page.get_by_label("Role", exact=True)).to_have_value("catalogue:welder")
        _no_sideways_scroll(page)

    in_browser(live_server.base_url, steps)


def test_a_file_that_is_not_a_credential_is_refused_on_the_form(live_server, tmp_path):
    _chromium_or_skip()
    note = tmp_path / "cv.txt"
    note.write_text("I have welded for ten years.", "utf-8")

    def steps(page: Page) -> None:
        page.goto("/match")
        page.get_by_label("Role", exact=True).select_option(label="Welder")
        page.get_by_label("Upload credential files or a wallet").set_input_files(
            [str(live_server.valid.json_file), str(note)]
        )
        page.get_by_role("button", name="Match").click()
        expect(page.get_by_role("alert")).to_contain_text(
            re.compile(r"cv\.txt is not a credential")
        )
        expect(page.get_by_label("Role", exact=True)).to_have_value("catalogue:welder")

    in_browser(live_server.base_url, steps)
