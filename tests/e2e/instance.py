"""An instance seeded in-process: what `tessera init`, `org create` and `achievement create`
would leave, and an API token for the centre.

Each `tessera` process spends seconds importing; where the server, not the CLI, is what a test
is about, it seeds its instance through the services instead, with ``seeded``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.fernet import MultiFernet
from flask import Flask
from sqlalchemy.orm import Session

from issuer import accounts, migrate, services
from issuer.app import create_app
from issuer.clock import utcnow
from issuer.models import Achievement, IssuedCredential, Organisation

from ..helpers import WELDING_SKILL

PALLETS = {
    "name": "Stack pallets safely",
    "description": "Stacks pallets.",
    "criteria": "Observed at work.",
}
WELDING = {
    "name": "Perform MAG welding",
    "description": "Welds steel.",
    "criteria": "Passed bend tests.",
    "achievement_type": "ext:JobTask",
    "skills": [f"{WELDING_SKILL}=perform metal active gas welding"],
}


@dataclass(frozen=True)
class Seeding:
    """What ``seeded`` made, and its open session for whatever else a test needs there."""

    db: Session
    kek: MultiFernet
    public_url: str
    now: datetime
    centre: Organisation
    achievement: Achievement
    token: str

    def issue(self, name: str, email: str) -> IssuedCredential:
        """A credential of ``achievement``, issued by the centre as `tessera issue` would."""
        return services.issue_credential(
            self.db,
            self.kek,
            organisation=self.centre,
            achievement=self.achievement,
            name=name,
            email=email,
            public_url=self.public_url,
            now=self.now,
        ).record


@contextmanager
def operator_app(env: Mapping[str, str], **config: Any) -> Iterator[Flask]:
    """The app of an operator's environment (``operator_env``), its engine disposed at the end.

    The secrets are generated into the instance folder unless ``config`` gives them, so the
    processes started later with the same environment find the same ones.
    """
    app = create_app(
        {
            "INSTANCE": env["TESSERA_INSTANCE"],
            "DATABASE_URL": env["TESSERA_DATABASE_URL"],
            "PUBLIC_URL": env["TESSERA_PUBLIC_URL"],
        }
        | config
    )
    try:
        yield app
    finally:
        app.extensions["tessera.engine"].dispose()


@contextmanager
def seeded(
    app: Flask,
    *,
    token_name: str,
    scopes: Sequence[str] = accounts.SCOPES,
    achievement: Mapping[str, Any] = PALLETS,
) -> Iterator[Seeding]:
    """Migrate the app's database; make the instance keys, the centre "northside", an achievement
    and an API token; the session stays open inside the block for the caller's own seeding.

    Migrating and the instance keys are no-ops where `tessera init` has already run.
    """
    kek, public_url, now = app.config["KEK_FERNET"], app.config["PUBLIC_URL"], utcnow()
    migrate.upgrade(app.extensions["tessera.engine"])
    with app.extensions["tessera.sessionmaker"]() as db:
        services.ensure_instance_keys(db, kek, public_url=public_url, now=now)
        centre = services.create_organisation(
            db,
            kek,
            slug="northside",
            name="Northside Skills Centre",
            public_url=public_url,
            now=now,
        )
        made = services.create_achievement(db, organisation=centre, now=now, **achievement)
        _, token = accounts.create_api_token(
            db,
            organisation=centre,
            name=token_name,
            scopes=list(scopes),
            now=now,
            created_by=None,
            actor="test",
        )
        yield Seeding(db, kek, public_url, now, centre, made, token)
