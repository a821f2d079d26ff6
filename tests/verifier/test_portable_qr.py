"""The portable QR end to end: a worker downloads it, a real decoder reads it, the one
pipeline verifies what it carries; hostile codes get a failed format check, never a crash."""

from __future__ import annotations

import html
import io
import re
import zlib
from http import HTTPStatus

import pytest
import qrcode
import zxingcpp
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

from credentials import portable
from issuer import claims, services
from issuer.cli import cli
from issuer.unit_of_work import transaction
from verifier import Outcome, Verdict
from verifier.qr import qr_png

from ..conftest import PUBLIC_URL

WELDING = "http://data.europa.eu/esco/skill/60ff3eac-7d4d-4e51-87b8-74c3b5d62498"
DRAWINGS = "http://data.europa.eu/esco/skill/f3a0dc3a-2c5e-4f08-a5d3-6b5f2f6f0c4e"


@pytest.fixture
def eddsa_centre(db, kek, now):
    """A did:web centre that signs its VC-JWTs with EdDSA."""
    return services.create_organisation(
        db,
        kek,
        slug="riverside-welding",
        name="Riverside Welding & Fabrication Academy",
        public_url=PUBLIC_URL,
        now=now,
        jwt_algorithm="EdDSA",
    )


def _issue(db, kek, now, organisation):
    achievement = services.create_achievement(
        db,
        organisation=organisation,
        name="Perform MAG welding on structural steel",
        description=(
            "Lays fillet and butt welds on structural steel plate with metal active gas "
            "welding, to EN ISO 9606-1."
        ),
        criteria="Passed visual inspection and bend tests on fillet and butt welds.",
        achievement_type="ext:JobTask",
        skills=[
            f"{WELDING}=perform metal active gas welding",
            f"{DRAWINGS}=interpret technical drawings",
        ],
        now=now,
    )
    return services.issue_credential(
        db,
        kek,
        organisation=organisation,
        achievement=achievement,
        name="Oleksandra Kovalenko-Hassan",
        email="oleksandra.k@example.org",
        public_url=PUBLIC_URL,
        now=now,
    ).record


@pytest.fixture
def issued(db, kek, now, eddsa_centre):
    return _issue(db, kek, now, eddsa_centre)


def read_qr(png: bytes) -> list[str]:
    """What a real QR decoder reads from the image."""
    with Image.open(io.BytesIO(png)) as image:
        return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


def qr_version(data: str) -> int:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    return int(code.version)


def page_text(response) -> str:
    without_tags = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(without_tags))


def form_token(client) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/verify").get_data(True))
    assert found, "the verify page has no CSRF token"
    return found.group(1)


# -- a real decoder, the one pipeline --------------------------------------------------------


def test_a_real_decoder_reads_the_code_back_to_the_exact_jwt_which_verifies(issued, verify_here):
    payload = portable.portable_qr_payload(issued.jwt)
    assert qr_version(payload) <= portable.MAX_QR_VERSION

    read = read_qr(qr_png(payload))

    assert read == [payload]
    assert portable.decode_portable(read[0]) == issued.jwt
    result = verify_here(read[0])
    assert result.verdict == Verdict.VALID, result.checks
    assert "restored from a portable QR code" in result.check("format").message
    assert "EdDSA" in result.check("proof").message
    assert result.credential["credentialSubject"]["name"] == "Oleksandra Kovalenko-Hassan"


def test_a_changed_credential_inside_the_code_does_not_verify(issued, verify_here):
    # Re-encode a token whose payload says something else but keeps the signature.
    header, payload, signature = issued.jwt.split(".")
    forged_payload = portable._b64url_encode(
        portable._b64url_decode(payload).replace(b"Kovalenko-Hassan", b"Kovalenko-Hassam")
    )
    forged = portable.encode_portable(f"{header}.{forged_payload}.{signature}")
    result = verify_here(forged)
    assert result.verdict == Verdict.INVALID
    assert result.check("format").outcome == Outcome.PASSED
    assert result.check("proof").outcome == Outcome.FAILED


def test_a_scanned_code_pasted_on_the_verify_page_is_valid(client, issued):
    payload = read_qr(qr_png(portable.portable_qr_payload(issued.jwt)))[0]
    response = client.post(
        "/verify", data={"credential": payload, "csrf_token": form_token(client)}
    )
    assert response.status_code == HTTPStatus.OK
    headline = re.search(r'<h1 id="verdict-title"[^>]*>(.*?)</h1>', response.get_data(True))
    assert headline and headline.group(1).strip() == "Valid"
    shown = page_text(response)
    assert "restored from a portable QR code" in shown
    assert "Oleksandra Kovalenko-Hassan" in shown


def test_the_verify_api_accepts_the_payload(client, issued):
    payload = portable.portable_qr_payload(issued.jwt)
    response = client.post("/api/v1/verify", json={"credential": payload})
    assert response.status_code == HTTPStatus.OK
    assert response.get_json()["verdict"] == "valid"


def test_tessera_verify_reads_the_payload_from_standard_input(runner, issued):
    payload = portable.portable_qr_payload(issued.jwt)
    result = runner.invoke(cli, ["verify", "-"], input=payload + "\n")
    assert result.exit_code == 0, result.output
    assert "Verdict: VALID" in result.output
    assert "restored from a portable QR code" in result.output


# -- hostile codes: a failed format check, never an exception -----------------------------


def _bomb() -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=portable.dictionary())
    return portable.PREFIX + portable.base45_encode(
        compressor.compress(b"\0" * (2 * 1024 * 1024)) + compressor.flush()
    )


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_bomb, "expands beyond"),
        (lambda jwt: portable.encode_portable(jwt)[: 5 + 3 * 150], "cut short"),
        (lambda jwt: "TSR9:" + portable.encode_portable(jwt)[5:], "version 9 is not known"),
        (lambda jwt: portable.encode_portable(jwt)[:40] + "a" * 3, "base45 does not use"),
    ],
    ids=["bomb", "truncated", "unknown-version", "bad-base45"],
)
def test_a_hostile_code_fails_the_format_check_with_its_reason(
    client, issued, verify_here, make, reason
):
    payload = make() if make is _bomb else make(issued.jwt)

    result = verify_here(payload)

    assert result.verdict == Verdict.INVALID
    assert result.check("format").outcome == Outcome.FAILED
    assert reason in result.check("format").message
    response = client.post(
        "/verify", data={"credential": payload, "csrf_token": form_token(client)}
    )
    assert response.status_code == HTTPStatus.OK
    assert reason in page_text(response)


# -- the worker's wallet -------------------------------------------------------------------


def _open_wallet(client, db, record, now) -> str:
    with transaction(db):
        token = claims.new_claim_token(db, record, now=now)
    assert client.get(f"/claim/{token}").status_code == HTTPStatus.SEE_OTHER
    response = client.get("/wallet")
    assert response.status_code == HTTPStatus.OK
    return response.get_data(as_text=True)


def test_the_wallet_offers_the_portable_qr_of_an_eddsa_credential(client, db, now, issued):
    page = _open_wallet(client, db, issued, now)
    link = f"/wallet/c/{issued.public_id}/portable-qr.png"
    assert link in page
    assert "Portable QR code (.png)" in page
    assert "No portable QR code" not in page

    response = client.get(link)

    assert response.status_code == HTTPStatus.OK
    assert response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == "no-store"
    assert [portable.decode_portable(t) for t in read_qr(response.data)] == [issued.jwt]


def test_the_wallet_says_why_an_rs256_credential_has_no_portable_qr(client, db, kek, now, centre):
    record = _issue(db, kek, now, centre)  # the default centre signs its JWTs with RS256
    page = page_text_of(_open_wallet(client, db, record, now))
    assert "No portable QR code for this credential" in page
    assert "Northside Skills Centre signs with RS256" in page
    assert f"/wallet/c/{record.public_id}/portable-qr.png" not in page

    response = client.get(f"/wallet/c/{record.public_id}/portable-qr.png")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "no portable QR code" in page_text(response)


def test_the_portable_qr_of_someone_elses_credential_is_not_found(client, db, kek, now, issued):
    other = services.issue_credential(
        db,
        kek,
        organisation=issued.organisation,
        achievement=issued.achievement,
        name="Bob Martin",
        email="bob@example.org",
        public_url=PUBLIC_URL,
        now=now,
    ).record
    _open_wallet(client, db, issued, now)
    response = client.get(f"/wallet/c/{other.public_id}/portable-qr.png")
    assert response.status_code == HTTPStatus.NOT_FOUND


def page_text_of(markup: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup)))
