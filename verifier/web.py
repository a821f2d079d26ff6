"""Mount the verifier's pages and APIs on an app (combined or standalone)."""

from __future__ import annotations

from flask import Flask

from . import api, pages, security


def init_app(app: Flask) -> None:
    security.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
