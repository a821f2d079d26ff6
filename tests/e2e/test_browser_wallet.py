"""A worker takes their wallet to an employer, in a real Chromium against a real server.

A centre issues two credentials to one worker with the CLI. The worker opens the claim link,
sees both credentials, downloads the wallet file; the employer uploads that file on /verify
and sees one valid row per credential. The wallet page also fits a phone without scrolling
sideways. The server and browser are set up as in test_browser_centre.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ..helpers import WELDING_SKILL
from .conftest import _run, free_port, operator_env, serving
from .test_browser import _new_context, _watch, screenshots  # noqa: F401  (a fixture)
from .test_browser_centre import _chromium_or_skip, in_browser

WORKER = "Amina Haddad"
WORKER_EMAIL = "amina@example.org"
PHONE_WORKER = ("Olena Kovalenko", "olena@example.org")
ACHIEVEMENTS = ("Perform MAG welding on structural steel", "Sling and rig loads for lifting")
PHONE = {"width": 390, "height": 844}


@dataclass(frozen=True)
class WalletServer:
    base_url: str
    claim_url: str
    public_ids: tuple[str, ...]
    phone_claim_url: str  # a wallet whose verify URL has no hyphen, so no place to wrap


@pytest.fixture(scope="module")
def wallet_server(tmp_path_factory, database_factory) -> Iterator[WalletServer]:
    """A running ``tessera serve`` where one worker holds two credentials of one centre."""
    cwd = tmp_path_factory.mktemp("wallet")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = operator_env(cwd, database_factory(), base_url)
    _run(cwd, env, "init")
    _run(cwd, env, "org", "create", "--slug", "westside", "--name", "Westside Skills Centre")

    def issue(achievement: str, name: str, email: str) -> dict[str, str]:
        printed = _run(
            cwd,
            env,
            "issue",
            "--org",
            "westside",
            "--achievement",
            achievement,
            "--name",
            name,
            "--email",
            email,
            "--out",
            "out",
            "--json",
        )
        return json.loads(printed)  # type: ignore[no-any-return]

    achievements = [
        _run(
            cwd,
            env,
            "achievement",
            "create",
            "--org",
            "westside",
            "--name",
            name,
            "--description",
            f"{name}, safely and to standard.",
            "--criteria",
            "Passed a practical assessment.",
            "--skill",
            f"{WELDING_SKILL}=perform metal active gas welding",
        ).strip()
        for name in ACHIEVEMENTS
    ]
    issued = [issue(achievement, WORKER, WORKER_EMAIL) for achievement in achievements]
    assert all(i["claim_url"].startswith(f"{base_url}/claim/") for i in issued), issued
    # Public ids are random: a browser can wrap a verify URL only at a hyphen in its id. The
    # phone check needs the worst case, so a second worker gets credentials until one has none
    # (each try has about a 70% chance).
    for _ in range(15):
        unbreakable = issue(achievements[0], *PHONE_WORKER)
        if "-" not in unbreakable["public_id"]:
            break
    else:
        pytest.fail("fifteen public ids in a row had a hyphen")
    with serving(cwd, env, port):
        # Either claim link opens the wallet with both (same centre, same worker).
        yield WalletServer(
            base_url,
            issued[0]["claim_url"],
            tuple(i["public_id"] for i in issued),
            unbreakable["claim_url"],
        )


def test_a_worker_hands_their_wallet_to_an_employer(wallet_server, screenshots, tmp_path):  # noqa: F811
    _chromium_or_skip()
    in_browser(
        wallet_server.base_url,
        lambda page: hand_over(page, wallet_server, screenshots, tmp_path),
    )


def hand_over(page: Page, server: WalletServer, shots: Path, folder: Path) -> None:
    # The worker opens their claim link: the token leaves the address bar at once.
    page.goto(server.claim_url)
    assert page.url == f"{server.base_url}/wallet"
    expect(page.get_by_role("heading", name=f"Your credentials, {WORKER}")).to_be_visible()
    cards = page.locator(".credential-card")
    expect(cards).to_have_count(2)
    for name in ACHIEVEMENTS:
        expect(cards.get_by_role("heading", name=name, exact=True)).to_be_visible()
    for public_id in server.public_ids:
        expect(page.locator(f'[data-public-id="{public_id}"]')).to_be_visible()
    page.screenshot(path=shots / "wallet-page.png", full_page=True)

    # They download the wallet file: one CLR with both credentials.
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download my wallet (.json)").click()
    download = downloading.value
    assert download.failure() is None
    assert download.suggested_filename == "wallet.json"
    wallet_file = folder / "wallet.json"
    download.save_as(wallet_file)
    clr = json.loads(wallet_file.read_text("utf-8"))
    assert "ClrCredential" in clr["type"]
    assert len(clr["credentialSubject"]["verifiableCredential"]) == 2

    # The employer uploads it on the verify page.
    page.goto("/verify")
    page.get_by_label("Upload a credential file").set_input_files(wallet_file)
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.get_by_role("heading", name="Every credential is valid")).to_be_visible()
    rows = page.locator(".wallet-row")
    expect(rows).to_have_count(2)
    for number in range(2):
        row = rows.nth(number)
        expect(row).to_have_attribute("data-verdict", "valid")
        expect(row.locator(".tag")).to_have_text("Valid")
    for name in ACHIEVEMENTS:
        expect(rows.filter(has_text=name)).to_have_count(1)
    expect(page.get_by_text("The wallet's own signature holds", exact=False)).to_be_visible()
    page.screenshot(path=shots / "wallet-report.png", full_page=True)


def test_the_wallet_page_fits_a_phone(wallet_server, screenshots):  # noqa: F811
    _chromium_or_skip()
    in_browser(wallet_server.base_url, lambda page: on_a_phone(page, wallet_server, screenshots))


def on_a_phone(page: Page, server: WalletServer, shots: Path) -> None:
    """A 390 x 844 phone that honours the viewport meta tag, as real phones do."""
    browser = page.context.browser
    assert browser is not None
    context = _new_context(
        browser,
        server.base_url,
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        phone = context.new_page()
        problems = _watch(phone)
        phone.goto(server.phone_claim_url)
        expect(phone.locator(".credential-card")).not_to_have_count(0)
        expect(phone.locator(".credential-card img.qr").first).to_have_js_property("complete", True)
        phone.screenshot(path=shots / "wallet-phone.png", full_page=True)
        sizes = phone.evaluate(
            """() => {
                const root = document.documentElement;
                return {
                    scroll: root.scrollWidth,
                    inner: window.innerWidth,
                    wider: [...document.querySelectorAll("body *")]
                        .filter(e => e.getBoundingClientRect().right > root.clientWidth + 0.5)
                        .map(e => e.tagName + ": " + e.textContent.trim().slice(0, 80)),
                };
            }"""
        )
        # A phone widens its layout viewport to fit content that overflows: innerWidth grows.
        assert sizes["inner"] == PHONE["width"], sizes
        assert sizes["scroll"] <= sizes["inner"], sizes
        assert problems == []
    finally:
        context.close()
