"""Background jobs on huey: the queue, its tasks, and the consumers that run them.

One queue per configuration (``queue(app)``, built on first use):

- ``TESSERA_REDIS_URL`` set: ``RedisHuey``, consumed by ``tessera worker`` processes on any
  number of machines (production).
- otherwise: ``SqliteHuey`` in ``<instance>/jobs.db``, consumed by a consumer thread that
  ``tessera serve`` starts in exactly one of its processes (``EmbeddedConsumer``), and by any
  ``tessera worker`` started on the same machine.

The queue's name is derived from ``TESSERA_PUBLIC_URL``: tasks carry database ids, so two
Tessera instances sharing one Redis must never consume each other's tasks, and an instance's
web processes and workers necessarily share its public URL (credentials are built from it).

Tasks take only ids. What makes a job survive a crash is in the database, not the queue: a
worker killed mid-job stops beating, and ``recover_stale_jobs`` (when a consumer starts, then
every 30 seconds) re-enqueues every queued or running job whose heartbeat is older than
``bulk.STALE_AFTER``; the rows it had issued are skipped (see issuer/bulk.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import signal
import sqlite3
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey, TaskWrapper
from huey.consumer import Consumer
from redis.connection import parse_url
from redis.exceptions import RedisError

from . import bulk, signing
from .clock import utcnow
from .errors import IssuerError

log = logging.getLogger(__name__)

EXTENSION = "tessera.jobs"
#: Seconds between recovery passes (a periodic task each minute, plus one scheduled between).
RECOVERY_INTERVAL = 30
#: How long a stopping consumer waits for its workers (each checks between rows, so briefly).
SHUTDOWN_TIMEOUT = 30
#: An idle SQLite-backed worker polls at least this often (Redis workers block instead).
MAX_POLL_DELAY = 1.0
#: How often a ``tessera serve`` process that is not running the consumer tries to take over.
EMBEDDED_RETRY_SECONDS = 5


class QueueUnavailableError(IssuerError):
    """The job queue cannot be reached; the job is saved and starts when it can."""

    code = "queue-unavailable"
    status = HTTPStatus.SERVICE_UNAVAILABLE


def queue_name(config: Any) -> str:
    digest = hashlib.sha256(str(config["PUBLIC_URL"]).encode("utf-8")).hexdigest()[:16]
    return f"tessera_{digest}"


def describe(config: Any) -> str:
    """Where the queue lives, for people (no password)."""
    if config.get("REDIS_URL"):
        options = parse_url(config["REDIS_URL"])
        where = options.get("path") or f"{options.get('host', 'localhost')}:" + str(
            options.get("port", 6379)
        )
        return f"Redis {where} db {options.get('db', 0)}, queue {queue_name(config)}"
    return f"SQLite {Path(config['INSTANCE']) / 'jobs.db'}"


def make_huey(config: Any) -> Huey:
    """The huey instance for a configuration (tasks are added by ``queue``)."""
    name = queue_name(config)
    if config.get("REDIS_URL"):
        return RedisHuey(name, url=config["REDIS_URL"], results=False, utc=True)
    instance = Path(config["INSTANCE"])
    instance.mkdir(parents=True, exist_ok=True, mode=0o700)
    # fsync: a confirmed job's task survives a power cut like the job itself does.
    return SqliteHuey(name, filename=str(instance / "jobs.db"), results=False, fsync=True)


@dataclass
class JobQueue:
    """An app's huey instance and its tasks."""

    app: Flask
    huey: Huey
    run_bulk_job: TaskWrapper = field(init=False)
    recover: TaskWrapper = field(init=False)
    recover_periodically: TaskWrapper = field(init=False)
    #: Set when this process's consumer stops: running jobs go back to the queue between rows.
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        huey = self.huey

        @huey.task(name="tessera.bulk.run", retries=3, retry_delay=10)
        def run_bulk_job(job_id: int) -> None:
            outcome = run_job(self.app, job_id, should_stop=self.stopping.is_set)
            log.info("bulk job %s: %s", job_id, outcome)
            if outcome == bulk.Outcome.STOPPED:
                # This consumer is shutting down and handed the job back: the next consumer
                # (here after a restart, or any other worker) resumes it at once.
                run_bulk_job(job_id)

        @huey.task(name="tessera.bulk.recover")
        def recover() -> None:
            recover_stale_jobs(self.app)

        @huey.periodic_task(crontab(), name="tessera.bulk.recover-periodically")
        def recover_periodically() -> None:
            recover_stale_jobs(self.app)
            # Periodic tasks run at most once a minute: one more pass half-way through.
            recover.schedule(delay=RECOVERY_INTERVAL)

        self.run_bulk_job = run_bulk_job
        self.recover = recover
        self.recover_periodically = recover_periodically


_build_lock = threading.Lock()


def init_app(app: Flask) -> None:
    """Nothing is opened here: the queue is built on first use (``queue``)."""
    app.extensions[EXTENSION] = None


def queue(app: Flask | None = None) -> JobQueue:
    """The app's job queue (built, and its storage opened, on first use)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    built: JobQueue | None = app.extensions.get(EXTENSION)
    if built is None:
        with _build_lock:
            built = app.extensions.get(EXTENSION)
            if built is None:
                built = JobQueue(app, make_huey(app.config))
                app.extensions[EXTENSION] = built
    return built


def enqueue_job(job_id: int, app: Flask | None = None) -> None:
    """Hand a confirmed job to the workers.

    Raises:
        QueueUnavailableError: the queue cannot be reached. The job stays ``queued`` in the
            database and is enqueued again by the next recovery pass of any worker.
    """
    try:
        queue(app).run_bulk_job(job_id)
    except (RedisError, sqlite3.Error, OSError) as e:
        log.warning("could not enqueue bulk job %s: %s", job_id, e)
        raise QueueUnavailableError(
            "the job is saved but the job queue cannot be reached right now; it starts "
            "automatically when a worker can reach the queue"
        ) from e


# -- task bodies ----------------------------------------------------------------------------


def run_job(app: Flask, job_id: int, *, should_stop: Any = lambda: False) -> bulk.Outcome:
    """The body of the bulk task: process the job with a session of its own."""
    signing.configure(app.config["SIGNING_PROCESSES"])
    session = app.extensions["tessera.sessionmaker"]()
    try:
        return bulk.process_job(
            session,
            app.config["KEK_FERNET"],
            job_id=job_id,
            public_url=app.config["PUBLIC_URL"],
            clock=utcnow,
            should_stop=should_stop,
        )
    finally:
        session.close()


def recover_stale_jobs(app: Flask) -> list[int]:
    """Re-enqueue queued or running jobs whose worker stopped beating; returns their ids."""
    session = app.extensions["tessera.sessionmaker"]()
    recovered: list[int] = []
    try:
        now = utcnow()
        for job_id in bulk.stale_jobs(session, now=now):
            if bulk.requeue_stale(session, job_id, now=now):
                queue(app).run_bulk_job(job_id)
                recovered.append(job_id)
                log.warning("bulk job %s had no live worker; queued it again", job_id)
    finally:
        session.close()
    return recovered


# -- consumers ------------------------------------------------------------------------------


class TesseraConsumer(Consumer):  # type: ignore[misc]
    """huey's consumer, telling running jobs to hand back between rows when it stops.

    Both SIGTERM (systemd, docker stop) and SIGINT (Ctrl+C) stop it gracefully: each job
    goes back to the queue after its current row; a second signal stops at once (huey).
    """

    def __init__(self, jobs: JobQueue, *, embedded: bool = False, **options: Any) -> None:
        self.jobs = jobs
        self.embedded = embedded
        options.setdefault("worker_type", "thread")
        options.setdefault("shutdown_timeout", SHUTDOWN_TIMEOUT)
        if not jobs.app.config.get("REDIS_URL"):
            options.setdefault("max_delay", MAX_POLL_DELAY)
        super().__init__(jobs.huey, **options)
        self._signal_actions[signal.SIGINT] = (False, True)
        self._signal_actions[signal.SIGTERM] = (False, True)

    def start(self) -> None:
        self.jobs.stopping.clear()
        super().start()

    def stop(self, graceful: bool = False) -> None:
        self.jobs.stopping.set()
        super().stop(graceful)

    def _set_signal_handlers(self) -> None:
        # Inside `tessera serve` the signals belong to gunicorn (and only a main thread may
        # set handlers); the server stops this consumer through EmbeddedConsumer.stop.
        if not self.embedded:
            super()._set_signal_handlers()


def run_worker(app: Flask, *, workers: int = 1) -> None:
    """``tessera worker``: recover stale jobs, then consume until a signal stops it."""
    jobs = queue(app)
    recovered = recover_stale_jobs(app)
    if recovered:
        log.warning("re-enqueued %d stale job(s): %s", len(recovered), recovered)
    # The signing processes start now, not when the first job is already waiting for them.
    signing.configure(app.config["SIGNING_PROCESSES"])
    signing.warm()
    TesseraConsumer(jobs, workers=workers, periodic=True).run()


class EmbeddedConsumer:
    """The consumer ``tessera serve`` runs when there is no Redis: one per instance folder.

    gunicorn forks its workers from a master that must stay single-threaded (threads do not
    survive a fork, and locks they hold would be copied held), so the consumer is started
    after the fork, inside a worker. Each worker tries to take an exclusive lock on
    ``<instance>/jobs.lock``; the one that gets it runs the consumer. When that worker exits
    the lock is released and another worker takes over within ``EMBEDDED_RETRY_SECONDS``.
    Two ``tessera serve`` on one instance folder still run a single consumer.
    """

    def __init__(self, app: Flask, *, workers: int = 1) -> None:
        self.app = app
        self.workers = workers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.consumer: TesseraConsumer | None = None
        self.running = threading.Event()  # set while this process holds the lock

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tessera-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = SHUTDOWN_TIMEOUT) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        path = Path(self.app.config["INSTANCE"]) / "jobs.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if self._stop.wait(EMBEDDED_RETRY_SECONDS):
                        return
            self.running.set()
            log.info("running the job consumer in process %s (%s)", os.getpid(), path)
            try:
                recover_stale_jobs(self.app)
            except Exception:  # the consumer must start anyway; recovery runs again soon
                log.exception("recovering stale jobs failed; trying again in a minute")
            self.consumer = TesseraConsumer(
                queue(self.app), embedded=True, workers=self.workers, periodic=True
            )
            self.consumer.start()
            while not self._stop.wait(10):
                self.consumer.check_worker_health()
            self.consumer.stop(graceful=True)
        finally:
            self.running.clear()
            os.close(fd)  # releases the lock
