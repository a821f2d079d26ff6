"""Use cases of the issuing service. No Flask here.

Each function takes the session, keys and ``now`` explicitly and owns the transaction: it
commits when the whole change is written, and rolls back on any error, so a failure leaves
nothing half-written.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import InvalidToken, MultiFernet
from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

import credentials
from credentials.dates import format_datetime
from credentials.openbadges import build_credential, is_valid_achievement_type
from keys import KeyDecryptionError, KeyPurpose, KeyRing, SigningKey, did_web
from keys.crypto import LocalSigner

from . import signing, status
from .audit import Event, record_event, record_events
from .errors import ConflictError, InvalidRequestError, IssuerError, NotFoundError
from .models import Achievement, IssuedCredential, Organisation
from .unit_of_work import MAX_ATTEMPTS, locked, retryable, transaction

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
ESCO_SKILL_PATTERN = re.compile(
    r"^https?://data\.europa\.eu/esco/skill/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


# -- organisations ------------------------------------------------------------------------


def create_organisation(
    session: Session,
    kek: MultiFernet,
    *,
    slug: str,
    name: str,
    public_url: str,
    now: datetime,
    did_method: str = "web",
    jwt_algorithm: str = "RS256",
    url: str | None = None,
) -> Organisation:
    """Create a training centre with its DID and first signing keys.

    Raises:
        InvalidRequestError: a bad slug, or did:key with a non-EdDSA JWT algorithm.
        ConflictError: the slug is taken.
    """
    if not SLUG_PATTERN.match(slug):
        raise InvalidRequestError(
            "slug must be 1-63 lower-case letters, digits or hyphens, not starting or ending "
            "with a hyphen"
        )
    if did_method not in ("web", "key"):
        raise InvalidRequestError("did method must be 'web' or 'key'")
    refuse_control_characters(name, "training centre's name")
    if jwt_algorithm not in credentials.SUPPORTED_ALGORITHMS:
        raise InvalidRequestError(
            f"JWT algorithm must be one of {', '.join(credentials.SUPPORTED_ALGORITHMS)}"
        )
    if did_method == "key" and jwt_algorithm != "EdDSA":
        raise InvalidRequestError(
            "a did:key centre has a single Ed25519 key, so its JWT algorithm must be EdDSA"
        )
    with transaction(session):
        if session.scalar(select(Organisation.id).where(Organisation.slug == slug)) is not None:
            raise ConflictError(f"a training centre with slug {slug!r} already exists")
        organisation = Organisation(
            slug=slug,
            name=name,
            did="pending",
            did_method=did_method,
            jwt_algorithm=jwt_algorithm,
            url=url,
            created_at=now,
        )
        session.add(organisation)
        session.flush()
        if did_method == "key":
            ring = KeyRing.create_did_key(session, kek, organisation_id=organisation.id, now=now)
        else:
            ring = KeyRing.create_did_web(
                session,
                kek,
                did=did_web(public_url, "orgs", slug),
                organisation_id=organisation.id,
                jwt_algorithm=jwt_algorithm,
                now=now,
            )
        organisation.did = ring.controller
        record_event(
            session,
            action="organisation.created",
            subject=organisation.did,
            now=now,
            organisation_id=organisation.id,
            details={"slug": slug, "did_method": did_method, "jwt_algorithm": jwt_algorithm},
        )
    return organisation


def get_organisation(session: Session, slug: str) -> Organisation:
    """Raises NotFoundError for an unknown slug."""
    organisation = session.scalars(select(Organisation).where(Organisation.slug == slug)).first()
    if organisation is None:
        raise NotFoundError(f"no training centre with slug {slug!r}")
    return organisation


def list_organisations(session: Session) -> Sequence[Organisation]:
    return session.scalars(select(Organisation).order_by(Organisation.slug)).all()


def key_ring(session: Session, kek: MultiFernet, organisation: Organisation) -> KeyRing:
    return KeyRing(session, kek, controller=organisation.did, organisation_id=organisation.id)


def rotate_keys(
    session: Session, kek: MultiFernet, organisation: Organisation, *, now: datetime
) -> list[str]:
    """Rotate a centre's keys; returns the new key ids. Old keys stay published."""
    with transaction(session):
        new = key_ring(session, kek, organisation).rotate(now=now)
        record_event(
            session,
            action="keys.rotated",
            subject=organisation.did,
            now=now,
            organisation_id=organisation.id,
            details={"new_keys": [k.key_id for k in new]},
        )
    return [k.key_id for k in new]


def rewrap_keys(session: Session, kek: MultiFernet, *, now: datetime) -> int:
    """Re-encrypt every stored private key under the first key-encryption key.

    Returns the number of keys re-encrypted. All or nothing: one key that no configured KEK
    opens leaves every key as it was.
    """
    with transaction(session):
        records = session.scalars(select(SigningKey)).all()
        for record in records:
            try:
                record.encrypted_private_key = kek.rotate(record.encrypted_private_key)
            except InvalidToken as e:
                raise KeyDecryptionError(
                    f"key {record.key_id} cannot be decrypted with any configured KEK"
                ) from e
        record_event(
            session,
            action="keys.rewrapped",
            subject="instance",
            now=now,
            details={"count": len(records)},
        )
    return len(records)


def ensure_instance_keys(
    session: Session, kek: MultiFernet, *, public_url: str, now: datetime
) -> KeyRing:
    """The instance's own did:web key ring (it signs wallet bundles), created on first use."""
    did = did_web(public_url)
    ring = KeyRing(session, kek, controller=did, organisation_id=None)
    if not ring.records():
        with transaction(session):
            ring = KeyRing.create_did_web(
                session, kek, did=did, organisation_id=None, jwt_algorithm="EdDSA", now=now
            )
            record_event(session, action="instance.keys.created", subject=did, now=now)
    return ring


# -- achievements -------------------------------------------------------------------------


def _parse_skill(value: str) -> credentials.Alignment:
    uri, _, label = value.partition("=")
    uri = uri.strip()
    if not ESCO_SKILL_PATTERN.match(uri):
        raise InvalidRequestError(
            f"{uri!r} is not an ESCO skill URI "
            "(expected http://data.europa.eu/esco/skill/<uuid>, optionally followed by =label)"
        )
    code = uri.rsplit("/", 1)[-1]
    return credentials.Alignment.esco_skill(uri, label.strip() or f"ESCO skill {code}")


def create_achievement(
    session: Session,
    *,
    organisation: Organisation,
    name: str,
    description: str,
    criteria: str,
    now: datetime,
    achievement_type: str = "Competency",
    skills: Sequence[str] = (),
) -> Achievement:
    """Define a job-task competency. ``skills`` are ESCO skill URIs, each optionally ``=label``.

    Raises:
        InvalidRequestError: unknown achievement type or a malformed skill URI.
    """
    if not is_valid_achievement_type(achievement_type):
        raise InvalidRequestError(
            f"achievement type {achievement_type!r} is not an Open Badges type; use e.g. "
            "Competency, MicroCredential, Certificate, or an extension such as ext:JobTask"
        )
    alignments = [_parse_skill(s) for s in skills]
    with transaction(session):
        achievement = Achievement(
            public_id=str(uuid.uuid4()),
            organisation_id=organisation.id,
            name=name,
            description=description,
            criteria=criteria,
            achievement_type=achievement_type,
            alignments=json.dumps(
                [
                    {
                        "targetName": a.target_name,
                        "targetUrl": a.target_url,
                        "targetFramework": a.target_framework,
                        "targetCode": a.target_code,
                        "targetType": a.target_type,
                    }
                    for a in alignments
                ]
            ),
            created_at=now,
        )
        session.add(achievement)
        session.flush()
        record_event(
            session,
            action="achievement.created",
            subject=achievement.public_id,
            now=now,
            organisation_id=organisation.id,
            details={"name": name},
        )
    return achievement


def get_achievement(session: Session, organisation: Organisation, public_id: str) -> Achievement:
    """An achievement of ``organisation`` (another centre's id is simply not found)."""
    achievement = session.scalars(
        select(Achievement).where(
            Achievement.public_id == public_id, Achievement.organisation_id == organisation.id
        )
    ).first()
    if achievement is None:
        raise NotFoundError(
            f"training centre {organisation.slug!r} has no achievement {public_id!r}"
        )
    return achievement


def achievement_value(achievement: Achievement, public_url: str) -> credentials.Achievement:
    alignments = tuple(
        credentials.Alignment(
            target_name=a["targetName"],
            target_url=a["targetUrl"],
            target_framework=a.get("targetFramework"),
            target_code=a.get("targetCode"),
            target_type=a.get("targetType"),
        )
        for a in json.loads(achievement.alignments)
    )
    slug = achievement.organisation.slug
    return credentials.Achievement(
        id=f"{public_url}/orgs/{slug}/achievements/{achievement.public_id}",
        name=achievement.name,
        description=achievement.description,
        criteria_narrative=achievement.criteria,
        achievement_type=achievement.achievement_type,
        alignments=alignments,
    )


# -- issuing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Issued:
    """What issuing hands back: the stored record and where it can be checked."""

    record: IssuedCredential
    verify_url: str
    created: bool  # False when an idempotent retry returned the first result


def verify_url(public_url: str, record: IssuedCredential) -> str:
    return f"{public_url}/v/{record.public_id}"


def new_public_id() -> str:
    """An opaque 128-bit id for verify links, never starting with "-".

    A leading hyphen would make ``tessera revoke <id>`` read the id as an option.
    """
    while (candidate := secrets.token_urlsafe(16)).startswith("-"):
        pass
    return candidate


def issue_credential(
    session: Session,
    kek: MultiFernet,
    *,
    organisation: Organisation,
    achievement: Achievement,
    name: str,
    email: str,
    public_url: str,
    now: datetime,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    recipient_did: str | None = None,
    idempotency_key: str | None = None,
    actor: str = "cli",
    external_id: str | None = None,
    evidence: list[dict[str, Any]] | None = None,
    also: Callable[[Session, IssuedCredential], None] | None = None,
) -> Issued:
    """Issue an Open Badges 3.0 credential with both proofs, in one transaction.

    ``external_id`` is the centre's own learner id (kept on the record, never in the
    credential). ``evidence`` items are OB 3.0 ``Evidence`` objects (``id`` an http(s) URL,
    ``name``, ``narrative``, ``description``, ``genre``, ``audience``): they go into the
    credential's ``evidence`` and onto the record.

    With an ``idempotency_key`` already used by this centre, the first credential is returned
    and nothing new is written. ``also`` writes rows that belong with the credential (a
    pathway award, say) in the same transaction: both are written, or neither.

    Raises:
        NotFoundError: the achievement belongs to another centre.
        ConflictError: the achievement is an archived version.
        InvalidRequestError: inverted dates, an overlong external id or malformed evidence.
    """
    request = _IssueRequest.checked(
        organisation=organisation,
        achievement=achievement,
        name=name,
        email=email,
        now=now,
        valid_from=valid_from,
        valid_until=valid_until,
        recipient_did=recipient_did,
        external_id=external_id,
        evidence=evidence,
    )
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if idempotency_key is not None:
            existing = _by_idempotency_key(session, organisation, idempotency_key)
            if existing is not None:
                return Issued(existing, verify_url(public_url, existing), created=False)
        try:
            with transaction(session):
                record = _write_credential(
                    session,
                    kek,
                    request,
                    public_url=public_url,
                    now=now,
                    idempotency_key=idempotency_key,
                    actor=actor,
                )
                if also is not None:
                    also(session, record)
        except DBAPIError as e:
            # A concurrent issuer took the same status index, list sequence or audit
            # position, or the same idempotency key: start again (a key's winner is then
            # found above). Signing is deterministic and cheap, so a retry costs little.
            if not retryable(e) or attempt == MAX_ATTEMPTS:
                raise
            continue
        return Issued(record, verify_url(public_url, record), created=True)
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


class Signers:
    """The active signers of the key rings a batch uses, each decrypted once per batch.

    Bulk issuing writes many credentials in one transaction (issuer/bulk.py); decrypting and
    loading the same two private keys for every one of them would cost more than signing.
    Keep one only for the length of one transaction: a key rotated meanwhile is picked up
    by the next.
    """

    def __init__(self) -> None:
        self._active: dict[tuple[str, KeyPurpose], LocalSigner] = {}

    def active(self, ring: KeyRing, purpose: KeyPurpose) -> LocalSigner:
        key = (ring.controller, purpose)
        if key not in self._active:
            self._active[key] = ring.active(purpose)
        return self._active[key]


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One credential of a batch (``issue_batch``): the learner and the row's own key."""

    name: str
    email: str
    idempotency_key: str
    external_id: str | None = None
    evidence: list[dict[str, Any]] | None = None


def issue_batch(
    session: Session,
    kek: MultiFernet,
    *,
    organisation: Organisation,
    achievement: Achievement,
    items: Sequence[BatchItem],
    public_url: str,
    now: datetime,
    signers: Signers,
    actor: str = "cli",
    bulk_job_id: int | None = None,
) -> list[BatchIssued | str]:
    """Issue a batch of credentials of one achievement inside the caller's transaction.

    For bulk issuing, which commits many credentials at once. Each item gets what
    ``issue_credential`` writes (both proofs, a status index, the record and its audit
    event), but with a handful of statements for the whole batch rather than a dozen per
    credential: the idempotency look-up, the status indexes, the inserts and the audit chain
    are each done once for all. Every credential of a batch is issued at the same ``now``.

    Returns, in the order of ``items``, the issued credential's id, or why the item was
    refused (its data: nothing of it is written). An item whose ``idempotency_key`` the
    centre already used returns the first credential, as in ``issue_credential``. No ORM
    objects are made for the batch's rows: building and flushing them cost more than
    signing.

    Raises:
        DBAPIError: on a conflict with a concurrent writer (a status index taken meanwhile,
            say); the caller rolls the batch back and retries it (``unit_of_work.retryable``).
    """
    outcomes: list[BatchIssued | str | None] = [None] * len(items)
    requests: dict[int, _IssueRequest] = {}
    for n, item in enumerate(items):
        try:
            requests[n] = _IssueRequest.checked(
                organisation=organisation,
                achievement=achievement,
                name=item.name,
                email=item.email,
                now=now,
                valid_from=None,
                valid_until=None,
                recipient_did=None,
                external_id=item.external_id,
                evidence=item.evidence,
            )
        except (IssuerError, credentials.CredentialError, ValueError) as e:
            outcomes[n] = str(e) or e.__class__.__name__
    existing = _by_idempotency_keys(
        session, organisation, [items[n].idempotency_key for n in requests]
    )
    for n in list(requests):
        found = existing.get(items[n].idempotency_key)
        if found is not None:
            if found.bulk_job_id is None:  # issued by a worker that died before recording it
                found.bulk_job_id = bulk_job_id
            outcomes[n] = BatchIssued(found.id, found.public_id, created=False)
            del requests[n]
    allocations = status.allocate_many(
        session, organisation, len(requests), public_url=public_url, now=now
    )
    ring = key_ring(session, kek, organisation)
    shared = achievement_value(achievement, public_url)
    built: list[tuple[int, status.Allocation, dict[str, Any]]] = []
    for (n, request), allocation in zip(requests.items(), allocations, strict=True):
        try:
            built.append((n, allocation, _unsigned(request, shared, allocation)))
        except (credentials.CredentialError, ValueError) as e:
            outcomes[n] = str(e) or e.__class__.__name__
    signed = signing.sign_all(
        [unsigned for _, _, unsigned in built],
        signers.active(ring, KeyPurpose.DATA_INTEGRITY),
        signers.active(ring, KeyPurpose.JWT),
        now,
    )
    written: dict[int, dict[str, Any]] = {}
    for (n, allocation, unsigned), forms in zip(built, signed, strict=True):
        if forms.refused is not None or forms.document is None or forms.token is None:
            outcomes[n] = forms.refused or "not signed"
            continue
        written[n] = _record_values(
            requests[n],
            allocation,
            unsigned["id"],
            forms.document,
            forms.token,
            now=now,
            idempotency_key=items[n].idempotency_key,
        ) | {"bulk_job_id": bulk_job_id}
    if not written:
        return [outcome if outcome is not None else "not issued" for outcome in outcomes]
    # Asking for the ids back makes it one multi-row INSERT on every database (without
    # RETURNING, psycopg sends one INSERT per row); rows are matched to ids by their key.
    table = IssuedCredential.__table__
    ids = dict(
        session.execute(
            insert(table).returning(table.c.idempotency_key, table.c.id),
            list(written.values()),
        ).all()
    )
    record_events(
        session,
        [
            Event(
                action="credential.issued",
                subject=values["credential_id"],
                now=now,
                actor=actor,
                organisation_id=organisation.id,
                details={"achievement": achievement.public_id, "public_id": values["public_id"]},
            )
            for values in written.values()
        ],
    )
    for n, values in written.items():
        outcomes[n] = BatchIssued(ids[values["idempotency_key"]], values["public_id"], created=True)
    return [outcome if outcome is not None else "not issued" for outcome in outcomes]


@dataclass(frozen=True, slots=True)
class BatchIssued:
    """A credential of a batch: its record's id and public id, and whether the batch wrote it."""

    id: int
    public_id: str
    created: bool


@dataclass(frozen=True, slots=True)
class _IssueRequest:
    """A credential to issue, checked, before anything is allocated or signed."""

    organisation: Organisation
    achievement: Achievement
    name: str
    recipient: credentials.Recipient
    issuer: credentials.IssuerProfile
    valid_from: datetime
    valid_until: datetime | None
    external_id: str | None
    evidence: list[dict[str, Any]]

    @classmethod
    def checked(
        cls,
        *,
        organisation: Organisation,
        achievement: Achievement,
        name: str,
        email: str,
        now: datetime,
        valid_from: datetime | None,
        valid_until: datetime | None,
        recipient_did: str | None,
        external_id: str | None,
        evidence: list[dict[str, Any]] | None,
    ) -> _IssueRequest:
        if achievement.organisation_id != organisation.id:
            raise NotFoundError("that achievement does not belong to this training centre")
        if external_id is not None and len(external_id) > MAX_EXTERNAL_ID:
            raise InvalidRequestError(
                f"the external id is longer than {MAX_EXTERNAL_ID} characters"
            )
        if achievement.archived_at is not None:
            raise ConflictError(
                f"{achievement.name!r} (version {achievement.version}) is archived; issue its "
                "current version"
            )
        refuse_control_characters(name, "learner's name")
        evidence_documents = evidence_objects(evidence or [])
        valid_from = valid_from or now
        if valid_until is None and achievement.validity_days:
            valid_until = valid_from + timedelta(days=achievement.validity_days)
        if valid_until is not None and valid_until <= valid_from:
            raise InvalidRequestError(
                f"valid until ({format_datetime(valid_until)}) must be later than valid from "
                f"({format_datetime(valid_from)})"
            )
        return cls(
            organisation=organisation,
            achievement=achievement,
            name=name,
            recipient=credentials.Recipient(
                name=name,
                email=credentials.normalize_email(email),
                salt=secrets.token_hex(16),
                did=recipient_did,
            ),
            issuer=credentials.IssuerProfile(
                id=organisation.did, name=organisation.name, url=organisation.url
            ),
            valid_from=valid_from,
            valid_until=valid_until,
            external_id=external_id,
            evidence=evidence_documents,
        )


def _write_credential(
    session: Session,
    kek: MultiFernet,
    request: _IssueRequest,
    *,
    public_url: str,
    now: datetime,
    idempotency_key: str | None,
    actor: str,
) -> IssuedCredential:
    """Allocate a status index, sign both forms, write the record and its audit event."""
    organisation, achievement = request.organisation, request.achievement
    allocation = status.allocate(session, organisation, public_url=public_url, now=now)
    ring = key_ring(session, kek, organisation)
    unsigned = _unsigned(request, achievement_value(achievement, public_url), allocation)
    document, token = signing.sign(
        unsigned,
        ring.active(KeyPurpose.DATA_INTEGRITY),
        ring.active(KeyPurpose.JWT),
        now,
    )
    record = IssuedCredential(
        **_record_values(
            request,
            allocation,
            unsigned["id"],
            document,
            token,
            now=now,
            idempotency_key=idempotency_key,
        )
    )
    session.add(record)
    session.flush()
    record_event(
        session,
        action="credential.issued",
        subject=record.credential_id,
        now=now,
        actor=actor,
        organisation_id=organisation.id,
        details={"achievement": achievement.public_id, "public_id": record.public_id},
    )
    return record


def _unsigned(
    request: _IssueRequest, achievement: credentials.Achievement, allocation: status.Allocation
) -> dict[str, Any]:
    """The credential to sign, with its status entry and evidence.

    Raises:
        ValueError: it cannot be built (an unknown achievement type, inverted dates).
    """
    unsigned = build_credential(
        credential_id=f"urn:uuid:{uuid.uuid4()}",
        issuer=request.issuer,
        achievement=achievement,
        recipient=request.recipient,
        valid_from=request.valid_from,
        valid_until=request.valid_until,
        credential_status=allocation.entry,
    )
    return _with_evidence(unsigned, request.evidence) if request.evidence else unsigned


def _record_values(
    request: _IssueRequest,
    allocation: status.Allocation,
    credential_id: str,
    document: str,
    token: str,
    *,
    now: datetime,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """The columns of a signed credential's record."""
    return {
        "public_id": new_public_id(),
        "credential_id": credential_id,
        "organisation_id": request.organisation.id,
        "achievement_id": request.achievement.id,
        "recipient_name": request.name,
        "recipient_email": request.recipient.email,
        "identity_hash": request.recipient.identity_hash,
        "document": document,
        "jwt": token,
        "valid_from": request.valid_from,
        "valid_until": request.valid_until,
        "issued_at": now,
        "idempotency_key": idempotency_key,
        "status_list_id": allocation.status_list.id,
        "status_index": allocation.index,
        "external_id": request.external_id,
        "evidence": (
            json.dumps(request.evidence, ensure_ascii=False) if request.evidence else None
        ),
    }


#: Longest learner id a centre may keep with a credential (issued_credential.external_id).
MAX_EXTERNAL_ID = 200
#: Control characters no one can see or type (tab, line feed and carriage return are text).
#: Credentials never carry them: older URDNA2015 implementations (pyld among them) escape
#: them differently from RDFC-1.0, so a proof over them would verify in some verifiers only.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def refuse_control_characters(value: str, what: str) -> str:
    """``value``, unless it holds a control character other than tab and line breaks.

    Raises:
        InvalidRequestError: naming ``what`` and the character.
    """
    found = CONTROL_CHARACTERS.search(value)
    if found is not None:
        raise InvalidRequestError(
            f"the {what} contains an invisible control character (U+{ord(found.group()):04X}); "
            "remove it (it often comes with text pasted from another program)"
        )
    return value


MAX_EVIDENCE_ITEMS = 20
_EVIDENCE_TEXT_LIMITS = {
    "name": 500,
    "narrative": 5000,
    "description": 5000,
    "genre": 200,
    "audience": 500,
}


def evidence_objects(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OB 3.0 ``Evidence`` objects, checked: what ``issue_credential`` puts into a credential.

    Every member must be one the OB 3.0 context defines, so the credential canonicalizes;
    ``id`` must be an absolute http(s) URL (JSON-LD would resolve a relative one against a
    base that differs between processors).

    Raises:
        InvalidRequestError: naming what is wrong with which item.
    """
    if len(items) > MAX_EVIDENCE_ITEMS:
        raise InvalidRequestError(f"at most {MAX_EVIDENCE_ITEMS} evidence items")
    documents = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            raise InvalidRequestError(f"evidence item {number} must be an object")
        unknown = sorted(set(item) - {"id", "type", *_EVIDENCE_TEXT_LIMITS})
        if unknown:
            raise InvalidRequestError(
                f"evidence item {number} has members Open Badges does not define: "
                + ", ".join(unknown)
            )
        kind = item.get("type", ["Evidence"])
        if kind != "Evidence" and kind != ["Evidence"]:
            raise InvalidRequestError(f'evidence item {number}: type must be ["Evidence"]')
        document: dict[str, Any] = {}
        if item.get("id") is not None:
            document["id"] = _evidence_url(item["id"], number)
        document["type"] = ["Evidence"]
        for member, limit in _EVIDENCE_TEXT_LIMITS.items():
            value = item.get(member)
            if value is None:
                continue
            if not isinstance(value, str) or not value.strip() or len(value) > limit:
                raise InvalidRequestError(
                    f"evidence item {number}: {member} must be text of 1 to {limit} characters"
                )
            document[member] = refuse_control_characters(
                value.strip(), f"{member} of evidence item {number}"
            )
        if len(document) == 1:
            raise InvalidRequestError(
                f"evidence item {number} is empty: give a URL, a name or a narrative"
            )
        documents.append(document)
    return documents


def _evidence_url(value: object, number: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or len(text) > 2000
        or any(c.isspace() or ord(c) < 0x20 for c in text)
    ):
        raise InvalidRequestError(
            f"evidence item {number}: the URL must be an http(s) address such as "
            "https://example.org/portfolio/123 (at most 2,000 characters, no spaces)"
        )
    return text


def _with_evidence(credential: dict[str, Any], evidence: list[dict[str, Any]]) -> dict[str, Any]:
    """The credential with ``evidence`` after ``credentialSubject`` (where people look)."""
    ordered: dict[str, Any] = {}
    for name, value in credential.items():
        ordered[name] = value
        if name == "credentialSubject":
            ordered["evidence"] = evidence
    ordered.setdefault("evidence", evidence)
    return ordered


def _by_idempotency_key(
    session: Session, organisation: Organisation, key: str
) -> IssuedCredential | None:
    return session.scalars(
        select(IssuedCredential).where(
            IssuedCredential.organisation_id == organisation.id,
            IssuedCredential.idempotency_key == key,
        )
    ).first()


def _by_idempotency_keys(
    session: Session, organisation: Organisation, keys: Sequence[str]
) -> dict[str, IssuedCredential]:
    if not keys:
        return {}
    found = session.scalars(
        select(IssuedCredential).where(
            IssuedCredential.organisation_id == organisation.id,
            IssuedCredential.idempotency_key.in_(keys),
        )
    )
    return {record.idempotency_key: record for record in found if record.idempotency_key}


def revoke_credential(
    session: Session,
    record: IssuedCredential,
    *,
    reason: str,
    now: datetime,
    actor: str = "cli",
) -> IssuedCredential:
    """Revoke a credential for good, with a reason, in its status list and the audit log.

    Raises:
        InvalidRequestError: a blank or overlong reason.
        ConflictError: the credential is already revoked.
    """
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise InvalidRequestError("give a reason for revoking, up to 500 characters")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with transaction(session):
                current = locked(session, IssuedCredential, record.id)
                if current.revoked_at is not None:
                    raise ConflictError(
                        f"this credential was already revoked on "
                        f"{format_datetime(current.revoked_at)} ({current.revocation_reason})"
                    )
                status.set_revoked(session, current)
                current.revoked_at = now
                current.revocation_reason = reason
                record_event(
                    session,
                    action="credential.revoked",
                    subject=current.credential_id,
                    now=now,
                    actor=actor,
                    organisation_id=current.organisation_id,
                    details={"reason": reason},
                )
        except DBAPIError as e:
            if not retryable(e) or attempt == MAX_ATTEMPTS:
                raise
            continue
        return current
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def get_credential(session: Session, public_or_credential_id: str) -> IssuedCredential:
    """Find an issued credential by its public id or its ``urn:uuid`` id."""
    record = session.scalars(
        select(IssuedCredential).where(
            (IssuedCredential.public_id == public_or_credential_id)
            | (IssuedCredential.credential_id == public_or_credential_id)
        )
    ).first()
    if record is None:
        raise NotFoundError(f"no credential {public_or_credential_id!r}")
    return record
