"""The JSON verify API and the VC-API verify endpoints, on the combined app.

A credential that does not verify is an answer (200, verified false); a request that cannot
be read is a problem (4xx); nothing anyone sends is a 500.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from http import HTTPStatus

import pytest

from credentials import frozen_document_loader
from credentials.multikey import multibase_base58btc
from credentials.proofs import data_integrity
from issuer import services
from schemas import VerificationResultSchema, VerifyResponseSchema
from verifier.api import result_json
from verifier.messages import Message
from verifier.pipeline import Check, Outcome, Verdict, VerificationResult

from ..conftest import PUBLIC_URL, issue_to_amina
from ..helpers import (
    NOW,
    look_alike_results,
    make_credential,
    make_signer,
    signed_json,
    signed_jwt,
)

VERIFY = "/api/v1/verify"
PROBLEM = "application/problem+json"


@pytest.fixture
def issued(db, kek, now, centre, welding):
    """A credential this instance issued (both proofs, a status entry)."""
    return issue_to_amina(db, kek, centre, welding, now)


@pytest.fixture
def document(issued):
    return json.loads(issued.record.document)


def post(client, body, path=VERIFY):
    return client.post(path, json=body)


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM
    problem = response.get_json()
    assert problem["status"] == status
    assert problem["code"] and problem["title"] and "detail" in problem
    return problem


def tamper(document):
    changed = json.loads(json.dumps(document))
    changed["credentialSubject"]["name"] = "Mallory Impostor"
    return changed


def flip_signature(token):
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[5] != "A" else "B").join([signature[:5], signature[6:]])
    return f"{head}.{payload}.{flipped}"


def unsigned_jwt(header, payload):
    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}.{base64.urlsafe_b64encode(b'x' * 64).decode()}"


# -- POST /api/v1/verify ------------------------------------------------------------------


@pytest.mark.parametrize("form", ["json", "jwt", "json-text"])
def test_an_issued_credential_verifies(client, issued, document, form):
    credential = {
        "json": document,
        "jwt": issued.record.jwt,
        "json-text": json.dumps(document),
    }[form]
    response = post(client, {"credential": credential})
    assert response.status_code == HTTPStatus.OK
    body = response.get_json()
    assert body["verified"] is True
    assert body["verdict"] == "valid"
    assert body["form"] == ("jwt" if form == "jwt" else "json")
    assert {c["name"] for c in body["checks"]} >= {
        "format",
        "proof",
        "dates",
        "status",
        "schema",
        "issuer",
    }
    assert all(c["outcome"] == "passed" for c in body["checks"])
    assert body["credential"]["credentialSubject"]["name"] == "Amina Haddad"
    assert "recipient" not in body


def test_a_tampered_credential_is_an_answer_naming_the_failed_check(client, document):
    response = post(client, {"credential": tamper(document)})
    assert response.status_code == HTTPStatus.OK
    body = response.get_json()
    assert body["verified"] is False
    assert body["verdict"] == "invalid"
    proof = next(c for c in body["checks"] if c["name"] == "proof")
    assert proof["outcome"] == "failed"
    assert proof["code"] == "invalid-proof"


def test_a_tampered_jwt_fails_its_proof(client, issued):
    body = post(client, {"credential": flip_signature(issued.record.jwt)}).get_json()
    assert body["verified"] is False
    assert next(c for c in body["checks"] if c["name"] == "proof")["outcome"] == "failed"


def test_a_revoked_credential_says_revoked(client, db, now, issued, document):
    services.revoke_credential(db, issued.record, reason="issued in error", now=now)
    body = post(client, {"credential": document}).get_json()
    assert body["verified"] is False
    assert body["verdict"] == "revoked"
    status = next(c for c in body["checks"] if c["name"] == "status")
    assert status["outcome"] == "failed" and status["code"] == "revoked"


@pytest.mark.parametrize("suffix", ["", "/", "?lang=ar", "#top"])
def test_a_verify_link_of_this_instance_verifies_the_stored_credential(client, issued, suffix):
    assert issued.verify_url.startswith(f"{PUBLIC_URL}/v/")
    body = post(client, {"credential": f"  {issued.verify_url}{suffix}\n"}).get_json()
    assert body["verified"] is True
    assert body["credential"]["id"] == issued.record.credential_id


def test_a_bare_public_id_verifies_too(client, issued):
    body = post(client, {"credential": issued.record.public_id}).get_json()
    assert body["verified"] is True


def test_a_verify_link_nobody_issued_is_an_answer(client, issued):
    body = post(client, {"credential": f"{PUBLIC_URL}/v/no-such-credential"}).get_json()
    assert body["verified"] is False
    assert body["checks"][0]["code"] == "unknown-verify-link"


def test_links_to_other_sites_are_never_fetched(client, no_network):
    body = post(client, {"credential": "https://evil.example/v/abc"}).get_json()
    assert body["verified"] is False
    assert body["checks"][0]["code"] == "foreign-link"
    assert no_network == []


def test_the_recipient_check(client, document):
    right = post(client, {"credential": document, "email": "Amina@Example.org"}).get_json()
    assert right["recipient"] is True
    wrong = post(client, {"credential": document, "email": "mallory@example.org"}).get_json()
    assert wrong["recipient"] is False
    assert wrong["verified"] is True  # the credential is genuine; it is just not Mallory's
    nothing = post(client, {"credential": "not a credential", "email": "a@example.org"})
    assert nothing.get_json()["recipient"] is None


def test_a_malformed_email_is_a_validation_problem(client, document):
    problem = assert_problem(
        post(client, {"credential": document, "email": "not-an-address"}),
        HTTPStatus.UNPROCESSABLE_ENTITY,
    )
    assert "email" in problem["errors"]


@pytest.mark.parametrize("email", ["amina@example.org", "not-an-address"])
def test_an_email_query_with_a_json_body_is_refused(client, document, email):
    """Found by Schemathesis: it was ignored, answering without the recipient check asked for."""
    response = client.post(VERIFY, query_string={"email": email}, json={"credential": document})
    problem = assert_problem(response, HTTPStatus.UNPROCESSABLE_ENTITY)
    assert "email member" in problem["errors"]["email"][0]


def test_unknown_fields_are_refused_by_name(client, document):
    problem = assert_problem(
        post(client, {"credential": document, "verbose": True}), HTTPStatus.UNPROCESSABLE_ENTITY
    )
    assert problem["code"] == "validation-failed"
    assert "verbose" in problem["errors"]


def test_a_missing_credential_is_a_validation_problem(client):
    problem = assert_problem(post(client, {}), HTTPStatus.UNPROCESSABLE_ENTITY)
    assert "credential" in problem["errors"]


W3C_DID_KEY = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
GARBAGE = [
    0,
    -1,
    1.5,
    10**300,
    True,
    None,
    [],
    [1, "a"],
    {},
    "",
    " ",
    "a.b.c",
    "a.b",
    "..",
    "{",
    "[]",
    "null",
    "{}",
    '{"proof": 1}',
    "\u0000",
    "eyJ.eyJ.",
    "x" * 100_000,
    {"@context": 5},
    {"type": None, "proof": 7},
    {"type": ["VerifiableCredential"]},
    {
        "type": ["VerifiableCredential"],
        "issuer": "did:key:zzz",
        "credentialSubject": {},
        "proof": [1, 2],
    },
    {"type": ["VerifiableCredential"], "issuer": {"id": 5}, "credentialSubject": []},
    {
        "type": ["VerifiableCredential"],
        "issuer": "did:key:z6Mk",
        "credentialSubject": {},
        "proof": {
            "type": "DataIntegrityProof",
            "cryptosuite": "eddsa-rdfc-2022",
            "verificationMethod": "did:key:z6Mk#z6Mk",
            "proofValue": "z" + "1" * 600,
        },
    },
    {
        "@context": ["https://www.w3.org/ns/credentials/v2", {"@vocab": "http://x/"}],
        "type": ["VerifiableCredential"],
        "issuer": "did:web:evil.example",
        "credentialSubject": {"id": {"@id": {"@id": 1}}},
        "proof": {
            "type": "DataIntegrityProof",
            "cryptosuite": "eddsa-rdfc-2022",
            "verificationMethod": "did:web:evil.example#k",
            "proofValue": "z1",
        },
    },
    {"type": "EnvelopedVerifiableCredential", "id": "data:application/vc+jwt,a.b.c"},
    {"type": "EnvelopedVerifiableCredential", "id": 7},
    # pyld rejects a relative context IRI with a bare ValueError: still an answer.
    {
        "@context": ["https://www.w3.org/ns/credentials/v2", "x"],
        "type": ["VerifiableCredential"],
        "issuer": W3C_DID_KEY,
        "credentialSubject": {},
        "proof": {
            "type": "DataIntegrityProof",
            "cryptosuite": "eddsa-rdfc-2022",
            "verificationMethod": W3C_DID_KEY + "#" + W3C_DID_KEY.removeprefix("did:key:"),
            "proofValue": multibase_base58btc(bytes(range(64))),
        },
    },
    {
        "validFrom": "yesterday",
        "validUntil": [],
        "credentialStatus": {"type": 5},
        "type": ["VerifiableCredential"],
        "issuer": "did:key:z6Mk",
        "credentialSubject": {},
    },
]


@pytest.mark.parametrize("credential", GARBAGE, ids=lambda v: repr(v)[:40])
@pytest.mark.parametrize("email", [None, "a@example.org"])
def test_garbage_credentials_get_an_answer_or_a_problem_never_a_500(
    client, credential, email, no_network
):
    body = {"credential": credential} | ({"email": email} if email else {})
    response = post(client, body)
    if isinstance(credential, dict | str):
        # A credential-shaped input is always answered, whatever is inside it.
        assert response.status_code == HTTPStatus.OK, response.get_json()
        assert response.get_json()["verified"] is False
    else:
        problem = assert_problem(response, HTTPStatus.UNPROCESSABLE_ENTITY)
        assert "credential" in problem["errors"]
    assert no_network == []  # nothing anyone sends makes the verifier reach out (SSRF)


@pytest.mark.parametrize("email", [0, [], {}, "x" * 400, "@", "a@b"])
def test_garbage_emails_are_validation_problems(client, document, email):
    assert_problem(post(client, {"credential": document, "email": email}), 422)


@pytest.mark.parametrize("depth", [50, 70, 500])
def test_deep_credentials_are_refused_by_the_pipeline(client, depth):
    credential = {"type": ["VerifiableCredential"]}
    node = credential
    for _ in range(depth):
        node["x"] = {}
        node = node["x"]
    response = post(client, {"credential": credential})
    assert response.status_code == HTTPStatus.OK
    assert response.get_json()["verified"] is False


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_absurdly_deep_json_is_a_bad_request(client, depth):
    raw = '{"credential": ' + "[" * depth + "]" * depth + "}"
    problem = assert_problem(
        client.post(VERIFY, data=raw, content_type="application/json"), HTTPStatus.BAD_REQUEST
    )
    assert "nested too deeply" in problem["detail"]


def test_a_body_over_the_limit_is_too_large(client):
    # The verify API takes whole wallets: its limit is the wallet limit.
    client.application.config["MAX_WALLET_BYTES"] = 2 * 1024 * 1024
    raw = json.dumps({"credential": "x" * (3 * 1024 * 1024)})
    assert_problem(
        client.post(VERIFY, data=raw, content_type="application/json"),
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"{",
        b'{"credential": NaN}',
        b'{"credential": "\xff"}',
        b"",
        b'{"credential": ' + b"1" * 5000 + b"}",
        b'{"a": 1} trailing',
    ],
    ids=["text", "truncated", "nan", "not-utf8", "empty", "huge-int", "trailing"],
)
def test_a_body_that_is_not_json_is_a_bad_request(client, raw):
    assert_problem(
        client.post(VERIFY, data=raw, content_type="application/json"), HTTPStatus.BAD_REQUEST
    )


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_a_body_that_is_not_sent_as_json_is_unsupported(client, document, content_type):
    response = client.post(
        VERIFY, data=json.dumps({"credential": document}), content_type=content_type
    )
    assert_problem(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE)


@pytest.mark.parametrize("body", [[], [1], "x", 1, None, True])
def test_a_body_that_is_not_an_object_is_a_validation_problem(client, body):
    response = client.post(VERIFY, data=json.dumps(body), content_type="application/json")
    assert_problem(response, HTTPStatus.UNPROCESSABLE_ENTITY)


def test_json_ld_content_types_are_json(client, document):
    response = client.post(
        VERIFY, data=json.dumps({"credential": document}), content_type="application/ld+json"
    )
    assert response.status_code == HTTPStatus.OK


def test_no_csrf_token_is_needed(client, document):
    # The app has CSRF protection on; this JSON API authorises nothing by cookie.
    assert post(client, {"credential": document}).status_code == HTTPStatus.OK


def test_only_post(client):
    assert_problem(client.get(VERIFY), HTTPStatus.METHOD_NOT_ALLOWED)


@pytest.mark.parametrize(
    "header",
    [
        {"jku": "https://evil.example/jwks.json"},
        {"x5u": "https://evil.example/cert.pem"},
        {
            "jwk": {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            }
        },
        {"crit": ["exp"]},
        {"x5c": ["MIIB"]},
    ],
    ids=lambda h: next(iter(h)),
)
def test_jwt_headers_that_name_keys_are_refused_without_fetching(client, header, no_network):
    signer = make_signer("EdDSA", did="did:key")
    token = signed_jwt(signer)
    head, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    forged_head = base64.urlsafe_b64encode(json.dumps(decoded | header).encode()).rstrip(b"=")
    body = post(client, {"credential": f"{forged_head.decode()}.{payload}.{signature}"}).get_json()
    assert body["verified"] is False
    proof = next(c for c in body["checks"] if c["name"] == "proof")
    assert proof["outcome"] == "failed"
    assert no_network == []


def test_alg_none_and_hmac_are_refused(client):
    for alg in ("none", "HS256"):
        token = unsigned_jwt({"alg": alg, "kid": "did:key:z6Mk#z6Mk", "typ": "JWT"}, {"iss": "x"})
        body = post(client, {"credential": token}).get_json()
        assert body["verified"] is False


# -- VC-API: POST /credentials/verify -----------------------------------------------------


@pytest.mark.parametrize("form", ["json", "jwt", "enveloped"])
def test_vcapi_verifies_a_credential(client, issued, document, form):
    credential = {
        "json": document,
        "jwt": issued.record.jwt,
        "enveloped": {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "id": f"data:application/vc+jwt,{issued.record.jwt}",
            "type": "EnvelopedVerifiableCredential",
        },
    }[form]
    response = post(
        client, {"verifiableCredential": credential, "options": {}}, "/credentials/verify"
    )
    assert response.status_code == HTTPStatus.OK
    body = response.get_json()
    assert body["verified"] is True
    assert body["errors"] == [] and body["warnings"] == []
    assert {"proof", "dates", "status", "schema", "issuer"} <= set(body["checks"])
    assert body["verdict"] == "valid"
    assert all(r["outcome"] == "passed" for r in body["results"])


def test_vcapi_reports_a_tampered_credential_as_errors(client, document):
    body = post(client, {"verifiableCredential": tamper(document)}, "/credentials/verify")
    body = body.get_json()
    assert body["verified"] is False
    assert "proof" not in body["checks"]
    assert any(e["check"] == "proof" and e["code"] == "invalid-proof" for e in body["errors"])
    assert all(set(e) == {"check", "code", "message"} for e in body["errors"])


def test_vcapi_revoked_is_an_error(client, db, now, issued, document):
    services.revoke_credential(db, issued.record, reason="issued in error", now=now)
    body = post(client, {"verifiableCredential": document}, "/credentials/verify").get_json()
    assert body["verified"] is False
    assert body["verdict"] == "revoked"
    assert any(e["code"] == "revoked" for e in body["errors"])


def test_vcapi_an_unrecognised_issuer_is_a_warning(client):
    """Trust is the caller's business in the VC-API; the signature itself is genuine."""
    credential = signed_json(make_signer("EdDSA", did="did:key"))
    body = post(client, {"verifiableCredential": credential}, "/credentials/verify").get_json()
    assert body["verified"] is True
    assert body["verdict"] == "issuer not recognised"
    assert [w["code"] for w in body["warnings"]] == ["issuer-not-recognised"]


def test_vcapi_unknown_options_are_warnings(client, document):
    body = post(
        client,
        {"verifiableCredential": document, "options": {"checks": ["proof"]}},
        "/credentials/verify",
    ).get_json()
    assert body["verified"] is True
    assert [w["code"] for w in body["warnings"]] == ["unsupported-option"]


@pytest.mark.parametrize(
    "request_body",
    [
        {},
        {"verifiableCredential": 5},
        {"verifiableCredential": None},
        {"verifiableCredential": {}, "extra": 1},
        {"verifiableCredential": {}, "options": []},
        {"credential": {}},
    ],
)
def test_vcapi_malformed_requests_are_problems(client, request_body):
    response = post(client, request_body, "/credentials/verify")
    assert_problem(response, HTTPStatus.UNPROCESSABLE_ENTITY)


def test_vcapi_not_json_is_a_problem(client):
    response = client.post("/credentials/verify", data="{", content_type="application/json")
    assert_problem(response, HTTPStatus.BAD_REQUEST)


# -- VC-API: POST /presentations/verify ---------------------------------------------------


def presentation(*credentials, holder=None):
    vp = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "verifiableCredential": list(credentials),
    }
    if holder:
        vp["holder"] = holder
    return vp


def sign_presentation(vp, signer, *, challenge=None, domain=None, purpose="authentication"):
    """A holder's eddsa-rdfc-2022 proof, made step by step as the spec describes it."""
    proof = {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": "2026-01-15T09:30:00Z",
        "verificationMethod": signer.verification_method,
        "proofPurpose": purpose,
    }
    if challenge is not None:
        proof["challenge"] = challenge
    if domain is not None:
        proof["domain"] = domain
    hash_data = data_integrity.hashing(
        data_integrity.transformation(vp, frozen_document_loader),
        data_integrity.proof_configuration(proof, vp["@context"], frozen_document_loader),
    )
    proof["proofValue"] = multibase_base58btc(signer.sign(hash_data))
    return vp | {"proof": proof}


@pytest.fixture
def holder():
    return make_signer("EdDSA", did="did:key")


def verify_presentation(client, vp, **options):
    response = post(
        client, {"verifiablePresentation": vp, "options": options}, "/presentations/verify"
    )
    assert response.status_code == HTTPStatus.OK, response.get_data(as_text=True)[:500]
    return response.get_json()


def test_a_presentation_with_one_tampered_credential_is_not_verified(client, issued, document):
    body = verify_presentation(client, presentation(issued.record.jwt, tamper(document)))
    assert body["verified"] is False
    first, second = body["credentialResults"]
    assert first["verified"] is True and first["verdict"] == "valid"
    assert second["verified"] is False and second["verdict"] == "invalid"
    assert any(e["check"] == "proof" for e in second["errors"])
    assert [e["code"] for e in body["errors"]] == ["credential-not-verified"]
    assert "credential 2 of 2" in body["errors"][0]["message"]
    # No proof on the presentation: allowed, but said.
    assert body["presentationResult"]["verified"] is True
    assert [w["code"] for w in body["warnings"]] == ["no-presentation-proof"]


def test_a_presentation_of_good_credentials_verifies(client, issued, document):
    enveloped = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": f"data:application/vc+jwt,{issued.record.jwt}",
        "type": "EnvelopedVerifiableCredential",
    }
    body = verify_presentation(client, presentation(document, enveloped))
    assert body["verified"] is True
    assert "credentials" in body["checks"]
    assert [r["verified"] for r in body["credentialResults"]] == [True, True]


def test_a_holder_proof_with_the_challenge_verifies(client, document, holder):
    did = holder.verification_method.partition("#")[0]
    vp = sign_presentation(
        presentation(document, holder=did), holder, challenge="c-8f2e", domain="employer.example"
    )
    body = verify_presentation(client, vp, challenge="c-8f2e", domain="employer.example")
    assert body["verified"] is True, body
    result = body["presentationResult"]
    assert result["verified"] is True
    assert result["holder"] == did
    assert {"presentation", "presentation-proof", "challenge", "domain"} <= set(result["checks"])
    assert body["warnings"] == []


def test_a_holder_proof_without_a_holder_member_binds_its_key(client, document, holder):
    body = verify_presentation(client, sign_presentation(presentation(document), holder))
    assert body["verified"] is True
    assert body["presentationResult"]["holder"] == holder.verification_method.partition("#")[0]


@pytest.mark.parametrize(
    ("signed_with", "asked", "code"),
    [
        ({"challenge": "old-challenge"}, {"challenge": "c-8f2e"}, "invalid-proof"),
        ({}, {"challenge": "c-8f2e"}, "invalid-proof"),
        (
            {"challenge": "c-8f2e", "domain": "other.example"},
            {"challenge": "c-8f2e", "domain": "employer.example"},
            "invalid-proof",
        ),
        (
            {"challenge": "c-8f2e", "purpose": "assertionMethod"},
            {"challenge": "c-8f2e"},
            "invalid-proof",
        ),
    ],
    ids=["replayed", "no-challenge", "wrong-domain", "wrong-purpose"],
)
def test_a_holder_proof_for_another_challenge_is_not_verified(
    client, document, holder, signed_with, asked, code
):
    vp = sign_presentation(presentation(document), holder, **signed_with)
    body = verify_presentation(client, vp, **asked)
    assert body["verified"] is False
    assert body["presentationResult"]["verified"] is False
    assert code in [e["code"] for e in body["errors"]]
    assert body["credentialResults"][0]["verified"] is True  # the credential itself is fine


def test_a_presentation_changed_after_signing_is_not_verified(client, issued, document, holder):
    vp = sign_presentation(presentation(document), holder, challenge="c-8f2e")
    vp["verifiableCredential"].append(issued.record.jwt)  # smuggled in after the holder signed
    body = verify_presentation(client, vp, challenge="c-8f2e")
    assert body["verified"] is False
    assert body["presentationResult"]["verified"] is False


def test_a_presentation_signed_by_someone_else_than_its_holder(client, document, holder):
    other = make_signer("EdDSA", did="did:key").verification_method.partition("#")[0]
    vp = sign_presentation(presentation(document, holder=other), holder)
    body = verify_presentation(client, vp)
    assert body["verified"] is False
    assert "key-mismatch" in [e["code"] for e in body["errors"]]


def test_a_challenge_no_proof_answers_is_an_error(client, document):
    body = verify_presentation(client, presentation(document), challenge="c-8f2e")
    assert body["verified"] is False
    assert "challenge-not-checked" in [e["code"] for e in body["errors"]]


def test_a_proof_of_another_kind_is_reported_as_not_checked(client, document):
    vp = presentation(document) | {
        "proof": {
            "type": "Ed25519Signature2020",
            "verificationMethod": "did:web:w.example#k",
            "proofPurpose": "authentication",
            "proofValue": "z1",
        }
    }
    body = verify_presentation(client, vp)
    assert body["verified"] is True
    assert [w["code"] for w in body["warnings"]] == ["presentation-proof-not-checked"]
    assert "presentation proof not checked" in body["warnings"][0]["message"]
    # ... and it cannot answer a challenge.
    assert verify_presentation(client, vp, challenge="c-8f2e")["verified"] is False


def test_a_presentation_padded_with_values_is_not_verified(client, document, holder):
    vp = sign_presentation(presentation(document), holder)
    vp["tag"] = [f"tag {n}" for n in range(3_000)]  # one credential: at most 2,250 values
    body = verify_presentation(client, vp)
    assert body["verified"] is False
    assert [e["code"] for e in body["presentationResult"]["errors"]] == ["too-large"]


def test_a_presentation_that_is_not_json_ld_is_not_verified(client, document, holder):
    vp = sign_presentation(presentation(document), holder)
    vp["@context"] = ["https://www.w3.org/ns/credentials/v2", "x"]
    body = verify_presentation(client, vp)
    assert body["verified"] is False
    assert "canonicalization-failed" in [e["code"] for e in body["errors"]]


def test_a_credential_of_tens_of_thousands_of_values_is_refused_before_json_ld(client):
    credential = signed_json(make_signer("EdDSA", did="did:key"))
    credential["credentialSubject"]["achievement"]["tag"] = [f"t{n}" for n in range(25_000)]

    response = post(client, {"credential": credential})

    assert response.status_code == HTTPStatus.OK
    body = response.get_json()
    assert body["verdict"] == "invalid"
    failed = [(c["name"], c["code"]) for c in body["checks"] if c["outcome"] == "failed"]
    assert failed == [("format", "too-large")]


def test_a_credential_made_to_exhaust_canonicalization_is_refused_at_once(client):
    """Identical nodes nested in identical nodes (RDFC-1.0's "dataset poisoning"): no
    signature needed, since the document is canonicalized before its proof is checked.
    Fourteen levels would keep a worker busy for days; the answer comes straight back."""
    credential = signed_json(make_signer("EdDSA", did="did:key"))
    credential["credentialSubject"]["achievement"]["resultDescription"] = look_alike_results(14)

    response = post(client, {"credential": credential})

    assert response.status_code == HTTPStatus.OK
    body = response.get_json()
    assert body["verified"] is False
    assert body["verdict"] == "invalid"
    proof = next(c for c in body["checks"] if c["name"] == "proof")
    assert (proof["outcome"], proof["code"]) == ("failed", "canonicalization-failed")
    assert "too alike" in proof["message"]


def test_not_a_presentation(client, document):
    vp = presentation(document) | {"type": ["VerifiableCredential"]}
    body = verify_presentation(client, vp)
    assert body["verified"] is False
    assert "malformed-presentation" in [e["code"] for e in body["errors"]]


def test_an_empty_presentation_is_said_to_be_empty(client):
    body = verify_presentation(client, presentation())
    assert body["credentialResults"] == []
    assert "no-credentials" in [w["code"] for w in body["warnings"]]


@pytest.mark.parametrize(
    "request_body",
    [
        {},
        {"verifiablePresentation": []},
        {"verifiablePresentation": "eyJ.eyJ.sig"},
        {"verifiablePresentation": {"verifiableCredential": [1]}},
        {"verifiablePresentation": {"verifiableCredential": [None]}},
        {"verifiablePresentation": {"verifiableCredential": ["a"] * 101}},
        {"verifiablePresentation": {}, "options": {"challenge": 5}},
        {"verifiablePresentation": {}, "options": {"challenge": ""}},
        {"verifiablePresentation": {}, "unknown": 1},
    ],
    ids=[
        "empty",
        "list",
        "string",
        "number",
        "null",
        "too-many",
        "challenge-type",
        "blank-challenge",
        "unknown-member",
    ],
)
def test_malformed_presentation_requests_are_problems(client, request_body):
    response = post(client, request_body, "/presentations/verify")
    assert_problem(response, HTTPStatus.UNPROCESSABLE_ENTITY)


def test_a_deeply_nested_presentation_is_a_problem(client):
    vp = presentation()
    node = vp
    for _ in range(200):
        node["x"] = {}
        node = node["x"]
    response = post(client, {"verifiablePresentation": vp}, "/presentations/verify")
    assert_problem(response, HTTPStatus.UNPROCESSABLE_ENTITY)


@pytest.mark.parametrize("credential", GARBAGE, ids=lambda v: repr(v)[:40])
def test_garbage_inside_presentations_never_a_500(client, credential, holder, no_network):
    if not isinstance(credential, dict | str):
        credential = {"value": credential}
    for vp in (
        presentation(credential),
        presentation(credential)
        | {
            "proof": {
                "type": "DataIntegrityProof",
                "cryptosuite": "eddsa-rdfc-2022",
                "verificationMethod": "did:key:zzz",
                "proofPurpose": "authentication",
            }
        },
        presentation(credential) | {"proof": [1]},
        presentation(credential) | {"holder": {"id": 7}, "proof": {}},
    ):
        response = post(client, {"verifiablePresentation": vp}, "/presentations/verify")
        assert response.status_code == HTTPStatus.OK
        assert response.get_json()["verified"] is False
    assert no_network == []


def test_a_holder_proof_at_the_valid_time(client, document, holder):
    vp = sign_presentation(presentation(document), holder)
    vp["proof"]["expires"] = "2020-01-01T00:00:00Z"  # also breaks the signature; either way
    body = verify_presentation(client, vp)
    assert body["verified"] is False
    assert NOW.year == 2026


def test_a_credential_without_status_made_by_a_test_signer(client):
    """Credentials from elsewhere go through the same pipeline (did:key works offline)."""
    credential = make_credential(
        issuer_did="did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    )
    body = post(client, {"credential": credential}).get_json()
    assert body["verified"] is False  # unsigned
    assert next(c for c in body["checks"] if c["name"] == "proof")["code"] == "no-proof"


# -- the answer's shape is the documented one -------------------------------------------------


def _results() -> list[VerificationResult]:
    """Results of every verdict and outcome, with messages that fill in values."""
    later = datetime(2031, 1, 15, 9, 30, tzinfo=UTC)
    checks = (
        Check("format", Outcome.PASSED, Message("a VC-JWT (compact JWS)")),
        Check("proof", Outcome.FAILED, Message("the signature does not verify"), "invalid-proof"),
        Check(
            "dates",
            Outcome.FAILED,
            Message.of("expired on %(when)s", when=later),
            "expired",
            "technical detail in English",
        ),
        Check("status", Outcome.COULD_NOT_CHECK, Message("no list"), "status-unavailable"),
        Check("issuer", Outcome.PASSED, Message.counted("%(num)s key", "%(num)s keys", 2)),
    )
    return [
        VerificationResult(verdict, checks[: index + 1], credential, form)
        for index, verdict in enumerate(Verdict)
        for credential, form in (
            (None, None),
            (make_credential(), "json"),
            ({"id": "urn:x", "nested": [{"é": 1.5}]}, "jwt"),
        )
    ]


@pytest.mark.parametrize("result", _results())
def test_the_answer_is_exactly_what_the_documented_schema_dumps(result):
    assert result_json(result) == VerificationResultSchema().dump(result)


def test_a_real_answer_matches_the_documented_schema(client, issued, document):
    for credential in (issued.record.jwt, document, tamper(document)):
        body = post(client, {"credential": credential}).json
        assert VerifyResponseSchema().validate(body) == {}
        assert set(body) == set(VerificationResultSchema().fields)
