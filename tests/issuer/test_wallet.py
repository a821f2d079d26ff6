"""The worker's wallet, as a worker opening their link and an employer checking their files see it.

Every request goes through the real app (test client) and every answer is checked the way a
person would check it: the page says so, the file verifies, the mail arrives.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http import HTTPStatus
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

import credentials
from credentials import baking, portable
from issuer import claims, mail, services
from issuer.clock import utcnow
from issuer.models import (
    AuditEvent,
    ClaimToken,
    EmailProof,
    HeldCredential,
    IssuedCredential,
    WalletSession,
)
from issuer.unit_of_work import transaction
from verifier.qr import qr_png

from ..conftest import PUBLIC_URL
from ..helpers import make_credential, make_signer, signed_json, signed_jwt

AMINA = "amina@example.org"
BOB = "bob@example.org"
CONFIRM_LINK = re.compile(re.escape(PUBLIC_URL) + r"/wallet/confirm/([A-Za-z0-9_-]+)")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PER_CREDENTIAL_FILES = (
    "credential.json",
    "credential.jwt",
    "badge.png",
    "badge.svg",
    "qr.png",
    "qr.svg",
    "certificate.html",
    "certificate.pdf",
)


# -- the scene: two centres, Amina and Bob ------------------------------------------------------


@dataclass
class Scene:
    welding: IssuedCredential  # Northside to Amina
    forklift: IssuedCredential  # Northside to Amina
    harbour: IssuedCredential  # another centre (Harbour) to Amina
    bob: IssuedCredential  # Northside to someone else
    tokens: dict[int, str] = field(default_factory=dict)  # credential id -> claim token


def _issue(db, kek, organisation, achievement, now, *, email=AMINA, name="Amina Haddad"):
    return services.issue_credential(
        db,
        kek,
        organisation=organisation,
        achievement=achievement,
        name=name,
        email=email,
        public_url=PUBLIC_URL,
        now=now,
    ).record


@pytest.fixture
def scene(db, kek, centre, welding, now) -> Scene:
    forklift = services.create_achievement(
        db,
        organisation=centre,
        name="Operate a forklift truck",
        description="Moves pallets safely.",
        criteria="Passed the practical test.",
        now=now,
    )
    harbour = services.create_organisation(
        db, kek, slug="harbour", name="Harbour Trades College", public_url=PUBLIC_URL, now=now
    )
    rigging = services.create_achievement(
        db,
        organisation=harbour,
        name="Rig loads for a crane lift",
        description="Slings and signals loads.",
        criteria="Observed on site.",
        now=now,
    )
    found = Scene(
        welding=_issue(db, kek, centre, welding, now),
        forklift=_issue(db, kek, centre, forklift, now),
        # Typed differently at Harbour's desk: still Amina's address.
        harbour=_issue(db, kek, harbour, rigging, now, email=" Amina@Example.ORG "),
        bob=_issue(db, kek, centre, welding, now, email=BOB, name="Bob Martin"),
    )
    with transaction(db):
        for record in (found.welding, found.forklift, found.harbour, found.bob):
            found.tokens[record.id] = claims.new_claim_token(db, record, now=now)
    return found


def open_with_claim(client, scene: Scene, record: IssuedCredential) -> None:
    response = client.get(f"/claim/{scene.tokens[record.id]}")
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert response.headers["Location"].endswith("/wallet")


def csrf_token(client) -> str:
    page = client.get("/wallet")
    assert page.status_code == HTTPStatus.OK
    found = CSRF.search(page.get_data(as_text=True))
    assert found is not None
    return found.group(1)


def shown(page: str) -> set[str]:
    """The public ids of the credential cards a wallet page shows."""
    return set(re.findall(r'data-public-id="([^"]+)"', page))


def outbox(app) -> list[EmailMessage]:
    return [
        BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        for path in mail.outbox_messages(app.config)
    ]


def proofs_for(db, email: str) -> int:
    return db.scalar(select(func.count()).select_from(EmailProof).where(EmailProof.email == email))


def held_count(db) -> int:
    return db.scalar(select(func.count()).select_from(HeldCredential))


def verify_api(client, credential: Any, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/verify", json={"credential": credential, **extra})
    assert response.status_code == HTTPStatus.OK
    return response.get_json()


def verify_bytes(client, data: bytes, content_type: str) -> dict[str, Any]:
    response = client.post("/api/v1/verify", data=data, content_type=content_type)
    assert response.status_code == HTTPStatus.OK
    return response.get_json()


def codes(report: dict[str, Any]) -> set[str]:
    return {c["code"] for c in report["checks"] if c.get("code")}


def email_link(client) -> Any:
    return client.post("/wallet/email-link", data={"csrf_token": csrf_token(client)})


def use_email_link(client, token: str):
    """Open the e-mailed link's page (which uses nothing), then press its button."""
    page = client.get(f"/wallet/confirm/{token}")
    if page.status_code != HTTPStatus.OK:
        return page
    assert "Open my credentials" in page.get_data(as_text=True)
    found = CSRF.search(page.get_data(as_text=True))
    assert found, "the link's page has no form"
    return client.post(f"/wallet/confirm/{token}", data={"csrf_token": found.group(1)})


def confirm_token(message: EmailMessage) -> str:
    found = CONFIRM_LINK.search(message.get_body(preferencelist=("plain",)).get_content())
    assert found is not None, "the message carries no sign-in link"
    return found.group(1)


# -- 1. getting in ------------------------------------------------------------------------------


def test_a_claim_link_shows_what_that_centre_issued_to_that_address(client, scene):
    open_with_claim(client, scene, scene.welding)
    response = client.get("/wallet")
    assert response.status_code == HTTPStatus.OK
    page = response.get_data(as_text=True)
    # Both of Northside's credentials for Amina; not Harbour's, not Bob's.
    assert shown(page) == {scene.welding.public_id, scene.forklift.public_id}
    assert "Perform MAG welding" in page and "Operate a forklift truck" in page
    assert "Rig loads for a crane lift" not in page and "Bob Martin" not in page
    # And it offers the way to see the other centres' credentials.
    assert "Credentials from other training centres" in page
    assert "a•••@example.org" in page


def test_without_a_session_the_wallet_asks_for_the_link(client):
    response = client.get("/wallet")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    page = response.get_data(as_text=True)
    assert "Open your wallet with your link" in page
    assert "Ask the training centre to send you a new one" in page
    assert response.headers["Cache-Control"] == "no-store"


def test_signing_out_ends_the_session_even_for_a_copied_cookie(app, client, db, scene):
    open_with_claim(client, scene, scene.welding)
    cookie = app.config["SESSION_COOKIE_NAME"]
    copied = client.get_cookie(cookie).value
    response = client.post("/wallet/sign-out", data={"csrf_token": csrf_token(client)})
    assert response.status_code == HTTPStatus.OK
    assert "You have left your wallet" in response.get_data(as_text=True)
    assert client.get("/wallet").status_code == HTTPStatus.UNAUTHORIZED
    # Someone who copied the cookie before sign-out gets nothing either: it ended server-side.
    other = app.test_client()
    other.set_cookie(cookie, copied)
    assert other.get("/wallet").status_code == HTTPStatus.UNAUTHORIZED
    ended = db.scalars(select(WalletSession)).all()
    assert [s.ended_at is not None for s in ended] == [True]


# -- 2. proving the e-mail address ------------------------------------------------------------


def test_the_emailed_link_opens_every_centres_credentials_once(app, client, db, scene):
    open_with_claim(client, scene, scene.welding)
    response = email_link(client)
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert "notice=link-sent" in response.headers["Location"]
    assert "We sent a sign-in link to a•••@example.org" in client.get(
        response.headers["Location"]
    ).get_data(as_text=True)

    messages = outbox(app)
    assert len(messages) == 1
    assert messages[0]["To"] == AMINA
    token = confirm_token(messages[0])

    # Opening the page (as a mail scanner would) spends nothing.
    assert client.get(f"/wallet/confirm/{token}").status_code == HTTPStatus.OK
    assert client.get(f"/wallet/confirm/{token}").status_code == HTTPStatus.OK
    opened = use_email_link(client, token)
    assert opened.status_code == HTTPStatus.SEE_OTHER
    assert opened.headers["Location"].endswith("/wallet")
    page = client.get("/wallet").get_data(as_text=True)
    assert shown(page) == {
        scene.welding.public_id,
        scene.forklift.public_id,
        scene.harbour.public_id,
    }
    assert "Rig loads for a crane lift" in page and "Harbour Trades College" in page
    assert "Credentials from other training centres" not in page  # nothing more to widen

    again = use_email_link(client, token)
    assert again.status_code == HTTPStatus.NOT_FOUND
    assert "has been used or has expired" in again.get_data(as_text=True)
    # The stored proof is the token's hash, never the token.
    stored = db.scalars(select(EmailProof)).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest() != token


def test_the_emailed_link_expires_after_thirty_minutes(app, client, db, scene, monkeypatch):
    open_with_claim(client, scene, scene.welding)
    email_link(client)
    email_link(client)
    late, in_time = (confirm_token(m) for m in outbox(app))
    sent = utcnow()

    monkeypatch.setattr("issuer.worker.utcnow", lambda: sent + timedelta(minutes=31))
    response = use_email_link(client, late)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "for 30 minutes" in response.get_data(as_text=True)
    assert shown(client.get("/wallet").get_data(as_text=True)) == {
        scene.welding.public_id,
        scene.forklift.public_id,
    }

    monkeypatch.setattr("issuer.worker.utcnow", lambda: sent + timedelta(minutes=29))
    assert use_email_link(client, in_time).status_code == HTTPStatus.SEE_OTHER
    assert scene.harbour.public_id in shown(client.get("/wallet").get_data(as_text=True))


def test_a_fourth_link_within_the_hour_is_refused(app, client, db, scene):
    open_with_claim(client, scene, scene.welding)
    for _ in range(3):
        assert email_link(client).status_code == HTTPStatus.SEE_OTHER
    response = email_link(client)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    page = response.get_data(as_text=True)
    assert "we already sent 3 links to this address in the last hour" in page
    assert "check your inbox" in page
    assert len(outbox(app)) == 3
    assert proofs_for(db, AMINA) == 3


class Collecting:
    """An aiosmtpd handler that keeps every envelope it is given."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
        self.envelopes.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Collecting]]:
    handler = Collecting()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


def test_with_an_smtp_server_the_link_is_mailed_not_kept(
    app, client, db, scene, smtp_server, no_network
):
    port, handler = smtp_server
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    open_with_claim(client, scene, scene.welding)
    assert email_link(client).status_code == HTTPStatus.SEE_OTHER

    assert len(handler.envelopes) == 1
    envelope = handler.envelopes[0]
    assert envelope.rcpt_tos == [AMINA]
    message = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
    assert message["To"] == AMINA
    assert message["From"] == "Tessera <no-reply@tessera.test>"
    assert outbox(app) == []
    # The mailed link works like any other.
    assert use_email_link(client, confirm_token(message)).status_code == HTTPStatus.SEE_OTHER
    assert scene.harbour.public_id in shown(client.get("/wallet").get_data(as_text=True))
    assert no_network == []


def test_when_the_mail_server_is_down_nothing_claims_a_mail_was_sent(app, client, db, scene):
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{_free_port()}"  # nobody listens there
    open_with_claim(client, scene, scene.welding)
    response = email_link(client)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert "could not be sent" in response.get_data(as_text=True)
    assert proofs_for(db, AMINA) == 0
    assert outbox(app) == []


# -- 3. the public link switch ----------------------------------------------------------------


def _set_public_link(client, public_id: str, visible: str):
    return client.post(
        f"/wallet/c/{public_id}/public-link",
        data={"visible": visible, "csrf_token": csrf_token(client)},
    )


def test_turning_the_public_page_off_hides_it_but_the_file_still_verifies(client, db, scene):
    record = scene.welding
    open_with_claim(client, scene, record)
    verify_url = f"{PUBLIC_URL}/v/{record.public_id}"

    response = _set_public_link(client, record.public_id, "off")
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert "notice=link-hidden" in response.headers["Location"]
    page = client.get("/wallet").get_data(as_text=True)
    assert "Public check page: off" in page
    assert verify_url not in page

    public = client.get(f"/v/{record.public_id}")
    assert public.status_code == HTTPStatus.FORBIDDEN
    assert "The holder has made this credential private" in public.get_data(as_text=True)
    for refused in ("credential.json", "credential.jwt", "qr.png", "qr.svg"):
        assert client.get(f"/v/{record.public_id}/{refused}").status_code == HTTPStatus.FORBIDDEN
    as_json = client.get(f"/v/{record.public_id}", headers={"Accept": "application/json"})
    assert as_json.status_code == HTTPStatus.FORBIDDEN
    assert as_json.get_json()["code"] == "private"

    by_link = verify_api(client, verify_url)
    assert by_link["verified"] is False
    assert "private" in codes(by_link)

    # The holder's own file still proves the credential.
    document = client.get(f"/wallet/c/{record.public_id}/credential.json").get_json()
    assert verify_api(client, document)["verified"] is True

    events = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "credential.public_link.hidden")
    ).all()
    assert [(e.subject, e.actor) for e in events] == [(record.credential_id, "holder")]


def test_turning_the_public_page_on_again_restores_it(client, db, scene):
    record = scene.welding
    open_with_claim(client, scene, record)
    _set_public_link(client, record.public_id, "off")
    response = _set_public_link(client, record.public_id, "on")
    assert "notice=link-shown" in response.headers["Location"]
    assert client.get(f"/v/{record.public_id}").status_code == HTTPStatus.OK
    assert client.get(f"/v/{record.public_id}/qr.png").status_code == HTTPStatus.OK
    assert verify_api(client, f"{PUBLIC_URL}/v/{record.public_id}")["verified"] is True
    actions = db.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.action.like("credential.public_link.%"))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["credential.public_link.hidden", "credential.public_link.shown"]


# -- 4. another person's credential -----------------------------------------------------------


@pytest.mark.parametrize(
    "download",
    [
        "credential.json",
        "credential.jwt",
        "badge.png",
        "badge.svg",
        "qr.png",
        "certificate",
        "certificate.pdf",
    ],
)
def test_another_persons_credential_is_not_in_the_wallet(client, scene, download):
    open_with_claim(client, scene, scene.welding)
    response = client.get(f"/wallet/c/{scene.bob.public_id}/{download}")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "Bob Martin" not in response.get_data(as_text=True)


def test_another_persons_public_page_cannot_be_switched_off(client, db, scene):
    open_with_claim(client, scene, scene.welding)
    response = _set_public_link(client, scene.bob.public_id, "off")
    assert response.status_code == HTTPStatus.NOT_FOUND
    db.refresh(scene.bob)
    assert scene.bob.public_link_hidden_at is None
    assert client.get(f"/v/{scene.bob.public_id}").status_code == HTTPStatus.OK
    assert (
        db.scalar(select(func.count()).where(AuditEvent.action.like("credential.public_link.%")))
        == 0
    )


def test_a_claim_link_does_not_reach_another_centres_credential(client, db, scene):
    open_with_claim(client, scene, scene.welding)  # Northside's link: Harbour's is out of reach
    path = f"/wallet/c/{scene.harbour.public_id}"
    assert client.get(f"{path}/credential.json").status_code == HTTPStatus.NOT_FOUND
    assert _set_public_link(client, scene.harbour.public_id, "off").status_code == (
        HTTPStatus.NOT_FOUND
    )
    db.refresh(scene.harbour)
    assert scene.harbour.public_link_hidden_at is None


def test_after_signing_out_nothing_can_be_switched(client, db, scene):
    open_with_claim(client, scene, scene.welding)
    token = csrf_token(client)
    client.post("/wallet/sign-out", data={"csrf_token": token})
    response = client.post(
        f"/wallet/c/{scene.welding.public_id}/public-link",
        data={"visible": "off", "csrf_token": token},
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert "Open your wallet with your link" in response.get_data(as_text=True)
    db.refresh(scene.welding)
    assert scene.welding.public_link_hidden_at is None


# -- 5. downloads -----------------------------------------------------------------------------


def test_the_downloaded_credential_files_verify(client, scene, verify_here):
    record = scene.welding
    open_with_claim(client, scene, record)
    base = f"/wallet/c/{record.public_id}"

    as_json = client.get(f"{base}/credential.json")
    assert as_json.mimetype == "application/json"
    assert "attachment" in as_json.headers["Content-Disposition"]
    assert as_json.headers["Cache-Control"] == "no-store"
    document = json.loads(as_json.data)
    assert document == json.loads(record.document)
    assert verify_here(document).verified
    assert verify_api(client, document)["verified"] is True

    as_jwt = client.get(f"{base}/credential.jwt")
    assert as_jwt.mimetype == "text/plain"
    report = verify_api(client, as_jwt.get_data(as_text=True).strip())
    assert report["verified"] is True and report["form"] == "jwt"


def test_the_badge_pictures_carry_the_credential_and_verify_as_files(client, scene):
    record = scene.welding
    open_with_claim(client, scene, record)
    base = f"/wallet/c/{record.public_id}"
    issued = json.loads(record.document)

    png = client.get(f"{base}/badge.png")
    assert png.mimetype == "image/png"
    assert json.loads(baking.unbake_png(png.data)) == issued
    assert verify_bytes(client, png.data, "image/png")["verified"] is True

    svg = client.get(f"{base}/badge.svg")
    assert svg.mimetype == "image/svg+xml"
    assert json.loads(baking.unbake_svg(svg.data)) == issued
    assert verify_bytes(client, svg.data, "image/svg+xml")["verified"] is True


def test_the_printable_certificate_names_the_worker_and_the_check_page(client, scene):
    record = scene.welding
    open_with_claim(client, scene, record)
    page = client.get(f"/wallet/c/{record.public_id}/certificate")
    assert page.status_code == HTTPStatus.OK and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "Amina Haddad" in text
    assert "Perform MAG welding" in text
    assert f"{PUBLIC_URL}/v/{record.public_id}" in text
    assert 'href="/wallet"' in text  # online, the page leads back to the wallet

    pdf = client.get(f"/wallet/c/{record.public_id}/certificate.pdf")
    assert pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-")


# -- 6. exports -------------------------------------------------------------------------------


def _clr(client) -> dict[str, Any]:
    response = client.get("/wallet/wallet.json")
    assert response.status_code == HTTPStatus.OK
    assert response.mimetype == "application/json"
    assert 'filename="wallet.json"' in response.headers["Content-Disposition"]
    return json.loads(response.data)


def _inner(clr: dict[str, Any]) -> list[Any]:
    return clr["credentialSubject"]["verifiableCredential"]


def test_the_wallet_file_carries_every_credential_exactly_as_issued(client, scene):
    open_with_claim(client, scene, scene.welding)
    clr = _clr(client)
    assert "ClrCredential" in clr["type"]
    assert clr["issuer"]["id"] == "did:web:tessera.test"
    assert clr["name"] == "Credentials of Amina Haddad"
    inner = _inner(clr)
    expected = [json.loads(r.document) for r in (scene.welding, scene.forklift)]
    assert sorted(inner, key=lambda c: c["id"]) == sorted(expected, key=lambda c: c["id"])
    for credential in inner:
        credentials.validate_open_badge(credential)
    holder = clr["credentialSubject"]["identifier"][0]
    assert holder["identityHash"] == credentials.hash_email(AMINA, holder["salt"])


def test_an_employer_verifies_the_whole_wallet_in_one_go(client, scene):
    open_with_claim(client, scene, scene.welding)
    clr = _clr(client)
    report = verify_api(client, clr, email=AMINA)
    assert report["verified"] is True
    assert report["form"] == "wallet" and report["container"] == "clr"
    assert report["wallet"]["verdict"] == "valid"
    assert len(report["credentials"]) == 2
    assert [c["verdict"] for c in report["credentials"]] == ["valid", "valid"]
    assert [c["recipient"] for c in report["credentials"]] == [True, True]


def _readme_promises(readme: str) -> tuple[set[str], set[str]]:
    """The folders and the file names a README says the ZIP holds."""
    folders = set(re.findall(r"^(\d\d-[a-z0-9-]+)/", readme, re.MULTILINE))
    names = set(re.findall(r"\b[\w-]+\.(?:json|jwt|png|svg|html|pdf|txt)\b", readme))
    return folders, names


def test_the_zip_holds_what_its_readme_says(client, scene):
    open_with_claim(client, scene, scene.welding)
    response = client.get("/wallet/wallet.zip")
    assert response.status_code == HTTPStatus.OK
    assert response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
        files = {name: archive.read(name) for name in names}
    readme = files["README.txt"].decode("utf-8")
    assert "Amina Haddad" in readme
    folders, promised = _readme_promises(readme)
    assert len(folders) == 2
    assert set(PER_CREDENTIAL_FILES) | {"wallet.json"} <= promised
    # What it says is there, is there; and nothing is there that it does not explain.
    expected = {"README.txt", "wallet.json"} | {
        f"{folder}/{name}" for folder in folders for name in PER_CREDENTIAL_FILES
    }
    assert names == expected

    clr = json.loads(files["wallet.json"])
    issued = {json.loads(r.document)["id"]: r for r in (scene.welding, scene.forklift)}
    assert {c["id"] for c in _inner(clr)} == set(issued)
    for folder in folders:
        document = json.loads(files[f"{folder}/credential.json"])
        record = issued[document["id"]]
        assert document == json.loads(record.document)
        assert files[f"{folder}/credential.jwt"].decode().strip() == record.jwt
        assert json.loads(baking.unbake_png(files[f"{folder}/badge.png"])) == document
        assert json.loads(baking.unbake_svg(files[f"{folder}/badge.svg"])) == document
        assert files[f"{folder}/certificate.pdf"].startswith(b"%PDF-")
        assert f"{PUBLIC_URL}/v/{record.public_id}" in files[f"{folder}/certificate.html"].decode()
    assert verify_bytes(client, response.data, "application/zip")["verified"] is True


# -- 7. the exported wallet over time ---------------------------------------------------------


def test_a_revoked_credential_shows_in_an_already_exported_wallet(client, db, scene, now):
    open_with_claim(client, scene, scene.welding)
    clr = _clr(client)
    services.revoke_credential(db, scene.welding, reason="Issued in error", now=now)
    card = (
        client.get("/wallet").get_data(as_text=True).split(f'id="c-{scene.welding.public_id}"')[1]
    )
    assert "Revoked by the issuer" in card.split("</section>")[0]

    report = verify_api(client, clr)
    assert report["verified"] is False
    assert report["wallet"]["verdict"] == "valid"  # the bundle itself is intact
    verdicts = {
        inner["id"]: entry["verdict"]
        for inner, entry in zip(_inner(clr), report["credentials"], strict=True)
    }
    assert verdicts == {
        scene.welding.credential_id: "revoked",
        scene.forklift.credential_id: "valid",
    }


def test_a_tampered_credential_in_a_wallet_is_caught_and_the_others_still_count(client, scene):
    open_with_claim(client, scene, scene.welding)
    clr = _clr(client)
    tampered = _inner(clr)[0]
    tampered["credentialSubject"]["name"] = "Someone Else"

    report = verify_api(client, clr)
    assert report["verified"] is False
    assert report["wallet"]["verified"] is False
    assert report["wallet"]["verdict"] == "invalid"
    assert [c["verdict"] for c in report["credentials"]] == ["invalid", "valid"]


# -- 8. importing credentials issued elsewhere ------------------------------------------------

LAKESIDE = "Lakeside Polytechnic"


def _foreign(signer, *, number: int = 1, email: str = AMINA) -> dict[str, Any]:
    """A credential Lakeside (a did:key issuer elsewhere) issued, unsigned."""
    did = signer.verification_method.partition("#")[0]
    credential = make_credential(
        issuer_did=did, id=f"urn:uuid:5e1c0a7e-0000-4000-8000-{number:012d}"
    )
    credential["issuer"]["name"] = LAKESIDE
    if email != AMINA:
        identity = credential["credentialSubject"]["identifier"][0]
        identity["identityHash"] = credentials.hash_email(email, identity["salt"])
    return credential


@pytest.fixture
def lakeside():
    return make_signer("EdDSA", did="did:key")


def _import(client, data: bytes | str, filename: str = "credential.json"):
    payload = data.encode("utf-8") if isinstance(data, str) else data
    return client.post(
        "/wallet/import",
        data={"csrf_token": csrf_token(client), "file": (io.BytesIO(payload), filename)},
        content_type="multipart/form-data",
    )


def _outcomes(response) -> list[tuple[str, str]]:
    page = response.get_data(as_text=True)
    return re.findall(r'<li data-added="(yes|no)">([^<]*)</li>', page)


def test_a_credential_from_elsewhere_is_added_and_listed(client, db, scene, lakeside):
    open_with_claim(client, scene, scene.welding)
    response = _import(client, json.dumps(signed_json(lakeside, _foreign(lakeside))))
    assert response.status_code == HTTPStatus.OK
    [(added, message)] = _outcomes(response)
    assert added == "yes" and "added" in message
    page = client.get("/wallet").get_data(as_text=True)
    assert "Added by you" in page
    assert LAKESIDE in page and "Perform MAG welding on structural steel" in page
    assert held_count(db) == 1


def test_imported_credentials_travel_in_the_exported_wallet(
    app, client, db, scene, lakeside, no_network
):
    open_with_claim(client, scene, scene.welding)
    as_json = signed_json(lakeside, _foreign(lakeside, number=1))
    as_jwt = signed_jwt(lakeside, _foreign(lakeside, number=2))
    assert _import(client, json.dumps(as_json)).status_code == HTTPStatus.OK
    assert _import(client, as_jwt, "credential.jwt").status_code == HTTPStatus.OK

    clr = _clr(client)
    inner = _inner(clr)
    assert len(inner) == 4
    assert as_json in inner  # exactly as presented
    assert {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": f"data:application/vc+jwt,{as_jwt}",
        "type": "EnvelopedVerifiableCredential",
    } in inner

    # Lakeside is not a centre this instance knows: its signatures check (did:key, offline),
    # but an employer is told the issuer is not recognised.
    report = verify_api(client, clr)
    assert report["wallet"]["verdict"] == "valid"
    assert sorted(c["verdict"] for c in report["credentials"]) == [
        "issuer not recognised",
        "issuer not recognised",
        "valid",
        "valid",
    ]
    for entry in report["credentials"]:
        proof = next(c for c in entry["checks"] if c["name"] == "proof")
        assert proof["outcome"] == "passed"
    # Once the verifier trusts Lakeside, the whole wallet verifies.
    did = lakeside.verification_method.partition("#")[0]
    app.config["TRUSTED_ISSUERS"] = [did]
    assert verify_api(client, clr)["verified"] is True
    assert no_network == []

    # The ZIP keeps each imported credential in the form it came in, and says whose it is.
    with zipfile.ZipFile(io.BytesIO(client.get("/wallet/wallet.zip").data)) as archive:
        names = archive.namelist()
        readme = archive.read("README.txt").decode("utf-8")
        imported = {
            name.rsplit("/", 1)[1]: archive.read(name)
            for name in names
            if name.startswith(("03-", "04-"))
        }
    assert f"({LAKESIDE}, imported)" in readme
    assert imported.keys() == {"credential.json", "credential.jwt"}
    assert json.loads(imported["credential.json"]) == as_json
    assert imported["credential.jwt"].decode().strip() == as_jwt


def test_a_tampered_credential_is_refused_with_the_reason(client, db, scene, lakeside):
    open_with_claim(client, scene, scene.welding)
    tampered = signed_json(lakeside, _foreign(lakeside))
    tampered["credentialSubject"]["name"] = "Someone Else"
    response = _import(client, json.dumps(tampered))
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    [(added, message)] = _outcomes(response)
    assert added == "no"
    assert message.startswith("the credential: not added: it does not verify (")
    assert held_count(db) == 0


def test_a_credential_issued_to_another_address_is_refused(client, db, scene, lakeside):
    open_with_claim(client, scene, scene.welding)
    theirs = signed_json(lakeside, _foreign(lakeside, email="someone@example.org"))
    response = _import(client, json.dumps(theirs))
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    [(added, message)] = _outcomes(response)
    assert added == "no" and "different e-mail" in message
    assert held_count(db) == 0


def test_the_same_credential_twice_is_kept_once(client, db, scene, lakeside):
    open_with_claim(client, scene, scene.welding)
    document = json.dumps(signed_json(lakeside, _foreign(lakeside)))
    assert _import(client, document).status_code == HTTPStatus.OK
    again = _import(client, document)
    assert again.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    [(added, message)] = _outcomes(again)
    assert added == "no" and "already in your wallet" in message
    assert held_count(db) == 1


def test_a_baked_badge_from_elsewhere_is_imported(client, db, scene, lakeside):
    open_with_claim(client, scene, scene.welding)
    document = signed_json(lakeside, _foreign(lakeside))
    badge = baking.bake_png(qr_png("https://lakeside.example/badge"), json.dumps(document))
    response = _import(client, badge, "badge.png")
    assert response.status_code == HTTPStatus.OK
    held = db.scalars(select(HeldCredential)).one()
    assert held.form == "json" and json.loads(held.content) == document
    assert held.issuer_name == LAKESIDE


def test_a_portable_qr_payload_is_imported_as_the_exact_jwt(client, db, scene, lakeside):
    open_with_claim(client, scene, scene.welding)
    token = signed_jwt(lakeside, _foreign(lakeside))
    response = _import(client, portable.encode_portable(token), "scanned.txt")
    assert response.status_code == HTTPStatus.OK
    held = db.scalars(select(HeldCredential)).one()
    assert held.form == "jwt" and held.content == token  # never the transport encoding


def test_importing_this_centres_own_credential_adds_no_copy(client, db, scene):
    open_with_claim(client, scene, scene.welding)
    response = _import(client, scene.forklift.document)
    [(added, message)] = _outcomes(response)
    assert added == "no" and "already in your wallet (issued here)" in message
    assert held_count(db) == 0


def test_another_centres_credential_is_not_said_to_be_in_a_one_centre_wallet(client, db, scene):
    open_with_claim(client, scene, scene.welding)  # Northside's link: Harbour's is not shown
    response = _import(client, scene.harbour.document)
    [(_, message)] = _outcomes(response)
    page = client.get("/wallet").get_data(as_text=True)
    in_wallet = scene.harbour.public_id in shown(page) or "Rig loads for a crane lift" in page
    assert in_wallet or "already in your wallet" not in message
    assert "e-mail link" in message  # and she is told how to see it


@pytest.mark.parametrize(
    ("garbage", "says"),
    [
        (b"\x00\xff\xfe\x80 not text at all", "neither a credential nor a baked badge"),
        (b"hello, this is my CV", "not a credential we can read"),
    ],
)
def test_garbage_is_refused_clearly_and_nothing_is_stored(client, db, scene, garbage, says):
    open_with_claim(client, scene, scene.welding)
    response = _import(client, garbage, "upload.bin")
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert says in response.get_data(as_text=True)
    assert held_count(db) == 0


def test_only_its_owner_removes_an_imported_credential(app, client, db, scene, lakeside):
    open_with_claim(client, scene, scene.welding)
    _import(client, json.dumps(signed_json(lakeside, _foreign(lakeside))))
    held = db.scalars(select(HeldCredential)).one()

    bob = app.test_client()
    open_with_claim(bob, scene, scene.bob)
    assert bob.get(f"/wallet/held/{held.id}/credential.json").status_code == HTTPStatus.NOT_FOUND
    refused = bob.post(f"/wallet/held/{held.id}/remove", data={"csrf_token": csrf_token(bob)})
    assert refused.status_code == HTTPStatus.NOT_FOUND
    assert held_count(db) == 1

    removed = client.post(f"/wallet/held/{held.id}/remove", data={"csrf_token": csrf_token(client)})
    assert removed.status_code == HTTPStatus.SEE_OTHER
    assert "notice=removed" in removed.headers["Location"]
    assert held_count(db) == 0
    assert "Added by you" not in client.get("/wallet").get_data(as_text=True)


# -- 9. CSRF ----------------------------------------------------------------------------------


def test_forms_without_a_csrf_token_are_refused(app, client, db, scene):
    open_with_claim(client, scene, scene.welding)
    assert client.post("/wallet/email-link").status_code == HTTPStatus.BAD_REQUEST
    assert outbox(app) == []
    assert proofs_for(db, AMINA) == 0
    hide = client.post(f"/wallet/c/{scene.welding.public_id}/public-link", data={"visible": "off"})
    assert hide.status_code == HTTPStatus.BAD_REQUEST
    db.refresh(scene.welding)
    assert scene.welding.public_link_hidden_at is None


# -- 10. claim tokens -------------------------------------------------------------------------


def test_claim_tokens_are_long_random_and_stored_only_hashed(db, scene):
    tokens = list(scene.tokens.values())
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert len(token) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", token)  # >= 128 bits
    stored = db.scalars(select(ClaimToken.token_hash)).all()
    assert len(stored) == len(tokens)
    for token_hash in stored:
        assert re.fullmatch(r"[0-9a-f]{64}", token_hash)
        assert token_hash not in tokens
    assert {hashlib.sha256(t.encode()).hexdigest() for t in tokens} == set(stored)


def test_an_overlong_or_hash_shaped_claim_link_does_not_open(client, db, scene):
    token = scene.tokens[scene.welding.id]
    stored = hashlib.sha256(token.encode()).hexdigest()
    assert client.get(f"/claim/{stored}").status_code == HTTPStatus.NOT_FOUND  # a leaked hash
    assert client.get(f"/claim/{token}{'x' * 100}").status_code == HTTPStatus.NOT_FOUND
    assert client.get("/wallet").status_code == HTTPStatus.UNAUTHORIZED


def _zip_bomb() -> bytes:
    """About 200 KB that unpacks to 200 MB of zeros."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("wallet.json", "w") as entry,
    ):
        for _ in range(200):
            entry.write(b"\0" * (1 << 20))
    return buffer.getvalue()


def _png_with_two_credentials(document: dict[str, Any]) -> bytes:
    baked = baking.bake_png(qr_png("https://example.org"), json.dumps(document))
    chunk_start = baked.index(b"iTXt") - 4
    length = int.from_bytes(baked[chunk_start : chunk_start + 4], "big")
    chunk = baked[chunk_start : chunk_start + 12 + length]
    return baked[: chunk_start + len(chunk)] + chunk + baked[chunk_start + len(chunk) :]


@pytest.mark.parametrize("hostile", ["zip-bomb", "two-chunk-png", "scripted-svg", "tampered-clr"])
def test_hostile_imports_are_refused_with_a_reason_and_store_nothing(
    client, db, kek, scene, now, hostile
):
    open_with_claim(client, scene, scene.welding)
    foreign = signed_json(
        make_signer("EdDSA", did="did:key"),
        make_credential(
            credentialSubject={
                **make_credential()["credentialSubject"],
                "identifier": [
                    {
                        "type": "IdentityObject",
                        "identityHash": credentials.hash_email(AMINA, "5a1t"),
                        "identityType": "emailAddress",
                        "hashed": True,
                        "salt": "5a1t",
                    }
                ],
            }
        ),
    )
    if hostile == "zip-bomb":
        data, name, says = _zip_bomb(), "wallet.zip", "once unpacked"
    elif hostile == "two-chunk-png":
        data, name, says = _png_with_two_credentials(foreign), "badge.png", "more than one"
    elif hostile == "scripted-svg":
        svg = baking.bake_svg(b'<svg xmlns="http://www.w3.org/2000/svg"/>', json.dumps(foreign))
        data = svg.replace(b"</svg>", b"<script>alert(1)</script></svg>")
        name, says = "badge.svg", "contains scripts"
    else:
        clr = json.loads(client.get("/wallet/wallet.json").get_data(as_text=True))
        clr["credentialSubject"]["verifiableCredential"] = [foreign]
        foreign["credentialSubject"]["name"] = "Someone Else"  # after signing: tampered
        data, name, says = json.dumps(clr).encode(), "wallet.json", "does not verify"
    response = _import(client, data, name)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert says in response.get_data(as_text=True)
    assert held_count(db) == 0
    # The service is unaffected: the wallet still opens and lists its credentials.
    assert client.get("/wallet").status_code == HTTPStatus.OK
