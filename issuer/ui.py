"""Training-centre pages: sign in, dashboard, account, members and invitations, API tokens,
audit log. Thin views: parse the form, call one service, render or redirect."""

from __future__ import annotations

import csv
import io
from http import HTTPStatus
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from . import accounts, auth
from .clock import utcnow
from .db import db
from .errors import IssuerError
from .models import Achievement, ApiToken, AuditEvent, IssuedCredential, Membership, User

bp = Blueprint(
    "staff",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/staff",
)


@bp.app_context_processor
def _staff_helpers() -> dict[str, object]:
    return {
        "available_endpoints": set(current_app.view_functions),
        "role_allows": lambda role, needed: bool(role) and accounts.role_allows(role, needed),
    }


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never redirect to another host after signing in."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("staff.dashboard")


@bp.get("/")
def home() -> ResponseReturnValue:
    """Staff go to their dashboard; everyone else to the credential check."""
    target = "staff.dashboard" if auth.current_login() else "pages.verify"
    return redirect(url_for(target))


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Sign in with e-mail and password."""
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    signed_in = accounts.authenticate(
        db(),
        email=request.form.get("email", ""),
        password=request.form.get("password", ""),
        now=utcnow(),
    )
    if signed_in is None:
        flash("That e-mail address and password do not match an account.", "error")
        return render_template(
            "login.html", next=request.form.get("next", "")
        ), HTTPStatus.UNAUTHORIZED
    auth.sign_in(signed_in.token)
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End this session (on the server, not only in the browser)."""
    auth.sign_out()
    flash("You are signed out.", "success")
    return redirect(url_for("staff.login"))


@bp.get("/centre/")
@auth.login_required()
def dashboard() -> ResponseReturnValue:
    """What the centre has issued, at a glance."""
    organisation = auth.current_org()
    session = db()
    issued = (
        select(func.count())
        .select_from(IssuedCredential)
        .where(IssuedCredential.organisation_id == organisation.id)
    )
    counts = {
        "achievements": session.scalar(
            select(func.count())
            .select_from(Achievement)
            .where(
                Achievement.organisation_id == organisation.id, Achievement.archived_at.is_(None)
            )
        ),
        "issued": session.scalar(issued),
        "revoked": session.scalar(issued.where(IssuedCredential.revoked_at.is_not(None))),
    }
    return render_template("dashboard.html", counts=counts)


@bp.post("/centre/switch")
@auth.login_required()
def switch() -> ResponseReturnValue:
    """Act for another of my centres."""
    login = auth.current_login()
    try:
        organisation_id = int(request.form.get("organisation", ""))
    except ValueError:
        organisation_id = -1
    if login is None:  # login_required has already redirected anonymous visitors
        abort(HTTPStatus.UNAUTHORIZED)
    accounts.switch_organisation(db(), login, organisation_id)
    return redirect(url_for("staff.dashboard"))


@bp.route("/centre/account", methods=["GET", "POST"])
@auth.login_required()
def account() -> ResponseReturnValue:
    """Change my password (every other session of mine ends)."""
    if request.method == "POST":
        try:
            signed_in = accounts.change_password(
                db(),
                auth.current_user(),
                current=request.form.get("current", ""),
                new=request.form.get("new", ""),
                now=utcnow(),
            )
        except IssuerError as e:
            flash(str(e), "error")
            return render_template("account.html"), HTTPStatus.UNPROCESSABLE_ENTITY
        auth.sign_in(signed_in.token)
        flash("Your password is changed. Every other session of yours has ended.", "success")
        return redirect(url_for("staff.account"))
    return render_template("account.html")


# -- members and invitations ----------------------------------------------------------------


@bp.route("/centre/members", methods=["GET", "POST"])
@auth.login_required("admin")
def members() -> ResponseReturnValue:
    """Staff of this centre; invite someone; change roles."""
    organisation = auth.current_org()
    link = None
    if request.method == "POST":
        try:
            if request.form.get("action") == "invite":
                token = accounts.invite(
                    db(),
                    organisation=organisation,
                    email=request.form.get("email", ""),
                    role=request.form.get("role", ""),
                    now=utcnow(),
                    invited_by=auth.current_user(),
                    actor=auth.actor(),
                )
                link = f"{current_app.config['PUBLIC_URL']}{url_for('staff.accept', token=token)}"
            else:
                accounts.set_role(
                    db(),
                    organisation=organisation,
                    user_id=int(request.form.get("user", "0")),
                    role=request.form.get("role", ""),
                    now=utcnow(),
                    actor=auth.actor(),
                )
                flash("Role changed.", "success")
        except (IssuerError, ValueError) as e:
            flash(str(e), "error")
    rows = (
        db()
        .execute(
            select(Membership, User)
            .join(User)
            .where(Membership.organisation_id == organisation.id)
            .order_by(User.name)
        )
        .all()
    )
    return render_template("members.html", rows=rows, link=link, roles=accounts.ROLES)


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept(token: str) -> ResponseReturnValue:
    """Accept an invitation: set a name and password (or confirm yours), then you are in."""
    invitation = accounts.pending_invitation(db(), token, now=utcnow())
    if invitation is None:
        return render_template("invitation_gone.html"), HTTPStatus.NOT_FOUND
    if request.method == "POST":
        try:
            signed_in = accounts.accept_invitation(
                db(),
                token,
                name=request.form.get("name", "").strip() or invitation.email,
                password=request.form.get("password", ""),
                now=utcnow(),
            )
        except IssuerError as e:
            flash(str(e), "error")
            return render_template(
                "accept.html", invitation=invitation
            ), HTTPStatus.UNPROCESSABLE_ENTITY
        auth.sign_in(signed_in.token)
        return redirect(url_for("staff.dashboard"))
    return render_template("accept.html", invitation=invitation)


# -- API tokens -----------------------------------------------------------------------------


@bp.route("/centre/tokens", methods=["GET", "POST"])
@auth.login_required("admin")
def tokens() -> ResponseReturnValue:
    """API tokens: create (the secret is shown once) and revoke."""
    organisation = auth.current_org()
    secret = None
    if request.method == "POST":
        try:
            if request.form.get("action") == "revoke":
                accounts.revoke_api_token(
                    db(),
                    organisation=organisation,
                    token_id=int(request.form.get("token", "0")),
                    now=utcnow(),
                    actor=auth.actor(),
                )
                flash("The token is revoked.", "success")
            else:
                _, secret = accounts.create_api_token(
                    db(),
                    organisation=organisation,
                    name=request.form.get("name", ""),
                    scopes=request.form.getlist("scopes"),
                    now=utcnow(),
                    created_by=auth.current_user(),
                    actor=auth.actor(),
                )
        except (IssuerError, ValueError) as e:
            flash(str(e), "error")
    records = (
        db()
        .scalars(
            select(ApiToken)
            .where(ApiToken.organisation_id == organisation.id)
            .order_by(ApiToken.created_at.desc())
        )
        .all()
    )
    return render_template("tokens.html", records=records, secret=secret, scopes=accounts.SCOPES)


# -- audit log ------------------------------------------------------------------------------


def _audit_events(limit: int | None) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.organisation_id == auth.current_org().id)
        .order_by(AuditEvent.id.desc())
    )
    return list(db().scalars(query.limit(limit) if limit else query))


@bp.get("/centre/audit")
@auth.login_required("admin")
def audit() -> ResponseReturnValue:
    """The centre's audit log, newest first."""
    return render_template("audit.html", events=_audit_events(500))


def spreadsheet_safe(value: object) -> str:
    """A cell that spreadsheet programs will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/centre/audit.csv")
@auth.login_required("admin")
def audit_csv() -> Response:
    """The whole audit log of the centre as CSV (cells escaped against formula injection)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "time", "actor", "action", "subject", "details", "hash"])
    for event in _audit_events(None):
        writer.writerow(
            [
                spreadsheet_safe(v)
                for v in (
                    event.id,
                    event.occurred_at.isoformat(),
                    event.actor,
                    event.action,
                    event.subject,
                    event.details,
                    event.hash,
                )
            ]
        )
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=audit-log.csv"},
    )


from . import ui_bulk  # noqa: E402, F401  (its routes join this blueprint)

# isort: split
from . import ui_catalogue  # noqa: E402, F401  (its routes join this blueprint)

# isort: split
from . import ui_profiles  # noqa: E402, F401  (its routes join this blueprint)

# isort: split
from . import ui_pathways  # noqa: E402, F401  (its routes join this blueprint)

# isort: split
from . import ui_outcomes  # noqa: E402, F401  (its routes join this blueprint)
