"""Public documents every verifier needs: DID documents, JWKS, and a health check."""

from __future__ import annotations

from http import HTTPStatus

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from . import services
from .clock import utcnow
from .db import db
from .errors import NotFoundError

bp = Blueprint("public", __name__)

# DID documents and key sets change only on rotation; caches may keep them briefly.
KEY_CACHE = "public, max-age=300"


def _json(document: object, content_type: str = "application/json") -> Response:
    response = jsonify(document)
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = KEY_CACHE
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _kek():  # type: ignore[no-untyped-def]
    return current_app.config["KEK_FERNET"]


@bp.get("/orgs/<slug>/did.json")
def org_did_document(slug: str) -> Response:
    """A training centre's did:web DID document (every key it ever signed with)."""
    organisation = services.get_organisation(db(), slug)
    if organisation.did_method != "web":
        raise NotFoundError(f"{slug!r} uses did:key; its DID document is the DID itself")
    ring = services.key_ring(db(), _kek(), organisation)
    return _json(ring.did_document(), "application/did+json")


@bp.get("/orgs/<slug>/jwks.json")
def org_jwks(slug: str) -> Response:
    """A training centre's public keys as a JWK Set."""
    organisation = services.get_organisation(db(), slug)
    return _json(
        services.key_ring(db(), _kek(), organisation).public_jwks(), "application/jwk-set+json"
    )


@bp.get("/.well-known/did.json")
def instance_did_document() -> Response:
    """The instance's own did:web document (it signs wallet bundles)."""
    ring = services.ensure_instance_keys(
        db(), _kek(), public_url=current_app.config["PUBLIC_URL"], now=utcnow()
    )
    return _json(ring.did_document(), "application/did+json")


@bp.get("/healthz")
def health() -> tuple[Response, HTTPStatus]:
    """Liveness and database reachability, for load balancers and `tessera doctor`."""
    try:
        db().execute(text("SELECT 1"))
    except SQLAlchemyError as e:
        current_app.logger.error("health check: database unreachable: %s", type(e).__name__)
        return jsonify(status="unavailable", database="unreachable"), HTTPStatus.SERVICE_UNAVAILABLE
    return jsonify(status="ok", database="ok"), HTTPStatus.OK
