"""A coordinator issues to a cohort from a spreadsheet in a real Chromium, as the issue asks:
a 50-row CSV with two bad rows, the preview flags them, the live progress bar runs to the end,
and the claim links download. The server is a real ``tessera serve`` whose in-process huey
consumer does the work."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .conftest import _run, free_port, operator_env, serving
from .test_browser import screenshots  # noqa: F401  (a fixture)
from .test_browser_centre import PASSWORD, _chromium_or_skip, in_browser

ROWS = 50
BAD_ROWS = {7: ("", "no-name@example.org"), 23: ("Bad Email", "not-an-e-mail")}


@dataclass(frozen=True)
class BulkServer:
    base_url: str
    invitation: str
    spreadsheet: Path


@pytest.fixture(scope="module")
def bulk_server(tmp_path_factory, database_factory) -> Iterator[BulkServer]:
    cwd = tmp_path_factory.mktemp("bulk")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = operator_env(cwd, database_factory(), base_url)
    _run(cwd, env, "init")
    _run(cwd, env, "org", "create", "--slug", "cohort", "--name", "Cohort Training Centre")
    _run(
        cwd,
        env,
        "achievement",
        "create",
        "--org",
        "cohort",
        "--name",
        "Site safety induction",
        "--description",
        "Knows the site's hazards and rules.",
        "--criteria",
        "Passed a quiz.",
    )
    printed = _run(
        cwd,
        env,
        "user",
        "invite",
        "--org",
        "cohort",
        "--email",
        "cohort.lead@example.org",
        "--role",
        "issuer",
    )
    invitation = re.search(r"(http://\S+/invite/\S+)", printed)
    assert invitation is not None, printed
    spreadsheet = cwd / "cohort.csv"
    with spreadsheet.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Name", "Email"])
        for number in range(1, ROWS + 1):
            writer.writerow(BAD_ROWS.get(number, (f"Learner {number}", f"l{number}@example.org")))
    with serving(cwd, env, port):
        yield BulkServer(base_url, invitation.group(1), spreadsheet)


def test_bulk_issue_with_preview_progress_and_claim_links(bulk_server, screenshots):  # noqa: F811
    _chromium_or_skip()
    in_browser(bulk_server.base_url, lambda page: cohort(page, bulk_server, screenshots))


def cohort(page: Page, server: BulkServer, shots: Path) -> None:
    page.goto(server.invitation)
    page.get_by_label("Your name").fill("Cohort Lead")
    page.get_by_label("Password", exact=False).fill(PASSWORD)
    page.get_by_role("button", name="Join").click()
    page.get_by_role("link", name="Issue to a group from a spreadsheet").click()

    page.get_by_label("Achievement to issue").select_option(label="Site safety induction")
    page.get_by_label("Spreadsheet").set_input_files(str(server.spreadsheet))
    page.get_by_role("button", name="Upload and check").click()

    # The preview flags the two bad rows and offers to issue the other 48.
    expect(page.locator(".stat", has_text="ready to issue")).to_contain_text(str(ROWS - 2))
    expect(page.locator(".stat", has_text="with problems")).to_contain_text("2")
    expect(page.locator("table tr", has_text="not-an-e-mail").first).to_be_visible()
    page.screenshot(path=shots / "bulk-preview.png", full_page=True)
    page.get_by_role("button", name=f"Issue {ROWS - 2} credentials").click()

    # The progress bar moves on its own and the page turns into the results.
    expect(page.get_by_role("heading", name=re.compile("^Results"))).to_be_visible(timeout=180_000)
    expect(page.locator(".stat", has_text="issued").first).to_contain_text(str(ROWS - 2))
    expect(page.locator(".stat", has_text="skipped")).to_contain_text("2")
    page.screenshot(path=shots / "bulk-results.png", full_page=True)

    with page.expect_download() as downloaded:
        page.get_by_role("button", name="Download claim links (CSV)").click()
    lines = list(csv.reader(Path(downloaded.value.path()).read_text("utf-8").splitlines()))
    claims = [cell for row in lines[1:] for cell in row if "/claim/" in cell]
    assert len(claims) == ROWS - 2
    assert all(link.startswith(f"{server.base_url}/claim/") for link in claims)
