"""Every benchmark in one run: one table, each figure beside a limit measured in the same run.

Run: .venv/bin/python bench/run.py [--quick] [--workers N] [--duration S] [--postgres URL]
                                  [--production] [--connections N]

A figure on its own means little on a shared machine; a figure beside a ceiling measured
seconds earlier on the same machine, with the same number of processes, does. So every row
of the table names its limit, the ratio of the two, and the target where issue 8 sets one:

- POST /api/v1/verify (a VC-JWT; a Data Integrity credential) and GET /v/<id> under real
  gunicorn (one worker per core; sync workers, or ``--production`` for the shipped
  issuer/gunicorn_conf.py) loaded by ``wrk`` on loopback, beside a no-op route of the
  same app (bench/wsgi.py) and beside the raw signature-verify rate of the same key type in
  the same number of processes.
- Bulk issuing through the job queue: a confirmed job, ``tessera worker`` processes (one per
  core) started here, credentials per second beside the raw signing rate (one Ed25519 and one
  JWT signature per credential) in the same number of processes.
- A status list of 131,072 entries with 10 % revoked: encode, publish (sign), and fetch over
  HTTP then check; wallet export (CLR) of a worker with 1,000 credentials.

Everything runs against a throw-away instance: SQLite in a temporary folder, or with
``--postgres`` a database created for the run on that server and dropped after. The job queue
is the instance's SQLite queue. The header shows the load average when the run started: on a
machine busy with other work the absolute figures drop, the ratios much less.
Needs ``wrk`` (Debian/Ubuntu: ``apt-get install -y wrk``). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from credentials import status_list as bitstring  # noqa: E402
from credentials.proofs import data_integrity  # noqa: E402
from issuer import bulk, jobs, migrate, services, status  # noqa: E402
from issuer.app import create_app  # noqa: E402
from issuer.models import BulkJob, IssuedCredential, StatusList  # noqa: E402
from keys.crypto import LocalSigner, generate_private_key  # noqa: E402
from keys.ring import find_verification_key  # noqa: E402

VENV_BIN = Path(sys.executable).parent
PUBLIC_URL = "https://bench.tessera.test"
SKILL = "http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da"
WRK_SCRIPT = """
local body_file = os.getenv("BENCH_BODY")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nBENCH {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


# -- the table ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a figure, the limit it is compared with, and the target."""

    figure: str
    value: float
    unit: str
    limit_name: str = ""
    limit: float | None = None
    higher_is_better: bool = True
    target: str = ""
    passed: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.limit is None or not self.value or not self.limit:
            return None
        return self.value / self.limit if self.higher_is_better else self.limit / self.value


def number(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:,.2f} ms" if value < 100 else f"{value:,.0f} ms"
    if unit == "s":
        return f"{value:,.2f} s"
    return f"{value:,.0f} {unit}"


def print_table(rows: list[Row], header: str) -> None:
    cells = [("figure", "value", "limit (same run)", "limit value", "ratio", "target", "result")]
    for row in rows:
        ratio = row.ratio
        result = "—" if row.passed is None else ("pass" if row.passed else "FAIL")
        cells.append(
            (
                row.figure,
                number(row.value, row.unit),
                row.limit_name or "—",
                number(row.limit, row.unit) if row.limit is not None else "—",
                f"{ratio:.0%}" if ratio is not None else "—",
                row.target or "—",
                result,
            )
        )
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    print()
    print(header)
    for n, line in enumerate(cells):
        print(
            " | ".join(
                c.ljust(w) if i in (0, 2, 5) else c.rjust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if n == 0:
            print("-+-".join("-" * w for w in widths))


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- raw signature rates, in N processes -------------------------------------------------------


def _raw_loop(operation: str, seconds: float) -> int:
    """Run one signature operation for ``seconds``; how many were done."""
    message = b"x" * 64
    count = 0
    if operation.startswith("verify"):
        algorithm = operation.split()[1]
        signer = LocalSigner("did:web:x#k", algorithm, generate_private_key(algorithm))
        signature = signer.sign(message)
        public = signer._private_key.public_key()
        if algorithm == "EdDSA":

            def work() -> None:
                public.verify(signature, message)
        else:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding

            def work() -> None:
                public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    else:
        signers = [
            LocalSigner("did:web:x#k", a, generate_private_key(a)) for a in operation.split("+")
        ]

        def work() -> None:
            for s in signers:
                s.sign(message)

    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            work()
        count += 20
    return count


def _default_sigterm() -> None:
    # The pool's children inherit main()'s SIGTERM handler (sys.exit), which runs only when
    # a child gets back to Python code: one blocked on the pool's task queue then ignored the
    # SIGTERM that ends the pool, and the run hung waiting for it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def raw_rate(operation: str, processes: int, seconds: float) -> float:
    """Operations per second of ``processes`` processes doing nothing else."""
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, initializer=_default_sigterm) as pool:
        counts = pool.starmap(_raw_loop, [(operation, seconds)] * processes)
    return sum(counts) / seconds


# -- a throw-away instance ------------------------------------------------------------------


@dataclass
class Instance:
    folder: Path
    env: dict[str, str]
    app: Any
    centre: Any
    achievement: Any
    credentials: list[IssuedCredential]


@contextmanager
def throwaway_database(server_url: str | None) -> Iterator[str | None]:
    """A new, empty PostgreSQL database on the server ``server_url`` names; dropped after."""
    if not server_url:
        yield None
        return
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    name = f"tessera_bench_{os.getpid()}_{random.randrange(10**6)}"  # noqa: S311 - sampling, not secrets
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def instance(database_url: str | None) -> Iterator[Instance]:
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as name:
        folder = Path(name)
        env = {
            **os.environ,
            "TESSERA_INSTANCE": str(folder),
            "TESSERA_PUBLIC_URL": PUBLIC_URL,
            # Capacity is measured here, not the per-client limits: one load generator on
            # one address would otherwise mostly measure how fast 429 answers come back.
            "TESSERA_RATELIMIT_ENABLED": "false",
        }
        env.pop("TESSERA_REDIS_URL", None)
        config: dict[str, Any] = {
            "INSTANCE": str(folder),
            "PUBLIC_URL": PUBLIC_URL,
            "RATELIMIT_ENABLED": False,
        }
        if database_url:
            env["TESSERA_DATABASE_URL"] = database_url
            config["DATABASE_URL"] = database_url
        app = create_app(config)
        with app.app_context():
            migrate.upgrade(app.extensions["tessera.engine"])
            session = app.extensions["tessera.sessionmaker"]()
            kek, now = app.config["KEK_FERNET"], datetime.now(UTC)
            centre = services.create_organisation(
                session, kek, slug="bench", name="Bench Centre", public_url=PUBLIC_URL, now=now
            )
            achievement = services.create_achievement(
                session,
                organisation=centre,
                name="Stack pallets",
                description="Stacks pallets safely.",
                criteria="Observed at work.",
                skills=[SKILL],
                now=now,
            )
            issued = [
                services.issue_credential(
                    session,
                    kek,
                    organisation=centre,
                    achievement=achievement,
                    name=f"Learner {i}",
                    email=f"learner{i}@example.org",
                    public_url=PUBLIC_URL,
                    now=now,
                ).record
                for i in range(5)
            ]
            revoke_tenth(session, [r.status_index for r in issued if r.status_index is not None])
            yield Instance(folder, env, app, centre, achievement, issued)
            session.close()
            app.extensions["tessera.engine"].dispose()


def revoke_tenth(session: Session, keep: list[int]) -> None:
    """Set 10 % of the centre's first status list (never the bench's own credentials).

    The list is then marked full, so the bulk job's credentials go to a new, clean list.
    """
    status_list = session.scalars(select(StatusList).order_by(StatusList.id)).first()
    if status_list is None:
        raise SystemExit("the bench instance has no status list")
    bits = bytearray(status_list.bits)
    randomiser = random.Random(8)  # noqa: S311 - sampling, not secrets
    for index in randomiser.sample(range(status_list.length), status_list.length // 10):
        if index not in keep:
            bitstring.set_bit(bits, index)
    session.execute(
        update(StatusList)
        .where(StatusList.id == status_list.id)
        .values(
            bits=bytes(bits),
            version=StatusList.version + 1,
            # Full as far as issuing goes: later credentials get list 2, so none of them
            # lands on an index revoked here without a credential behind it.
            allocated=StatusList.length,
        )
    )
    session.commit()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(
    env: dict[str, str], workers: int, log: Path, *, production: bool = False
) -> Iterator[str]:
    """gunicorn serving bench/wsgi.py: sync workers, or with ``production`` the shipped
    configuration (issuer/gunicorn_conf.py: gthread, keep-alive, a socket per worker)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = ["-c", "python:issuer.gunicorn_conf"] if production else []
    with log.open("w") as output:
        server = subprocess.Popen(  # noqa: S603 - our own command line
            [
                str(VENV_BIN / "gunicorn"),
                *settings,
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--chdir",
                str(ROOT),
                "bench.wsgi:app",
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for(f"{base}/bench/noop", server, log)
            yield base
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def wait_for(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a loopback http URL made here
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer {url} within 60 s; see {log}")


# -- load with wrk --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Load:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    non2xx: int
    generator_cpu: float  # share of one core the load generator used


def wrk_path() -> str:
    for folder in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/bin", "/usr/local/bin"]:
        candidate = Path(folder) / "wrk"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise SystemExit(
        "bench/run.py needs wrk, the HTTP load generator (a Python one cannot saturate "
        "gunicorn on the same machine). Install it: `apt-get install -y wrk` on Debian or "
        "Ubuntu, `brew install wrk` on macOS; then run this again."
    )


def load(url: str, *, seconds: float, connections: int, body: Path | None, script: Path) -> Load:
    env = {**os.environ, "BENCH_BODY": str(body) if body else ""}
    started = os.times()
    done = subprocess.run(  # noqa: S603 - our own command line
        [
            wrk_path(),
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    ended = os.times()
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH "))
    figures = json.loads(line.removeprefix("BENCH "))
    duration = figures["duration_us"] / 1e6
    cpu = (ended.children_user - started.children_user) + (
        ended.children_system - started.children_system
    )
    return Load(
        rate=figures["requests"] / duration,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=figures["errors"],
        non2xx=figures["non2xx"],
        generator_cpu=cpu / duration,
    )


# -- the benchmarks -------------------------------------------------------------------------


def web_benchmarks(
    inst: Instance, options: argparse.Namespace, folder: Path, raw: dict[str, float]
) -> list[Row]:
    script = folder / "bench.lua"
    script.write_text(WRK_SCRIPT)
    record = inst.credentials[0]
    bodies = {}
    for form, value in (("jwt", record.jwt), ("document", json.loads(record.document))):
        path = folder / f"verify-{form}.json"
        path.write_text(json.dumps({"credential": value}))
        bodies[form] = path
    rows: list[Row] = []
    workers = options.workers
    connections = options.connections or max(4, 4 * workers)
    pipeline = {
        form: pipeline_rate(inst, value) * workers
        for form, value in (("jwt", record.jwt), ("document", record.document))
    }
    say(
        f"verification pipeline in-process (no HTTP, no tally), x{workers}: "
        f"VC-JWT {pipeline['jwt']:,.0f}/s, Data Integrity {pipeline['document']:,.0f}/s"
    )
    server = "production configuration" if options.production else "sync workers"
    log = folder / "gunicorn.log"
    with gunicorn(inst.env, workers, log, production=options.production) as base:
        say(f"gunicorn ({server}): {workers} workers at {base}; wrk: {connections} connections")
        for url in (f"{base}/bench/noop", f"{base}/api/v1/verify"):
            # Warm every worker (imports, context caches, first database connections).
            body = bodies["jwt"] if url.endswith("verify") else None
            load(url, seconds=1, connections=connections, body=body, script=script)
        measured: dict[str, Load] = {}
        for name, url, body in (
            ("noop", f"{base}/bench/noop", None),
            ("healthz", f"{base}/healthz", None),
            ("verify-jwt", f"{base}/api/v1/verify", bodies["jwt"]),
            ("verify-di", f"{base}/api/v1/verify", bodies["document"]),
            ("page", f"{base}/v/{record.public_id}", None),
            ("status", f"{base}/orgs/bench/status/1", None),
        ):
            result = load(
                url, seconds=options.duration, connections=connections, body=body, script=script
            )
            measured[name] = result
            say(
                f"{name}: {result.rate:,.0f}/s p50 {result.p50_ms:.1f} ms p99 "
                f"{result.p99_ms:.1f} ms, errors {result.errors}, non-2xx {result.non2xx}, "
                f"wrk used {result.generator_cpu:.0%} of a core"
            )
        status_rows = status_list_benchmarks(inst, base)
        pauses = full_collections(inst.folder)  # before stopping: exiting collects again
    if pauses:
        say(
            f"the workers ran {len(pauses)} full garbage collections, the longest "
            f"{max(pauses):.1f} ms (every request of that worker waited)"
        )
    noop = measured["noop"]
    for name, result in measured.items():
        if result.non2xx or result.errors:
            say(f"warning: {name} had {result.non2xx} non-2xx answers, {result.errors} errors")
    jwt_target = noop.rate * 0.5
    rows += [
        Row(
            "no-op route (same app): requests/s",
            noop.rate,
            "/s",
            "wrk alone could do (its CPU share)",
            noop.rate / max(noop.generator_cpu, 1e-9),
        ),
        Row(
            "GET /healthz (one SELECT 1): requests/s",
            measured["healthz"].rate,
            "/s",
            "no-op route",
            noop.rate,
        ),
        Row(
            "POST /api/v1/verify VC-JWT: requests/s",
            measured["verify-jwt"].rate,
            "/s",
            "no-op route",
            noop.rate,
            target="≥ 50 % of no-op",
            passed=measured["verify-jwt"].rate >= jwt_target,
        ),
        Row(
            "POST /api/v1/verify VC-JWT: requests/s",
            measured["verify-jwt"].rate,
            "/s",
            f"raw {inst.centre.jwt_algorithm} verify, {workers} proc.",
            raw["jwt-verify"],
        ),
        Row(
            "POST /api/v1/verify VC-JWT: requests/s",
            measured["verify-jwt"].rate,
            "/s",
            f"pipeline in-process (no HTTP), x{workers}",
            pipeline["jwt"],
        ),
        Row(
            "POST /api/v1/verify VC-JWT: p99",
            measured["verify-jwt"].p99_ms,
            "ms",
            "no-op route p99",
            noop.p99_ms,
            higher_is_better=False,
            target="< 20 ms",
            passed=measured["verify-jwt"].p99_ms < 20,
        ),
        Row(
            "POST /api/v1/verify VC-JWT: p50",
            measured["verify-jwt"].p50_ms,
            "ms",
            "no-op route p50",
            noop.p50_ms,
            higher_is_better=False,
        ),
        Row(
            "POST /api/v1/verify Data Integrity: requests/s",
            measured["verify-di"].rate,
            "/s",
            "no-op route",
            noop.rate,
        ),
        Row(
            "POST /api/v1/verify Data Integrity: requests/s",
            measured["verify-di"].rate,
            "/s",
            f"raw EdDSA verify, {workers} proc.",
            raw["di-verify"],
        ),
        Row(
            "POST /api/v1/verify Data Integrity: requests/s",
            measured["verify-di"].rate,
            "/s",
            f"pipeline in-process (no HTTP), x{workers}",
            pipeline["document"],
        ),
        Row(
            "POST /api/v1/verify Data Integrity: p99",
            measured["verify-di"].p99_ms,
            "ms",
            "no-op route p99",
            noop.p99_ms,
            higher_is_better=False,
        ),
        Row(
            "GET /v/<id> verify page: requests/s",
            measured["page"].rate,
            "/s",
            "no-op route",
            noop.rate,
        ),
        Row(
            "GET /v/<id> verify page: p99",
            measured["page"].p99_ms,
            "ms",
            "no-op route p99",
            noop.p99_ms,
            higher_is_better=False,
        ),
        Row(
            "GET status list (131,072, cached): requests/s",
            measured["status"].rate,
            "/s",
            "no-op route",
            noop.rate,
        ),
    ]
    if pauses:
        rows.append(
            Row(
                "full garbage collection in a worker: longest",
                max(pauses),
                "ms",
                "VC-JWT verify p99",
                measured["verify-jwt"].p99_ms,
                higher_is_better=False,
            )
        )
    return rows + status_rows


def full_collections(instance: Path) -> list[float]:
    """The lengths (ms) of the served app's full garbage collections (bench/wsgi.py logs them)."""
    return [
        float(line) for log in sorted(instance.glob("gc-*.log")) for line in log.read_text().split()
    ]


def pipeline_rate(inst: Instance, credential: str) -> float:
    """Verifications per second of one process calling the pipeline directly (as the API does)."""
    from verifier.backend import backend

    with inst.app.app_context():
        if not backend().verify(credential).verified:
            raise SystemExit("the bench credential does not verify")
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < 2.0:
            backend().verify(credential)
            count += 1
        return count / (time.perf_counter() - started)


def timed(work: Callable[[], Any], repeat: int = 5) -> tuple[Any, float]:
    """The last result and the median seconds of ``repeat`` runs."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return result, statistics.median(times)


def status_list_benchmarks(inst: Instance, base: str) -> list[Row]:
    """Encode, publish (sign) and fetch-then-check the 131,072-entry list, 10 % revoked."""
    with inst.app.app_context():
        session = inst.app.extensions["tessera.sessionmaker"]()
        status_list = session.scalars(select(StatusList).order_by(StatusList.id)).one()
        bits = bytes(status_list.bits)
        _, encode = timed(lambda: bitstring.encode_list(bits))
        _, deflate = timed(lambda: zlib.compress(bits, 9))

        def publish() -> Any:
            # A new version each time, so every publish really signs.
            session.execute(
                update(StatusList)
                .where(StatusList.id == status_list.id)
                .values(version=StatusList.version + 1)
            )
            session.commit()
            current = session.get(StatusList, status_list.id)
            session.refresh(current)
            return status.publish(
                session,
                inst.app.config["KEK_FERNET"],
                current,
                public_url=PUBLIC_URL,
                now=datetime.now(UTC),
                ttl=inst.app.config["STATUS_LIST_TTL"],
            )

        _, publishing = timed(publish)
        indices = [r.status_index for r in inst.credentials] + random.Random(9).sample(  # noqa: S311 - sampling, not secrets
            range(status_list.length), 995
        )
        url = f"{base}/orgs/bench/status/1"

        def fetch_and_check() -> int:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - a loopback http URL made here
                document = json.loads(response.read())
            proof = data_integrity.embedded_proofs(document)[0]
            key, _record = find_verification_key(session, proof["verificationMethod"])
            data_integrity.verify_proof(document, proof, key)
            fetched = bitstring.read_status_list_credential(document, purpose="revocation")
            return sum(bitstring.get_bit(fetched, i) for i in indices)

        def fetch_only() -> bytes:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - a loopback http URL made here
                return bytes(response.read())

        fetch_and_check()  # publishes once, so the timed runs fetch the cached signature
        revoked, checking = timed(fetch_and_check)
        _, fetching = timed(fetch_only)
        session.close()
    say(f"status list: {revoked} of {len(indices)} checked indices revoked")
    return [
        Row(
            "status list 131,072 (10 % set): encode",
            encode * 1000,
            "ms",
            "zlib level 9 of the same bits",
            deflate * 1000,
            higher_is_better=False,
        ),
        Row(
            "status list: publish (sign both forms)",
            publishing * 1000,
            "ms",
            "encode alone",
            encode * 1000,
            higher_is_better=False,
        ),
        Row(
            "status list: fetch + verify + check 1,000",
            checking * 1000,
            "ms",
            "fetch alone (HTTP GET)",
            fetching * 1000,
            higher_is_better=False,
        ),
    ]


def bulk_benchmark(
    inst: Instance, options: argparse.Namespace, folder: Path, raw: dict[str, float]
) -> list[Row]:
    """A confirmed job of ``--bulk`` rows, issued by ``tessera worker`` processes started here."""
    count, workers = options.bulk, options.workers
    with inst.app.app_context():
        session = inst.app.extensions["tessera.sessionmaker"]()
        now = datetime.now(UTC)
        rows = [
            bulk.RowInput(
                row_number=n + 2,
                name=f"Learner {n:05d}",
                email=f"bulk{n}@example.org",
                external_id=f"L-{n:05d}",
                evidence_url=f"https://portfolio.example.org/{n}" if n % 3 == 0 else "",
            )
            for n in range(count)
        ]
        started = time.perf_counter()
        job = bulk.create_job(
            session,
            organisation=inst.centre,
            achievement=inst.achievement,
            rows=rows,
            filename="bench.csv",
            created_by="bench",
            now=now,
        )
        stored = time.perf_counter() - started
        say(f"bulk: job of {count:,} rows checked and stored in {stored:.1f} s")
        bulk.confirm_job(session, job, now=now, actor="bench")
        job_id = job.id
        processes = []
        logs = []
        try:
            for n in range(workers):
                log = (folder / f"worker-{n}.log").open("w")
                logs.append(log)
                processes.append(
                    subprocess.Popen(  # noqa: S603 - our own command line
                        [str(VENV_BIN / "tessera"), "worker"],
                        env=inst.env,
                        cwd=ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            jobs.enqueue_job(job_id, inst.app)
            deadline = time.monotonic() + max(600.0, count / 5)
            while True:
                session.commit()  # a new snapshot each time round: SQLite WAL readers keep theirs
                current = session.get(BulkJob, job_id, populate_existing=True)
                if current is None:
                    raise SystemExit("the bench job disappeared")
                if current.state in (bulk.JobState.FINISHED, bulk.JobState.CANCELLED):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"the bench job did not finish; see {folder}/worker-*.log")
                if any(p.poll() is not None for p in processes):
                    raise SystemExit(f"a worker exited; see {folder}/worker-*.log")
                time.sleep(0.25)
            worker_cpu = sum(tree_cpu_seconds(p.pid) for p in processes)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            for log in logs:
                log.close()
        seconds = (current.finished_at - current.started_at).total_seconds()
        issued, failed = current.issued, current.failed
        sample = session.scalars(
            select(IssuedCredential).where(IssuedCredential.bulk_job_id == job_id).limit(3)
        ).all()
        from verifier.backend import backend

        verdicts = [
            backend().verify(value).verdict.value
            for record in sample
            for value in (record.document, record.jwt)
        ]
        verified = bool(verdicts) and all(v == "valid" for v in verdicts)
        if not verified:
            say(f"warning: verdicts of the sampled bulk credentials: {verdicts}")
        session.close()
    rate = issued / seconds if seconds else 0.0
    say(
        f"bulk: {issued:,} issued, {failed} failed in {seconds:.1f} s ({rate:,.0f}/s); "
        f"a sample of 3 verifies in both forms: {verified}"
    )
    if failed or not verified:
        say("warning: bulk rows failed or a sample did not verify; the figure is not meaningful")
    sign_ms = workers / raw["issue-sign"] * 1000
    return [
        Row(
            f"bulk issue {issued:,} (both proofs, status, rows): credentials/s",
            rate,
            "/s",
            f"raw EdDSA+{inst.centre.jwt_algorithm} signing, {workers} proc.",
            raw["issue-sign"],
            target="≥ 1,000/s",
            passed=rate >= 1000 and not failed and verified,
        ),
        Row(
            "bulk issue: worker CPU per credential",
            worker_cpu / max(issued, 1) * 1000,
            "ms",
            "raw signing CPU per credential",
            sign_ms,
            higher_is_better=False,
        ),
    ]


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and every process under it (a worker and its signing pool)."""
    children = [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]
    return cpu_seconds(pid) + sum(tree_cpu_seconds(child) for child in children)


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a running process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wallet_benchmark(options: argparse.Namespace) -> list[Row]:
    """CLR export of one worker's ``--wallet`` credentials (bench/wallet.py's set-up)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import wallet as wallet_bench

    from issuer import wallet

    now = datetime.now(UTC)
    with wallet_bench.worker_with(options.wallet) as (session, kek):
        holder = wallet_bench.HOLDER
        _, export = timed(
            lambda: wallet.export_clr(session, kek, holder, public_url=PUBLIC_URL, now=now),
            repeat=3,
        )
        records = session.scalars(
            select(IssuedCredential).where(IssuedCredential.recipient_email == holder.email)
        ).all()
        _, floor = timed(lambda: json.dumps([json.loads(r.document) for r in records]), repeat=3)
    return [
        Row(
            f"wallet CLR export, {options.wallet:,} credentials",
            export * 1000,
            "ms",
            "parse + serialise the same credentials",
            floor * 1000,
            higher_is_better=False,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short loads, 1,000-row bulk job")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--duration", type=float, help="seconds of load per endpoint")
    parser.add_argument("--bulk", type=int, help="rows of the bulk job (default 10,000)")
    parser.add_argument("--wallet", type=int, help="credentials in the wallet (default 1,000)")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test): "
        "the run creates a database of its own there and drops it after (default: SQLite)",
    )
    parser.add_argument("--only", choices=("web", "bulk", "wallet"), action="append")
    parser.add_argument(
        "--production",
        action="store_true",
        help="serve with issuer/gunicorn_conf.py (gthread, keep-alive, a socket per worker) "
        "instead of sync workers",
    )
    parser.add_argument(
        "--connections", type=int, help="wrk connections (default 4 per worker process)"
    )
    options = parser.parse_args()
    # SIGTERM unwinds like Ctrl+C, so the servers and workers started here are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    options.duration = options.duration or (3.0 if options.quick else 10.0)
    options.bulk = options.bulk or (1_000 if options.quick else 10_000)
    options.wallet = options.wallet or (200 if options.quick else 1_000)
    parts = set(options.only or ("web", "bulk", "wallet"))
    if "web" in parts:
        wrk_path()
    workers = options.workers
    load_before = os.getloadavg()[0]
    say(f"{os.cpu_count()} cores; {workers} processes for servers, workers and raw rates")
    seconds = 1.0 if options.quick else 3.0
    raw = {
        "jwt-verify": raw_rate("verify RS256", workers, seconds),
        "di-verify": raw_rate("verify EdDSA", workers, seconds),
        "issue-sign": raw_rate("EdDSA+RS256", workers, seconds),
    }
    say("raw: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in raw.items()))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tessera-bench-run-") as name:
        folder = Path(name)
        with throwaway_database(options.postgres) as database_url, instance(database_url) as inst:
            if "web" in parts:
                rows += web_benchmarks(inst, options, folder, raw)
            if "bulk" in parts:
                rows += bulk_benchmark(inst, options, folder, raw)
        if "wallet" in parts:
            rows += wallet_benchmark(options)
    command = "bench/run.py " + " ".join(sys.argv[1:])
    print_table(
        rows,
        f"Tessera benchmarks — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"{workers} processes, {'PostgreSQL' if options.postgres else 'SQLite'}, "
        f"{'production gunicorn settings' if options.production else 'sync workers'}, "
        f"load average {load_before:.1f} at the start "
        f"({command.strip()})",
    )


if __name__ == "__main__":
    main()
