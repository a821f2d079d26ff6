"""Training-centre pages for the catalogue: achievements (with the ESCO skill picker), issuing
one credential, the list of issued credentials (search, filters, CSV) and revoking.

Thin views over issuer/catalogue.py. Viewers see everything; issuers also create, edit,
archive, issue and revoke. Every form works without JavaScript; the skill picker's script
(static/esco-picker.js) only makes the search answer as you type.
"""

from __future__ import annotations

import csv
import functools
import io
import secrets
from collections.abc import Callable, Sequence
from datetime import date
from http import HTTPStatus
from typing import Any, TypeVar

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
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from schemas import AchievementFormSchema, EscoSkillSchema, IssueFormSchema

from . import auth, catalogue, claims, esco, services
from .clock import utcnow
from .db import db
from .errors import ConflictError, InvalidRequestError, IssuerError, NotFoundError
from .models import Achievement
from .ui import bp, spreadsheet_safe

F = TypeVar("F", bound=Callable[..., Any])
ESCO_RESULTS = 20
MIN_ESCO_QUERY = 2


def _public_url() -> str:
    return str(current_app.config["PUBLIC_URL"])


def html_errors(view: F) -> F:
    """Show refusals (403, 404, 409) of these pages as pages, not as API problem documents."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except IssuerError as e:
            return _error_page(int(e.status), str(e))
        except HTTPException as e:
            if e.code in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT):
                return _error_page(e.code, e.description or "")
            raise

    return wrapper  # type: ignore[return-value]


def _error_page(status: int, detail: str) -> ResponseReturnValue:
    return render_template("catalogue_error.html", status=status, detail=detail), status


# -- achievements ------------------------------------------------------------------------------


@bp.get("/centre/achievements")
@html_errors
@auth.login_required()
def achievements() -> ResponseReturnValue:
    """The centre's achievements (current by default, archived on request)."""
    archived = request.args.get("archived") == "1"
    session = db()
    found = catalogue.list_achievements(session, auth.current_org(), archived=archived)
    return render_template(
        "achievements.html",
        achievements=found,
        archived=archived,
        counts=catalogue.issued_counts(session, found),
        skills={a.id: catalogue.skill_choices(a) for a in found},
    )


def _skills_from_form() -> list[catalogue.SkillChoice]:
    uris = request.form.getlist("skill_uri")
    names = request.form.getlist("skill_name")
    removed = request.form.get("remove_skill")
    chosen = [
        catalogue.SkillChoice(uri=uri.strip(), target_name=(name or "").strip())
        for uri, name in zip(uris, names + [""] * (len(uris) - len(names)), strict=False)
        if uri.strip() and uri.strip() != removed
    ][: catalogue.MAX_SKILLS + 1]
    added = request.form.get("add_skill")
    if added and all(c.uri != added for c in chosen):
        known = esco.lookup(added)
        if known is not None:
            chosen.append(catalogue.SkillChoice(uri=known.uri, target_name=known.label))
    return chosen


def _form_values() -> dict[str, Any]:
    return {
        name: request.form.get(name, "")
        for name in (
            "name",
            "description",
            "criteria",
            "achievement_type",
            "validity_days",
            "evidence_required",
        )
    }


def _render_achievement_form(
    *,
    achievement: Achievement | None,
    values: dict[str, Any],
    skills: Sequence[catalogue.SkillChoice],
    errors: dict[str, Any] | None = None,
    message: str | None = None,
    status: int = HTTPStatus.OK,
) -> ResponseReturnValue:
    esco_query = (request.values.get("esco_q") or "").strip()[: esco.MAX_QUERY_LENGTH]
    results = esco.search(esco_query, ESCO_RESULTS) if len(esco_query) >= MIN_ESCO_QUERY else []
    chosen = {s.uri for s in skills}
    page = render_template(
        "achievement_form.html",
        achievement=achievement,
        values=values,
        skills=skills,
        errors=errors or {},
        message=message,
        types=catalogue.ACHIEVEMENT_TYPES,
        esco_query=esco_query,
        esco_results=[r for r in results if r.uri not in chosen],
        searched=len(esco_query) >= MIN_ESCO_QUERY,
    )
    return page, status


def _save_achievement(achievement: Achievement | None) -> ResponseReturnValue:
    """The form's POST: search or change skills (no JavaScript), or save."""
    values = _form_values()
    skills = _skills_from_form()
    action = request.form.get("action", "save")
    if action != "save" or request.form.get("add_skill") or request.form.get("remove_skill"):
        return _render_achievement_form(achievement=achievement, values=values, skills=skills)
    try:
        data = AchievementFormSchema().load(values)
    except ValidationError as e:
        return _render_achievement_form(
            achievement=achievement,
            values=values,
            skills=skills,
            errors=e.normalized_messages(),
            message="Check the fields marked below.",
            status=HTTPStatus.UNPROCESSABLE_ENTITY,
        )
    fields = catalogue.AchievementFields(skills=skills, **data)
    session = db()
    try:
        upload = request.files.get("image")
        image = catalogue.read_image(upload.read()) if upload and upload.filename else None
        if achievement is None:
            saved = catalogue.create_achievement(
                session,
                organisation=auth.current_org(),
                fields=fields,
                now=utcnow(),
                actor=auth.actor(),
                image=image,
            )
            flash(f"“{saved.name}” is created.", "success")
        else:
            saved = catalogue.revise_achievement(
                session,
                achievement,
                fields=fields,
                now=utcnow(),
                actor=auth.actor(),
                image=image,
                remove_image=request.form.get("remove_image") == "1",
            )
            flash(
                f"“{saved.name}” is saved as version {saved.version}. Credentials issued "
                "before keep the version they were issued with.",
                "success",
            )
    except (InvalidRequestError, ConflictError) as e:
        return _render_achievement_form(
            achievement=achievement,
            values=values,
            skills=skills,
            message=str(e),
            status=HTTPStatus.UNPROCESSABLE_ENTITY,
        )
    return redirect(url_for("staff.achievement", public_id=saved.public_id), HTTPStatus.SEE_OTHER)


@bp.route("/centre/achievements/new", methods=["GET", "POST"])
@html_errors
@auth.login_required("issuer")
def achievement_new() -> ResponseReturnValue:
    """Define a new achievement (a job-task competency aligned to ESCO skills)."""
    if request.method == "POST":
        return _save_achievement(None)
    values = {"achievement_type": "ext:JobTask"}
    return _render_achievement_form(achievement=None, values=values, skills=[])


@bp.get("/centre/achievements/<public_id>")
@html_errors
@auth.login_required()
def achievement(public_id: str) -> ResponseReturnValue:
    """One achievement: what it says, its skills, versions and what was issued."""
    session = db()
    found = catalogue.get_achievement(session, auth.current_org(), public_id)
    chain = catalogue.versions(session, found)
    return render_template(
        "achievement_detail.html",
        achievement=found,
        skills=catalogue.skill_choices(found),
        versions=chain,
        counts=catalogue.issued_counts(session, chain),
        current=chain[0] if chain[0].archived_at is None else None,
    )


@bp.route("/centre/achievements/<public_id>/edit", methods=["GET", "POST"])
@html_errors
@auth.login_required("issuer")
def achievement_edit(public_id: str) -> ResponseReturnValue:
    """Edit an achievement: saving makes a new version; issued credentials keep theirs."""
    found = catalogue.get_achievement(db(), auth.current_org(), public_id)
    if found.archived_at is not None:
        raise ConflictError("this version is archived; edit the current version instead")
    if request.method == "POST":
        return _save_achievement(found)
    current = catalogue.fields_of(found)
    values = {
        "name": current.name,
        "description": current.description,
        "criteria": current.criteria,
        "achievement_type": current.achievement_type,
        "validity_days": current.validity_days or "",
        "evidence_required": current.evidence_required or "",
    }
    return _render_achievement_form(achievement=found, values=values, skills=current.skills)


@bp.post("/centre/achievements/<public_id>/archive")
@html_errors
@auth.login_required("issuer")
def achievement_archive(public_id: str) -> ResponseReturnValue:
    """Stop offering an achievement; what was issued stays valid."""
    found = catalogue.get_achievement(db(), auth.current_org(), public_id)
    catalogue.archive_achievement(db(), found, now=utcnow(), actor=auth.actor())
    flash(f"“{found.name}” is archived. Credentials already issued stay valid.", "success")
    return redirect(url_for("staff.achievements"), HTTPStatus.SEE_OTHER)


# Uploaded SVGs are shown only as images; should someone open one directly, nothing in it runs.
IMAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


@bp.get("/centre/achievements/<public_id>/image")
@html_errors
@auth.login_required()
def achievement_image(public_id: str) -> Response:
    """The achievement's badge image (uploaded, or the generated default)."""
    found = catalogue.get_achievement(db(), auth.current_org(), public_id)
    image = catalogue.achievement_image(found)
    response = Response(image.data, mimetype=image.media_type)
    response.headers["Content-Security-Policy"] = IMAGE_POLICY
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.get("/centre/esco/search")
@auth.login_required()
def esco_search() -> Response:
    """ESCO skills matching every word typed: [{uri, label, code}], labels first."""
    query = request.args.get("q", "")
    found = esco.search(query, ESCO_RESULTS) if len(query.strip()) >= MIN_ESCO_QUERY else []
    response = jsonify(EscoSkillSchema(many=True).dump(found))
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


# -- issuing one credential --------------------------------------------------------------------


def _issuable() -> list[Achievement]:
    return list(catalogue.list_achievements(db(), auth.current_org()))


def _render_issue_form(
    values: dict[str, Any],
    *,
    errors: dict[str, Any] | None = None,
    message: str | None = None,
    status: int = HTTPStatus.OK,
) -> ResponseReturnValue:
    page = render_template(
        "issue_form.html",
        values=values,
        errors=errors or {},
        message=message,
        achievements=_issuable(),
        today=utcnow().date().isoformat(),
    )
    return page, status


@bp.route("/centre/issue", methods=["GET", "POST"])
@html_errors
@auth.login_required("issuer")
def issue() -> ResponseReturnValue:
    """Issue a credential to one learner; the result shows its QR code and claim link."""
    if request.method == "GET":
        values = {
            "achievement": request.args.get("achievement", ""),
            "issued_on": utcnow().date().isoformat(),
            "idempotency_key": secrets.token_urlsafe(18),
        }
        return _render_issue_form(values)
    values = {key: request.form.get(key, "") for key in IssueFormSchema().fields}
    try:
        data = IssueFormSchema().load(values)
    except ValidationError as e:
        return _render_issue_form(
            values,
            errors=e.normalized_messages(),
            message="Check the fields marked below.",
            status=HTTPStatus.UNPROCESSABLE_ENTITY,
        )
    session = db()
    organisation = auth.current_org()
    try:
        chosen = catalogue.get_achievement(session, organisation, data["achievement"])
        evidence = catalogue.evidence_from(data["evidence_url"], data["evidence_narrative"])
        result = catalogue.issue(
            session,
            current_app.config["KEK_FERNET"],
            organisation=organisation,
            achievement=chosen,
            name=data["name"],
            email=data["email"],
            public_url=_public_url(),
            now=utcnow(),
            actor=auth.actor(),
            external_id=data["external_id"],
            evidence=evidence,
            issued_on=data["issued_on"],
            idempotency_key=data["idempotency_key"],
        )
    except NotFoundError:
        return _render_issue_form(
            values,
            errors={"achievement": ["Choose one of this centre's achievements."]},
            message="Check the fields marked below.",
            status=HTTPStatus.UNPROCESSABLE_ENTITY,
        )
    except (InvalidRequestError, ConflictError) as e:
        field = "issued_on" if "issue date" in str(e) else None
        return _render_issue_form(
            values,
            errors={field: [str(e)]} if field else None,
            message=str(e),
            status=HTTPStatus.UNPROCESSABLE_ENTITY,
        )
    record = result.issued.record
    return render_template(
        "issue_result.html",
        record=record,
        created=result.issued.created,
        verify_url=result.issued.verify_url,
        claim_url=claims.claim_url(_public_url(), result.claim_token)
        if result.claim_token
        else None,
        status=catalogue.credential_status(record, utcnow()),
        evidence=catalogue.evidence_of(record),
    ), (HTTPStatus.CREATED if result.issued.created else HTTPStatus.OK)


# -- issued credentials ------------------------------------------------------------------------


def _day(name: str, problems: list[str]) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"“{value[:20]}” is not a date (use YYYY-MM-DD); that filter is ignored.")
        return None


def _filters() -> tuple[catalogue.CredentialFilters, list[str]]:
    """The list's filters from the query string; a bad one is ignored and reported."""
    problems: list[str] = []
    status = request.args.get("status", "").strip() or None
    if status not in (None, *catalogue.STATUSES):
        problems.append("Unknown status; that filter is ignored.")
        status = None
    issued_from, issued_to = _day("issued_from", problems), _day("issued_to", problems)
    if issued_from and issued_to and issued_from > issued_to:
        problems.append("The “from” date is after the “to” date; the dates are ignored.")
        issued_from = issued_to = None
    filters = catalogue.CredentialFilters(
        query=request.args.get("q", "").strip()[: catalogue.MAX_QUERY],
        status=status,
        issued_from=issued_from,
        issued_to=issued_to,
        achievement=(request.args.get("achievement", "").strip()[:36] or None),
    )
    return filters, problems


def _filter_args(filters: catalogue.CredentialFilters) -> dict[str, str]:
    args = {
        "q": filters.query,
        "status": filters.status or "",
        "issued_from": filters.issued_from.isoformat() if filters.issued_from else "",
        "issued_to": filters.issued_to.isoformat() if filters.issued_to else "",
        "achievement": filters.achievement or "",
    }
    return {k: v for k, v in args.items() if v}


@bp.get("/centre/credentials")
@html_errors
@auth.login_required()
def credentials() -> ResponseReturnValue:
    """Issued credentials: search, filter, page through, export, select and revoke."""
    filters, problems = _filters()
    try:
        page_number = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page_number = 1
    now = utcnow()
    page = catalogue.find_credentials(db(), auth.current_org(), filters, now=now, page=page_number)
    return render_template(
        "credentials_list.html",
        page=page,
        filters=filters,
        filter_args=_filter_args(filters),
        problems=problems,
        status_of=lambda record: catalogue.credential_status(record, now),
        statuses=catalogue.STATUSES,
    )


@bp.get("/centre/credentials.csv")
@html_errors
@auth.login_required()
def credentials_csv() -> Response:
    """The filtered list as CSV (every cell escaped against formula injection)."""
    filters, _ = _filters()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in catalogue.export_rows(
        db(), auth.current_org(), filters, now=utcnow(), public_url=_public_url()
    ):
        writer.writerow([spreadsheet_safe(cell) for cell in row])
    filename = f"credentials-{utcnow():%Y-%m-%d}.csv"
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )


def _credential_page(public_id: str, **extra: Any) -> ResponseReturnValue:
    record = catalogue.get_credential(db(), auth.current_org(), public_id)
    return render_template(
        "credential_detail.html",
        record=record,
        verify_url=services.verify_url(_public_url(), record),
        status=catalogue.credential_status(record, utcnow()),
        evidence=catalogue.evidence_of(record),
        **extra,
    )


@bp.get("/centre/credentials/<public_id>")
@html_errors
@auth.login_required()
def credential(public_id: str) -> ResponseReturnValue:
    """One issued credential: its summary, QR code, verify link and status."""
    return _credential_page(public_id)


@bp.post("/centre/credentials/<public_id>/claim-link")
@html_errors
@auth.login_required("issuer")
def credential_claim_link(public_id: str) -> ResponseReturnValue:
    """A new claim link for the worker (earlier links stop working)."""
    record = catalogue.get_credential(db(), auth.current_org(), public_id)
    token = catalogue.new_claim_link(db(), record, now=utcnow(), actor=auth.actor())
    return _credential_page(public_id, claim_url=claims.claim_url(_public_url(), token))


@bp.route("/centre/credentials/<public_id>/revoke", methods=["GET", "POST"])
@html_errors
@auth.login_required("issuer")
def credential_revoke(public_id: str) -> ResponseReturnValue:
    """Revoke one credential, with a reason (a confirmation page first)."""
    organisation = auth.current_org()
    record = catalogue.get_credential(db(), organisation, public_id)
    if request.method == "GET":
        return render_template("revoke_confirm.html", records=[record], reason="", single=True)
    reason = request.form.get("reason", "")
    try:
        catalogue.revoke(
            db(), organisation, public_id, reason=reason, now=utcnow(), actor=auth.actor()
        )
    except InvalidRequestError as e:
        page = render_template(
            "revoke_confirm.html", records=[record], reason=reason, single=True, message=str(e)
        )
        return page, HTTPStatus.UNPROCESSABLE_ENTITY
    except ConflictError as e:
        flash(str(e), "error")
        return redirect(url_for("staff.credential", public_id=public_id), HTTPStatus.SEE_OTHER)
    flash("The credential is revoked. Its verify page says so from now on.", "success")
    return redirect(url_for("staff.credential", public_id=public_id), HTTPStatus.SEE_OTHER)


@bp.post("/centre/credentials/revoke-selected")
@html_errors
@auth.login_required("issuer")
def credentials_revoke_selected() -> ResponseReturnValue:
    """Revoke the selected credentials with one reason: confirm, then a report of each."""
    organisation = auth.current_org()
    selected = [p for p in request.form.getlist("selected") if p.strip()]
    reason = request.form.get("reason", "")
    session = db()
    if request.form.get("confirmed") != "1":
        records = []
        for public_id in dict.fromkeys(selected[: catalogue.MAX_SELECTED]):
            try:
                records.append(catalogue.get_credential(session, organisation, public_id))
            except NotFoundError:
                continue
        if not records:
            flash("Select at least one credential to revoke.", "error")
            return redirect(url_for("staff.credentials"), HTTPStatus.SEE_OTHER)
        return render_template("revoke_confirm.html", records=records, reason=reason, single=False)
    try:
        report = catalogue.revoke_selected(
            session, organisation, selected, reason=reason, now=utcnow(), actor=auth.actor()
        )
    except InvalidRequestError as e:
        records = [
            r
            for p in dict.fromkeys(selected[: catalogue.MAX_SELECTED])
            for r in _found(organisation, p)
        ]
        page = render_template(
            "revoke_confirm.html", records=records, reason=reason, single=False, message=str(e)
        )
        return page, HTTPStatus.UNPROCESSABLE_ENTITY
    return render_template("revoke_result.html", report=report, reason=reason.strip())


def _found(organisation: Any, public_id: str) -> list[Any]:
    try:
        return [catalogue.get_credential(db(), organisation, public_id)]
    except NotFoundError:
        return []
