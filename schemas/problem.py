"""The error body every API returns (problem details, RFC 9457 style)."""

from __future__ import annotations

from marshmallow import Schema, fields


class ProblemSchema(Schema):
    code = fields.String(required=True, metadata={"description": "stable machine-readable code"})
    title = fields.String(required=True)
    detail = fields.String(required=True, metadata={"description": "what went wrong, for a person"})
    status = fields.Integer(required=True)
    errors = fields.Dict(metadata={"description": "field -> messages, for validation failures"})
