"""Many issuers at once, on real connections: no status index is ever handed out twice."""

from __future__ import annotations

import json
import threading
from itertools import repeat

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from issuer import migrate, services, status
from issuer.audit import verify_chain
from issuer.db import make_engine
from issuer.models import Achievement, IssuedCredential, Organisation, StatusList
from keys import load_kek

from ..conftest import PUBLIC_URL
from ..helpers import NOW

THREADS = 8
PER_THREAD = 5


@pytest.fixture
def shared_database(database_factory):
    """A fresh, migrated database whose writes really commit (no rolled-back test transaction)."""
    engine = make_engine(database_factory())
    migrate.upgrade(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def _run_issuers(make_session, kek):
    with make_session() as session:
        centre = services.create_organisation(
            session, kek, slug="busy", name="Busy Centre", public_url=PUBLIC_URL, now=NOW
        )
        achievement = services.create_achievement(
            session,
            organisation=centre,
            name="Stack pallets",
            description="D",
            criteria="C",
            now=NOW,
        )
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def issuer_thread(number: int) -> None:
        try:
            with make_session() as session:
                organisation = session.get(Organisation, centre.id)
                awarded = session.get(Achievement, achievement.id)
                barrier.wait(timeout=30)
                for i in range(PER_THREAD):
                    services.issue_credential(
                        session,
                        kek,
                        organisation=organisation,
                        achievement=awarded,
                        name=f"Learner {number}-{i}",
                        email=f"l{number}-{i}@example.org",
                        public_url=PUBLIC_URL,
                        now=NOW,
                    )
        except BaseException as e:  # collected and asserted on below
            errors.append(e)

    threads = [threading.Thread(target=issuer_thread, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "an issuer thread hung"
    assert errors == []
    return centre


def _assert_consistent(make_session):
    with make_session() as session:
        records = session.scalars(select(IssuedCredential)).all()
        assert len(records) == THREADS * PER_THREAD
        indexes = [(r.status_list_id, r.status_index) for r in records]
        assert len(set(indexes)) == len(indexes)
        for record in records:  # the signed document says what the row says
            entry = json.loads(record.document)["credentialStatus"]
            assert int(entry["statusListIndex"]) == record.status_index
        allocated = session.scalar(select(func.sum(StatusList.allocated)))
        assert allocated == len(records)
        count, broken = verify_chain(session)
        assert broken is None and count == len(records) + 2


def test_concurrent_issuers_get_unique_random_indexes(shared_database):
    kek = load_kek(Fernet.generate_key().decode())
    _run_issuers(shared_database, kek)
    _assert_consistent(shared_database)


def test_issuers_that_draw_the_same_index_retry_and_all_succeed(shared_database, monkeypatch):
    """Every issuer draws index 7 first: the constraint refuses all but one, and they retry."""
    draws = repeat(7)
    monkeypatch.setattr(status, "randbelow", lambda _n: next(draws))
    kek = load_kek(Fernet.generate_key().decode())
    _run_issuers(shared_database, kek)
    _assert_consistent(shared_database)
    with shared_database() as session:
        indexes = set(session.scalars(select(IssuedCredential.status_index)))
    assert 7 in indexes and len(indexes) == THREADS * PER_THREAD


def test_concurrent_revocations_of_one_list_lose_no_bit_and_revoke_once(shared_database):
    """Two sessions that loaded the same rows revoke: both bits stay set, no second reason."""
    from credentials.status_list import get_bit
    from issuer.errors import ConflictError

    kek = load_kek(Fernet.generate_key().decode())
    with shared_database() as setup:
        centre = services.create_organisation(
            setup, kek, slug="rev", name="Rev", public_url=PUBLIC_URL, now=NOW
        )
        achievement = services.create_achievement(
            setup, organisation=centre, name="N", description="D", criteria="C", now=NOW
        )
        first, second = (
            services.issue_credential(
                setup,
                kek,
                organisation=centre,
                achievement=achievement,
                name=f"L{i}",
                email=f"l{i}@example.org",
                public_url=PUBLIC_URL,
                now=NOW,
            ).record
            for i in range(2)
        )
    one, two = shared_database(), shared_database()
    try:
        mine = one.get(IssuedCredential, first.id)
        theirs = two.get(IssuedCredential, second.id)
        one.get(StatusList, mine.status_list_id)  # both sessions hold the list's old bits
        two.get(StatusList, theirs.status_list_id)
        stale = two.get(IssuedCredential, first.id)  # session two holds it unrevoked
        services.revoke_credential(one, mine, reason="first", now=NOW)
        services.revoke_credential(two, theirs, reason="second", now=NOW)
        with pytest.raises(ConflictError, match="already revoked"):
            services.revoke_credential(two, stale, reason="again", now=NOW)
    finally:
        one.close()
        two.close()
    with shared_database() as check:
        bits = check.scalars(select(StatusList)).one().bits
        assert get_bit(bits, first.status_index) and get_bit(bits, second.status_index)
        assert check.get(IssuedCredential, first.id).revocation_reason == "first"
