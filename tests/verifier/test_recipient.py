"""'Does this credential belong to that e-mail?' against hashed and plain identities."""

from __future__ import annotations

import hashlib

import pytest

from verifier.recipient import belongs_to

from ..helpers import make_credential


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("amina@example.org", True),
        ("  AMINA@example.ORG ", True),
        ("amina@example.com", False),
        ("", False),
    ],
)
def test_hashed_email_identity(email, expected):
    assert belongs_to(make_credential(), email) is expected


def test_plaintext_and_md5_identities_from_other_issuers():
    plain = make_credential()
    plain["credentialSubject"]["identifier"] = [
        {
            "type": "IdentityObject",
            "identityHash": "Ana@Example.org",
            "identityType": "emailAddress",
            "hashed": False,
        }
    ]
    assert belongs_to(plain, "ana@example.org") is True
    md5 = make_credential()
    digest = hashlib.md5(b"ana@example.orgpepper").hexdigest()  # OB 3.0 allows md5 identity hashes
    md5["credentialSubject"]["identifier"] = [
        {
            "type": "IdentityObject",
            "identityHash": f"md5${digest.upper()}",
            "identityType": "emailAddress",
            "hashed": True,
            "salt": "pepper",
        }
    ]
    assert belongs_to(md5, "ana@example.org") is True


def test_no_email_identity_means_unknown_not_no():
    credential = make_credential()
    credential["credentialSubject"].pop("identifier")
    assert belongs_to(credential, "amina@example.org") is None
