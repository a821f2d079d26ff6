"""Training-centre pages for issuing to a group from a spreadsheet.

Upload → preview (every row checked, problems first) → confirm → progress bar → results and
claim links. One address per job (``/centre/bulk/<id>``) shows whichever of the preview,
progress or results pages fits the job's state. Thin views over issuer/bulk.py.
"""

from __future__ import annotations

import csv
import io
import re
from http import HTTPStatus

from flask import (
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from verifier.security import csrf

from . import auth, bulk, jobs, services
from .clock import utcnow
from .db import db
from .errors import IssuerError
from .models import Achievement, BulkJob
from .ui import bp, spreadsheet_safe

#: The upload request: the spreadsheet plus room for the form around it. Larger than the
#: app-wide request limit, so the view raises the limit before anything reads the body.
MAX_UPLOAD_REQUEST = bulk.MAX_UPLOAD_BYTES + 64 * 1024
PAGE_SIZE = 500
CSV_TYPE = "text/csv; charset=utf-8"


def _achievements() -> list[Achievement]:
    """The centre's current achievements (not archived, not superseded by a newer version)."""
    organisation = auth.current_org()
    superseded = select(Achievement.previous_version_id).where(
        Achievement.previous_version_id.is_not(None)
    )
    return list(
        db().scalars(
            select(Achievement)
            .where(
                Achievement.organisation_id == organisation.id,
                Achievement.archived_at.is_(None),
                Achievement.id.not_in(superseded),
            )
            .order_by(Achievement.name)
        )
    )


def _upload_page(status: HTTPStatus = HTTPStatus.OK, selected: str = "") -> ResponseReturnValue:
    return render_template(
        "bulk_upload.html",
        achievements=_achievements(),
        jobs=bulk.list_jobs(db(), auth.current_org()),
        selected=selected,
        max_rows=bulk.MAX_ROWS,
        max_mb=bulk.MAX_UPLOAD_BYTES // 2**20,
    ), status


def _sentence(error: Exception) -> str:
    text = str(error).strip() or error.__class__.__name__
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _basename(filename: str) -> str:
    return re.split(r"[\\/]", filename)[-1].strip() or "upload"


@csrf.exempt  # checked in the view, once the upload limit is raised (see MAX_UPLOAD_REQUEST)
@bp.route("/centre/bulk", methods=["GET", "POST"])
@auth.login_required("issuer")
def bulk_upload() -> ResponseReturnValue:
    """Upload a spreadsheet of learners; recent jobs."""
    if request.method == "GET":
        return _upload_page()
    request.max_content_length = MAX_UPLOAD_REQUEST
    try:
        csrf.protect()
        upload = request.files.get("file")
        selected = request.form.get("achievement", "")
    except RequestEntityTooLarge:
        flash(
            f"The file is too large: at most {bulk.MAX_UPLOAD_BYTES // 2**20} MiB "
            f"({bulk.MAX_ROWS:,} learners). Split it into several files.",
            "error",
        )
        return _upload_page(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    if upload is None or not upload.filename:
        flash("Choose the spreadsheet file to upload.", "error")
        return _upload_page(HTTPStatus.UNPROCESSABLE_ENTITY, selected)
    organisation = auth.current_org()
    try:
        achievement = services.get_achievement(db(), organisation, selected)
        filename = _basename(upload.filename)
        sheet = bulk.read_spreadsheet(upload.stream.read(bulk.MAX_UPLOAD_BYTES + 1), filename)
        job = bulk.create_job(
            db(),
            organisation=organisation,
            achievement=achievement,
            rows=sheet.rows,
            filename=filename,
            created_by=auth.actor(),
            now=utcnow(),
        )
    except IssuerError as e:
        flash(_sentence(e), "error")
        return _upload_page(e.status, selected)
    for note in sheet.notes:
        flash(note, "info")
    if sheet.ignored_columns:
        flash(
            "These columns were not used: " + ", ".join(sheet.ignored_columns) + ".",
            "info",
        )
    return redirect(url_for("staff.bulk_job", job_id=job.public_id))


@bp.get("/centre/bulk/template.csv")
@auth.login_required()
def bulk_template() -> Response:
    """A CSV with the columns the upload reads, and two example learners."""
    return Response(
        "\ufeff" + bulk.TEMPLATE_CSV,  # the BOM makes Excel read it as UTF-8
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=learners-template.csv"},
    )


def _job(job_id: str) -> BulkJob:
    return bulk.get_job(db(), auth.current_org(), job_id)


def _page_number() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@bp.get("/centre/bulk/<job_id>")
@auth.login_required()
def bulk_job(job_id: str) -> ResponseReturnValue:
    """A job: its preview, its progress, or its results, as far as it has got."""
    job = _job(job_id)
    progress = bulk.progress(db(), job)
    counts = bulk.row_counts(db(), job)
    page = _page_number()
    rows, row_total = bulk.rows_for_display(
        db(), job, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    template = {
        bulk.JobState.PREVIEW: "bulk_preview.html",
        bulk.JobState.QUEUED: "bulk_progress.html",
        bulk.JobState.RUNNING: "bulk_progress.html",
    }.get(bulk.JobState(progress.state), "bulk_results.html")
    return render_template(
        template,
        job=job,
        progress=progress,
        counts=counts,
        rows=rows,
        row_total=row_total,
        page=page,
        pages=max(1, -(-row_total // PAGE_SIZE)),
        queue_is_redis=bool(current_app.config.get("REDIS_URL")),
        public_url=current_app.config["PUBLIC_URL"],
    )


@bp.get("/centre/bulk/<job_id>/progress")
@auth.login_required()
def bulk_progress(job_id: str) -> Response:
    """The progress bar's numbers, as JSON (the page polls this every second)."""
    progress = bulk.progress(db(), _job(job_id))
    response = jsonify(
        state=progress.state,
        total=progress.total,
        issued=progress.issued,
        failed=progress.failed,
        done=progress.done,
        percent=progress.percent,
        over=progress.over,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/centre/bulk/<job_id>/confirm")
@auth.login_required("issuer")
def bulk_confirm(job_id: str) -> ResponseReturnValue:
    """Start issuing the previewed rows that are ready."""
    job = _job(job_id)
    try:
        job = bulk.confirm_job(db(), job, now=utcnow(), actor=auth.actor())
        jobs.enqueue_job(job.id)
    except IssuerError as e:  # including a queue that cannot be reached: the job waits
        flash(_sentence(e), "error")
    return redirect(url_for("staff.bulk_job", job_id=job.public_id))


@bp.post("/centre/bulk/<job_id>/cancel")
@auth.login_required("issuer")
def bulk_cancel(job_id: str) -> ResponseReturnValue:
    """Stop the job before its next row (or discard a preview)."""
    job = _job(job_id)
    was_preview = job.state == bulk.JobState.PREVIEW
    try:
        job = bulk.cancel_job(db(), job, now=utcnow(), actor=auth.actor())
    except IssuerError as e:
        flash(_sentence(e), "error")
        return redirect(url_for("staff.bulk_job", job_id=job.public_id))
    if was_preview:
        flash("The upload is discarded; nothing was issued.", "success")
        return redirect(url_for("staff.bulk_upload"))
    flash("The job is cancelled. Credentials issued before it stopped stay issued.", "success")
    return redirect(url_for("staff.bulk_job", job_id=job.public_id))


@bp.post("/centre/bulk/<job_id>/claim-links.csv")
@auth.login_required("issuer")
def bulk_claim_links(job_id: str) -> ResponseReturnValue:
    """New claim links for everyone the job issued to, as CSV; earlier links stop working."""
    job = _job(job_id)
    try:
        links = bulk.claim_links(
            db(),
            job,
            public_url=current_app.config["PUBLIC_URL"],
            now=utcnow(),
            actor=auth.actor(),
        )
    except IssuerError as e:
        flash(_sentence(e), "error")
        return redirect(url_for("staff.bulk_job", job_id=job.public_id))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["row", "name", "email", "external_id", "verify_url", "claim_url"])
    for link in links:
        writer.writerow(
            [
                spreadsheet_safe(v)
                for v in (
                    link.row_number,
                    link.name,
                    link.email,
                    link.external_id,
                    link.verify_url,
                    link.claim_url,
                )
            ]
        )
    return Response(
        "\ufeff" + buffer.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f"attachment; filename=claim-links-{job.public_id[:8]}.csv",
            # The links are secrets: no cache anywhere keeps a copy.
            "Cache-Control": "no-store",
        },
    )
