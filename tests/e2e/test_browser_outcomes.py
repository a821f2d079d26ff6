"""The outcomes dashboard in a real headless Chromium against a real ``tessera serve``.

The operator sets up a centre with the CLI and issues three credentials (all this month),
revokes one, and employers open two verify pages. A coordinator joins from an invitation,
opens Outcomes from the navigation, sees the headline figures and the four charts (a bar only
for the month something happened in), downloads the CSV, and reads the page on a 360-pixel
phone without scrolling sideways. Any console error (a CSP violation included) fails the test.
"""

from __future__ import annotations

import csv
import io
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ..helpers import WELDING_SKILL
from .conftest import _issue, _run, free_port, operator_env, serving
from .test_browser import screenshots  # noqa: F401  (a fixture)
from .test_browser_centre import _chromium_or_skip, in_browser

COORDINATOR = "coordinator@example.org"
PASSWORD = "a long enough passphrase"
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class OutcomesServer:
    base_url: str
    invitation: str
    month: str


@pytest.fixture(scope="module")
def outcomes_server(tmp_path_factory, database_factory) -> Iterator[OutcomesServer]:
    cwd = tmp_path_factory.mktemp("outcomes")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = operator_env(cwd, database_factory(), base_url)
    _run(cwd, env, "init")
    _run(cwd, env, "org", "create", "--slug", "northside", "--name", "Northside Skills Centre")
    achievement = _run(
        cwd,
        env,
        "achievement",
        "create",
        "--org",
        "northside",
        "--name",
        "Perform MAG welding",
        "--description",
        "Lays fillet and butt welds.",
        "--criteria",
        "Passed bend tests.",
        "--skill",
        f"{WELDING_SKILL}=perform metal active gas welding",
    ).strip()
    month = datetime.now(UTC).strftime("%Y-%m")
    issued = [
        _issue(cwd, env, achievement, name, email)
        for name, email in (
            ("Amina Haddad", "amina@example.org"),
            ("Yusuf Demir", "yusuf@example.org"),
            ("Olena Kovalenko", "olena@example.org"),
        )
    ]
    _run(cwd, env, "revoke", issued[1].id, "--reason", "Issued by mistake")
    printed = _run(
        cwd, env, "user", "invite", "--org", "northside", "--email", COORDINATOR, "--role", "viewer"
    )
    invitation = re.search(r"(http://\S+/invite/\S+)", printed)
    assert invitation is not None, printed
    with serving(cwd, env, port):
        for record in issued[:2]:  # two employers scan a QR code
            with _http.open(f"{base_url}/v/{record.public_id}", timeout=10) as response:
                assert response.status == 200
        yield OutcomesServer(base_url, invitation.group(1), month)


def test_the_dashboard_in_a_browser(outcomes_server, screenshots):  # noqa: F811
    _chromium_or_skip()
    in_browser(outcomes_server.base_url, lambda page: _session(page, outcomes_server, screenshots))


def _headline(page: Page, name: str) -> str:
    return page.locator(f"#headline-{name} dd").inner_text()


def _session(page: Page, server: OutcomesServer, shots: Path) -> None:
    page.goto(server.invitation)
    page.get_by_label("Your name").fill("Dana Coordinator")
    page.get_by_label("Password", exact=False).fill(PASSWORD)
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_role("heading", name="Northside Skills Centre")).to_be_visible()

    page.get_by_role("link", name="Achievements").click()
    page.get_by_role("link", name="Outcomes").click()
    expect(page.get_by_role("heading", name="Outcomes", exact=True)).to_be_visible()
    expect(page.locator("#headline-issued dd")).to_have_text("3")
    assert _headline(page, "revoked") == "1"
    assert _headline(page, "pathways") == "0"
    assert _headline(page, "verifications") == "2"

    # Four charts, each a labelled picture; the issued chart has one bar (this month's).
    charts = page.locator("svg.chart[role=img]")
    expect(charts).to_have_count(4)
    expect(
        page.get_by_role("img", name="Credentials issued per month, by achievement")
    ).to_be_visible()
    issued = page.locator("#centre-issued")
    expect(issued.locator("g.chart__stack")).to_have_count(1)
    expect(issued.locator(f'g.chart__stack[data-month="{server.month}"] rect')).to_have_count(1)
    expect(issued.locator(".chart-legend")).to_contain_text("Perform MAG welding")
    expect(page.locator("#centre-revoked g.chart__stack")).to_have_count(1)
    expect(page.locator("#centre-pathways g.chart__stack")).to_have_count(0)
    # The same figures in the table beside the chart.
    row = issued.get_by_role("row", name=re.compile(server.month))
    expect(row.get_by_role("cell")).to_have_text(["3"])
    page.screenshot(path=shots / "outcomes.png", full_page=True)

    # The CSV download carries the same figures.
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download CSV").click()
    download = downloading.value
    assert download.suggested_filename.startswith("outcomes-northside-")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text("utf-8"))))
    assert sum(int(r["count"]) for r in rows if r["measure"] == "issued") == 3
    assert sum(int(r["count"]) for r in rows if r["measure"] == "verifications") == 2

    # A bad period is refused with a message, in the page.
    page.goto(f"{server.base_url}/centre/outcomes?from=2026-13&to=2026-01")
    expect(page.get_by_role("alert")).to_contain_text("YYYY-MM")

    # On a 360-pixel phone nothing scrolls sideways and the charts still show.
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{server.base_url}/centre/outcomes")
    expect(page.locator("svg.chart")).to_have_count(4)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width} px wide on a 360 px screen"
    box = page.locator("#centre-issued svg").bounding_box()
    assert box is not None and box["width"] <= 360
    page.screenshot(path=shots / "outcomes-phone.png", full_page=True)
