"""gunicorn settings for the combined service in production.

    gunicorn -c python:issuer.gunicorn_conf 'issuer.app:create_app()'

Every setting below can be changed with a ``TESSERA_*`` variable (named beside it), and any
gunicorn command-line option still wins over this file. The reasons, in short:

- **Workers = CPU cores** (``TESSERA_WORKERS``; also ``WEB_CONCURRENCY``), not gunicorn's
  ``2 x cores + 1``. That rule is for workers that mostly wait; ours mostly compute (RDFC
  canonicalisation and signing, verifying, rendering pages and PNGs), and the GIL lets one
  process use one core. More processes than cores only time-slice the same cores, each
  holding its own database pool and memory. The cores counted are those this process may run
  on (``os.sched_getaffinity``), so a CPU-limited container is not over-subscribed.
- **2 threads per worker** (``gthread``, ``TESSERA_THREADS``): while one request waits for a
  remote issuer's DID document (bounded by the guarded client's timeouts) or the database,
  the other can use the core. Not more: the threads of a process share one GIL, and a thread
  back from a database read waits for it behind the others' computing. Measured under full
  load on 2 cores, 4 threads doubled the verify page's p99 (148-161 ms against 75-79 ms) and
  the VC-JWT API's (21-27 ms against 13 ms) for no more requests per second
  (docs/performance.md).
- **Each worker listens on its own socket** (``SO_REUSEPORT``, ``TESSERA_REUSE_PORT``; on
  when every address in ``TESSERA_BIND`` is TCP). With one shared socket a gthread worker
  accepts every connection it can, busy or not, and a kept-alive connection stays with the
  worker that accepted it: measured with 64 keep-alive clients on 2 workers, one worker
  served all of them while the other sat idle, at a quarter of the sync workers' rate
  (docs/performance.md). With a socket each, the kernel spreads connections over the
  workers. The cost: a second server started by the same user account on the same address
  joins in instead of failing with "address in use", and connections still waiting in a
  dying worker's queue are reset. Unix sockets cannot be shared so (a unix ``--bind`` on
  the command line keeps one shared socket); systemd socket activation hands over one
  socket, so set ``TESSERA_REUSE_PORT=false`` with it.
- **timeout 60 s** (``TESSERA_TIMEOUT``): the slowest requests (a 1,000-credential wallet
  export, a 16 MB wallet upload) take seconds; bulk issuing runs in the background, never in a
  request. A worker silent for a minute is stuck, and is replaced.
- **graceful timeout 30 s** (``TESSERA_GRACEFUL_TIMEOUT``): on SIGTERM, requests in flight
  finish, and the embedded job consumer hands its job back after the current learner
  (``jobs.SHUTDOWN_TIMEOUT``).
- **preload_app on** (``TESSERA_PRELOAD``): the app is built once in the master, so a
  configuration error or a database that needs migrating stops gunicorn at once with one
  message, instead of every worker failing in turn; workers share the loaded code pages.
  Each worker then drops the database connections it inherited and opens its own, and the
  embedded job consumer starts only after the fork (see ``jobs.EmbeddedConsumer``). With
  preloading, code changes need a restart (``SIGHUP`` reloads settings, not code).
- **The loaded app is kept out of garbage collection** (``gc.freeze()`` in each worker before
  its first request). The app holds about 180,000 objects the collector would otherwise walk
  in every full collection: pauses of 45-110 ms that stalled every request of the worker,
  and put the no-op route's p99 at 41-68 ms under load (4-10 ms frozen; docs/performance.md).
  What a request creates is still collected as usual; only what exists at start-up is left
  alone, and it lives as long as the worker anyway.
- **forwarded_allow_ips 127.0.0.1,::1** (``TESSERA_FORWARDED_ALLOW_IPS``): only a reverse proxy
  on this machine may say the request came over HTTPS. Set it to your proxy's address; never
  ``*`` on a port the internet reaches.
- **No control socket** unless ``TESSERA_CONTROL_SOCKET`` names one: gunicorn's default path
  is shared by every gunicorn of the same user account.
- **Access log without secrets** (``TESSERA_ACCESS_LOG``: ``-`` for stdout, a file, or ``off``):
  the path only, never the query string, referrer, cookies or authorization header; the token
  in claim, invitation and e-mail confirmation links is replaced with ``[redacted]``.
"""

from __future__ import annotations

import gc
import os
import re
from typing import Any

from gunicorn.glogging import Logger


def _setting(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def _number(name: str, default: int, *, minimum: int = 0) -> int:
    value = _setting(name, str(default))
    if not value.isdigit() or int(value) < minimum:
        raise ValueError(f"{name} must be a whole number, at least {minimum}; it is {value!r}")
    return int(value)


def _switch(name: str, default: bool) -> bool:
    value = _setting(name, "true" if default else "false").lower()
    if value not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ValueError(f"{name} must be true or false; it is {value!r}")
    return value in ("true", "1", "yes", "on")


def cpu_cores() -> int:
    """The cores this process may use (its affinity mask, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


bind = [
    part.strip() for part in _setting("TESSERA_BIND", "127.0.0.1:8000").split(",") if part.strip()
]
workers = _number("TESSERA_WORKERS", _number("WEB_CONCURRENCY", cpu_cores(), minimum=1), minimum=1)
_tcp = not any(address.startswith(("unix:", "fd://")) for address in bind)
reuse_port = _switch("TESSERA_REUSE_PORT", _tcp)
if reuse_port and not _tcp:
    raise ValueError(
        "TESSERA_REUSE_PORT works only when every TESSERA_BIND address is TCP (host:port); "
        "set it to false, or bind to a TCP address"
    )
worker_class = "gthread"
threads = _number("TESSERA_THREADS", 2, minimum=1)
timeout = _number("TESSERA_TIMEOUT", 60, minimum=1)
graceful_timeout = _number("TESSERA_GRACEFUL_TIMEOUT", 30)
keepalive = _number("TESSERA_KEEPALIVE", 5)
preload_app = _switch("TESSERA_PRELOAD", True)
forwarded_allow_ips = _setting("TESSERA_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Recycling workers is off unless asked for: nothing is known to leak.
max_requests = _number("TESSERA_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
# gunicorn's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl), which
# two instances under one account would fight over; Tessera needs only signals. Name a path
# to have it.
_control = _setting("TESSERA_CONTROL_SOCKET", "")
control_socket_disable = not _control
if _control:
    control_socket = _control

_access = _setting("TESSERA_ACCESS_LOG", "-")
accesslog = None if _access.lower() == "off" else _access
errorlog = "-"
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(B)s %(M)sms'

#: Paths that carry a one-time secret: claim links, staff invitations, e-mail confirmations.
SECRET_PATHS = re.compile(r"^(/(?:claim|invite|wallet/confirm)/)[^/]+")
#: Request headers never logged, whatever ``access_log_format`` asks for.
SECRET_HEADERS = ("authorization", "cookie", "proxy-authorization", "x-api-key")


def redact_path(path: str) -> str:
    return SECRET_PATHS.sub(r"\1[redacted]", path)


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with tokens taken out of what the access log can show."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        path = redact_path(environ.get("PATH_INFO") or "")
        atoms["U"] = path
        atoms["r"] = f"{environ.get('REQUEST_METHOD')} {path} {environ.get('SERVER_PROTOCOL')}"
        atoms["q"] = "-"
        atoms["f"] = "-"
        for header in SECRET_HEADERS:
            atoms.pop(f"{{{header}}}i", None)
        for key in [k for k in atoms if k.endswith("}e")]:
            del atoms[key]  # the WSGI environment holds the raw URI and headers again
        return atoms


logger_class = RedactingLogger


# -- hooks: the same as `tessera serve` (issuer/cli.py _worker_hooks) ----------------------


def on_starting(server: Any) -> None:
    """Keep one shared socket for a unix or fd ``--bind`` given on the command line (which
    wins over ``TESSERA_BIND``), and refuse a database that needs migrating (only with a
    preloaded app)."""
    if server.cfg.reuse_port and not all(isinstance(a, tuple) for a in server.cfg.address):
        if _setting("TESSERA_REUSE_PORT", ""):
            raise RuntimeError(
                "TESSERA_REUSE_PORT works only with TCP addresses (host:port); "
                "set TESSERA_REUSE_PORT=false to bind a unix socket or a file descriptor"
            )
        server.cfg.set("reuse_port", False)
    if not server.cfg.preload_app:
        return  # loading the app here would preload it; each worker checks instead
    _refuse_pending_migrations(server.app.wsgi())


def post_worker_init(worker: Any) -> None:
    """After the fork: own database connections, a bid for the embedded job consumer, and the
    loaded app kept out of garbage collection (see the module's docstring)."""
    from . import jobs

    app = worker.wsgi
    if not worker.cfg.preload_app:
        _refuse_pending_migrations(app)
    # Connections inherited from the master (the migration check) must not be shared.
    app.extensions["tessera.engine"].dispose(close=False)
    if not app.config.get("REDIS_URL"):
        consumer = jobs.EmbeddedConsumer(app)
        consumer.start()
        _consumers.append(consumer)
    gc.freeze()


def worker_exit(server: Any, worker: Any) -> None:
    """Hand a running job back to the queue before the worker goes."""
    for consumer in _consumers:
        consumer.stop()


_consumers: list[Any] = []


def _refuse_pending_migrations(app: Any) -> None:
    from . import migrate

    with app.app_context():
        if migrate.pending(app.extensions["tessera.engine"]):
            raise RuntimeError("the database needs migrating: run `tessera init` first")
