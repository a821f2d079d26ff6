"""Request and response bodies of job-task matching: POST /api/v1/match, GET /api/v1/job-profiles.

Member names are camelCase through ``data_key`` (``coveredBy``, ``achievementId``), attributes
stay snake_case, as in the VC-API schemas.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from credentials.wallet import MAX_WALLET_CREDENTIALS

from .api import CredentialInput
from .base import InputSchema
from .verification import VerificationResultSchema

_VERDICTS = VerificationResultSchema().fields["verdict"].metadata["enum"]
#: Longest profile id accepted (a centre's uuid, or ``catalogue:<key>``).
MAX_PROFILE_ID = 200


class ProfileInput(fields.Field):
    """A job profile: the id of a published one, or a profile object described in place."""

    default_error_messages = {  # noqa: RUF012
        # marshmallow formats these messages: braces are doubled
        "invalid": "must be a published job profile's id (a string) or a job profile object "
        '({{"name": ..., "tasks": [{{"name": ..., "skills": [URI], "achievements": [URI]}}]}})',
        "too_long": f"a profile id is at most {MAX_PROFILE_ID} characters",
        "empty": "must not be empty",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                raise self.make_error("empty")
            if len(value) > MAX_PROFILE_ID:
                raise self.make_error("too_long")
            return value.strip()
        if isinstance(value, dict):
            return value
        raise self.make_error("invalid")


_PROFILE_INPUT = {
    "oneOf": [
        {"type": "string", "description": "a published job profile's id"},
        {"$ref": "#/components/schemas/JobProfileInput"},
    ]
}


class JobProfileTaskInputSchema(InputSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    skills = fields.List(
        fields.String(validate=validate.Length(max=500)),
        load_default=list,
        metadata={"description": "skill URIs (ESCO), matched against alignment targetUrl"},
    )
    achievements = fields.List(
        fields.String(validate=validate.Length(max=500)),
        load_default=list,
        metadata={"description": "achievement ids, as credentials carry them"},
    )


class JobProfileInputSchema(InputSchema):
    """A profile described in the request (documentation; verifier.matching reads it)."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(validate=validate.Length(max=5000))
    occupation = fields.String(
        allow_none=True, metadata={"description": "an ESCO occupation URI (optional)"}
    )
    tasks = fields.List(
        fields.Nested(JobProfileTaskInputSchema),
        required=True,
        validate=validate.Length(min=1, max=100),
    )


class MatchRequestSchema(InputSchema):
    profile = ProfileInput(
        required=True,
        metadata={"description": "the job profile: a published one's id, or one described here"}
        | _PROFILE_INPUT,
    )
    credentials = fields.List(
        CredentialInput(),
        required=True,
        validate=validate.Length(min=1, max=MAX_WALLET_CREDENTIALS),
        metadata={
            "description": "the worker's credentials: credential objects, VC-JWT strings, verify "
            "links of this service, or CLR 2.0 wallets (each credential in a wallet counts "
            f"towards the limit of {MAX_WALLET_CREDENTIALS:,})"
        },
    )


class MatchQuerySchema(InputSchema):
    """``?profile=`` when a wallet or credential file is sent as the raw request body."""

    profile = ProfileInput(required=True, metadata={"description": "a published job profile's id"})


# -- responses ------------------------------------------------------------------------------


class MatchProfileSchema(Schema):
    id = fields.String(
        allow_none=True, metadata={"description": "null for a profile described in the request"}
    )
    name = fields.String(required=True)
    source = fields.String(
        allow_none=True,
        metadata={"description": "who published it: a centre's name, or 'Tessera catalogue'"},
    )
    description = fields.String(allow_none=True)
    occupation = fields.String(allow_none=True, metadata={"description": "ESCO occupation URI"})


class MatchSummarySchema(Schema):
    tasks = fields.Integer(required=True, metadata={"description": "how many tasks the role has"})
    covered = fields.Integer(
        required=True, metadata={"description": "how many are covered by a valid credential"}
    )
    complete = fields.Boolean(required=True, metadata={"description": "every task is covered"})


class MatchEvidenceSchema(Schema):
    label = fields.String(
        required=True,
        metadata={
            "description": "which presented credential: 'credential 2', or "
            "'credential 1 · credential 3' for the third in a wallet"
        },
    )
    achievement = fields.String(required=True, metadata={"description": "the achievement's name"})
    issuer = fields.String(required=True, metadata={"description": "the issuer's name"})
    verdict = fields.String(required=True, metadata={"enum": _VERDICTS})
    verified = fields.Boolean(required=True)
    reason = fields.String(
        allow_none=True, metadata={"description": "why it does not count; null when it does"}
    )


class MatchOfferingSchema(Schema):
    achievement_id = fields.String(required=True, data_key="achievementId")
    name = fields.String(required=True)
    issuer = fields.String(required=True)
    url = fields.String(allow_none=True, metadata={"description": "where to read about it"})


class MatchTaskSchema(Schema):
    name = fields.String(required=True)
    skills = fields.List(fields.String(), required=True)
    achievements = fields.List(fields.String(), required=True)
    covered = fields.Boolean(required=True)
    covered_by = fields.List(
        fields.Nested(MatchEvidenceSchema),
        required=True,
        data_key="coveredBy",
        metadata={"description": "valid credentials that cover the task"},
    )
    not_counted = fields.List(
        fields.Nested(MatchEvidenceSchema),
        required=True,
        data_key="notCounted",
        metadata={
            "description": "credentials that would cover it but do not count (revoked, "
            "expired, not valid yet, issuer not recognised, invalid, could not be checked)"
        },
    )
    offerings = fields.List(
        fields.Nested(MatchOfferingSchema),
        required=True,
        metadata={"description": "for a task not covered: achievements offered here that would"},
    )


class MatchCredentialSchema(Schema):
    label = fields.String(required=True)
    verdict = fields.String(required=True, metadata={"enum": _VERDICTS})
    verified = fields.Boolean(required=True)
    achievement = fields.String(allow_none=True)
    issuer = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class MatchResponseSchema(Schema):
    """A match: the role, the summary, each task, and every presented credential's verdict."""

    profile = fields.Nested(MatchProfileSchema, required=True)
    summary = fields.Nested(MatchSummarySchema, required=True)
    tasks = fields.List(fields.Nested(MatchTaskSchema), required=True)
    credentials = fields.List(fields.Nested(MatchCredentialSchema), required=True)


class JobProfileTaskSchema(Schema):
    name = fields.String(required=True)
    skills = fields.List(fields.String(), required=True)
    achievements = fields.List(fields.String(), required=True)


class JobProfileSchema(MatchProfileSchema):
    tasks = fields.List(fields.Nested(JobProfileTaskSchema), required=True)


class JobProfileListSchema(Schema):
    profiles = fields.List(fields.Nested(JobProfileSchema), required=True)
