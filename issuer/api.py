"""The training centre's JSON API: achievements and credentials (/api/v1/...).

Authorised by a centre's API token (``Authorization: Bearer tsr_…``) with the scope each
endpoint names: ``read`` to look, ``issue`` to create achievements and issue, ``revoke`` to
revoke. Everything is scoped to the token's centre; another centre's ids are 404. Errors are
problem details. Thin views over issuer/catalogue.py; ``openapi_paths`` documents them.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any

from apispec import APISpec
from flask import Blueprint, current_app, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select
from werkzeug.exceptions import Unauthorized

from credentials import normalize_email
from credentials.dates import format_datetime
from schemas import (
    AchievementCreateRequestSchema,
    AchievementListQuerySchema,
    AchievementListSchema,
    AchievementSchema,
    CredentialDetailSchema,
    CredentialIssueRequestSchema,
    CredentialListQuerySchema,
    CredentialPageSchema,
    CredentialSchema,
    IssueCredentialResultSchema,
    RevokeRequestSchema,
)
from verifier.api import REQUEST_PROBLEMS, read_json_body
from verifier.ratelimit import ISSUE, limited, openapi_429
from verifier.security import csrf

from . import auth, catalogue, claims, services
from .clock import utcnow
from .db import db
from .errors import InvalidRequestError, NotFoundError
from .models import Achievement, IssuedCredential
from .problems import ProblemResponse, problem

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # authorised by a bearer token, never by a cookie

MAX_IDEMPOTENCY_KEY_LENGTH = 200  # issued_credential.idempotency_key is String(200)
_IDEMPOTENCY_KEY = re.compile(rf"^[\x21-\x7e]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}$")

Body = tuple[dict[str, Any], int, dict[str, str]]


@bp.errorhandler(Unauthorized)
def _unauthorized(error: Unauthorized) -> ProblemResponse:
    """401 as problem details, keeping the ``WWW-Authenticate`` challenge (RFC 9110 §11.6.1).

    The app-wide handler renders every HTTP error as a problem but drops the error's own
    headers; a 401 without its challenge leaves a client guessing how to authenticate.
    """
    body, status, headers = problem("unauthorized", error.description or "", 401)
    for name, value in error.get_headers():
        if name.lower() == "www-authenticate":
            headers["WWW-Authenticate"] = value
    return body, status, headers


def _public_url() -> str:
    return str(current_app.config["PUBLIC_URL"])


def _query(schema: Any) -> dict[str, Any]:
    return schema.load(request.args.to_dict())  # type: ignore[no-any-return]


# -- representations --------------------------------------------------------------------------


def _achievement_body(achievement: Achievement, previous: str | None) -> dict[str, Any]:
    value = services.achievement_value(achievement, _public_url())
    return {
        "id": achievement.public_id,
        "url": value.id,
        "version": achievement.version,
        "previous_version": previous,
        "name": achievement.name,
        "description": achievement.description,
        "criteria": achievement.criteria,
        "achievement_type": achievement.achievement_type,
        "validity_days": achievement.validity_days,
        "evidence_required": achievement.evidence_required,
        "alignment": [
            {
                "target_name": a["targetName"],
                "target_url": a["targetUrl"],
                "target_framework": a.get("targetFramework"),
                "target_code": a.get("targetCode"),
                "target_type": a.get("targetType"),
            }
            for a in json.loads(achievement.alignments)
        ],
        "image_type": achievement.image_type,
        "created_at": format_datetime(achievement.created_at),
        "archived_at": format_datetime(achievement.archived_at)
        if achievement.archived_at
        else None,
    }


def _previous_ids(achievements: list[Achievement]) -> dict[int, str]:
    wanted = {a.previous_version_id for a in achievements if a.previous_version_id}
    if not wanted:
        return {}
    rows = db().execute(
        select(Achievement.id, Achievement.public_id).where(Achievement.id.in_(wanted))
    )
    return {row_id: public_id for row_id, public_id in rows}


def _achievements_body(achievements: list[Achievement]) -> list[dict[str, Any]]:
    previous = _previous_ids(achievements)
    return [_achievement_body(a, previous.get(a.previous_version_id or 0)) for a in achievements]


def _credential_body(record: IssuedCredential, *, detail: bool = False) -> dict[str, Any]:
    now = utcnow()
    body: dict[str, Any] = {
        "id": record.public_id,
        "credential_id": record.credential_id,
        "achievement": {
            "id": record.achievement.public_id,
            "name": record.achievement.name,
            "version": record.achievement.version,
        },
        "name": record.recipient_name,
        "email": record.recipient_email,
        "external_id": record.external_id,
        "valid_from": format_datetime(record.valid_from),
        "valid_until": format_datetime(record.valid_until) if record.valid_until else None,
        "issued_at": format_datetime(record.issued_at),
        "status": catalogue.credential_status(record, now),
        "revoked_at": format_datetime(record.revoked_at) if record.revoked_at else None,
        "revocation_reason": record.revocation_reason,
        "verify_url": services.verify_url(_public_url(), record),
        "evidence": catalogue.evidence_of(record),
    }
    if detail:
        body["credential"] = json.loads(record.document)
        body["jwt"] = record.jwt
    return body


# -- achievements -----------------------------------------------------------------------------


@bp.get("/achievements")
@auth.token_required("read")
def list_achievements() -> tuple[dict[str, Any], HTTPStatus]:
    """The centre's current achievements (or its archived ones with ?archived=true)."""
    args = _query(AchievementListQuerySchema())
    found = list(catalogue.list_achievements(db(), auth.current_org(), archived=args["archived"]))
    body = {"items": _achievements_body(found)}
    return AchievementListSchema().dump(body), HTTPStatus.OK


@bp.post("/achievements")
@auth.token_required("issue")
def create_achievement() -> Body:
    """Define an achievement (version 1) aligned to ESCO skills."""
    data = AchievementCreateRequestSchema().load(read_json_body())
    image = data.pop("image")
    skills = [
        catalogue.SkillChoice(uri=s["uri"], target_name=s["target_name"])
        for s in data.pop("skills")
    ]
    badge = None
    if image is not None:
        badge = catalogue.read_image(image["data"])
        if badge.media_type != image["media_type"]:
            raise InvalidRequestError(
                f"the image is {badge.media_type}, not {image['media_type']} as mediaType says"
            )
    created = catalogue.create_achievement(
        db(),
        organisation=auth.current_org(),
        fields=catalogue.AchievementFields(skills=skills, **data),
        now=utcnow(),
        actor=auth.actor(),
        image=badge,
    )
    location = url_for("api_v1.get_achievement", public_id=created.public_id)
    body = AchievementSchema().dump(_achievement_body(created, None))
    return body, int(HTTPStatus.CREATED), {"Location": location}


@bp.get("/achievements/<public_id>")
@auth.token_required("read")
def get_achievement(public_id: str) -> tuple[dict[str, Any], HTTPStatus]:
    """One achievement version (current or archived)."""
    found = catalogue.get_achievement(db(), auth.current_org(), public_id)
    return AchievementSchema().dump(_achievements_body([found])[0]), HTTPStatus.OK


# -- credentials ------------------------------------------------------------------------------


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise ValidationError(
            {
                "Idempotency-Key": [
                    f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters "
                    "without spaces"
                ]
            }
        )
    return key


@bp.post("/credentials")
@limited(ISSUE)
@auth.token_required("issue")
def issue_credential() -> Body:
    """Issue a credential to one learner (201); a replayed Idempotency-Key answers 200."""
    data = CredentialIssueRequestSchema().load(read_json_body())
    key = _idempotency_key()
    organisation = auth.current_org()
    session = db()
    try:
        achievement = catalogue.get_achievement(session, organisation, data["achievement"])
    except NotFoundError as e:
        raise ValidationError({"achievement": [str(e)]}) from e
    result = catalogue.issue(
        session,
        current_app.config["KEK_FERNET"],
        organisation=organisation,
        achievement=achievement,
        name=data["name"],
        email=data["email"],
        public_url=_public_url(),
        now=utcnow(),
        actor=auth.actor(),
        external_id=data["external_id"],
        evidence=data["evidence"],
        issued_on=data["issued_on"],
        idempotency_key=key,
    )
    record = result.issued.record
    headers = {
        "Location": url_for("api_v1.get_credential", public_id=record.public_id),
    }
    if not result.issued.created:
        if (
            record.achievement_id != achievement.id
            or record.recipient_email != normalize_email(data["email"])
            or record.recipient_name != data["name"].strip()
        ):
            raise InvalidRequestError(
                "this Idempotency-Key was already used for a different credential; use a new "
                "key for a new request"
            )
        headers["Idempotent-Replayed"] = "true"
    body = _credential_body(record, detail=True)
    body["claim_url"] = (
        claims.claim_url(_public_url(), result.claim_token) if result.claim_token else None
    )
    status = HTTPStatus.CREATED if result.issued.created else HTTPStatus.OK
    return IssueCredentialResultSchema().dump(body), int(status), headers


@bp.get("/credentials")
@auth.token_required("read")
def list_credentials() -> tuple[dict[str, Any], HTTPStatus]:
    """The centre's credentials, newest first, filtered and paged like the list page."""
    args = _query(CredentialListQuerySchema())
    filters = catalogue.CredentialFilters(
        query=args["q"],
        status=args["status"],
        issued_from=args["issued_from"],
        issued_to=args["issued_to"],
        achievement=args["achievement"],
    )
    page = catalogue.find_credentials(
        db(),
        auth.current_org(),
        filters,
        now=utcnow(),
        page=args["page"],
        per_page=args["per_page"],
    )
    body = {
        "items": [_credential_body(r) for r in page.items],
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
    }
    return CredentialPageSchema().dump(body), HTTPStatus.OK


@bp.get("/credentials/<public_id>")
@auth.token_required("read")
def get_credential(public_id: str) -> tuple[dict[str, Any], HTTPStatus]:
    """One credential: its record and the signed credential in both forms."""
    record = catalogue.get_credential(db(), auth.current_org(), public_id)
    return CredentialDetailSchema().dump(_credential_body(record, detail=True)), HTTPStatus.OK


@bp.post("/credentials/<public_id>/revoke")
@limited(ISSUE)
@auth.token_required("revoke")
def revoke_credential(public_id: str) -> tuple[dict[str, Any], HTTPStatus]:
    """Revoke a credential with a reason (409 when it is revoked already)."""
    data = RevokeRequestSchema().load(read_json_body())
    record = catalogue.revoke(
        db(),
        auth.current_org(),
        public_id,
        reason=data["reason"],
        now=utcnow(),
        actor=auth.actor(),
    )
    return CredentialSchema().dump(_credential_body(record)), HTTPStatus.OK


# -- OpenAPI ----------------------------------------------------------------------------------

JSON = "application/json"
_ID = {"name": "public_id", "in": "path", "required": True, "schema": {"type": "string"}}
_AUTH_PROBLEMS = {"401": "Problem", "403": "Problem"}
#: The answer of an operation marked ``limited`` (verifier/ratelimit.py) to a client going too fast.
TOO_MANY_REQUESTS = openapi_429("issuing and revoking are counted per API token")


def _body(schema: str, description: str) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {JSON: {"schema": schema}}}


def _ok(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _operation(
    operation_id: str, summary: str, scope: str, responses: dict[str, Any], **more: Any
) -> dict[str, Any]:
    return {
        "tags": ["centre"],
        "operationId": operation_id,
        "summary": summary,
        "security": [{"apiToken": [scope]}],
        "responses": {**responses, **_AUTH_PROBLEMS},
        **more,
    }


def openapi_paths(spec: APISpec) -> None:
    """Add the centre API's schemas, security scheme and paths to ``spec``."""
    spec.components.security_scheme(
        "apiToken",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "a training centre's API token (tsr_…), made by an admin on "
            "/centre/tokens, with the scopes read, issue and/or revoke",
        },
    )
    for name, schema in (
        ("AchievementCreateRequest", AchievementCreateRequestSchema),
        ("Achievement", AchievementSchema),
        ("AchievementList", AchievementListSchema),
        ("CredentialIssueRequest", CredentialIssueRequestSchema),
        ("Credential", CredentialSchema),
        ("CredentialDetail", CredentialDetailSchema),
        ("IssueCredentialResult", IssueCredentialResultSchema),
        ("CredentialPage", CredentialPageSchema),
        ("RevokeRequest", RevokeRequestSchema),
    ):
        spec.components.schema(name, schema=schema)
    spec.tag(
        {
            "name": "centre",
            "description": "A training centre's achievements and credentials (API token)",
        }
    )
    spec.path(
        path="/api/v1/achievements",
        operations={
            "get": _operation(
                "listAchievements",
                "The centre's achievements",
                "read",
                {"200": _ok("AchievementList", "current achievements by name"), "422": "Problem"},
                parameters=[
                    {
                        "name": "archived",
                        "in": "query",
                        "schema": {"type": "boolean"},
                        "description": "true: archived achievements and replaced versions",
                    }
                ],
            ),
            "post": _operation(
                "createAchievement",
                "Define an achievement aligned to ESCO skills",
                "issue",
                {"201": _ok("Achievement", "the new achievement"), **REQUEST_PROBLEMS},
                requestBody=_body("AchievementCreateRequest", "the achievement"),
            ),
        },
    )
    spec.path(
        path="/api/v1/achievements/{public_id}",
        parameters=[_ID],
        operations={
            "get": _operation(
                "getAchievement",
                "One achievement version",
                "read",
                {"200": _ok("Achievement", "the achievement"), "404": "Problem"},
            )
        },
    )
    spec.path(
        path="/api/v1/credentials",
        operations={
            "get": _operation(
                "listCredentials",
                "The centre's issued credentials, newest first",
                "read",
                {"200": _ok("CredentialPage", "one page"), "422": "Problem"},
                parameters=[
                    {"name": name, "in": "query", "schema": schema, "description": text}
                    for name, schema, text in (
                        ("q", {"type": "string"}, "words in name, e-mail, id or achievement"),
                        ("status", {"enum": list(catalogue.STATUSES)}, "valid/expired/revoked"),
                        ("issuedFrom", {"type": "string", "format": "date"}, "issue date from"),
                        ("issuedTo", {"type": "string", "format": "date"}, "issue date to"),
                        ("achievement", {"type": "string"}, "one achievement version's id"),
                        ("page", {"type": "integer", "minimum": 1}, "page number (1)"),
                        ("perPage", {"type": "integer", "maximum": 200}, "page size (50)"),
                    )
                ],
            ),
            "post": _operation(
                "issueAchievementCredential",
                "Issue a credential to one learner",
                "issue",
                {
                    "201": _ok("IssueCredentialResult", "the issued credential and claim link"),
                    "200": _ok(
                        "IssueCredentialResult",
                        "an Idempotency-Key replay: the first credential (claimUrl null)",
                    ),
                    "409": "Problem",
                    "429": TOO_MANY_REQUESTS,
                    **REQUEST_PROBLEMS,
                },
                requestBody=_body("CredentialIssueRequest", "the learner and the achievement"),
                parameters=[
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
                        "description": "retrying with the same key issues nothing new",
                    }
                ],
                description=(
                    "validFrom is the issue date (today when left out; never in the future); "
                    "validUntil follows from the achievement's validity in days. The e-mail "
                    "goes into the credential only as a salted hash. The answer carries the "
                    "worker's claim link once."
                ),
            ),
        },
    )
    spec.path(
        path="/api/v1/credentials/{public_id}",
        parameters=[_ID],
        operations={
            "get": _operation(
                "getCentreCredential",
                "One issued credential, with the signed document and its VC-JWT",
                "read",
                {"200": _ok("CredentialDetail", "the credential"), "404": "Problem"},
            )
        },
    )
    spec.path(
        path="/api/v1/credentials/{public_id}/revoke",
        parameters=[_ID],
        operations={
            "post": _operation(
                "revokeCredential",
                "Revoke a credential with a reason",
                "revoke",
                {
                    "200": _ok("Credential", "the revoked credential"),
                    "404": "Problem",
                    "409": "Problem",
                    "429": TOO_MANY_REQUESTS,
                    **REQUEST_PROBLEMS,
                },
                requestBody=_body("RevokeRequest", "the reason, shown on the verify page"),
            )
        },
    )
