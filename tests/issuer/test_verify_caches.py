"""What the verify path keeps between requests never outlives a revocation or a compromise.

Parsed keys and compiled schemas are kept (they are functions of data that never changes), so
are our centres' DIDs; whether a key may still be used and whether a credential is revoked
are read every time.
"""

from __future__ import annotations

import json

import pytest

from credentials.errors import StatusUnavailableError
from credentials.status_list import StatusEntry
from issuer import services, status, verification
from keys import KeyState, did_web

from ..conftest import PUBLIC_URL, issue_to_amina


def _issue(db, kek, centre, welding, now):
    return issue_to_amina(db, kek, centre, welding, now).record


def _verdict(client, credential) -> str:
    response = client.post("/api/v1/verify", json={"credential": credential})
    assert response.status_code == 200
    return response.json["verdict"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("form", ["jwt", "document"])
def test_a_revocation_is_seen_by_the_next_verification(client, db, kek, centre, welding, now, form):
    record = _issue(db, kek, centre, welding, now)
    credential = record.jwt if form == "jwt" else json.loads(record.document)
    assert _verdict(client, credential) == "valid"
    services.revoke_credential(db, record, reason="issued in error", now=now)
    assert _verdict(client, credential) == "revoked"


def test_a_compromised_key_stops_verifying_at_once_though_it_was_used_before(
    client, db, kek, centre, welding, now
):
    record = _issue(db, kek, centre, welding, now)
    assert _verdict(client, record.jwt) == "valid"  # the key is now parsed and kept
    ring = services.key_ring(db, kek, centre)
    for key in ring.records():
        key.state = KeyState.COMPROMISED
    db.commit()
    assert _verdict(client, record.jwt) == "invalid"
    assert _verdict(client, json.loads(record.document)) == "invalid"


@pytest.mark.parametrize("sequence", ["²", "1" * 30, "x", ""])
def test_a_list_url_without_a_usable_number_names_no_list(db, centre, sequence):
    source = status.LocalStatusSource(db, PUBLIC_URL)
    entry = StatusEntry(f"{PUBLIC_URL}/orgs/{centre.slug}/status/{sequence}", 1, "revocation")
    with pytest.raises(StatusUnavailableError, match="there is no status list"):
        source.bits(entry, issuer=centre.did, now=None)


def test_a_centre_is_trusted_from_the_moment_it_exists(app, db, kek, now):
    """Our centres are remembered as trusted once found; a DID not (yet) ours is asked again."""
    known: set[str] = set()
    trusted = verification.TrustedIssuers(db, [], known)
    did = did_web(PUBLIC_URL, "orgs", "eastside")
    assert did not in trusted
    assert did not in trusted  # still asked: nothing remembered about a stranger
    assert not known
    services.create_organisation(
        db, kek, slug="eastside", name="Eastside Skills", public_url=PUBLIC_URL, now=now
    )
    assert did in trusted
    assert known == {did}
    assert did in verification.TrustedIssuers(db, [], known)  # remembered across requests
    assert "did:web:elsewhere.example" not in trusted
