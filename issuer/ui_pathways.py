"""Training-centre pages for stackable pathways: the list, defining one, its detail, archiving.

Thin views over issuer/pathways.py. Viewers see everything; issuers also define and archive.
The staff credential page asks ``pathway_links`` (a template global) what a credential was
built from and which pathway credentials depend on it.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from . import auth, catalogue, pathways
from .clock import utcnow
from .db import db
from .errors import InvalidRequestError
from .models import Achievement, IssuedCredential
from .ui import bp
from .ui_catalogue import html_errors


@bp.app_template_global("pathway_links")
def pathway_links(record: IssuedCredential) -> dict[str, Any]:
    """For the staff credential page: ``parts`` (with their status now) and ``dependents``."""
    session = db()
    now = utcnow()
    parts = [
        {"record": part, "status": catalogue.credential_status(part, now)}
        for part in pathways.parts_of(session, record)
    ]
    dependents = [
        {"record": dependent, "status": catalogue.credential_status(dependent, now)}
        for dependent in pathways.depending_on(session, record)
    ]
    return {
        "parts": parts,
        "dependents": dependents,
        "revoked_part": any(p["status"] == "revoked" for p in parts),
    }


@bp.get("/centre/pathways")
@html_errors
@auth.login_required()
def pathways_list() -> ResponseReturnValue:
    """The centre's pathways (current by default, archived on request)."""
    archived = request.args.get("archived") == "1"
    session = db()
    found = pathways.list_pathways(session, auth.current_org(), archived=archived)
    return render_template(
        "pathways.html",
        pathways=found,
        archived=archived,
        counts={p.id: pathways.award_count(session, p) for p in found},
    )


def _grouped(achievements: list[Achievement]) -> list[tuple[str, list[Achievement]]]:
    groups: dict[str, list[Achievement]] = {}
    for achievement in achievements:
        groups.setdefault(achievement.organisation.name, []).append(achievement)
    return list(groups.items())


def _render_form(
    values: dict[str, Any], *, message: str | None = None, status: int = HTTPStatus.OK
) -> ResponseReturnValue:
    organisation = auth.current_org()
    every = list(pathways.current_achievements(db()))
    page = render_template(
        "pathway_form.html",
        values=values,
        message=message,
        awards=[a for a in every if a.organisation_id == organisation.id],
        groups=_grouped(every),
        modes=pathways.MODES,
        max_parts=pathways.MAX_PARTS,
    )
    return page, status


@bp.route("/centre/pathways/new", methods=["GET", "POST"])
@html_errors
@auth.login_required("issuer")
def pathway_new() -> ResponseReturnValue:
    """Define a pathway: an award of this centre, earned by holding every chosen part."""
    if request.method == "GET":
        return _render_form({"award": "", "parts": [], "mode": "automatic"})
    award = request.form.get("award", "")
    parts = request.form.getlist("parts")[: pathways.MAX_PARTS + 1]
    mode = request.form.get("mode", "")
    values: dict[str, Any] = {"award": award, "parts": parts, "mode": mode}
    try:
        created = pathways.create_pathway(
            db(),
            auth.current_org(),
            award=award,
            parts=parts,
            mode=mode,
            now=utcnow(),
            actor=auth.actor(),
        )
    except InvalidRequestError as e:
        return _render_form(values, message=str(e), status=HTTPStatus.UNPROCESSABLE_ENTITY)
    flash(f"The pathway to “{created.achievement.name}” is defined.", "success")
    return redirect(
        url_for("staff.pathway_detail", public_id=created.public_id), HTTPStatus.SEE_OTHER
    )


@bp.get("/centre/pathways/<public_id>")
@html_errors
@auth.login_required()
def pathway_detail(public_id: str) -> ResponseReturnValue:
    """One pathway: its award, its parts (and who offers them), and how many earned it."""
    session = db()
    found = pathways.get_pathway(session, auth.current_org(), public_id)
    return render_template(
        "pathway_detail.html",
        pathway=found,
        earned=pathways.award_count(session, found),
    )


@bp.post("/centre/pathways/<public_id>/archive")
@html_errors
@auth.login_required("issuer")
def pathway_archive(public_id: str) -> ResponseReturnValue:
    """Stop awarding a pathway; pathway credentials already issued stay valid."""
    session = db()
    found = pathways.get_pathway(session, auth.current_org(), public_id)
    pathways.archive_pathway(session, found, now=utcnow(), actor=auth.actor())
    flash("The pathway is archived. Pathway credentials already issued stay valid.", "success")
    return redirect(url_for("staff.pathways_list"), HTTPStatus.SEE_OTHER)
