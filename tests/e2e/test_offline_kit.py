"""Offline verification in real processes with no network at all: each runs in a network
namespace of its own (``unshare -rn``), where only a loopback device exists (and is down unless
the test brings it up). The kit and the credentials come from this instance."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from issuer import kit as instance_kit
from issuer import services
from issuer.clock import utcnow

from ..conftest import PUBLIC_URL

TESSERA = Path(sys.executable).parent / "tessera"
TIMEOUT = 90


def _isolated() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _isolated(), reason="cannot create a network namespace here")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "FLASK_"))}


@pytest.fixture
def files(db, kek, centre, welding, tmp_path):
    """A fresh kit of this instance, a valid and a revoked credential, as files."""
    now = utcnow()
    issued = [
        services.issue_credential(
            db,
            kek,
            organisation=centre,
            achievement=welding,
            name=name,
            email=f"{name.split()[0].lower()}@example.org",
            public_url=PUBLIC_URL,
            now=now - timedelta(days=1),
        ).record
        for name in ("Amina Haddad", "Oleksandr Kovalenko")
    ]
    services.revoke_credential(db, issued[1], reason="Issued in error", now=now)
    exported = instance_kit.export_kit(db, kek, public_url=PUBLIC_URL, now=now, ttl=300)
    (tmp_path / "kit.json").write_text(exported.json(), "utf-8")
    (tmp_path / "good.jwt").write_text(issued[0].jwt, "utf-8")
    (tmp_path / "revoked.json").write_text(issued[1].document, "utf-8")
    return tmp_path, exported.signer_pin


def _offline(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "-rn", *command],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_cli_verifies_with_no_network_at_all(files):
    folder, pin = files
    kit = ["--offline", "--kit", "kit.json", "--trust", pin]
    valid = _offline(str(TESSERA), "verify", *kit, "good.jwt", cwd=folder)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "Verdict: VALID" in valid.stdout
    assert "verifying offline" in valid.stdout
    assert "revocation data from" in valid.stdout
    revoked = _offline(str(TESSERA), "verify", *kit, "--json", "revoked.json", cwd=folder)
    assert revoked.returncode == 1, revoked.stderr
    assert json.loads(revoked.stdout)["verdict"] == "revoked"
    tampered = json.loads((folder / "kit.json").read_text("utf-8"))
    tampered["issued"] = "2020-01-01T00:00:00Z"
    (folder / "tampered.json").write_text(json.dumps(tampered), "utf-8")
    refused = _offline(
        str(TESSERA), "verify", "--offline", "--kit", "tampered.json", "--trust", pin,
        "good.jwt", cwd=folder,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "changed after it was signed" in refused.stderr
    assert "Traceback" not in refused.stderr


SERVER_SCRIPT = textwrap.dedent(
    """
    import os, subprocess, sys, time, urllib.request, json
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    env = dict(os.environ, TESSERA_KIT_TRUST=sys.argv[2], TESSERA_PUBLIC_URL="https://verify.test")
    server = subprocess.Popen(
        [sys.argv[1], "serve", "--verifier-only", "--kit", "kit.json", "--port", "5087"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        for _ in range(200):
            try:
                opener.open("http://127.0.0.1:5087/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        token = open("good.jwt").read()
        request = urllib.request.Request(
            "http://127.0.0.1:5087/api/v1/verify",
            data=json.dumps({"credential": token}).encode(),
            headers={"Content-Type": "application/json"},
        )
        print(opener.open(request, timeout=30).read().decode())
    finally:
        server.terminate()
        server.wait(timeout=15)
    """
)


def test_standalone_offline_verifier_serves_with_no_network_at_all(files):
    folder, pin = files
    ran = _offline(sys.executable, "-c", SERVER_SCRIPT, str(TESSERA), pin, cwd=folder)
    assert ran.returncode == 0, ran.stderr[-2000:]
    body = json.loads(ran.stdout)
    assert body["verdict"] == "valid"
    note = next(c for c in body["checks"] if c["name"] == "revocation data")
    assert "revocation data from" in note["message"]
