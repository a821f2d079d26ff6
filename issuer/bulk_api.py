"""JSON API for bulk issuing: ``/api/v1/bulk-jobs``.

Create a job from rows (JSON) or a spreadsheet (multipart), read its state and per-row
outcome, confirm, cancel, and make claim links. API tokens authorise it: scope ``issue`` to
create and change jobs, ``read`` to read them. Errors are problem details.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from apispec import APISpec
from flask import Blueprint, current_app, request
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from schemas import (
    BulkJobCreateSchema,
    BulkJobSchema,
    BulkJobUploadSchema,
    BulkRowSchema,
    ClaimLinksSchema,
)
from schemas.bulk import BulkRowInputSchema, ClaimLinkSchema
from verifier.api import REQUEST_PROBLEMS, read_json_body
from verifier.ratelimit import ISSUE, limited, openapi_429
from verifier.security import csrf

from . import bulk, jobs, services
from .auth import actor, current_org, token_required
from .clock import utcnow
from .db import db
from .errors import InvalidRequestError
from .models import BulkJob, BulkRow, IssuedCredential

bp = Blueprint("bulk_api", __name__, url_prefix="/api/v1/bulk-jobs")
csrf.exempt(bp)  # authorised by a bearer token, never by a cookie

MAX_IDEMPOTENCY_KEY_LENGTH = 200
_IDEMPOTENCY_KEY = re.compile(rf"^[\x21-\x7e]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}$")
#: A multipart upload: the spreadsheet plus a little room for the form fields around it.
MAX_UPLOAD_REQUEST = bulk.MAX_UPLOAD_BYTES + 64 * 1024
Reply = tuple[dict[str, Any], int, dict[str, str]]


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise ValidationError(
            {
                "Idempotency-Key": [
                    f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters "
                    "without spaces"
                ]
            }
        )
    return key


def _read_request() -> tuple[dict[str, Any], list[bulk.RowInput], str, list[str]]:
    """The create request as (fields, rows, filename, notes): JSON rows or an uploaded file."""
    if request.mimetype == "multipart/form-data":
        request.max_content_length = MAX_UPLOAD_REQUEST
        data = BulkJobUploadSchema().load(request.form.to_dict())
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise ValidationError({"file": ["attach the CSV or XLSX file as the 'file' part"]})
        content = upload.stream.read(bulk.MAX_UPLOAD_BYTES + 1)
        sheet = bulk.read_spreadsheet(content, upload.filename)
        return data, list(sheet.rows), upload.filename, list(sheet.notes)
    data = BulkJobCreateSchema().load(read_json_body())
    rows = [
        bulk.RowInput(
            row_number=number,
            name=row["name"],
            email=row["email"],
            external_id=row["external_id"] or "",
            evidence_url=row["evidence_url"] or "",
        )
        for number, row in enumerate(data["rows"], start=1)
    ]
    return data, rows, "api", []


def _job_document(job: BulkJob) -> dict[str, Any]:
    public_url = current_app.config["PUBLIC_URL"]
    counts = bulk.row_counts(db(), job)
    records = db().execute(
        select(BulkRow, IssuedCredential)
        .outerjoin(IssuedCredential, BulkRow.credential_id == IssuedCredential.id)
        .where(BulkRow.job_id == job.id)
        .order_by(BulkRow.row_number)
    )
    return {
        "id": job.public_id,
        "state": job.state,
        "achievement": job.achievement.public_id,
        "filename": job.filename,
        "created_by": job.created_by,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "total": job.total,
        "issued": job.issued,
        "failed": job.failed,
        "invalid": counts[bulk.RowStatus.INVALID],
        "pending": counts[bulk.RowStatus.PENDING],
        "rows": [
            {
                "row": row.row_number,
                "name": row.name,
                "email": row.email,
                "external_id": row.external_id,
                "evidence_url": row.evidence,
                "status": row.status,
                "message": row.message,
                "credential": None
                if record is None
                else {
                    "id": record.credential_id,
                    "public_id": record.public_id,
                    "verify_url": services.verify_url(public_url, record),
                },
            }
            for row, record in records
        ],
    }


def _reply(job: BulkJob, status: HTTPStatus, *, replayed: bool = False) -> Reply:
    job = bulk.refresh(db(), job)
    headers = {"Location": f"{current_app.config['PUBLIC_URL']}{bp.url_prefix}/{job.public_id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return BulkJobSchema().dump(_job_document(job)), int(status), headers


def _start(job: BulkJob) -> BulkJob:
    """Confirm and enqueue (a queue that cannot be reached only delays the job)."""
    job = bulk.confirm_job(db(), job, now=utcnow(), actor=actor())
    try:
        jobs.enqueue_job(job.id)
    except jobs.QueueUnavailableError:
        current_app.logger.warning("bulk job %s waits for the queue", job.public_id)
    return job


def _same_request(job: BulkJob, achievement_id: int, rows: list[bulk.RowInput]) -> bool:
    stored = db().execute(select(BulkRow.row_number, BulkRow.email).where(BulkRow.job_id == job.id))
    return job.achievement_id == achievement_id and sorted(stored) == sorted(
        (r.row_number, bulk.stored_email(r.email)) for r in rows
    )


@bp.post("")
@limited(ISSUE)
@token_required("issue")
def create() -> Reply:
    """Create a bulk job: rows are checked; with ``confirm`` the valid ones are issued."""
    key = _idempotency_key()
    data, rows, filename, _notes = _read_request()
    organisation = current_org()
    achievement = services.get_achievement(db(), organisation, data["achievement"])
    public_id = bulk.job_id_for_key(organisation, key) if key else None
    if public_id is not None:
        existing = db().scalars(select(BulkJob).where(BulkJob.public_id == public_id)).first()
        if existing is not None:
            return _replay(existing, achievement.id, rows, confirm=data["confirm"])
    try:
        job = bulk.create_job(
            db(),
            organisation=organisation,
            achievement=achievement,
            rows=rows,
            filename=filename,
            created_by=actor(),
            now=utcnow(),
            public_id=public_id,
        )
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key created it first.
        if public_id is None:
            raise
        existing = db().scalars(select(BulkJob).where(BulkJob.public_id == public_id)).one()
        return _replay(existing, achievement.id, rows, confirm=data["confirm"])
    if data["confirm"] and job.total:
        job = _start(job)
    return _reply(job, HTTPStatus.CREATED)


def _replay(
    job: BulkJob, achievement_id: int, rows: list[bulk.RowInput], *, confirm: bool
) -> Reply:
    if not _same_request(job, achievement_id, rows):
        raise InvalidRequestError(
            "this Idempotency-Key was already used for a different bulk job; use a new key for "
            "a new request"
        )
    if confirm and job.state == bulk.JobState.PREVIEW and job.total:
        job = _start(job)  # the first attempt stopped between creating and confirming
    return _reply(job, HTTPStatus.OK, replayed=True)


def _job(public_id: str) -> BulkJob:
    return bulk.get_job(db(), current_org(), public_id)


@bp.get("/<public_id>")
@token_required("read")
def show(public_id: str) -> Reply:
    """A job's state, counts and the outcome of every row (with the credential issued)."""
    return _reply(_job(public_id), HTTPStatus.OK)


@bp.post("/<public_id>/confirm")
@token_required("issue")
def confirm(public_id: str) -> Reply:
    """Start issuing a previewed job's valid rows."""
    return _reply(_start(_job(public_id)), HTTPStatus.OK)


@bp.post("/<public_id>/cancel")
@token_required("issue")
def cancel(public_id: str) -> Reply:
    """Stop a job before its next row (what was issued stays issued)."""
    job = bulk.cancel_job(db(), _job(public_id), now=utcnow(), actor=actor())
    return _reply(job, HTTPStatus.OK)


@bp.post("/<public_id>/claim-links")
@token_required("issue")
def claim_links(public_id: str) -> tuple[dict[str, Any], int]:
    """New claim links for every issued row; links made earlier for this job stop working."""
    job = _job(public_id)
    links = bulk.claim_links(
        db(), job, public_url=current_app.config["PUBLIC_URL"], now=utcnow(), actor=actor()
    )
    body = {
        "job": job.public_id,
        "links": [
            {
                "row": link.row_number,
                "name": link.name,
                "email": link.email,
                "external_id": link.external_id,
                "verify_url": link.verify_url,
                "claim_url": link.claim_url,
            }
            for link in links
        ],
    }
    return ClaimLinksSchema().dump(body), int(HTTPStatus.OK)


# -- OpenAPI --------------------------------------------------------------------------------

_JOB_ID = {"name": "public_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _job_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": "BulkJob"}},
    }


def openapi_paths(spec: APISpec) -> None:
    """Add the bulk-job endpoints and their schemas to the service's OpenAPI document."""
    if "apiToken" not in spec.components.security_schemes:
        spec.components.security_scheme(
            "apiToken",
            {
                "type": "http",
                "scheme": "bearer",
                "description": "a training centre's API token (tsr_…), with the scopes named",
            },
        )
    for name, schema in (
        ("BulkRowInput", BulkRowInputSchema),
        ("BulkJobCreate", BulkJobCreateSchema),
        ("BulkRow", BulkRowSchema),
        ("BulkJob", BulkJobSchema),
        ("ClaimLink", ClaimLinkSchema),
        ("ClaimLinks", ClaimLinksSchema),
    ):
        spec.components.schema(name, schema=schema)
    issue = [{"apiToken": ["issue"]}]
    spec.tag({"name": "bulk", "description": "Issue to a group: bulk jobs"})
    spec.path(
        path="/api/v1/bulk-jobs",
        operations={
            "post": {
                "tags": ["bulk"],
                "operationId": "createBulkJob",
                "summary": "Create a bulk job (and optionally start it)",
                "description": (
                    "Send the learners as JSON rows, or upload a CSV or XLSX file as multipart "
                    "(parts: file, achievement, confirm) with the same columns the web upload "
                    f"reads (name, email, external_id, evidence_url; at most {bulk.MAX_ROWS:,} "
                    f"rows, {bulk.MAX_UPLOAD_BYTES // 2**20} MiB). Every row is checked: rows "
                    "with problems (missing name, bad e-mail, duplicate e-mail, a cell that "
                    "could run as a spreadsheet formula, an evidence link that is not http(s), "
                    "a learner who already holds the achievement) are kept as invalid, with "
                    "the reasons, and never issued. With confirm true the valid rows are "
                    "issued in the background: poll GET /api/v1/bulk-jobs/{public_id}. An "
                    "Idempotency-Key makes a retried request return the first job (200, "
                    "Idempotent-Replayed: true) instead of creating a second one. Needs the "
                    "issue scope."
                ),
                "security": issue,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
                        "description": "retrying with the same key creates nothing new",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": "BulkJobCreate"},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file", "achievement"],
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "achievement": {"type": "string"},
                                    "confirm": {"type": "boolean", "default": False},
                                },
                            }
                        },
                    },
                },
                "responses": {
                    "201": _job_response("the job, its counts and every row's status"),
                    "200": _job_response("an Idempotency-Key replay: the first job"),
                    "429": openapi_429("issuing is counted per API token"),
                    "401": "Problem",
                    "403": "Problem",
                    "404": "Problem",
                    **REQUEST_PROBLEMS,
                },
            }
        },
    )
    spec.path(
        path="/api/v1/bulk-jobs/{public_id}",
        parameters=[_JOB_ID],
        operations={
            "get": {
                "tags": ["bulk"],
                "operationId": "getBulkJob",
                "summary": "A bulk job's state, counts and per-row outcome",
                "description": (
                    "state is preview, queued, running, finished or cancelled; each row is "
                    "pending, invalid, issued (with its credential) or failed (with the "
                    "reason). Needs the read scope."
                ),
                "security": [{"apiToken": ["read"]}],
                "responses": {
                    "200": _job_response("the job"),
                    "401": "Problem",
                    "403": "Problem",
                    "404": "Problem",
                },
            }
        },
    )
    for action, summary, description in (
        ("confirm", "Start a previewed job", "Issue the valid rows of a job in state preview."),
        (
            "cancel",
            "Cancel a job",
            "Stop before the next row; credentials already issued stay issued.",
        ),
    ):
        spec.path(
            path=f"/api/v1/bulk-jobs/{{public_id}}/{action}",
            parameters=[_JOB_ID],
            operations={
                "post": {
                    "tags": ["bulk"],
                    "operationId": f"{action}BulkJob",
                    "summary": summary,
                    "description": description + " Needs the issue scope.",
                    "security": issue,
                    "responses": {
                        "200": _job_response("the job"),
                        "401": "Problem",
                        "403": "Problem",
                        "404": "Problem",
                        "409": "Problem",
                        "422": "Problem",
                    },
                }
            },
        )
    spec.path(
        path="/api/v1/bulk-jobs/{public_id}/claim-links",
        parameters=[_JOB_ID],
        operations={
            "post": {
                "tags": ["bulk"],
                "operationId": "bulkJobClaimLinks",
                "summary": "New claim links for every learner issued by a job",
                "description": (
                    "Claim tokens are stored only as hashes, so links are shown once: each "
                    "call makes new links for every issued row and the links of any earlier "
                    "call (or download on the results page) stop working. Only for a finished "
                    "or cancelled job (409 otherwise). Needs the issue scope."
                ),
                "security": issue,
                "responses": {
                    "200": {
                        "description": "one link per issued row",
                        "content": {"application/json": {"schema": "ClaimLinks"}},
                    },
                    "401": "Problem",
                    "403": "Problem",
                    "404": "Problem",
                    "409": "Problem",
                },
            }
        },
    )
