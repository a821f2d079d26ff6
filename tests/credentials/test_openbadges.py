"""Building OpenBadgeCredentials: shape required by OB 3.0 / VC 2.0, and the JSON Schema."""

from __future__ import annotations

import hashlib
from datetime import timedelta, timezone

import pytest

from credentials import (
    Achievement,
    IssuerProfile,
    Recipient,
    SchemaValidationError,
    build_credential,
    hash_email,
    validate_open_badge,
)
from credentials.model import ESCO_FRAMEWORK
from credentials.openbadges import is_valid_achievement_type

from ..helpers import NOW, WELDING_SKILL, make_credential, make_signer, signed_json


def test_contexts_types_and_required_members():
    credential = make_credential()
    assert credential["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["id"].startswith("urn:uuid:")
    assert credential["issuer"] == {
        "id": "did:web:tessera.test:orgs:northside",
        "type": ["Profile"],
        "name": "Northside Skills Centre",
    }
    assert credential["validFrom"] == "2026-01-15T09:30:00Z"
    subject = credential["credentialSubject"]
    assert subject["type"] == ["AchievementSubject"]
    achievement = subject["achievement"]
    assert {"id", "type", "name", "description", "criteria"} <= achievement.keys()
    assert achievement["achievementType"] == "ext:JobTask"
    assert achievement["alignment"] == [
        {
            "type": ["Alignment"],
            "targetName": "perform metal active gas welding",
            "targetUrl": WELDING_SKILL,
            "targetFramework": ESCO_FRAMEWORK,
            "targetCode": "60ff3eac-7d4d-4e51-87b8-74c3b5d62498",
            "targetType": "ceasn:Competency",
        }
    ]


def test_recipient_email_is_only_present_as_a_salted_hash():
    credential = make_credential()
    (identity,) = credential["credentialSubject"]["identifier"]
    expected = "sha256$" + hashlib.sha256(b"amina@example.orgc0ffee").hexdigest()
    assert identity == {
        "type": "IdentityObject",
        "identityHash": expected,
        "identityType": "emailAddress",
        "hashed": True,
        "salt": "c0ffee",
    }
    assert "amina@example.org" not in str(credential)


def test_email_is_normalised_before_hashing():
    assert hash_email(" Amina@Example.ORG ", "s") == hash_email("amina@example.org", "s")


def test_subject_id_when_the_worker_has_a_did():
    credential = build_credential(
        credential_id="urn:uuid:1",
        issuer=IssuerProfile("did:key:z6Mkx", "C"),
        achievement=Achievement("https://a.test/1", "N", "D", "C"),
        recipient=Recipient("W", "w@example.org", "s", did="did:key:z6MkWorker"),
        valid_from=NOW,
    )
    assert credential["credentialSubject"]["id"] == "did:key:z6MkWorker"


def test_times_are_utc_with_zone_and_validity_is_ordered():
    eastern = NOW.astimezone(timezone(timedelta(hours=-5)))
    credential = make_credential()
    built = build_credential(
        credential_id="urn:uuid:1",
        issuer=IssuerProfile("did:key:z6Mkx", "C"),
        achievement=Achievement("https://a.test/1", "N", "D", "C"),
        recipient=Recipient("W", "w@example.org", "s"),
        valid_from=eastern,
        valid_until=eastern + timedelta(days=365),
    )
    assert built["validFrom"] == credential["validFrom"]
    assert built["validUntil"] == "2027-01-15T09:30:00Z"
    with pytest.raises(ValueError, match="later than validFrom"):
        build_credential(
            credential_id="urn:uuid:1",
            issuer=IssuerProfile("did:key:z6Mkx", "C"),
            achievement=Achievement("https://a.test/1", "N", "D", "C"),
            recipient=Recipient("W", "w@example.org", "s"),
            valid_from=NOW,
            valid_until=NOW,
        )
    with pytest.raises(ValueError, match="timezone"):
        build_credential(
            credential_id="urn:uuid:1",
            issuer=IssuerProfile("did:key:z6Mkx", "C"),
            achievement=Achievement("https://a.test/1", "N", "D", "C"),
            recipient=Recipient("W", "w@example.org", "s"),
            valid_from=NOW.replace(tzinfo=None),
        )


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("Competency", True),
        ("MicroCredential", True),
        ("ext:JobTask", True),
        ("ext:", False),
        ("ext:Job Task", False),
        ("JobTask", False),
        ("", False),
    ],
)
def test_achievement_types(value, ok):
    assert is_valid_achievement_type(value) is ok


def test_signed_credential_matches_the_official_schema():
    validate_open_badge(signed_json(make_signer()))


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda c: c.pop("validFrom"), "(document)"),
        (lambda c: c.update(type=["VerifiableCredential"]), "type"),
        (lambda c: c.update({"@context": ["https://www.w3.org/ns/credentials/v2"]}), "@context"),
        (lambda c: c["credentialSubject"]["achievement"].pop("criteria"), "achievement"),
        (
            lambda c: c["credentialSubject"]["achievement"].update(achievementType="Job"),
            "achievementType",
        ),
        (lambda c: c.update(proof={"type": "DataIntegrityProof"}), "proof"),
    ],
)
def test_schema_violations_are_reported_with_their_place(change, where):
    credential = make_credential()
    change(credential)
    with pytest.raises(SchemaValidationError) as caught:
        validate_open_badge(credential)
    assert caught.value.code == "schema-invalid"
    assert any(where in problem for problem in caught.value.problems)


def test_a_number_too_long_to_print_is_a_schema_problem_not_a_crash():
    # jsonschema words its messages with repr(), which raises past 4,300 digits.
    credential = make_credential(name=10**5000)

    with pytest.raises(SchemaValidationError) as excinfo:
        validate_open_badge(credential)

    assert "number too long" in excinfo.value.problems[0]
