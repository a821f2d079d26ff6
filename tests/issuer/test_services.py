"""Service-layer tests on the real database: what a centre would notice after each action."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from credentials import validate_open_badge
from credentials.proofs import jwt_vc
from issuer import services
from issuer.audit import verify_chain
from issuer.errors import ConflictError, InvalidRequestError, NotFoundError
from issuer.models import AuditEvent, IssuedCredential, Organisation
from keys import KeyDecryptionError, KeyState, SigningKey, load_kek
from keys.crypto import decrypt_private_key
from verifier import Verdict

from ..conftest import PUBLIC_URL
from ..helpers import WELDING_SKILL


def _issue(db, kek, centre, welding, now, **kwargs):
    return services.issue_credential(
        db,
        kek,
        organisation=centre,
        achievement=welding,
        name="Amina Haddad",
        email="Amina@Example.org ",
        public_url=PUBLIC_URL,
        now=now,
        **kwargs,
    )


def _count(db, model):
    return db.scalar(select(func.count()).select_from(model))


def test_a_new_centre_gets_a_did_web_and_published_keys(db, kek, centre):
    assert centre.did == "did:web:tessera.test:orgs:northside"
    document = services.key_ring(db, kek, centre).did_document()
    methods = {m["id"]: m for m in document["verificationMethod"]}
    assert set(methods) == {f"{centre.did}#key-1", f"{centre.did}#key-2"}
    assert methods[f"{centre.did}#key-1"]["publicKeyMultibase"].startswith("z6Mk")
    assert methods[f"{centre.did}#key-2"]["publicKeyJwk"]["kty"] == "RSA"
    assert document["assertionMethod"] == list(methods)


def test_private_keys_are_stored_encrypted(db, centre):
    for record in db.scalars(select(SigningKey).where(SigningKey.organisation_id == centre.id)):
        assert b"PRIVATE" not in record.encrypted_private_key
        assert record.encrypted_private_key.startswith(b"gAAAAA")  # a Fernet token
        assert '"d"' not in record.public_jwk


def test_duplicate_slug_is_a_conflict_and_writes_nothing(db, kek, centre, now):
    before = _count(db, Organisation), _count(db, SigningKey)
    with pytest.raises(ConflictError, match="already exists"):
        services.create_organisation(
            db, kek, slug="northside", name="Again", public_url=PUBLIC_URL, now=now
        )
    assert (_count(db, Organisation), _count(db, SigningKey)) == before


@pytest.mark.parametrize("slug", ["", "Upper", "-lead", "trail-", "a" * 64, "sp ace", "dot.ted"])
def test_bad_slugs_are_refused(db, kek, now, slug):
    with pytest.raises(InvalidRequestError, match="slug"):
        services.create_organisation(db, kek, slug=slug, name="X", public_url=PUBLIC_URL, now=now)
    assert _count(db, Organisation) == 0


def test_did_key_centre_needs_eddsa(db, kek, now):
    with pytest.raises(InvalidRequestError, match="EdDSA"):
        services.create_organisation(
            db,
            kek,
            slug="k",
            name="K",
            public_url=PUBLIC_URL,
            now=now,
            did_method="key",
            jwt_algorithm="RS256",
        )
    centre = services.create_organisation(
        db,
        kek,
        slug="k",
        name="K",
        public_url=PUBLIC_URL,
        now=now,
        did_method="key",
        jwt_algorithm="EdDSA",
    )
    assert centre.did.startswith("did:key:z6Mk")


def test_unknown_skill_uri_is_refused(db, centre, now):
    with pytest.raises(InvalidRequestError, match="not an ESCO skill URI"):
        services.create_achievement(
            db,
            organisation=centre,
            name="N",
            description="D",
            criteria="C",
            skills=["https://evil.example/skill"],
            now=now,
        )


def test_issued_credential_has_both_proofs_and_verifies(db, kek, centre, welding, now, verify_here):
    issued = _issue(db, kek, centre, welding, now)
    document = json.loads(issued.record.document)
    validate_open_badge(document)
    subject = document["credentialSubject"]
    assert subject["achievement"]["alignment"][0]["targetUrl"] == WELDING_SKILL
    assert subject["identifier"][0]["identityHash"] == issued.record.identity_hash
    assert "amina" not in json.dumps(document).lower().replace("amina haddad", "")
    assert issued.verify_url == f"{PUBLIC_URL}/v/{issued.record.public_id}"
    header = jwt_vc.read_unverified_header(issued.record.jwt)
    assert header == {"alg": "RS256", "kid": f"{centre.did}#key-2", "typ": "JWT"}
    for form in (issued.record.document, issued.record.jwt):
        result = verify_here(form)
        assert result.verdict == Verdict.VALID, result.checks


def test_idempotency_key_returns_the_first_credential(db, kek, centre, welding, now):
    first = _issue(db, kek, centre, welding, now, idempotency_key="row-17")
    again = _issue(db, kek, centre, welding, now, idempotency_key="row-17")
    assert again.created is False
    assert again.record.id == first.record.id
    assert _count(db, IssuedCredential) == 1


def test_achievement_of_another_centre_is_not_found(db, kek, welding, now):
    other = services.create_organisation(
        db, kek, slug="other", name="Other", public_url=PUBLIC_URL, now=now
    )
    with pytest.raises(NotFoundError):
        services.get_achievement(db, other, welding.public_id)


def test_expiry_before_the_start_is_refused(db, kek, centre, welding, now):
    before = _count(db, IssuedCredential), _count(db, AuditEvent)
    with pytest.raises(InvalidRequestError, match="must be later than valid from"):
        _issue(db, kek, centre, welding, now, valid_until=now)
    assert (_count(db, IssuedCredential), _count(db, AuditEvent)) == before


def test_failure_while_signing_leaves_nothing_behind(db, centre, welding, now):
    before = _count(db, IssuedCredential), _count(db, AuditEvent)
    with pytest.raises(KeyDecryptionError, match="TESSERA_KEK"):
        _issue(db, load_kek(Fernet.generate_key().decode()), centre, welding, now)
    assert (_count(db, IssuedCredential), _count(db, AuditEvent)) == before


def test_rotation_keeps_old_credentials_valid(db, kek, centre, welding, now, verify_here):
    old = _issue(db, kek, centre, welding, now)
    new_keys = services.rotate_keys(db, kek, centre, now=now)
    assert new_keys == [f"{centre.did}#key-3", f"{centre.did}#key-4"]
    states = {r.key_id: r.state for r in services.key_ring(db, kek, centre).records()}
    assert states[f"{centre.did}#key-1"] == KeyState.VERIFY_ONLY
    assert states[f"{centre.did}#key-3"] == KeyState.ACTIVE
    new = _issue(db, kek, centre, welding, now)
    assert json.loads(new.record.document)["proof"][0]["verificationMethod"].endswith("#key-3")
    for record in (old.record, new.record):
        for form in (record.document, record.jwt):
            assert verify_here(form).verdict == Verdict.VALID


def test_every_change_is_in_an_intact_audit_chain(db, kek, centre, welding, now):
    _issue(db, kek, centre, welding, now)
    actions = list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["organisation.created", "achievement.created", "credential.issued"]
    assert verify_chain(db) == (3, None)
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "achievement.created")).one()
    event.subject = "tampered"
    db.flush()
    assert verify_chain(db) == (2, event.id)


def test_rewrap_moves_every_key_to_the_new_kek(app, db, centre, welding, now):
    new_key = Fernet.generate_key().decode()
    both = load_kek(f"{new_key},{app.config['KEK']}")  # new KEK first, old one still accepted
    assert services.rewrap_keys(db, both, now=now) == 2
    only_new = load_kek(new_key)
    for record in db.scalars(select(SigningKey)):
        decrypt_private_key(only_new, record.encrypted_private_key)
    issued = _issue(db, only_new, centre, welding, now)
    assert issued.created


def test_rewrap_with_a_kek_that_opens_nothing_changes_nothing(db, centre, now):
    before = [
        r.encrypted_private_key for r in db.scalars(select(SigningKey).order_by(SigningKey.id))
    ]
    with pytest.raises(KeyDecryptionError):
        services.rewrap_keys(db, load_kek(Fernet.generate_key().decode()), now=now)
    after = [
        r.encrypted_private_key for r in db.scalars(select(SigningKey).order_by(SigningKey.id))
    ]
    assert after == before


def test_public_ids_never_start_with_a_hyphen():
    # ``tessera revoke -abc…`` would read the id as an option; 1 in 64 ids would.
    ids = [services.new_public_id() for _ in range(2_000)]
    assert not any(i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids) and all(len(i) == 22 for i in ids)
