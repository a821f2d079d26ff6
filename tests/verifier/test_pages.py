"""The public verify pages, through the Flask test client, on credentials issued for real."""

from __future__ import annotations

import html
import io
import json
import re
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import zxingcpp
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from issuer import services
from verifier.qr import MAX_QR_DATA, qr_png, qr_svg
from verifier.security import CONTENT_SECURITY_POLICY

from ..conftest import PUBLIC_URL
from ..helpers import WELDING_SKILL, make_credential, make_signer, signed_json

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def issue(db, kek, now, centre, welding):
    """Issue a credential of ``welding`` from ``centre``; keyword arguments override."""

    def issue(**overrides):
        fields = {"name": "Amina Haddad", "email": "amina@example.org"} | overrides
        return services.issue_credential(
            db,
            kek,
            organisation=centre,
            achievement=fields.pop("achievement", welding),
            public_url=PUBLIC_URL,
            now=now,
            **fields,
        ).record

    return issue


def verdict(response):
    """The verdict headline of a result page, as a person reads it."""
    found = re.search(r'<h1 id="verdict-title"[^>]*>(.*?)</h1>', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:2000]
    return html.unescape(found.group(1)).strip()


def text(response):
    """What a reader sees: the page without its tags, entities decoded, spaces collapsed."""
    without_tags = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(without_tags)).replace(" :", ":")


def markup(response):
    return html.unescape(response.get_data(as_text=True))


def csrf_token(response):
    found = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert found, "the page has no CSRF token"
    return found.group(1)


def decode_qr(png: bytes) -> list[str]:
    with Image.open(io.BytesIO(png)) as image:
        return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


# -- /v/<id>: the page every QR code points to --------------------------------------------------


def test_valid_credential_page(client, issue, centre):
    record = issue()
    response = client.get(f"/v/{record.public_id}", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == HTTPStatus.OK
    assert response.mimetype == "text/html"
    assert verdict(response) == "Valid"
    page = markup(response)
    assert 'data-verdict="valid"' in page  # the banner's colour and icon follow the verdict
    assert "Perform MAG welding" in page
    assert "Welds steel." in page
    assert "Passed bend tests." in page
    assert '<p class="card__kicker achievement-type">Job task</p>' in page
    assert '<dd class="holder" dir="auto">Amina Haddad</dd>' in page
    assert "Northside Skills Centre" in page
    assert "Recognised issuer" in page
    assert centre.did in page
    assert (
        f'<a href="{WELDING_SKILL}" rel="noopener noreferrer">perform metal active gas welding</a>'
        in page
    )
    assert '<time datetime="2026-01-15T09:30:00Z">15 January 2026, 09:30 UTC</time>' in page
    assert "No expiry date" in page
    assert "<summary>Show every check</summary>" in page
    for name in ("Signature", "Revocation", "Dates", "Recognised issuer"):
        assert name in page
    assert (
        f'<img src="/v/{record.public_id}/qr.png" alt="QR code linking to this verification page"'
        in page
    )
    assert f'href="/v/{record.public_id}/credential.json"' in page
    assert f'href="/v/{record.public_id}/credential.jwt"' in page
    assert f"{PUBLIC_URL}/v/{record.public_id}" in page
    assert response.headers["Vary"] == "Accept, Accept-Language, Cookie"  # language: verifier.i18n
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_the_layout_is_one_accessible_page(client, issue):
    record = issue()
    page = client.get(f"/v/{record.public_id}").get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert '<link rel="stylesheet" href="/static/verifier/tessera.css">' in page
    assert '<label for="email">E-mail address</label>' in page
    # The CSP allows no inline script or style: the pages must not need any.
    assert "<script>" not in page
    assert "style=" not in page
    assert not re.search(r"\son[a-z]+=", page)


def test_stylesheet_and_script_are_served(client):
    css = client.get("/static/verifier/tessera.css")
    assert css.status_code == HTTPStatus.OK
    assert css.mimetype == "text/css"
    css.close()
    script = client.get("/static/verifier/scan.js")
    assert script.status_code == HTTPStatus.OK
    assert "BarcodeDetector" in script.get_data(as_text=True)
    script.close()


def test_revoked_credential_page_shows_the_reason_and_date(client, db, issue, now):
    record = issue()
    revoked_at = now + timedelta(days=2)
    services.revoke_credential(db, record, reason="Issued to the wrong learner", now=revoked_at)
    response = client.get(f"/v/{record.public_id}")
    assert response.status_code == HTTPStatus.OK
    assert verdict(response) == "Revoked"
    page = markup(response)
    assert 'data-verdict="revoked"' in page
    assert "Issued to the wrong learner" in text(response)
    assert '<time datetime="2026-01-17T09:30:00Z">17 January 2026, 09:30 UTC</time>' in page
    assert "revoked by its issuer" in page


def test_expired_and_not_yet_valid_credentials(client, issue, now):
    expired = issue(valid_until=now + timedelta(days=1))  # the app checks at the real time
    response = client.get(f"/v/{expired.public_id}")
    assert verdict(response) == "Expired"
    assert "Expired on:" in text(response)

    future = datetime(2100, 1, 1, tzinfo=UTC)
    early = issue(valid_from=future)
    response = client.get(f"/v/{early.public_id}")
    assert verdict(response) == "Not yet valid"
    assert "1 January 2100, 00:00 UTC" in text(response)


def test_unknown_id_is_a_friendly_404_page(client):
    response = client.get("/v/no-such-credential-here")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.mimetype == "text/html"
    assert "We could not find this credential" in text(response)
    page = markup(response)
    assert '<html lang="en" dir="ltr">' in page
    assert 'href="/verify"' in page


def test_unknown_id_asked_as_json_is_a_problem(client):
    response = client.get("/v/no-such-credential-here", headers={"Accept": "application/json"})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize(
    "accept", ["application/json", "application/ld+json", "application/vc+ld+json"]
)
def test_accept_json_returns_the_credential_itself(client, issue, accept):
    record = issue()
    response = client.get(f"/v/{record.public_id}", headers={"Accept": accept})
    assert response.status_code == HTTPStatus.OK
    assert response.mimetype == accept
    assert json.loads(response.get_data()) == json.loads(record.document)
    assert response.headers["Vary"] == "Accept"


def test_accept_jwt_returns_the_vc_jwt(client, issue):
    record = issue()
    response = client.get(f"/v/{record.public_id}", headers={"Accept": "application/vc+jwt"})
    assert response.status_code == HTTPStatus.OK
    assert response.mimetype == "application/vc+jwt"
    assert response.get_data(as_text=True) == record.jwt


def test_html_wins_when_the_browser_accepts_both(client, issue):
    record = issue()
    accept = "text/html,application/json;q=0.9"
    response = client.get(f"/v/{record.public_id}", headers={"Accept": accept})
    assert response.mimetype == "text/html"
    assert client.get(f"/v/{record.public_id}").mimetype == "text/html"  # no Accept at all


def test_downloads_are_attachments(client, issue):
    record = issue()
    document = client.get(f"/v/{record.public_id}/credential.json")
    assert document.status_code == HTTPStatus.OK
    assert document.headers["Content-Disposition"] == (
        f"attachment; filename={record.public_id}.json"
    )
    assert json.loads(document.get_data()) == json.loads(record.document)
    token = client.get(f"/v/{record.public_id}/credential.jwt")
    assert token.headers["Content-Disposition"] == f"attachment; filename={record.public_id}.jwt"
    assert token.get_data(as_text=True).strip() == record.jwt
    assert client.get("/v/no-such-credential-here/credential.json").status_code == 404


# -- QR codes -------------------------------------------------------------------------------------


def test_qr_png_encodes_the_configured_url_whatever_the_host_header(client, issue):
    record = issue()
    response = client.get(
        f"/v/{record.public_id}/qr.png",
        base_url="http://attacker.example",
        headers={"Host": "attacker.example"},
    )
    assert response.status_code == HTTPStatus.OK
    assert response.mimetype == "image/png"
    assert decode_qr(response.get_data()) == [f"{PUBLIC_URL}/v/{record.public_id}"]
    assert response.headers["Cache-Control"] == "public, max-age=86400"


def test_qr_svg_is_an_svg_of_the_same_url(client, issue):
    record = issue()
    response = client.get(f"/v/{record.public_id}/qr.svg")
    assert response.status_code == HTTPStatus.OK
    assert response.mimetype == "image/svg+xml"
    body = response.get_data(as_text=True)
    assert body.startswith("<svg") and body.rstrip().endswith("</svg>")
    assert body == qr_svg(f"{PUBLIC_URL}/v/{record.public_id}")
    assert response.headers["Cache-Control"] == "public, max-age=86400"


def test_qr_of_an_unknown_id_is_404(client):
    assert client.get("/v/no-such-credential-here/qr.png").status_code == HTTPStatus.NOT_FOUND
    assert client.get("/v/no-such-credential-here/qr.svg").status_code == HTTPStatus.NOT_FOUND


def test_qr_input_is_bounded():
    assert decode_qr(qr_png("x" * MAX_QR_DATA)) == ["x" * MAX_QR_DATA]
    with pytest.raises(ValueError, match="at most"):
        qr_png("x" * (MAX_QR_DATA + 1))
    with pytest.raises(ValueError, match="at most"):
        qr_svg("x" * (MAX_QR_DATA + 1))


# -- "does this credential belong to that e-mail address?" ----------------------------------------


@pytest.mark.parametrize(
    ("email", "answer", "words"),
    [
        (" Amina@Example.org ", "yes", "This credential was issued to that e-mail address."),
        ("someone@example.org", "no", "This credential was not issued to that e-mail address."),
    ],
)
def test_recipient_check(client, issue, email, answer, words):
    record = issue()
    page = client.get(f"/v/{record.public_id}")
    response = client.post(
        f"/v/{record.public_id}/recipient",
        data={"email": email, "csrf_token": csrf_token(page)},
    )
    assert response.status_code == HTTPStatus.OK
    assert f'data-answer="{answer}"' in markup(response)
    assert words in text(response)
    assert verdict(response) == "Valid"  # the whole page again, with the answer


def test_recipient_check_bounds_the_address(client, issue):
    record = issue()
    token = csrf_token(client.get(f"/v/{record.public_id}"))
    for email in ("", "   ", "a" * 400 + "@example.org"):
        response = client.post(
            f"/v/{record.public_id}/recipient", data={"email": email, "csrf_token": token}
        )
        assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
        assert 'data-answer="invalid"' in markup(response)
        assert "a" * 400 not in text(response)


def test_recipient_check_without_csrf_token_is_a_friendly_400(client, issue):
    record = issue()
    client.get(f"/v/{record.public_id}")
    response = client.post(f"/v/{record.public_id}/recipient", data={"email": "amina@example.org"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.mimetype == "text/html"
    assert "This form has expired" in text(response)
    forged = client.post(
        f"/v/{record.public_id}/recipient",
        data={"email": "amina@example.org", "csrf_token": "forged"},
    )
    assert forged.status_code == HTTPStatus.BAD_REQUEST
    assert "This form has expired" in text(forged)


def test_recipient_check_of_an_unknown_id_is_404(client, issue):
    token = csrf_token(client.get(f"/v/{issue().public_id}"))
    response = client.post(
        "/v/no-such-credential-here/recipient",
        data={"email": "amina@example.org", "csrf_token": token},
    )
    assert response.status_code == HTTPStatus.NOT_FOUND


# -- /verify: upload, paste, or a scanned QR code --------------------------------------------------


@pytest.fixture
def form_token(client):
    return csrf_token(client.get("/verify"))


def test_verify_form(client):
    response = client.get("/verify")
    assert response.status_code == HTTPStatus.OK
    page = response.get_data(as_text=True)
    assert '<label for="file">' in page
    assert '<input type="file" id="file" name="file"' in page
    assert '<label for="credential">' in page
    assert '<textarea id="credential" name="credential"' in page
    # Scanning starts hidden; the script shows it where BarcodeDetector exists.
    assert '<div class="scan" id="scan" hidden' in page
    assert 'id="scan-button">Scan a QR code</button>' in page
    assert '<script src="/static/verifier/scan.js" defer></script>' in page
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_verify_a_pasted_jwt(client, issue, form_token):
    record = issue()
    response = client.post("/verify", data={"credential": record.jwt, "csrf_token": form_token})
    assert response.status_code == HTTPStatus.OK
    assert verdict(response) == "Valid"
    page = text(response)
    assert "Amina Haddad" in page
    assert "VC-JWT signature" in page
    assert "qr.png" not in page  # a pasted credential gets no QR, downloads or e-mail check
    assert 'name="email"' not in page


def test_verify_an_uploaded_json_file(client, issue, form_token):
    record = issue()
    response = client.post(
        "/verify",
        data={
            "file": (io.BytesIO(record.document.encode()), "credential.json"),
            "credential": "",
            "csrf_token": form_token,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == HTTPStatus.OK
    assert verdict(response) == "Valid"
    assert "Perform MAG welding" in text(response)


def test_a_tampered_credential_is_invalid_and_says_what_failed(client, issue, form_token):
    document = json.loads(issue().document)
    document["credentialSubject"]["name"] = "Mallory Impostor"
    response = client.post(
        "/verify",
        data={
            "file": (io.BytesIO(json.dumps(document).encode()), "tampered.json"),
            "csrf_token": form_token,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == HTTPStatus.OK
    assert verdict(response) == "Invalid"
    assert 'data-verdict="invalid"' in markup(response)
    page = text(response)
    # What it means first, in the reader's language; then the technical words, in English.
    assert "What failed: Signature: the signature does not match" in page
    assert "(Data Integrity proof:" in page
    assert "They could not be confirmed." in page
    assert "Mallory Impostor" in page  # shown as a claim, and not vouched for:
    assert "Not confirmed: the signature did not verify" in page
    assert "tag--good" not in markup(response)  # no "Recognised issuer" badge on a forgery


def test_garbage_gets_a_clear_answer(client, form_token):
    response = client.post(
        "/verify", data={"credential": "this is not a credential", "csrf_token": form_token}
    )
    assert response.status_code == HTTPStatus.OK
    assert verdict(response) == "Invalid"
    page = text(response)
    assert "the input is neither a JSON credential nor a compact JWT" in page
    assert "Paste the whole credential" in page


def test_an_empty_submission_asks_for_a_credential(client, form_token):
    response = client.post(
        "/verify",
        data={"file": (io.BytesIO(b""), ""), "credential": "  ", "csrf_token": form_token},
        content_type="multipart/form-data",
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "Nothing to check yet" in text(response)


def test_an_oversized_upload_gets_a_friendly_413_page(client, form_token):
    client.application.config["MAX_WALLET_BYTES"] = 2 * 1024 * 1024
    too_big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    # Encoded in memory: the test client would spool a body this large to a temporary file
    # that it never closes.
    boundary, body = encode_multipart(
        {"file": FileStorage(io.BytesIO(too_big), "huge.json"), "csrf_token": form_token}
    )
    response = client.post(
        "/verify", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.mimetype == "text/html"
    page = text(response)
    assert "That file is too large" in page
    assert "larger than 2 MB" in page


def test_verify_without_csrf_token_is_a_friendly_400(client, issue):
    response = client.post("/verify", data={"credential": issue().jwt})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "This form has expired" in text(response)


@pytest.mark.parametrize(
    "pasted",
    [
        "{url}",
        "  {url}  ",
        "{url}?utm_source=print#top",
        "{public_id}",
    ],
)
def test_a_scanned_or_pasted_verify_link_opens_its_page(client, issue, form_token, pasted):
    record = issue()
    value = pasted.format(url=f"{PUBLIC_URL}/v/{record.public_id}", public_id=record.public_id)
    response = client.post("/verify", data={"credential": value, "csrf_token": form_token})
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert response.headers["Location"] == f"/v/{record.public_id}"


def test_an_unknown_verify_link_says_so(client, form_token):
    response = client.post(
        "/verify",
        data={"credential": f"{PUBLIC_URL}/v/unknown-public-id", "csrf_token": form_token},
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "There is no credential with this link or id on this verifier." in text(response)


def test_a_link_to_another_site_is_not_fetched(client, form_token, no_network):
    response = client.post(
        "/verify",
        data={"credential": "https://elsewhere.example/v/abc", "csrf_token": form_token},
    )
    assert response.status_code == HTTPStatus.OK
    assert "This is a link to another website." in text(response)
    assert no_network == []


def test_a_did_key_issuer_elsewhere_is_not_recognised(client, form_token):
    document = signed_json(make_signer("EdDSA", did="did:key"))
    response = client.post(
        "/verify", data={"credential": json.dumps(document), "csrf_token": form_token}
    )
    assert verdict(response) == "Issuer not recognised"
    page = text(response)
    assert (
        "Signature is genuine, but this issuer is not on this verifier's list of recognised "
        "issuers — its name below is what it says about itself" in page
    )
    assert "Not recognised: name is self-declared" in page


def test_an_unreachable_issuer_could_not_be_checked(client, form_token, no_network):
    document = signed_json(make_signer("EdDSA", did="did:web:elsewhere.example"))
    response = client.post(
        "/verify", data={"credential": json.dumps(document), "csrf_token": form_token}
    )
    assert response.status_code == HTTPStatus.OK
    assert verdict(response) == "Could not check"
    assert (
        "Why: the issuer's key could not be fetched from its website, so the signature could "
        "not be checked (the issuer's key could not be looked up" in text(response)
    )


# -- credentials are attacker-controlled ----------------------------------------------------------


def test_html_in_a_credential_is_shown_as_text(client, db, centre, issue, now):
    achievement = services.create_achievement(
        db,
        organisation=centre,
        name='<img src=x onerror="alert(2)">Welding',
        description="<b>bold</b>",
        criteria="<a href='javascript:alert(3)'>x</a>",
        now=now,
    )
    record = issue(name="<script>alert(1)</script>", achievement=achievement)
    response = client.get(f"/v/{record.public_id}")
    assert verdict(response) == "Valid"
    page = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert "<b>bold</b>" not in page
    assert "href='javascript" not in page


def test_claimed_links_are_only_followed_when_they_are_web_links(client, form_token):
    credential = make_credential()
    achievement = credential["credentialSubject"]["achievement"]
    achievement["alignment"][0]["targetUrl"] = "javascript:alert(1)"
    credential["evidence"] = [
        {"id": "data:text/html,<script>alert(1)</script>", "name": "Bend test report"},
        {"id": "https://evidence.example/report/7", "narrative": "Photos of the welds."},
        "not an object",
    ]
    credential["credentialSubject"]["name"] = ["not", "a", "string"]
    response = client.post(
        "/verify", data={"credential": json.dumps(credential), "csrf_token": form_token}
    )
    assert response.status_code == HTTPStatus.OK
    assert verdict(response) == "Invalid"  # unsigned
    page = response.get_data(as_text=True)
    assert "javascript:" not in page
    assert 'href="data:' not in page
    assert "Bend test report" in page
    assert '<a href="https://evidence.example/report/7" rel="noopener noreferrer nofollow">' in page
    assert "(no name given)" in page
