"""Staff accounts, memberships, invitations, server-side sessions and API tokens. No Flask.

Secrets given to people (session ids, invitation links, API tokens) are random, at least 256
bits, shown once, and stored only as SHA-256 hashes; passwords are hashed with argon2id.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from credentials import normalize_email

from . import tokens
from .audit import record_event
from .errors import ConflictError, InvalidRequestError, NotFoundError
from .models import ApiToken, Invitation, LoginSession, Membership, Organisation, User
from .unit_of_work import transaction

ROLES = ("viewer", "issuer", "admin")  # each includes the ones before it
SCOPES = ("read", "issue", "revoke")
SESSION_LIFETIME = timedelta(hours=12)
INVITATION_LIFETIME = timedelta(days=7)
MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "tsr"  # noqa: S105 - a public marker that says "Tessera token", not a secret

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def role_allows(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may (admin > issuer > viewer)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequestError(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > 1024:
        raise InvalidRequestError("the password is too long")


# -- users and memberships --------------------------------------------------------------------


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    password: str | None,
    now: datetime,
    organisation: Organisation | None = None,
    role: str = "admin",
    actor: str = "cli",
) -> User:
    """Create a staff account, optionally with a role at a centre.

    Raises:
        ConflictError: an account with that e-mail exists.
        InvalidRequestError: a weak password or an unknown role.
    """
    if password is not None:
        _check_password(password)
    if role not in ROLES:
        raise InvalidRequestError(f"role must be one of {', '.join(ROLES)}")
    email = normalize_email(email)
    with transaction(session):
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise ConflictError(f"an account for {email} already exists")
        user = User(
            email=email,
            name=name,
            created_at=now,
            password_hash=_hasher.hash(password) if password is not None else None,
            password_changed_at=now if password is not None else None,
        )
        session.add(user)
        session.flush()
        if organisation is not None:
            session.add(
                Membership(
                    user_id=user.id, organisation_id=organisation.id, role=role, created_at=now
                )
            )
        record_event(
            session,
            action="user.created",
            subject=email,
            now=now,
            actor=actor,
            organisation_id=organisation.id if organisation else None,
            details={"role": role} if organisation else {},
        )
    return user


def memberships(session: Session, user: User) -> Sequence[Membership]:
    return session.scalars(
        select(Membership).where(Membership.user_id == user.id).order_by(Membership.id)
    ).all()


def membership(session: Session, user: User, organisation_id: int) -> Membership | None:
    return session.scalars(
        select(Membership).where(
            Membership.user_id == user.id, Membership.organisation_id == organisation_id
        )
    ).first()


def set_role(
    session: Session,
    *,
    organisation: Organisation,
    user_id: int,
    role: str,
    now: datetime,
    actor: str,
) -> Membership:
    """Change a member's role. The last admin of a centre cannot be demoted."""
    if role not in ROLES:
        raise InvalidRequestError(f"role must be one of {', '.join(ROLES)}")
    with transaction(session):
        member = session.scalars(
            select(Membership)
            .where(Membership.organisation_id == organisation.id, Membership.user_id == user_id)
            .with_for_update()
        ).first()
        if member is None:
            raise NotFoundError("no such member of this centre")
        if member.role == "admin" and role != "admin":
            admins = session.scalars(
                select(Membership.id).where(
                    Membership.organisation_id == organisation.id, Membership.role == "admin"
                )
            ).all()
            if len(admins) <= 1:
                raise ConflictError("a centre needs at least one admin")
        previous, member.role = member.role, role
        record_event(
            session,
            action="member.role_changed",
            subject=member.user.email,
            now=now,
            actor=actor,
            organisation_id=organisation.id,
            details={"from": previous, "to": role},
        )
    return member


# -- passwords and sessions -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    token: str  # goes into the cookie; only its hash is stored


def authenticate(session: Session, *, email: str, password: str, now: datetime) -> SignedIn | None:
    """Check a password and open a session; None (and an audit event) when it is wrong.

    The same answer and roughly the same time for an unknown e-mail as for a wrong password.
    """
    email = normalize_email(email)[:320]
    user = session.scalars(select(User).where(User.email == email)).first()
    ok = False
    if user is not None and user.password_hash:
        try:
            ok = _hasher.verify(user.password_hash, password[:1024])
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        _hasher.hash(password[:1024])  # spend the same time as a real check
    with transaction(session):
        if not ok or user is None:
            record_event(session, action="login.failed", subject=email, now=now, actor="anonymous")
            return None
        if _hasher.check_needs_rehash(user.password_hash or ""):
            user.password_hash = _hasher.hash(password)
        member = memberships(session, user)
        token = secrets.token_urlsafe(32)
        session.add(
            LoginSession(
                token_hash=tokens.digest(token),
                user_id=user.id,
                organisation_id=member[0].organisation_id if member else None,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
        record_event(session, action="login", subject=email, now=now, actor=email)
    return SignedIn(user, token)


def load_session(session: Session, token: str, *, now: datetime) -> LoginSession | None:
    """The live session behind a cookie token, or None (unknown, ended or expired)."""
    return tokens.live_session(session, LoginSession, token, now=now)


def end_session(session: Session, token: str, *, now: datetime) -> None:
    tokens.end_session(session, LoginSession, token, now=now)


def switch_organisation(session: Session, login: LoginSession, organisation_id: int) -> None:
    """Make another of the user's centres the current one (a membership is required)."""
    if membership(session, login.user, organisation_id) is None:
        raise NotFoundError("no such training centre")
    with transaction(session):
        login.organisation_id = organisation_id


def change_password(
    session: Session, user: User, *, current: str, new: str, now: datetime
) -> SignedIn:
    """Change a password: every session of the user ends, and a new one is opened.

    Raises:
        InvalidRequestError: the current password is wrong or the new one too weak.
    """
    try:
        _hasher.verify(user.password_hash or "", current[:1024])
    except (VerificationError, InvalidHashError) as e:
        raise InvalidRequestError("the current password is not right") from e
    _check_password(new)
    with transaction(session):
        user.password_hash = _hasher.hash(new)
        user.password_changed_at = now
        session.execute(
            update(LoginSession)
            .where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
            .values(ended_at=now)
        )
        record_event(
            session, action="password.changed", subject=user.email, now=now, actor=user.email
        )
    signed_in = authenticate(session, email=user.email, password=new, now=now)
    if signed_in is None:  # pragma: no cover - the password was just set
        raise InvalidRequestError("could not sign in with the new password")
    return signed_in


# -- invitations ----------------------------------------------------------------------------


def invite(
    session: Session,
    *,
    organisation: Organisation,
    email: str,
    role: str,
    now: datetime,
    invited_by: User | None,
    actor: str,
) -> str:
    """Create an invitation; returns the one-time token for the link (shown once)."""
    if role not in ROLES:
        raise InvalidRequestError(f"role must be one of {', '.join(ROLES)}")
    token = secrets.token_urlsafe(32)
    with transaction(session):
        session.add(
            Invitation(
                organisation_id=organisation.id,
                email=normalize_email(email),
                role=role,
                token_hash=tokens.digest(token),
                created_by_id=invited_by.id if invited_by else None,
                created_at=now,
                expires_at=now + INVITATION_LIFETIME,
            )
        )
        record_event(
            session,
            action="member.invited",
            subject=normalize_email(email),
            now=now,
            actor=actor,
            organisation_id=organisation.id,
            details={"role": role},
        )
    return token


def pending_invitation(session: Session, token: str, *, now: datetime) -> Invitation | None:
    if not token or len(token) > 100:
        return None
    found = session.scalars(
        select(Invitation).where(Invitation.token_hash == tokens.digest(token))
    ).first()
    if found is None or found.accepted_at is not None or found.expires_at <= now:
        return None
    return found


def accept_invitation(
    session: Session, token: str, *, name: str, password: str, now: datetime
) -> SignedIn:
    """Join the centre (creating the account if needed), then sign in.

    Raises:
        NotFoundError: the link is unknown, used or expired.
        InvalidRequestError: a weak password, or a wrong one for an existing account.
    """
    invitation = pending_invitation(session, token, now=now)
    if invitation is None:
        raise NotFoundError("this invitation link is not valid any more; ask for a new one")
    _check_password(password)
    with transaction(session):
        user = session.scalars(select(User).where(User.email == invitation.email)).first()
        if user is None:
            user = User(
                email=invitation.email,
                name=name,
                password_hash=_hasher.hash(password),
                created_at=now,
                password_changed_at=now,
            )
            session.add(user)
            session.flush()
        elif user.password_hash is None:
            user.password_hash, user.password_changed_at = _hasher.hash(password), now
        else:
            try:
                _hasher.verify(user.password_hash, password[:1024])
            except (VerificationError, InvalidHashError) as e:
                raise InvalidRequestError(
                    "you already have an account: enter its password to accept"
                ) from e
        if membership(session, user, invitation.organisation_id) is None:
            session.add(
                Membership(
                    user_id=user.id,
                    organisation_id=invitation.organisation_id,
                    role=invitation.role,
                    created_at=now,
                )
            )
        invitation.accepted_at = now
        record_event(
            session,
            action="member.joined",
            subject=user.email,
            now=now,
            actor=user.email,
            organisation_id=invitation.organisation_id,
            details={"role": invitation.role},
        )
    signed_in = authenticate(session, email=user.email, password=password, now=now)
    if signed_in is None:  # pragma: no cover - the password was just checked or set
        raise InvalidRequestError("could not sign in")
    return signed_in


# -- API tokens -----------------------------------------------------------------------------


def create_api_token(
    session: Session,
    *,
    organisation: Organisation,
    name: str,
    scopes: Sequence[str],
    now: datetime,
    created_by: User | None,
    actor: str,
) -> tuple[ApiToken, str]:
    """A new token; returns its record and the secret (``tsr_<prefix>_<secret>``, shown once)."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidRequestError(f"scopes must be some of {', '.join(SCOPES)}")
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidRequestError("give the token a name (up to 100 characters)")
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with transaction(session):
        record = ApiToken(
            organisation_id=organisation.id,
            name=name,
            prefix=prefix,
            secret_hash=tokens.digest(secret),
            scopes=" ".join(sorted(set(scopes))),
            created_by_id=created_by.id if created_by else None,
            created_at=now,
        )
        session.add(record)
        record_event(
            session,
            action="api_token.created",
            subject=f"{name} ({prefix})",
            now=now,
            actor=actor,
            organisation_id=organisation.id,
            details={"scopes": record.scopes},
        )
    return record, f"{TOKEN_PREFIX}_{prefix}_{secret}"


def token_for(session: Session, presented: str, *, now: datetime) -> ApiToken | None:
    """The live token a bearer value names, or None. Compared in constant time."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(presented) > 200:
        return None
    record = session.scalars(select(ApiToken).where(ApiToken.prefix == parts[1])).first()
    if record is None or record.revoked_at is not None:
        return None
    if not hmac.compare_digest(record.secret_hash, tokens.digest(parts[2])):
        return None
    return record


def revoke_api_token(
    session: Session, *, organisation: Organisation, token_id: int, now: datetime, actor: str
) -> None:
    with transaction(session):
        record = session.scalars(
            select(ApiToken).where(
                ApiToken.id == token_id, ApiToken.organisation_id == organisation.id
            )
        ).first()
        if record is None:
            raise NotFoundError("no such API token")
        if record.revoked_at is None:
            record.revoked_at = now
            record_event(
                session,
                action="api_token.revoked",
                subject=record.prefix,
                now=now,
                actor=actor,
                organisation_id=organisation.id,
            )
