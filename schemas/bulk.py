"""Bulk issuing over the API: create a job from rows (or a CSV/XLSX upload) and read it back.

A request is refused (422) only when it cannot be read as rows at all. Rows whose content is
wrong — a bad e-mail, a missing name, a duplicate — are kept in the job as ``invalid`` with
the reasons, exactly as the upload preview shows them, so a client sees every problem at once.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from .base import InputSchema

#: Most learners one job may hold (as for an uploaded spreadsheet).
MAX_BULK_ROWS = 20_000
#: Longest value a row's field may carry in a request; the row check flags anything longer
#: than its column allows (name 200, e-mail 320, ...), so this only bounds the request.
MAX_BULK_FIELD = 5_000

_field = validate.Length(max=MAX_BULK_FIELD)


class BulkRowInputSchema(InputSchema):
    name = fields.String(load_default="", validate=_field)
    email = fields.String(load_default="", validate=_field)
    external_id = fields.String(load_default=None, allow_none=True, validate=_field)
    evidence_url = fields.String(
        load_default=None,
        allow_none=True,
        validate=_field,
        metadata={"description": "an http(s) link to the learner's evidence"},
    )


class BulkJobCreateSchema(InputSchema):
    achievement = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "the id of one of the centre's achievements"},
    )
    rows = fields.List(
        fields.Nested(BulkRowInputSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_BULK_ROWS),
    )
    confirm = fields.Boolean(
        load_default=False,
        metadata={
            "description": "true: start issuing the valid rows at once; false: only check "
            "them (state preview), then POST .../confirm"
        },
    )


class BulkJobUploadSchema(InputSchema):
    """The form fields of a multipart upload (the file itself is the ``file`` part)."""

    achievement = fields.String(required=True, validate=validate.Length(min=1, max=100))
    confirm = fields.Boolean(load_default=False)


class BulkCredentialSchema(Schema):
    id = fields.String(required=True, metadata={"description": "the credential's urn:uuid id"})
    public_id = fields.String(required=True)
    verify_url = fields.String(required=True)


class BulkRowSchema(Schema):
    row = fields.Integer(required=True, metadata={"description": "row number in the sheet"})
    name = fields.String(required=True)
    email = fields.String(required=True)
    external_id = fields.String(allow_none=True)
    evidence_url = fields.String(allow_none=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(["pending", "invalid", "issued", "failed"]),
        metadata={
            "description": "pending (to be issued), invalid (flagged; never issued), issued, "
            "failed (refused when issuing)"
        },
    )
    message = fields.String(
        allow_none=True,
        metadata={"description": "why, for a person: each problem of the row on a line of its own"},
    )
    credential = fields.Nested(BulkCredentialSchema, allow_none=True)


class BulkJobSchema(Schema):
    id = fields.String(required=True)
    state = fields.String(
        required=True,
        validate=validate.OneOf(["preview", "queued", "running", "finished", "cancelled"]),
    )
    achievement = fields.String(required=True)
    filename = fields.String(required=True)
    created_by = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True, format="iso")
    started_at = fields.AwareDateTime(allow_none=True, format="iso")
    finished_at = fields.AwareDateTime(allow_none=True, format="iso")
    total = fields.Integer(required=True, metadata={"description": "rows to issue"})
    issued = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    invalid = fields.Integer(required=True, metadata={"description": "rows flagged, skipped"})
    pending = fields.Integer(required=True, metadata={"description": "rows still to issue"})
    rows = fields.List(fields.Nested(BulkRowSchema), required=True)


class ClaimLinkSchema(Schema):
    row = fields.Integer(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    external_id = fields.String(allow_none=True)
    verify_url = fields.String(required=True)
    claim_url = fields.String(required=True)


class ClaimLinksSchema(Schema):
    job = fields.String(required=True)
    links = fields.List(fields.Nested(ClaimLinkSchema), required=True)
