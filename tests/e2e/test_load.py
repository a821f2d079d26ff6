"""A bounded load run on loopback against real gunicorn: no 5xx, nothing lost, memory steady.

Two gunicorn workers (``issuer/gunicorn_conf.py``) on SQLite; client threads mix the three
things the service does most for ``RUN_SECONDS``: verify (80 %), issue (15 %), revoke (5 %).
Then it checks what a user would notice: no answer was a 5xx or a dropped connection, every
credential a client was given exists exactly once and nothing else was issued, every revoke
took effect (the credential verifies as revoked through the published status list), and each
worker's resident memory grew by less than ``RSS_GROWTH_LIMIT`` between the middle and the
end of the run (after warm-up). Rate limits are raised through their ``TESSERA_*`` settings.

Time appears only as bounds (the run's length, timeouts); the throughput is printed, not
asserted (bench/ measures speed).
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from issuer.models import IssuedCredential

from .conftest import free_port, operator_env
from .instance import operator_app, seeded
from .test_gunicorn import start_gunicorn, stop, wait_until_healthy

RUN_SECONDS = 24
CLIENTS = 8
SEEDS = 12  # credentials issued before the run, verified (never revoked) during it
REQUEST_TIMEOUT = 30
#: A worker's resident memory may grow this much from the middle of the run to its end.
RSS_GROWTH_LIMIT_KB = 16 * 1024
MIX = (("verify", 80), ("issue", 15), ("revoke", 5))

# Talk to the local server directly, whatever proxy the environment names.
http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(base_url: str, method: str, path: str, body: object, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{base_url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method=method,
    )
    try:
        with http.open(request, timeout=REQUEST_TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def set_up(env: dict[str, str]) -> tuple[str, str, list[dict[str, Any]]]:
    """A centre, an achievement, a token and ``SEEDS`` credentials; (achievement, token, seeds)."""
    with operator_app(env) as app, seeded(app, token_name="load") as made:
        seeds = [
            json.loads(made.issue(f"Seed {n}", f"seed{n}@example.org").document)
            for n in range(SEEDS)
        ]
        return made.achievement.public_id, made.token, seeds


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


@dataclass
class Tally:
    """What the clients saw, shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    issued: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> credential id
    revoked: list[str] = field(default_factory=list)


def client(
    base_url: str,
    achievement: str,
    token: str,
    seeds: list[dict[str, Any]],
    *,
    number: int,
    until: float,
    tally: Tally,
) -> None:
    rng = random.Random(number)
    mine: list[str] = []  # credentials this client issued and has not revoked
    sent = 0
    while time.monotonic() < until:
        action = rng.choices([a for a, _ in MIX], weights=[w for _, w in MIX])[0]
        if action == "revoke" and not mine:
            action = "issue"
        try:
            if action == "verify":
                status, body = call(
                    base_url, "POST", "/api/v1/verify", {"credential": rng.choice(seeds)}, token
                )
                if status == HTTPStatus.OK and body["verdict"] != "valid":
                    tally.failures.append(f"a seed verified as {body['verdict']}")
            elif action == "issue":
                key = f"load-{number}-{sent}"
                sent += 1
                status, body = call(
                    base_url,
                    "POST",
                    "/api/v1/credentials",
                    {
                        "achievement": achievement,
                        "name": f"Learner {key}",
                        "email": f"{key}@example.org",
                    },
                    token,
                )
                if status == HTTPStatus.CREATED:
                    mine.append(body["id"])
                    with tally.lock:
                        tally.issued[key] = body["id"]
            else:
                target = mine.pop(rng.randrange(len(mine)))
                status, body = call(
                    base_url,
                    "POST",
                    f"/api/v1/credentials/{target}/revoke",
                    {"reason": "load test"},
                    token,
                )
                if status == HTTPStatus.OK:
                    with tally.lock:
                        tally.revoked.append(target)
        except OSError as e:  # a dropped connection is as bad as a 5xx
            with tally.lock:
                tally.failures.append(f"{action}: {type(e).__name__}: {e}")
            continue
        with tally.lock:
            tally.statuses[(action, status)] += 1
            if status >= 500 or status not in (HTTPStatus.OK, HTTPStatus.CREATED):
                tally.failures.append(f"{action} answered {status}: {str(body)[:300]}")


def test_a_mixed_load_run_loses_nothing_and_keeps_memory_steady(tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = operator_env(tmp_path, f"sqlite:///{tmp_path / 'instance' / 'tessera.db'}", base_url)
    env |= {
        "TESSERA_VERIFY_RATE_LIMIT": "1000000/minute",
        "TESSERA_ISSUE_RATE_LIMIT": "1000000/minute",
    }
    achievement, token, seeds = set_up(env)

    server = start_gunicorn(tmp_path, env, port)
    log = tmp_path / "gunicorn.log"
    tally = Tally()
    try:
        wait_until_healthy(base_url, server, log)
        deadline = time.monotonic() + 30
        while len(workers := worker_pids(server.pid)) < 2:
            assert time.monotonic() < deadline, f"only workers {workers}:\n{log.read_text()}"
            time.sleep(0.1)
        started = time.monotonic()
        until = started + RUN_SECONDS
        threads = [
            threading.Thread(
                target=client,
                args=(base_url, achievement, token, seeds),
                kwargs={"number": n, "until": until, "tally": tally},
                daemon=True,
            )
            for n in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(RUN_SECONDS / 2)
        middle = {pid: rss_kb(pid) for pid in workers}
        for thread in threads:
            thread.join(RUN_SECONDS + REQUEST_TIMEOUT)
            assert not thread.is_alive(), "a client hung"
        end = {pid: rss_kb(pid) for pid in workers}
        assert worker_pids(server.pid) == workers  # no worker died and was replaced
        elapsed = time.monotonic() - started

        verdicts = {}
        for public_id in tally.revoked:
            status, detail = call(base_url, "GET", f"/api/v1/credentials/{public_id}", None, token)
            assert status == HTTPStatus.OK, detail
            status, body = call(
                base_url, "POST", "/api/v1/verify", {"credential": detail["credential"]}, token
            )
            verdicts[public_id] = body["verdict"]
    finally:
        code = stop(server)
    output = log.read_text()
    assert code == 0, output
    assert "Traceback" not in output

    assert not tally.failures, tally.failures[:10]
    assert sum(tally.statuses.values()) > CLIENTS  # the run did run
    assert tally.revoked, "no revoke happened; the run is too short to mean anything"

    engine = create_engine(env["TESSERA_DATABASE_URL"])
    with Session(engine) as session:
        records = session.execute(
            select(
                IssuedCredential.public_id,
                IssuedCredential.recipient_email,
                IssuedCredential.revoked_at,
            )
        ).all()
    engine.dispose()
    # Each load credential has its own e-mail (named after its Idempotency-Key).
    loaded = Counter(r.recipient_email.removesuffix("@example.org") for r in records)
    assert loaded - Counter(f"seed{n}" for n in range(SEEDS)) == Counter(tally.issued.keys())
    assert {r.public_id for r in records if r.recipient_email.startswith("load-")} == set(
        tally.issued.values()
    )  # each issued exactly once, none lost, none extra
    revoked_in_db = {r.public_id for r in records if r.revoked_at is not None}
    assert revoked_in_db == set(tally.revoked)
    assert set(verdicts.values()) == {"revoked"}, verdicts  # through the published list

    growth = {pid: end[pid] - middle[pid] for pid in workers}
    print(
        f"\nload run: {sum(tally.statuses.values())} requests in {elapsed:.0f} s "
        f"({sum(tally.statuses.values()) / elapsed:.0f}/s) by {CLIENTS} clients: "
        f"{dict(sorted(tally.statuses.items()))}; RSS middle {middle} kB, end {end} kB"
    )
    assert all(g < RSS_GROWTH_LIMIT_KB for g in growth.values()), growth
