"""Mount the verifier's pages and APIs on an app (combined or standalone)."""

from __future__ import annotations

from flask import Flask, current_app, request

from credentials import schema

from . import api, i18n, match, pages, security

#: Endpoints that take a whole wallet (CLR or ZIP): their bodies may be MAX_WALLET_BYTES.
WALLET_ENDPOINTS = frozenset(
    {
        "pages.verify_submission",
        "verify_api.verify",
        "worker.import_credential",
        "match.submit",
        "match_api.match_api",
    }
)


def _wallet_sized_bodies() -> None:
    # Before CSRF protection reads the form: the limit must be raised before the body is.
    if request.endpoint in WALLET_ENDPOINTS:
        request.max_content_length = current_app.config["MAX_WALLET_BYTES"]


def init_app(app: Flask) -> None:
    # The first verification would otherwise wait for the JSON Schema validators to compile:
    # done here once per process (gunicorn preloads the app, so its workers share them).
    schema.warm()
    app.before_request(_wallet_sized_bodies)
    security.init_app(app)
    i18n.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(match.bp)
    app.register_blueprint(match.api_bp)
