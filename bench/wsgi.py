"""The combined app as ``gunicorn`` serves it, plus the benchmarks' no-op route.

``GET /bench/noop`` goes through everything every request of the app goes through (the
before- and after-request hooks, security headers, sessions, error handlers) and does no work
of its own: it is the ceiling that ``bench/run.py`` measures the real endpoints against, on
the same server, in the same run. ``/healthz`` is not that ceiling: it queries the database.
The route exists only in this module, never in a deployed app.
"""

from __future__ import annotations

from issuer.app import create_app

app = create_app()


@app.get("/bench/noop")
def noop() -> tuple[str, int]:
    """Nothing: the cost of the app's request pipeline alone."""
    return "", 204
