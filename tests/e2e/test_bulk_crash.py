"""Bulk jobs survive their worker being killed, and the service being restarted.

The issue's test: a job of 2,000 rows whose ``tessera worker`` is killed with SIGKILL mid-way,
then another started, on PostgreSQL with the Redis-backed queue. It ends with exactly 2,000
credentials, every status index unique, every row issued once, and the audit chain intact.
Skipped without TESSERA_TEST_DATABASE_URL (it is the PostgreSQL test); Redis is taken from
127.0.0.1:6379, and its absence fails the test under CI rather than skipping it.

And the embedded default: ``tessera serve`` (two gunicorn workers, no Redis) runs a job itself,
is stopped mid-job and started again, and the job finishes without issuing anyone twice.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from issuer import jobs
from issuer.audit import verify_chain
from issuer.models import AuditEvent, BulkJob, BulkRow, IssuedCredential

from .conftest import (
    CREATE_ACHIEVEMENT,
    CREATE_CENTRE,
    TESSERA,
    free_port,
    operator_env,
    reachable_redis,
)

ROWS = 2_000
REDIS_URL = "redis://127.0.0.1:6379/0"
COMMAND_TIMEOUT = 120
KILL_AFTER_ROWS = 200  # kill the first worker once this many rows are issued
FIRST_WORKER_TIMEOUT = 120
FINISH_TIMEOUT = 300  # after the second worker starts: stale limit (60 s) + ~1,800 rows


@pytest.fixture
def workdir(tmp_path, database_factory):
    """An operator's environment: PostgreSQL, Redis, and a queue of this run's own."""
    if not os.environ.get("TESSERA_TEST_DATABASE_URL"):
        pytest.skip("needs PostgreSQL: set TESSERA_TEST_DATABASE_URL")
    client = reachable_redis(REDIS_URL)
    # A public URL of its own gives this run a queue of its own in the shared Redis.
    public_url = f"https://crash-{secrets.token_hex(4)}.test"
    env = operator_env(tmp_path, database_factory(), public_url)
    env["TESSERA_REDIS_URL"] = REDIS_URL
    yield tmp_path, env
    name = jobs.queue_name({"PUBLIC_URL": public_url})
    for key in client.scan_iter(match=f"huey.*{name}*"):
        client.delete(key)
    client.close()


def tessera(workdir, *args):
    cwd, env = workdir
    result = subprocess.run(
        [str(TESSERA), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def bulk_create(workdir, achievement: str, sheet: Path) -> dict:
    """``tessera bulk create --confirm`` of the sheet's rows; the job as ``--json`` reports it."""
    return json.loads(
        tessera(
            workdir,
            "bulk",
            "create",
            "--org",
            "northside",
            "--achievement",
            achievement,
            sheet,
            "--confirm",
            "--json",
        )
    )


def start_worker(workdir, log: Path) -> subprocess.Popen:
    cwd, env = workdir
    with log.open("ab") as output:
        return subprocess.Popen(
            [str(TESSERA), "worker"], cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


def job_state(engine, job_id: str) -> BulkJob:
    with Session(engine) as session:
        return session.scalars(select(BulkJob).where(BulkJob.public_id == job_id)).one()


def issued_rows(engine, job: BulkJob) -> int:
    with Session(engine) as session:
        return session.scalar(
            select(func.count()).where(BulkRow.job_id == job.id, BulkRow.status == "issued")
        )


@pytest.mark.postgres
def test_a_killed_worker_issues_nobody_twice(workdir):
    cwd, env = workdir
    tessera(workdir, "init")
    tessera(workdir, *CREATE_CENTRE)
    achievement = tessera(workdir, *CREATE_ACHIEVEMENT).strip()
    sheet = cwd / "cohort.csv"
    sheet.write_text(
        "name,email,external_id\n"
        + "".join(f"Learner {n},learner{n}@example.org,L-{n:05d}\n" for n in range(ROWS)),
        "utf-8",
    )
    created = bulk_create(workdir, achievement, sheet)
    assert (created["state"], created["total"], created["invalid"]) == ("queued", ROWS, 0)
    engine = create_engine(env["TESSERA_DATABASE_URL"])
    log = cwd / "workers.log"
    first = start_worker(workdir, log)
    second = None
    try:
        job = job_state(engine, created["id"])
        deadline = time.monotonic() + FIRST_WORKER_TIMEOUT
        started = None
        while (done := issued_rows(engine, job)) < KILL_AFTER_ROWS:
            if started is None and done:
                started = (time.monotonic(), done)
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"only {done} rows issued:\n{log.read_text()}"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        killed_at = time.monotonic()
        at_kill = issued_rows(engine, job)
        assert job_state(engine, created["id"]).state == "running"  # left behind mid-job
        assert at_kill < ROWS
        first_rate = (at_kill - started[1]) / (killed_at - started[0])

        second = start_worker(workdir, log)
        resumed = None
        deadline = time.monotonic() + FINISH_TIMEOUT
        while (current := job_state(engine, created["id"])).state != "finished":
            if resumed is None and issued_rows(engine, job) > at_kill:
                resumed = time.monotonic()
            assert second.poll() is None, log.read_text()
            assert time.monotonic() < deadline, (
                f"not finished in {FINISH_TIMEOUT} s: {current.issued} issued\n{log.read_text()}"
            )
            time.sleep(0.2)
        finished_at = time.monotonic()
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, log.read_text()
    finally:
        stop(first)
        if second is not None:
            stop(second)

    with Session(engine) as session:
        job = session.scalars(select(BulkJob).where(BulkJob.public_id == created["id"])).one()
        assert (job.state, job.issued, job.failed) == ("finished", ROWS, 0)
        records = session.scalars(select(IssuedCredential)).all()
        assert len(records) == ROWS  # none outside the job, none twice
        assert all(r.bulk_job_id == job.id for r in records)
        assert sorted(r.idempotency_key for r in records) == sorted(
            f"bulk:{job.public_id}:{n}" for n in range(2, ROWS + 2)
        )
        assert len({(r.status_list_id, r.status_index) for r in records}) == ROWS
        assert len({r.recipient_email for r in records}) == ROWS
        rows = session.scalars(select(BulkRow).where(BulkRow.job_id == job.id)).all()
        assert len(rows) == ROWS
        assert {r.status for r in rows} == {"issued"}
        assert len({r.credential_id for r in rows}) == ROWS
        assert {r.credential_id for r in rows} == {r.id for r in records}
        issued_events = session.scalar(
            select(func.count()).where(AuditEvent.action == "credential.issued")
        )
        assert issued_events == ROWS
        checked, broken = verify_chain(session)
        assert broken is None and checked > ROWS
    engine.dispose()
    resumed_rate = (ROWS - at_kill) / (finished_at - (resumed or finished_at))
    print(
        f"\nbulk crash test: killed after {at_kill} rows; first worker {first_rate:.1f} "
        f"credentials/s; second worker resumed {resumed - killed_at:.0f} s after the kill and "
        f"issued {ROWS - at_kill} in {finished_at - resumed:.0f} s ({resumed_rate:.1f}/s)"
    )


# -- the embedded default: tessera serve runs the jobs ---------------------------------------

SERVE_ROWS = 60


def _serve(cwd: Path, env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with log.open("ab") as output:
        server = subprocess.Popen(
            [str(TESSERA), "serve", "--port", str(port), "--workers", "2"],
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 20
    while True:
        try:
            with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.2)


def _stop_group(server: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if server.poll() is None:
        os.killpg(server.pid, sig)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


def test_serve_runs_jobs_itself_and_a_restart_issues_nobody_twice(tmp_path, database_factory):
    port = free_port()
    env = operator_env(tmp_path, database_factory(), f"http://127.0.0.1:{port}")
    workdir = (tmp_path, env)
    tessera(workdir, "init")
    tessera(workdir, *CREATE_CENTRE)
    achievement = tessera(
        workdir,
        "achievement",
        "create",
        "--org",
        "northside",
        "--name",
        "Stack pallets safely",
        "--description",
        "Stacks pallets.",
        "--criteria",
        "Observed at work.",
    ).strip()
    sheet = tmp_path / "cohort.csv"
    sheet.write_text(
        "name,email\n"
        + "".join(f"Learner {n},learner{n}@example.org\n" for n in range(SERVE_ROWS)),
        "utf-8",
    )
    log = tmp_path / "server.log"
    server = _serve(tmp_path, env, port, log)
    engine = create_engine(env["TESSERA_DATABASE_URL"])
    try:
        created = bulk_create(workdir, achievement, sheet)
        job = job_state(engine, created["id"])
        deadline = time.monotonic() + 60
        while issued_rows(engine, job) < 5:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        _stop_group(server)  # a restart of the service, mid-job
        assert server.returncode == 0, log.read_text()
        stopped = job_state(engine, created["id"])
        assert stopped.state in ("queued", "finished"), stopped.state  # handed back
        server = _serve(tmp_path, env, port, log)
        deadline = time.monotonic() + 120
        while (current := job_state(engine, created["id"])).state != "finished":
            assert time.monotonic() < deadline, f"{current.issued} issued\n{log.read_text()}"
            time.sleep(0.2)
    finally:
        _stop_group(server)
    with Session(engine) as session:
        records = session.scalars(select(IssuedCredential)).all()
        assert len(records) == SERVE_ROWS
        assert len({r.idempotency_key for r in records}) == SERVE_ROWS
        assert len({(r.status_list_id, r.status_index) for r in records}) == SERVE_ROWS
        assert verify_chain(session)[1] is None
    engine.dispose()
    assert "Background jobs: SQLite" in log.read_text()
