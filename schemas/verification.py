"""The verification report, as the CLI's --json output and the verify API return it."""

from __future__ import annotations

from marshmallow import Schema, fields


class CheckSchema(Schema):
    name = fields.String(required=True)
    outcome = fields.String(
        required=True, metadata={"enum": ["passed", "failed", "could not check"]}
    )
    message = fields.String(required=True)
    code = fields.String(allow_none=True)


class VerificationResultSchema(Schema):
    verified = fields.Boolean(required=True)
    verdict = fields.String(
        required=True,
        metadata={
            "enum": [
                "valid",
                "revoked",
                "expired",
                "not yet valid",
                "invalid",
                "issuer not recognised",
                "could not check",
            ]
        },
    )
    form = fields.String(allow_none=True, metadata={"description": "jwt or json"})
    checks = fields.List(fields.Nested(CheckSchema), required=True)
    credential = fields.Dict(allow_none=True)


class WalletCredentialSchema(VerificationResultSchema):
    label = fields.String(
        required=True,
        metadata={"description": "which credential: 'credential 3', or its file name in a ZIP"},
    )
    recipient = fields.Boolean(
        allow_none=True,
        metadata={
            "description": "only when an e-mail was given: whether this credential's subject "
            "has that e-mail (null when it carries no e-mail identity)"
        },
    )


class WalletEnvelopeSchema(Schema):
    verified = fields.Boolean(required=True)
    verdict = fields.String(required=True)
    checks = fields.List(fields.Nested(CheckSchema), required=True)


class WalletReportSchema(Schema):
    """A wallet's report: the bundle's own proof, and one entry per credential inside it."""

    verified = fields.Boolean(
        required=True,
        metadata={
            "description": "true only when the wallet's own proof holds and every credential in "
            "it is valid"
        },
    )
    form = fields.String(
        required=True, metadata={"enum": ["wallet"], "description": "always 'wallet'"}
    )
    container = fields.String(
        required=True, metadata={"enum": ["clr", "zip"], "description": "CLR JSON or a ZIP"}
    )
    wallet = fields.Nested(
        WalletEnvelopeSchema,
        allow_none=True,
        metadata={"description": "the CLR's own checks; null for a ZIP that carries no CLR"},
    )
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "how many credentials got each verdict"},
    )
    credentials = fields.List(fields.Nested(WalletCredentialSchema), required=True)
