"""This instance verifying another issuer's credential: did:web keys and a status list, fetched."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from credentials.proofs import data_integrity
from credentials.status_list import new_bitstring, set_bit, status_entry, status_list_credential
from issuer import verification
from issuer.clock import utcnow
from keys import did_web
from keys.crypto import public_jwk
from keys.did import did_document
from verifier import Outcome, Verdict
from verifier.did_web import DidWebResolver
from verifier.http import GuardedHttpClient
from verifier.remote import PublicResolution
from verifier.resolvers import ChainResolver, DidKeyResolver
from verifier.status import RemoteStatusSource

from ..helpers import key_of, make_credential, make_signer, signed_json

INDEX = 4242


@pytest.fixture
def remote(app, https_server):
    """Another instance's centre, reachable on loopback, that our app is allowed to fetch from."""
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
    client = GuardedHttpClient(allow_private=True, ssl_context=https_server.ssl_context, timeout=2)
    resolver = ChainResolver([DidKeyResolver(), DidWebResolver(client)])
    app.extensions["tessera.public_resolution"] = PublicResolution(
        client, resolver, RemoteStatusSource(client, resolver)
    )

    list_url = https_server.url("/status/1")

    def publish_list(*revoked: int) -> None:
        bits = new_bitstring()
        for index in revoked:
            set_bit(bits, index)
        now = utcnow()
        unsigned = status_list_credential(
            list_url=list_url,
            issuer=did,
            bits=bits,
            valid_from=now,
            valid_until=now + timedelta(minutes=5),
        )
        signed = data_integrity.add_proof(unsigned, signer, created=now)
        https_server.routes["/status/1"] = (
            200,
            {"Content-Type": "application/vc+ld+json"},
            json.dumps(signed).encode(),
        )

    credential = signed_json(
        signer, make_credential(issuer_did=did, credentialStatus=status_entry(list_url, INDEX))
    )
    return did, credential, publish_list, https_server


def _verify(app, credential):
    with app.app_context():
        return verification.verify(json.dumps(credential))


def test_a_remote_issuers_credential_verifies_through_its_published_keys_and_list(app, remote):
    did, credential, publish_list, _ = remote
    publish_list()
    result = _verify(app, credential)
    assert result.verdict == Verdict.ISSUER_NOT_RECOGNISED  # genuine, but nobody vouched
    assert result.check("proof").outcome == Outcome.PASSED
    assert result.check("status").outcome == Outcome.PASSED
    app.config["TRUSTED_ISSUERS"] = [did]
    assert _verify(app, credential).verdict == Verdict.VALID


def test_a_remote_revocation_is_seen(app, remote):
    did, credential, publish_list, _ = remote
    app.config["TRUSTED_ISSUERS"] = [did]
    publish_list(INDEX)
    assert _verify(app, credential).verdict == Verdict.REVOKED


def test_an_unreachable_issuer_means_could_not_check(app, remote):
    _, credential, publish_list, server = remote
    publish_list()
    server.stop()
    result = _verify(app, credential)
    assert result.verdict == Verdict.COULD_NOT_CHECK
    assert result.check("proof").outcome == Outcome.COULD_NOT_CHECK


def test_a_forged_key_under_our_own_host_is_invalid_without_any_fetch(app, https_server):
    """A DID under this instance's own did:web is ours: never looked up elsewhere."""
    forger = make_signer("EdDSA", did="did:web:tessera.test:orgs:ghost", fragment="key-1")
    result = _verify(app, signed_json(forger))
    assert result.verdict == Verdict.INVALID
    assert https_server.requests == []


# -- carrying another site's issuer in this instance's verifier kit ----------------------------


def _export(app, *args):
    from issuer.cli import cli  # the CLI imports the whole issuer: only these tests need it

    return app.test_cli_runner().invoke(cli, ["kit", "export", *map(str, args)])


def _offline(path, pin):
    from verifier.kit import load_offline_verifier

    with open(path, "rb") as f:
        return load_offline_verifier(f.read(), pins=[pin], now=utcnow())


def test_a_kit_carries_another_sites_issuer_and_its_list_for_offline_checks(app, remote, tmp_path):
    did, credential, publish_list, server = remote
    publish_list()
    out = tmp_path / "kit.json"
    result = _export(app, "--out", out, "--issuer", did, "--status-list", server.url("/status/1"))
    assert result.exit_code == 0, result.output
    pin = re.search(r"\b(z6Mk\w+)", result.output.split("pin this key")[1]).group(1)
    server.stop()  # offline from here on: the kit alone answers
    checker = _offline(out, pin)
    found = checker.verify(credential, now=utcnow())
    assert found.verdict == Verdict.VALID  # the kit's signer vouches for the issuers it carries
    assert found.check("status").outcome == Outcome.PASSED


def test_a_revocation_at_the_other_site_reaches_the_next_kit(app, remote, tmp_path):
    did, credential, publish_list, server = remote
    publish_list(INDEX)
    out = tmp_path / "kit.json"
    result = _export(app, "--out", out, "--issuer", did, "--status-list", server.url("/status/1"))
    assert result.exit_code == 0, result.output
    pin = re.search(r"\b(z6Mk\w+)", result.output.split("pin this key")[1]).group(1)
    assert _offline(out, pin).verify(credential, now=utcnow()).verdict == Verdict.REVOKED


def test_a_list_of_an_issuer_not_named_is_refused_and_nothing_is_written(app, remote, tmp_path):
    far, _, publish_list, server = remote
    publish_list()
    near = did_web(server.base_url, "orgs", "near")
    signer = make_signer("EdDSA", did=near, fragment="key-1")
    jwk = public_jwk(signer.public_key, kid=signer.verification_method, algorithm="EdDSA")
    document = did_document(near, [(key_of(signer), jwk)])
    server.routes["/orgs/near/did.json"] = (200, {}, json.dumps(document).encode())
    out = tmp_path / "kit.json"
    result = _export(app, "--out", out, "--issuer", near, "--status-list", server.url("/status/1"))
    assert result.exit_code == 1
    assert f"is published by {far}: add --issuer for it" in result.output
    assert not out.exists()


def test_a_status_list_without_its_issuer_is_a_usage_error(app, tmp_path):
    result = _export(app, "--out", tmp_path / "k.json", "--status-list", "https://x.example/s/1")
    assert result.exit_code == 2
    assert "--status-list needs the --issuer that publishes it" in result.output
