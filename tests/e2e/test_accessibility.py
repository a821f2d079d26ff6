"""Any phone, any reader: an automated accessibility audit of the public pages in a real Chromium.

axe-core (vendored in ``vendor/``, see its README) runs in each page at a 360 x 740 phone and at
a 1280 x 800 desktop, with the WCAG 2.0/2.1 A and AA rules and axe's best practices. Any
violation whose impact is "serious" or "critical" fails the test, listed with its rule, help text
and the CSS selectors of the elements at fault, so a developer can fix it from the report.

The pages: the verify form (empty and with an error), a credential's page when valid (also in
Arabic, right to left) and when revoked, the result of uploading a tampered credential
(invalid), the worker's wallet after a claim link and its job match, and the employer's match
form and a match result. On the phone none of them may scroll sideways, and the verdict must be
a word on the page, not only a colour or an icon. Tabbing through the verify, credential and
match pages, every stop shows a focus ring. A page with known faults checks the audit itself.

One Chromium serves every test of this module: it runs in a thread of its own, because
Playwright's sync API allows one instance per thread and test_browser.py's session-wide browser
holds the main thread.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from ..helpers import WELDING_SKILL
from .conftest import _run, free_port, operator_env, serving
from .test_browser import (  # noqa: F401  (screenshots: a fixture)
    CHROMIUM,
    LAUNCH_ARGS,
    LAUNCH_TIMEOUT_MS,
    TIMEOUT_MS,
    _watch,
    screenshots,
)
from .test_browser_centre import _chromium_or_skip

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
FAILING_IMPACTS = {"serious", "critical"}

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
SIZES = {"phone": PHONE, "desktop": DESKTOP}

WORKER = ("Amina Haddad", "amina@example.org")
VALID_EMAIL = "amina@example.org"  # conftest.py issues live_server.valid to this address
WALLET_ACHIEVEMENT = "Perform MAG welding on structural steel"

T = TypeVar("T")


class BrowserThread:
    """One Chromium driven from one thread for the whole module, as Playwright's sync API needs."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1)
        self._playwright: Playwright | None = None
        self.browser: Browser | None = None

    def call(self, work: Callable[[], T]) -> T:
        return self._thread.submit(work).result()  # re-raises what failed in the thread

    def start(self) -> None:
        def launch() -> None:
            self._playwright = sync_playwright().start()
            self.browser = self._playwright.chromium.launch(
                executable_path=CHROMIUM, args=LAUNCH_ARGS, timeout=LAUNCH_TIMEOUT_MS
            )

        self.call(launch)

    def stop(self) -> None:
        def close() -> None:
            if self.browser is not None:
                self.browser.close()
            if self._playwright is not None:
                self._playwright.stop()

        try:
            self.call(close)
        finally:
            self._thread.shutdown()


@pytest.fixture(scope="module")
def chromium() -> Iterator[BrowserThread]:
    _chromium_or_skip()
    thread = BrowserThread()
    try:
        thread.start()
        yield thread
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def axe_source() -> str:
    source = AXE.read_bytes()
    assert hashlib.sha256(source).hexdigest() == AXE_SHA256, f"{AXE} is not the vendored axe-core"
    return source.decode("utf-8")


@dataclass(frozen=True)
class WalletServer:
    base_url: str
    claim_url: str


@pytest.fixture(scope="module")
def wallet_server(tmp_path_factory, database_factory) -> Iterator[WalletServer]:
    """A running ``tessera serve`` where one worker holds a valid and a revoked credential.

    ``live_server`` keeps no claim link (only its hash is stored), so the wallet gets its own.
    """
    cwd = tmp_path_factory.mktemp("a11y-wallet")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = operator_env(cwd, database_factory(), base_url)
    _run(cwd, env, "init")
    _run(cwd, env, "org", "create", "--slug", "southside", "--name", "Southside Skills Centre")
    achievement = _run(
        cwd,
        env,
        *("achievement", "create", "--org", "southside", "--name", WALLET_ACHIEVEMENT),
        *("--description", "Lays fillet and butt welds.", "--criteria", "Passed bend testing."),
        *("--skill", f"{WELDING_SKILL}=perform metal active gas welding"),
    ).strip()
    issued = [
        json.loads(
            _run(
                cwd,
                env,
                *("issue", "--org", "southside", "--achievement", achievement),
                *("--name", WORKER[0], "--email", WORKER[1], "--out", "out", "--json"),
            )
        )
        for _ in range(2)
    ]
    _run(cwd, env, "revoke", issued[1]["id"], "--reason", "Assessment repeated")
    with serving(cwd, env, port):
        yield WalletServer(base_url, issued[0]["claim_url"])


# --- the audit ---------------------------------------------------------------------------------

RUN_AXE = """async (tags) => {
    const results = await axe.run(document, {runOnly: {type: "tag", values: tags}});
    return results.violations.map(v => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        helpUrl: v.helpUrl,
        nodes: v.nodes.map(n => ({
            target: n.target.map(String).join(" "),
            summary: n.failureSummary || "",
        })),
    }));
}"""


def audit(page: Page, axe_source: str) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is and return its violations.

    The page's CSP allows only its own scripts, so ``page.add_script_tag`` is refused ("Executing
    inline script violates ... script-src 'self'"). ``page.evaluate`` runs
    the script through the DevTools protocol instead, which the CSP does not govern: the page
    is audited with its real policy in force, and no CSP bypass is needed.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(f"() => {{ {axe_source}\n}}")
    return page.evaluate(RUN_AXE, AXE_TAGS)  # type: ignore[no-any-return]


def serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in FAILING_IMPACTS]


def describe(where: str, violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{where}: [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"]:
            lines.append(f"    {node['target']}")
            for detail in node["summary"].splitlines():
                lines.append(f"        {detail.strip()}")
    return "\n".join(lines)


def sideways(page: Page) -> dict[str, Any]:
    """How wide the page is, and which elements stick out past the viewport's right edge."""
    return page.evaluate(  # type: ignore[no-any-return]
        """() => {
            const root = document.documentElement;
            return {
                scroll: root.scrollWidth,
                wider: [...document.querySelectorAll("body *")]
                    .filter(e => e.getBoundingClientRect().right > root.clientWidth + 0.5)
                    .map(e => e.tagName + "." + e.className + ": "
                              + e.textContent.trim().slice(0, 60)),
            };
        }"""
    )


def _context(browser: Browser, base_url: str, size: str, locale: str) -> BrowserContext:
    """A tab's context as test_browser.py makes them, in the reader's language.

    The phone honours the viewport meta tag, as real phones do.
    """
    phone = size == "phone"
    context = browser.new_context(
        base_url=base_url,
        locale=locale,  # Chromium sends it as Accept-Language
        viewport=SIZES[size],
        device_scale_factor=2 if phone else 1,
        is_mobile=phone,
        has_touch=phone,
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


def _cut_short(page: Page) -> set[str]:
    """The requests a navigation cut short (often the favicon): no fault of the page."""
    aborted: set[str] = set()
    page.on(
        "requestfailed",
        lambda r: aborted.add(r.url) if "ERR_ABORTED" in (r.failure or "") else None,
    )
    return aborted


def audit_at_every_size(
    chromium: BrowserThread,
    base_url: str,
    axe_source: str,
    open_page: Callable[[Page], None],
    shots: Path | None = None,
    name: str = "",
    locale: str = "en-GB",
) -> None:
    """Open the page at each size with ``open_page``, audit it and check it fits a phone.

    Every problem at every size is gathered first and reported together.
    """

    def run() -> list[str]:
        assert chromium.browser is not None
        failures: list[str] = []
        for size_name in SIZES:
            phone = size_name == "phone"
            context = _context(chromium.browser, base_url, size_name, locale)
            try:
                page = context.new_page()
                problems = _watch(page)
                aborted = _cut_short(page)
                open_page(page)
                # Content behind a closed <details> is audited too: open every one.
                page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
                found = serious(audit(page, axe_source))
                if found:
                    failures.append(describe(f"{name} at {size_name}", found))
                if phone:
                    width = sideways(page)
                    if width["scroll"] > PHONE["width"]:
                        failures.append(f"{name} is {width['scroll']}px wide on a phone: {width}")
                if shots is not None:
                    page.screenshot(path=shots / f"a11y-{name}-{size_name}.png", full_page=True)
                problems = [p for p in problems if p.removeprefix("failed: ") not in aborted]
                if problems:
                    failures.append(f"{name} at {size_name}: {problems}")
            finally:
                context.close()
        return failures

    failures = chromium.call(run)
    assert not failures, "\n".join(failures)


def verdict_in_words(page: Page, word: str) -> None:
    """The verdict is a visible word in the page's text, not only a colour or an icon."""
    title = page.locator("#verdict-title")
    expect(title).to_have_text(word)
    expect(title).to_be_visible()
    expect(page.get_by_role("heading", level=1, name=word, exact=True)).to_be_visible()
    # The icon beside it says nothing to a screen reader: the word does.
    icons = page.locator(".verdict__icon svg")
    expect(icons).to_have_attribute("aria-hidden", "true")


# --- the verify pages --------------------------------------------------------------------------


def test_the_verify_form(chromium, live_server, axe_source, screenshots):  # noqa: F811
    def open_page(page: Page) -> None:
        page.goto("/verify")
        expect(page.get_by_role("heading", level=1)).to_have_text("Check a credential")

    audit_at_every_size(
        chromium, live_server.base_url, axe_source, open_page, screenshots, "verify"
    )


def test_the_verify_form_with_an_error(chromium, live_server, axe_source):
    def open_page(page: Page) -> None:
        page.goto("/verify")
        page.get_by_role("button", name="Check", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("Nothing to check yet")

    audit_at_every_size(chromium, live_server.base_url, axe_source, open_page, name="verify-empty")


def test_a_valid_credential_page(chromium, live_server, axe_source, screenshots):  # noqa: F811
    def open_page(page: Page) -> None:
        page.goto(f"/v/{live_server.valid.public_id}")
        verdict_in_words(page, "Valid")
        # The recipient check's answer is part of the page too.
        page.get_by_label("E-mail address", exact=True).fill(VALID_EMAIL)
        page.get_by_role("button", name="Check address").click()
        expect(page.locator("[data-answer]")).to_contain_text("Yes.")
        verdict_in_words(page, "Valid")

    audit_at_every_size(chromium, live_server.base_url, axe_source, open_page, screenshots, "valid")


def test_a_revoked_credential_page(chromium, live_server, axe_source, screenshots):  # noqa: F811
    def open_page(page: Page) -> None:
        page.goto(f"/v/{live_server.revoked.public_id}")
        verdict_in_words(page, "Revoked")
        expect(page.locator(".revocation-reason")).to_have_text(live_server.revoke_reason)

    audit_at_every_size(
        chromium, live_server.base_url, axe_source, open_page, screenshots, "revoked"
    )


def test_a_tampered_credential_result(chromium, live_server, axe_source, screenshots):  # noqa: F811
    def open_page(page: Page) -> None:
        page.goto("/verify")
        page.get_by_label("Upload a credential file").set_input_files(
            live_server.tampered.json_file
        )
        page.get_by_role("button", name="Check", exact=True).click()
        verdict_in_words(page, "Invalid")

    audit_at_every_size(
        chromium, live_server.base_url, axe_source, open_page, screenshots, "invalid"
    )


def test_a_credential_page_in_arabic(chromium, live_server, axe_source, screenshots):  # noqa: F811
    """Right to left: the audit and the phone's width hold there too."""

    def open_page(page: Page) -> None:
        page.goto(f"/v/{live_server.valid.public_id}")
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        expect(page.locator("html")).to_have_attribute("lang", "ar")
        expect(page.locator(".verdict")).to_have_attribute("data-verdict", "valid")
        # The verdict is still a word, in Arabic.
        expect(page.locator("#verdict-title")).not_to_have_text("")
        expect(page.locator("#verdict-title")).not_to_have_text("Valid")

    audit_at_every_size(
        chromium, live_server.base_url, axe_source, open_page, screenshots, "valid-ar", "ar"
    )


# --- the worker's wallet -----------------------------------------------------------------------


def test_the_wallet_page(chromium, wallet_server, axe_source, screenshots):  # noqa: F811
    def open_page(page: Page) -> None:
        page.goto(wallet_server.claim_url)
        assert page.url == f"{wallet_server.base_url}/wallet"
        expect(page.locator(".credential-card")).to_have_count(2)
        # A revoked credential says so in words.
        expect(page.locator(".credential-card .tag--bad")).to_have_text("Revoked by the issuer")
        expect(page.locator(".credential-card img.qr").first).to_have_js_property("complete", True)

    audit_at_every_size(
        chromium, wallet_server.base_url, axe_source, open_page, screenshots, "wallet"
    )


def test_the_wallet_job_match(chromium, wallet_server, axe_source, screenshots):  # noqa: F811
    def open_page(page: Page) -> None:
        page.goto(wallet_server.claim_url)
        page.get_by_role("link", name="Check me against a job").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Check me against a job")
        role = page.get_by_label("Role", exact=True)
        welder = role.locator("option", has_text="Welder").first.get_attribute("value")
        role.select_option(welder)
        page.get_by_role("button", name="Check my credentials").click()
        expect(page.locator(".worker-match-summary")).to_contain_text("You can already show 1 of")
        # The revoked copy is listed with its verdict as a word.
        expect(
            page.locator(".match-evidence--not-counted .tag[data-verdict='revoked']")
        ).to_have_text("Revoked")

    audit_at_every_size(
        chromium, wallet_server.base_url, axe_source, open_page, screenshots, "wallet-match"
    )


# --- the match page ----------------------------------------------------------------------------


def test_the_match_form(chromium, live_server, axe_source, screenshots):  # noqa: F811
    def open_page(page: Page) -> None:
        page.goto("/match")
        expect(page.get_by_role("heading", level=1)).to_have_text("Match to a job")

    audit_at_every_size(chromium, live_server.base_url, axe_source, open_page, screenshots, "match")


def test_a_match_result(chromium, live_server, axe_source, screenshots):  # noqa: F811
    files = [str(live_server.valid.json_file), str(live_server.revoked.json_file)]

    def open_page(page: Page) -> None:
        page.goto("/match")
        page.get_by_label("Role", exact=True).select_option(label="Welder")
        page.get_by_label("Upload credential files or a wallet").set_input_files(files)
        page.get_by_role("button", name="Match").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Welder")
        # Each credential's verdict is a word, not only the tag's colour.
        rows = page.locator(".match-presented .wallet-row")
        expect(rows.locator(".tag[data-verdict='valid']")).to_have_text("Valid")
        expect(rows.locator(".tag[data-verdict='revoked']")).to_have_text("Revoked")

    audit_at_every_size(
        chromium, live_server.base_url, axe_source, open_page, screenshots, "match-result"
    )


# --- the keyboard ------------------------------------------------------------------------------

FOCUSED = """() => {
    const e = document.activeElement;
    if (!e || e === document.body) return null;
    const style = getComputedStyle(e);
    const box = e.getBoundingClientRect();
    return {
        what: e.tagName + (e.id ? "#" + e.id : "") + " "
            + (e.textContent || "").trim().slice(0, 40),
        outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2
            && style.outlineColor !== "rgba(0, 0, 0, 0)",
        shown: box.width > 0 && box.height > 0
            && box.bottom > 0 && box.top < innerHeight && box.right > 0 && box.left < innerWidth,
    };
}"""
MAX_TABS = 60


def tab_through(page: Page) -> list[dict[str, Any]]:
    """Press Tab until focus leaves the page or comes round again; where did it land?"""
    stops: list[dict[str, Any]] = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None or (stops and focused["what"] == stops[0]["what"]):
            break
        stops.append(focused)
    return stops


@pytest.mark.parametrize("which", ["verify", "valid", "match"])
def test_every_control_shows_where_the_keyboard_is(chromium, live_server, which):
    """Tabbing through a page, every stop has a visible focus ring and is scrolled into view."""
    path = {
        "verify": "/verify",
        "valid": f"/v/{live_server.valid.public_id}",
        "match": "/match",
    }[which]

    def run() -> list[dict[str, Any]]:
        assert chromium.browser is not None
        context = _context(chromium.browser, live_server.base_url, "phone", "en-GB")
        try:
            page = context.new_page()
            page.goto(path)
            stops = tab_through(page)
            # The first stop is the skip link, shown once it has focus.
            assert stops and stops[0]["what"].startswith("A Skip to content"), stops[:1]
            return stops
        finally:
            context.close()

    stops = chromium.call(run)
    assert len(stops) > 3, stops
    unseen = [stop for stop in stops if not (stop["outline"] and stop["shown"])]
    assert unseen == [], unseen


# --- the audit itself --------------------------------------------------------------------------

BROKEN_PAGE = """<!doctype html><html lang="en"><head><title>Broken</title></head><body>
<main><h1>Broken</h1>
<p style="color:#aaaaaa;background:#ffffff">Pale grey text on white.</p>
<input type="text" name="nameless">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
</main></body></html>"""


def test_the_audit_finds_what_it_should(chromium, axe_source):
    """The audit is not vacuous: a page with known faults fails it, for the right reasons."""

    def run() -> set[str]:
        assert chromium.browser is not None
        context = chromium.browser.new_context()
        try:
            page = context.new_page()
            page.set_content(BROKEN_PAGE)
            return {v["id"] for v in serious(audit(page, axe_source))}
        finally:
            context.close()

    assert chromium.call(run) >= {"color-contrast", "label", "image-alt"}
