"""Staff pages: signing in and out, roles, invitations, tokens, the audit log, CSRF."""

from __future__ import annotations

import csv
import io
import re
from http import HTTPStatus

import pytest
from sqlalchemy import select

from issuer import accounts, services
from issuer.models import LoginSession

from ..conftest import PUBLIC_URL

PASSWORD = "correct horse battery"


def csrf_of(response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client, email, password=PASSWORD, next_path=""):
    token = csrf_of(client.get("/login"))
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": next_path},
    )


@pytest.fixture
def make_member(db, centre, now):
    def make(role, email=None, organisation=None):
        return accounts.create_user(
            db,
            email=email or f"{role}@example.org",
            name=role.title(),
            password=PASSWORD,
            now=now,
            organisation=organisation or centre,
            role=role,
        )

    return make


def test_sign_in_and_out_ends_the_session_on_the_server(client, db, make_member):
    make_member("viewer")
    response = sign_in(client, "viewer@example.org")
    assert response.status_code == HTTPStatus.FOUND
    assert response.headers["Location"].endswith("/centre/")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    dashboard = client.get("/centre/")
    assert dashboard.status_code == HTTPStatus.OK
    assert "Northside Skills Centre" in dashboard.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_of(dashboard)})
    assert db.scalars(select(LoginSession)).one().ended_at is not None
    assert client.get("/centre/").status_code == HTTPStatus.FOUND  # back to sign-in


def test_a_wrong_password_says_so_without_saying_which_part(client, make_member):
    make_member("viewer")
    for email, password in (("viewer@example.org", "nope"), ("ghost@example.org", PASSWORD)):
        response = sign_in(client, email, password)
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert "do not match an account" in response.get_data(as_text=True)


def test_forms_without_a_csrf_token_are_refused(client, make_member):
    make_member("viewer")
    response = client.post("/login", data={"email": "viewer@example.org", "password": PASSWORD})
    assert response.status_code == HTTPStatus.BAD_REQUEST


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:1"])
def test_after_sign_in_only_local_paths_are_followed(client, make_member, target):
    make_member("viewer")
    response = sign_in(client, "viewer@example.org", next_path=target)
    assert response.headers["Location"] == "/centre/"


def test_pages_need_a_sign_in(client):
    response = client.get("/centre/members")
    assert response.status_code == HTTPStatus.FOUND
    assert "/login?next=" in response.headers["Location"]


@pytest.mark.parametrize(
    ("role", "path", "allowed"),
    [
        ("viewer", "/centre/", True),
        ("viewer", "/centre/members", False),
        ("issuer", "/centre/members", False),
        ("admin", "/centre/members", True),
        ("issuer", "/centre/tokens", False),
        ("admin", "/centre/tokens", True),
        ("issuer", "/centre/audit", False),
        ("admin", "/centre/audit", True),
        ("viewer", "/centre/account", True),
    ],
)
def test_roles_are_checked_on_the_server(client, make_member, role, path, allowed):
    make_member(role)
    sign_in(client, f"{role}@example.org")
    expected = HTTPStatus.OK if allowed else HTTPStatus.FORBIDDEN
    assert client.get(path).status_code == expected


def test_an_admin_invites_and_the_invitee_joins(client, db, centre, make_member):
    make_member("admin")
    sign_in(client, "admin@example.org")
    page = client.get("/centre/members")
    created = client.post(
        "/centre/members",
        data={
            "csrf_token": csrf_of(page),
            "action": "invite",
            "email": "new@example.org",
            "role": "issuer",
        },
    )
    link = re.search(rf"{PUBLIC_URL}(/invite/[A-Za-z0-9_-]+)", created.get_data(as_text=True))
    assert link, "the invitation link is shown"
    client.post("/logout", data={"csrf_token": csrf_of(created)})
    invitation_page = client.get(link.group(1))
    assert "Join Northside Skills Centre" in invitation_page.get_data(as_text=True)
    joined = client.post(
        link.group(1),
        data={"csrf_token": csrf_of(invitation_page), "name": "New Person", "password": PASSWORD},
    )
    assert joined.status_code == HTTPStatus.FOUND
    assert client.get("/centre/").status_code == HTTPStatus.OK
    assert client.get(link.group(1)).status_code == HTTPStatus.NOT_FOUND  # used up


def test_a_member_of_another_centre_cannot_switch_into_this_one(
    client, db, kek, now, make_member, centre
):
    other = services.create_organisation(
        db, kek, slug="other", name="Other Centre", public_url=PUBLIC_URL, now=now
    )
    make_member("admin", email="outsider@example.org", organisation=other)
    sign_in(client, "outsider@example.org")
    page = client.get("/centre/")
    assert "Other Centre" in page.get_data(as_text=True)
    response = client.post(
        "/centre/switch", data={"csrf_token": csrf_of(page), "organisation": str(centre.id)}
    )
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_api_tokens_are_shown_once(client, make_member):
    make_member("admin")
    sign_in(client, "admin@example.org")
    page = client.get("/centre/tokens")
    created = client.post(
        "/centre/tokens",
        data={
            "csrf_token": csrf_of(page),
            "action": "create",
            "name": "Our LMS",
            "scopes": ["read", "issue"],
        },
    )
    text = created.get_data(as_text=True)
    secret = re.search(r"tsr_[0-9a-f]{12}_[A-Za-z0-9_-]+", text).group(0)
    again = client.get("/centre/tokens").get_data(as_text=True)
    assert secret not in again and "Our LMS" in again


def test_audit_csv_escapes_formula_cells(client, db, centre, now, make_member):
    make_member("admin")
    accounts.invite(
        db,
        organisation=centre,
        email="=cmd|' /C calc'!A0@example.org",
        role="viewer",
        now=now,
        invited_by=None,
        actor="=HYPERLINK(1)",
    )
    sign_in(client, "admin@example.org")
    response = client.get("/centre/audit.csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    cells = [cell for row in rows[1:] for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert "'=HYPERLINK(1)" in cells


def test_root_sends_staff_to_their_dashboard_and_others_to_the_credential_check(
    client, make_member
):
    assert client.get("/").headers["Location"].endswith("/verify")
    make_member("viewer")
    sign_in(client, "viewer@example.org")
    assert client.get("/").headers["Location"].endswith("/centre/")


def test_the_api_docs_page_lists_every_documented_operation(client):
    from issuer.vcapi import openapi_document

    page = client.get("/api/v1/docs").get_data(as_text=True)
    for path, item in openapi_document()["paths"].items():
        for method in ("get", "post"):
            if method in item:
                assert f"{method.upper()} {path}" in page
