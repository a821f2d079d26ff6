"""The demo training centre the README's first command starts with (idempotent)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import accounts, pathways, profiles, services
from .models import Achievement, IssuedCredential, JobProfile, Organisation, Pathway, User

DEMO_SLUG = "demo-centre"
ESCO = "http://data.europa.eu/esco/skill/"

DEMO_ACHIEVEMENTS = (
    {
        "name": "Operate a forklift safely in a warehouse",
        "description": "Moves, stacks and unloads palletised goods with a counterbalance forklift "
        "while keeping pedestrians and loads safe.",
        "criteria": "Passed a practical assessment: pre-use inspection, a loading course with "
        "three pallet heights, and safe parking, observed by a certified instructor.",
        "achievement_type": "ext:JobTask",
        "skills": (
            f"{ESCO}28cb374e-6261-4133-8371-f9a5470145da=operate forklift",
            f"{ESCO}51754b8a-3e2c-4cc1-86e6-cf510d9c6fe4=use personal protection equipment",
        ),
    },
    {
        "name": "Perform MAG welding on structural steel",
        "description": "Prepares joints and lays fillet and butt welds on structural steel with "
        "metal active gas welding, to the site's safety rules.",
        "criteria": "Produced test pieces that passed visual and bend testing; followed the "
        "site's hot-work permit and protective-equipment procedures.",
        "achievement_type": "ext:JobTask",
        "skills": (
            f"{ESCO}60ff3eac-7d4d-4e51-87b8-74c3b5d62498=perform metal active gas welding",
            f"{ESCO}86df7af2-f9f3-4c06-a500-7f1fba9e78fe="
            "follow health and safety procedures in construction",
        ),
    },
    {
        "name": "Provide first aid at work",
        "description": "Gives emergency first aid, including CPR, until professional help arrives.",
        "criteria": "Completed a 16-hour course and a scenario assessment including CPR on "
        "a manikin.",
        "achievement_type": "Competency",
        "skills": (f"{ESCO}1d21f6ad-340f-45da-a0a3-4e83867f47a6=provide first aid",),
    },
)

DEMO_LEARNERS = (
    ("Amina Haddad", "amina.haddad@example.org", 0),
    ("Oleksandr Kovalenko", "oleksandr.k@example.org", 1),
    ("María José Ortega", "mj.ortega@example.org", 2),
)


DEMO_ADMIN = "admin@demo-centre.example"

#: A second centre, so the demo pathway spans two centres as real ones do.
PARTNER_SLUG = "demo-partner"
PARTNER_ACHIEVEMENT = {
    "name": "Work safely at height",
    "description": "Plans and carries out work on ladders, scaffolds and platforms with fall "
    "protection, and takes part in a rescue from height.",
    "criteria": "Passed a practical assessment on a scaffold tower with harness inspection "
    "and a written test on the site's working-at-height rules.",
    "achievement_type": "ext:JobTask",
    "skills": (
        f"{ESCO}fafbb75f-ec35-4cc2-996a-20c85ef6c266="
        "follow safety procedures when working at heights",
    ),
}
#: Awarded automatically for first aid (here) plus working at height (at the partner).
PATHWAY_ACHIEVEMENT = {
    "name": "Site Safety Technician",
    "description": "Holds the first-aid and working-at-height competencies a site safety "
    "technician needs, from the centres that assessed them.",
    "criteria": "Holds a valid credential for each part of the pathway: first aid at work "
    "(Northside Skills Centre) and working at height (Eastgate Community College).",
    "achievement_type": "Certificate",
    "skills": (),
}
#: María José already holds first aid; the partner's credential completes her pathway.
PARTNER_LEARNER = ("María José Ortega", "mj.ortega@example.org")
DEMO_PROFILE = profiles.ProfileFields(
    name="Warehouse operative",
    description="Receives, moves and stores goods safely in a distribution warehouse.",
    tasks=(
        profiles.TaskFields(
            name="Move pallets with a counterbalance forklift",
            skills=(f"{ESCO}28cb374e-6261-4133-8371-f9a5470145da",),
        ),
        profiles.TaskFields(
            name="Give first aid to an injured colleague",
            skills=(f"{ESCO}1d21f6ad-340f-45da-a0a3-4e83867f47a6",),
        ),
        profiles.TaskFields(
            name="Record goods in the warehouse system",
            skills=(f"{ESCO}055ff233-6569-43db-9f95-a4b03dca97da",),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class Demo:
    organisation: Organisation
    achievements: list[Achievement]
    credentials: list[services.Issued]
    admin_password: str | None  # set only when the demo admin was created just now


def ensure_demo(session: Session, kek: MultiFernet, *, public_url: str, now: datetime) -> Demo:
    """Create the demo centre, its achievements and a credential per learner, once."""
    organisation = session.scalars(
        select(Organisation).where(Organisation.slug == DEMO_SLUG)
    ).first()
    if organisation is None:
        organisation = services.create_organisation(
            session,
            kek,
            slug=DEMO_SLUG,
            name="Northside Skills Centre (demo)",
            public_url=public_url,
            now=now,
            url=public_url,
        )
    achievements = list(
        session.scalars(
            select(Achievement)
            .where(Achievement.organisation_id == organisation.id)
            .order_by(Achievement.id)
        )
    )
    for spec in DEMO_ACHIEVEMENTS[len(achievements) :]:
        achievements.append(
            services.create_achievement(session, organisation=organisation, now=now, **spec)  # type: ignore[arg-type]
        )
    issued = []
    for name, email, index in DEMO_LEARNERS:
        issued.append(
            services.issue_credential(
                session,
                kek,
                organisation=organisation,
                achievement=achievements[index],
                name=name,
                email=email,
                public_url=public_url,
                now=now,
                idempotency_key=f"demo:{email}",
            )
        )
    issued += _ensure_pathway(session, kek, organisation, achievements, public_url, now)
    _ensure_profile(session, organisation, now)
    admin_password = None
    if session.scalar(select(User.id).where(User.email == DEMO_ADMIN)) is None:
        admin_password = secrets.token_urlsafe(12)
        accounts.create_user(
            session,
            email=DEMO_ADMIN,
            name="Demo Admin",
            password=admin_password,
            now=now,
            organisation=organisation,
            role="admin",
        )
    return Demo(organisation, achievements, issued, admin_password)


def _achievement_named(
    session: Session, organisation: Organisation, name: str
) -> Achievement | None:
    return session.scalars(
        select(Achievement).where(
            Achievement.organisation_id == organisation.id, Achievement.name == name
        )
    ).first()


def _ensure_pathway(
    session: Session,
    kek: MultiFernet,
    organisation: Organisation,
    achievements: list[Achievement],
    public_url: str,
    now: datetime,
) -> list[services.Issued]:
    """A partner centre, and a pathway across both that one demo learner completes."""
    partner = session.scalars(select(Organisation).where(Organisation.slug == PARTNER_SLUG)).first()
    if partner is None:
        partner = services.create_organisation(
            session,
            kek,
            slug=PARTNER_SLUG,
            name="Eastgate Community College (demo)",
            public_url=public_url,
            now=now,
            url=public_url,
            # EdDSA signatures are small enough for the wallet's portable QR code.
            jwt_algorithm="EdDSA",
        )
    height = _achievement_named(session, partner, PARTNER_ACHIEVEMENT["name"])  # type: ignore[arg-type]
    if height is None:
        height = services.create_achievement(
            session, organisation=partner, now=now, **PARTNER_ACHIEVEMENT
        )  # type: ignore[arg-type]
    award = _achievement_named(session, organisation, PATHWAY_ACHIEVEMENT["name"])  # type: ignore[arg-type]
    if award is None:
        award = services.create_achievement(
            session, organisation=organisation, now=now, **PATHWAY_ACHIEVEMENT
        )  # type: ignore[arg-type]
    if session.scalar(select(Pathway.id).where(Pathway.achievement_id == award.id)) is None:
        pathways.create_pathway(
            session,
            organisation,
            award=award.public_id,
            parts=[achievements[2].public_id, height.public_id],
            mode="automatic",
            now=now,
            actor="demo",
        )
    name, email = PARTNER_LEARNER
    part = services.issue_credential(
        session,
        kek,
        organisation=partner,
        achievement=height,
        name=name,
        email=email,
        public_url=public_url,
        now=now,
        idempotency_key=f"demo:{email}",
    )
    pathways.after_issue(session, kek, part.record, public_url=public_url, now=now)
    earned = session.scalars(
        select(IssuedCredential).where(
            IssuedCredential.achievement_id == award.id,
            IssuedCredential.recipient_email == email,
        )
    ).first()
    found = [part]
    if earned is not None:
        found.append(
            services.Issued(earned, services.verify_url(public_url, earned), created=False)
        )
    return found


def _ensure_profile(session: Session, organisation: Organisation, now: datetime) -> None:
    """A published job profile, so the match page has a centre's role to pick."""
    exists = session.scalar(
        select(JobProfile.id).where(
            JobProfile.organisation_id == organisation.id, JobProfile.name == DEMO_PROFILE.name
        )
    )
    if exists is None:
        row = profiles.create_profile(
            session, organisation=organisation, fields=DEMO_PROFILE, now=now, actor="demo"
        )
        profiles.publish_profile(session, row, now=now, actor="demo")


def demo_credentials(session: Session) -> list[IssuedCredential]:
    return list(
        session.scalars(
            select(IssuedCredential)
            .join(Organisation)
            .where(Organisation.slug == DEMO_SLUG)
            .order_by(IssuedCredential.id)
        )
    )
