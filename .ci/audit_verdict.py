"""The verdict of `.ci/audit` on what pip-audit reported: the build fails on a known vulnerability.

Usage: audit_verdict.py REPORT PIP_AUDIT_EXIT_STATUS LOCK_FILE

pip-audit asks about each pinned version at ``/pypi/<name>/<version>/json`` (or OSV). Some
package indexes answer only the project page ``/pypi/<name>/json`` (the PyPI mirror of the
development machines here does), and then pip-audit skips every dependency. The project page
lists the vulnerabilities of the project's latest release, so for each skipped dependency
locked at exactly that release this script reads them there: it is PyPI's own data for the
very version we run. A dependency locked at an older release (another package caps it, or
the latest needs a newer Python) cannot be looked up that way and is named as not audited.

Nothing audited at all says NOT AUDITED and fails unless TESSERA_AUDIT_OFFLINE_OK=1, because
"could not look" must never read as "nothing found". AUDIT_PYPI_URL (default
https://pypi.org) is the index asked; AUDIT_PYPI_FALLBACK=0 turns the project-page reading off.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

TIMEOUT_SECONDS = 15
PARALLEL_REQUESTS = 8


@dataclass
class Finding:
    """One locked dependency: its advisories, or why it could not be looked up."""

    name: str
    version: str
    vulns: list[dict] = field(default_factory=list)
    audited_by: str = ""  # "pip-audit", "the project page", or "" for not audited
    why_not: str = ""


def locked_versions(lock: Path) -> dict[str, str]:
    """``requirements.lock`` as {canonical name: version}."""
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def from_project_page(index: str, finding: Finding) -> Finding:
    """Audit ``finding`` with the vulnerabilities PyPI lists for the project's latest release."""
    url = f"{index}/pypi/{canonicalize_name(finding.name)}/json"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            page = json.load(answer)
        latest, advisories = str(page["info"]["version"]), page["vulnerabilities"]
        if not isinstance(advisories, list):
            raise TypeError("vulnerabilities is not a list")
    except urllib.error.HTTPError as e:
        finding.why_not = f"{finding.why_not}; {url} answered HTTP {e.code}"
        return finding
    except (OSError, ValueError, KeyError, TypeError) as e:
        finding.why_not = f"{finding.why_not}; {url} gave no answer ({e.__class__.__name__})"
        return finding
    try:
        same = Version(latest) == Version(finding.version)
    except InvalidVersion:
        same = latest == finding.version
    if not same:
        finding.why_not = f"its latest release is {latest}; only that one's advisories are listed"
        return finding
    finding.vulns = [
        {"id": a.get("id", "?"), "fix_versions": a.get("fixed_in") or []}
        for a in advisories
        if isinstance(a, dict) and not a.get("withdrawn")
    ]
    finding.audited_by = "the project page"
    return finding


def findings(report: dict, pins: dict[str, str], index: str | None) -> list[Finding]:
    """Every locked dependency: what pip-audit found, the rest read from project pages."""
    reported = {canonicalize_name(d["name"]): d for d in report.get("dependencies", [])}
    found, skipped = [], []
    for key, version in pins.items():
        dependency = reported.get(key, {"name": key, "skip_reason": "not in pip-audit's report"})
        finding = Finding(dependency["name"], dependency.get("version") or version)
        if "vulns" in dependency:
            finding.vulns, finding.audited_by = dependency["vulns"], "pip-audit"
            found.append(finding)
        else:
            finding.why_not = dependency.get("skip_reason") or "skipped by pip-audit"
            skipped.append(finding)
    if index and skipped:
        with ThreadPoolExecutor(PARALLEL_REQUESTS) as pool:
            skipped = list(pool.map(lambda f: from_project_page(index, f), skipped))
    return found + skipped


def main(report_path: str, status: str, lock_path: str) -> int:
    try:
        report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = {}
    fallback = os.environ.get("AUDIT_PYPI_FALLBACK", "1") != "0"
    index = os.environ.get("AUDIT_PYPI_URL", "https://pypi.org").rstrip("/") if fallback else None
    results = findings(report, locked_versions(Path(lock_path)), index)
    audited = [f for f in results if f.audited_by]
    vulnerable = [f for f in audited if f.vulns]
    for f in vulnerable:
        for vuln in f.vulns:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
            print(f"VULNERABLE {f.name} {f.version}: {vuln['id']} (fixed in: {fixed})")
    if vulnerable:
        print(
            f"pip-audit: {len(vulnerable)} locked dependencies have known vulnerabilities",
            file=sys.stderr,
        )
        return 1
    if not audited:
        print(
            "pip-audit: NOT AUDITED. No vulnerability database answered for any of the "
            f"{len(results)} locked dependencies (no network, or an index without PyPI's JSON API)."
        )
        if os.environ.get("TESSERA_AUDIT_OFFLINE_OK") == "1":
            print("TESSERA_AUDIT_OFFLINE_OK=1: carrying on without the audit.")
            return 0
        print("Set TESSERA_AUDIT_OFFLINE_OK=1 to build without it, knowingly.", file=sys.stderr)
        return 1
    if status not in ("0", "1"):  # crashed: what it did not report is listed below
        print(f"pip-audit exited with status {status}")
    skipped = [f for f in results if not f.audited_by]
    for f in skipped:
        print(f"not audited: {f.name} {f.version}: {f.why_not}")
    by_page = sum(f.audited_by == "the project page" for f in audited)
    print(
        f"pip-audit: {len(audited)} locked dependencies audited, none with a known vulnerability"
        + (f" ({by_page} from PyPI's project pages)" if by_page else "")
        + (f"; {len(skipped)} could not be looked up" if skipped else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
