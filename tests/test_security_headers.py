"""Security headers, cookie flags and HTTPS behind a proxy, on every HTML page we serve.

The Content-Security-Policy forbids inline scripts and styles, so each page is also read for
anything inline that the browser would block (and so silently break the page).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from http import HTTPStatus
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from issuer import accounts, claims
from issuer.app import create_app
from verifier.app import create_verifier_app
from verifier.security import CONTENT_SECURITY_POLICY

from .conftest import app_config, issue_to_amina

HSTS = "max-age=63072000; includeSubDomains"
PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
# What a strict policy blocks: inline scripts and styles, event handlers, javascript: URLs.
_INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.IGNORECASE
)


def directives(policy: str) -> dict[str, str]:
    parts = (p.strip().split(None, 1) for p in policy.split(";") if p.strip())
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


def assert_strict_page(response: Any, where: str) -> None:
    policy = response.headers.get("Content-Security-Policy", "")
    found = directives(policy)
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, where
    assert found.get("frame-ancestors") == "'none'", where
    assert found.get("base-uri") in ("'none'", "'self'"), where
    assert found.get("form-action") == "'self'", where
    assert found.get("script-src") == "'self'" and found.get("style-src") == "'self'", where
    assert response.headers["X-Content-Type-Options"] == "nosniff", where
    assert response.headers["X-Frame-Options"] == "DENY", where
    inline = _INLINE.search(response.get_data(as_text=True))
    assert inline is None, f"{where}: the policy blocks {inline.group(0) if inline else ''!r}"


def set_cookies(response: Any) -> dict[str, SimpleCookie]:
    cookies = {}
    for header in response.headers.getlist("Set-Cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            cookies[name] = cookie
    return cookies


def assert_cookie_flags(header: str, *, secure: bool) -> None:
    lowered = [part.strip().lower() for part in header.split(";")]
    assert "httponly" in lowered, header
    assert "samesite=lax" in lowered, header
    assert ("secure" in lowered) is secure, header


def cookie_header(response: Any, name: str) -> str:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return str(header)
    raise AssertionError(f"no {name} cookie set; got {response.headers.getlist('Set-Cookie')}")


# -- every HTML page of the combined app -------------------------------------------------------


@pytest.fixture
def scene(db, kek, now, centre, welding):  # type: ignore[no-untyped-def]
    """A centre with an issued credential, a claim link, and an admin who can see everything."""
    issued = issue_to_amina(db, kek, centre, welding, now).record
    accounts.create_user(
        db,
        email="admin@northside.example",
        name="Admin",
        password=PASSWORD,
        now=now,
        organisation=centre,
        role="admin",
    )
    return {
        "credential": issued,
        "achievement": welding,
        "claim": claims.new_claim_token(db, issued, now=now),
    }


def sign_in(client: FlaskClient) -> None:
    token = _TOKEN.search(client.get("/login").get_data(as_text=True))
    assert token is not None
    response = client.post(
        "/login",
        data={
            "csrf_token": token.group(1),
            "email": "admin@northside.example",
            "password": PASSWORD,
        },
    )
    assert response.status_code == HTTPStatus.FOUND


def html_pages(app: Flask, scene: dict[str, Any], centre: Any) -> Iterator[str]:
    """Every GET page without parameters, and the pages of the scene's credential."""
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or ()) and not rule.arguments:
            yield rule.rule
    public_id = scene["credential"].public_id
    yield f"/v/{public_id}"
    yield f"/v/{public_id}?lang=ar"
    yield f"/centre/credentials/{public_id}"
    yield f"/centre/achievements/{scene['achievement'].public_id}"
    yield f"/orgs/{centre.slug}/achievements/{scene['achievement'].public_id}"
    yield f"/wallet/c/{public_id}/certificate"


def test_every_html_page_has_the_strict_policy_and_nothing_inline(
    app: Flask, client: FlaskClient, scene: dict[str, Any], centre: Any
) -> None:
    sign_in(client)
    client.get(f"/claim/{scene['claim']}")  # a worker's wallet session, for the wallet pages
    checked = []
    for path in html_pages(app, scene, centre):
        with client.get(path, headers={"Accept": "text/html"}) as response:
            if response.mimetype != "text/html" or response.status_code >= 300:
                continue
            assert_strict_page(response, path)
            checked.append(path)
    # The list above reached the pages that matter; a broken fixture must not pass silently.
    for expected in (
        "/verify",
        "/match",
        "/centre/",
        "/wallet",
        f"/v/{scene['credential'].public_id}",
    ):
        assert expected in checked, (expected, checked)
    assert len(checked) >= 15, checked


def test_error_pages_have_the_strict_policy(client: FlaskClient, scene: dict[str, Any]) -> None:
    public_id = scene["credential"].public_id
    errors = {
        "/v/not-a-credential": HTTPStatus.NOT_FOUND,
        "/no/such/page": HTTPStatus.NOT_FOUND,
        "/centre/credentials/not-one": HTTPStatus.FOUND,  # signed out: to the sign-in page
    }
    for path, status in errors.items():
        with client.get(path, headers={"Accept": "text/html"}) as response:
            assert response.status_code == status, path
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
            if response.mimetype == "text/html":
                assert_strict_page(response, path)
    # A form posted without its CSRF token: the friendly 400 page.
    expired = client.post(f"/v/{public_id}/recipient", data={"email": "a@example.org"})
    assert expired.status_code == HTTPStatus.BAD_REQUEST
    assert expired.mimetype == "text/html"
    assert_strict_page(expired, "CSRF error page")


@pytest.mark.usefixtures("clear_of_a_minute_boundary")
def test_the_rate_limited_page_has_the_strict_policy(tmp_path: Path) -> None:
    app = create_verifier_app(
        {
            "TESTING": True,
            "SECRET_KEY": "s" * 40,
            "REMOTE_RESOLUTION": False,
            "WTF_CSRF_ENABLED": False,
            "VERIFY_RATE_LIMIT": "1/minute",
        }
    )
    client = app.test_client()
    client.post("/verify", data={"credential": "{}"})
    limited = client.post("/verify", data={"credential": "{}"}, headers={"Accept": "text/html"})
    assert limited.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert_strict_page(limited, "429 page")


def test_api_errors_carry_the_headers_too(client: FlaskClient) -> None:
    response = client.post("/api/v1/verify", data="not json", content_type="application/json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# -- HSTS and cookie flags ----------------------------------------------------------------------


@pytest.fixture
def make_app(tmp_path: Path, database_url: str, engine: Engine) -> Iterator[Any]:
    opened: list[Flask] = []

    def make(**settings: Any) -> Flask:
        app = create_app(app_config(tmp_path / f"i{len(opened)}", database_url) | settings)
        app.extensions["tessera.sessionmaker"] = sessionmaker(bind=engine)
        opened.append(app)
        return app

    yield make
    for app in opened:
        app.extensions["tessera.engine"].dispose()


def test_an_https_site_sends_hsts_and_secure_cookies(client: FlaskClient) -> None:
    # The test app's public URL is https://tessera.test.
    login = client.get("/login")
    assert login.headers["Strict-Transport-Security"] == HSTS
    assert_cookie_flags(cookie_header(login, "tessera_session"), secure=True)
    chosen = client.get("/language?lang=fr&next=/verify")
    assert chosen.headers["Strict-Transport-Security"] == HSTS
    assert_cookie_flags(cookie_header(chosen, "tessera_lang"), secure=True)


def test_a_plain_http_site_sends_no_hsts_and_no_secure_flag(make_app: Any) -> None:
    client = make_app(PUBLIC_URL="http://localhost:5000").test_client()
    login = client.get("/login")
    assert "Strict-Transport-Security" not in login.headers
    assert_cookie_flags(cookie_header(login, "tessera_session"), secure=False)
    chosen = client.get("/language?lang=fr&next=/verify")
    assert_cookie_flags(cookie_header(chosen, "tessera_lang"), secure=False)


def test_behind_a_proxy_https_is_read_from_the_proxy(make_app: Any) -> None:
    client = make_app(PUBLIC_URL="http://localhost:5000", PROXY_HOPS=1).test_client()
    forwarded = client.get("/verify", headers={"X-Forwarded-Proto": "https"})
    assert forwarded.headers["Strict-Transport-Security"] == HSTS
    plain = client.get("/verify", headers={"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in plain.headers


def test_without_a_proxy_a_forged_forwarded_proto_is_ignored(make_app: Any) -> None:
    client = make_app(PUBLIC_URL="http://localhost:5000").test_client()
    forged = client.get("/verify", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forged.headers


def test_the_standalone_verifier_sets_the_same_flags() -> None:
    secure = create_verifier_app(
        {"TESTING": True, "SECRET_KEY": "s" * 40, "PUBLIC_URL": "https://verify.test"}
    )
    client = secure.test_client()
    page = client.get("/verify")
    assert page.headers["Strict-Transport-Security"] == HSTS
    assert_strict_page(page, "/verify (standalone)")
    assert_cookie_flags(cookie_header(page, "session"), secure=True)
    plain = create_verifier_app({"TESTING": True, "SECRET_KEY": "s" * 40}).test_client()
    page = plain.get("/verify")
    assert "Strict-Transport-Security" not in page.headers
    assert_cookie_flags(cookie_header(page, "session"), secure=False)
