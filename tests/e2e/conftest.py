"""A real Tessera server for browser tests, set up the way an operator would: with the CLI.

``live_server`` (once per session) runs ``tessera init``, creates a centre and an achievement,
issues three credentials, revokes one, writes a tampered copy of another, then serves on a
free port whose URL is the public URL, so the QR codes it draws lead back to it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from ..helpers import WELDING_SKILL

TESSERA = Path(sys.executable).parent / "tessera"
COMMAND_TIMEOUT = 60
SERVER_START_TIMEOUT = 20
SERVER_STOP_TIMEOUT = 10

ACHIEVEMENT_NAME = "Perform MAG welding on structural steel"
REVOKE_REASON = "Issued by mistake"

#: The operator's first two commands after ``init``: the centre, then the achievement it issues.
CREATE_CENTRE = ("org", "create", "--slug", "northside", "--name", "Northside Skills Centre")
CREATE_ACHIEVEMENT = (
    "achievement",
    "create",
    "--org",
    "northside",
    "--name",
    ACHIEVEMENT_NAME,
    "--description",
    "Lays fillet and butt welds on structural steel.",
    "--criteria",
    "Passed visual and bend testing.",
    "--skill",
    f"{WELDING_SKILL}=perform metal active gas welding",
)

# Talk to the local server directly, whatever proxy the environment names.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class IssuedFiles:
    """One credential as ``tessera issue --json`` reported it."""

    id: str
    public_id: str
    verify_url: str
    json_file: Path
    jwt_file: Path
    holder: str


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    valid: IssuedFiles
    revoked: IssuedFiles
    tampered: IssuedFiles  # its json_file is a copy with the holder's name changed
    achievement_name: str = ACHIEVEMENT_NAME
    revoke_reason: str = REVOKE_REASON


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cwd: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(TESSERA), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"tessera {' '.join(args[:2])} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def _issue(cwd: Path, env: dict[str, str], achievement: str, name: str, email: str) -> IssuedFiles:
    issued = json.loads(
        _run(
            cwd,
            env,
            "issue",
            "--org",
            "northside",
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
    )
    json_file, jwt_file = (cwd / f for f in issued["files"])
    return IssuedFiles(
        issued["id"], issued["public_id"], issued["verify_url"], json_file, jwt_file, name
    )


def _wait_until_healthy(base_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        try:
            with _http.open(f"{base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the server did not become healthy:\n{log.read_text()}")
        time.sleep(0.2)


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=SERVER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=SERVER_STOP_TIMEOUT)


def reachable_redis(url: str) -> redis.Redis:
    """A client of the Redis at ``url``; skips the test without one, but fails it under CI."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as e:
        client.close()
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {url} under CI: {e}")
        pytest.skip(f"Redis is not reachable at {url}: {e}")
    return client


def operator_env(cwd: Path, database_url: str, base_url: str) -> dict[str, str]:
    """An operator's environment: this test's instance, database and public URL only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "FLASK_"))}
    return env | {
        "TESSERA_INSTANCE": str(cwd / "instance"),
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_PUBLIC_URL": base_url,
    }


@contextmanager
def serving(cwd: Path, env: dict[str, str], port: int) -> Iterator[None]:
    """Run ``tessera serve`` until the block ends; fail with its log if it never gets healthy."""
    log = cwd / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(TESSERA), "serve", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_healthy(f"http://127.0.0.1:{port}", server, log)
            yield
        finally:
            _stop(server)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, database_factory) -> Iterator[LiveServer]:
    """A running ``tessera serve`` with a valid, a revoked and a tampered credential."""
    cwd = tmp_path_factory.mktemp("live")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = operator_env(cwd, database_factory(), base_url)
    _run(cwd, env, "init")
    _run(cwd, env, *CREATE_CENTRE)
    achievement = _run(cwd, env, *CREATE_ACHIEVEMENT).strip()
    valid = _issue(cwd, env, achievement, "Amina Haddad", "amina@example.org")
    revoked = _issue(cwd, env, achievement, "Yusuf Demir", "yusuf@example.org")
    third = _issue(cwd, env, achievement, "Olena Kovalenko", "olena@example.org")
    _run(cwd, env, "revoke", revoked.id, "--reason", REVOKE_REASON)

    document = json.loads(third.json_file.read_text("utf-8"))
    document["credentialSubject"]["name"] = "Mallory Impostor"
    tampered_file = cwd / "tampered.json"
    tampered_file.write_text(json.dumps(document, indent=2), "utf-8")
    tampered = IssuedFiles(
        third.id,
        third.public_id,
        third.verify_url,
        tampered_file,
        third.jwt_file,
        "Mallory Impostor",
    )

    with serving(cwd, env, port):
        yield LiveServer(base_url, valid, revoked, tampered)
