"""The catalogue API and pages: achievements, issuing one credential, listing and revoking.

JSON members are camelCase through ``data_key``; form fields (the staff pages) keep the
names of the HTML inputs. Dates are ISO 8601: ``2026-01-15`` for days, ``2026-01-15T09:30:00Z``
for moments.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, pre_load, validate

from .base import InputSchema

ESCO_SKILL_URI = (
    r"^https?://data\.europa\.eu/esco/skill/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
MAX_IMAGE_BYTES = 1024 * 1024
STATUSES = ("valid", "expired", "revoked")

_name = validate.Length(min=1, max=200)
_text = validate.Length(min=1, max=5000)
_validity = validate.Range(min=1, max=36_500)


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


# -- achievements -----------------------------------------------------------------------------


class SkillChoiceSchema(InputSchema):
    uri = fields.String(
        required=True,
        validate=validate.Regexp(
            ESCO_SKILL_URI, error="not an ESCO skill URI (http://data.europa.eu/esco/skill/<uuid>)"
        ),
        metadata={"description": "the ESCO skill URI, e.g. from GET /centre/esco/search"},
    )
    target_name = fields.String(
        data_key="targetName",
        load_default="",
        validate=validate.Length(max=200),
        metadata={"description": "the skill's name in credentials; ESCO's label when empty"},
    )


class ImageUploadSchema(InputSchema):
    media_type = fields.String(
        data_key="mediaType",
        required=True,
        validate=validate.OneOf(["image/png", "image/svg+xml"]),
    )
    data = fields.String(
        required=True,
        validate=validate.Length(max=(MAX_IMAGE_BYTES * 4) // 3 + 4),
        metadata={"description": "the image file, base64-encoded (at most 1 MiB decoded)"},
    )

    @post_load
    def _decode(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        try:
            data["data"] = base64.b64decode(data["data"], validate=True)
        except (binascii.Error, ValueError) as e:
            raise ValidationError({"data": ["not base64"]}) from e
        return data


class AchievementCreateRequestSchema(InputSchema):
    name = fields.String(required=True, validate=[_name, _not_blank])
    description = fields.String(required=True, validate=[_text, _not_blank])
    criteria = fields.String(
        required=True,
        validate=[_text, _not_blank],
        metadata={"description": "how it is earned (the criteria narrative)"},
    )
    achievement_type = fields.String(
        data_key="achievementType",
        load_default="Competency",
        validate=validate.Length(min=1, max=64),
        metadata={"description": "an OB 3.0 type (Competency, MicroCredential, …) or ext:JobTask"},
    )
    validity_days = fields.Integer(
        data_key="validityDays",
        load_default=None,
        allow_none=True,
        validate=_validity,
        metadata={"description": "credentials are valid this many days from their issue date"},
    )
    evidence_required = fields.String(
        data_key="evidenceRequired",
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=5000),
        metadata={"description": "what evidence the centre asks for (shown to issuers)"},
    )
    skills = fields.List(
        fields.Nested(SkillChoiceSchema),
        load_default=list,
        validate=validate.Length(max=20),
        metadata={"description": "ESCO skills; each becomes an alignment"},
    )
    image = fields.Nested(ImageUploadSchema, load_default=None, allow_none=True)


class AchievementListQuerySchema(InputSchema):
    archived = fields.Boolean(
        load_default=False,
        metadata={"description": "list archived achievements (and replaced versions)"},
    )


class AlignmentSchema(Schema):
    target_name = fields.String(data_key="targetName", required=True)
    target_url = fields.String(data_key="targetUrl", required=True)
    target_framework = fields.String(data_key="targetFramework", allow_none=True)
    target_code = fields.String(data_key="targetCode", allow_none=True)
    target_type = fields.String(data_key="targetType", allow_none=True)


class AchievementSchema(Schema):
    id = fields.String(required=True, metadata={"description": "this version's id"})
    url = fields.String(
        required=True, metadata={"description": "the achievement's id inside credentials"}
    )
    version = fields.Integer(required=True)
    previous_version = fields.String(
        data_key="previousVersion",
        allow_none=True,
        metadata={"description": "the id of the version this one replaced"},
    )
    name = fields.String(required=True)
    description = fields.String(required=True)
    criteria = fields.String(required=True)
    achievement_type = fields.String(data_key="achievementType", required=True)
    validity_days = fields.Integer(data_key="validityDays", allow_none=True)
    evidence_required = fields.String(data_key="evidenceRequired", allow_none=True)
    alignment = fields.List(fields.Nested(AlignmentSchema), required=True)
    image_type = fields.String(
        data_key="imageType",
        allow_none=True,
        metadata={"description": "image/png or image/svg+xml; null: the generated default"},
    )
    created_at = fields.String(
        data_key="createdAt", required=True, metadata={"format": "date-time"}
    )
    archived_at = fields.String(
        data_key="archivedAt",
        allow_none=True,
        metadata={"format": "date-time", "description": "set once archived or replaced"},
    )


class AchievementListSchema(Schema):
    items = fields.List(fields.Nested(AchievementSchema), required=True)


class AchievementFormSchema(InputSchema):
    """The text fields of the achievement form (skills and the image are read separately)."""

    name = fields.String(required=True, validate=[_name, _not_blank])
    description = fields.String(required=True, validate=[_text, _not_blank])
    criteria = fields.String(required=True, validate=[_text, _not_blank])
    achievement_type = fields.String(
        load_default="Competency", validate=validate.Length(min=1, max=64)
    )
    validity_days = fields.Integer(load_default=None, allow_none=True, validate=_validity)
    evidence_required = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=5000)
    )

    @pre_load
    def _blanks(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return _blank_optionals(data, ("validity_days", "evidence_required"))


def _blank_optionals(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Forms send "" for an empty field; an empty optional field is simply not given."""
    data = dict(data)
    for name in names:
        if isinstance(data.get(name), str) and not data[name].strip():
            data[name] = None
    return data


# -- issuing ----------------------------------------------------------------------------------


class EvidenceSchema(InputSchema):
    """An OB 3.0 ``Evidence`` object: a link to the evidence, and/or words about it."""

    id = fields.Url(
        schemes={"http", "https"},
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "a web page with the evidence"},
    )
    type = fields.List(fields.String(), load_default=None, allow_none=True)
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    narrative = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=5000)
    )
    description = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=5000)
    )

    @post_load
    def _drop_empty(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value is not None}


class CredentialIssueRequestSchema(InputSchema):
    achievement = fields.String(
        required=True,
        validate=validate.Length(min=1, max=36),
        metadata={"description": "the id of one of the centre's current achievements"},
    )
    name = fields.String(required=True, validate=[_name, _not_blank])
    email = fields.Email(required=True, validate=validate.Length(max=320))
    external_id = fields.String(
        data_key="externalId",
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={"description": "the centre's own learner id; never in the credential"},
    )
    evidence = fields.List(
        fields.Nested(EvidenceSchema), load_default=list, validate=validate.Length(max=20)
    )
    issued_on = fields.Date(
        data_key="issuedOn",
        load_default=None,
        allow_none=True,
        metadata={"description": "the issue date (validFrom); today when left out; never later"},
    )


class IssueFormSchema(InputSchema):
    """The single-issue form."""

    achievement = fields.String(required=True, validate=validate.Length(min=1, max=36))
    name = fields.String(required=True, validate=[_name, _not_blank])
    email = fields.Email(required=True, validate=validate.Length(max=320))
    external_id = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=200)
    )
    evidence_url = fields.Url(
        schemes={"http", "https"},
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
    )
    evidence_narrative = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=5000)
    )
    issued_on = fields.Date(load_default=None, allow_none=True)
    idempotency_key = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{16,64}$")
    )

    @pre_load
    def _blanks(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data = {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
        return _blank_optionals(
            data,
            ("external_id", "evidence_url", "evidence_narrative", "issued_on", "idempotency_key"),
        )


class CredentialSchema(Schema):
    id = fields.String(
        required=True, metadata={"description": "public id: the verify page is /v/<id>"}
    )
    credential_id = fields.String(
        data_key="credentialId", required=True, metadata={"description": "the urn:uuid id"}
    )
    achievement = fields.Dict(
        required=True, metadata={"description": "{id, name, version} of the achievement"}
    )
    name = fields.String(required=True, metadata={"description": "the learner's name"})
    email = fields.String(required=True)
    external_id = fields.String(data_key="externalId", allow_none=True)
    valid_from = fields.String(
        data_key="validFrom", required=True, metadata={"format": "date-time"}
    )
    valid_until = fields.String(
        data_key="validUntil", allow_none=True, metadata={"format": "date-time"}
    )
    issued_at = fields.String(data_key="issuedAt", required=True, metadata={"format": "date-time"})
    status = fields.String(
        required=True,
        metadata={"enum": ["valid", "expired", "revoked", "not yet valid"]},
    )
    revoked_at = fields.String(
        data_key="revokedAt", allow_none=True, metadata={"format": "date-time"}
    )
    revocation_reason = fields.String(data_key="revocationReason", allow_none=True)
    verify_url = fields.String(data_key="verifyUrl", required=True)
    evidence = fields.List(fields.Dict(), required=True)


class CredentialDetailSchema(CredentialSchema):
    credential = fields.Dict(
        required=True, metadata={"description": "the signed credential (embedded proof)"}
    )
    jwt = fields.String(required=True, metadata={"description": "the same credential as VC-JWT"})


class IssueCredentialResultSchema(CredentialDetailSchema):
    claim_url = fields.String(
        data_key="claimUrl",
        allow_none=True,
        metadata={
            "description": "the worker's claim link, shown once; null on an idempotent replay "
            "(the first answer had it; make a new one on the credential's staff page)"
        },
    )


class CredentialListQuerySchema(InputSchema):
    q = fields.String(
        load_default="",
        validate=validate.Length(max=200),
        metadata={
            "description": "words in the learner's name, e-mail, external id or the "
            "achievement's name"
        },
    )
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    issued_from = fields.Date(data_key="issuedFrom", load_default=None)
    issued_to = fields.Date(data_key="issuedTo", load_default=None)
    achievement = fields.String(load_default=None, validate=validate.Length(max=36))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(
        data_key="perPage", load_default=50, validate=validate.Range(min=1, max=200)
    )


class CredentialPageSchema(Schema):
    items = fields.List(fields.Nested(CredentialSchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(data_key="perPage", required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class RevokeRequestSchema(InputSchema):
    reason = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=500), _not_blank],
        metadata={"description": "why; shown on the credential's verify page"},
    )


class EscoSkillSchema(Schema):
    uri = fields.String(required=True)
    label = fields.String(required=True)
    code = fields.String(required=True)
