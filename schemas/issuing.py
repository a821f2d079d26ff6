"""Request schemas for creating centres, achievements and credentials (API and CLI alike)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from credentials import SUPPORTED_ALGORITHMS

from .base import InputSchema

_text = validate.Length(min=1, max=200)
_long_text = validate.Length(min=1, max=5000)


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


class OrganisationCreateSchema(InputSchema):
    slug = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
            error="use 1-63 lower-case letters, digits and hyphens (e.g. north-welding)",
        ),
    )
    name = fields.String(required=True, validate=[_text, _not_blank])
    did_method = fields.String(load_default="web", validate=validate.OneOf(["web", "key"]))
    jwt_algorithm = fields.String(
        load_default="RS256", validate=validate.OneOf(SUPPORTED_ALGORITHMS)
    )
    url = fields.Url(load_default=None, schemes={"http", "https"})


class AchievementCreateSchema(InputSchema):
    name = fields.String(required=True, validate=[_text, _not_blank])
    description = fields.String(required=True, validate=[_long_text, _not_blank])
    criteria = fields.String(required=True, validate=[_long_text, _not_blank])
    achievement_type = fields.String(load_default="Competency", validate=validate.Length(max=64))
    skills = fields.List(
        fields.String(validate=validate.Length(max=500)),
        load_default=list,
        validate=validate.Length(max=50),
    )


class IssueRequestSchema(InputSchema):
    name = fields.String(required=True, validate=[_text, _not_blank])
    email = fields.Email(required=True, validate=validate.Length(max=320))
    valid_until = fields.AwareDateTime(load_default=None, format="iso")
    recipient_did = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$", error="not a DID"),
    )
