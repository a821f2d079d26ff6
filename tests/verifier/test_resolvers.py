"""Key resolution: this instance is authoritative for its own DIDs, and says so."""

from __future__ import annotations

import pytest

from credentials import InvalidProofError, UnresolvableKeyError
from issuer import services
from keys import KeyState
from verifier import Verdict, verify_credential
from verifier.resolvers import InstanceKeyResolver, instance_resolver

from ..helpers import make_signer, signed_json


def test_resolves_a_published_key_of_our_own_centre(db, centre):
    key = InstanceKeyResolver(db).resolve(f"{centre.did}#key-1")
    assert key.controller == centre.did
    assert key.algorithm == "EdDSA"


def test_a_key_our_centre_never_published_is_invalid_not_unknown(db, centre):
    with pytest.raises(InvalidProofError, match="publishes no key"):
        InstanceKeyResolver(db).resolve(f"{centre.did}#key-99")


def test_a_did_we_do_not_host_cannot_be_checked_here(db, centre):
    with pytest.raises(UnresolvableKeyError, match="not known here"):
        InstanceKeyResolver(db).resolve("did:web:elsewhere.test:orgs:x#key-1")


def test_a_forged_credential_naming_our_centre_with_an_unpublished_key_is_invalid(db, centre, now):
    forger = make_signer(did=centre.did, fragment="key-7")
    result = verify_credential(
        signed_json(forger), resolver=instance_resolver(db), now=now, trusted_issuers={centre.did}
    )
    assert result.verdict == Verdict.INVALID
    assert "publishes no key" in result.check("proof").message


def test_a_compromised_key_no_longer_verifies_and_says_why(db, kek, centre, now):
    ring = services.key_ring(db, kek, centre)
    record = ring.records()[0]
    record.state = KeyState.COMPROMISED
    db.flush()
    with pytest.raises(InvalidProofError, match="compromised"):
        InstanceKeyResolver(db).resolve(record.key_id)
    assert record.key_id not in {m["id"] for m in ring.did_document()["verificationMethod"]}


def test_did_key_credentials_resolve_through_the_instance_chain(db, now):
    signer = make_signer(did="did:key")
    result = verify_credential(signed_json(signer), resolver=instance_resolver(db), now=now)
    assert result.verdict == Verdict.ISSUER_NOT_RECOGNISED
    assert result.check("proof").outcome == "passed"
