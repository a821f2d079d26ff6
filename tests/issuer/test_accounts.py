"""Staff accounts, sessions, invitations and API tokens at the service layer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from issuer import accounts
from issuer.errors import ConflictError, InvalidRequestError, NotFoundError
from issuer.models import AuditEvent, LoginSession, User

PASSWORD = "correct horse battery"


@pytest.fixture
def admin(db, centre, now):
    return accounts.create_user(
        db,
        email="Ana@Example.org",
        name="Ana",
        password=PASSWORD,
        now=now,
        organisation=centre,
        role="admin",
    )


def test_passwords_are_argon2id_and_emails_normalised(admin):
    assert admin.email == "ana@example.org"
    assert admin.password_hash.startswith("$argon2id$")
    assert PASSWORD not in admin.password_hash


def test_sign_in_opens_a_session_and_a_wrong_password_is_audited(db, admin, now):
    assert accounts.authenticate(db, email="ana@example.org", password="wrong", now=now) is None
    assert accounts.authenticate(db, email="nobody@example.org", password="x", now=now) is None
    signed_in = accounts.authenticate(db, email="ANA@example.org", password=PASSWORD, now=now)
    assert signed_in is not None
    login = accounts.load_session(db, signed_in.token, now=now)
    assert login.user.id == admin.id
    stored = db.scalars(select(LoginSession)).one()
    assert stored.token_hash != signed_in.token  # only a hash is kept
    failed = db.scalars(select(AuditEvent.subject).where(AuditEvent.action == "login.failed"))
    assert sorted(failed) == ["ana@example.org", "nobody@example.org"]


def test_sessions_expire_and_end(db, admin, now):
    signed_in = accounts.authenticate(db, email=admin.email, password=PASSWORD, now=now)
    later = now + accounts.SESSION_LIFETIME + timedelta(seconds=1)
    assert accounts.load_session(db, signed_in.token, now=later) is None
    accounts.end_session(db, signed_in.token, now=now)
    assert accounts.load_session(db, signed_in.token, now=now) is None


def test_a_password_change_ends_every_other_session(db, admin, now):
    first = accounts.authenticate(db, email=admin.email, password=PASSWORD, now=now)
    with pytest.raises(InvalidRequestError, match="current password"):
        accounts.change_password(db, admin, current="wrong", new="another long password", now=now)
    with pytest.raises(InvalidRequestError, match="at least 12"):
        accounts.change_password(db, admin, current=PASSWORD, new="short", now=now)
    fresh = accounts.change_password(
        db, admin, current=PASSWORD, new="another long password", now=now
    )
    assert accounts.load_session(db, first.token, now=now) is None
    assert accounts.load_session(db, fresh.token, now=now) is not None
    assert accounts.authenticate(db, email=admin.email, password=PASSWORD, now=now) is None


def test_an_old_hash_is_upgraded_on_sign_in(db, admin, now):
    from argon2 import PasswordHasher

    admin.password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    db.commit()
    accounts.authenticate(db, email=admin.email, password=PASSWORD, now=now)
    assert "m=8," not in admin.password_hash


def test_invitation_joins_once_then_stops_working(db, centre, admin, now):
    token = accounts.invite(
        db,
        organisation=centre,
        email="bo@example.org",
        role="issuer",
        now=now,
        invited_by=admin,
        actor=admin.email,
    )
    signed_in = accounts.accept_invitation(
        db, token, name="Bo", password="a long password!", now=now
    )
    assert accounts.membership(db, signed_in.user, centre.id).role == "issuer"
    with pytest.raises(NotFoundError, match="not valid any more"):
        accounts.accept_invitation(db, token, name="Eve", password="a long password!", now=now)


def test_an_expired_invitation_is_refused(db, centre, now):
    token = accounts.invite(
        db,
        organisation=centre,
        email="late@example.org",
        role="viewer",
        now=now,
        invited_by=None,
        actor="cli",
    )
    later = now + accounts.INVITATION_LIFETIME + timedelta(minutes=1)
    with pytest.raises(NotFoundError):
        accounts.accept_invitation(db, token, name="Late", password="a long password!", now=later)
    assert db.scalars(select(User).where(User.email == "late@example.org")).first() is None


def test_accepting_with_an_existing_account_needs_its_password(db, kek, centre, admin, now):
    from issuer import services

    other = services.create_organisation(
        db, kek, slug="other", name="Other", public_url="https://tessera.test", now=now
    )
    token = accounts.invite(
        db,
        organisation=other,
        email=admin.email,
        role="viewer",
        now=now,
        invited_by=None,
        actor="cli",
    )
    with pytest.raises(InvalidRequestError, match="already have an account"):
        accounts.accept_invitation(db, token, name="Ana", password="not her password", now=now)
    accounts.accept_invitation(db, token, name="Ana", password=PASSWORD, now=now)
    assert {m.organisation_id for m in accounts.memberships(db, admin)} == {centre.id, other.id}


def test_the_last_admin_cannot_be_demoted(db, centre, admin, now):
    with pytest.raises(ConflictError, match="at least one admin"):
        accounts.set_role(
            db, organisation=centre, user_id=admin.id, role="viewer", now=now, actor="test"
        )


def test_duplicate_accounts_and_bad_roles_are_refused(db, centre, admin, now):
    with pytest.raises(ConflictError):
        accounts.create_user(db, email="ana@example.org", name="Ana 2", password=PASSWORD, now=now)
    with pytest.raises(InvalidRequestError, match="role"):
        accounts.create_user(
            db,
            email="x@example.org",
            name="X",
            password=PASSWORD,
            now=now,
            organisation=centre,
            role="owner",
        )


def test_api_tokens_are_shown_once_scoped_and_revocable(db, centre, admin, now):
    record, secret = accounts.create_api_token(
        db,
        organisation=centre,
        name="LMS",
        scopes=["read", "issue"],
        now=now,
        created_by=admin,
        actor=admin.email,
    )
    assert secret.startswith(f"tsr_{record.prefix}_")
    assert secret.split("_", 2)[2] not in record.secret_hash
    assert accounts.token_for(db, secret, now=now).id == record.id
    assert accounts.token_for(db, secret[:-1] + "x", now=now) is None
    assert accounts.token_for(db, "Bearer nonsense", now=now) is None
    accounts.revoke_api_token(db, organisation=centre, token_id=record.id, now=now, actor="t")
    assert accounts.token_for(db, secret, now=now) is None
    with pytest.raises(InvalidRequestError, match="scopes"):
        accounts.create_api_token(
            db, organisation=centre, name="x", scopes=["admin"], now=now, created_by=None, actor="t"
        )
