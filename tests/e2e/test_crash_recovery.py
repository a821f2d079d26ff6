"""SIGKILL at random moments of a bulk issue and of a mass revoke; after restart, all is exact.

test_bulk_crash.py kills a ``tessera worker`` once, at a fixed point, and stops ``tessera serve``
gracefully. Here each seed kills without warning, at a moment the seed picks, either the whole
service (gunicorn's master and its workers, where the embedded job consumer runs) or only its
worker processes (gunicorn starts new ones): once while a bulk job of ``ROWS`` learners is being
issued, once while a staff member's "revoke selected" of ``SELECTED`` credentials is in flight.
The coordinator then does what a person would: the service is started again, the revoke form is
sent again, and the bulk job is left to recover by itself (``recover_stale_jobs``).

Afterwards, for every seed: exactly the expected credentials exist (the job's rows once each,
nothing else), every credential's proofs verify with the project's verification pipeline, every
selected credential is revoked once, its bit is set in the status list the service publishes
(and no other bit is), and the audit chain verifies.

The seeds run side by side: a job whose worker was killed is only taken up again once its
heartbeat is ``bulk.STALE_AFTER`` (60 s) old, and waiting that out once per seed in turn would
take minutes. Bounded: ``FINISH_TIMEOUT`` per seed, all seeds well under three minutes.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credentials.status_list import decode_list, get_bit
from issuer import accounts, services
from issuer.audit import verify_chain
from issuer.clock import utcnow
from issuer.db import make_engine
from issuer.models import AuditEvent, BulkJob, IssuedCredential
from issuer.status import LocalStatusSource
from verifier import verify_credential
from verifier.resolvers import instance_resolver
from verifier.status import StatusChain

from .conftest import TESSERA, free_port, operator_env
from .instance import operator_app, seeded
from .test_bulk_crash import _stop_group

#: Between them: the service and only its workers killed, during each of the two operations.
SEEDS = (1234, 3, 12)
ROWS = 300
SELECTED = 120
START_TIMEOUT = 30
KILL_TIMEOUT = 60  # for the moment the seed picked to come
FINISH_TIMEOUT = 150  # after the kills: the stale limit (60 s), a recovery pass (30 s), the rest
REQUEST_TIMEOUT = 60
PASSWORD = "correct horse battery staple 42"
STAFF = "coordinator@example.org"


@dataclass
class Seeded:
    """One seed's instance: where it lives, and what was made before the service started."""

    seed: int
    cwd: Path
    env: dict[str, str]
    port: int
    achievement: str
    token: str
    selected: list[str]  # public ids of the credentials to revoke in one go

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def set_up(cwd: Path, database_url: str, seed: int) -> Seeded:
    """A centre, an achievement, an API token, a coordinator and ``SELECTED`` credentials."""
    port = free_port()
    env = operator_env(cwd, database_url, f"http://127.0.0.1:{port}")
    with operator_app(env) as app, seeded(app, token_name="crash") as made:
        accounts.create_user(
            made.db,
            email=STAFF,
            name="Coordinator",
            password=PASSWORD,
            now=made.now,
            organisation=made.centre,
            role="admin",
        )
        selected = [
            made.issue(f"Earlier {n}", f"earlier{n}@example.org").public_id for n in range(SELECTED)
        ]
        return Seeded(seed, cwd, env, port, made.achievement.public_id, made.token, selected)


# -- the service, its processes, and what a client sends it ----------------------------------


class Service:
    """``tessera serve`` (two gunicorn workers, the embedded job consumer) for one seed."""

    def __init__(self, seeded: Seeded) -> None:
        self.seeded = seeded
        self.log = seeded.cwd / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [str(TESSERA), "serve", "--port", str(self.seeded.port), "--workers", "2"],
                cwd=self.seeded.cwd,
                env=self.seeded.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_until_serving()

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with opener().open(f"{self.seeded.base_url}/healthz", timeout=2):
                    if len(self.workers()) == 2:
                        return
            except OSError:
                pass
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"not serving:\n{self.log.read_text()}"
            time.sleep(0.1)

    def workers(self) -> list[int]:
        assert self.process is not None
        pid = self.process.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except FileNotFoundError:
            return []

    def kill(self, target: str) -> None:
        """SIGKILL the whole service, or only its worker processes (gunicorn replaces them)."""
        assert self.process is not None
        if target == "service":
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            self.start()
            return
        killed = self.workers()
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + START_TIMEOUT
        while set(self.workers()) & set(killed) or len(self.workers()) < 2:
            assert time.monotonic() < deadline, f"no new workers:\n{self.log.read_text()}"
            time.sleep(0.1)
        self.wait_until_serving()

    def stop(self) -> None:
        if self.process is not None:
            _stop_group(self.process)


def opener(jar: http.cookiejar.CookieJar | None = None) -> urllib.request.OpenerDirector:
    handlers: list[Any] = [urllib.request.ProxyHandler({})]
    if jar is not None:
        handlers.append(urllib.request.HTTPCookieProcessor(jar))
    return urllib.request.build_opener(*handlers)


def api(seeded: Seeded, method: str, path: str, body: object = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{seeded.base_url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {seeded.token}",
            "Idempotency-Key": f"crash-{seeded.seed}",
        },
        method=method,
    )
    try:
        with opener().open(request, timeout=REQUEST_TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class Coordinator:
    """A signed-in staff member's browser: cookies, and the CSRF token of the last page."""

    def __init__(self, seeded: Seeded) -> None:
        self.seeded = seeded
        self.browser = opener(http.cookiejar.CookieJar())

    def page(self, path: str, form: dict[str, Any] | None = None) -> tuple[int, str]:
        data = None if form is None else urllib.parse.urlencode(form, doseq=True).encode()
        try:
            with self.browser.open(
                f"{self.seeded.base_url}{path}", data=data, timeout=REQUEST_TIMEOUT
            ) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def csrf(self, path: str) -> str:
        status, html = self.page(path)
        assert status == HTTPStatus.OK, html[:500]
        assert path == "/login" or "revoke-selected" in html, html[:500]
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert found, html[:500]
        return found.group(1)

    def sign_in(self) -> None:
        token = self.csrf("/login")
        status, html = self.page(
            "/login", {"email": STAFF, "password": PASSWORD, "csrf_token": token}
        )
        assert status == HTTPStatus.OK, html[:500]

    def revoke_selected(self, token: str) -> tuple[int, str]:
        return self.page(
            "/centre/credentials/revoke-selected",
            {
                "selected": self.seeded.selected,
                "reason": "Assessment withdrawn",
                "confirmed": "1",
                "csrf_token": token,
            },
        )


# -- what the database says ------------------------------------------------------------------


def count(engine: Any, *where: Any) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(IssuedCredential).where(*where))


def wait_for(condition: Any, what: str, service: Service, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: timed out\n{service.log.read_text()}"
        time.sleep(0.02)


# -- one seed ---------------------------------------------------------------------------------


def run_seed(seeded: Seeded) -> str:
    """Kill at the seed's moments, recover, then check everything; returns what was done."""
    rng = random.Random(seeded.seed)
    engine = make_engine(seeded.env["TESSERA_DATABASE_URL"])
    service = Service(seeded)
    service.start()
    try:
        # A bulk job, killed after a random number of its rows were issued.
        status, job = api(
            seeded,
            "POST",
            "/api/v1/bulk-jobs",
            {
                "achievement": seeded.achievement,
                "confirm": True,
                "rows": [
                    {"name": f"Learner {n}", "email": f"learner{n}@example.org"}
                    for n in range(ROWS)
                ],
            },
        )
        assert status == HTTPStatus.CREATED, job
        bulk_kill_at = rng.randint(1, ROWS * 2 // 3)
        bulk_target = rng.choice(["service", "workers"])
        in_job = IssuedCredential.bulk_job_id.is_not(None)
        wait_for(
            lambda: count(engine, in_job) >= bulk_kill_at, "bulk issuing", service, KILL_TIMEOUT
        )
        service.kill(bulk_target)
        left = ROWS - count(engine, in_job)

        # "Revoke selected", killed while the request is in flight.
        coordinator = Coordinator(seeded)
        coordinator.sign_in()
        form_token = coordinator.csrf("/centre/credentials")  # signed in: the list, not /login
        revoke_kill_at = rng.randint(1, SELECTED - 1)
        revoke_target = rng.choice(["service", "workers"])
        answers: list[tuple[int, str] | BaseException] = []

        def send() -> None:
            try:
                answers.append(coordinator.revoke_selected(form_token))
            except OSError as e:  # the connection died with the process
                answers.append(e)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        revoked = IssuedCredential.revoked_at.is_not(None)
        wait_for(
            lambda: count(engine, revoked) >= revoke_kill_at or answers,
            "revoking",
            service,
            KILL_TIMEOUT,
        )
        revoked_at_kill = count(engine, revoked)
        service.kill(revoke_target)
        sender.join(REQUEST_TIMEOUT)
        assert answers, "the revoke request hung"

        # The coordinator sends the form again; it reports what it had done already.
        status, html = coordinator.revoke_selected(form_token)
        assert status == HTTPStatus.OK, html[:1000]
        assert count(engine, revoked) == SELECTED

        # The bulk job recovers by itself.
        def finished() -> bool:
            with Session(engine) as session:
                return session.scalars(select(BulkJob.state)).one() == "finished"

        wait_for(finished, "the bulk job", service, FINISH_TIMEOUT)
        published = published_bits(seeded)
    finally:
        service.stop()

    check_everything(seeded, engine, job["id"], published)
    engine.dispose()
    return (
        f"seed {seeded.seed}: killed the {bulk_target} with {left} of {ROWS} rows left; "
        f"killed the {revoke_target} after {revoked_at_kill} of {SELECTED} revocations"
    )


def published_bits(seeded: Seeded) -> bytes:
    """The bits of the status list the service publishes (what every verifier reads)."""
    request = urllib.request.Request(
        f"{seeded.base_url}/orgs/northside/status/1",
        headers={"Accept": "application/vc+ld+json"},
    )
    with opener().open(request, timeout=REQUEST_TIMEOUT) as response:
        document = json.loads(response.read())
    return decode_list(document["credentialSubject"]["encodedList"])


def check_everything(seeded: Seeded, engine: Any, job_id: str, published: bytes) -> None:
    with Session(engine) as session:
        job = session.scalars(select(BulkJob).where(BulkJob.public_id == job_id)).one()
        assert (job.state, job.issued, job.failed) == ("finished", ROWS, 0)
        records = session.scalars(select(IssuedCredential)).all()
        from_job = [r for r in records if r.bulk_job_id == job.id]
        # Exactly the expected credentials: each row once, the earlier ones, nothing else.
        assert Counter(r.recipient_email for r in from_job) == Counter(
            f"learner{n}@example.org" for n in range(ROWS)
        )
        assert len(records) == ROWS + SELECTED
        assert len({(r.status_list_id, r.status_index) for r in records}) == len(records)

        selected = set(seeded.selected)
        for record in records:
            assert (record.revoked_at is not None) == (record.public_id in selected)
            assert get_bit(published, record.status_index) == (record.public_id in selected)

        revocations = Counter(
            session.scalars(
                select(AuditEvent.subject).where(AuditEvent.action == "credential.revoked")
            )
        )
        assert revocations == Counter(r.credential_id for r in records if r.revoked_at)
        issued_events = session.scalar(
            select(func.count()).where(AuditEvent.action == "credential.issued")
        )
        assert issued_events == len(records)
        assert verify_chain(session)[1] is None

        trusted = {o.did for o in services.list_organisations(session)}
        status = StatusChain([LocalStatusSource(session, seeded.env["TESSERA_PUBLIC_URL"])])
        resolver = instance_resolver(session)
        now = utcnow()
        for record in records:
            expected = "revoked" if record.public_id in selected else "valid"
            for form in (json.loads(record.document), record.jwt):
                result = verify_credential(
                    form, resolver=resolver, status=status, now=now, trusted_issuers=trusted
                )
                assert result.verdict == expected, (record.public_id, result)


def test_sigkill_during_bulk_issue_and_mass_revoke_loses_and_duplicates_nothing(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Any
) -> None:
    seeded = [
        set_up(tmp_path_factory.mktemp(f"seed{seed}"), database_factory(), seed) for seed in SEEDS
    ]
    with ThreadPoolExecutor(len(seeded)) as pool:
        reports = list(pool.map(run_seed, seeded))
    print("\n" + "\n".join(reports))
