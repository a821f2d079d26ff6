"""Fixtures for running the OpenAPI document against the real app: a centre with real data,
its API token, and the VC-API endpoint switched on for it."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import issuer.models  # noqa: F401 - registers the issuer's tables on the shared metadata
import keys.models  # noqa: F401 - registers the key tables on the shared metadata
from credentials.db import Base
from issuer import accounts, bulk, catalogue
from issuer.app import create_app
from issuer.clock import utcnow

from ..conftest import PUBLIC_URL, app_config
from ..helpers import WELDING_SKILL

OPENAPI_FILE = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch")


def openapi_document() -> dict[str, Any]:
    """The committed document (tests/issuer/test_vcapi.py checks it is the generated one)."""
    return json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation of the document as (METHOD, path, operation object)."""
    return [
        (method.upper(), path, item[method])
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


class RunningApp:
    """The WSGI app of the test that is running.

    Schemathesis builds its tests from the schema when the module is imported, long before
    any app exists, while every test here gets its own app on its own rolled-back
    transaction; requests (and Schemathesis's own auth probes) go through this stand-in.
    """

    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.app is None:
            raise RuntimeError("no app: use the api_app fixture in this test")
        return self.app(environ, start_response)


running_app = RunningApp()


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """Rate limits off: a run sends hundreds of requests a minute from one address, which is
    exactly what they exist to refuse. tests/test_rate_limits.py tests the limits, and
    test_rate_limits_documented.py that every limited operation documents its 429."""
    return {"RATELIMIT_ENABLED": False}


@pytest.fixture
def app(
    tmp_path: Path, database_url: str, engine: Engine, app_settings: dict[str, Any]
) -> Iterator[Flask]:
    """As tests/conftest.py's ``app``, with ``app_settings`` on top."""
    app = create_app(app_config(tmp_path / "instance", database_url) | app_settings)
    connection = engine.connect()
    outer = connection.begin()
    app.extensions["tessera.sessionmaker"] = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield app
    outer.rollback()
    connection.close()
    app.extensions["tessera.engine"].dispose()


@pytest.fixture
def api_app(app: Flask, centre: Any) -> Iterator[Flask]:
    """The combined app with the VC-API issue endpoint switched on for ``centre``."""
    app.config["VCAPI_ISSUER"] = centre.slug
    app.config["VCAPI_TOKEN"] = secrets.token_urlsafe(32)
    running_app.app = app
    yield app
    running_app.app = None


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a client of each security scheme in the document sends."""

    api_token: str
    vcapi_token: str

    def headers_for(self, security: list[dict[str, list[str]]] | None) -> dict[str, str]:
        schemes = {name for requirement in security or [] for name in requirement}
        if "vcApiToken" in schemes:
            return {"Authorization": f"Bearer {self.vcapi_token}"}
        if "apiToken" in schemes:
            return {"Authorization": f"Bearer {self.api_token}"}
        return {}


def make_api_token(db: Session, organisation: Any, *scopes: str, now: Any) -> tuple[Any, str]:
    """A real API token of ``organisation``: (its record, the secret a client sends)."""
    return accounts.create_api_token(
        db,
        organisation=organisation,
        name="schemathesis",
        scopes=list(scopes),
        now=now,
        created_by=None,
        actor="test",
    )


@pytest.fixture
def credentials(api_app: Flask, db: Session, centre: Any, now: Any) -> Credentials:
    _, secret = make_api_token(db, centre, *accounts.SCOPES, now=now)
    return Credentials(api_token=secret, vcapi_token=api_app.config["VCAPI_TOKEN"])


@dataclass(frozen=True, slots=True)
class Existing:
    """Ids of real records, so requests reach more than the 404 branch."""

    slug: str
    achievement: str
    credential: str
    bulk_job: str  # in preview: it can be confirmed or cancelled
    finished_job: str  # cancelled: claim links can be made for it


@pytest.fixture
def existing(db: Session, kek: Any, centre: Any, welding: Any) -> Existing:
    issued = catalogue.issue(
        db,
        kek,
        organisation=centre,
        achievement=welding,
        name="Yusuf Demir",
        email="yusuf@example.org",
        public_url=PUBLIC_URL,
        now=utcnow(),
        actor="test",
    ).issued.record

    def job() -> Any:
        return bulk.create_job(
            db,
            organisation=centre,
            achievement=welding,
            rows=[bulk.RowInput(row_number=2, name="Amina Haddad", email="amina@example.org")],
            filename="api",
            created_by="test",
            now=utcnow(),
        )

    finished = bulk.cancel_job(db, job(), now=utcnow(), actor="test")
    return Existing(
        slug=centre.slug,
        achievement=welding.public_id,
        credential=issued.public_id,
        bulk_job=job().public_id,
        finished_job=finished.public_id,
    )


def database_state(db: Session) -> dict[str, list[str]]:
    """Every row of every table, to show that a refused request changed nothing."""
    db.expire_all()
    return {
        table.name: sorted(repr(tuple(row)) for row in db.execute(select(table)))
        for table in Base.metadata.sorted_tables
    }


# -- one request per operation ----------------------------------------------------------------

SKILL = "http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da"
SVG = base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>')


@dataclass(frozen=True, slots=True)
class Call:
    """A request an operation carries out (2xx) when sent with the right credentials."""

    path: str
    json: Any = None


def _vcapi_issue(existing: Existing) -> Any:
    return {
        "credential": {
            "@context": [
                "https://www.w3.org/ns/credentials/v2",
                "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
            ],
            "type": ["VerifiableCredential", "OpenBadgeCredential"],
            "credentialSubject": {
                "type": ["AchievementSubject"],
                "name": "Amina Haddad",
                "achievement": {"id": existing.achievement},
            },
        },
        "options": {"recipientEmail": "amina@example.org"},
    }


#: "METHOD path" of every operation in the document -> the request to send.
CALLS: dict[str, Callable[[Existing], Call]] = {
    "POST /api/v1/verify": lambda e: Call("/api/v1/verify", {"credential": e.credential}),
    "POST /credentials/verify": lambda e: Call(
        "/credentials/verify", {"verifiableCredential": {"type": ["VerifiableCredential"]}}
    ),
    "POST /presentations/verify": lambda e: Call(
        "/presentations/verify", {"verifiablePresentation": {"type": ["VerifiablePresentation"]}}
    ),
    "POST /api/v1/match": lambda e: Call(
        "/api/v1/match",
        {
            "profile": {"name": "Welder", "tasks": [{"name": "Weld", "skills": [WELDING_SKILL]}]},
            "credentials": [e.credential],
        },
    ),
    "GET /api/v1/job-profiles": lambda e: Call("/api/v1/job-profiles"),
    "GET /api/v1/openapi.json": lambda e: Call("/api/v1/openapi.json"),
    "POST /credentials/issue": lambda e: Call("/credentials/issue", _vcapi_issue(e)),
    "GET /orgs/{slug}/did.json": lambda e: Call(f"/orgs/{e.slug}/did.json"),
    "GET /orgs/{slug}/jwks.json": lambda e: Call(f"/orgs/{e.slug}/jwks.json"),
    "GET /orgs/{slug}/status/{sequence}": lambda e: Call(f"/orgs/{e.slug}/status/1"),
    "GET /.well-known/did.json": lambda e: Call("/.well-known/did.json"),
    "GET /healthz": lambda e: Call("/healthz"),
    "GET /api/v1/achievements": lambda e: Call("/api/v1/achievements"),
    "POST /api/v1/achievements": lambda e: Call(
        "/api/v1/achievements",
        {
            "name": "Operate a forklift safely",
            "description": "Moves pallets without harm.",
            "criteria": "Passed a practical test.",
            "skills": [{"uri": SKILL, "targetName": "operate a forklift"}],
            "image": {"mediaType": "image/svg+xml", "data": SVG.decode()},
        },
    ),
    "GET /api/v1/achievements/{public_id}": lambda e: Call(f"/api/v1/achievements/{e.achievement}"),
    "GET /api/v1/credentials": lambda e: Call("/api/v1/credentials"),
    "POST /api/v1/credentials": lambda e: Call(
        "/api/v1/credentials",
        {"achievement": e.achievement, "name": "Amina Haddad", "email": "amina@example.org"},
    ),
    "GET /api/v1/credentials/{public_id}": lambda e: Call(f"/api/v1/credentials/{e.credential}"),
    "POST /api/v1/credentials/{public_id}/revoke": lambda e: Call(
        f"/api/v1/credentials/{e.credential}/revoke", {"reason": "issued by mistake"}
    ),
    "POST /api/v1/bulk-jobs": lambda e: Call(
        "/api/v1/bulk-jobs",
        {
            "achievement": e.achievement,
            "rows": [{"name": "Amina Haddad", "email": "amina@example.org"}],
            "confirm": True,
        },
    ),
    "GET /api/v1/bulk-jobs/{public_id}": lambda e: Call(f"/api/v1/bulk-jobs/{e.bulk_job}"),
    "POST /api/v1/bulk-jobs/{public_id}/confirm": lambda e: Call(
        f"/api/v1/bulk-jobs/{e.bulk_job}/confirm"
    ),
    "POST /api/v1/bulk-jobs/{public_id}/cancel": lambda e: Call(
        f"/api/v1/bulk-jobs/{e.bulk_job}/cancel"
    ),
    "POST /api/v1/bulk-jobs/{public_id}/claim-links": lambda e: Call(
        f"/api/v1/bulk-jobs/{e.finished_job}/claim-links"
    ),
}
