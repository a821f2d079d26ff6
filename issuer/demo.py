"""The demo training centre the README's first command starts with (idempotent)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import accounts, services
from .models import Achievement, IssuedCredential, Organisation, User

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


def demo_credentials(session: Session) -> list[IssuedCredential]:
    return list(
        session.scalars(
            select(IssuedCredential)
            .join(Organisation)
            .where(Organisation.slug == DEMO_SLUG)
            .order_by(IssuedCredential.id)
        )
    )
