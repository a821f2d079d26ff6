"""Scale-out: two app processes and two workers on one PostgreSQL and one Redis stay consistent.

The production layout the README describes, on one machine: two gunicorn apps (one worker
each, different ports, each with an instance folder of its own so nothing is shared through
the file system) and two ``tessera worker`` processes, all on the same PostgreSQL schema and
the same Redis, with the secrets given in the environment. Client threads then issue single
credentials through both apps, replay every Idempotency-Key against the *other* app, run two
bulk jobs through the workers (one each, as far as the queue hands them out), revoke a third of
everything while issuing goes on (some revoked through both apps at once), and verify through
both apps.

What must hold afterwards is what a centre or a verifier would notice: no request failed,
nobody got two credentials for one request, no two credentials share a status index, no
revocation was lost, the list each app publishes is the database's list bit for bit, the
verdicts are right whichever app is asked, and the audit chain is intact.

Skipped without TESSERA_TEST_DATABASE_URL (the PostgreSQL tests are); Redis is taken from
127.0.0.1:6379, and its absence fails the test under CI rather than skipping it.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credentials import status_list as bitstring
from issuer import jobs
from issuer.audit import verify_chain
from issuer.db import make_engine
from issuer.models import AuditEvent, IssuedCredential, StatusList

from .conftest import free_port, reachable_redis
from .instance import WELDING, operator_app, seeded

BIN = Path(sys.executable).parent
REDIS_DB = 11  # a database of this test's own; keys are also named by this run's queue
SEED = 4711
SINGLES = 150
BULK_JOBS = 2  # one task per job: two jobs give each worker one to take
# Long enough that the second job is queued while the first still runs, so that it goes to
# the other worker (a worker idle again when it arrives would take it half the time).
BULK_ROWS = 600
REVOKE_EVERY = 3  # a random third of the credentials are revoked
RACED = 5  # of the revoked singles, this many are revoked through both apps at once
BULK_VERIFIED = 20  # bulk credentials per job verified during the run
FINAL_SAMPLE = 10  # revoked and valid credentials verified through both apps at the end
CLIENT_THREADS = 4  # per pool: one pool issues, the other follows the bulk jobs
COMMAND_TIMEOUT = 60
START_TIMEOUT = 30
REQUEST_TIMEOUT = 30
BULK_TIMEOUT = 90
STOP_TIMEOUT = 40  # above gunicorn's graceful timeout (30 s)

# Talk to the local processes directly, whatever proxy the environment names.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# -- the processes ----------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return f"--- {self.name} ({self.log}) ---\n{self.log.read_text(errors='replace')}"


def _start(name: str, command: list[str], cwd: Path, env: dict[str, str]) -> Process:
    log = cwd / f"{name}.log"
    with log.open("wb") as output:
        popen = subprocess.Popen(
            command,
            cwd=cwd,
            env=env | {"TESSERA_INSTANCE": str(cwd / name), "PYTHONUNBUFFERED": "1"},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name, popen, log)


def _stop(process: Process) -> None:
    """SIGTERM, then SIGKILL to the whole process group if it does not go in time."""
    if process.popen.poll() is not None:
        return
    process.popen.send_signal(signal.SIGTERM)
    try:
        process.popen.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.popen.pid, signal.SIGKILL)
        process.popen.wait(timeout=STOP_TIMEOUT)


def _wait_until_healthy(process: Process, base_url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            with _http.open(f"{base_url}/healthz", timeout=2) as response:
                if response.status == HTTPStatus.OK:
                    return
        except OSError:
            pass
        if process.popen.poll() is not None or time.monotonic() > deadline:
            pytest.fail(
                f"{process.name} did not become healthy in {START_TIMEOUT} s:\n" + process.output()
            )
        time.sleep(0.2)


def _wait_until_consuming(process: Process) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while "Worker for" not in process.log.read_text(errors="replace"):
        if process.popen.poll() is not None or time.monotonic() > deadline:
            pytest.fail(
                f"{process.name} did not start consuming in {START_TIMEOUT} s:\n" + process.output()
            )
        time.sleep(0.2)


@dataclass
class Cluster:
    apps: list[str]  # base URLs
    token: str
    achievement: str
    database_url: str
    processes: list[Process] = field(default_factory=list)

    def logs(self) -> str:
        return "\n".join(p.output() for p in self.processes)


def _set_up(env: dict[str, str], cwd: Path) -> tuple[str, str]:
    """`tessera init`, then a centre, an achievement and an API token through the services.

    (Each `tessera` command spends seconds importing; the processes serving are what is
    tested here.) Returns the achievement's public id and the token.
    """
    setup = env | {"TESSERA_INSTANCE": str(cwd / "setup")}
    result = subprocess.run(
        [str(BIN / "tessera"), "init"],
        cwd=cwd,
        env=setup,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    secrets_given = {"KEK": env["TESSERA_KEK"], "SECRET_KEY": env["TESSERA_SECRET_KEY"]}
    with (
        operator_app(setup, **secrets_given) as app,
        seeded(app, token_name="scale-out test", achievement=WELDING) as made,
    ):
        return made.achievement.public_id, made.token


@pytest.fixture
def cluster(tmp_path: Path, database_factory) -> Iterator[Cluster]:  # type: ignore[no-untyped-def]
    """Two gunicorn apps and two workers on one PostgreSQL schema and one Redis database."""
    if not os.environ.get("TESSERA_TEST_DATABASE_URL"):
        pytest.skip("needs PostgreSQL: set TESSERA_TEST_DATABASE_URL")
    redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    client = reachable_redis(redis_url)
    run = secrets.token_hex(4)
    # A public URL of its own gives this run a queue of its own in the shared Redis.
    public_url = f"https://scale-{run}.test"
    limiter_prefix = f"tessera-scale-{run}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "FLASK_"))}
    env |= {
        "TESSERA_ENV": "production",
        "TESSERA_DATABASE_URL": database_factory(),
        "TESSERA_PUBLIC_URL": public_url,
        "TESSERA_REDIS_URL": redis_url,
        "TESSERA_KEK": Fernet.generate_key().decode(),
        "TESSERA_SECRET_KEY": secrets.token_urlsafe(48),
        "TESSERA_RATELIMIT_KEY_PREFIX": limiter_prefix,
        "TESSERA_ISSUE_RATE_LIMIT": "100000/minute",
        "TESSERA_VERIFY_RATE_LIMIT": "100000/minute",
        "TESSERA_REMOTE_RESOLUTION": "false",
    }
    achievement, token = _set_up(env, tmp_path)
    ports = [free_port(), free_port()]
    cluster = Cluster(
        apps=[f"http://127.0.0.1:{port}" for port in ports],
        token=token,
        achievement=achievement,
        database_url=env["TESSERA_DATABASE_URL"],
    )
    try:
        for n, port in enumerate(ports):
            app_env = env | {
                "TESSERA_BIND": f"127.0.0.1:{port}",
                "TESSERA_WORKERS": "1",
                "TESSERA_ACCESS_LOG": "off",
            }
            command = [
                str(BIN / "gunicorn"),
                "-c",
                "python:issuer.gunicorn_conf",
                "issuer.app:create_app()",
            ]
            cluster.processes.append(_start(f"app-{n}", command, tmp_path, app_env))
        for n in range(2):
            command = [str(BIN / "tessera"), "worker"]
            cluster.processes.append(_start(f"worker-{n}", command, tmp_path, env))
        for process, base_url in zip(cluster.processes, cluster.apps, strict=False):
            _wait_until_healthy(process, base_url)
        for process in cluster.processes[2:]:
            _wait_until_consuming(process)
        yield cluster
        for process in cluster.processes:
            _stop(process)
            assert process.popen.returncode == 0, process.output()
    finally:
        for process in cluster.processes:
            _stop(process)
        queue = jobs.queue_name({"PUBLIC_URL": public_url})
        for pattern in (f"huey.*{queue}*", f"*{limiter_prefix}*"):
            for key in client.scan_iter(match=pattern):
                client.delete(key)
        client.close()


# -- talking to them --------------------------------------------------------------------------


def _endpoint(path: str) -> str:
    """The path with its ids taken out, to count requests by endpoint."""
    path = re.sub(r"/(credentials|bulk-jobs)/[^/]+", r"/\1/<id>", path)
    return re.sub(r"/status/\d+$", "/status/<n>", path)


@dataclass
class Client:
    """HTTP to the apps, failing with what was seen whenever a status is not the expected one."""

    cluster: Cluster
    seen: Counter[tuple[str, int]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def call(
        self,
        app: int,
        method: str,
        path: str,
        body: object = None,
        *,
        expect: tuple[int, ...] = (HTTPStatus.OK,),
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        request = urllib.request.Request(
            self.cluster.apps[app] + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"Bearer {self.cluster.token}",
                "Content-Type": "application/json",
                **(headers or {}),
            },
        )
        try:
            with _http.open(request, timeout=REQUEST_TIMEOUT) as response:
                status, answer, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as e:
            status, answer, raw = e.code, dict(e.headers), e.read()
        with self._lock:
            self.seen[(f"{method} {_endpoint(path)}", status)] += 1
        if status not in expect:
            raise AssertionError(
                f"{method} {path} on app-{app} answered {status}, expected {expect}: "
                f"{raw[:2000].decode(errors='replace')}"
            )
        content_type = answer.get("Content-Type", "")
        return status, answer, json.loads(raw) if "json" in content_type else raw.decode()

    def verdict(self, app: int, credential: object) -> str:
        _, _, result = self.call(app, "POST", "/api/v1/verify", {"credential": credential})
        return str(result["verdict"])

    def revoke(self, app: int, public_id: str, *, expect: tuple[int, ...] = (200,)) -> int:
        status, _, _ = self.call(
            app,
            "POST",
            f"/api/v1/credentials/{public_id}/revoke",
            {"reason": "Issued by mistake"},
            expect=expect,
        )
        return status


@dataclass
class Issued:
    public_id: str
    credential_id: str
    document: dict[str, Any]
    jwt: str


def _issue_one(client: Client, n: int, key: str, revoke: bool, raced: bool) -> Issued:
    """Issue through one app, replay through the other, revoke (maybe through both), verify."""
    here, there = n % 2, (n + 1) % 2
    body = {
        "achievement": client.cluster.achievement,
        "name": f"Single Learner {n}",
        "email": f"single{n}@example.org",
        "externalId": f"S-{n:04d}",
    }
    headers = {"Idempotency-Key": key}
    _, _, first = client.call(
        here, "POST", "/api/v1/credentials", body, headers=headers, expect=(HTTPStatus.CREATED,)
    )
    _, replay_headers, again = client.call(
        there, "POST", "/api/v1/credentials", body, headers=headers
    )
    assert replay_headers.get("Idempotent-Replayed") == "true", replay_headers
    assert (again["id"], again["credentialId"]) == (first["id"], first["credentialId"]), (
        f"key {key}: app-{there} replayed {again['id']}, app-{here} issued {first['id']}"
    )
    issued = Issued(first["id"], first["credentialId"], first["credential"], first["jwt"])
    if raced:
        _revoke_through_both(client, issued.public_id)
    elif revoke:
        client.revoke(there, issued.public_id)
    credential: object = issued.jwt if n % 2 else issued.document
    expected = "revoked" if revoke else "valid"
    assert client.verdict(there, credential) == expected, f"{issued.public_id} ({key})"
    return issued


def _revoke_through_both(client: Client, public_id: str) -> None:
    """Both apps revoke the same credential at once: exactly one of them may do it."""
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def revoke(app: int) -> None:
        start.wait(timeout=REQUEST_TIMEOUT)
        try:
            outcomes.append(str(client.revoke(app, public_id, expect=(200, 409))))
        except AssertionError as e:
            outcomes.append(str(e))

    racers = [threading.Thread(target=revoke, args=(app,)) for app in (0, 1)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=REQUEST_TIMEOUT * 2)
    assert sorted(outcomes) == ["200", "409"], f"{public_id} revoked through both apps: {outcomes}"


def _create_bulk_job(client: Client, n: int) -> str:
    """A confirmed bulk job through app n; its Idempotency-Key replayed through the other."""
    body = {
        "achievement": client.cluster.achievement,
        "rows": [
            {"name": f"Bulk Learner {n}-{r}", "email": f"bulk{n}-{r}@example.org"}
            for r in range(BULK_ROWS)
        ],
        "confirm": True,
    }
    headers = {"Idempotency-Key": f"scale-bulk-{n}"}
    _, _, created = client.call(
        n % 2, "POST", "/api/v1/bulk-jobs", body, headers=headers, expect=(HTTPStatus.CREATED,)
    )
    _, _, replayed = client.call((n + 1) % 2, "POST", "/api/v1/bulk-jobs", body, headers=headers)
    assert replayed["id"] == created["id"], (created["id"], replayed["id"])
    assert created["total"] == BULK_ROWS and created["state"] != "preview", created["state"]
    return str(created["id"])


def _wait_for_job(client: Client, job_id: str, n: int) -> list[str]:
    """The job's credentials (public ids) once it is finished, asking both apps in turn."""
    deadline = time.monotonic() + BULK_TIMEOUT
    polls = 0
    while True:
        _, _, job = client.call(polls % 2, "GET", f"/api/v1/bulk-jobs/{job_id}")
        if job["state"] == "finished":
            break
        assert job["state"] in ("queued", "running"), f"bulk job {n}: {job['state']}"
        assert time.monotonic() < deadline, (
            f"bulk job {n} not finished in {BULK_TIMEOUT} s: {job['state']}, "
            f"{job['issued']} of {job['total']} issued\n{client.cluster.logs()}"
        )
        # Lists are also published while revocations go on (the end checks they are fresh).
        client.call(polls % 2, "GET", "/orgs/northside/status/1", expect=(200, 404))
        polls += 1
        time.sleep(0.5)
    assert (job["issued"], job["failed"]) == (BULK_ROWS, 0), job
    return [row["credential"]["public_id"] for row in job["rows"]]


def _follow_up_bulk(client: Client, public_id: str, n: int, revoke: bool, verify: bool) -> None:
    if revoke:
        client.revoke(n % 2, public_id)
    if verify:
        _, _, detail = client.call((n + 1) % 2, "GET", f"/api/v1/credentials/{public_id}")
        credential = detail["jwt"] if n % 2 else detail["credential"]
        expected = "revoked" if revoke else "valid"
        assert client.verdict(n % 2, credential) == expected, public_id


def _published_bits(client: Client, app: int, sequence: int) -> dict[str, bytes]:
    """The list app serves at /orgs/northside/status/<sequence>, decoded, in both forms."""
    path = f"/orgs/northside/status/{sequence}"
    _, _, document = client.call(app, "GET", path, headers={"Accept": "application/vc+ld+json"})
    _, _, token = client.call(app, "GET", path, headers={"Accept": "application/vc+jwt"})
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return {
        "embedded proof": bitstring.decode_list(document["credentialSubject"]["encodedList"]),
        "VC-JWT": bitstring.decode_list(claims["credentialSubject"]["encodedList"]),
    }


def _jobs_finished_by(process: Process) -> list[str]:
    """The bulk jobs (database ids) this worker's log says it finished."""
    return re.findall(r"bulk job (\d+): finished", process.log.read_text(errors="replace"))


SINGLE_KEYS = [f"scale-single-{n}" for n in range(SINGLES)]


@dataclass
class Workload:
    singles: list[Issued]  # in the order of SINGLE_KEYS
    bulk: list[str]  # public ids of the bulk jobs' credentials
    revoked_bulk: set[str]


def _drive(client: Client, rng: random.Random, revoked: set[int], raced: set[int]) -> Workload:
    """Issue, replay, revoke and verify from two pools of threads at once; stop early on failure.

    One pool issues the singles; the other creates the bulk jobs and, as each finishes,
    revokes and verifies some of its credentials while the singles are still being issued.
    """
    with (
        ThreadPoolExecutor(CLIENT_THREADS, thread_name_prefix="issue") as issuing,
        ThreadPoolExecutor(CLIENT_THREADS, thread_name_prefix="bulk") as following,
    ):
        try:
            job_ids = _results(
                [following.submit(_create_bulk_job, client, n) for n in range(BULK_JOBS)]
            )
            singles = [
                issuing.submit(_issue_one, client, n, key, n in revoked, n in raced)
                for n, key in enumerate(SINGLE_KEYS)
            ]
            bulk_ids: list[str] = []
            revoked_bulk: set[str] = set()
            follow_ups: list[Future[None]] = []
            for n, job_id in enumerate(job_ids):
                public_ids = _wait_for_job(client, job_id, n)
                bulk_ids += public_ids
                chosen = set(rng.sample(public_ids, BULK_ROWS // REVOKE_EVERY))
                verified = set(rng.sample(public_ids, BULK_VERIFIED))
                revoked_bulk |= chosen
                follow_ups += [
                    following.submit(_follow_up_bulk, client, p, i, p in chosen, p in verified)
                    for i, p in enumerate(public_ids)
                ]
            issued = _results(singles)
            _results(follow_ups)
        except BaseException:
            issuing.shutdown(wait=False, cancel_futures=True)
            following.shutdown(wait=False, cancel_futures=True)
            raise
    return Workload(issued, bulk_ids, revoked_bulk)


def _results(futures: list[Future[Any]]) -> list[Any]:
    return [future.result(timeout=BULK_TIMEOUT) for future in futures]


# -- what must hold afterwards -----------------------------------------------------------------


def _check_credentials(
    records: Sequence[IssuedCredential], all_ids: list[str], keys: list[str], revoked: set[str]
) -> None:
    """Every request issued exactly one credential, whichever app or worker took it."""
    assert len(records) == len(all_ids)
    assert sorted(r.public_id for r in records) == sorted(all_ids)
    single_keys = sorted(str(r.idempotency_key) for r in records if r.bulk_job_id is None)
    assert single_keys == sorted(keys)
    assert len({r.credential_id for r in records}) == len(records)
    places = Counter((r.status_list_id, r.status_index) for r in records)
    shared = [place for place, count in places.items() if count > 1]
    assert not shared, f"(list, index) held by more than one credential: {shared}"
    # No revocation was lost: the database says revoked exactly where the API said so.
    in_database = {r.public_id for r in records if r.revoked_at is not None}
    assert in_database == revoked, (
        f"revoked through the API, not in the database: {sorted(revoked - in_database)}; "
        f"revoked in the database only: {sorted(in_database - revoked)}"
    )


def _bits_unlike(bits: bytes, expected: bytes) -> str:
    if len(bits) != len(expected):
        return f"{len(bits)} bytes, not {len(expected)}"
    differing = [
        i
        for i in range(len(bits) * 8)
        if bitstring.get_bit(bits, i) != bitstring.get_bit(expected, i)
    ]
    return f"{len(differing)} bits differ, e.g. indexes {differing[:10]}"


def _check_list(
    client: Client, status_list: StatusList, records: Sequence[IssuedCredential]
) -> None:
    """The list's bits are its revoked credentials', and both apps publish exactly those bits."""
    held = [r for r in records if r.status_list_id == status_list.id]
    assert status_list.allocated == len(held), (status_list.allocated, len(held))
    expected = bytearray(len(status_list.bits))
    for record in held:
        if record.revoked_at is not None:
            assert record.status_index is not None
            bitstring.set_bit(expected, record.status_index)
    assert status_list.bits == bytes(expected), (
        f"list {status_list.sequence} in the database: "
        + _bits_unlike(status_list.bits, bytes(expected))
    )
    for app in (0, 1):
        for form, bits in _published_bits(client, app, status_list.sequence).items():
            assert bits == status_list.bits, (
                f"app-{app} publishes list {status_list.sequence} ({form}) unlike the database: "
                + _bits_unlike(bits, status_list.bits)
            )


def _check_audit(session: Session, *, issued: int, revoked: int) -> None:
    """One audit event per credential issued and per revocation, in an unbroken chain."""
    actions = Counter(
        session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.action.in_(("credential.issued", "credential.revoked"))
            )
        )
    )
    assert actions == {"credential.issued": issued, "credential.revoked": revoked}, actions
    checked, broken = verify_chain(session)
    assert broken is None, f"the audit chain breaks at event {broken} ({checked} checked)"
    assert checked == session.scalar(select(func.count()).select_from(AuditEvent))


# -- the test ---------------------------------------------------------------------------------


@pytest.mark.postgres
def test_two_apps_and_two_workers_stay_consistent(cluster: Cluster) -> None:
    client = Client(cluster)
    rng = random.Random(SEED)
    revoked_singles = set(rng.sample(range(SINGLES), SINGLES // REVOKE_EVERY))
    raced_singles = set(rng.sample(sorted(revoked_singles), RACED))

    try:
        workload = _drive(client, rng, revoked_singles, raced_singles)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{cluster.logs()}") from e
    # The queue hands one job to each idle worker: both processes took part.
    finished_by = {p.name: _jobs_finished_by(p) for p in cluster.processes[2:]}
    assert all(finished_by.values()), f"bulk jobs finished per worker: {finished_by}"
    issued, bulk_ids = workload.singles, workload.bulk
    revoked_ids = {issued[n].public_id for n in revoked_singles} | workload.revoked_bulk
    all_ids = [i.public_id for i in issued] + bulk_ids
    assert len(set(all_ids)) == SINGLES + BULK_JOBS * BULK_ROWS

    engine = make_engine(cluster.database_url)
    try:
        with Session(engine) as session:
            records = session.scalars(select(IssuedCredential)).all()
            _check_credentials(records, all_ids, SINGLE_KEYS, revoked_ids)
            lists = session.scalars(select(StatusList).order_by(StatusList.sequence)).all()
            assert lists, "no status list was created"
            for status_list in lists:
                _check_list(client, status_list, records)
            _check_audit(session, issued=len(records), revoked=len(revoked_ids))
            documents = {r.public_id: json.loads(r.document) for r in records}
    finally:
        engine.dispose()

    # Settled: a sample of revoked and valid credentials gives the same verdict on either app.
    final = random.Random(SEED + 1)
    sample = final.sample(sorted(revoked_ids), FINAL_SAMPLE) + final.sample(
        sorted(set(all_ids) - revoked_ids), FINAL_SAMPLE
    )
    for public_id in sample:
        document = documents[public_id]
        expected = "revoked" if public_id in revoked_ids else "valid"
        for app in (0, 1):
            assert client.verdict(app, document) == expected, f"{public_id} on app-{app}"
    print(f"\nscale-out test: bulk jobs finished per worker: {finished_by}")
    for (endpoint, status), count in sorted(client.seen.items()):
        print(f"  {count:4d} x {status} {endpoint}")
