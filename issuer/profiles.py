"""Job profiles: roles described task by task, and the achievements that would fill a gap.

Centre staff write profiles; published ones are offered on the public match page beside the
occupations shipped with Tessera (``verifier/data/job_profiles.json``). A task names ESCO skills
and/or achievements of this instance; an achievement counts in any of its versions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from verifier.matching import CATALOGUE_SOURCE, JobProfile, Offering, Task, catalogue

from . import catalogue as achievements
from .models import Achievement
from .models import JobProfile as JobProfileRow


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


__all__ = ["CATALOGUE_SOURCE", "find_published", "offerings", "published", "to_profile"]
