"""Rate limits: sign-in (per address and per account), verification (per address), issuing
(per API token), the client address behind proxies, and counts shared through Redis.

Each test builds its apps with low limits, through the same TESSERA_* settings a deployment
uses. Redis tests use database 10 and a key prefix of their own, and delete only their keys.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from issuer import accounts, claims, services
from issuer.app import create_app
from issuer.errors import ConfigurationError
from verifier.app import ConfigurationError as VerifierConfigurationError
from verifier.app import create_verifier_app

from .conftest import PUBLIC_URL, app_config
from .helpers import NOW

# Every test here fills a limit counted per clock minute, then expects a refusal.
pytestmark = pytest.mark.usefixtures("clear_of_a_minute_boundary")

REDIS_URL = "redis://127.0.0.1:6379/10"
PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
NOT_A_CREDENTIAL = {"credential": {"hello": "world"}}


@pytest.fixture
def make_app(tmp_path: Path, database_url: str, engine: Engine) -> Iterator[Callable[..., Flask]]:
    """Combined apps with extra settings, on the test database, rolled back afterwards."""
    opened: list[tuple[Flask, Any, Any]] = []

    def make(**settings: Any) -> Flask:
        instance = tmp_path / f"instance{len(opened)}"
        app = create_app(app_config(instance, database_url) | settings)
        connection = engine.connect()
        outer = connection.begin()
        app.extensions["tessera.sessionmaker"] = sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        opened.append((app, connection, outer))
        return app

    yield make
    for app, connection, outer in opened:
        outer.rollback()
        connection.close()
        app.extensions["tessera.engine"].dispose()


def verifier_app(**settings: Any) -> Flask:
    return create_verifier_app(
        {
            "TESTING": True,
            "SECRET_KEY": "s" * 40,
            "PUBLIC_URL": "https://verify.test",
            "REMOTE_RESOLUTION": False,
            "WTF_CSRF_ENABLED": False,
        }
        | settings
    )


def session_of(app: Flask) -> Session:
    return app.extensions["tessera.sessionmaker"]()  # type: ignore[no-any-return]


def verify(client: FlaskClient, **kwargs: Any) -> Any:
    return client.post("/api/v1/verify", json=NOT_A_CREDENTIAL, **kwargs)


def assert_limited_as_problem(response: Any) -> int:
    """429 problem details with a Retry-After an API client can wait for; returns the wait."""
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "too-many-requests"
    assert "try again in" in body["detail"]
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 3600
    return wait


# -- verification, per client address -------------------------------------------------------


def test_verification_is_limited_per_address_across_api_page_and_match() -> None:
    app = verifier_app(VERIFY_RATE_LIMIT="4/minute")
    client = app.test_client()
    assert verify(client).status_code == HTTPStatus.OK
    assert client.post("/verify", data={"credential": "{}"}).status_code != 429
    assert client.post("/match", data={"profile": "x"}).status_code != 429
    assert client.post("/credentials/verify", json={"verifiableCredential": {}}).status_code != 429

    wait = assert_limited_as_problem(verify(client))
    assert wait <= 60
    assert "checks from your network" in verify(client).get_json()["detail"]

    page = client.post("/verify", data={"credential": "{}"}, headers={"Accept": "text/html"})
    assert page.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert page.mimetype == "text/html"
    assert int(page.headers["Retry-After"]) >= 1
    text = page.get_data(as_text=True)
    assert "Too many checks in a short time" in text
    assert "Try again in 1 minute." in text
    assert 'href="/verify"' in text


def test_reading_pages_and_documents_is_never_limited() -> None:
    app = verifier_app(VERIFY_RATE_LIMIT="1/minute")
    client = app.test_client()
    verify(client)
    assert verify(client).status_code == HTTPStatus.TOO_MANY_REQUESTS
    for path in ("/verify", "/match", "/healthz", "/static/verifier/tessera.css", "/language"):
        for _ in range(3):
            with client.get(path) as response:
                assert response.status_code < 400, path


def test_another_address_has_its_own_count() -> None:
    client = verifier_app(VERIFY_RATE_LIMIT="1/minute").test_client()
    verify(client, environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert verify(client, environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 429
    assert verify(client, environ_base={"REMOTE_ADDR": "192.0.2.2"}).status_code == HTTPStatus.OK


def test_an_ipv6_client_is_counted_by_its_64() -> None:
    client = verifier_app(VERIFY_RATE_LIMIT="1/minute").test_client()
    verify(client, environ_base={"REMOTE_ADDR": "2001:db8:1:2::1"})
    # Another address of the same /64 (one subscriber): the same count.
    assert verify(client, environ_base={"REMOTE_ADDR": "2001:db8:1:2::beef"}).status_code == 429
    assert verify(client, environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"}).status_code == 200


# -- the client address behind a proxy ------------------------------------------------------


def test_without_a_proxy_a_forged_forwarded_for_changes_nothing() -> None:
    client = verifier_app(VERIFY_RATE_LIMIT="2/minute", PROXY_HOPS=0).test_client()
    for n in range(2):
        response = verify(client, headers={"X-Forwarded-For": f"198.51.100.{n}"})
        assert response.status_code == HTTPStatus.OK
    forged = verify(client, headers={"X-Forwarded-For": "198.51.100.99"})
    assert forged.status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_behind_one_proxy_the_forwarded_address_is_the_client() -> None:
    client = verifier_app(VERIFY_RATE_LIMIT="2/minute", PROXY_HOPS=1).test_client()
    # The proxy (127.0.0.1) appends the address it saw: each of these is another client.
    for n in range(5):
        response = verify(client, headers={"X-Forwarded-For": f"198.51.100.{n}"})
        assert response.status_code == HTTPStatus.OK
    same = {"X-Forwarded-For": "198.51.100.0"}
    assert verify(client, headers=same).status_code == HTTPStatus.OK
    assert verify(client, headers=same).status_code == HTTPStatus.TOO_MANY_REQUESTS
    # What a client puts in front of the proxy's entry is not trusted.
    spoofed = {"X-Forwarded-For": "203.0.113.7, 198.51.100.0"}
    assert verify(client, headers=spoofed).status_code == HTTPStatus.TOO_MANY_REQUESTS


# -- staff sign-in ---------------------------------------------------------------------------


@pytest.fixture
def login_app(make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    """A combined app with a centre and two members of staff (a@… and b@…)."""

    def make(**settings: Any) -> Flask:
        app = make_app(**settings)
        db = session_of(app)
        centre = services.create_organisation(
            db,
            app.config["KEK_FERNET"],
            slug="northside",
            name="Northside Skills Centre",
            public_url=PUBLIC_URL,
            now=NOW,
        )
        for name in ("a", "b"):
            accounts.create_user(
                db,
                email=f"{name}@northside.example",
                name=name.upper(),
                password=PASSWORD,
                now=NOW,
                organisation=centre,
                role="issuer",
            )
        db.close()
        return app

    return make


def sign_in(client: FlaskClient, email: str, password: str) -> Any:
    token = _TOKEN.search(client.get("/login").get_data(as_text=True))
    assert token is not None
    return client.post(
        "/login", data={"csrf_token": token.group(1), "email": email, "password": password}
    )


def test_failed_sign_ins_are_limited_per_account(login_app: Callable[..., Flask]) -> None:
    app = login_app(LOGIN_ACCOUNT_RATE_LIMIT="2/minute", LOGIN_RATE_LIMIT="100/minute")
    client = app.test_client()
    for _ in range(2):
        assert sign_in(client, "a@northside.example", "wrong").status_code == 401
    # Even the right password waits now: the attacker cannot tell it was right.
    refused = sign_in(client, "A@Northside.example ", PASSWORD)
    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert refused.mimetype == "text/html"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    text = refused.get_data(as_text=True)
    assert "Too many failed sign-in attempts" in text
    assert "Try again in 1 minute." in text
    assert 'href="/login"' in text
    # Another account, from the same address, signs in.
    assert sign_in(client, "b@northside.example", PASSWORD).status_code == HTTPStatus.FOUND


def test_failed_sign_ins_are_limited_per_address(login_app: Callable[..., Flask]) -> None:
    app = login_app(LOGIN_RATE_LIMIT="2/minute", LOGIN_ACCOUNT_RATE_LIMIT="100/minute")
    client = app.test_client()
    assert sign_in(client, "a@northside.example", "wrong").status_code == 401
    assert sign_in(client, "b@northside.example", "wrong").status_code == 401
    assert sign_in(client, "b@northside.example", PASSWORD).status_code == 429
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    assert sign_in(elsewhere, "b@northside.example", PASSWORD).status_code == HTTPStatus.FOUND


def test_successful_sign_ins_and_the_form_itself_are_not_counted(
    login_app: Callable[..., Flask],
) -> None:
    app = login_app(LOGIN_RATE_LIMIT="2/minute", LOGIN_ACCOUNT_RATE_LIMIT="2/minute")
    client = app.test_client()
    for _ in range(4):
        assert sign_in(client, "a@northside.example", PASSWORD).status_code == HTTPStatus.FOUND
        client.post("/logout", data={"csrf_token": _csrf(client)})
    for _ in range(4):
        assert client.get("/login").status_code == HTTPStatus.OK


def _csrf(client: FlaskClient) -> str:
    token = _TOKEN.search(client.get("/login").get_data(as_text=True))
    assert token is not None
    return token.group(1)


# -- issuing, per API token ------------------------------------------------------------------


def test_issuing_is_limited_per_api_token(make_app: Callable[..., Flask]) -> None:
    app = make_app(ISSUE_RATE_LIMIT="2/minute")
    db = session_of(app)
    centre = services.create_organisation(
        db, app.config["KEK_FERNET"], slug="northside", name="N", public_url=PUBLIC_URL, now=NOW
    )
    headers = []
    for name in ("first", "second"):
        _, secret = accounts.create_api_token(
            db,
            organisation=centre,
            name=name,
            scopes=["issue"],
            now=NOW,
            created_by=None,
            actor="test",
        )
        headers.append({"Authorization": f"Bearer {secret}", "Idempotency-Key": name})
    db.close()
    client = app.test_client()
    for _ in range(2):
        # An invalid body still costs a request: the limit is on asking, not on succeeding.
        answer = client.post("/api/v1/credentials", json={}, headers=headers[0])
        assert answer.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    limited = client.post("/api/v1/credentials", json={}, headers=headers[0])
    assert_limited_as_problem(limited)
    assert "issuing requests with this API token" in limited.get_json()["detail"]
    other = client.post("/api/v1/credentials", json={}, headers=headers[1])
    assert other.status_code == HTTPStatus.UNPROCESSABLE_ENTITY


def test_the_vc_api_issue_endpoint_is_limited_per_token(make_app: Callable[..., Flask]) -> None:
    token = secrets.token_urlsafe(32)
    app = make_app(ISSUE_RATE_LIMIT="1/minute", VCAPI_ISSUER="northside", VCAPI_TOKEN=token)
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.post("/credentials/issue", json={}, headers=bearer).status_code != 429
    assert_limited_as_problem(client.post("/credentials/issue", json={}, headers=bearer))


# -- settings --------------------------------------------------------------------------------


def test_rate_limits_can_be_turned_off() -> None:
    client = verifier_app(VERIFY_RATE_LIMIT="1/minute", RATELIMIT_ENABLED=False).test_client()
    for _ in range(5):
        assert verify(client).status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("VERIFY_RATE_LIMIT", "lots"),
        ("LOGIN_RATE_LIMIT", ""),
        ("ISSUE_RATE_LIMIT", 10),
        ("RATELIMIT_STORAGE_URL", "memcached://127.0.0.1"),
        ("RATELIMIT_ENABLED", "sometimes"),
        ("PROXY_HOPS", -1),
        ("PROXY_HOPS", "one"),
    ],
)
def test_a_malformed_setting_stops_startup_naming_it(
    tmp_path: Path, database_url: str, setting: str, value: object
) -> None:
    with pytest.raises(ConfigurationError, match=f"TESSERA_{setting}"):
        create_app(app_config(tmp_path, database_url) | {setting: value})
    with pytest.raises(VerifierConfigurationError, match=f"TESSERA_{setting}"):
        verifier_app(**{setting: value})


def test_limits_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_VERIFY_RATE_LIMIT", "1/minute")
    monkeypatch.setenv("TESSERA_PROXY_HOPS", "1")
    app = create_verifier_app({"TESTING": True, "SECRET_KEY": "s" * 40})
    assert app.config["PROXY_HOPS"] == 1
    client = app.test_client()
    verify(client)
    assert verify(client).status_code == HTTPStatus.TOO_MANY_REQUESTS


# -- Redis: one count for every process --------------------------------------------------------


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in Redis database 10; its keys are deleted afterwards."""
    prefix = f"tessera-test-{secrets.token_hex(6)}"
    yield prefix
    server = redis.Redis.from_url(REDIS_URL)
    keys = list(server.scan_iter(match=f"*{prefix}*"))
    if keys:
        server.delete(*keys)
    server.close()


def test_two_app_processes_share_one_count_through_redis(redis_prefix: str) -> None:
    settings = {
        "VERIFY_RATE_LIMIT": "3/minute",
        "RATELIMIT_STORAGE_URL": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": redis_prefix,
    }
    first = verifier_app(**settings).test_client()
    second = verifier_app(**settings).test_client()
    assert verify(first).status_code == HTTPStatus.OK
    assert verify(second).status_code == HTTPStatus.OK
    assert verify(first).status_code == HTTPStatus.OK
    assert_limited_as_problem(verify(second))
    assert_limited_as_problem(verify(first))
    server = redis.Redis.from_url(REDIS_URL)
    assert list(server.scan_iter(match=f"*{redis_prefix}*"))  # the count really is in Redis
    server.close()


def test_redis_url_is_the_default_storage(tmp_path: Path, database_url: str) -> None:
    app = create_app(app_config(tmp_path, database_url) | {"REDIS_URL": REDIS_URL})
    assert app.config["RATELIMIT_STORAGE_URL"] == REDIS_URL
    app.extensions["tessera.engine"].dispose()
    assert verifier_app().config["RATELIMIT_STORAGE_URL"] == "memory://"


def test_when_redis_is_down_limits_count_in_memory_and_say_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Nothing listens on port 1: every Redis call fails at once.
    app = verifier_app(VERIFY_RATE_LIMIT="2/minute", RATELIMIT_STORAGE_URL="redis://127.0.0.1:1/10")
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="flask-limiter"):
        assert verify(client).status_code == HTTPStatus.OK
        assert verify(client).status_code == HTTPStatus.OK
        assert_limited_as_problem(verify(client))
        assert_limited_as_problem(verify(client))
    warnings = [r for r in caplog.records if r.name == "flask-limiter" and r.levelno >= 30]
    assert len(warnings) == 1
    assert "falling back to in-memory storage" in warnings[0].getMessage()


def test_production_without_redis_warns_that_each_process_counts_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="verifier.ratelimit"):
        verifier_app(ENV="production")
    assert "counted per process" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="verifier.ratelimit"):
        verifier_app(ENV="production", RATELIMIT_STORAGE_URL=REDIS_URL)
    assert "counted per process" not in caplog.text


def test_bulk_jobs_and_revocations_count_against_the_tokens_issuing_limit(
    make_app: Callable[..., Flask],
) -> None:
    """A token could otherwise issue ten thousand at a time, or revoke without bound."""
    app = make_app(ISSUE_RATE_LIMIT="3/minute")
    db = session_of(app)
    centre = services.create_organisation(
        db, app.config["KEK_FERNET"], slug="northside", name="N", public_url=PUBLIC_URL, now=NOW
    )
    _, secret = accounts.create_api_token(
        db,
        organisation=centre,
        name="busy",
        scopes=["issue", "revoke"],
        now=NOW,
        created_by=None,
        actor="test",
    )
    db.close()
    headers = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    answers = [
        client.post("/api/v1/credentials", json={}, headers=headers | {"Idempotency-Key": "a"}),
        client.post("/api/v1/bulk-jobs", json={}, headers=headers | {"Idempotency-Key": "b"}),
        client.post("/api/v1/credentials/nothing/revoke", json={"reason": "x"}, headers=headers),
    ]
    assert all(a.status_code != HTTPStatus.TOO_MANY_REQUESTS for a in answers)
    assert_limited_as_problem(
        client.post("/api/v1/credentials/nothing/revoke", json={"reason": "x"}, headers=headers)
    )
    assert_limited_as_problem(
        client.post("/api/v1/bulk-jobs", json={}, headers=headers | {"Idempotency-Key": "c"})
    )


def test_a_workers_own_match_counts_as_verification(make_app: Callable[..., Flask]) -> None:
    """/wallet/match verifies every credential the worker holds: one of the costliest posts."""
    app = make_app(VERIFY_RATE_LIMIT="2/minute", WTF_CSRF_ENABLED=False)
    db = session_of(app)
    kek = app.config["KEK_FERNET"]
    centre = services.create_organisation(
        db, kek, slug="northside", name="N", public_url=PUBLIC_URL, now=NOW
    )
    achievement = services.create_achievement(
        db, organisation=centre, name="Weld", description="D", criteria="C", now=NOW
    )
    record = services.issue_credential(
        db,
        kek,
        organisation=centre,
        achievement=achievement,
        name="Ana",
        email="ana@example.org",
        public_url=PUBLIC_URL,
        now=NOW,
    ).record
    token = claims.new_claim_token(db, record, now=NOW)
    db.commit()
    db.close()
    client = app.test_client()
    assert client.get(f"/claim/{token}").status_code == HTTPStatus.SEE_OTHER

    answers = [client.post("/wallet/match", data={"profile": "none"}) for _ in range(3)]

    assert [a.status_code for a in answers[:2]] == [HTTPStatus.UNPROCESSABLE_ENTITY] * 2
    assert answers[2].status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "Too many checks in a short time" in answers[2].get_data(as_text=True)
    assert client.get("/wallet").status_code == HTTPStatus.OK  # reading is never limited
