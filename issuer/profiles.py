"""Job profiles: roles described task by task, and the achievements that would fill a gap.

Centre staff write profiles; published ones are offered on the public match page beside the
occupations shipped with Tessera (``verifier/data/job_profiles.json``). A task names ESCO skills
and/or achievements of this instance; an achievement counts in any of its versions.

A profile is a draft until published, and archived profiles are kept (with their history in the
audit log) but offered nowhere. Tasks may name another centre's achievements: a role rarely fits
one centre's catalogue. Writes own their transaction, like ``catalogue``: bad input writes
nothing, and every change is audited.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from verifier.matching import CATALOGUE_SOURCE, JobProfile, Offering, Task, catalogue

from . import catalogue as achievements
from . import esco, services
from .audit import record_event
from .errors import ConflictError, InvalidRequestError, NotFoundError
from .models import Achievement, Organisation
from .models import JobProfile as JobProfileRow
from .unit_of_work import locked, transaction

MAX_NAME = 200
MAX_DESCRIPTION = 5_000
MAX_URI = 500
MAX_TASKS = 100
MAX_SKILLS_PER_TASK = 30
MAX_ACHIEVEMENTS_PER_TASK = 20  # with the skills, within verifier.matching.MAX_REFERENCES
STATES = ("draft", "published", "archived")
_URI_IN_LINE = re.compile(r"https?://\S+")
SKILL_SUGGESTIONS = 3


def achievement_url(public_url: str, achievement: Achievement) -> str:
    """The achievement's id, as credentials carry it (see services.achievement_value)."""
    return f"{public_url}/orgs/{achievement.organisation.slug}/achievements/{achievement.public_id}"


def _achievement_ids(
    session: Session, public_url: str, public_ids: Sequence[str]
) -> tuple[str, ...]:
    """Every version's id of each named achievement: a credential for any of them counts."""
    found = session.scalars(
        select(Achievement)
        .where(Achievement.public_id.in_(list(public_ids)))
        .options(joinedload(Achievement.organisation))
    ).all()
    urls: dict[str, None] = {}
    for achievement in found:
        for version in achievements.versions(session, achievement):
            urls[achievement_url(public_url, version)] = None
    return tuple(urls)


def to_profile(session: Session, row: JobProfileRow, public_url: str) -> JobProfile:
    """The matching value of a stored profile (achievement public ids become their URLs)."""
    tasks = tuple(
        Task(
            name=task["name"],
            skills=tuple(task.get("skills", ())),
            achievements=_achievement_ids(session, public_url, task.get("achievements", ())),
        )
        for task in json.loads(row.tasks)
    )
    return JobProfile(
        name=row.name,
        tasks=tasks,
        id=row.public_id,
        description=row.description,
        occupation=row.occupation_uri,
        source=row.organisation.name,
    )


def published(session: Session, public_url: str) -> list[JobProfile]:
    """Published profiles of every centre (by name), then the shipped catalogue."""
    rows = session.scalars(
        select(JobProfileRow)
        .where(JobProfileRow.published_at.is_not(None), JobProfileRow.archived_at.is_(None))
        .options(joinedload(JobProfileRow.organisation))
        .order_by(JobProfileRow.name, JobProfileRow.id)
    ).all()
    return [to_profile(session, row, public_url) for row in rows] + list(catalogue())


def find_published(session: Session, public_url: str, profile_id: str) -> JobProfile | None:
    """A published profile (or a catalogue one, ``catalogue:<key>``) by id."""
    if profile_id.startswith("catalogue:"):
        return next((p for p in catalogue() if p.id == profile_id), None)
    if len(profile_id) > 36:
        return None
    row = session.scalars(
        select(JobProfileRow).where(
            JobProfileRow.public_id == profile_id,
            JobProfileRow.published_at.is_not(None),
            JobProfileRow.archived_at.is_(None),
        )
    ).first()
    return to_profile(session, row, public_url) if row is not None else None


def offerings(session: Session, public_url: str, task: Task) -> list[Offering]:
    """Current achievements of any centre here that a credential for would cover ``task``."""
    wanted = set(task.skills)
    named = set(task.achievements)
    found = []
    current = session.scalars(
        select(Achievement)
        .where(Achievement.archived_at.is_(None))
        .options(joinedload(Achievement.organisation))
        .order_by(Achievement.name, Achievement.id)
    )
    for achievement in current:
        skills = {a.get("targetUrl") for a in json.loads(achievement.alignments)}
        url = achievement_url(public_url, achievement)
        if url in named or not wanted.isdisjoint(skills):
            found.append(
                Offering(
                    achievement_id=url,
                    name=achievement.name,
                    issuer_name=achievement.organisation.name,
                    url=url,
                )
            )
    return found


# -- staff: writing profiles ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskFields:
    """One task as staff write it.

    ``skills`` are ESCO skill URIs or exact ESCO labels (a line may carry both, as the form
    shows them: "weld metal — http://data.europa.eu/esco/skill/…"); ``achievements`` are
    achievement public ids of any centre on this instance.
    """

    name: str = ""
    skills: Sequence[str] = ()
    achievements: Sequence[str] = ()

    @property
    def blank(self) -> bool:
        """An empty row of the form: skipped, so the form can offer spare rows."""
        return not (
            self.name.strip()
            or any(s.strip() for s in self.skills)
            or any(a.strip() for a in self.achievements)
        )


@dataclass(frozen=True, slots=True)
class ProfileFields:
    """What staff write about a job profile (a new one, or an edit)."""

    name: str
    description: str = ""
    occupation_uri: str | None = None
    tasks: Sequence[TaskFields] = field(default_factory=tuple)


def state(row: JobProfileRow) -> str:
    """``archived``, ``published`` or ``draft``."""
    if row.archived_at is not None:
        return "archived"
    return "published" if row.published_at is not None else "draft"


def _text(value: str | None, what: str, limit: int, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InvalidRequestError(f"give the {what}")
    if len(text) > limit:
        raise InvalidRequestError(f"the {what} is longer than {limit:,} characters")
    return text


def _occupation(value: str | None) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    parts = urlsplit(text)
    if len(text) > MAX_URI or parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRequestError(
            "the occupation must be an http(s) URI of at most 500 characters, e.g. "
            "http://data.europa.eu/esco/occupation/<uuid>, or left empty"
        )
    return text


def resolve_skill(line: str, where: str) -> str:
    """The URI of a bundled ESCO skill, from its URI or its exact label.

    Raises:
        InvalidRequestError: not an ESCO skill URI, not bundled, or no skill has that label
            (the message suggests close labels).
    """
    text = line.strip()
    found = _URI_IN_LINE.search(text)
    if found is not None:
        uri = found.group(0).rstrip(").,;>")
        if not services.ESCO_SKILL_PATTERN.match(uri):
            raise InvalidRequestError(
                f"{where}: {uri[:100]!r} is not an ESCO skill URI "
                "(http://data.europa.eu/esco/skill/<uuid>)"
            )
        known = esco.lookup(uri.replace("https://", "http://", 1))
        if known is None:
            raise InvalidRequestError(
                f"{where}: {uri} is not one of the ESCO skills Tessera knows; search ESCO on "
                "this page and use a skill it finds"
            )
        return known.uri
    query = text[: esco.MAX_QUERY_LENGTH]
    candidates = esco.search(query, 50) if len(query) >= 2 else []
    exact = [s for s in candidates if s.label.casefold() == query.casefold()]
    if exact:
        return exact[0].uri
    close = ", ".join(f"“{s.label}”" for s in candidates[:SKILL_SUGGESTIONS])
    hint = f"; did you mean {close}?" if close else "; search ESCO on this page for its name"
    raise InvalidRequestError(f"{where}: no ESCO skill is called “{text[:100]}”{hint}")


def _current_version(session: Session, public_id: str) -> Achievement | None:
    """The current version of the achievement with this id (any version's), or None."""
    found = session.scalars(
        select(Achievement).where(Achievement.public_id == public_id.strip()[:36])
    ).first()
    if found is None:
        return None
    return achievements.versions(session, found)[0]


def _achievement_ref(session: Session, public_id: str, where: str) -> str:
    current = _current_version(session, public_id)
    if current is None:
        raise InvalidRequestError(f"{where}: there is no achievement {public_id[:40]!r} here")
    if current.archived_at is not None:
        raise InvalidRequestError(
            f"{where}: “{current.name}” of {current.organisation.name} is archived; choose "
            "an achievement that is still offered"
        )
    return current.public_id


def _task(session: Session, number: int, fields: TaskFields) -> dict[str, Any]:
    name = fields.name.strip()
    if not name:
        raise InvalidRequestError(f"task {number}: give the task's name")
    if len(name) > MAX_NAME:
        raise InvalidRequestError(f"task {number}: the name is longer than {MAX_NAME} characters")
    where = f"task {number} (“{name}”)"
    lines = [s for s in fields.skills if s.strip()]
    if len(lines) > MAX_SKILLS_PER_TASK:
        raise InvalidRequestError(f"{where}: name at most {MAX_SKILLS_PER_TASK} skills")
    picked = [a for a in fields.achievements if a.strip()]
    if len(picked) > MAX_ACHIEVEMENTS_PER_TASK:
        raise InvalidRequestError(
            f"{where}: choose at most {MAX_ACHIEVEMENTS_PER_TASK} achievements"
        )
    skills = list(dict.fromkeys(resolve_skill(s, f"{where}, skills") for s in lines))
    named = list(
        dict.fromkeys(_achievement_ref(session, a, f"{where}, achievements") for a in picked)
    )
    if not skills and not named:
        raise InvalidRequestError(f"{where}: name at least one ESCO skill or achievement")
    return {"name": name, "skills": skills, "achievements": named}


def _checked(session: Session, fields: ProfileFields) -> dict[str, Any]:
    """The columns of a profile row, validated (raises InvalidRequestError)."""
    columns = {
        "name": _text(fields.name, "profile's name", MAX_NAME, required=True),
        "description": _text(fields.description, "description", MAX_DESCRIPTION, required=False),
        "occupation_uri": _occupation(fields.occupation_uri),
    }
    numbered = [(n, t) for n, t in enumerate(fields.tasks, start=1) if not t.blank]
    if not numbered:
        raise InvalidRequestError(
            "add at least one task: its name, and an ESCO skill or an achievement that shows it"
        )
    if len(numbered) > MAX_TASKS:
        raise InvalidRequestError(f"a job profile has at most {MAX_TASKS} tasks")
    tasks = [_task(session, number, task) for number, task in numbered]
    return {**columns, "tasks": json.dumps(tasks, ensure_ascii=False)}


def create_profile(
    session: Session,
    *,
    organisation: Organisation,
    fields: ProfileFields,
    now: datetime,
    actor: str,
) -> JobProfileRow:
    """Write a draft profile of ``organisation`` (published later, on purpose).

    Raises:
        InvalidRequestError: a blank or overlong field, a bad occupation URI, no tasks, or a
            task without a name or without a known skill or current achievement.
    """
    columns = _checked(session, fields)
    with transaction(session):
        row = JobProfileRow(
            public_id=str(uuid.uuid4()),
            organisation_id=organisation.id,
            created_at=now,
            updated_at=now,
            **columns,
        )
        session.add(row)
        session.flush()
        _audit(session, row, "job_profile.created", now=now, actor=actor)
    return row


def _audit(session: Session, row: JobProfileRow, action: str, *, now: datetime, actor: str) -> None:
    record_event(
        session,
        action=action,
        subject=row.public_id,
        now=now,
        actor=actor,
        organisation_id=row.organisation_id,
        details={"name": row.name, "tasks": len(json.loads(row.tasks))},
    )


def revise_profile(
    session: Session, row: JobProfileRow, *, fields: ProfileFields, now: datetime, actor: str
) -> JobProfileRow:
    """Change a profile in place: matching uses what it says now (a published one stays so).

    Raises:
        InvalidRequestError: as for :func:`create_profile`.
        ConflictError: the profile is archived.
    """
    columns = _checked(session, fields)
    with transaction(session):
        current = locked(session, JobProfileRow, row.id)
        if current.archived_at is not None:
            raise ConflictError("this job profile is archived; it cannot be changed")
        for name, value in columns.items():
            setattr(current, name, value)
        current.updated_at = now
        _audit(session, current, "job_profile.revised", now=now, actor=actor)
    return current


def publish_profile(
    session: Session, row: JobProfileRow, *, now: datetime, actor: str
) -> JobProfileRow:
    """Offer the profile on the public match page and to workers.

    Raises:
        ConflictError: it is archived or published already.
    """
    with transaction(session):
        current = locked(session, JobProfileRow, row.id)
        if current.archived_at is not None:
            raise ConflictError("this job profile is archived; it cannot be published")
        if current.published_at is not None:
            raise ConflictError("this job profile is published already")
        current.published_at = now
        current.updated_at = now
        _audit(session, current, "job_profile.published", now=now, actor=actor)
    return current


def unpublish_profile(
    session: Session, row: JobProfileRow, *, now: datetime, actor: str
) -> JobProfileRow:
    """Take the profile off the public pages; it is a draft again.

    Raises:
        ConflictError: it is not published (or archived).
    """
    with transaction(session):
        current = locked(session, JobProfileRow, row.id)
        if current.archived_at is not None or current.published_at is None:
            raise ConflictError("this job profile is not published")
        current.published_at = None
        current.updated_at = now
        _audit(session, current, "job_profile.unpublished", now=now, actor=actor)
    return current


def archive_profile(
    session: Session, row: JobProfileRow, *, now: datetime, actor: str
) -> JobProfileRow:
    """Retire a profile: offered nowhere, kept for the record, no longer editable.

    Raises:
        ConflictError: it is archived already.
    """
    with transaction(session):
        current = locked(session, JobProfileRow, row.id)
        if current.archived_at is not None:
            raise ConflictError("this job profile is archived already")
        current.archived_at = now
        current.updated_at = now
        _audit(session, current, "job_profile.archived", now=now, actor=actor)
    return current


def list_profiles(session: Session, organisation: Organisation) -> Sequence[JobProfileRow]:
    """The centre's profiles: drafts and published ones by name, then the archived ones."""
    return session.scalars(
        select(JobProfileRow)
        .where(JobProfileRow.organisation_id == organisation.id)
        .order_by(
            JobProfileRow.archived_at.is_not(None),
            func.lower(JobProfileRow.name),
            JobProfileRow.id,
        )
    ).all()


def get_profile(session: Session, organisation: Organisation, public_id: str) -> JobProfileRow:
    """One of the centre's profiles, in any state (another centre's is simply not found)."""
    row = session.scalars(
        select(JobProfileRow).where(
            JobProfileRow.public_id == public_id[:36],
            JobProfileRow.organisation_id == organisation.id,
        )
    ).first()
    if row is None:
        raise NotFoundError("this training centre has no such job profile")
    return row


# -- staff: reading profiles ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SkillRef:
    uri: str
    label: str


@dataclass(frozen=True, slots=True)
class AchievementRef:
    """An achievement a task names, as staff read it."""

    public_id: str
    name: str
    centre: str
    url: str | None  # its public page; None when the id is no longer known
    current: bool


@dataclass(frozen=True, slots=True)
class TaskView:
    name: str
    skills: tuple[SkillRef, ...]
    achievements: tuple[AchievementRef, ...]


def skill_label(uri: str) -> str:
    known = esco.lookup(uri)
    return known.label if known is not None else uri


def task_views(session: Session, row: JobProfileRow, public_url: str) -> list[TaskView]:
    """The profile's tasks with skill labels and achievement names and centres."""
    views = []
    for task in json.loads(row.tasks):
        refs = []
        for public_id in task.get("achievements", ()):
            found = session.scalars(
                select(Achievement)
                .where(Achievement.public_id == public_id)
                .options(joinedload(Achievement.organisation))
            ).first()
            if found is None:
                refs.append(AchievementRef(public_id, public_id, "", None, False))
                continue
            refs.append(
                AchievementRef(
                    public_id=found.public_id,
                    name=found.name,
                    centre=found.organisation.name,
                    url=achievement_url(public_url, found),
                    current=found.archived_at is None,
                )
            )
        views.append(
            TaskView(
                name=task["name"],
                skills=tuple(SkillRef(u, skill_label(u)) for u in task.get("skills", ())),
                achievements=tuple(refs),
            )
        )
    return views


def fields_of(session: Session, row: JobProfileRow) -> ProfileFields:
    """The profile as the form shows it: skills as "label — URI", achievements at their
    current version (an achievement edited since is offered as its newest version)."""
    tasks = []
    for task in json.loads(row.tasks):
        current = [_current_version(session, a) for a in task.get("achievements", ())]
        tasks.append(
            TaskFields(
                name=task["name"],
                skills=tuple(f"{skill_label(u)} — {u}" for u in task.get("skills", ())),
                achievements=tuple(a.public_id for a in current if a is not None),
            )
        )
    return ProfileFields(
        name=row.name,
        description=row.description,
        occupation_uri=row.occupation_uri,
        tasks=tuple(tasks),
    )


def achievement_choices(session: Session) -> list[tuple[Organisation, list[Achievement]]]:
    """Every centre's current achievements, grouped by centre (for a task's achievements)."""
    groups: dict[int, tuple[Organisation, list[Achievement]]] = {}
    for found in session.scalars(
        select(Achievement)
        .join(Organisation, Achievement.organisation_id == Organisation.id)
        .where(Achievement.archived_at.is_(None))
        .options(joinedload(Achievement.organisation))
        .order_by(func.lower(Organisation.name), func.lower(Achievement.name), Achievement.id)
    ):
        groups.setdefault(found.organisation_id, (found.organisation, []))[1].append(found)
    return list(groups.values())


# -- the public page of an achievement --------------------------------------------------------


def public_achievement(session: Session, slug: str, public_id: str) -> Achievement:
    """An achievement (any version) by the centre's slug and its id, as credentials carry it.

    Raises:
        NotFoundError: no such centre or achievement.
    """
    found = session.scalars(
        select(Achievement)
        .join(Organisation, Achievement.organisation_id == Organisation.id)
        .where(Achievement.public_id == public_id[:36], Organisation.slug == slug[:63])
        .options(joinedload(Achievement.organisation))
    ).first()
    if found is None:
        raise NotFoundError("there is no such achievement on this service")
    return found


__all__ = [
    "CATALOGUE_SOURCE",
    "STATES",
    "AchievementRef",
    "ProfileFields",
    "TaskFields",
    "TaskView",
    "achievement_choices",
    "archive_profile",
    "create_profile",
    "fields_of",
    "find_published",
    "get_profile",
    "list_profiles",
    "offerings",
    "public_achievement",
    "publish_profile",
    "published",
    "resolve_skill",
    "revise_profile",
    "state",
    "task_views",
    "to_profile",
    "unpublish_profile",
]
