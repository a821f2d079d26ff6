"""Who is asking: staff sessions for pages, bearer tokens for the API, and role checks.

Every staff page and API call runs in the context of exactly one centre (``current_org()``)
and every query of ours is scoped to it; another centre's ids are simply not found.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from verifier import ratelimit

from . import accounts
from .clock import utcnow
from .db import db
from .models import ApiToken, LoginSession, Membership, Organisation, User

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "sid"


def init_app(app: Flask) -> None:
    secure = app.config["PUBLIC_URL"].startswith("https://")
    app.config.update(
        SESSION_COOKIE_NAME="tessera_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=accounts.SESSION_LIFETIME,
    )
    app.before_request(_load_login)
    # Brute force: failed sign-ins are counted per client address and per account tried.
    ratelimit.limit_endpoint(
        app, "staff.login", ratelimit.LOGIN_BY_ADDRESS, ratelimit.LOGIN_BY_ACCOUNT
    )
    app.context_processor(lambda: {"staff": staff_context()})


def _load_login() -> None:
    g.login = None
    # Touch the session only when the browser sent one: public pages then stay cacheable
    # (no "Vary: Cookie") for everyone who is not signed in.
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        g.login = accounts.load_session(db(), token, now=utcnow())
        if g.login is None:
            session.pop(SESSION_KEY, None)


def sign_in(token: str) -> None:
    session.clear()  # a fresh session (and CSRF token) after signing in
    session[SESSION_KEY] = token
    session.permanent = True


def sign_out() -> None:
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        accounts.end_session(db(), token, now=utcnow())
    session.clear()


def current_login() -> LoginSession | None:
    return g.get("login")


def current_user() -> User:
    login = current_login()
    if login is None:
        raise Unauthorized()
    return login.user


def current_membership() -> Membership | None:
    login = current_login()
    if login is None or login.organisation_id is None:
        return None
    if "membership" not in g:
        g.membership = accounts.membership(db(), login.user, login.organisation_id)
    return g.membership  # type: ignore[no-any-return]


def current_org() -> Organisation:
    """The centre the request acts for (session's current centre, or the API token's)."""
    token: ApiToken | None = g.get("api_token")
    if token is not None:
        return token.organisation
    member = current_membership()
    if member is None:
        abort(403)
    return member.organisation


def actor() -> str:
    """Who to name in the audit log."""
    token: ApiToken | None = g.get("api_token")
    if token is not None:
        return f"api-token:{token.prefix}"
    login = current_login()
    return login.user.email if login else "anonymous"


def login_required(role: str = "viewer") -> Callable[[F], F]:
    """Pages: sign in first (redirect), then the role at the current centre (403)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if current_login() is None:
                return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
            member = current_membership()
            if member is None or not accounts.role_allows(member.role, role):
                raise Forbidden(f"this needs the {role} role at this training centre")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def token_required(scope: str) -> Callable[[F], F]:
    """API: a bearer token of a centre with ``scope`` (401 without one, 403 without scope)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, presented = header.partition(" ")
            record = (
                accounts.token_for(db(), presented.strip(), now=utcnow())
                if scheme.lower() == "bearer"
                else None
            )
            if record is None:
                raise Unauthorized(
                    "send a valid API token: Authorization: Bearer tsr_…",
                    www_authenticate=_bearer_challenge(),
                )
            if scope not in record.scopes.split():
                raise Forbidden(f"this API token does not have the {scope!r} scope")
            g.api_token = record
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _bearer_challenge() -> WWWAuthenticate:
    return WWWAuthenticate("bearer", {"realm": current_app.config["PUBLIC_URL"]})


def staff_context() -> dict[str, Any]:
    """What every staff page shows in its header: who, where, and which centres."""
    login = current_login()
    if login is None:
        return {}
    member = current_membership()
    return {
        "user": login.user,
        "organisation": member.organisation if member else None,
        "role": member.role if member else None,
        "memberships": accounts.memberships(db(), login.user),
    }
