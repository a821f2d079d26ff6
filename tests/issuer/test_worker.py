"""The worker's page behind a claim link."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

from issuer import claims
from issuer.unit_of_work import transaction

from ..conftest import PUBLIC_URL, issue_to_amina


def _issued_with_link(db, kek, centre, welding, now):
    record = issue_to_amina(db, kek, centre, welding, now).record
    with transaction(db):
        token = claims.new_claim_token(db, record, now=now)
    return record, token


def test_a_claim_link_opens_the_workers_wallet_privately(client, db, kek, centre, welding, now):
    record, token = _issued_with_link(db, kek, centre, welding, now)
    opened = client.get(f"/claim/{token}")
    # The token leaves the address bar at once: the wallet lives at /wallet.
    assert opened.status_code == HTTPStatus.SEE_OTHER
    assert opened.headers["Location"].endswith("/wallet")
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    response = client.get("/wallet")
    assert response.status_code == HTTPStatus.OK
    page = response.get_data(as_text=True)
    assert "Your credentials, Amina Haddad" in page and "Perform MAG welding" in page
    assert f"{PUBLIC_URL}/v/{record.public_id}" in page
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"


def test_replaced_expired_and_guessed_links_do_not_open(client, db, kek, centre, welding, now):
    record, first = _issued_with_link(db, kek, centre, welding, now)
    with transaction(db):
        claims.new_claim_token(db, record, now=now)  # re-issued: the first link retires
    assert client.get(f"/claim/{first}").status_code == HTTPStatus.NOT_FOUND
    assert client.get("/claim/guessed-token").status_code == HTTPStatus.NOT_FOUND
    with transaction(db):
        latest = claims.new_claim_token(
            db, record, now=now - claims.CLAIM_LIFETIME - timedelta(days=1)
        )
    assert client.get(f"/claim/{latest}").status_code == HTTPStatus.NOT_FOUND
