"""Public documents every verifier needs: DID documents, JWKS, and a health check."""

from __future__ import annotations

from http import HTTPStatus

from flask import Blueprint, Response, current_app, jsonify, make_response, render_template, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from credentials.openbadges import achievement_document

from . import catalogue, kit, profiles, services, status
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


JWT_TYPES = ("application/vc+jwt", "application/jwt")
VC_JSON = "application/vc+ld+json"


@bp.get("/orgs/<slug>/status/<int(min=1, max=2147483647):sequence>")
def status_list(slug: str, sequence: int) -> Response:
    """A signed BitstringStatusListCredential (embedded proof; VC-JWT when asked by Accept)."""
    organisation = services.get_organisation(db(), slug)
    found = status.find_list(db(), organisation, sequence)
    if found is None:
        raise NotFoundError(f"{slug!r} has no status list {sequence}")
    ttl = current_app.config["STATUS_LIST_TTL"]
    now = utcnow()
    publication = status.publish(
        db(), _kek(), found, public_url=current_app.config["PUBLIC_URL"], now=now, ttl=ttl
    )
    best = request.accept_mimetypes.best_match([VC_JSON, "application/json", *JWT_TYPES])
    form = "jwt" if best in JWT_TYPES else "json"
    response = Response(
        publication.jwt if form == "jwt" else publication.document,
        mimetype="application/vc+jwt" if form == "jwt" else VC_JSON,
    )
    response.set_etag(publication.etag(form).strip('"'))
    response.cache_control.public = True
    response.cache_control.max_age = publication.max_age(now, ttl)
    response.headers["Vary"] = "Accept"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response.make_conditional(request)


ACHIEVEMENT_CONTEXT = [
    "https://www.w3.org/ns/credentials/v2",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
]


@bp.get("/orgs/<slug>/achievements/<public_id>")
def achievement_page(slug: str, public_id: str) -> Response:
    """An achievement's public page: what credentials carry as ``achievement.id`` opens here.

    HTML for people (what it is, who offers it, whether it is current); the OB 3.0
    ``Achievement`` as JSON when asked by Accept.
    """
    public_url = current_app.config["PUBLIC_URL"]
    best = request.accept_mimetypes.best_match(
        ["text/html", "application/json", "application/ld+json"]
    )
    wants_json = best in ("application/json", "application/ld+json")
    session = db()
    try:
        found = profiles.public_achievement(session, slug, public_id)
    except NotFoundError:
        if wants_json:
            raise
        page = render_template("achievement_public.html", achievement=None)
        response = make_response(page, HTTPStatus.NOT_FOUND)
        response.headers["Vary"] = "Accept"
        return response
    if wants_json:
        document = {
            "@context": ACHIEVEMENT_CONTEXT,
            **achievement_document(services.achievement_value(found, public_url)),
            "creator": {
                "id": found.organisation.did,
                "type": ["Profile"],
                "name": found.organisation.name,
            },
        }
        response = _json(document, best or "application/json")
    else:
        chain = catalogue.versions(session, found)
        current = chain[0] if chain[0].archived_at is None else None
        response = make_response(
            render_template(
                "achievement_public.html",
                achievement=found,
                skills=catalogue.skill_choices(found),
                current=current,
                current_url=profiles.achievement_url(public_url, current) if current else None,
            )
        )
        response.headers["Cache-Control"] = KEY_CACHE
    response.headers["Vary"] = "Accept"
    return response


@bp.get("/.well-known/did.json")
def instance_did_document() -> Response:
    """The instance's own did:web document (it signs wallet bundles)."""
    ring = services.ensure_instance_keys(
        db(), _kek(), public_url=current_app.config["PUBLIC_URL"], now=utcnow()
    )
    return _json(ring.did_document(), "application/did+json")


#: A kit is signed per request (its lists keep their signatures for half their TTL), so a CDN
#: in front may keep it a minute: offline verifiers download it rarely and judge its age.
KIT_CACHE = "public, max-age=60"


@bp.get("/kit.json")
def verifier_kit() -> Response:
    """A fresh verifier kit: every centre's keys and signed status lists, signed by the instance.

    Verifiers pin the instance key it names (``tessera kit export`` prints it) before use.
    """
    config = current_app.config
    exported = kit.export_kit(
        db(),
        _kek(),
        public_url=config["PUBLIC_URL"],
        now=utcnow(),
        ttl=config["STATUS_LIST_TTL"],
    )
    response = _json(exported.document)
    response.headers["Cache-Control"] = KIT_CACHE
    response.headers["Content-Disposition"] = 'attachment; filename="tessera-kit.json"'
    return response


@bp.get("/healthz")
def health() -> tuple[Response, HTTPStatus]:
    """Liveness and database reachability, for load balancers and `tessera doctor`."""
    try:
        db().execute(text("SELECT 1"))
    except SQLAlchemyError as e:
        current_app.logger.error("health check: database unreachable: %s", type(e).__name__)
        return jsonify(status="unavailable", database="unreachable"), HTTPStatus.SERVICE_UNAVAILABLE
    return jsonify(status="ok", database="ok"), HTTPStatus.OK
