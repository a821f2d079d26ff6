"""Stackable pathways: a larger credential earned by holding valid credentials for its parts.

A centre defines a pathway: its award (one of its own achievements) and two or more parts
(achievements of any centre on this instance; any version of a part counts). When a worker
holds a currently valid credential, issued here to their e-mail address, for every part, the
pathway credential is issued to them: at once (``automatic``), or when they ask for it on
their wallet page (``on_request``). No Flask here.

The pathway credential names each part credential in its OB 3.0 ``evidence`` (the part's
public verify URL), and ``PathwayAward``/``PathwayAwardPart`` rows record the same, written in
the credential's own transaction. An idempotency key made of the pathway and the recipient
means a retry or a race never issues a pathway credential twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.fernet import MultiFernet
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

import credentials

from . import catalogue, claims, services
from .audit import record_event
from .errors import ConflictError, InvalidRequestError, IssuerError, NotFoundError
from .models import (
    Achievement,
    IssuedCredential,
    Organisation,
    Pathway,
    PathwayAward,
    PathwayAwardPart,
    PathwayPart,
)
from .unit_of_work import locked, transaction

log = logging.getLogger(__name__)

MODES = ("automatic", "on_request")
MIN_PARTS = 2
MAX_PARTS = 50
#: Who issued an automatic award, as the audit log names it.
AUTOMATIC_ACTOR = "pathway (automatic)"
#: Pathway credentials that are themselves parts of other pathways are awarded in turn, this
#: deep at most (a safeguard; each pathway is awarded once per person anyway).
MAX_CHAIN = 5


# -- defining pathways --------------------------------------------------------------------------


def _lineage_ids(session: Session, achievement: Achievement) -> set[int]:
    """The ids of every version of an achievement: a credential of any of them counts."""
    return {a.id for a in catalogue.versions(session, achievement)}


def _achievement_by_public_id(session: Session, public_id: str) -> Achievement | None:
    if not public_id or len(public_id) > 36:
        return None
    return session.scalars(select(Achievement).where(Achievement.public_id == public_id)).first()


def create_pathway(
    session: Session,
    organisation: Organisation,
    *,
    award: str,
    parts: Sequence[str],
    mode: str,
    now: datetime,
    actor: str,
) -> Pathway:
    """Define a pathway: ``award`` is one of the centre's current achievements (public id),
    ``parts`` 2 to 50 current achievements of any centre on this instance.

    Raises:
        InvalidRequestError: saying what is wrong (nothing is written).
    """
    if mode not in MODES:
        raise InvalidRequestError(
            "choose how the pathway credential is issued: automatically, or on request"
        )
    awarded = _achievement_by_public_id(session, (award or "").strip())
    if awarded is None or awarded.organisation_id != organisation.id:
        raise InvalidRequestError("choose the award from this centre's own achievements")
    if awarded.archived_at is not None:
        raise InvalidRequestError(
            f"“{awarded.name}” is archived; choose a current achievement as the award"
        )
    wanted = list(dict.fromkeys(p.strip() for p in parts if p and p.strip()))
    if len(wanted) < MIN_PARTS:
        raise InvalidRequestError(f"choose at least {MIN_PARTS} different achievements as parts")
    if len(wanted) > MAX_PARTS:
        raise InvalidRequestError(f"a pathway has at most {MAX_PARTS} parts")
    award_lineage = _lineage_ids(session, awarded)
    chosen: list[Achievement] = []
    seen: set[int] = set()
    for public_id in wanted:
        part = _achievement_by_public_id(session, public_id)
        if part is None:
            raise InvalidRequestError(
                f"there is no achievement {public_id[:40]!r} on this instance"
            )
        if part.archived_at is not None:
            raise InvalidRequestError(
                f"“{part.name}” ({part.organisation.name}) is archived; choose its current version"
            )
        lineage = _lineage_ids(session, part)
        if lineage & award_lineage:
            raise InvalidRequestError(
                f"“{awarded.name}” is the pathway's award, so it cannot also be one of its parts"
            )
        if lineage & seen:
            raise InvalidRequestError(f"“{part.name}” is chosen twice")
        seen |= lineage
        chosen.append(part)
    with transaction(session):
        pathway = Pathway(
            public_id=str(uuid.uuid4()),
            organisation_id=organisation.id,
            achievement_id=awarded.id,
            mode=mode,
            created_at=now,
        )
        session.add(pathway)
        session.flush()
        for part in chosen:
            session.add(PathwayPart(pathway_id=pathway.id, achievement_id=part.id))
        record_event(
            session,
            action="pathway.created",
            subject=pathway.public_id,
            now=now,
            actor=actor,
            organisation_id=organisation.id,
            details={
                "award": awarded.public_id,
                "parts": [p.public_id for p in chosen],
                "mode": mode,
            },
        )
    return pathway


def archive_pathway(session: Session, pathway: Pathway, *, now: datetime, actor: str) -> Pathway:
    """Stop awarding a pathway; pathway credentials already issued stay valid.

    Raises:
        ConflictError: it is archived already.
    """
    with transaction(session):
        current = locked(session, Pathway, pathway.id)
        if current.archived_at is not None:
            raise ConflictError("this pathway is archived already")
        current.archived_at = now
        record_event(
            session,
            action="pathway.archived",
            subject=current.public_id,
            now=now,
            actor=actor,
            organisation_id=current.organisation_id,
        )
    return current


def list_pathways(
    session: Session, organisation: Organisation, *, archived: bool = False
) -> Sequence[Pathway]:
    """The centre's pathways (current, or archived), newest first."""
    condition = Pathway.archived_at.is_not(None) if archived else Pathway.archived_at.is_(None)
    return session.scalars(
        select(Pathway)
        .where(Pathway.organisation_id == organisation.id, condition)
        .options(selectinload(Pathway.parts).selectinload(PathwayPart.achievement))
        .order_by(Pathway.created_at.desc(), Pathway.id.desc())
    ).all()


def get_pathway(session: Session, organisation: Organisation, public_id: str) -> Pathway:
    """One of the centre's pathways (another centre's is simply not found)."""
    found = session.scalars(
        select(Pathway).where(
            Pathway.public_id == public_id[:36], Pathway.organisation_id == organisation.id
        )
    ).first()
    if found is None:
        raise NotFoundError("this training centre has no such pathway")
    return found


def current_achievements(session: Session) -> Sequence[Achievement]:
    """Every current achievement of every centre, by centre then name (the parts to pick)."""
    return session.scalars(
        select(Achievement)
        .join(Organisation, Achievement.organisation_id == Organisation.id)
        .where(Achievement.archived_at.is_(None))
        .options(selectinload(Achievement.organisation))
        .order_by(Organisation.name, Achievement.name)
    ).all()


def award_count(session: Session, pathway: Pathway) -> int:
    """How many people earned the pathway credential."""
    return len(
        session.scalars(select(PathwayAward.id).where(PathwayAward.pathway_id == pathway.id)).all()
    )


# -- progress -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartProgress:
    """One part of a pathway for one person: the achievement, and the credential that holds it."""

    achievement: Achievement
    held: IssuedCredential | None  # the most recent currently valid credential, if any


@dataclass(frozen=True, slots=True)
class PathwayProgress:
    """How far one person is along one pathway."""

    pathway: Pathway
    parts: tuple[PartProgress, ...]
    awarded: IssuedCredential | None  # the pathway credential, once issued

    @property
    def held_count(self) -> int:
        return sum(1 for p in self.parts if p.held is not None)

    @property
    def complete(self) -> bool:
        return all(p.held is not None for p in self.parts)

    @property
    def missing(self) -> tuple[Achievement, ...]:
        return tuple(p.achievement for p in self.parts if p.held is None)


def _valid_now(now: datetime) -> Iterable[Any]:
    return (
        IssuedCredential.revoked_at.is_(None),
        IssuedCredential.valid_from <= now,
        or_(IssuedCredential.valid_until.is_(None), IssuedCredential.valid_until > now),
    )


def _awarded_to(session: Session, pathway: Pathway, email: str) -> IssuedCredential | None:
    return session.scalars(
        select(IssuedCredential)
        .join(PathwayAward, PathwayAward.credential_id == IssuedCredential.id)
        .where(PathwayAward.pathway_id == pathway.id, IssuedCredential.recipient_email == email)
        .order_by(IssuedCredential.issued_at.desc())
    ).first()


def pathway_progress(
    session: Session, pathway: Pathway, email: str, *, now: datetime
) -> PathwayProgress:
    """Which parts of ``pathway`` the holder of ``email`` holds by a credential valid ``now``.

    Only credentials issued on this instance to that address count (revoked, expired and
    not-yet-valid ones do not), matched by achievement lineage; the pathway's own credentials
    never count as its parts.
    """
    email = credentials.normalize_email(email)
    own_awards = select(PathwayAward.credential_id).where(PathwayAward.pathway_id == pathway.id)
    parts = []
    for part in pathway.parts:
        lineage = _lineage_ids(session, part.achievement)
        held = session.scalars(
            select(IssuedCredential)
            .where(
                IssuedCredential.recipient_email == email,
                IssuedCredential.achievement_id.in_(lineage),
                IssuedCredential.id.not_in(own_awards),
                *_valid_now(now),
            )
            .order_by(IssuedCredential.issued_at.desc(), IssuedCredential.id.desc())
        ).first()
        parts.append(PartProgress(part.achievement, held))
    return PathwayProgress(pathway, tuple(parts), _awarded_to(session, pathway, email))


def progress(
    session: Session, email: str, *, now: datetime, organisation_id: int | None = None
) -> list[PathwayProgress]:
    """Every current pathway on which the holder of ``email`` holds at least one part.

    ``organisation_id`` limits it to one centre's pathways (a wallet opened by that centre's
    claim link). Already-awarded pathways are included (they show as earned).
    """
    email = credentials.normalize_email(email)
    held_achievements = select(IssuedCredential.achievement_id).where(
        IssuedCredential.recipient_email == email
    )
    query = (
        select(Pathway)
        .where(Pathway.archived_at.is_(None))
        .options(
            selectinload(Pathway.parts)
            .selectinload(PathwayPart.achievement)
            .selectinload(Achievement.organisation),
            selectinload(Pathway.achievement),
        )
        .order_by(Pathway.created_at, Pathway.id)
    )
    if organisation_id is not None:
        query = query.where(Pathway.organisation_id == organisation_id)
    if session.scalars(held_achievements.limit(1)).first() is None:
        return []
    candidates = session.scalars(query).all()
    found = []
    for pathway in candidates:
        found_progress = pathway_progress(session, pathway, email, now=now)
        if found_progress.held_count or found_progress.awarded is not None:
            found.append(found_progress)
    return found


# -- awarding -------------------------------------------------------------------------------


def idempotency_key(pathway: Pathway, email: str) -> str:
    """The same for every attempt to award ``pathway`` to ``email``: the second finds the first."""
    digest = hashlib.sha256(credentials.normalize_email(email).encode("utf-8")).hexdigest()
    return f"pathway:{pathway.public_id}:{digest[:32]}"


def _evidence(parts: Sequence[IssuedCredential], public_url: str) -> list[dict[str, Any]]:
    return [
        {
            "id": services.verify_url(public_url, record),
            "type": ["Evidence"],
            "name": record.achievement.name,
            "narrative": (
                f"“{record.achievement.name}”, issued by {record.organisation.name} on "
                f"{record.valid_from:%d %B %Y}: one of the parts of this pathway."
            ),
        }
        for record in parts
    ]


@dataclass(frozen=True, slots=True)
class Awarded:
    """A pathway credential as awarded; ``claim_token`` only when it was newly issued."""

    issued: services.Issued
    claim_token: str | None


def award(
    session: Session,
    kek: MultiFernet,
    pathway: Pathway,
    email: str,
    *,
    public_url: str,
    now: datetime,
    actor: str,
) -> Awarded:
    """Issue the pathway credential to the holder of ``email``, who holds every part.

    Issued like any credential (both proofs, a status entry, the audit log, a claim link),
    to the name on the most recent part credential, with one ``Evidence`` per part. Awarding
    again (a retry, a race, a second request) returns the first credential.

    Raises:
        InvalidRequestError: some part is not held by a valid credential (naming which).
        ConflictError: the pathway is archived, or its award is no longer offered.
    """
    email = credentials.normalize_email(email)
    key = idempotency_key(pathway, email)
    existing = session.scalars(
        select(IssuedCredential).where(
            IssuedCredential.organisation_id == pathway.organisation_id,
            IssuedCredential.idempotency_key == key,
        )
    ).first()
    if existing is not None:
        url = services.verify_url(public_url, existing)
        return Awarded(services.Issued(existing, url, created=False), None)
    if pathway.archived_at is not None:
        raise ConflictError("this pathway is no longer awarded")
    found = pathway_progress(session, pathway, email, now=now)
    if not found.complete:
        missing = "; ".join(f"“{a.name}” (offered by {a.organisation.name})" for a in found.missing)
        raise InvalidRequestError(
            f"not yet: you hold {found.held_count} of the {len(found.parts)} parts. "
            f"Still needed: {missing}."
        )
    achievement = catalogue.versions(session, pathway.achievement)[0]
    if achievement.archived_at is not None:
        raise ConflictError(
            f"{pathway.organisation.name} no longer offers “{achievement.name}”; ask them"
        )
    held = [p.held for p in found.parts if p.held is not None]
    latest = max(held, key=lambda r: (r.issued_at, r.id))

    def record_award(tx: Session, record: IssuedCredential) -> None:
        row = PathwayAward(pathway_id=pathway.id, credential_id=record.id, created_at=now)
        tx.add(row)
        tx.flush()
        for part in held:
            tx.add(PathwayAwardPart(award_id=row.id, credential_id=part.id))
        record_event(
            tx,
            action="pathway.awarded",
            subject=pathway.public_id,
            now=now,
            actor=actor,
            organisation_id=pathway.organisation_id,
            details={"credential": record.public_id, "parts": [p.public_id for p in held]},
        )

    issued = services.issue_credential(
        session,
        kek,
        organisation=pathway.organisation,
        achievement=achievement,
        name=latest.recipient_name,
        email=email,
        public_url=public_url,
        now=now,
        idempotency_key=key,
        actor=actor,
        evidence=_evidence(held, public_url),
        also=record_award,
    )
    token = None
    if issued.created:
        with transaction(session):
            token = claims.new_claim_token(session, issued.record, now=now)
    return Awarded(issued, token)


def _automatic_candidates(session: Session, achievement: Achievement) -> list[Pathway]:
    """The automatic pathways a credential of ``achievement`` (any version) is a part of."""
    lineage = _lineage_ids(session, achievement)
    return list(
        session.scalars(
            select(Pathway)
            .join(PathwayPart, PathwayPart.pathway_id == Pathway.id)
            .where(
                Pathway.archived_at.is_(None),
                Pathway.mode == "automatic",
                PathwayPart.achievement_id.in_(lineage),
            )
            .distinct()
            .order_by(Pathway.id)
        )
    )


def after_issue_many(
    session: Session,
    kek: MultiFernet,
    achievement: Achievement,
    credential_ids: Sequence[int],
    *,
    public_url: str,
    now: datetime,
) -> list[Awarded]:
    """``after_issue`` for credentials of one achievement (a bulk batch), looking once.

    Most achievements are part of no automatic pathway: one look-up then answers for the
    whole batch, and the credentials are not even loaded. Never raises.
    """
    if not credential_ids:
        return []
    try:
        if not _automatic_candidates(session, achievement):
            return []
        records = session.scalars(
            select(IssuedCredential)
            .where(IssuedCredential.id.in_(credential_ids))
            .order_by(IssuedCredential.id)
        ).all()
    except Exception:  # the parts stand whatever happens here
        session.rollback()
        log.exception("could not look for pathways completed by a bulk batch")
        return []
    awarded: list[Awarded] = []
    for record in records:
        awarded += after_issue(session, kek, record, public_url=public_url, now=now)
    return awarded


def after_issue(
    session: Session,
    kek: MultiFernet,
    record: IssuedCredential,
    *,
    public_url: str,
    now: datetime,
    depth: int = 0,
) -> list[Awarded]:
    """Award every automatic pathway that ``record`` (just issued and committed) completes.

    Called by every issuing path after the credential's own transaction: a failure here
    never undoes or fails that credential. It is logged, and the worker can still ask for
    the pathway credential later. Never raises.
    """
    try:
        candidates = _automatic_candidates(session, record.achievement)
    except Exception:  # the part stands whatever happens here
        session.rollback()
        log.exception("could not look for pathways completed by %s", record.public_id)
        return []
    awarded: list[Awarded] = []
    for pathway in candidates:
        try:
            found = pathway_progress(session, pathway, record.recipient_email, now=now)
            if found.awarded is not None or not found.complete:
                continue
            result = award(
                session,
                kek,
                pathway,
                record.recipient_email,
                public_url=public_url,
                now=now,
                actor=AUTOMATIC_ACTOR,
            )
        except IssuerError as e:  # refused (its award is archived, say): nothing written
            log.warning("pathway %s not awarded to %s: %s", pathway.public_id, record.public_id, e)
            continue
        except Exception:  # logged; the worker can still ask for it later
            session.rollback()
            log.exception(
                "could not award pathway %s after credential %s",
                pathway.public_id,
                record.public_id,
            )
            continue
        if result.issued.created:
            awarded.append(result)
            if depth < MAX_CHAIN:  # the pathway credential may complete another pathway
                awarded += after_issue(
                    session,
                    kek,
                    result.issued.record,
                    public_url=public_url,
                    now=now,
                    depth=depth + 1,
                )
    return awarded


def request_award(
    session: Session,
    kek: MultiFernet,
    pathway_id: str,
    email: str,
    *,
    organisation_id: int | None,
    public_url: str,
    now: datetime,
) -> Awarded:
    """A worker asks for a pathway credential from their wallet.

    Meant for ``on_request`` pathways; an ``automatic`` one can be asked for too, which only
    matters when awarding it at issue time failed. ``organisation_id`` is the wallet's scope
    (a claim link's centre): another centre's pathway is not found there.

    Raises:
        NotFoundError: no such current pathway (in the wallet's scope).
        InvalidRequestError: some part is not held yet (naming which, and who offers it).
    """
    query = select(Pathway).where(
        Pathway.public_id == pathway_id[:36], Pathway.archived_at.is_(None)
    )
    if organisation_id is not None:
        query = query.where(Pathway.organisation_id == organisation_id)
    pathway = session.scalars(query).first()
    if pathway is None:
        raise NotFoundError("there is no such pathway to ask for")
    result = award(
        session, kek, pathway, email, public_url=public_url, now=now, actor="worker (wallet)"
    )
    if result.issued.created:
        after_issue(session, kek, result.issued.record, public_url=public_url, now=now)
    return result


# -- what depends on what ---------------------------------------------------------------------


def parts_of(session: Session, record: IssuedCredential) -> Sequence[IssuedCredential]:
    """The part credentials a pathway credential was built from (none for other credentials)."""
    return session.scalars(
        select(IssuedCredential)
        .join(PathwayAwardPart, PathwayAwardPart.credential_id == IssuedCredential.id)
        .join(PathwayAward, PathwayAward.id == PathwayAwardPart.award_id)
        .where(PathwayAward.credential_id == record.id)
        .order_by(PathwayAwardPart.id)
    ).all()


def depending_on(session: Session, record: IssuedCredential) -> Sequence[IssuedCredential]:
    """The pathway credentials built from ``record``."""
    return session.scalars(
        select(IssuedCredential)
        .join(PathwayAward, PathwayAward.credential_id == IssuedCredential.id)
        .join(PathwayAwardPart, PathwayAwardPart.award_id == PathwayAward.id)
        .where(PathwayAwardPart.credential_id == record.id)
        .order_by(IssuedCredential.issued_at)
    ).all()


def _achievement_id(record: IssuedCredential) -> str:
    """The achievement id exactly as the credential carries it."""
    return str(json.loads(record.document)["credentialSubject"]["achievement"]["id"])


def clr_associations(session: Session, records: Sequence[IssuedCredential]) -> list[dict[str, str]]:
    """CLR 2.0 ``Association``s for the pathway credentials in ``records`` whose parts are
    there too: the pathway achievement ``isParentOf`` each part achievement."""
    present = {r.id for r in records}
    associations: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for record in records:
        parent = _achievement_id(record)
        for part in parts_of(session, record):
            if part.id not in present:
                continue
            child = _achievement_id(part)
            if (parent, child) in seen:
                continue
            seen.add((parent, child))
            associations.append(
                {
                    "type": "Association",
                    "associationType": "isParentOf",
                    "sourceId": parent,
                    "targetId": child,
                }
            )
    return associations
