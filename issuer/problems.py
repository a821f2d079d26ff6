"""The combined app's errors as problem details: the verifier's handlers, plus ours."""

from __future__ import annotations

from flask import Flask

from keys import KeyManagementError
from verifier.problems import ProblemResponse, problem
from verifier.problems import register_error_handlers as register_common_handlers

from .errors import IssuerError

__all__ = ["ProblemResponse", "problem", "register_error_handlers"]


def register_error_handlers(app: Flask) -> None:
    register_common_handlers(app)

    @app.errorhandler(IssuerError)
    def issuer_error(e: IssuerError) -> ProblemResponse:
        return problem(e.code, str(e), int(e.status))

    @app.errorhandler(KeyManagementError)
    def key_error(e: KeyManagementError) -> ProblemResponse:
        # 503: the service cannot sign right now; the messages name no secrets.
        return problem(e.code, str(e), 503)
