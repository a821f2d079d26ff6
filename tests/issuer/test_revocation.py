"""Revocation end to end: status entries, revoke, the published lists, and what verifiers see."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus

import pytest
from sqlalchemy import select

from credentials.errors import StatusUnavailableError
from credentials.status_list import get_bit, parse_status_entries, read_status_list_credential
from issuer import services, status
from issuer.clock import utcnow
from issuer.errors import ConflictError, InvalidRequestError
from issuer.models import AuditEvent, StatusList
from verifier import Outcome, Verdict, verify_credential
from verifier.resolvers import instance_resolver
from verifier.status import RemoteStatusSource, StatusChain, verify_list_credential

from ..conftest import PUBLIC_URL


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


def test_every_credential_carries_its_own_random_status_entry(db, kek, centre, welding, now):
    records = [_issue(db, kek, centre, welding, now, name=f"Learner {i}") for i in range(12)]
    entries = [json.loads(r.document)["credentialStatus"] for r in records]
    indexes = [int(e["statusListIndex"]) for e in entries]
    assert len(set(indexes)) == 12
    assert indexes != sorted(indexes)  # allocated at random, not in issue order
    for record, entry in zip(records, entries, strict=True):
        assert entry["type"] == "BitstringStatusListEntry"
        assert entry["statusPurpose"] == "revocation"
        assert entry["statusListCredential"] == f"{PUBLIC_URL}/orgs/northside/status/1"
        assert entry["id"] == f"{entry['statusListCredential']}#{entry['statusListIndex']}"
        assert record.status_index == int(entry["statusListIndex"])


def test_revoked_credential_is_revoked_at_once_in_both_forms(
    db, kek, centre, welding, now, verify_here
):
    record = _issue(db, kek, centre, welding, now)
    other = _issue(db, kek, centre, welding, now, name="Oleksandr Kovalenko")
    services.revoke_credential(db, record, reason="Issued to the wrong learner", now=now)
    for form in (record.document, record.jwt):
        result = verify_here(form)
        assert result.verdict == Verdict.REVOKED
        assert result.check("status").message == "revoked by its issuer"
    assert verify_here(other.document).verdict == Verdict.VALID
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "credential.revoked")).one()
    assert json.loads(event.details) == {"reason": "Issued to the wrong learner"}


def test_a_second_revoke_is_a_conflict_that_changes_nothing(db, kek, centre, welding, now):
    record = _issue(db, kek, centre, welding, now)
    services.revoke_credential(db, record, reason="Mistake", now=now)
    version = db.scalars(select(StatusList)).one().version
    with pytest.raises(ConflictError, match="already revoked"):
        services.revoke_credential(db, record, reason="Again", now=now + timedelta(hours=1))
    db.expire_all()
    assert db.scalars(select(StatusList)).one().version == version
    assert record.revocation_reason == "Mistake"


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_reason_is_required(db, kek, centre, welding, now, reason):
    record = _issue(db, kek, centre, welding, now)
    with pytest.raises(InvalidRequestError, match="reason"):
        services.revoke_credential(db, record, reason=reason, now=now)
    assert record.revoked_at is None


def test_a_full_list_rolls_over_to_a_new_one(db, kek, centre, welding, now):
    _issue(db, kek, centre, welding, now)
    first = db.scalars(select(StatusList)).one()
    first.allocated = first.length
    db.commit()
    record = _issue(db, kek, centre, welding, now, name="Next Learner")
    entry = json.loads(record.document)["credentialStatus"]
    assert entry["statusListCredential"].endswith("/status/2")


# -- the published list ---------------------------------------------------------------------


def _fetch(client, path, accept="application/vc+ld+json", **headers):
    return client.get(path, headers={"Accept": accept, **headers})


def test_published_list_is_signed_and_shows_the_revocation(client, db, kek, centre, welding, now):
    record = _issue(db, kek, centre, welding, now)
    services.revoke_credential(db, record, reason="Mistake", now=now)
    response = _fetch(client, "/orgs/northside/status/1")
    assert response.status_code == HTTPStatus.OK
    assert response.mimetype == "application/vc+ld+json"
    document = response.get_json(force=True)
    assert document["proof"][0]["cryptosuite"] == "eddsa-rdfc-2022"
    verified = verify_list_credential(document, instance_resolver(db))
    assert get_bit(read_status_list_credential(verified, purpose="revocation"), record.status_index)
    cache = response.cache_control
    assert cache.public and 0 < cache.max_age <= 300
    assert response.headers["ETag"]


def test_published_list_as_a_jwt_on_request(client, db, kek, centre, welding, now):
    _issue(db, kek, centre, welding, now)
    response = _fetch(client, "/orgs/northside/status/1", accept="application/vc+jwt")
    assert response.status_code == HTTPStatus.OK
    assert response.mimetype == "application/vc+jwt"
    verified = verify_list_credential(response.get_data(as_text=True), instance_resolver(db))
    assert verified["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]


def test_unchanged_list_answers_304_to_its_etag_and_a_revocation_changes_it(
    client, db, kek, centre, welding, now
):
    record = _issue(db, kek, centre, welding, now)
    first = _fetch(client, "/orgs/northside/status/1")
    etag = first.headers["ETag"]
    again = _fetch(client, "/orgs/northside/status/1", **{"If-None-Match": etag})
    assert again.status_code == HTTPStatus.NOT_MODIFIED
    services.revoke_credential(db, record, reason="Mistake", now=now)
    changed = _fetch(client, "/orgs/northside/status/1", **{"If-None-Match": etag})
    assert changed.status_code == HTTPStatus.OK
    assert changed.headers["ETag"] != etag


@pytest.mark.parametrize("path", ["/orgs/northside/status/9", "/orgs/nowhere/status/1"])
def test_unknown_lists_are_404_problems(client, centre, path):
    response = client.get(path)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.mimetype == "application/problem+json"


# -- a verifier elsewhere, reading the published list over "HTTP" ---------------------------


@dataclass
class _Fetched:
    body: bytes
    cache_control_max_age: int | None

    def json(self):
        return json.loads(self.body)

    def max_age(self):
        return self.cache_control_max_age


class ClientFetcher:
    """A fake at the edge of the network: serves GETs from the app's test client."""

    def __init__(self, client, *, tamper=None, fail=False):
        self.client, self.tamper, self.fail, self.requests = client, tamper, fail, []

    def get(self, url, *, accept):
        self.requests.append(url)
        if self.fail:
            raise StatusUnavailableError("connection refused")
        response = self.client.get(url.removeprefix(PUBLIC_URL), headers={"Accept": accept})
        body = response.get_data()
        if self.tamper:
            body = self.tamper(body)
        return _Fetched(body, response.cache_control.max_age)


def _remote_verify(db, record, fetcher, now):
    now = utcnow()  # the route publishes lists with the service's clock
    remote = RemoteStatusSource(fetcher, instance_resolver(db), clock=lambda: now)
    return verify_credential(
        record.document,
        resolver=instance_resolver(db),
        now=now,
        status=StatusChain([remote]),
        trusted_issuers={record.organisation.did},
    )


def test_a_remote_verifier_sees_the_revocation_through_the_published_list(
    client, db, kek, centre, welding, now
):
    record = _issue(db, kek, centre, welding, now)
    assert _remote_verify(db, record, ClientFetcher(client), now).verdict == Verdict.VALID
    services.revoke_credential(db, record, reason="Mistake", now=now)
    assert _remote_verify(db, record, ClientFetcher(client), now).verdict == Verdict.REVOKED


def _flip_bit_in_encoded_list(body: bytes) -> bytes:
    document = json.loads(body)
    encoded = document["credentialSubject"]["encodedList"]
    document["credentialSubject"]["encodedList"] = (
        encoded[:-3] + ("A" if encoded[-3] != "A" else "B") + encoded[-2:]
    )
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("fetcher_options", "reason"),
    [
        ({"fail": True}, "could not be fetched"),
        ({"tamper": _flip_bit_in_encoded_list}, "does not verify"),
        ({"tamper": lambda body: body[: len(body) // 2]}, "could not be fetched"),
    ],
    ids=["unreachable", "tampered", "truncated"],
)
def test_an_unusable_list_means_could_not_check_never_not_revoked(
    client, db, kek, centre, welding, now, fetcher_options, reason
):
    record = _issue(db, kek, centre, welding, now)
    result = _remote_verify(db, record, ClientFetcher(client, **fetcher_options), now)
    assert result.verdict == Verdict.COULD_NOT_CHECK
    check = result.check("status")
    assert check.outcome == Outcome.COULD_NOT_CHECK
    assert reason in check.message


def test_a_stale_list_is_not_used(client, db, kek, centre, welding, now):
    record = _issue(db, kek, centre, welding, now)
    later = now + timedelta(hours=1)  # the list served at `now` is valid for 300 s
    fetched_then = ClientFetcher(client)
    remote = RemoteStatusSource(fetched_then, instance_resolver(db), clock=lambda: later)
    status_list = db.scalars(select(StatusList)).one()
    status.publish(db, kek, status_list, public_url=PUBLIC_URL, now=now, ttl=300)
    result = verify_credential(
        record.document,
        resolver=instance_resolver(db),
        now=later,
        status=StatusChain([remote]),
        trusted_issuers={centre.did},
    )
    assert result.verdict == Verdict.COULD_NOT_CHECK
    assert "stale" in result.check("status").message


def test_remote_lists_are_cached_for_their_freshness_period(client, db, kek, centre, welding, now):
    record = _issue(db, kek, centre, welding, now)
    fetcher = ClientFetcher(client)
    now = utcnow()  # the route publishes lists with the service's clock
    clock = [now]
    remote = RemoteStatusSource(fetcher, instance_resolver(db), clock=lambda: clock[0])
    for _ in range(3):
        verify_credential(
            record.document,
            resolver=instance_resolver(db),
            now=clock[0],
            status=StatusChain([remote]),
        )
    assert len(fetcher.requests) == 1
    clock[0] = now + timedelta(seconds=301)
    verify_credential(
        record.document, resolver=instance_resolver(db), now=clock[0], status=StatusChain([remote])
    )
    assert len(fetcher.requests) == 2


def test_a_list_claimed_for_another_issuer_is_not_trusted(db, kek, centre, welding, now):
    record = _issue(db, kek, centre, welding, now)
    other = services.create_organisation(
        db, kek, slug="southside", name="Southside", public_url=PUBLIC_URL, now=now
    )
    source = status.LocalStatusSource(db, PUBLIC_URL)
    entry = json.loads(record.document)["credentialStatus"]
    (parsed,) = parse_status_entries({"credentialStatus": entry})
    with pytest.raises(StatusUnavailableError, match="another issuer"):
        source.bits(parsed, issuer=other.did, now=now)


def test_a_list_signed_by_a_clock_slightly_ahead_is_still_used(
    client, db, kek, centre, welding, now
):
    record = _issue(db, kek, centre, welding, now)
    behind = utcnow() - timedelta(seconds=30)  # our clock 30 s behind the publisher's
    remote = RemoteStatusSource(ClientFetcher(client), instance_resolver(db), clock=lambda: behind)
    result = verify_credential(
        record.document,
        resolver=instance_resolver(db),
        now=behind,
        status=StatusChain([remote]),
        trusted_issuers={centre.did},
    )
    assert result.verdict == Verdict.VALID
