"""W3C VC-API issuing (POST /credentials/issue) and the combined app's OpenAPI document.

The endpoint issues with one configured centre's own template, never arbitrary claims. A
token that could sign any content in the centre's name would turn a leaked token into a
forgery service; here the caller names an achievement the centre defined, the learner and the
dates, and Tessera writes everything else exactly as ``issue_credential`` always does (both
proofs, a status entry, the hashed e-mail), so an API-issued credential cannot be told apart
from one issued in the UI or the CLI.

Spec: https://w3c-ccg.github.io/vc-api/#issue-credential
"""

from __future__ import annotations

import hmac
import json
import re
import sys
from collections.abc import Mapping
from functools import cache
from http import HTTPStatus
from typing import Any

from flask import Blueprint, current_app, request
from marshmallow import ValidationError
from werkzeug.exceptions import ServiceUnavailable

from credentials import IssuerProfile, normalize_email
from credentials.dates import format_datetime
from credentials.openbadges import (
    CREDENTIAL_CONTEXT,
    CREDENTIAL_TYPE,
    achievement_document,
    issuer_document,
)
from schemas import IssueCredentialRequestSchema, IssueCredentialResponseSchema
from verifier.api import (
    REQUEST_PROBLEMS,
    openapi_dict,
    openapi_spec,
    read_json_body,
)
from verifier.ratelimit import ISSUE, limited
from verifier.security import csrf

from . import api, bulk_api, pathways, services
from .clock import utcnow
from .db import db
from .errors import InvalidRequestError, NotFoundError
from .models import Achievement, Organisation
from .problems import ProblemResponse, problem

bp = Blueprint("vcapi", __name__)
csrf.exempt(bp)  # authorised by a bearer token, never by a cookie

ACTOR = "vc-api"
MAX_IDEMPOTENCY_KEY_LENGTH = 200  # issued_credential.idempotency_key is String(200)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_IDEMPOTENCY_KEY = re.compile(rf"^[\x21-\x7e]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}$")


@bp.before_request
def _authorise() -> ProblemResponse | None:
    """Off (404) unless configured; then only with the configured bearer token (401)."""
    config = current_app.config
    if not config.get("VCAPI_ISSUER") or not config.get("VCAPI_TOKEN"):
        raise NotFoundError("the VC-API issue endpoint is not enabled on this instance")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    # Compared in constant time, as bytes (a header may carry any Latin-1 text).
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        presented.strip().encode("utf-8"), str(config["VCAPI_TOKEN"]).encode("utf-8")
    ):
        body, status, headers = problem(
            "unauthorized",
            "send the instance's VC-API token as Authorization: Bearer <token>",
            int(HTTPStatus.UNAUTHORIZED),
        )
        error = ', error="invalid_token"' if scheme else ""
        headers["WWW-Authenticate"] = f'Bearer realm="tessera"{error}'
        return body, status, headers
    return None


def _centre() -> Organisation:
    slug = current_app.config["VCAPI_ISSUER"]
    try:
        return services.get_organisation(db(), slug)
    except NotFoundError as e:
        current_app.logger.error("TESSERA_VCAPI_ISSUER names no training centre: %r", slug)
        raise ServiceUnavailable(
            "the VC-API issuer is configured for a training centre that does not exist"
        ) from e


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


def _invalid(path: str, message: str) -> ValidationError:
    """A 422 naming the member of the credential that is wrong, e.g. ``credentialSubject.name``."""
    return ValidationError({"credential": {path: [message]}})


def _same_members(given: Any, expected: Mapping[str, Any], path: str, what: str) -> None:
    """Members the caller wrote must say exactly what Tessera writes (or be left out)."""
    if not isinstance(given, Mapping):
        raise _invalid(path, f"must be an object: {what}")
    for name, value in given.items():
        if name not in expected:
            raise _invalid(f"{path}.{name}", f"Tessera writes no such member for {what}")
        if value != expected[name]:
            raise _invalid(
                f"{path}.{name}",
                f"must be {json.dumps(expected[name], ensure_ascii=False)[:300]} ({what}), "
                "or left out",
            )


def _achievement(reference: str, centre: Organisation, public_url: str) -> Achievement:
    prefix = f"{public_url}/orgs/{centre.slug}/achievements/"
    public_id = reference.removeprefix(prefix)
    if not _UUID.match(public_id):
        raise _invalid(
            "credentialSubject.achievement.id",
            f"name one of {centre.slug!r}'s achievements: {prefix}<id> or the bare id",
        )
    try:
        return services.get_achievement(db(), centre, public_id)
    except NotFoundError as e:
        raise _invalid("credentialSubject.achievement.id", str(e)) from e


def read_issue_request(
    credential: Mapping[str, Any], centre: Organisation, public_url: str
) -> tuple[Achievement, dict[str, Any]]:
    """Check an unsigned credential against what the centre issues; return what to issue.

    Returns the achievement and the keyword arguments of ``issue_credential`` the credential
    supplies (``name``, ``recipient_did``, ``valid_from``, ``valid_until``).

    Raises:
        ValidationError: naming the first member that Tessera would not write as given.
    """
    if credential["context"] != list(CREDENTIAL_CONTEXT):
        raise _invalid("@context", f"must be {json.dumps(list(CREDENTIAL_CONTEXT))}")
    if sorted(credential["type"]) != sorted(CREDENTIAL_TYPE):
        raise _invalid("type", f"must be {json.dumps(list(CREDENTIAL_TYPE))}")
    profile = issuer_document(IssuerProfile(id=centre.did, name=centre.name, url=centre.url))
    if "issuer" in credential:
        given = credential["issuer"]
        if isinstance(given, str):
            if given != centre.did:
                raise _invalid("issuer", f"this endpoint issues only as {centre.did}")
        else:
            _same_members(given, profile, "issuer", f"the profile of {centre.name}")
    subject = credential["credential_subject"]
    achievement = _achievement(subject["achievement"]["id"], centre, public_url)
    expected = achievement_document(services.achievement_value(achievement, public_url))
    given_achievement = {
        "achievementType" if k == "achievement_type" else k: v
        for k, v in subject["achievement"].items()
    }
    _same_members(
        given_achievement,
        expected | {"id": subject["achievement"]["id"]},
        "credentialSubject.achievement",
        f"the centre's achievement {achievement.name!r}",
    )
    if "name" in credential and credential["name"] != achievement.name:
        raise _invalid("name", f"must be the achievement's name, {achievement.name!r}, or left out")
    return achievement, {
        "name": subject["name"].strip(),
        "recipient_did": subject.get("id"),
        "valid_from": credential.get("valid_from"),
        "valid_until": credential.get("valid_until"),
    }


def _replays_other_request(
    issued: services.Issued, achievement: Achievement, **wanted: Any
) -> bool:
    record = issued.record

    def stamp(value: Any) -> str | None:
        return None if value is None else format_datetime(value)

    return (
        record.achievement_id != achievement.id
        or record.recipient_email != normalize_email(wanted["email"])
        or record.recipient_name != wanted["name"]
        or stamp(record.valid_until) != stamp(wanted["valid_until"])
        or (
            wanted["valid_from"] is not None
            and stamp(record.valid_from) != stamp(wanted["valid_from"])
        )
    )


@bp.post("/credentials/issue")
@limited(ISSUE)
def issue() -> tuple[dict[str, Any], int, dict[str, str]]:
    """VC-API: issue the configured centre's credential for one of its achievements."""
    data = IssueCredentialRequestSchema().load(read_json_body())
    key = _idempotency_key()
    centre = _centre()
    public_url = current_app.config["PUBLIC_URL"]
    achievement, claims = read_issue_request(data["credential"], centre, public_url)
    email = data["options"]["recipient_email"]
    issued = services.issue_credential(
        db(),
        current_app.config["KEK_FERNET"],
        organisation=centre,
        achievement=achievement,
        email=email,
        public_url=public_url,
        now=utcnow(),
        idempotency_key=key,
        actor=ACTOR,
        **claims,
    )
    headers = {"Location": issued.verify_url}
    if not issued.created:
        if _replays_other_request(issued, achievement, email=email, **claims):
            raise InvalidRequestError(
                "this Idempotency-Key was already used for a different credential; use a new "
                "key for a new request"
            )
        headers["Idempotent-Replayed"] = "true"
    pathways.after_issue(
        db(), current_app.config["KEK_FERNET"], issued.record, public_url=public_url, now=utcnow()
    )
    body = {"verifiable_credential": json.loads(issued.record.document)}
    return IssueCredentialResponseSchema().dump(body), int(HTTPStatus.CREATED), headers


# -- OpenAPI --------------------------------------------------------------------------------


def _public_document(summary: str, description: str, media_type: str) -> dict[str, Any]:
    return {
        "tags": ["public"],
        "summary": summary,
        "responses": {
            "200": {
                "description": description,
                "content": {media_type: {"schema": {"type": "object"}}},
            },
            "404": "Problem",
        },
    }


_SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}


@cache
def openapi_document() -> dict[str, Any]:
    """The combined app's OpenAPI document (``docs/openapi.json`` is a copy of it)."""
    spec = openapi_spec(
        title="Tessera",
        description=(
            "Issue and verify Open Badges 3.0 micro-credentials. Errors are problem details "
            "(application/problem+json). Public documents need no authentication; "
            "POST /credentials/issue needs the instance's VC-API bearer token."
        ),
    )
    spec.components.security_scheme(
        "vcApiToken",
        {"type": "http", "scheme": "bearer", "description": "TESSERA_VCAPI_TOKEN"},
    )
    spec.components.schema("IssueCredentialRequest", schema=IssueCredentialRequestSchema)
    spec.components.schema("IssueCredentialResponse", schema=IssueCredentialResponseSchema)
    spec.path(
        path="/credentials/issue",
        operations={
            "post": {
                "tags": ["vc-api"],
                "operationId": "issueCredential",
                "summary": "VC-API: issue a credential of the configured training centre",
                "description": (
                    "Enabled only when TESSERA_VCAPI_ISSUER and TESSERA_VCAPI_TOKEN are set "
                    "(404 otherwise). The unsigned OpenBadgeCredential names one of the "
                    "centre's achievements (credentialSubject.achievement.id), the learner "
                    "(credentialSubject.name, optionally a DID as credentialSubject.id) and "
                    "optionally validFrom and validUntil; options.recipientEmail is required "
                    "and only its salted hash goes into the credential. Every other member is "
                    "written by Tessera from the centre's records and, if sent, must equal "
                    "what Tessera writes. The answer is the credential exactly as stored, with "
                    "its Data Integrity proof and status entry. An Idempotency-Key header "
                    "makes retries return the first credential."
                ),
                "security": [{"vcApiToken": []}],
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
                        "description": "retrying with the same key issues nothing new",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": "IssueCredentialRequest"}},
                },
                "responses": {
                    "201": {
                        "description": "the issued credential",
                        "content": {"application/json": {"schema": "IssueCredentialResponse"}},
                    },
                    "401": "Problem",
                    "404": "Problem",
                    "429": api.TOO_MANY_REQUESTS,
                    **REQUEST_PROBLEMS,
                },
            }
        },
    )
    spec.path(
        path="/orgs/{slug}/did.json",
        parameters=[_SLUG],
        operations={
            "get": _public_document(
                "A did:web training centre's DID document",
                "every key the centre ever signed with, as absolute DID URLs (Multikey for "
                "Ed25519, JsonWebKey otherwise)",
                "application/did+json",
            )
        },
    )
    spec.path(
        path="/orgs/{slug}/jwks.json",
        parameters=[_SLUG],
        operations={
            "get": _public_document(
                "A training centre's public keys as a JWK Set",
                "JWK Set; each key's kid is its absolute DID URL",
                "application/jwk-set+json",
            )
        },
    )
    status_list = _public_document(
        "A signed BitstringStatusListCredential",
        "the list with its embedded proof; with Accept: application/vc+jwt, its VC-JWT. "
        "Served with ETag and Cache-Control (the freshness bound TESSERA_STATUS_LIST_TTL)",
        "application/vc+ld+json",
    )
    status_list["responses"]["200"]["content"]["application/vc+jwt"] = {
        "schema": {"type": "string"}
    }
    status_list["responses"]["304"] = {"description": "not modified (If-None-Match)"}
    spec.path(
        path="/orgs/{slug}/status/{sequence}",
        parameters=[
            _SLUG,
            {"name": "sequence", "in": "path", "required": True, "schema": {"type": "integer"}},
        ],
        operations={"get": status_list},
    )
    instance = _public_document(
        "The instance's own DID document",
        "the DID document of the instance (it signs wallet bundles)",
        "application/did+json",
    )
    del instance["responses"]["404"]
    spec.path(path="/.well-known/did.json", operations={"get": instance})
    spec.path(
        path="/healthz",
        operations={
            "get": {
                "tags": ["public"],
                "summary": "Liveness and database reachability",
                "responses": {
                    "200": {
                        "description": "the service and its database answer",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "503": {"description": "the database is unreachable"},
                },
            }
        },
    )
    api.openapi_paths(spec)
    bulk_api.openapi_paths(spec)
    return openapi_dict(spec)


def openapi_json() -> dict[str, Any]:
    """This service's OpenAPI document."""
    return openapi_document()


def openapi_file() -> str:
    """``docs/openapi.json``: the served document, generated from the code; never edited."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(openapi_file())
