"""One error model over HTTP: every error is a problem-details JSON body (``ProblemSchema``)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from credentials import CredentialError
from keys import KeyManagementError
from schemas import ProblemSchema

from .errors import IssuerError

ProblemResponse = tuple[dict[str, Any], int, dict[str, str]]


def problem(code: str, detail: str, status: int, **extra: Any) -> ProblemResponse:
    body = ProblemSchema().dump(
        {"code": code, "title": HTTPStatus(status).phrase, "detail": detail, "status": status}
        | extra
    )
    return body, status, {"Content-Type": "application/problem+json"}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(IssuerError)
    def issuer_error(e: IssuerError) -> ProblemResponse:
        return problem(e.code, str(e), int(e.status))

    @app.errorhandler(CredentialError)
    def credential_error(e: CredentialError) -> ProblemResponse:
        return problem(e.code, str(e), int(HTTPStatus.UNPROCESSABLE_ENTITY))

    @app.errorhandler(KeyManagementError)
    def key_error(e: KeyManagementError) -> ProblemResponse:
        # Never echo key material; the messages of these errors name no secrets.
        return problem(e.code, str(e), int(HTTPStatus.SERVICE_UNAVAILABLE))

    @app.errorhandler(ValidationError)
    def validation_error(e: ValidationError) -> ProblemResponse:
        return problem(
            "validation-failed",
            "the request has invalid fields",
            int(HTTPStatus.UNPROCESSABLE_ENTITY),
            errors=e.messages,
        )

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> ProblemResponse:
        status = e.code or 500
        return problem((e.name or "error").lower().replace(" ", "-"), e.description or "", status)
