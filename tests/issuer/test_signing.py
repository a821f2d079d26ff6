"""Bulk signing in a pool of processes gives exactly the credentials the worker would sign.

The pool is real: spawned processes, keys sent through its pipe. Signing is deterministic,
so the pool's output must be byte for byte what signing in this process gives, and every
credential must verify with an independent (pyld) canonicalization.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal

import pytest

from credentials.multikey import decode_multibase_base58btc
from credentials.proofs import jwt_vc
from issuer import bulk, signing
from issuer.audit import verify_chain
from issuer.models import IssuedCredential
from keys.ring import find_verification_key

from ..conftest import PUBLIC_URL
from ..helpers import NOW, StaticResolver, make_credential, make_signer, reference_canonical


@pytest.fixture
def pool():
    signing.configure(2)
    signing.warm()
    yield
    signing.configure(1)


def batch(count: int) -> list[dict]:
    return [
        make_credential(
            id=f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
            credentialSubject=make_credential()["credentialSubject"] | {"name": f"Learner {n}"},
        )
        for n in range(count)
    ]


def pyld_signature_valid(document: dict, public_key) -> bool:
    proof = dict(document.pop("proof")[0])
    signature = decode_multibase_base58btc(proof.pop("proofValue"))
    hash_data = (
        hashlib.sha256(
            reference_canonical({**proof, "@context": document["@context"]}).encode()
        ).digest()
        + hashlib.sha256(reference_canonical(document).encode()).digest()
    )
    public_key.verify(signature, hash_data)  # raises InvalidSignature when not
    return True


def test_the_pool_signs_byte_for_byte_what_the_worker_signs(pool):
    di, jwt = make_signer("EdDSA"), make_signer("RS256")
    unsigned = batch(signing.MIN_POOLED + 5)

    pooled = signing.sign_all(unsigned, di, jwt, NOW)

    here = [signing.sign(u, di, jwt, NOW) for u in unsigned]
    assert [(s.document, s.token) for s in pooled] == here
    assert all(s.refused is None for s in pooled)
    document = json.loads(pooled[3].document)
    assert document["credentialSubject"]["name"] == "Learner 3"
    assert pyld_signature_valid(document, di.public_key)
    decoded = jwt_vc.decode_vc_jwt(pooled[3].token, StaticResolver(jwt).resolve)
    assert decoded.credential["id"] == unsigned[3]["id"]


def test_a_credential_that_cannot_be_signed_is_refused_alone(pool):
    di, jwt = make_signer("EdDSA"), make_signer("RS256")
    unsigned = batch(signing.MIN_POOLED)
    unsigned[4] = unsigned[4] | {"favouriteColour": "green"}  # no context defines it

    pooled = signing.sign_all(unsigned, di, jwt, NOW)

    assert pooled[4].document is None and "favouriteColour" in (pooled[4].refused or "")
    assert all(s.refused is None for n, s in enumerate(pooled) if n != 4)


def test_a_killed_signing_process_costs_nothing_but_time(pool):
    di, jwt = make_signer("EdDSA"), make_signer("RS256")
    unsigned = batch(signing.MIN_POOLED)
    for pid in list(signing._executor._processes):  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)

    signed = signing.sign_all(unsigned, di, jwt, NOW)

    assert [(s.document, s.token) for s in signed] == [
        signing.sign(u, di, jwt, NOW) for u in unsigned
    ]
    # A new pool serves the next batch.
    assert signing.sign_all(unsigned, di, jwt, NOW) == signed


def test_a_bulk_job_signed_in_the_pool_verifies_everywhere(
    db, kek, centre, welding, now, pool, verify_here
):
    rows = [
        bulk.RowInput(
            row_number=n + 2,
            name=f"Learner {n}",
            email=f"learner{n}@example.org",
            evidence_url=f"https://portfolio.example.org/{n}" if n % 3 == 0 else "",
        )
        for n in range(40)
    ]
    job = bulk.create_job(
        db,
        organisation=centre,
        achievement=welding,
        rows=rows,
        filename="cohort.csv",
        created_by="coordinator@example.org",
        now=now,
    )
    bulk.confirm_job(db, job, now=now, actor="coordinator@example.org")

    outcome = bulk.process_job(db, kek, job_id=job.id, public_url=PUBLIC_URL, clock=lambda: now)

    assert outcome == bulk.Outcome.FINISHED
    assert (bulk.refresh(db, job).issued, bulk.refresh(db, job).failed) == (40, 0)
    records = db.query(IssuedCredential).filter_by(bulk_job_id=job.id).all()
    assert len({(r.status_list_id, r.status_index) for r in records}) == 40
    for record in records[:: len(records) // 4]:
        assert verify_here(json.loads(record.document)).verdict.value == "valid"
        assert verify_here(record.jwt).verdict.value == "valid"
    document = json.loads(records[-1].document)
    key, _ = find_verification_key(db, document["proof"][0]["verificationMethod"])
    assert pyld_signature_valid(document, key.public_key)
    with_evidence = next(r for r in records if r.evidence)
    assert json.loads(with_evidence.document)["evidence"][0]["id"].startswith("https://")
    assert verify_chain(db)[1] is None
