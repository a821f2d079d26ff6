"""A centre's catalogue: achievements and their versions, badge images, issuing one credential,
finding, exporting and revoking what was issued. No Flask here.

Every function takes the centre it acts for and looks nothing up outside it: another centre's
ids are simply not found. Writes own their transaction, like ``services``: a failure leaves
nothing half-written.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as parse_xml
from PIL import Image, UnidentifiedImageError
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

import credentials
from credentials.dates import format_datetime
from credentials.openbadges import is_valid_achievement_type

from . import claims, esco, services
from .audit import record_event
from .errors import ConflictError, InvalidRequestError, NotFoundError
from .models import Achievement, IssuedCredential, Organisation
from .unit_of_work import locked, transaction

#: Types offered on the form, most useful first; any OB 3.0 type or ``ext:`` extension works.
ACHIEVEMENT_TYPES = (
    "ext:JobTask",
    "Competency",
    "MicroCredential",
    "Certificate",
    "CertificateOfCompletion",
    "License",
    "Badge",
    "Assessment",
)
MAX_NAME = 200
MAX_TEXT = 5000
MAX_SKILLS = 20
MAX_VALIDITY_DAYS = 36_500  # a hundred years
EARLIEST_ISSUE_DATE = date(2000, 1, 1)


# -- badge images -----------------------------------------------------------------------------

MAX_IMAGE_BYTES = 1024 * 1024
MAX_IMAGE_SIDE = 4096
PNG = "image/png"
SVG = "image/svg+xml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
_DANGEROUS_ELEMENTS = frozenset(
    {"script", "foreignobject", "iframe", "embed", "object", "handler", "listener"}
)
_ANIMATIONS = frozenset({"set", "animate", "animatemotion", "animatetransform"})
_SAFE_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$")
_CSS_URL = re.compile(r"url\s*\(\s*['\"]?\s*([^'\")\s]*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class BadgeImage:
    """A checked badge image: the bytes as uploaded and their media type."""

    data: bytes = field(repr=False)
    media_type: str


def read_image(data: bytes) -> BadgeImage:
    """Check an uploaded badge image: a PNG that Pillow opens, or an SVG with nothing active.

    An SVG is refused when it has a DTD, scripts or ``foreignObject``, event handler
    attributes (``on…``), ``javascript:`` anywhere, or references to anything outside itself
    (links, ``<use>``, images, CSS ``url()`` or ``@import`` other than ``#fragment`` and
    embedded raster ``data:`` images). The bytes are kept as uploaded; the page that serves them
    adds a content security policy that allows nothing to run anyway.

    Raises:
        InvalidRequestError: saying what is wrong, in words a coordinator understands.
    """
    if not data:
        raise InvalidRequestError("the image file is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidRequestError(
            f"the image is {len(data) / 1024 / 1024:.1f} MB; upload one of at most 1 MB"
        )
    if data.startswith(PNG_SIGNATURE):
        _check_png(data)
        return BadgeImage(data, PNG)
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype")):
        _check_svg(data)
        return BadgeImage(data, SVG)
    raise InvalidRequestError("the image must be a PNG or an SVG file")


def _check_png(data: bytes) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if image.format != "PNG":
                    raise InvalidRequestError("the image must be a PNG or an SVG file")
                image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InvalidRequestError("the PNG file is damaged or not really a PNG") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InvalidRequestError("the PNG has far too many pixels for a badge") from e
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        raise InvalidRequestError(
            f"the PNG is {width} x {height} pixels; at most {MAX_IMAGE_SIDE} on each side"
        )


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].casefold()


def _check_svg(data: bytes) -> None:
    if b"<?xml-stylesheet" in data.lower():
        raise InvalidRequestError("the SVG refers to an outside style sheet")
    try:
        root = parse_xml(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError) as e:
        raise InvalidRequestError(
            "the SVG could not be read safely (it is malformed, or has a DTD or entities)"
        ) from e
    if root.tag != f"{{{SVG_NAMESPACE}}}svg":
        raise InvalidRequestError("the file is XML but not an SVG image")
    for element in root.iter():
        _check_svg_element(element)


def _check_svg_element(element: Element) -> None:
    tag = _local(str(element.tag))
    if tag in _DANGEROUS_ELEMENTS:
        raise InvalidRequestError(f"the SVG contains a <{tag}> element; remove it and try again")
    for name, value in element.attrib.items():
        attribute = _local(name)
        flat = re.sub(r"[\s\x00-\x1f]+", "", value).casefold()
        if attribute.startswith("on"):
            raise InvalidRequestError(f"the SVG has an event handler ({attribute}); remove it")
        if "javascript:" in flat or "vbscript:" in flat:
            raise InvalidRequestError("the SVG contains a javascript: link")
        if attribute in ("href", "src") and not (
            value.strip().startswith("#") or _SAFE_DATA_URL.match(value.strip())
        ):
            raise InvalidRequestError(
                "the SVG refers to another file or site; badge images must be self-contained"
            )
        if (
            tag in _ANIMATIONS
            and attribute == "attributename"
            and (flat.startswith("on") or flat.endswith("href"))
        ):
            raise InvalidRequestError("the SVG animates a link or an event handler; remove it")
        if attribute == "style":
            _check_css(value)
    if tag == "style":
        _check_css(element.text or "")


def _check_css(css: str) -> None:
    if "@import" in css.casefold():
        raise InvalidRequestError("the SVG imports an outside style sheet")
    for target in _CSS_URL.findall(css):
        if not target.startswith("#"):
            raise InvalidRequestError(
                "the SVG's styles refer to another file or site; badge images must be "
                "self-contained"
            )


_BADGE_COLOURS = ("#16324f", "#0b57d0", "#1e7b34", "#9a5b00", "#6d28d9", "#b3261e")


def default_image(name: str) -> bytes:
    """A generated badge for an achievement without an image: a hexagon with its initials."""
    words = [w for w in re.findall(r"[^\W_]+", name) if w]
    initials = "".join(w[0] for w in words[:2]).upper() or "?"
    colour = _BADGE_COLOURS[sum(map(ord, name)) % len(_BADGE_COLOURS)]
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200" width="200" '
        'height="200" role="img">'
        f"<title>{escape(name[:MAX_NAME])}</title>"
        f'<polygon points="100,8 180,54 180,146 100,192 20,146 20,54" fill="{colour}"/>'
        '<polygon points="100,24 166,62 166,138 100,176 34,138 34,62" fill="none" '
        'stroke="#ffffff" stroke-width="4"/>'
        '<text x="100" y="122" text-anchor="middle" font-family="system-ui, sans-serif" '
        f'font-size="60" font-weight="700" fill="#ffffff">{escape(initials)}</text>'
        "</svg>"
    )
    return svg.encode("utf-8")


def achievement_image(achievement: Achievement) -> BadgeImage:
    """The achievement's uploaded image, or the generated default."""
    if achievement.image and achievement.image_type in (PNG, SVG):
        return BadgeImage(achievement.image, achievement.image_type)
    return BadgeImage(default_image(achievement.name), SVG)


# -- achievements -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SkillChoice:
    """An ESCO skill picked for an achievement, with the name the coordinator confirmed."""

    uri: str
    target_name: str = ""


@dataclass(frozen=True, slots=True)
class AchievementFields:
    """What a coordinator writes about an achievement (a new one, or a new version)."""

    name: str
    description: str
    criteria: str
    achievement_type: str = "Competency"
    skills: Sequence[SkillChoice] = ()
    validity_days: int | None = None
    evidence_required: str | None = None


def _text(value: str | None, what: str, limit: int, *, required: bool = True) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise InvalidRequestError(f"give the {what}")
        return None
    if len(value) > limit:
        raise InvalidRequestError(f"the {what} is longer than {limit:,} characters")
    return services.refuse_control_characters(value, what)


def _alignments(skills: Sequence[SkillChoice]) -> list[dict[str, Any]]:
    if len(skills) > MAX_SKILLS:
        raise InvalidRequestError(f"choose at most {MAX_SKILLS} ESCO skills")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for choice in skills:
        uri = choice.uri.strip()
        if not services.ESCO_SKILL_PATTERN.match(uri):
            raise InvalidRequestError(
                f"{uri[:100]!r} is not an ESCO skill URI (http://data.europa.eu/esco/skill/<uuid>)"
            )
        if uri in seen:
            continue
        seen.add(uri)
        known = esco.lookup(uri)
        name = choice.target_name.strip() or (known.label if known else "")
        if not name:
            raise InvalidRequestError(f"give a name for the skill {uri}")
        if len(name) > MAX_NAME:
            raise InvalidRequestError(f"the skill name {name[:40]!r}… is too long")
        services.refuse_control_characters(name, "skill name")
        alignment = credentials.Alignment.esco_skill(uri, name)
        out.append(
            {
                "targetName": alignment.target_name,
                "targetUrl": alignment.target_url,
                "targetFramework": alignment.target_framework,
                "targetCode": alignment.target_code,
                "targetType": alignment.target_type,
            }
        )
    return out


def _checked(fields: AchievementFields) -> dict[str, Any]:
    """The columns of an achievement row, validated (raises InvalidRequestError)."""
    if not is_valid_achievement_type(fields.achievement_type):
        raise InvalidRequestError(
            f"achievement type {fields.achievement_type[:64]!r} is not an Open Badges type; use "
            "e.g. Competency, MicroCredential, Certificate, or an extension such as ext:JobTask"
        )
    if fields.validity_days is not None and not 1 <= fields.validity_days <= MAX_VALIDITY_DAYS:
        raise InvalidRequestError(
            f"the validity must be between 1 and {MAX_VALIDITY_DAYS:,} days, or left empty"
        )
    return {
        "name": _text(fields.name, "name", MAX_NAME),
        "description": _text(fields.description, "description", MAX_TEXT),
        "criteria": _text(fields.criteria, "criteria", MAX_TEXT),
        "achievement_type": fields.achievement_type,
        "alignments": json.dumps(_alignments(fields.skills)),
        "validity_days": fields.validity_days,
        "evidence_required": _text(
            fields.evidence_required, "evidence requirements", MAX_TEXT, required=False
        ),
    }


def create_achievement(
    session: Session,
    *,
    organisation: Organisation,
    fields: AchievementFields,
    now: datetime,
    actor: str,
    image: BadgeImage | None = None,
) -> Achievement:
    """Define a job-task competency of ``organisation`` (version 1).

    Raises:
        InvalidRequestError: a blank or overlong field, an unknown type, a bad skill URI.
    """
    columns = _checked(fields)
    with transaction(session):
        achievement = Achievement(
            public_id=str(uuid.uuid4()),
            organisation_id=organisation.id,
            created_at=now,
            version=1,
            image=image.data if image else None,
            image_type=image.media_type if image else None,
            **columns,
        )
        session.add(achievement)
        session.flush()
        record_event(
            session,
            action="achievement.created",
            subject=achievement.public_id,
            now=now,
            actor=actor,
            organisation_id=organisation.id,
            details={"name": achievement.name},
        )
    return achievement


def revise_achievement(
    session: Session,
    achievement: Achievement,
    *,
    fields: AchievementFields,
    now: datetime,
    actor: str,
    image: BadgeImage | None = None,
    remove_image: bool = False,
) -> Achievement:
    """Edit an achievement: a new version with a new id; the old one is archived.

    Credentials already issued keep pointing at (and carrying) the version they were issued
    for. Without a new ``image`` the old one is kept, unless ``remove_image``.

    Raises:
        InvalidRequestError: as ``create_achievement``.
        ConflictError: the achievement is archived (only the current version is edited).
    """
    columns = _checked(fields)
    if image is not None:
        picture, picture_type = image.data, image.media_type
    elif remove_image:
        picture, picture_type = None, None
    else:
        picture, picture_type = achievement.image, achievement.image_type
    with transaction(session):
        current = locked(session, Achievement, achievement.id)
        if current.archived_at is not None:
            raise ConflictError(
                "this version is archived; edit the current version of the achievement"
            )
        current.archived_at = now
        revised = Achievement(
            public_id=str(uuid.uuid4()),
            organisation_id=current.organisation_id,
            created_at=now,
            version=current.version + 1,
            previous_version_id=current.id,
            image=picture,
            image_type=picture_type,
            **columns,
        )
        session.add(revised)
        session.flush()
        record_event(
            session,
            action="achievement.revised",
            subject=revised.public_id,
            now=now,
            actor=actor,
            organisation_id=current.organisation_id,
            details={
                "name": revised.name,
                "version": revised.version,
                "previous": current.public_id,
            },
        )
    return revised


def archive_achievement(
    session: Session, achievement: Achievement, *, now: datetime, actor: str
) -> Achievement:
    """Stop offering an achievement for issuing; what was issued stays valid.

    Raises:
        ConflictError: it is archived already.
    """
    with transaction(session):
        current = locked(session, Achievement, achievement.id)
        if current.archived_at is not None:
            raise ConflictError("this achievement is archived already")
        current.archived_at = now
        record_event(
            session,
            action="achievement.archived",
            subject=current.public_id,
            now=now,
            actor=actor,
            organisation_id=current.organisation_id,
            details={"name": current.name},
        )
    return current


def get_achievement(session: Session, organisation: Organisation, public_id: str) -> Achievement:
    """One of the centre's achievements, current or archived (NotFoundError otherwise)."""
    if len(public_id) > 36:
        raise NotFoundError("no such achievement")
    return services.get_achievement(session, organisation, public_id)


def list_achievements(
    session: Session, organisation: Organisation, *, archived: bool = False
) -> Sequence[Achievement]:
    """The centre's current achievements by name, or its archived ones (newest first)."""
    query = select(Achievement).where(Achievement.organisation_id == organisation.id)
    if archived:
        query = query.where(Achievement.archived_at.is_not(None)).order_by(
            Achievement.archived_at.desc(), Achievement.id.desc()
        )
    else:
        query = query.where(Achievement.archived_at.is_(None)).order_by(
            func.lower(Achievement.name), Achievement.id
        )
    return session.scalars(query).all()


def issued_counts(session: Session, achievements: Sequence[Achievement]) -> dict[int, int]:
    """How many credentials each achievement (version) was issued as."""
    if not achievements:
        return {}
    rows = session.execute(
        select(IssuedCredential.achievement_id, func.count())
        .where(IssuedCredential.achievement_id.in_([a.id for a in achievements]))
        .group_by(IssuedCredential.achievement_id)
    ).all()
    return {achievement_id: count for achievement_id, count in rows}


def versions(session: Session, achievement: Achievement) -> list[Achievement]:
    """Every version of an achievement, newest first."""
    chain = [achievement]
    newer = achievement
    while True:  # later versions point back at earlier ones
        following = session.scalars(
            select(Achievement).where(Achievement.previous_version_id == newer.id)
        ).first()
        if following is None:
            break
        chain.insert(0, following)
        newer = following
    older = achievement
    while older.previous_version_id is not None:
        found = session.get(Achievement, older.previous_version_id)
        if found is None or found.organisation_id != achievement.organisation_id:
            break
        chain.append(found)
        older = found
    return chain


def skill_choices(achievement: Achievement) -> list[SkillChoice]:
    """The achievement's ESCO alignments as the form shows them."""
    return [
        SkillChoice(uri=a["targetUrl"], target_name=a["targetName"])
        for a in json.loads(achievement.alignments)
    ]


def fields_of(achievement: Achievement) -> AchievementFields:
    return AchievementFields(
        name=achievement.name,
        description=achievement.description,
        criteria=achievement.criteria,
        achievement_type=achievement.achievement_type,
        skills=skill_choices(achievement),
        validity_days=achievement.validity_days,
        evidence_required=achievement.evidence_required,
    )


# -- issuing one credential -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedWithClaim:
    """A credential issued from the catalogue, with the worker's claim link token.

    ``claim_token`` is None for an idempotent replay: the first answer carried the link, and
    a new one would silently retire it (``new_claim_link`` makes one on purpose).
    """

    issued: services.Issued
    claim_token: str | None


def valid_from_for(issued_on: date | None, now: datetime) -> datetime:
    """When a credential issued "on" a date is valid from: now for today, else that midnight UTC.

    Raises:
        InvalidRequestError: a date in the future or before 2000.
    """
    today = now.astimezone(UTC).date()
    if issued_on is None or issued_on == today:
        return now
    if issued_on > today:
        raise InvalidRequestError("the issue date cannot be in the future")
    if issued_on < EARLIEST_ISSUE_DATE:
        raise InvalidRequestError(f"the issue date cannot be before {EARLIEST_ISSUE_DATE}")
    return datetime.combine(issued_on, time(0, 0), tzinfo=UTC)


def issue(
    session: Session,
    kek: Any,
    *,
    organisation: Organisation,
    achievement: Achievement,
    name: str,
    email: str,
    public_url: str,
    now: datetime,
    actor: str,
    external_id: str | None = None,
    evidence: Sequence[dict[str, Any]] = (),
    issued_on: date | None = None,
    idempotency_key: str | None = None,
) -> IssuedWithClaim:
    """Issue one credential of a current achievement, then a claim link for the worker.

    The achievement's validity (days) sets ``validUntil`` from the issue date. The claim link
    is written in its own transaction right after the credential's (which is committed when
    ``issue_credential`` returns); if that second one fails, the credential stands and
    ``new_claim_link`` makes the link later. Then the automatic pathways the credential
    completes are awarded (``pathways.after_issue``).

    Raises:
        NotFoundError: the achievement is another centre's.
        ConflictError: the achievement is archived.
        InvalidRequestError: a bad date, name, external id or evidence.
    """
    name = _text(name, "learner's name", MAX_NAME) or ""
    valid_from = valid_from_for(issued_on, now)
    issued = services.issue_credential(
        session,
        kek,
        organisation=organisation,
        achievement=achievement,
        name=name,
        email=email,
        public_url=public_url,
        now=now,
        valid_from=valid_from,
        idempotency_key=idempotency_key,
        actor=actor,
        external_id=(external_id or "").strip() or None,
        evidence=list(evidence) or None,
    )
    token = None
    if issued.created:
        with transaction(session):
            token = claims.new_claim_token(session, issued.record, now=now)
    # Imported here: pathways builds on this module. Never raises (a pathway that cannot be
    # awarded now leaves this credential as it is).
    from . import pathways

    pathways.after_issue(session, kek, issued.record, public_url=public_url, now=now)
    return IssuedWithClaim(issued, token)


def evidence_from(url: str | None, narrative: str | None, name: str | None = None) -> list[dict]:
    """The form's evidence fields as OB 3.0 Evidence items (none when all are blank)."""
    item = {
        key: value.strip()
        for key, value in (("id", url), ("name", name), ("narrative", narrative))
        if value and value.strip()
    }
    return services.evidence_objects([item]) if item else []


def new_claim_link(session: Session, record: IssuedCredential, *, now: datetime, actor: str) -> str:
    """A fresh claim link token for a credential; earlier links stop working."""
    with transaction(session):
        token = claims.new_claim_token(session, record, now=now)
        record_event(
            session,
            action="claim_link.created",
            subject=record.credential_id,
            now=now,
            actor=actor,
            organisation_id=record.organisation_id,
        )
    return token


# -- finding what was issued ------------------------------------------------------------------

STATUSES = ("valid", "expired", "revoked")
PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_EXPORT_ROWS = 100_000
MAX_QUERY = 200


@dataclass(frozen=True, slots=True)
class CredentialFilters:
    """What the credential list is narrowed to; every field optional."""

    query: str = ""  # words in the learner's name, e-mail or the achievement's name
    status: str | None = None  # valid, expired or revoked
    issued_from: date | None = None  # issue dates (validFrom), inclusive
    issued_to: date | None = None
    achievement: str | None = None  # public id of one version

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise InvalidRequestError(f"status must be one of {', '.join(STATUSES)}")
        if len(self.query) > MAX_QUERY:
            raise InvalidRequestError(f"search for at most {MAX_QUERY} characters")
        if self.issued_from and self.issued_to and self.issued_from > self.issued_to:
            raise InvalidRequestError("the 'issued from' date is after the 'issued to' date")

    @property
    def active(self) -> bool:
        return bool(
            self.query.strip()
            or self.status
            or self.issued_from
            or self.issued_to
            or self.achievement
        )


def _like(text: str) -> str:
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def credential_query(
    organisation: Organisation, filters: CredentialFilters, *, now: datetime
) -> Select[tuple[IssuedCredential]]:
    """The centre's credentials matching ``filters``, newest first (a SELECT to run)."""
    query = (
        select(IssuedCredential)
        .join(Achievement, IssuedCredential.achievement_id == Achievement.id)
        .where(IssuedCredential.organisation_id == organisation.id)
    )
    for word in filters.query.split()[:8]:
        pattern = _like(word)
        query = query.where(
            or_(
                func.lower(IssuedCredential.recipient_name).like(pattern, escape="\\"),
                func.lower(IssuedCredential.recipient_email).like(pattern, escape="\\"),
                func.lower(Achievement.name).like(pattern, escape="\\"),
                func.lower(IssuedCredential.external_id).like(pattern, escape="\\"),
            )
        )
    if filters.status == "revoked":
        query = query.where(IssuedCredential.revoked_at.is_not(None))
    elif filters.status == "expired":
        query = query.where(
            IssuedCredential.revoked_at.is_(None), IssuedCredential.valid_until <= now
        )
    elif filters.status == "valid":
        query = query.where(
            IssuedCredential.revoked_at.is_(None),
            or_(IssuedCredential.valid_until.is_(None), IssuedCredential.valid_until > now),
        )
    if filters.issued_from:
        query = query.where(IssuedCredential.valid_from >= _midnight(filters.issued_from))
    if filters.issued_to:
        next_day = _midnight(filters.issued_to + timedelta(days=1))
        query = query.where(IssuedCredential.valid_from < next_day)
    if filters.achievement:
        query = query.where(Achievement.public_id == filters.achievement)
    return query.order_by(IssuedCredential.issued_at.desc(), IssuedCredential.id.desc())


@dataclass(frozen=True, slots=True)
class CredentialPage:
    items: Sequence[IssuedCredential]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def find_credentials(
    session: Session,
    organisation: Organisation,
    filters: CredentialFilters,
    *,
    now: datetime,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> CredentialPage:
    """One page of the centre's credentials matching ``filters``."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    query = credential_query(organisation, filters, now=now)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = session.scalars(
        query.options(selectinload(IssuedCredential.achievement))
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return CredentialPage(items, total or 0, page, per_page)


def credential_status(record: IssuedCredential, now: datetime) -> str:
    """``revoked``, ``expired``, ``not yet valid`` or ``valid`` (as the records say)."""
    if record.revoked_at is not None:
        return "revoked"
    if record.valid_until is not None and record.valid_until <= now:
        return "expired"
    if record.valid_from > now:
        return "not yet valid"
    return "valid"


EXPORT_COLUMNS = (
    "public_id",
    "credential_id",
    "learner_name",
    "learner_email",
    "external_id",
    "achievement",
    "achievement_version",
    "issued_on",
    "valid_until",
    "status",
    "revoked_at",
    "revocation_reason",
    "verify_url",
)


def export_rows(
    session: Session,
    organisation: Organisation,
    filters: CredentialFilters,
    *,
    now: datetime,
    public_url: str,
) -> Iterator[list[str]]:
    """The header, then one row per matching credential (at most ``MAX_EXPORT_ROWS``).

    Cells are plain text; the web layer escapes them against formula injection.
    """
    yield list(EXPORT_COLUMNS)
    query = (
        credential_query(organisation, filters, now=now)
        .options(selectinload(IssuedCredential.achievement))
        .limit(MAX_EXPORT_ROWS)
        .execution_options(yield_per=500)
    )
    for record in session.scalars(query):
        yield [
            record.public_id,
            record.credential_id,
            record.recipient_name,
            record.recipient_email,
            record.external_id or "",
            record.achievement.name,
            str(record.achievement.version),
            format_datetime(record.valid_from),
            format_datetime(record.valid_until) if record.valid_until else "",
            credential_status(record, now),
            format_datetime(record.revoked_at) if record.revoked_at else "",
            record.revocation_reason or "",
            services.verify_url(public_url, record),
        ]


def get_credential(
    session: Session, organisation: Organisation, public_id: str
) -> IssuedCredential:
    """One of the centre's credentials by its public id (NotFoundError otherwise)."""
    record = session.scalars(
        select(IssuedCredential).where(
            IssuedCredential.public_id == public_id[:43],
            IssuedCredential.organisation_id == organisation.id,
        )
    ).first()
    if record is None:
        raise NotFoundError("this training centre has no such credential")
    return record


def evidence_of(record: IssuedCredential) -> list[dict[str, Any]]:
    return list(json.loads(record.evidence)) if record.evidence else []


# -- revoking ---------------------------------------------------------------------------------


def revoke(
    session: Session,
    organisation: Organisation,
    public_id: str,
    *,
    reason: str,
    now: datetime,
    actor: str,
) -> IssuedCredential:
    """Revoke one of the centre's credentials.

    Raises:
        NotFoundError: not the centre's credential.
        InvalidRequestError: a blank or overlong reason.
        ConflictError: already revoked.
    """
    record = get_credential(session, organisation, public_id)
    return _revoke(session, record, reason=reason, now=now, actor=actor)


def _revoke(
    session: Session, record: IssuedCredential, *, reason: str, now: datetime, actor: str
) -> IssuedCredential:
    # revoke_credential re-reads the row FOR UPDATE, but the session would hand back this
    # object with the state it read first: expiring the revocation makes that locked read
    # count, so a revocation committed meanwhile by someone else is a conflict, not
    # overwritten.
    session.expire(record, ["revoked_at", "revocation_reason"])
    return services.revoke_credential(session, record, reason=reason, now=now, actor=actor)


@dataclass(frozen=True, slots=True)
class RevokeReport:
    """What revoking a selection did, credential by credential."""

    revoked: list[IssuedCredential] = field(default_factory=list)
    already: list[IssuedCredential] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)


MAX_SELECTED = 500


def revoke_selected(
    session: Session,
    organisation: Organisation,
    public_ids: Sequence[str],
    *,
    reason: str,
    now: datetime,
    actor: str,
) -> RevokeReport:
    """Revoke each selected credential with one reason; each is its own transaction.

    Credentials already revoked, and ids that are not the centre's, are reported, not errors.

    Raises:
        InvalidRequestError: no selection, too many, or a blank or overlong reason (then
            nothing is revoked).
    """
    wanted = list(dict.fromkeys(p.strip() for p in public_ids if p.strip()))
    if not wanted:
        raise InvalidRequestError("select at least one credential to revoke")
    if len(wanted) > MAX_SELECTED:
        raise InvalidRequestError(f"revoke at most {MAX_SELECTED} credentials at a time")
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise InvalidRequestError("give a reason for revoking, up to 500 characters")
    report = RevokeReport()
    for public_id in wanted:
        try:
            record = get_credential(session, organisation, public_id)
        except NotFoundError:
            report.not_found.append(public_id)
            continue
        try:
            _revoke(session, record, reason=reason, now=now, actor=actor)
        except ConflictError:
            report.already.append(record)
        else:
            report.revoked.append(record)
    return report
