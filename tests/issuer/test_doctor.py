"""``tessera doctor``: what an operator reads when something is, or is not, wrong.

Real components throughout: the test database, Redis at 127.0.0.1:6379 (database 9), and
ports nothing listens on for the unreachable cases.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy import update

from issuer import doctor, migrate
from issuer.app import create_app
from issuer.cli import cli
from issuer.clock import utcnow
from keys import KeyState, SigningKey

from ..conftest import PUBLIC_URL, app_config

REDIS_URL = "redis://127.0.0.1:6379/9"


def run_doctor(runner, *args):  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["doctor", *args])
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit | None), result.exception
    return result


def findings(app, level=None):  # type: ignore[no-untyped-def]
    with app.app_context():
        report = doctor.diagnose(app, now=utcnow())
    return [f for f in report.findings if level is None or f.level == level]


def by_check(found, check):  # type: ignore[no-untyped-def]
    return [f for f in found if f.check == check]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_available() -> None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError as e:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {e}")


# -- a healthy instance --------------------------------------------------------------------


def test_a_healthy_instance_has_no_problem_and_exits_0(runner, app, centre, welding):
    result = run_doctor(runner)
    assert result.exit_code == 0, result.output
    assert "PROBLEM" not in result.output
    for line in (
        "migrations",
        "signing keys",
        "centre northside",
        "instance folder",
        "disk space",
        "job queue",
        "clock",
    ):
        assert line in result.output
    assert "0 problem(s)" in result.output
    assert app.config["KEK"] not in result.output
    assert app.config["SECRET_KEY"] not in result.output


def test_json_output_for_monitoring(runner, centre):
    result = run_doctor(runner, "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["healthy"] is True and report["problems"] == 0
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["centre northside"]["level"] == "OK"
    assert checks["migrations"]["level"] == "OK"
    assert set(report["checks"][0]) == {"check", "level", "message", "fix"}


# -- keys and centres ----------------------------------------------------------------------


def test_keys_the_kek_cannot_open_are_a_problem(runner, app, centre):
    app.config["KEK"] = Fernet.generate_key().decode()
    result = run_doctor(runner)
    assert result.exit_code == 1
    keys = by_check(findings(app, doctor.Level.PROBLEM), "signing keys")
    assert len(keys) == 1
    assert "cannot be used with the configured TESSERA_KEK" in keys[0].message
    assert centre.did in keys[0].message  # named by key id, so the operator knows which
    assert "set TESSERA_KEK" in keys[0].fix
    assert by_check(findings(app, doctor.Level.PROBLEM), "centre northside")
    assert app.config["KEK"] not in result.output


def test_keys_under_an_older_kek_ask_for_a_rewrap(app, centre):
    app.config["KEK"] = Fernet.generate_key().decode() + "," + app.config["KEK"]
    keys = by_check(findings(app), "signing keys")
    assert [f.level for f in keys] == [doctor.Level.OK, doctor.Level.WARNING]
    assert "tessera keys rewrap" in keys[-1].fix


def test_a_centre_without_an_active_key_cannot_issue(app, db, centre):
    db.execute(
        update(SigningKey)
        .where(SigningKey.controller == centre.did)
        .values(state=KeyState.VERIFY_ONLY)
    )
    db.commit()
    found = by_check(findings(app, doctor.Level.PROBLEM), "centre northside")
    assert len(found) == 1
    assert "cannot issue" in found[0].message
    assert found[0].fix == "run `tessera keys rotate --org northside`"


# -- the database --------------------------------------------------------------------------


def test_an_unreachable_database_is_named_without_its_password(tmp_path):
    port = _free_port()
    url = f"postgresql+psycopg://tessera:pw-never-shown-4711@127.0.0.1:{port}/tessera"
    app = create_app(app_config(tmp_path / "instance", url))
    result = run_doctor(app.test_cli_runner())
    assert result.exit_code == 1
    assert "pw-never-shown-4711" not in result.output
    assert f"postgresql+psycopg://tessera:***@127.0.0.1:{port}/tessera cannot be reached" in (
        result.output
    )
    assert "check TESSERA_DATABASE_URL" in result.output


def test_an_unmigrated_database_says_to_run_init(tmp_path, database_factory):
    empty = create_app(app_config(tmp_path / "a", database_factory()))
    found = by_check(findings(empty, doctor.Level.PROBLEM), "migrations")
    assert "no Tessera tables yet" in found[0].message
    assert "tessera init" in found[0].fix

    behind = create_app(app_config(tmp_path / "b", database_factory()))
    migrate.upgrade(behind.extensions["tessera.engine"], "0001")
    found = by_check(findings(behind, doctor.Level.PROBLEM), "migrations")
    assert "at revision 0001" in found[0].message
    assert "tessera db upgrade" in found[0].fix
    for app in (empty, behind):
        app.extensions["tessera.engine"].dispose()


# -- configuration, files and the machine --------------------------------------------------


def test_a_refused_configuration_is_reported_not_raised(tmp_path):
    env = {k: None for k in os.environ if k.startswith("TESSERA_")}
    env |= {
        "TESSERA_ENV": "production",
        "TESSERA_INSTANCE": str(tmp_path / "instance"),
        "TESSERA_PUBLIC_URL": "https://badges.example.org",
    }
    result = CliRunner().invoke(cli, ["doctor", "--json"], env=env)
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["healthy"] is False
    assert report["checks"][0]["level"] == "PROBLEM"
    assert "TESSERA_SECRET_KEY, TESSERA_KEK" in report["checks"][0]["message"]


def test_readable_secrets_file_is_a_problem(tmp_path, database_url, engine):
    config = app_config(tmp_path / "instance", database_url)
    del config["SECRET_KEY"], config["KEK"]
    app = create_app(config)  # generates instance/secrets.json, mode 0600
    secrets_file = tmp_path / "instance" / "secrets.json"
    assert not by_check(findings(app, doctor.Level.PROBLEM), "instance folder")
    secrets_file.chmod(0o644)
    found = by_check(findings(app, doctor.Level.PROBLEM), "instance folder")
    assert "others on this machine can read it" in found[0].message
    assert found[0].fix.startswith(f"chmod 600 {secrets_file}")
    app.extensions["tessera.engine"].dispose()


def test_a_clock_set_in_the_past_and_a_full_disk_are_problems(app, monkeypatch):
    with app.app_context():
        report = doctor.diagnose(app, now=datetime(2001, 1, 1, tzinfo=UTC))
    clock = by_check(report.findings, "clock")
    assert clock[0].level == doctor.Level.PROBLEM and "2001-01-01" in clock[0].message

    monkeypatch.setattr(doctor, "DISK_PROBLEM_BYTES", 1 << 62)
    disk = by_check(findings(app), "disk space")
    assert disk and all(f.level == doctor.Level.PROBLEM for f in disk)


def test_production_over_loopback_is_warned(tmp_path, database_url, engine):
    config = app_config(tmp_path / "instance", database_url) | {
        "ENV": "production",
        "PUBLIC_URL": "https://localhost:8443",
    }
    app = create_app(config)
    found = by_check(findings(app, doctor.Level.WARNING), "public URL")
    assert "loopback" in found[0].message
    app.extensions["tessera.engine"].dispose()


# -- Redis ---------------------------------------------------------------------------------


def test_redis_is_checked_when_configured(tmp_path, database_url, engine, redis_available):
    app = create_app(app_config(tmp_path / "instance", database_url) | {"REDIS_URL": REDIS_URL})
    queue = by_check(findings(app), "job queue")
    assert queue[0].level == doctor.Level.OK
    assert "answers" in queue[0].message and "task(s) waiting" in queue[0].message
    clocks = by_check(findings(app), "clock")
    assert any("the Redis server" in f.message for f in clocks)
    app.extensions["tessera.engine"].dispose()


def test_unreachable_redis_is_a_problem_and_its_password_stays_hidden(
    tmp_path, database_url, engine
):
    url = f"redis://:redis-pw-never-shown@127.0.0.1:{_free_port()}/9"
    app = create_app(app_config(tmp_path / "instance", database_url) | {"REDIS_URL": url})
    result = run_doctor(app.test_cli_runner())
    assert result.exit_code == 1
    assert "redis-pw-never-shown" not in result.output
    found = by_check(findings(app, doctor.Level.PROBLEM), "job queue")
    assert "cannot be reached" in found[0].message
    assert "TESSERA_REDIS_URL" in found[0].fix
    app.extensions["tessera.engine"].dispose()


def test_the_public_url_is_what_the_report_names(runner):
    assert PUBLIC_URL in run_doctor(runner).output


def test_rate_limit_storage_that_does_not_answer_is_a_problem(tmp_path, database_url, engine):
    url = f"redis://:limits-pw-never-shown@127.0.0.1:{_free_port()}/9"
    app = create_app(
        app_config(tmp_path / "instance", database_url) | {"RATELIMIT_STORAGE_URL": url}
    )
    if app.config.get("RATELIMIT_STORAGE_URL") != url:
        pytest.skip("this app does not rate-limit")
    result = run_doctor(app.test_cli_runner())
    assert result.exit_code == 1
    assert "limits-pw-never-shown" not in result.output
    found = by_check(findings(app, doctor.Level.PROBLEM), "rate limits")
    assert "cannot be reached" in found[0].message
    app.extensions["tessera.engine"].dispose()
