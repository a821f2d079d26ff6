"""An employer checks a whole wallet: a CLR 2.0 file or a ZIP, each credential on its own row.

First the pipeline alone, on did:key credentials and a did:key-signed CLR (no instance, no
network); then the combined app's JSON API and upload page, on credentials this instance
issued and exported exactly as a worker downloads them.
"""

from __future__ import annotations

import copy
import html
import io
import json
import re
import time
import zipfile
from http import HTTPStatus

import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from credentials import archive
from credentials.proofs import data_integrity
from credentials.wallet import MAX_WALLET_CREDENTIALS, build_clr
from issuer import services, wallet
from issuer.models import WalletSession
from verifier import DidKeyResolver, verify_credential
from verifier.wallet import WalletResult, looks_like_wallet, verify_wallet

from ..conftest import PUBLIC_URL
from ..helpers import NOW, make_credential, make_signer, signed_json, signed_jwt

VERIFY = "/api/v1/verify"
MB = 1024 * 1024
VC_V2 = "https://www.w3.org/ns/credentials/v2"


# -- wallets made of did:key credentials ------------------------------------------------------


def _did(signer):
    return signer.verification_method.partition("#")[0]


@pytest.fixture(scope="module")
def signers():
    """Two training centres and the holder's wallet service, each a did:key of its own."""
    return {
        "north": make_signer("EdDSA", did="did:key"),
        "south": make_signer("EdDSA", did="did:key"),
        "bundler": make_signer("EdDSA", did="did:key"),
    }


@pytest.fixture(scope="module")
def held(signers):
    """Three credentials: a JSON one from each centre, and a VC-JWT enveloped (VC 2.0)."""
    north, south = signers["north"], signers["south"]
    token = signed_jwt(
        north, make_credential(issuer_did=_did(north), id="urn:uuid:00000000-0000-4000-8000-3")
    )
    return [
        signed_json(
            north, make_credential(issuer_did=_did(north), id="urn:uuid:00000000-0000-4000-8000-1")
        ),
        signed_json(
            south, make_credential(issuer_did=_did(south), id="urn:uuid:00000000-0000-4000-8000-2")
        ),
        {
            "@context": [VC_V2],
            "id": "data:application/vc+jwt," + token,
            "type": "EnvelopedVerifiableCredential",
        },
    ]


def _unsigned_clr(signers, credentials):
    return build_clr(
        credentials,
        clr_id="urn:uuid:5d0b2f4e-8c1a-4f7e-9b3d-6a2c1e0f9a77",
        issuer={"id": _did(signers["bundler"]), "type": ["Profile"], "name": "Amina's wallet"},
        name="Credentials of Amina Haddad",
        valid_from=NOW,
    )


def _sign(signers, clr):
    return data_integrity.add_proof(clr, signers["bundler"], created=NOW)


@pytest.fixture(scope="module")
def clr(signers, held):
    return _sign(signers, _unsigned_clr(signers, held))


@pytest.fixture(scope="module")
def check(signers):
    """verify_wallet as a did:key-only verifier that trusts both centres (not the bundler)."""
    trusted = {_did(signers["north"]), _did(signers["south"])}

    def one(data):
        return verify_credential(data, resolver=DidKeyResolver(), now=NOW, trusted_issuers=trusted)

    def check(data, **options) -> WalletResult:
        return verify_wallet(data, verify_one=one, resolver=DidKeyResolver(), now=NOW, **options)

    return check


def _verdicts(found: WalletResult) -> list[str]:
    return [str(entry.result.verdict) for entry in found.entries]


def _failed(result):
    return [c for c in result.checks if c.outcome == "failed"]


def _subject(document):
    return document["credentialSubject"]["verifiableCredential"]


def _zip(files):
    return archive.write_zip([(name, data) for name, data in files])


def _json_bytes(document):
    return json.dumps(document, indent=2).encode("utf-8")


def test_a_wallet_of_valid_credentials_is_verified(check, clr):
    found = check(clr)
    assert found.form == "clr"
    assert found.verified
    assert found.envelope is not None and found.envelope.verified
    assert [c.name for c in found.envelope.checks] == ["format", "proof", "dates"]
    assert "holding 3 credentials" in found.envelope.checks[0].message
    assert [e.label for e in found.entries] == ["credential 1", "credential 2", "credential 3"]
    assert _verdicts(found) == ["valid"] * 3
    assert found.counts == {"valid": 3}


def test_an_enveloped_vc_jwt_inside_a_wallet_verifies_as_a_jwt(check, clr, held):
    entry = check(clr).entries[2]
    assert entry.source == held[2]
    assert entry.result.verified
    assert entry.result.form == "jwt"
    assert entry.result.check("proof").message.startswith("VC-JWT")


def test_the_same_wallet_as_bytes_or_text_gives_the_same_answer(check, clr):
    as_object = check(clr)
    for data in (_json_bytes(clr), json.dumps(clr)):
        again = check(data)
        assert again.verified
        assert _verdicts(again) == _verdicts(as_object)
        assert again.envelope.verdict == as_object.envelope.verdict


def test_a_tampered_credential_breaks_the_wallet_and_only_its_own_row(check, clr):
    tampered = copy.deepcopy(clr)
    _subject(tampered)[1]["credentialSubject"]["name"] = "Mallory Impostor"
    found = check(tampered)
    assert not found.verified
    assert str(found.envelope.verdict) == "invalid"
    assert [c.name for c in _failed(found.envelope)] == ["proof"]
    assert _verdicts(found) == ["valid", "invalid", "valid"]
    assert [c.name for c in _failed(found.entries[1].result)] == ["proof"]
    assert found.counts == {"valid": 2, "invalid": 1}


def test_a_removed_credential_breaks_the_wallets_own_proof(check, clr):
    shorter = copy.deepcopy(clr)
    del _subject(shorter)[0]
    found = check(shorter)
    assert not found.verified
    assert str(found.envelope.verdict) == "invalid"
    assert _failed(found.envelope)[0].code == "invalid-proof"
    # What is left is still every credential's own truth.
    assert _verdicts(found) == ["valid", "valid"]


def test_an_added_credential_breaks_the_wallets_own_proof(check, clr, signers):
    south = signers["south"]
    extra = signed_json(south, make_credential(issuer_did=_did(south), id="urn:uuid:extra"))
    longer = copy.deepcopy(clr)
    _subject(longer).append(extra)
    found = check(longer)
    assert not found.verified
    assert str(found.envelope.verdict) == "invalid"
    assert _verdicts(found) == ["valid"] * 4


def test_an_entry_that_is_a_number_is_invalid_and_hides_nothing(check, signers, held):
    unsigned = _unsigned_clr(signers, held[:2])
    _subject(unsigned).insert(1, 42)
    found = check(_sign(signers, unsigned))
    assert not found.verified
    assert [e.label for e in found.entries] == ["credential 1", "credential 2", "credential 3"]
    assert _verdicts(found) == ["valid", "invalid", "valid"]
    assert found.entries[1].source == 42
    assert "neither a credential object nor a VC-JWT" in _failed(found.entries[1].result)[0].message
    assert found.counts == {"valid": 2, "invalid": 1}


def test_an_unreadable_entry_gets_its_own_reason(check, signers, held):
    unsigned = _unsigned_clr(signers, held[:1])
    _subject(unsigned).append("this is not a credential")
    found = check(_sign(signers, unsigned))
    assert _verdicts(found) == ["valid", "invalid"]
    assert _failed(found.entries[1].result)[0].name == "format"


def test_a_clr_without_credentials_is_refused_with_its_reason(check, clr):
    for holding in ([], None):
        empty = copy.deepcopy(clr)
        if holding is None:
            del empty["credentialSubject"]["verifiableCredential"]
        else:
            empty["credentialSubject"]["verifiableCredential"] = holding
        found = check(empty)
        assert not found.verified
        assert found.entries == ()
        (failure,) = found.envelope.checks
        assert failure.code == "invalid-wallet"
        assert "holds no credentials" in failure.message


def test_a_single_object_where_a_list_belongs_is_one_entry(check, clr):
    single = copy.deepcopy(clr)
    single["credentialSubject"]["verifiableCredential"] = {"no": "credential"}
    found = check(single)
    assert not found.verified
    assert _verdicts(found) == ["invalid"]


def test_a_clr_with_more_than_the_limit_of_credentials_is_refused(check, clr):
    crowded = copy.deepcopy(clr)
    credential = _subject(clr)[0]
    crowded["credentialSubject"]["verifiableCredential"] = [credential] * (
        MAX_WALLET_CREDENTIALS + 1
    )
    started = time.monotonic()
    found = check(crowded)
    assert time.monotonic() - started < 5  # refused before verifying a thousand signatures
    assert not found.verified
    assert found.entries == ()
    (failure,) = found.envelope.checks
    assert failure.code == "invalid-wallet"
    assert f"at most {MAX_WALLET_CREDENTIALS:,}" in failure.message


def test_a_clr_padded_with_values_is_refused_before_its_proof_is_checked(check, clr):
    # Three credentials may bring 2,000 + 3 x 250 values: these 3,000 tags are too many.
    padded = copy.deepcopy(clr)
    padded["credentialSubject"]["tag"] = [f"tag {n}" for n in range(3_000)]

    found = check(padded)

    assert not found.verified
    assert found.entries == ()
    (failure,) = found.envelope.checks
    assert failure.code == "too-large"
    assert "more than 2,750 values for its 3 credentials" in failure.message


def test_build_clr_itself_refuses_too_many_credentials(signers, held):
    with pytest.raises(Exception, match="at most"):
        _unsigned_clr(signers, [held[0]] * (MAX_WALLET_CREDENTIALS + 1))


def test_an_oversized_wallet_is_refused_before_it_is_read(check, clr):
    data = _json_bytes(clr)
    found = check(data, max_bytes=1024)
    assert not found.verified
    assert found.entries == ()
    (failure,) = found.envelope.checks
    assert failure.code == "too-large"
    assert f"{len(data):,} bytes" in failure.message and "1,024" in failure.message
    # A ZIP is measured the same way, before it is opened.
    zipped = check(_zip([("wallet.json", data)]), max_bytes=1024)
    assert zipped.entries == () and zipped.envelope.checks[0].code == "too-large"


def test_something_that_is_not_a_wallet_says_so(check, held):
    for data in (b"hello", _json_bytes(held[0]), b"\x89PNG\r\n\x1a\n"):
        found = check(data)
        assert not found.verified
        assert found.entries == ()
        assert "not a CLR wallet or a ZIP archive" in found.envelope.checks[0].message


def test_looks_like_wallet_decides_the_route(clr, held):
    assert looks_like_wallet(clr)
    assert looks_like_wallet(_json_bytes(clr))
    assert looks_like_wallet(json.dumps(clr))
    assert looks_like_wallet(_zip([("README.txt", b"hello")]))
    assert not looks_like_wallet(held[0])
    assert not looks_like_wallet(_json_bytes(held[0]))
    assert not looks_like_wallet(held[2]["id"].split(",", 1)[1])
    assert not looks_like_wallet(b"")


# -- ZIP archives -----------------------------------------------------------------------------


def test_a_zip_carrying_the_clr_gives_the_same_answer_as_the_clr(check, clr):
    files = [
        ("README.txt", b"Your credentials\n"),
        ("wallet.json", _json_bytes(clr)),
        ("01-welding/credential.json", _json_bytes(_subject(clr)[0])),
        ("01-welding/badge.png", b"\x89PNG\r\n\x1a\nnot really"),
    ]
    found = check(_zip(files))
    alone = check(clr)
    assert found.form == "zip"
    assert found.verified
    assert [(e.label, str(e.result.verdict)) for e in found.entries] == [
        (e.label, str(e.result.verdict)) for e in alone.entries
    ]
    assert found.envelope.verdict == alone.envelope.verdict
    assert "(wallet.json)" in found.envelope.checks[0].message
    assert found.counts == alone.counts


def test_a_zip_carrying_a_tampered_clr_says_so(check, clr):
    tampered = copy.deepcopy(clr)
    _subject(tampered)[0]["credentialSubject"]["name"] = "Mallory Impostor"
    found = check(_zip([("wallet.json", _json_bytes(tampered))]))
    assert not found.verified
    assert str(found.envelope.verdict) == "invalid"
    assert _verdicts(found) == ["invalid", "valid", "valid"]


def test_a_zip_without_a_clr_has_one_row_per_credential_file(check, held):
    token = held[2]["id"].split(",", 1)[1]
    files = [
        ("README.txt", b"Your credentials\n"),
        ("01-welding/credential.json", _json_bytes(held[0])),
        ("01-welding/credential.jwt", (token + "\n").encode()),
        ("01-welding/qr.png", b"\x89PNG\r\n\x1a\nnot really"),
        ("02-rigging/credential.json", _json_bytes(held[1])),
    ]
    found = check(_zip(files))
    assert found.form == "zip"
    assert found.envelope is None
    assert found.verified
    assert [e.label for e in found.entries] == [
        "01-welding/credential.json",
        "01-welding/credential.jwt",
        "02-rigging/credential.json",
    ]
    assert _verdicts(found) == ["valid"] * 3
    assert [e.result.form for e in found.entries] == ["json", "jwt", "json"]


def test_a_zip_without_a_clr_reports_a_bad_file_on_its_own_row(check, held):
    tampered = copy.deepcopy(held[0])
    tampered["credentialSubject"]["name"] = "Mallory Impostor"
    files = [
        ("a.json", _json_bytes(held[1])),
        ("b.json", _json_bytes(tampered)),
        ("c.json", b"{ not json"),
    ]
    found = check(_zip(files))
    assert found.envelope is None
    assert not found.verified
    assert _verdicts(found) == ["valid", "invalid", "invalid"]
    assert _failed(found.entries[1].result)[0].name == "proof"
    assert _failed(found.entries[2].result)[0].name == "format"


def test_a_zip_with_no_credentials_at_all_says_so(check):
    found = check(_zip([("README.txt", b"hello"), ("qr.png", b"\x89PNG")]))
    assert not found.verified
    assert found.entries == ()
    assert found.envelope.checks[0].code == "invalid-wallet"
    assert "no wallet.json and no .json or .jwt" in found.envelope.checks[0].message


def test_a_zip_with_two_wallets_is_refused_with_a_clear_message(check, clr):
    files = [("amina/wallet.json", _json_bytes(clr)), ("yusuf/wallet.json", _json_bytes(clr))]
    found = check(_zip(files))
    assert found.form == "zip"
    assert not found.verified
    assert found.entries == ()
    (failure,) = found.envelope.checks
    assert failure.code == "invalid-wallet"
    assert failure.message == (
        "the archive holds several wallets (amina/wallet.json, yusuf/wallet.json); upload one"
    )


def _bomb(name="wallet.json", megabytes=300):
    """A ~300 KB deflated entry that inflates to ``megabytes`` of zeros, streamed in 1 MB writes."""
    buffer = io.BytesIO()
    block = bytes(MB)
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bomb,
        bomb.open(name, "w", force_zip64=True) as entry,
    ):
        for _ in range(megabytes):
            entry.write(block)
    return buffer.getvalue()


def _lying(data, declared=1000):
    """The same archive, its central directory claiming the entry is ``declared`` bytes."""
    central = data.index(archive.CENTRAL_DIRECTORY_HEADER)
    size_at = central + 24  # the uncompressed size in a central directory file header
    assert int.from_bytes(data[size_at : size_at + 4], "little") == 300 * MB
    return data[:size_at] + declared.to_bytes(4, "little") + data[size_at + 4 :]


@pytest.fixture(scope="module")
def bomb():
    return _bomb()


def test_a_zip_bomb_is_refused_quickly_with_the_archives_reason(check, bomb):
    assert len(bomb) < 2 * MB
    started = time.monotonic()
    found = check(bomb)
    assert time.monotonic() - started < 2
    assert found.form == "zip"
    assert not found.verified
    assert found.entries == ()
    (failure,) = found.envelope.checks
    assert failure.code == "invalid-archive"
    assert "larger than 10,485,760 bytes once unpacked" in failure.message


def test_a_zip_bomb_that_lies_about_its_size_is_refused_too(check, bomb):
    liar = _lying(bomb)
    with zipfile.ZipFile(io.BytesIO(liar)) as opened:
        assert opened.infolist()[0].file_size == 1000
    started = time.monotonic()
    found = check(liar)
    assert time.monotonic() - started < 5
    assert not found.verified
    assert found.entries == ()
    assert found.envelope.checks[0].code == "invalid-archive"


def test_a_damaged_zip_is_refused_with_a_readable_reason(check, clr):
    data = _zip([("wallet.json", _json_bytes(clr))])
    for broken in (data[: len(data) // 2], b"PK\x03\x04" + b"\x00" * 200):
        found = check(broken)
        assert not found.verified
        assert found.entries == ()
        assert found.envelope.checks[0].code == "invalid-archive"
        assert "ZIP" in found.envelope.checks[0].message


# -- the combined app: credentials issued and exported here ------------------------------------


@pytest.fixture
def rigging(db, centre, now):
    return services.create_achievement(
        db,
        organisation=centre,
        name="Sling and rig loads",
        description="Rigs loads for lifting.",
        criteria="Passed a practical test.",
        now=now,
    )


@pytest.fixture
def issued(db, kek, now, centre, welding, rigging):
    """Two credentials issued to Amina on this instance (and one to someone else)."""

    def issue(achievement, name, email):
        return services.issue_credential(
            db,
            kek,
            organisation=centre,
            achievement=achievement,
            name=name,
            email=email,
            public_url=PUBLIC_URL,
            now=now,
        ).record

    records = [
        issue(welding, "Amina Haddad", "amina@example.org"),
        issue(rigging, "Amina Haddad", "amina@example.org"),
    ]
    issue(welding, "Yusuf Demir", "yusuf@example.org")
    return records


def _holder(email="amina@example.org"):
    return WalletSession(email=email, organisation_id=None)


@pytest.fixture
def exported_clr(db, kek, now, issued):
    return wallet.export_clr(db, kek, _holder(), public_url=PUBLIC_URL, now=now)


@pytest.fixture
def exported_zip(app, db, kek, now, issued):
    with app.app_context():  # its printable pages are rendered from templates
        return wallet.export_zip(db, kek, _holder(), public_url=PUBLIC_URL, now=now).content


def _post_file(client, data, content_type, email=None):
    path = VERIFY if email is None else f"{VERIFY}?email={email}"
    return client.post(path, data=data, content_type=content_type)


def _ok(response):
    assert response.status_code == HTTPStatus.OK, response.get_data(as_text=True)[:1000]
    assert response.mimetype == "application/json"
    return response.get_json()


def test_the_export_holds_exactly_the_holders_credentials(exported_clr, issued):
    documents = _subject(exported_clr)
    assert sorted(d["id"] for d in documents) == sorted(r.credential_id for r in issued)
    assert exported_clr["proof"][0]["verificationMethod"].startswith("did:web:tessera.test#")


def test_the_api_reports_a_clr_wallet_one_entry_per_credential(client, exported_clr, issued):
    report = _ok(client.post(VERIFY, json={"credential": exported_clr}))
    assert report["verified"] is True
    assert report["form"] == "wallet"
    assert report["container"] == "clr"
    assert report["wallet"]["verified"] is True
    assert report["wallet"]["verdict"] == "valid"
    assert {c["name"] for c in report["wallet"]["checks"]} == {"format", "proof", "dates"}
    assert report["counts"] == {"valid": 2}
    assert [c["label"] for c in report["credentials"]] == ["credential 1", "credential 2"]
    for entry in report["credentials"]:
        assert entry["verified"] is True
        assert entry["verdict"] == "valid"
        assert "recipient" not in entry
    names = {
        c["credential"]["credentialSubject"]["achievement"]["name"] for c in report["credentials"]
    }
    assert names == {"Perform MAG welding", "Sling and rig loads"}


def test_the_api_accepts_the_clr_as_text_too(client, exported_clr):
    report = _ok(client.post(VERIFY, json={"credential": json.dumps(exported_clr)}))
    assert report["form"] == "wallet" and report["verified"] is True


@pytest.mark.parametrize(
    ("email", "expected"),
    [("amina@example.org", True), ("  Amina@Example.org ", True), ("yusuf@example.org", False)],
    ids=["holder", "holder-spelled-otherwise", "someone-else"],
)
def test_the_api_answers_the_recipient_question_for_each_entry(
    client, exported_clr, email, expected
):
    report = _ok(client.post(VERIFY, json={"credential": exported_clr, "email": email.strip()}))
    assert [entry["recipient"] for entry in report["credentials"]] == [expected, expected]


def test_the_api_reports_a_zip_body(client, exported_zip):
    report = _ok(_post_file(client, exported_zip, "application/zip"))
    assert report["verified"] is True
    assert report["form"] == "wallet"
    assert report["container"] == "zip"
    assert report["wallet"]["verified"] is True
    assert "(wallet.json)" in report["wallet"]["checks"][0]["message"]
    assert report["counts"] == {"valid": 2}
    assert len(report["credentials"]) == 2


def test_the_api_asks_the_recipient_question_of_a_zip_with_a_query(client, exported_zip):
    report = _ok(_post_file(client, exported_zip, "application/zip", "amina@example.org"))
    assert [entry["recipient"] for entry in report["credentials"]] == [True, True]
    report = _ok(_post_file(client, exported_zip, "application/zip", "yusuf@example.org"))
    assert [entry["recipient"] for entry in report["credentials"]] == [False, False]


def test_the_api_takes_a_clr_file_body_as_octet_stream(client, exported_clr):
    report = _ok(_post_file(client, _json_bytes(exported_clr), "application/octet-stream"))
    assert report["container"] == "clr" and report["verified"] is True


def test_the_api_reports_a_revoked_credential_in_a_wallet(client, db, exported_clr, issued, now):
    services.revoke_credential(db, issued[1], reason="Issued by mistake", now=now)
    report = _ok(client.post(VERIFY, json={"credential": exported_clr}))
    assert report["verified"] is False
    assert report["wallet"]["verified"] is True  # the bundle itself is intact
    assert report["counts"] == {"valid": 1, "revoked": 1}
    revoked = [c for c in report["credentials"] if c["verdict"] == "revoked"]
    assert [c["credential"]["id"] for c in revoked] == [issued[1].credential_id]


def test_a_tampered_wallet_through_the_api(client, exported_clr):
    tampered = copy.deepcopy(exported_clr)
    _subject(tampered)[0]["credentialSubject"]["name"] = "Mallory Impostor"
    report = _ok(client.post(VERIFY, json={"credential": tampered}))
    assert report["verified"] is False
    assert report["wallet"]["verdict"] == "invalid"
    assert [c["verdict"] for c in report["credentials"]] == ["invalid", "valid"]


def test_a_zip_bomb_body_is_an_answer_never_a_500(client, bomb):
    started = time.monotonic()
    report = _ok(_post_file(client, bomb, "application/zip"))
    assert time.monotonic() - started < 5
    assert report["verified"] is False
    assert report["form"] == "wallet" and report["container"] == "zip"
    assert report["credentials"] == []
    (failure,) = report["wallet"]["checks"]
    assert failure["outcome"] == "failed"
    assert failure["code"] == "invalid-archive"
    assert "once unpacked" in failure["message"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"PK\x03\x04 this is not really a zip", "not a ZIP archive, or it is damaged"),
        (b"hello, I am not a zip at all", "neither a JSON credential nor a compact JWT"),
        (b"", "neither a JSON credential nor a compact JWT"),
    ],
    ids=["zip-signature-then-garbage", "text", "empty"],
)
def test_garbage_sent_as_a_zip_gets_a_readable_reason(client, body, reason):
    report = _ok(_post_file(client, body, "application/zip"))
    assert report["verified"] is False
    # Routed by what the bytes are: a ZIP signature gets a wallet report, anything else the
    # single-credential answer; either way one failed check that says why.
    checks = report["wallet"]["checks"] if report["form"] == "wallet" else report["checks"]
    (failure,) = checks
    assert failure["outcome"] == "failed"
    assert reason in failure["message"]


@pytest.mark.parametrize("email", ["not-an-email", ""])
def test_a_bad_email_query_with_a_file_body_is_a_422(client, exported_zip, email):
    # An empty ?email= is not "no question asked": answering without the recipient check
    # would let a client that lost its address believe it had been checked.
    response = _post_file(client, exported_zip, "application/zip", email)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.mimetype == "application/problem+json"
    assert "email" in response.get_json()["errors"]


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        (None, "is not a ClrSubject object"),
        ({"verifiableCredential": [1] * (MAX_WALLET_CREDENTIALS + 1)}, "at most 1,000"),
    ],
    ids=["no-subject", "too-many"],
)
def test_a_broken_clr_through_the_api_is_an_answer(client, subject, reason):
    clr = {"type": ["VerifiableCredential", "ClrCredential"]}
    if subject is not None:
        clr["credentialSubject"] = subject
    report = _ok(client.post(VERIFY, json={"credential": clr}))
    assert report["verified"] is False
    assert report["form"] == "wallet" and report["credentials"] == []
    (failure,) = report["wallet"]["checks"]
    assert failure["code"] == "invalid-wallet" and reason in failure["message"]


def test_the_wallet_report_matches_the_published_schema(client, exported_clr, exported_zip):
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert "WalletReport" in schemas
    registry = Registry().with_resource("urn:openapi", DRAFT202012.create_resource(document))
    validator = jsonschema.Draft202012Validator(
        {"$ref": "urn:openapi#/components/schemas/WalletReport"}, registry=registry
    )
    assert not validator.is_valid({"verified": True, "form": "wallet"})
    for response in (
        client.post(VERIFY, json={"credential": exported_clr, "email": "amina@example.org"}),
        _post_file(client, exported_zip, "application/zip"),
    ):
        validator.validate(_ok(response))


# -- the upload page ------------------------------------------------------------------------


@pytest.fixture
def form_token(client):
    page = client.get("/verify").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def _upload(client, form_token, data, filename, email=""):
    return client.post(
        "/verify",
        data={
            "file": (io.BytesIO(data), filename),
            "credential": "",
            "email": email,
            "csrf_token": form_token,
        },
        content_type="multipart/form-data",
    )


def _rows(response):
    """(verdict attribute, what the row says) for each credential row of a wallet report."""
    page = response.get_data(as_text=True)
    rows = re.findall(r'<li class="wallet-row" data-verdict="([^"]+)">(.*?)</li>', page, re.S)
    return [
        (verdict, re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip())
        for verdict, body in rows
    ]


def _heading(response):
    found = re.search(
        r'<h1 id="verdict-title"[^>]*>(.*?)</h1>', response.get_data(as_text=True), re.S
    )
    assert found, response.get_data(as_text=True)[:2000]
    return html.unescape(found.group(1)).strip()


def test_uploading_a_wallet_zip_shows_one_row_per_credential(client, form_token, exported_zip):
    response = _upload(client, form_token, exported_zip, "credentials.zip")
    assert response.status_code == HTTPStatus.OK
    assert _heading(response) == "Every credential is valid"
    assert 'data-wallet-verified="yes"' in response.get_data(as_text=True)
    rows = _rows(response)
    assert [verdict for verdict, _ in rows] == ["valid", "valid"]
    assert all(text.startswith("Valid ") for _, text in rows)
    said = " ".join(text for _, text in rows)
    assert "Perform MAG welding" in said and "Sling and rig loads" in said
    assert "Holder: Amina Haddad." in said


def test_uploading_a_wallet_json_shows_one_row_per_credential(client, form_token, exported_clr):
    response = _upload(client, form_token, _json_bytes(exported_clr), "wallet.json")
    assert response.status_code == HTTPStatus.OK
    assert [verdict for verdict, _ in _rows(response)] == ["valid", "valid"]


@pytest.mark.parametrize(
    ("email", "answer"), [("Amina@Example.org", "yes"), ("someone@example.org", "no")]
)
def test_an_employer_can_ask_whose_wallet_it_is(client, form_token, exported_zip, email, answer):
    response = _upload(client, form_token, exported_zip, "credentials.zip", email=email)
    answers = re.findall(
        r'class="wallet-recipient" data-answer="([^"]+)"', response.get_data(as_text=True)
    )
    assert answers == [answer, answer]
    if answer == "no":
        assert "Not issued to the e-mail address you gave." in response.get_data(as_text=True)


def test_an_employer_can_ask_whose_single_credential_it_is(client, form_token, issued):
    document = json.loads(issued[0].document)
    response = _upload(
        client, form_token, _json_bytes(document), "c.json", email="amina@example.org"
    )
    page = response.get_data(as_text=True)
    assert 'data-answer="yes"' in page
    assert "This credential was issued to that e-mail address." in page
    response = _upload(client, form_token, _json_bytes(document), "c.json", email="x@example.org")
    assert 'data-answer="no"' in response.get_data(as_text=True)


def test_a_revoked_credential_has_a_revoked_row(client, db, form_token, exported_zip, issued, now):
    services.revoke_credential(db, issued[0], reason="Issued by mistake", now=now)
    response = _upload(client, form_token, exported_zip, "credentials.zip")
    assert response.status_code == HTTPStatus.OK
    assert _heading(response) == "1 of 2 credentials are valid"
    assert 'data-wallet-verified="no"' in response.get_data(as_text=True)
    rows = dict((text, verdict) for verdict, text in _rows(response))
    (revoked,) = [text for text, verdict in rows.items() if verdict == "revoked"]
    assert revoked.startswith("Revoked Perform MAG welding")
    assert "revoked by its issuer" in revoked
    (valid,) = [text for text, verdict in rows.items() if verdict == "valid"]
    assert valid.startswith("Valid Sling and rig loads")


def test_a_zip_bomb_upload_gets_a_page_not_a_500(client, form_token, bomb):
    response = _upload(client, form_token, bomb, "credentials.zip")
    assert response.status_code == HTTPStatus.OK
    assert _heading(response) == "This wallet could not be read"
    assert _rows(response) == []
    assert "once unpacked" in html.unescape(response.get_data(as_text=True))
