"""Wallet verification (CLR JSON or ZIP): any upload gets a WalletResult, one row per credential."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from credentials.archive import write_zip
from credentials.proofs import data_integrity
from credentials.wallet import build_clr
from tests.helpers import ISSUER_DID, NOW, StaticResolver, make_signer, signed_json, signed_jwt
from verifier.pipeline import Verdict, verify_credential
from verifier.wallet import WalletResult, looks_like_wallet, verify_wallet

from .strategies import any_text, flipped, json_objects, json_text, mutated_documents, truncated

SIGNER = make_signer()
RESOLVER = StaticResolver(SIGNER)
UNSIGNED_CLR = build_clr(
    [signed_json(SIGNER)],
    clr_id="urn:uuid:5d1f2b0e-0a8e-4a7e-9f55-1c3d2b4a6e01",
    issuer={"id": ISSUER_DID, "type": ["Profile"], "name": "Northside Skills Centre"},
    name="Amina Haddad's wallet",
    valid_from=NOW,
)
# A CLR may carry VC-JWTs as strings next to JSON credentials.
UNSIGNED_CLR["credentialSubject"]["verifiableCredential"].append(signed_jwt(SIGNER))
CLR = data_integrity.add_proof(UNSIGNED_CLR, SIGNER, created=NOW)
ZIP = write_zip([("wallet.json", json.dumps(CLR).encode())])
LOOSE_ZIP = write_zip(
    [("a.json", json.dumps(signed_json(SIGNER)).encode()), ("b.jwt", signed_jwt(SIGNER).encode())]
)
VERIFY_ONE = partial(verify_credential, resolver=RESOLVER, now=NOW, trusted_issuers={ISSUER_DID})


def verify(data: Any) -> WalletResult:
    result = verify_wallet(data, verify_one=VERIFY_ONE, resolver=RESOLVER, now=NOW)
    assert isinstance(result, WalletResult)
    for entry in result.entries:
        assert entry.result.verdict in set(Verdict)
    return result


def test_the_unchanged_wallets_verify() -> None:
    assert verify(CLR).verified and verify(ZIP).verified and verify(LOOSE_ZIP).verified


@given(st.binary(max_size=400) | any_text | json_objects().map(json_text))
def test_any_upload_gets_a_wallet_result(data: bytes | str) -> None:
    assert not verify(data).verified


@given(mutated_documents(CLR))
def test_a_changed_wallet_gets_a_wallet_result(document: dict[str, Any]) -> None:
    verify(json_text(document).encode("utf-8"))


@given(flipped(ZIP) | truncated(ZIP) | flipped(LOOSE_ZIP) | truncated(LOOSE_ZIP))
def test_a_damaged_zip_wallet_gets_a_wallet_result(data: bytes) -> None:
    verify(data)


@given(
    st.lists(
        st.tuples(st.sampled_from(["a.json", "b.jwt", "wallet.json", "c.txt"]), st.binary()),
        max_size=4,
        unique_by=lambda entry: entry[0],
    )
)
def test_a_zip_of_anything_gets_a_wallet_result(files: list[tuple[str, bytes]]) -> None:
    assert not verify(write_zip(files)).verified


# -- regressions for what the properties found (plain examples) -----------------------------


def test_a_wallet_given_as_text_with_a_lone_surrogate_is_refused_not_a_crash() -> None:
    result = verify("\ud800")
    assert result.envelope is not None
    assert result.envelope.checks[0].code == "malformed-credential"
    assert not looks_like_wallet('{"type": "ClrCredential", "name": "\ud800"}')


def test_a_wallet_with_a_number_too_long_to_read_is_refused_not_a_crash() -> None:
    text = json.dumps(CLR)[:-1] + ', "x": ' + "1" * 5000 + "}"
    result = verify(text)
    assert result.envelope is not None and not result.verified
    assert result.envelope.checks[0].code == "malformed-credential"
