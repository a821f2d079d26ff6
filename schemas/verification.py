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
