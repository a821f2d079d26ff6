"""The standalone verifier: create_verifier_app and ``tessera serve --verifier-only``.

It has no database and issues nothing; it verifies from public data only.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from http import HTTPStatus
from pathlib import Path

import pytest

from keys import did_web
from keys.crypto import public_jwk
from keys.did import did_document
from verifier.app import ConfigurationError, create_verifier_app
from verifier.did_web import DidWebResolver
from verifier.http import GuardedHttpClient
from verifier.remote import PublicResolution
from verifier.resolvers import ChainResolver, DidKeyResolver
from verifier.status import RemoteStatusSource

from ..helpers import key_of, make_credential, make_signer, signed_json, signed_jwt

VERIFY = "/api/v1/verify"
TESSERA = Path(sys.executable).parent / "tessera"
SERVER_START_TIMEOUT = 20
SERVER_STOP_TIMEOUT = 15
REQUEST_TIMEOUT = 10

# Talk to the local server directly, whatever proxy the environment names.
http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Only what a test sets: no TESSERA_* variable of the shell running the tests."""
    for name in list(os.environ):
        if name.startswith("TESSERA_"):
            monkeypatch.delenv(name)


def verifier_app(**settings):
    return create_verifier_app({"TESTING": True, "PUBLIC_URL": "https://verify.test"} | settings)


@pytest.fixture
def issuer_key():
    """A did:key issuer from anywhere: self-contained, verifiable offline."""
    return make_signer("EdDSA", did="did:key")


def did_of(signer):
    return signer.verification_method.partition("#")[0]


def verify(client, credential):
    response = client.post(VERIFY, json={"credential": credential})
    assert response.status_code == HTTPStatus.OK, response.get_data(as_text=True)[:500]
    return response.get_json()


def check(body, name):
    return next(c for c in body["checks"] if c["name"] == name)


@pytest.mark.parametrize("form", ["json", "jwt"])
def test_a_did_key_credential_verifies_but_its_issuer_is_not_recognised(
    issuer_key, form, no_network
):
    credential = signed_json(issuer_key) if form == "json" else signed_jwt(issuer_key)
    body = verify(verifier_app().test_client(), credential)
    assert body["verdict"] == "issuer not recognised"
    assert body["verified"] is False
    assert check(body, "proof")["outcome"] == "passed"
    assert check(body, "issuer")["outcome"] == "failed"
    assert no_network == []  # did:key needs nothing from the network


@pytest.mark.parametrize("how", ["config", "environment"])
def test_a_trusted_did_key_issuer_is_valid(issuer_key, monkeypatch, how):
    if how == "config":
        app = verifier_app(TRUSTED_ISSUERS=[did_of(issuer_key), "did:web:other.example"])
    else:
        monkeypatch.setenv(
            "TESSERA_TRUSTED_ISSUERS", f"did:web:other.example, {did_of(issuer_key)}"
        )
        app = verifier_app()
    body = verify(app.test_client(), signed_jwt(issuer_key))
    assert body["verdict"] == "valid"
    assert body["verified"] is True


def test_a_tampered_credential_is_invalid(issuer_key):
    credential = signed_json(issuer_key)
    credential["credentialSubject"]["name"] = "Mallory Impostor"
    body = verify(verifier_app(TRUSTED_ISSUERS=[did_of(issuer_key)]).test_client(), credential)
    assert body["verdict"] == "invalid"
    assert check(body, "proof")["outcome"] == "failed"


def test_the_vc_api_verifies_here_too(issuer_key):
    client = verifier_app().test_client()
    response = client.post(
        "/credentials/verify", json={"verifiableCredential": signed_jwt(issuer_key)}
    )
    body = response.get_json()
    assert body["verified"] is True
    assert [w["code"] for w in body["warnings"]] == ["issuer-not-recognised"]
    presented = client.post(
        "/presentations/verify",
        json={
            "verifiablePresentation": {
                "type": ["VerifiablePresentation"],
                "verifiableCredential": [signed_json(issuer_key)],
            }
        },
    )
    assert presented.get_json()["credentialResults"][0]["verified"] is True


def test_a_did_web_issuer_outside_the_allowed_hosts_could_not_be_checked(no_network):
    signer = make_signer("EdDSA", did="did:web:issuer.example:orgs:far", fragment="key-1")
    app = verifier_app(FETCH_ALLOWED_HOSTS="trusted.example, other.example")
    body = verify(app.test_client(), signed_jwt(signer))
    assert body["verdict"] == "could not check"
    assert check(body, "proof")["outcome"] == "could not check"
    assert no_network == []  # refused before any lookup


def test_without_remote_resolution_did_web_could_not_be_checked(no_network):
    signer = make_signer("EdDSA", did="did:web:issuer.example", fragment="key-1")
    app = verifier_app(REMOTE_RESOLUTION=False)
    body = verify(app.test_client(), signed_json(signer))
    assert body["verdict"] == "could not check"
    assert no_network == []


@pytest.fixture
def remote_issuer(https_server):
    """A did:web issuer on a local HTTPS server, and a verifier that may fetch from it."""
    did = did_web(https_server.base_url, "orgs", "far")
    signer = make_signer("EdDSA", did=did, fragment="key-1")
    document = did_document(
        did,
        [
            (
                key_of(signer),
                public_jwk(signer.public_key, kid=signer.verification_method, algorithm="EdDSA"),
            )
        ],
    )
    https_server.routes["/orgs/far/did.json"] = (
        200,
        {"Content-Type": "application/did+json"},
        json.dumps(document).encode(),
    )
    app = verifier_app(TRUSTED_ISSUERS=[did])
    # The production client refuses loopback; this one trusts the test server's CA only.
    client = GuardedHttpClient(allow_private=True, ssl_context=https_server.ssl_context, timeout=2)
    resolver = ChainResolver([DidKeyResolver(), DidWebResolver(client)])
    app.extensions["tessera.public_resolution"] = PublicResolution(
        client, resolver, RemoteStatusSource(client, resolver)
    )
    return app, signer, https_server


def test_a_reachable_did_web_issuer_verifies(remote_issuer):
    app, signer, server = remote_issuer
    body = verify(app.test_client(), signed_jwt(signer, make_credential(issuer_did=did_of(signer))))
    assert body["verdict"] == "valid", body
    assert server.requests == ["/orgs/far/did.json"]


def test_a_did_web_issuer_nobody_can_reach_could_not_be_checked(remote_issuer):
    app, signer, server = remote_issuer
    server.stop()
    body = verify(
        app.test_client(), signed_json(signer, make_credential(issuer_did=did_of(signer)))
    )
    assert body["verdict"] == "could not check"
    assert body["verified"] is False
    assert check(body, "proof")["outcome"] == "could not check"


def test_verify_links_are_not_looked_up_here(no_network):
    client = verifier_app().test_client()
    body = verify(client, "https://verify.test/v/abcdefghijklmnopqrstuv")
    assert body["checks"][0]["code"] == "unknown-verify-link"
    body = verify(client, "https://badges.example.org/v/abcdefghijklmnopqrstuv")
    assert body["checks"][0]["code"] == "foreign-link"
    assert no_network == []


def test_it_issues_nothing_and_answers_problems():
    client = verifier_app().test_client()
    for path in ("/credentials/issue", "/orgs/x/did.json", "/.well-known/did.json"):
        response = client.post(path, json={})
        assert response.status_code in (HTTPStatus.NOT_FOUND, HTTPStatus.METHOD_NOT_ALLOWED)
        assert response.mimetype == "application/problem+json"
    response = client.post(VERIFY, data="x", content_type="text/plain")
    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert response.get_json()["code"] == "unsupported-media-type"
    response = client.post(VERIFY, json={"credential": {}, "extra": 1})
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "extra" in response.get_json()["errors"]
    # The verify API takes whole wallets: its body limit is TESSERA_MAX_WALLET_BYTES (16 MB).
    response = client.post(
        VERIFY, data=json.dumps({"credential": "x" * 17_000_000}), content_type="application/json"
    )
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.mimetype == "application/problem+json"


def test_health_and_openapi():
    client = verifier_app().test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    document = client.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/verify", "/credentials/verify", "/presentations/verify", "/healthz"} <= set(
        document["paths"]
    )
    assert "/credentials/issue" not in document["paths"]


def test_security_headers_are_set():
    response = verifier_app().test_client().get("/healthz")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_missing_secret_key_is_generated_and_said(caplog):
    with caplog.at_level(logging.INFO, logger="verifier.app"):
        first = verifier_app()
        second = verifier_app()
    assert first.config["SECRET_KEY"] and first.config["SECRET_KEY"] != second.config["SECRET_KEY"]
    assert "ephemeral" in caplog.text
    assert verifier_app(SECRET_KEY="s" * 40).config["SECRET_KEY"] == "s" * 40


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"PUBLIC_URL": "verify.example.org"}, "TESSERA_PUBLIC_URL"),
        ({"PUBLIC_URL": "ftp://verify.example.org"}, "TESSERA_PUBLIC_URL"),
        ({"ENV": "production", "PUBLIC_URL": "http://verify.example.org"}, "TESSERA_PUBLIC_URL"),
        ({"MAX_CREDENTIAL_BYTES": "big"}, "TESSERA_MAX_CREDENTIAL_BYTES"),
        ({"MAX_CREDENTIAL_BYTES": 0}, "TESSERA_MAX_CREDENTIAL_BYTES"),
        ({"REMOTE_RESOLUTION": "perhaps"}, "TESSERA_REMOTE_RESOLUTION"),
        ({"TRUSTED_ISSUERS": 5}, "TESSERA_TRUSTED_ISSUERS"),
        ({"FETCH_ALLOWED_HOSTS": [1]}, "TESSERA_FETCH_ALLOWED_HOSTS"),
    ],
)
def test_bad_configuration_refuses_to_start(settings, named):
    with pytest.raises(ConfigurationError, match=named):
        create_verifier_app(settings)


def test_configuration_from_the_environment(monkeypatch):
    monkeypatch.setenv("TESSERA_PUBLIC_URL", "https://verify.example.org/")
    monkeypatch.setenv("TESSERA_MAX_CREDENTIAL_BYTES", "65536")
    monkeypatch.setenv("TESSERA_FETCH_ALLOWED_HOSTS", "A.example, b.example")
    app = create_verifier_app()
    assert app.config["PUBLIC_URL"] == "https://verify.example.org"
    assert app.config["MAX_CREDENTIAL_BYTES"] == 65536
    assert app.config["FETCH_ALLOWED_HOSTS"] == ["a.example", "b.example"]
    client = app.extensions["tessera.public_resolution"].client
    assert client.allowed_hosts == frozenset({"a.example", "b.example"})


# -- tessera serve --verifier-only, in a real process ------------------------------------


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_healthy(base_url, server, log):
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        try:
            with http.open(f"{base_url}/healthz", timeout=2) as response:
                return response.status, json.load(response)
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the verifier did not become healthy:\n{log.read_text()}")
            time.sleep(0.2)


def _post_json(url, body):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with http.open(request, timeout=REQUEST_TIMEOUT) as response:
        return response.status, json.load(response)


def test_serve_verifier_only_needs_no_database(tmp_path, issuer_key):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "FLASK_"))}
    instance = tmp_path / "instance"
    env["TESSERA_INSTANCE"] = str(instance)
    env["TESSERA_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # unusable
    env["TESSERA_TRUSTED_ISSUERS"] = did_of(issuer_key)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(TESSERA), "serve", "--verifier-only", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            status, health = _wait_until_healthy(base_url, server, log)
            assert status == HTTPStatus.OK
            assert health == {"status": "ok"}
            status, body = _post_json(f"{base_url}{VERIFY}", {"credential": signed_jwt(issuer_key)})
            assert status == HTTPStatus.OK
            assert body["verdict"] == "valid"
            status, body = _post_json(
                f"{base_url}/credentials/verify", {"verifiableCredential": signed_json(issuer_key)}
            )
            assert body["verified"] is True

            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=SERVER_STOP_TIMEOUT) == 0, log.read_text()
        finally:
            if server.poll() is None:
                server.kill()
                server.wait(timeout=SERVER_STOP_TIMEOUT)
    output = log.read_text()
    assert "verifier only" in output
    assert "Traceback" not in output
    assert not instance.exists()  # no instance folder, no secrets, no database
    assert list(tmp_path.iterdir()) == [log]
