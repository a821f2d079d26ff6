"""The installed ``tessera`` command in real processes, from ``init`` to a running server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from http import HTTPStatus
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from .conftest import CREATE_ACHIEVEMENT, CREATE_CENTRE, TESSERA, free_port

COMMAND_TIMEOUT = 60
SERVER_START_TIMEOUT = 15
SERVER_STOP_TIMEOUT = 15

# Talk to the local server directly, whatever proxy the environment names.
http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def workdir(tmp_path, database_factory):
    """A working directory and the environment of an operator with a fresh, empty database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "FLASK_"))}
    env["TESSERA_INSTANCE"] = str(tmp_path / "instance")
    env["TESSERA_DATABASE_URL"] = database_factory()
    return tmp_path, env


def tessera(workdir, *args):
    cwd, env = workdir
    return subprocess.run(
        [str(TESSERA), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def succeeds(workdir, *args):
    result = tessera(workdir, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def _create_centre(workdir):
    created = succeeds(workdir, *CREATE_CENTRE)
    did = created.strip().rsplit(" ", 1)[-1]
    assert did.startswith("did:web:") and did.endswith(":orgs:northside")
    return did


def test_init_issue_and_verify(workdir):
    cwd, env = workdir
    first = succeeds(workdir, "init")
    assert "Ready." in first
    assert (cwd / "instance" / "secrets.json").is_file()
    # Secrets, learners' names and addresses: the service's account alone may read them.
    assert (cwd / "instance").stat().st_mode & 0o777 == 0o700
    assert (cwd / "instance" / "secrets.json").stat().st_mode & 0o777 == 0o600
    database = make_url(env["TESSERA_DATABASE_URL"])
    if database.get_backend_name() == "sqlite":
        assert Path(database.database).stat().st_mode & 0o777 == 0o600
    again = succeeds(workdir, "init")
    assert "Ready." in again

    _create_centre(workdir)
    achievement_id = succeeds(workdir, *CREATE_ACHIEVEMENT).strip()
    issued = json.loads(
        succeeds(
            workdir,
            "issue",
            "--org",
            "northside",
            "--achievement",
            achievement_id,
            "--name",
            "Amina Haddad",
            "--email",
            "amina@example.org",
            "--out",
            "out",
            "--json",
        )
    )
    files = [cwd / f for f in issued["files"]]
    assert [f.suffix for f in files] == [".json", ".jwt"]
    assert all(f.is_file() for f in files)

    # Running init again later keeps the secrets, keys and data already there.
    succeeds(workdir, "init")
    for path in files:
        report = succeeds(workdir, "verify", path)
        assert "Verdict: VALID" in report
        assert "Holder:     Amina Haddad" in report

    document = json.loads(files[0].read_text("utf-8"))
    document["credentialSubject"]["name"] = "Mallory Impostor"
    tampered = cwd / "tampered.json"
    tampered.write_text(json.dumps(document), "utf-8")
    result = tessera(workdir, "verify", tampered)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Verdict: INVALID" in result.stdout
    assert "[FAIL] proof:" in result.stdout
    assert "Traceback" not in result.stderr


def _wait_until_healthy(base_url, server, log):
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        try:
            with http.open(f"{base_url}/healthz", timeout=2) as response:
                return response.status, json.load(response)
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not become healthy:\n{log.read_text()}")
            time.sleep(0.2)


def test_serve_publishes_the_centres_did_document(workdir):
    cwd, env = workdir
    succeeds(workdir, "init")
    did = _create_centre(workdir)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
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
            status, health = _wait_until_healthy(base_url, server, log)
            assert status == HTTPStatus.OK
            assert health["status"] == "ok"
            with http.open(f"{base_url}/orgs/northside/did.json", timeout=5) as response:
                assert response.headers.get_content_type() == "application/did+json"
                document = json.load(response)
            assert document["id"] == did
            assert all(m["id"].startswith(f"{did}#") for m in document["verificationMethod"])

            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=SERVER_STOP_TIMEOUT) == 0, log.read_text()
        finally:
            if server.poll() is None:
                server.kill()
                server.wait(timeout=SERVER_STOP_TIMEOUT)


def test_serve_before_init_says_to_run_init(workdir):
    result = tessera(workdir, "serve", "--port", free_port())
    assert result.returncode != 0
    assert "tessera init" in result.stderr
    assert "Traceback" not in result.stderr
