"""Request and response bodies of the JSON verify API and the W3C VC-API endpoints.

VC-API shapes follow https://w3c-ccg.github.io/vc-api/ (``VerifyCredentialRequest``,
``VerifyPresentationRequest``, ``IssueCredentialRequest`` and their results); member names
are the spec's camelCase through ``data_key``, attributes stay snake_case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from credentials import CredentialError
from credentials.dates import parse_datetime
from credentials.limits import nesting_within

from .base import InputSchema
from .verification import CheckSchema, VerificationResultSchema

#: Most credentials one presentation may carry: each is verified in full (canonicalization,
#: signatures, status), so this bounds the work one request can ask for.
MAX_PRESENTED_CREDENTIALS = 100
#: Longest challenge or domain a presentation request may name.
MAX_OPTION_LENGTH = 500
#: Deepest nesting of a presentation: a credential's own limit (64) plus the levels of the
#: presentation around it. Canonicalizing the presentation for its proof recurses per level.
MAX_PRESENTATION_DEPTH = 70

_DID = re.compile(r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$")
# Something that looks like an e-mail address anywhere in a string (a plaintext identity).
_EMAIL_LIKE = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+\.[A-Za-z]{2,}")


class CredentialInput(fields.Field):
    """A credential as a JSON object, or a string (a compact VC-JWT, JSON text, a verify URL).

    Only the type is checked here; the verification pipeline reads everything else.
    """

    # A class-level dict is marshmallow's own convention for error messages.
    default_error_messages = {  # noqa: RUF012
        "invalid": "must be a credential (a JSON object) or a string (a VC-JWT, JSON text, "
        "or a verify link of this service)"
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, dict | str):
            return value
        raise self.make_error("invalid")


class DateTimeStamp(fields.Field):
    """An ``xsd:dateTimeStamp`` (a date-time with a time zone), as credentials write them."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        try:
            return parse_datetime(value, attr or "date")
        except CredentialError as e:
            raise ValidationError(str(e)) from e

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


_CREDENTIAL_INPUT = {
    "oneOf": [
        {"type": "object", "description": "a credential with an embedded proof"},
        {"type": "string", "description": "a compact VC-JWT or the credential's JSON text"},
    ]
}


# -- POST /api/v1/verify ------------------------------------------------------------------


class VerifyRequestSchema(InputSchema):
    credential = CredentialInput(
        required=True,
        metadata={
            "description": "the credential: a JSON object, a compact VC-JWT, JSON text, or a "
            "verify link (or public id) of this service",
            "oneOf": [
                {"type": "object"},
                {"type": "string"},
            ],
        },
    )
    email = fields.Email(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=320),
        metadata={"description": "check that the credential was issued to this e-mail address"},
    )


class VerifyResponseSchema(VerificationResultSchema):
    recipient = fields.Boolean(
        allow_none=True,
        metadata={
            "description": "only when an e-mail was given: whether the credential's subject "
            "has that e-mail (null when the credential carries no e-mail identity)"
        },
    )


# -- VC-API verification ------------------------------------------------------------------


class VerifyOptionsSchema(Schema):
    """VC-API verification options.

    The VC-API lets implementations define further options (``additionalProperties: true``),
    so unknown options are accepted here and reported back as warnings, never silently
    honoured nor refused: an ignored option can only make verification stricter than asked.
    """

    class Meta:
        unknown = INCLUDE

    challenge = fields.String(
        validate=validate.Length(min=1, max=MAX_OPTION_LENGTH),
        metadata={"description": "the presentation proof must carry this challenge"},
    )
    domain = fields.String(
        validate=validate.Length(min=1, max=MAX_OPTION_LENGTH),
        metadata={"description": "the presentation proof must be for this domain"},
    )


class VerifyCredentialRequestSchema(InputSchema):
    verifiable_credential = CredentialInput(
        required=True,
        data_key="verifiableCredential",
        metadata={
            "description": "a credential with an embedded proof, an "
            "EnvelopedVerifiableCredential, or a compact VC-JWT",
            **_CREDENTIAL_INPUT,
        },
    )
    options = fields.Nested(VerifyOptionsSchema, load_default=dict)


def _presented(value: Any) -> None:
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_PRESENTED_CREDENTIALS:
        raise ValidationError(
            f"a presentation may carry at most {MAX_PRESENTED_CREDENTIALS} credentials"
        )
    if not all(isinstance(item, dict | str) for item in items):
        raise ValidationError(
            "each credential must be a JSON object (a credential, or an "
            "EnvelopedVerifiableCredential) or a compact VC-JWT string"
        )


class PresentationSchema(Schema):
    """The members of a presentation this service reads; the rest are kept as they are."""

    class Meta:
        unknown = INCLUDE

    # Named as in JSON (no data_key), so the loaded presentation keeps the signed names.
    verifiableCredential = fields.Raw(
        validate=_presented,
        metadata={
            "description": "one credential or a list of them: objects, "
            "EnvelopedVerifiableCredentials or compact VC-JWTs"
        },
    )

    @validates_schema(pass_original=True)
    def _depth(self, data: Mapping[str, Any], original: Any, **kwargs: Any) -> None:
        if not nesting_within(original, MAX_PRESENTATION_DEPTH):
            raise ValidationError(
                f"the presentation is nested deeper than {MAX_PRESENTATION_DEPTH} levels"
            )


class VerifyPresentationRequestSchema(InputSchema):
    verifiable_presentation = fields.Nested(
        PresentationSchema, required=True, data_key="verifiablePresentation"
    )
    options = fields.Nested(VerifyOptionsSchema, load_default=dict)


class VcApiMessageSchema(Schema):
    """One error or warning of a VC-API verification result."""

    check = fields.String(required=True, metadata={"description": "the check it comes from"})
    code = fields.String(required=True, metadata={"description": "stable machine-readable code"})
    message = fields.String(required=True, metadata={"description": "what was found, for a person"})


class VcApiVerifyResponseSchema(Schema):
    verified = fields.Boolean(
        required=True,
        metadata={
            "description": "true when no check failed and none could not be checked (proof, "
            "dates, status, schema); whether the issuer is on this service's list of "
            "recognised issuers is a warning, as the VC-API leaves trust to the caller"
        },
    )
    checks = fields.List(
        fields.String(), required=True, metadata={"description": "names of the passed checks"}
    )
    warnings = fields.List(fields.Nested(VcApiMessageSchema), required=True)
    errors = fields.List(fields.Nested(VcApiMessageSchema), required=True)
    verdict = fields.String(
        required=True,
        metadata={"description": "this service's one-word verdict, as /api/v1/verify gives it"},
    )
    results = fields.List(
        fields.Nested(CheckSchema),
        required=True,
        metadata={"description": "every check with its outcome, as /api/v1/verify gives them"},
    )


class PresentationResultSchema(Schema):
    verified = fields.Boolean(required=True)
    holder = fields.String(
        allow_none=True, metadata={"description": "the holder the proof binds, if checked"}
    )
    checks = fields.List(fields.String(), required=True)
    warnings = fields.List(fields.Nested(VcApiMessageSchema), required=True)
    errors = fields.List(fields.Nested(VcApiMessageSchema), required=True)


class VcApiPresentationResponseSchema(Schema):
    verified = fields.Boolean(
        required=True,
        metadata={
            "description": "every credential verified and the presentation's own proof "
            "verified or absent"
        },
    )
    presentation_result = fields.Nested(
        PresentationResultSchema, required=True, data_key="presentationResult"
    )
    credential_results = fields.List(
        fields.Nested(VcApiVerifyResponseSchema),
        required=True,
        data_key="credentialResults",
        metadata={"description": "one result per credential, in the presentation's order"},
    )
    checks = fields.List(fields.String(), required=True)
    warnings = fields.List(fields.Nested(VcApiMessageSchema), required=True)
    errors = fields.List(fields.Nested(VcApiMessageSchema), required=True)


# -- VC-API issuing -----------------------------------------------------------------------


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


def _did(value: str) -> None:
    if not _DID.match(value):
        raise ValidationError("not a DID")


def _no_identifier(value: Any) -> None:
    raise ValidationError(
        "Tessera writes the recipient's identity itself, as a salted hash of "
        "options.recipientEmail; leave identifier out (a plaintext e-mail must never be "
        "put into a credential)"
    )


def _assigned_by_tessera(what: str) -> Any:
    def refuse(value: Any) -> None:
        raise ValidationError(f"{what} is assigned by Tessera when it issues; leave it out")

    return refuse


class AchievementReferenceSchema(InputSchema):
    """An achievement named by id; other members, if given, must be the centre's own."""

    id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "<public URL>/orgs/<slug>/achievements/<uuid>, or the bare uuid"},
    )
    # What Tessera itself writes for the achievement; compared with the centre's definition.
    type = fields.Raw()
    achievement_type = fields.Raw(data_key="achievementType")
    name = fields.Raw()
    description = fields.Raw()
    criteria = fields.Raw()
    alignment = fields.Raw()


class UnsignedSubjectSchema(InputSchema):
    id = fields.String(
        validate=[validate.Length(max=500), _did],
        metadata={"description": "the learner's DID, if they have one"},
    )
    type = fields.Raw(required=True, metadata={"description": "AchievementSubject"})
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), _not_blank])
    identifier = fields.Raw(
        validate=_no_identifier,
        metadata={"description": "not accepted: Tessera writes the hashed e-mail identity"},
    )
    achievement = fields.Nested(AchievementReferenceSchema, required=True)

    @validates_schema
    def _type(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        kind = data.get("type")
        if kind not in ("AchievementSubject", ["AchievementSubject"]):
            raise ValidationError('must be "AchievementSubject"', field_name="type")


class UnsignedCredentialSchema(InputSchema):
    """An unsigned ``OpenBadgeCredential`` of the shape Tessera issues.

    Only the learner's name, the achievement, the optional learner DID and the dates are read
    from it; everything else Tessera writes from the centre's own records.
    """

    context = fields.List(fields.String(), required=True, data_key="@context")
    id = fields.Raw(
        validate=_assigned_by_tessera("the credential id"),
        metadata={"description": "not accepted: Tessera assigns the id"},
    )
    type = fields.List(fields.String(), required=True)
    name = fields.Raw(metadata={"description": "if given, the achievement's name"})
    issuer = fields.Raw(metadata={"description": "if given, the centre's DID or its profile"})
    valid_from = DateTimeStamp(
        data_key="validFrom",
        metadata={"type": "string", "format": "date-time", "description": "default: now"},
    )
    valid_until = DateTimeStamp(
        data_key="validUntil",
        metadata={"type": "string", "format": "date-time", "description": "default: no expiry"},
    )
    credential_subject = fields.Nested(
        UnsignedSubjectSchema, required=True, data_key="credentialSubject"
    )
    credential_status = fields.Raw(
        data_key="credentialStatus",
        validate=_assigned_by_tessera("credentialStatus"),
        metadata={"description": "not accepted: Tessera allocates the status entry"},
    )
    proof = fields.Raw(
        validate=_assigned_by_tessera("the proof (send the credential unsigned)"),
        metadata={"description": "not accepted: the credential is sent unsigned"},
    )

    @validates_schema(pass_original=True)
    def _no_plaintext_email(self, data: Mapping[str, Any], original: Any, **kwargs: Any) -> None:
        # The learner-facing parts are all that a client writes; the achievement and issuer
        # are compared with the centre's own text, which may well mention an address.
        if not isinstance(original, Mapping):
            return
        for path, value in _strings(original, "", skip={"credentialSubject.achievement", "issuer"}):
            if _EMAIL_LIKE.search(value):
                raise ValidationError(
                    "the credential must not carry a plaintext e-mail address; send the "
                    "recipient's e-mail as options.recipientEmail and Tessera writes only its "
                    "salted hash",
                    field_name=path,
                )


def _strings(value: Any, path: str, *, skip: set[str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, Any, int]] = [(path, value, 0)]
    while stack:
        where, node, depth = stack.pop()
        if where in skip or depth > 32:
            continue
        if isinstance(node, str):
            found.append((where or "credential", node))
        elif isinstance(node, Mapping):
            stack.extend(
                (f"{where}.{k}" if where else str(k), v, depth + 1) for k, v in node.items()
            )
        elif isinstance(node, list):
            stack.extend((f"{where}[{i}]", v, depth + 1) for i, v in enumerate(node))
    return found


class IssueOptionsSchema(InputSchema):
    recipient_email = fields.Email(
        required=True,
        data_key="recipientEmail",
        validate=validate.Length(max=320),
        metadata={"description": "the learner's e-mail; only its salted hash is in the credential"},
    )


class IssueCredentialRequestSchema(InputSchema):
    credential = fields.Nested(UnsignedCredentialSchema, required=True)
    options = fields.Nested(IssueOptionsSchema, required=True)


class IssueCredentialResponseSchema(Schema):
    verifiable_credential = fields.Dict(
        required=True,
        data_key="verifiableCredential",
        metadata={
            "description": "the issued credential with its Data Integrity proof, exactly as "
            "stored and as its verify page serves it"
        },
    )
