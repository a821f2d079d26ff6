"""The combined app as ``gunicorn`` serves it, plus the benchmarks' no-op route.

``GET /bench/noop`` goes through everything every request of the app goes through (the
before- and after-request hooks, security headers, sessions, error handlers) and does no work
of its own: it is the ceiling that ``bench/run.py`` measures the real endpoints against, on
the same server, in the same run. ``/healthz`` is not that ceiling: it queries the database.
The route exists only in this module, never in a deployed app.

Every full garbage collection of a serving process is timed, and its length appended to
``<instance>/gc-<pid>.log``: ``bench/run.py`` reports the longest (a full collection stops
every request of its worker; issuer/gunicorn_conf.py freezes the loaded app to keep it short).
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from pathlib import Path
from typing import Any

from issuer.app import create_app

app = create_app()
_collection_started: list[float] = []


def _time_full_collections(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _collection_started[:] = [time.perf_counter()]
    elif info["generation"] == 2 and _collection_started:
        pause_ms = (time.perf_counter() - _collection_started[0]) * 1000
        log = Path(app.config["INSTANCE"]) / f"gc-{os.getpid()}.log"
        # Best effort: the last collections of an exiting process may find the folder gone.
        with contextlib.suppress(OSError), log.open("a") as out:
            out.write(f"{pause_ms:.2f}\n")


gc.callbacks.append(_time_full_collections)


@app.get("/bench/noop")
def noop() -> tuple[str, int]:
    """Nothing: the cost of the app's request pipeline alone."""
    return "", 204
