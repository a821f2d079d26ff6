"""The dependency audit (.ci/audit): what pip-audit finds decides the build, and "could not
audit" never passes for "nothing found". pip-audit itself is replaced by a stand-in that
answers as the vulnerability database would: the database is the network's edge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def _audit(tmp_path: Path, dependencies: list[dict], exit_code: int, **env: str):
    """Run .ci/audit with a pip-audit that reports ``dependencies`` and exits ``exit_code``."""
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
    run = _audit(tmp_path, [CLEAN, UNKNOWN], 0)
    assert run.returncode == 0, run.stderr
    assert "1 locked dependencies audited, none with a known vulnerability" in run.stdout
    assert "1 could not be looked up" in run.stdout


@pytest.mark.parametrize(("allowed", "code"), [({}, 1), ({"TESSERA_AUDIT_OFFLINE_OK": "1"}, 0)])
def test_when_nothing_could_be_audited_it_says_so(tmp_path, allowed, code):
    run = _audit(tmp_path, [UNKNOWN, UNKNOWN], 0, **allowed)  # pip-audit itself says "ok"
    assert run.returncode == code
    assert "NOT AUDITED" in run.stdout


def test_the_lock_pins_every_dependency_exactly():
    lines = [
        line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines and all("==" in line for line in lines)
    pinned = {line.split("==")[0].lower().replace("_", "-") for line in lines}
    assert {"flask", "sqlalchemy", "cryptography", "pyjwt", "pytest", "pip-audit"} <= pinned
