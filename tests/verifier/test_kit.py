"""Offline verification with a signed verifier kit: this instance exports one, a verifier with
no network at all checks credentials with it and says how old its revocation data is."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from credentials.kit import (
    KitError,
    KitExpiredError,
    KitSignatureError,
    UntrustedKitError,
    read_kit,
    sign_kit,
)
from credentials.status_list import encode_list, new_bitstring
from issuer import kit as instance_kit
from issuer import services, status
from issuer.models import StatusList
from keys import KeyPurpose
from verifier import Outcome, Verdict
from verifier.kit import CHECK_NAME, load_offline_verifier, parse_duration

from ..conftest import PUBLIC_URL
from ..helpers import make_signer, signed_json

TTL = 300


def _issue(db, kek, centre, welding, now, name="Amina Haddad"):
    return services.issue_credential(
        db,
        kek,
        organisation=centre,
        achievement=welding,
        name=name,
        email=f"{name.split()[0].lower()}@example.org",
        public_url=PUBLIC_URL,
        now=now,
    ).record


@pytest.fixture
def exported(db, kek, centre, welding, now):
    """A kit of this instance (one centre, its status list), exported at ``now``."""
    _issue(db, kek, centre, welding, now, name="First Learner")  # the centre's list exists
    return instance_kit.export_kit(db, kek, public_url=PUBLIC_URL, now=now, ttl=TTL)


def _raw(exported) -> bytes:
    return exported.json().encode("utf-8")


def test_kit_carries_every_centre_with_its_signed_lists(exported, centre):
    document = exported.document
    assert document["type"] == "TesseraVerifierKit"
    assert document["version"] == 1
    assert document["issuer"] == "did:web:tessera.test"
    ids = [i["id"] for i in document["issuers"]]
    assert ids == ["did:web:tessera.test", centre.did]
    entry = document["issuers"][1]
    assert entry["name"] == "Northside Skills Centre"
    assert entry["didDocument"]["id"] == centre.did
    assert [k["kid"] for k in entry["jwks"]["keys"]]
    (listed,) = entry["statusLists"]
    assert listed["id"] == f"{PUBLIC_URL}/orgs/northside/status/1"
    assert listed["credential"]["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert listed["credential"]["proof"][0]["cryptosuite"] == "eddsa-rdfc-2022"
    assert exported.signer_pin.startswith("z6Mk")
    assert document["proof"]["verificationMethod"] == exported.signer


def test_valid_credential_verifies_offline_with_the_age_stated(
    db, kek, centre, welding, now, exported, no_network
):
    record = _issue(db, kek, centre, welding, now - timedelta(days=1))
    later = now + timedelta(hours=5)
    offline = load_offline_verifier(_raw(exported), pins=[exported.signer_pin], now=later)
    for form in (json.loads(record.document), record.jwt):
        result = offline.verify(form, now=later)
        assert result.verdict == Verdict.VALID, result.checks
        assert result.check("status").outcome == Outcome.PASSED
        assert result.check("issuer").outcome == Outcome.PASSED
        note = result.check(CHECK_NAME)
        assert note.outcome == Outcome.PASSED
        assert "revocation data from 2026-01-15T09:30:00Z (5 hours old)" in note.message
        assert "did:web:tessera.test" in note.message
    assert no_network == []


def test_credential_revoked_before_the_export_is_revoked_offline(
    db, kek, centre, welding, now, no_network
):
    record = _issue(db, kek, centre, welding, now)
    services.revoke_credential(db, record, reason="Issued in error", now=now)
    exported = instance_kit.export_kit(
        db, kek, public_url=PUBLIC_URL, now=now + timedelta(minutes=1), ttl=TTL
    )
    at = now + timedelta(hours=1)
    offline = load_offline_verifier(_raw(exported), pins=[exported.signer_pin], now=at)
    result = offline.verify(record.jwt, now=at)
    assert result.verdict == Verdict.REVOKED
    assert result.check("status").message == "revoked by its issuer"
    assert no_network == []


def test_stale_kit_is_could_not_check_never_valid(
    db, kek, centre, welding, now, exported, no_network
):
    record = _issue(db, kek, centre, welding, now)
    at = now + timedelta(days=9)
    offline = load_offline_verifier(_raw(exported), pins=[exported.signer_pin], now=at)
    result = offline.verify(record.document, now=at)
    assert result.verdict == Verdict.COULD_NOT_CHECK
    status = result.check("status")
    assert status.outcome == Outcome.COULD_NOT_CHECK
    assert "stale" in status.message
    assert "from 2026-01-15T09:30:00Z, 9 days old" in status.message
    # The signature still verified with the kit's keys: only the revocation data is too old.
    assert result.check("proof").outcome == Outcome.PASSED
    # A verifier that accepts older data (TESSERA_KIT_MAX_AGE=14d) uses it, and says how old.
    patient = load_offline_verifier(
        _raw(exported), pins=[exported.signer_pin], now=at, max_age=parse_duration("14d")
    )
    accepted = patient.verify(record.document, now=at)
    assert accepted.verdict == Verdict.VALID
    assert "(9 days old)" in accepted.check(CHECK_NAME).message
    assert no_network == []


def test_tampered_kit_is_refused(exported, now):
    document = copy.deepcopy(exported.document)
    document["issuers"][1]["statusLists"] = []  # hide the lists, keep the signature
    with pytest.raises(KitSignatureError, match="changed after it was signed"):
        read_kit(json.dumps(document), pins=[exported.signer_pin], now=now)


def test_status_list_changed_inside_a_resigned_kit_fails_its_own_proof(
    db, kek, centre, welding, now
):
    """Even the kit's signer cannot forge a centre's list: each keeps its issuer's proof."""
    record = _issue(db, kek, centre, welding, now)
    services.revoke_credential(db, record, reason="Fraud", now=now)
    exported = instance_kit.export_kit(db, kek, public_url=PUBLIC_URL, now=now, ttl=TTL)
    document = copy.deepcopy(exported.document)
    clean = instance_kit.export_kit(db, kek, public_url=PUBLIC_URL, now=now, ttl=TTL)
    # Swap in an all-clear bitstring and sign the kit again with the instance key.
    listed = document["issuers"][1]["statusLists"][0]["credential"]
    listed["credentialSubject"]["encodedList"] = encode_list(new_bitstring())
    ring = services.ensure_instance_keys(db, kek, public_url=PUBLIC_URL, now=now)
    resigned = sign_kit(document, ring.active(KeyPurpose.DATA_INTEGRITY))
    offline = load_offline_verifier(json.dumps(resigned), pins=[clean.signer_pin], now=now)
    result = offline.verify(record.jwt, now=now)
    assert result.verdict == Verdict.COULD_NOT_CHECK
    assert "proof does not verify" in result.check("status").message


def test_kit_signed_by_another_key_is_refused(exported, now):
    stranger = make_signer("EdDSA", did="did:key")
    document = copy.deepcopy(exported.document)
    document["issuer"] = stranger.verification_method.partition("#")[0]
    forged = sign_kit(document, stranger)
    with pytest.raises(UntrustedKitError):
        read_kit(json.dumps(forged), pins=[exported.signer_pin], now=now)


def test_kit_without_a_pin_is_refused(exported, now):
    with pytest.raises(UntrustedKitError, match="no kit signer is pinned"):
        read_kit(_raw(exported), pins=[], now=now)


def test_kit_with_a_broken_signature_is_refused(exported, now):
    document = copy.deepcopy(exported.document)
    header, _, signature = document["proof"]["jws"].split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    document["proof"]["jws"] = f"{header}..{flipped}"
    with pytest.raises(KitSignatureError):
        read_kit(json.dumps(document), pins=[exported.signer_pin], now=now)


def test_expired_kit_is_refused(exported, now):
    with pytest.raises(KitExpiredError, match="expired on 2026-02-14T09:30:00Z"):
        read_kit(_raw(exported), pins=[exported.signer_pin], now=now + timedelta(days=30))


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[]", b'{"type": "Something"}', b'{"type": "TesseraVerifierKit"}'],
)
def test_malformed_kit_is_refused(raw, now, exported):
    with pytest.raises(KitError):
        read_kit(raw, pins=[exported.signer_pin], now=now)


def test_credential_of_an_issuer_not_in_the_kit_is_not_accepted(exported, now, no_network):
    offline = load_offline_verifier(_raw(exported), pins=[exported.signer_pin], now=now)
    # did:web issuer the kit does not carry: its keys cannot be looked up offline.
    foreign = make_signer("EdDSA", did="did:web:elsewhere.example")
    result = offline.verify(signed_json(foreign), now=now)
    assert result.verdict == Verdict.COULD_NOT_CHECK
    assert "not in the verifier kit" in result.check("proof").message
    # did:key issuer: its signature checks offline, but it is no issuer the kit vouches for.
    stranger = make_signer("EdDSA", did="did:key")
    credential = signed_json(stranger)
    credential.pop("credentialStatus", None)
    outsider = offline.verify(credential, now=now)
    assert outsider.check("proof").outcome == Outcome.PASSED
    assert outsider.verdict in (Verdict.ISSUER_NOT_RECOGNISED, Verdict.COULD_NOT_CHECK)
    assert no_network == []


def test_a_key_the_kit_does_not_list_is_a_forgery(db, kek, centre, welding, now, exported):
    record = _issue(db, kek, centre, welding, now)
    services.rotate_keys(db, kek, centre, now=now)  # new keys, not in the kit exported before
    newer = _issue(db, kek, centre, welding, now, name="After Rotation")
    offline = load_offline_verifier(_raw(exported), pins=[exported.signer_pin], now=now)
    assert offline.verify(record.jwt, now=now).verdict == Verdict.VALID
    result = offline.verify(newer.jwt, now=now)
    assert result.verdict == Verdict.INVALID
    assert "publishes no key" in result.check("proof").message


@pytest.mark.parametrize(
    ("text", "seconds"), [("7d", 604800), ("36h", 129600), ("90m", 5400), ("600", 600)]
)
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "7 days", "-1d", "0", "1y"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_status_list_carried_as_a_vc_jwt_is_checked_the_same_way(db, kek, centre, welding, now):
    record = _issue(db, kek, centre, welding, now)
    services.revoke_credential(db, record, reason="Issued in error", now=now)
    exported = instance_kit.export_kit(db, kek, public_url=PUBLIC_URL, now=now, ttl=TTL)
    (status_list,) = db.scalars(select(StatusList)).all()
    publication = status.publish(db, kek, status_list, public_url=PUBLIC_URL, now=now, ttl=TTL)
    document = copy.deepcopy(exported.document)
    document["issuers"][1]["statusLists"][0]["credential"] = publication.jwt
    ring = services.ensure_instance_keys(db, kek, public_url=PUBLIC_URL, now=now)
    resigned = sign_kit(document, ring.active(KeyPurpose.DATA_INTEGRITY))
    offline = load_offline_verifier(json.dumps(resigned), pins=[exported.signer_pin], now=now)
    assert offline.verify(record.document, now=now).verdict == Verdict.REVOKED
    # A JWT list whose signature was broken is not used: could not check, never "not revoked".
    header, payload, signature = publication.jwt.split(".")
    document["issuers"][1]["statusLists"][0]["credential"] = f"{header}.{payload}.{signature[::-1]}"
    broken = sign_kit(document, ring.active(KeyPurpose.DATA_INTEGRITY))
    offline = load_offline_verifier(json.dumps(broken), pins=[exported.signer_pin], now=now)
    result = offline.verify(record.document, now=now)
    assert result.verdict == Verdict.COULD_NOT_CHECK
    assert result.check("status").outcome == Outcome.COULD_NOT_CHECK
