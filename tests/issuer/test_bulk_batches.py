"""Bulk issuing writes rows in batches: one transaction for many credentials, each row once.

The fast path (batched commits, shape-cached canonicalization, signers decrypted once per
batch) must give credentials that verify everywhere a one-by-one credential does, and a
batch must be all or nothing when the worker dies in the middle of it.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import func, select, update

from credentials.multikey import decode_multibase_base58btc
from issuer import bulk
from issuer.audit import verify_chain
from issuer.models import BulkRow, IssuedCredential
from keys.ring import find_verification_key

from ..conftest import PUBLIC_URL
from ..helpers import reference_canonical


def learners(count: int) -> list[bulk.RowInput]:
    return [
        bulk.RowInput(row_number=n + 2, name=f"Learner {n}", email=f"learner{n}@example.org")
        for n in range(count)
    ]


@pytest.fixture
def job(db, centre, welding, now):
    def make(count: int):
        made = bulk.create_job(
            db,
            organisation=centre,
            achievement=welding,
            rows=learners(count),
            filename="cohort.csv",
            created_by="coordinator@example.org",
            now=now,
        )
        return bulk.confirm_job(db, made, now=now, actor="coordinator@example.org")

    return make


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(bulk, "BATCH_ROWS", 2)


def run(db, kek, job, now, **options):
    return bulk.process_job(
        db, kek, job_id=job.id, public_url=PUBLIC_URL, clock=lambda: now, **options
    )


def issued_records(db, job):
    return db.scalars(
        select(IssuedCredential)
        .where(IssuedCredential.bulk_job_id == job.id)
        .order_by(IssuedCredential.id)
    ).all()


def test_a_job_of_several_batches_issues_every_row_once(db, kek, job, now, small_batches):
    made = job(5)

    assert run(db, kek, made, now) == bulk.Outcome.FINISHED

    current = bulk.refresh(db, made)
    assert (current.issued, current.failed) == (5, 0)
    records = issued_records(db, made)
    assert len({r.idempotency_key for r in records}) == 5
    assert len({(r.status_list_id, r.status_index) for r in records}) == 5
    assert verify_chain(db)[1] is None


def test_batched_credentials_verify_in_both_forms(db, kek, job, now, small_batches, verify_here):
    made = job(3)
    run(db, kek, made, now)

    for record in issued_records(db, made):
        assert verify_here(json.loads(record.document)).verdict.value == "valid"
        assert verify_here(record.jwt).verdict.value == "valid"


def test_batched_proofs_verify_with_pyld_canonicalization_alone(db, kek, job, now):
    made = job(3)
    run(db, kek, made, now)

    for record in issued_records(db, made):
        document = json.loads(record.document)
        proof = dict(document.pop("proof")[0])
        signature = decode_multibase_base58btc(proof.pop("proofValue"))
        key, _ = find_verification_key(db, proof["verificationMethod"])
        hash_data = (
            hashlib.sha256(
                reference_canonical({**proof, "@context": document["@context"]}).encode()
            ).digest()
            + hashlib.sha256(reference_canonical(document).encode()).digest()
        )
        key.public_key.verify(signature, hash_data)  # raises InvalidSignature if not


def test_a_row_refused_in_the_middle_of_a_batch_fails_alone(db, kek, job, now):
    made = job(3)
    # Row 3's evidence became something issuing refuses (the preview had accepted it).
    db.execute(
        update(BulkRow)
        .where(BulkRow.job_id == made.id, BulkRow.row_number == 3)
        .values(evidence="not a web address")
    )
    db.commit()

    assert run(db, kek, made, now) == bulk.Outcome.FINISHED

    rows = db.scalars(
        select(BulkRow).where(BulkRow.job_id == made.id).order_by(BulkRow.row_number)
    ).all()
    assert [r.status for r in rows] == ["issued", "failed", "issued"]
    assert "http(s) address" in rows[1].message
    assert len(issued_records(db, made)) == 2


def test_a_worker_dying_mid_batch_leaves_none_of_that_batch(db, kek, job, now, monkeypatch):
    made = job(3)
    asked = []

    def dies_before_the_third_row():
        asked.append(True)
        if len(asked) == 3:
            raise KeyboardInterrupt  # the process is stopped hard, in the middle of a batch
        return False

    with pytest.raises(KeyboardInterrupt):
        run(db, kek, made, now, should_stop=dies_before_the_third_row)

    # Rows 1 and 2 were issued in the batch that never committed: no trace of them.
    assert db.scalar(select(func.count()).select_from(IssuedCredential)) == 0
    current = bulk.refresh(db, made)
    assert (current.state, current.issued) == ("queued", 0)

    assert run(db, kek, made, now) == bulk.Outcome.FINISHED
    assert len(issued_records(db, made)) == 3
    assert bulk.refresh(db, made).issued == 3
