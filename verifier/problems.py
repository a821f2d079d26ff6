"""One error model over HTTP: every error is a problem-details JSON body (``ProblemSchema``).

Shared by the standalone verifier and the combined app (which adds its own error classes).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from credentials import CredentialError
from schemas import ProblemSchema

ProblemResponse = tuple[dict[str, Any], int, dict[str, str]]


def problem(code: str, detail: str, status: int, **extra: Any) -> ProblemResponse:
    body = ProblemSchema().dump(
        {"code": code, "title": HTTPStatus(status).phrase, "detail": detail, "status": status}
        | extra
    )
    return body, status, {"Content-Type": "application/problem+json"}


def register_error_handlers(app: Flask) -> None:
    """Validation failures (422 with ``errors``), our credential errors (422), HTTP errors."""

    @app.errorhandler(ValidationError)
    def validation_error(e: ValidationError) -> ProblemResponse:
        return problem(
            "validation-failed",
            "the request has invalid fields",
            int(HTTPStatus.UNPROCESSABLE_ENTITY),
            errors=e.messages,
        )

    @app.errorhandler(CredentialError)
    def credential_error(e: CredentialError) -> ProblemResponse:
        return problem(e.code, str(e), int(HTTPStatus.UNPROCESSABLE_ENTITY))

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> ProblemResponse:
        # Also answers for unhandled exceptions: Flask hands those over as a 500.
        status = e.code or 500
        body, code, headers = problem(
            (e.name or "error").lower().replace(" ", "-"), e.description or "", status
        )
        # Keep what the error itself says to clients, such as WWW-Authenticate on a 401.
        extra = {k: v for k, v in e.get_headers() if k.lower() != "content-type"}
        return body, code, headers | extra
