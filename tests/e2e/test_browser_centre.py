"""A coordinator's first session in a real headless Chromium against a real ``tessera serve``.

They join from an invitation, sign out and in again, define an achievement picking an ESCO skill
with the search-as-you-type picker, issue it to one learner, revoke it from the list of issued
credentials, and see its public verify page say "Revoked". Any console error (a CSP violation
included) fails the test. The server and browser are set up as in test_browser.py, whose
launch settings and helpers this reuses; the browser runs in a thread of its own, because
Playwright's sync API allows one instance per thread and test_browser.py's session-wide browser
holds this one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from .conftest import _run, free_port, operator_env, serving
from .test_browser import (  # noqa: F401  (screenshots: a fixture)
    CHROMIUM,
    LAUNCH_ARGS,
    LAUNCH_TIMEOUT_MS,
    _new_context,
    _watch,
    screenshots,
)

COORDINATOR = "coordinator@example.org"
PASSWORD = "a long enough passphrase"
FORKLIFT_SKILL = "http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da"


@dataclass(frozen=True)
class CentreServer:
    base_url: str
    invitation: str


@pytest.fixture(scope="module")
def centre_server(tmp_path_factory, database_factory) -> Iterator[CentreServer]:
    """A running ``tessera serve`` with one centre and an invitation for its coordinator."""
    cwd = tmp_path_factory.mktemp("centre")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = operator_env(cwd, database_factory(), base_url)
    _run(cwd, env, "init")
    _run(cwd, env, "org", "create", "--slug", "eastside", "--name", "Eastside Skills Centre")
    printed = _run(
        cwd, env, "user", "invite", "--org", "eastside", "--email", COORDINATOR, "--role", "issuer"
    )
    invitation = re.search(r"(http://\S+/invite/\S+)", printed)
    assert invitation is not None, printed
    with serving(cwd, env, port):
        yield CentreServer(base_url, invitation.group(1))


def _chromium_or_skip() -> None:
    """As test_browser.py's ``browser`` fixture: skip without Chromium, but never under CI."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        reason = f"no Chromium at {CHROMIUM}: install it or point TESSERA_CHROMIUM at one"
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(reason)


def in_browser(base_url: str, steps: Callable[[Page], None]) -> None:
    """Run ``steps`` in a fresh desktop-sized tab; fail on any console or page error."""

    def run() -> None:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=LAUNCH_ARGS, timeout=LAUNCH_TIMEOUT_MS
            )
            try:
                context = _new_context(browser, base_url, viewport={"width": 1280, "height": 900})
                page = context.new_page()
                problems = _watch(page)
                # A request the next navigation cut short (often the favicon) is no fault.
                aborted: set[str] = set()
                page.on(
                    "requestfailed",
                    lambda r: aborted.add(r.url) if "ERR_ABORTED" in (r.failure or "") else None,
                )
                steps(page)
                assert [p for p in problems if p.removeprefix("failed: ") not in aborted] == []
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(run).result()  # re-raises what failed in the browser's thread


def test_define_issue_and_revoke(centre_server, screenshots):  # noqa: F811
    _chromium_or_skip()
    in_browser(
        centre_server.base_url, lambda page: coordinator_session(page, centre_server, screenshots)
    )


def coordinator_session(page: Page, centre_server: CentreServer, shots: Path) -> None:
    # Join from the invitation, then sign out and back in the way they will every day.
    page.goto(centre_server.invitation)
    page.get_by_label("Your name").fill("Dana Coordinator")
    page.get_by_label("Password", exact=False).fill(PASSWORD)
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_role("heading", name="Eastside Skills Centre")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("E-mail address").fill(COORDINATOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Eastside Skills Centre")).to_be_visible()

    # Define an achievement, picking the ESCO skill as you type.
    page.get_by_role("link", name="Achievements").click()
    page.get_by_role("link", name="Define your first achievement").click()
    page.get_by_label("Name", exact=True).fill("Operate a forklift safely")
    page.get_by_label("Description").fill("Moves pallets in a warehouse without harm.")
    page.get_by_label("How it is earned (criteria)").fill("Passed a practical test.")
    page.get_by_label("Valid for (days)").fill("1095")
    with page.expect_response(lambda r: "/centre/esco/search" in r.url) as searched:
        page.get_by_label("Find an ESCO skill").press_sequentially("forklift", delay=30)
    assert searched.value.ok
    add = page.get_by_role("button", name="Add operate forklift", exact=True)
    expect(add).to_be_visible()
    expect(page.locator("[data-esco-status]")).to_contain_text("skills found")
    add.click()
    chosen = page.locator("[data-esco-chosen] li")
    expect(chosen).to_have_count(1)
    name = chosen.get_by_label("Name in the credential")
    expect(name).to_have_value("operate forklift")
    name.fill("operate a forklift")  # the coordinator confirms or edits the targetName
    page.screenshot(path=shots / "centre-achievement-form.png", full_page=True)
    page.get_by_role("button", name="Create achievement").click()
    expect(page.get_by_role("heading", name="Operate a forklift safely")).to_be_visible()
    skill = page.get_by_role("link", name="operate a forklift", exact=True)
    expect(skill).to_have_attribute("href", FORKLIFT_SKILL)

    # Issue it to one learner.
    page.get_by_role("link", name="Issue this achievement").click()
    page.get_by_label("Full name").fill("Amina Haddad")
    page.get_by_label("E-mail address").fill("amina@example.org")
    page.get_by_label("What the learner did").fill("Moved 40 pallets without a scratch.")
    page.get_by_role("button", name="Issue credential").click()
    expect(page.get_by_role("heading", name="Credential issued")).to_be_visible()
    expect(page.locator(".claim-url")).to_contain_text(f"{centre_server.base_url}/claim/")
    qr = page.get_by_alt_text("QR code of the credential's verify page")
    expect(qr).to_be_visible()
    expect(qr).to_have_js_property("complete", True)  # waits for the image to load
    assert qr.evaluate("img => img.naturalWidth > 0")
    verify_url = page.locator("a.verify-url").inner_text()
    assert verify_url.startswith(f"{centre_server.base_url}/v/")
    page.screenshot(path=shots / "centre-issued.png", full_page=True)

    # Revoke it from the list of issued credentials.
    page.get_by_role("link", name="All issued credentials").click()
    page.get_by_label("Select Amina Haddad, Operate a forklift safely").check()
    page.get_by_label("Reason (shown on each credential's verify page)").fill("Issued by mistake")
    page.get_by_role("button", name="Revoke selected…").click()
    expect(page.get_by_role("heading", name="Revoke 1 credential?")).to_be_visible()
    page.get_by_role("button", name="Revoke credential").click()
    expect(page.get_by_text("1 revoked with the reason “Issued by mistake”.")).to_be_visible()
    page.get_by_role("link", name="Back to issued credentials").click()
    expect(page.locator("tr", has_text="Amina Haddad").locator(".status")).to_have_text("Revoked")
    page.screenshot(path=shots / "centre-credentials.png", full_page=True)

    # The public verify page says so.
    page.goto(verify_url)
    expect(page.locator("#verdict-title")).to_have_text("Revoked")
    expect(page.locator(".revocation-reason")).to_have_text("Issued by mistake")
    page.screenshot(path=shots / "centre-revoked.png", full_page=True)
