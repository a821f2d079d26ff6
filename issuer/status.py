"""Status lists of the training centres: allocate an index, revoke, publish signed lists."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import MultiFernet
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from credentials import status_list as bitstring
from credentials.db import read
from credentials.errors import StatusUnavailableError
from credentials.proofs import data_integrity, jwt_vc
from keys import KeyPurpose, KeyRing

from .models import IssuedCredential, Organisation, StatusList
from .unit_of_work import locked, transaction

PURPOSE = "revocation"
#: Random probes before falling back to picking among the free indexes of a crowded list.
RANDOM_PROBES = 16
#: Where random indexes come from (a CSPRNG: indexes must not be predictable).
randbelow = secrets.randbelow


def list_url(public_url: str, organisation: Organisation, sequence: int) -> str:
    return f"{public_url}/orgs/{organisation.slug}/status/{sequence}"


def _open_list(session: Session, organisation: Organisation, now: datetime) -> StatusList:
    """The centre's newest list with room left; a new one when it is full (or there is none)."""
    current = session.scalars(
        select(StatusList)
        .where(StatusList.organisation_id == organisation.id, StatusList.purpose == PURPOSE)
        .order_by(StatusList.sequence.desc())
        .limit(1)
    ).first()
    if current is not None and current.allocated < current.length:
        return current
    created = StatusList(
        organisation_id=organisation.id,
        purpose=PURPOSE,
        sequence=(current.sequence + 1) if current else 1,
        length=bitstring.MIN_LIST_LENGTH,
        bits=bytes(bitstring.new_bitstring()),
        allocated=0,
        version=1,
        created_at=now,
    )
    session.add(created)
    session.flush()  # a concurrent creator of the same sequence fails here, and retries
    return created


def _free_indexes(session: Session, status_list: StatusList, count: int) -> list[int]:
    """``count`` random indexes no credential of this list holds.

    Random, so an index tells nothing about when or to whom a credential was issued (the
    spec's herd privacy). Candidates are drawn at random and the taken ones dropped, one
    query per round; a crowded list falls back to choosing among all its free indexes. The
    unique constraint on (list, index) is what guarantees uniqueness against concurrent
    issuers; this only makes a collision unlikely.
    """
    chosen: list[int] = []
    held = IssuedCredential.status_list_id == status_list.id
    for _ in range(RANDOM_PROBES):
        wanted = count - len(chosen)
        if wanted == 0:
            return chosen
        candidates = list(dict.fromkeys(randbelow(status_list.length) for _ in range(2 * wanted)))
        candidates = [index for index in candidates if index not in chosen]
        taken = set(
            session.scalars(
                select(IssuedCredential.status_index).where(
                    held, IssuedCredential.status_index.in_(candidates)
                )
            )
        )
        chosen += [index for index in candidates if index not in taken][:wanted]
    if len(chosen) == count:
        return chosen
    used = set(session.scalars(select(IssuedCredential.status_index).where(held)))
    used.update(chosen)
    free = [i for i in range(status_list.length) if i not in used]
    return chosen + _system_random.sample(free, count - len(chosen))


_system_random = secrets.SystemRandom()


@dataclass(frozen=True, slots=True)
class Allocation:
    status_list: StatusList
    index: int
    entry: dict[str, object]


def allocate(
    session: Session, organisation: Organisation, *, public_url: str, now: datetime
) -> Allocation:
    """Reserve a status index for a credential about to be issued (inside its transaction)."""
    return allocate_many(session, organisation, 1, public_url=public_url, now=now)[0]


def allocate_many(
    session: Session, organisation: Organisation, count: int, *, public_url: str, now: datetime
) -> list[Allocation]:
    """Reserve ``count`` status indexes for credentials about to be issued (caller's transaction).

    Filling the centre's open list and going on to a new one when it is full. The indexes
    are random (see ``_free_indexes``).
    """
    allocations: list[Allocation] = []
    while len(allocations) < count:
        status_list = _open_list(session, organisation, now)
        wanted = min(count - len(allocations), status_list.length - status_list.allocated)
        indexes = _free_indexes(session, status_list, wanted)
        # Counted in the database (a concurrent allocator adds its own); the session's copy
        # of the list follows (synchronize_session), so a full list is seen as full above.
        session.execute(
            update(StatusList)
            .where(StatusList.id == status_list.id)
            .values(allocated=StatusList.allocated + len(indexes))
        )
        url = list_url(public_url, organisation, status_list.sequence)
        allocations += [
            Allocation(status_list, index, bitstring.status_entry(url, index, PURPOSE))
            for index in indexes
        ]
    return allocations


def lock_list(session: Session, status_list_id: int) -> StatusList:
    """The list, locked, with its bits as they are now (see unit_of_work.locked)."""
    return locked(session, StatusList, status_list_id)


def set_revoked(session: Session, record: IssuedCredential) -> StatusList | None:
    """Set the credential's revocation bit and bump the list's version (caller's transaction)."""
    if record.status_list_id is None or record.status_index is None:
        return None
    status_list = lock_list(session, record.status_list_id)
    bits = bytearray(status_list.bits)
    bitstring.set_bit(bits, record.status_index)
    status_list.bits = bytes(bits)
    status_list.version += 1
    return status_list


def find_list(session: Session, organisation: Organisation, sequence: int) -> StatusList | None:
    return session.scalars(
        select(StatusList).where(
            StatusList.organisation_id == organisation.id,
            StatusList.purpose == PURPOSE,
            StatusList.sequence == sequence,
        )
    ).first()


@dataclass(frozen=True, slots=True)
class Publication:
    """A signed status list as served: both forms, their ETags and how long they stay fresh."""

    document: str
    jwt: str
    signed_at: datetime
    valid_until: datetime

    def etag(self, form: str) -> str:
        body = self.jwt if form == "jwt" else self.document
        return '"' + hashlib.sha256(body.encode("utf-8")).hexdigest()[:32] + '"'

    def max_age(self, now: datetime, ttl: int) -> int:
        return max(0, min(ttl, int((self.valid_until - now).total_seconds())))


def publish(
    session: Session,
    kek: MultiFernet,
    status_list: StatusList,
    *,
    public_url: str,
    now: datetime,
    ttl: int,
) -> Publication:
    """The list's signed ``BitstringStatusListCredential``, re-signed when stale.

    A new signature is made when the bits changed since the last one or when half the
    freshness period (``ttl`` seconds) has passed, so a verifier that caches a list for as
    long as it says sees a revocation at most ``ttl`` seconds late.
    """
    signed_at, document, token = (
        status_list.signed_at,
        status_list.signed_document,
        status_list.signed_jwt,
    )
    if (
        status_list.signed_version == status_list.version
        and signed_at is not None
        and document is not None
        and token is not None
        and now - signed_at < timedelta(seconds=ttl / 2)
    ):
        return Publication(document, token, signed_at, signed_at + timedelta(seconds=ttl))
    organisation = status_list.organisation
    ring = KeyRing(session, kek, controller=organisation.did, organisation_id=organisation.id)
    unsigned = bitstring.status_list_credential(
        list_url=list_url(public_url, organisation, status_list.sequence),
        issuer=organisation.did,
        bits=status_list.bits,
        valid_from=now,
        valid_until=now + timedelta(seconds=ttl),
        purpose=status_list.purpose,
        ttl_seconds=ttl,
    )
    document = json.dumps(
        data_integrity.add_proof(unsigned, ring.active(KeyPurpose.DATA_INTEGRITY), created=now)
    )
    token = jwt_vc.encode_vc_jwt(unsigned, ring.active(KeyPurpose.JWT))
    # Publishing writes only this cache; concurrent publishers may both write, and either
    # result is a valid signature over the same bits.
    with transaction(session):
        session.execute(
            update(StatusList)
            .where(StatusList.id == status_list.id)
            .values(
                signed_version=status_list.version,
                signed_at=now,
                signed_document=document,
                signed_jwt=token,
            )
        )
    return Publication(document, token, now, now + timedelta(seconds=ttl))


#: The centre's DID and one of its lists, only the columns used: every verification of one of
#: our credentials asks this, so it is built once.
_LIST_OF_CENTRE = (
    select(Organisation.did, StatusList.purpose, StatusList.bits)
    .join(StatusList, StatusList.organisation_id == Organisation.id)
    .where(
        Organisation.slug == bindparam("slug"),
        StatusList.purpose == PURPOSE,
        StatusList.sequence == bindparam("sequence"),
    )
)


class LocalStatusSource:
    """Status lists of this instance's centres, read from the database.

    No signature is needed to trust our own database, and a revocation is visible here the
    moment it is committed, before any published list is re-signed.
    """

    def __init__(self, session: Session, public_url: str) -> None:
        self._session = session
        self._prefix = f"{public_url}/orgs/"

    def handles(self, list_url: str) -> bool:
        return list_url.startswith(self._prefix)

    def bits(self, entry: bitstring.StatusEntry, *, issuer: str, now: datetime) -> bytes:
        slug, _, sequence = entry.list_url.removeprefix(self._prefix).partition("/status/")
        # A sequence that is not a number a database column holds (int() refuses "²"; 19
        # digits overflow) names no list.
        found = (
            read(self._session, _LIST_OF_CENTRE, {"slug": slug, "sequence": int(sequence)}).first()
            if sequence.isdecimal() and len(sequence) <= 18
            else None
        )
        if found is None:
            raise StatusUnavailableError(f"there is no status list at {entry.list_url}")
        if found.did != issuer:
            raise StatusUnavailableError("that status list belongs to another issuer")
        if found.purpose != entry.purpose:
            raise StatusUnavailableError(f"that status list is not for {entry.purpose!r}")
        return found.bits
