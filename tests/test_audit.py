"""The dependency audit (.ci/audit): what pip-audit finds decides the build, and "could not
audit" never passes for "nothing found". pip-audit itself is replaced by a stand-in that
answers as the vulnerability database would, and PyPI's project pages by a local server: the
database and the index are the network's edge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

VULNERABLE = {
    "name": "jinja2",
    "version": "2.10",
    "vulns": [
        {"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"], "aliases": [], "description": ""}
    ],
}
CLEAN = {"name": "flask", "version": "3.1.3", "vulns": []}
UNKNOWN = {"name": "flask", "skip_reason": "Dependency not found on PyPI and could not be audited"}
UNKNOWN_JINJA = {"name": "jinja2", "skip_reason": "Dependency not found on PyPI"}
LOCK = "# pinned\n#\njinja2==2.10\nFlask==3.1.3\n"


def _project_page(latest: str, advisories: list[dict]) -> dict:
    """PyPI's /pypi/<name>/json, cut down to what the audit reads."""
    return {"info": {"name": "x", "version": latest}, "releases": {}, "vulnerabilities": advisories}


@pytest.fixture
def index() -> Iterator[tuple[str, dict[str, dict]]]:
    """A package index answering /pypi/<name>/json from ``pages`` (404 for the rest)."""
    pages: dict[str, dict] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = pages.get(self.path)
            body = json.dumps(page).encode() if page is not None else b"{}"
            self.send_response(200 if page is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", pages
    server.shutdown()
    server.server_close()


def _audit(tmp_path: Path, dependencies: list[dict], exit_code: int, **env: str):
    """Run .ci/audit with a pip-audit that reports ``dependencies`` and exits ``exit_code``.

    The lock holds jinja2 2.10 and Flask 3.1.3 unless ``LOCK`` names another; project pages
    are not read unless ``AUDIT_PYPI_URL`` names an index.
    """
    lock = tmp_path / "requirements.lock"
    lock.write_text(LOCK)
    env = {
        "LOCK": str(lock),
        "AUDIT_PYPI_FALLBACK": "0" if "AUDIT_PYPI_URL" not in env else "1",
    } | env
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pip-audit"
    report = json.dumps({"dependencies": dependencies, "fixes": []})
    fake.write_text(
        "#!/bin/sh\n"
        'while [ $# -gt 0 ]; do [ "$1" = --output ] && out="$2"; shift; done\n'
        f"printf '%s' '{report}' > \"$out\"\n"
        f"exit {exit_code}\n"
    )
    fake.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    return subprocess.run(
        ["bash", str(ROOT / ".ci" / "audit")],
        env={"PATH": os.environ["PATH"], "BIN": str(bin_dir), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_known_vulnerability_fails_the_build_and_names_the_fix(tmp_path):
    run = _audit(tmp_path, [CLEAN, VULNERABLE], 1, TESSERA_AUDIT_OFFLINE_OK="1")
    assert run.returncode == 1
    assert "VULNERABLE jinja2 2.10: PYSEC-2019-217 (fixed in: 2.10.1)" in run.stdout
    assert "1 locked dependencies have known vulnerabilities" in run.stderr


def test_no_known_vulnerability_passes(tmp_path):
    run = _audit(tmp_path, [CLEAN, UNKNOWN_JINJA], 0)
    assert run.returncode == 0, run.stderr
    assert "1 locked dependencies audited, none with a known vulnerability" in run.stdout
    assert "1 could not be looked up" in run.stdout


@pytest.mark.parametrize(("allowed", "code"), [({}, 1), ({"TESSERA_AUDIT_OFFLINE_OK": "1"}, 0)])
def test_when_nothing_could_be_audited_it_says_so(tmp_path, allowed, code):
    run = _audit(
        tmp_path, [UNKNOWN, {"name": "jinja2", "skip_reason": "not found"}], 0, **allowed
    )  # pip-audit itself says "ok"
    assert run.returncode == code
    assert "NOT AUDITED" in run.stdout


def test_a_skipped_dependency_at_its_latest_release_is_read_from_its_project_page(tmp_path, index):
    url, pages = index
    pages["/pypi/jinja2/json"] = _project_page(
        "2.10",
        [
            {"id": "PYSEC-2019-217", "fixed_in": ["2.10.1"], "withdrawn": None},
            {"id": "GHSA-withdrawn", "fixed_in": [], "withdrawn": "2024-01-01T00:00:00Z"},
        ],
    )
    pages["/pypi/flask/json"] = _project_page("3.1.3", [])
    run = _audit(tmp_path, [UNKNOWN_JINJA, UNKNOWN], 0, AUDIT_PYPI_URL=url)  # pip-audit says "ok"
    assert run.returncode == 1
    assert "VULNERABLE jinja2 2.10: PYSEC-2019-217 (fixed in: 2.10.1)" in run.stdout
    assert "withdrawn" not in run.stdout


def test_a_project_page_of_a_newer_release_audits_nothing_and_says_so(tmp_path, index):
    url, pages = index
    pages["/pypi/jinja2/json"] = _project_page("3.1.6", [])  # says nothing about 2.10
    pages["/pypi/flask/json"] = _project_page("3.1.3", [])
    run = _audit(tmp_path, [UNKNOWN_JINJA, UNKNOWN], 0, AUDIT_PYPI_URL=url)
    assert run.returncode == 0, run.stderr
    assert "not audited: jinja2 2.10: its latest release is 3.1.6" in run.stdout
    assert (
        "1 locked dependencies audited, none with a known vulnerability "
        "(1 from PyPI's project pages); 1 could not be looked up"
    ) in run.stdout


def test_a_dependency_missing_from_the_report_is_not_counted_as_audited(tmp_path, index):
    url, pages = index
    pages["/pypi/flask/json"] = _project_page("3.1.4", [])
    run = _audit(tmp_path, [CLEAN], 2, AUDIT_PYPI_URL=url)  # pip-audit crashed half-way
    assert run.returncode == 0, run.stderr
    assert "pip-audit exited with status 2" in run.stdout
    assert (
        f"not audited: jinja2 2.10: not in pip-audit's report; {url}/pypi/jinja2/json "
        "answered HTTP 404"
    ) in run.stdout
    assert "1 could not be looked up" in run.stdout


def test_the_lock_pins_every_dependency_exactly():
    lines = [
        line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines and all("==" in line for line in lines)
    pinned = {line.split("==")[0].lower().replace("_", "-") for line in lines}
    assert {"flask", "sqlalchemy", "cryptography", "pyjwt", "pytest", "pip-audit"} <= pinned
