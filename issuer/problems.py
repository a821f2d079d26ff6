"""The combined app's errors as problem details: the verifier's handlers, plus ours."""

from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Flask, Response, g, make_response, render_template, request
from sqlalchemy.exc import SQLAlchemyError

from keys import KeyManagementError
from verifier.problems import ProblemResponse, problem
from verifier.problems import register_error_handlers as register_common_handlers

from . import db
from .errors import DatabaseUnavailableError, IssuerError, StorageFullError

__all__ = ["ProblemResponse", "problem", "register_error_handlers"]

log = logging.getLogger(__name__)

#: Requests that change nothing: their 503 need not say that nothing was half-written.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def register_error_handlers(app: Flask) -> None:
    register_common_handlers(app)

    @app.errorhandler(IssuerError)
    def issuer_error(e: IssuerError) -> ProblemResponse:
        return problem(e.code, str(e), int(e.status))

    @app.errorhandler(KeyManagementError)
    def key_error(e: KeyManagementError) -> ProblemResponse:
        # 503: the service cannot sign right now; the messages name no secrets.
        return problem(e.code, str(e), 503)

    for error_class in db.UNAVAILABLE:
        app.register_error_handler(error_class, database_unavailable)
    app.register_error_handler(DatabaseUnavailableError, service_unavailable)
    app.register_error_handler(StorageFullError, service_unavailable)


def database_unavailable(e: SQLAlchemyError) -> Response:
    """The database is down, unreachable or full: a 503 that says so, never a 500.

    Logged once, as one line: the operator needs to know the database failed, not where in
    the code the request happened to be; the client gets no trace at all. The line names the
    endpoint, not the path: paths such as ``/claim/<token>`` carry secrets.
    """
    answer = db.unavailable(e, writing=request.method not in _SAFE_METHODS)
    cause = getattr(e, "orig", None) or e
    first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    log.warning(
        "%s %s: %s (%s: %s)",
        request.method,
        request.endpoint or "(no endpoint)",
        answer.code,
        type(cause).__name__,
        first_line,
    )
    return service_unavailable(answer)


def service_unavailable(e: DatabaseUnavailableError | StorageFullError) -> Response:
    """Problem details for API clients, the error page for browsers; ``Retry-After`` for both."""
    headers = {"Retry-After": str(e.retry_after)}
    if _wants_page():
        # The page must not touch the database again: no staff header (it reads memberships).
        g.login = None
        page = render_template(
            "error.html",
            status=int(HTTPStatus.SERVICE_UNAVAILABLE),
            csrf=False,
            private=False,
            unavailable=e.code,
            limit_mb="",
            title=HTTPStatus.SERVICE_UNAVAILABLE.phrase,
        )
        return make_response(page, HTTPStatus.SERVICE_UNAVAILABLE, headers)
    body, status, problem_headers = problem(e.code, str(e), int(e.status))
    return make_response(body, status, problem_headers | headers)


def _wants_page() -> bool:
    """A browser (it prefers HTML) outside the API; machines and API clients get JSON."""
    if request.path.startswith("/api/"):
        return False
    best = request.accept_mimetypes.best_match(
        ["text/html", "application/problem+json", "application/json"],
        default="application/problem+json",
    )
    return best == "text/html"
