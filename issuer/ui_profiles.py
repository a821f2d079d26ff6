"""Training-centre pages for job profiles: roles described task by task, written with employer
partners and published for the public match page and workers' wallets.

Thin views over issuer/profiles.py. Viewers read; issuers and admins write, publish and
archive. The task editor works without JavaScript: the form has a fixed number of task rows
(blank ones are skipped) and "Add more task rows" posts the form back with more.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from . import auth, esco, profiles
from .clock import utcnow
from .db import db
from .errors import ConflictError, InvalidRequestError
from .models import JobProfile
from .ui import bp
from .ui_catalogue import ESCO_RESULTS, MIN_ESCO_QUERY, html_errors

BLANK_ROWS = 10  # task rows a new profile's form starts with
MORE_ROWS = 5  # rows "Add more task rows" adds
SPARE_ROWS = 3  # blank rows after the tasks of a profile being edited


def _public_url() -> str:
    return str(current_app.config["PUBLIC_URL"])


def _rows() -> int:
    try:
        rows = int(request.form.get("rows", BLANK_ROWS))
    except ValueError:
        rows = BLANK_ROWS
    return max(1, min(rows, profiles.MAX_TASKS))


def _fields_from_form(rows: int) -> profiles.ProfileFields:
    """What was typed, row by row (blank rows included: their numbers are the form's)."""
    form = request.form
    tasks = tuple(
        profiles.TaskFields(
            name=form.get(f"task-{i}-name", ""),
            skills=tuple(line for line in form.get(f"task-{i}-skills", "").splitlines()),
            achievements=tuple(form.getlist(f"task-{i}-achievements")),
        )
        for i in range(1, rows + 1)
    )
    return profiles.ProfileFields(
        name=form.get("name", ""),
        description=form.get("description", ""),
        occupation_uri=form.get("occupation_uri", ""),
        tasks=tasks,
    )


def _padded(tasks: Sequence[profiles.TaskFields], rows: int) -> list[profiles.TaskFields]:
    rows = max(1, min(rows, profiles.MAX_TASKS))
    return list(tasks[:rows]) + [profiles.TaskFields()] * (rows - len(tasks))


def _render_form(
    *,
    row: JobProfile | None,
    fields: profiles.ProfileFields,
    rows: int,
    message: str | None = None,
    status: int = HTTPStatus.OK,
) -> ResponseReturnValue:
    esco_query = (request.values.get("esco_q") or "").strip()[: esco.MAX_QUERY_LENGTH]
    searched = len(esco_query) >= MIN_ESCO_QUERY
    page = render_template(
        "profile_form.html",
        profile=row,
        fields=fields,
        tasks=_padded(fields.tasks, rows),
        groups=profiles.achievement_choices(db()),
        message=message,
        esco_query=esco_query,
        esco_results=esco.search(esco_query, ESCO_RESULTS) if searched else [],
        searched=searched,
        max_tasks=profiles.MAX_TASKS,
    )
    return page, status


def _save(row: JobProfile | None) -> ResponseReturnValue:
    """The form's POST: more rows or an ESCO search (no JavaScript needed), or save."""
    rows = _rows()
    fields = _fields_from_form(rows)
    action = request.form.get("action", "save")
    if action == "more":
        return _render_form(row=row, fields=fields, rows=rows + MORE_ROWS)
    if action != "save":
        return _render_form(row=row, fields=fields, rows=rows)
    session = db()
    try:
        if row is None:
            saved = profiles.create_profile(
                session,
                organisation=auth.current_org(),
                fields=fields,
                now=utcnow(),
                actor=auth.actor(),
            )
            flash(f"“{saved.name}” is saved as a draft. Publish it when it is ready.", "success")
        else:
            saved = profiles.revise_profile(
                session, row, fields=fields, now=utcnow(), actor=auth.actor()
            )
            flash(f"“{saved.name}” is saved.", "success")
    except (InvalidRequestError, ConflictError) as e:
        message = str(e)
        return _render_form(
            row=row,
            fields=fields,
            rows=rows,
            message=message[:1].upper() + message[1:] + ".",
            status=HTTPStatus.UNPROCESSABLE_ENTITY,
        )
    return redirect(url_for("staff.profile", public_id=saved.public_id), HTTPStatus.SEE_OTHER)


@bp.get("/centre/profiles")
@html_errors
@auth.login_required()
def profile_list() -> ResponseReturnValue:
    """The centre's job profiles: drafts, published and archived."""
    found = profiles.list_profiles(db(), auth.current_org())
    return render_template(
        "profiles.html",
        profiles=found,
        states={p.id: profiles.state(p) for p in found},
        task_counts={p.id: len(json.loads(p.tasks)) for p in found},
    )


@bp.route("/centre/profiles/new", methods=["GET", "POST"])
@html_errors
@auth.login_required("issuer")
def profile_new() -> ResponseReturnValue:
    """Describe a role task by task (saved as a draft)."""
    if request.method == "POST":
        return _save(None)
    return _render_form(row=None, fields=profiles.ProfileFields(name=""), rows=BLANK_ROWS)


@bp.get("/centre/profiles/<public_id>")
@html_errors
@auth.login_required()
def profile(public_id: str) -> ResponseReturnValue:
    """One profile: its tasks, the skills and achievements that show each, and its state."""
    found = profiles.get_profile(db(), auth.current_org(), public_id)
    return render_template(
        "profile_detail.html",
        profile=found,
        state=profiles.state(found),
        tasks=profiles.task_views(db(), found, _public_url()),
    )


@bp.route("/centre/profiles/<public_id>/edit", methods=["GET", "POST"])
@html_errors
@auth.login_required("issuer")
def profile_edit(public_id: str) -> ResponseReturnValue:
    """Change a profile in place (a published one stays published)."""
    found = profiles.get_profile(db(), auth.current_org(), public_id)
    if found.archived_at is not None:
        raise ConflictError("this job profile is archived; it cannot be changed")
    if request.method == "POST":
        return _save(found)
    fields = profiles.fields_of(db(), found)
    return _render_form(row=found, fields=fields, rows=len(fields.tasks) + SPARE_ROWS)


def _change(public_id: str, change: Any, done: str) -> ResponseReturnValue:
    found = profiles.get_profile(db(), auth.current_org(), public_id)
    change(db(), found, now=utcnow(), actor=auth.actor())
    flash(done.format(name=found.name), "success")
    return redirect(url_for("staff.profile", public_id=found.public_id), HTTPStatus.SEE_OTHER)


@bp.post("/centre/profiles/<public_id>/publish")
@html_errors
@auth.login_required("issuer")
def profile_publish(public_id: str) -> ResponseReturnValue:
    """Offer the profile to employers on the match page and to workers in their wallet."""
    return _change(
        public_id,
        profiles.publish_profile,
        "“{name}” is published: employers and workers can match against it.",
    )


@bp.post("/centre/profiles/<public_id>/unpublish")
@html_errors
@auth.login_required("issuer")
def profile_unpublish(public_id: str) -> ResponseReturnValue:
    return _change(
        public_id, profiles.unpublish_profile, "“{name}” is no longer published; it is a draft."
    )


@bp.post("/centre/profiles/<public_id>/archive")
@html_errors
@auth.login_required("issuer")
def profile_archive(public_id: str) -> ResponseReturnValue:
    return _change(public_id, profiles.archive_profile, "“{name}” is archived and offered nowhere.")
