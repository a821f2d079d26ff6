"""The application factory of the combined issuing and verification service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from verifier import i18n, ratelimit, security
from verifier import web as verifier_web

from . import (
    api,
    api_docs,
    auth,
    bulk_api,
    db,
    jobs,
    problems,
    ui,
    vcapi,
    verification,
    web,
    worker,
)
from . import config as configuration
from .errors import ConfigurationError


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then ``TESSERA_*`` variables, then ``config`` (tests).

    Raises:
        ConfigurationError: a required setting is missing or malformed (production).
    """
    instance = configuration.instance_path(config)
    app = Flask("issuer", instance_path=str(instance), instance_relative_config=True)
    app.config.from_mapping(
        configuration.defaults(instance) | security.defaults() | ratelimit.defaults()
    )
    app.config.from_prefixed_env("TESSERA")
    if config:
        app.config.from_mapping(config)
    configuration.finalize(app.config)
    try:
        security.finalize(app.config)
        ratelimit.finalize(app.config)
    except ValueError as e:
        raise ConfigurationError(str(e)) from e
    app.json.sort_keys = False  # keep credentials in the order they were signed and shown
    db.init_app(app)
    problems.register_error_handlers(app)
    auth.init_app(app)
    jobs.init_app(app)
    app.register_blueprint(web.bp)
    app.register_blueprint(ui.bp)
    app.register_blueprint(api_docs.bp)
    app.register_blueprint(worker.bp)
    app.register_blueprint(vcapi.bp)
    app.register_blueprint(bulk_api.bp)
    app.register_blueprint(api.bp)
    app.add_url_rule("/api/v1/openapi.json", "openapi", vcapi.openapi_json)
    verification.init_app(app)
    verifier_web.init_app(app)
    # Staff pages are not translated yet: English, and no language switcher, whatever the browser.
    i18n.keep_english(app, ui.bp.name, api_docs.bp.name)
    ratelimit.init_app(app)  # last: it limits the views registered above
    return app
