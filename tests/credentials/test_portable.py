"""The portable QR payload: lossless round trips, the size a phone can read, hostile input."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
import qrcode
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from qrcode.constants import ERROR_CORRECT_M

from credentials import (
    Achievement,
    Alignment,
    IssuerProfile,
    MalformedCredentialError,
    Recipient,
    build_credential,
    portable,
)
from credentials.proofs import jwt_vc
from credentials.status_list import status_entry
from keys.crypto import LocalSigner

from ..helpers import make_credential, make_signer, signed_jwt

ALGORITHMS = ("EdDSA", "ES256", "RS256")
INSTANCE = "https://skills.example-training.org"
CENTRE_DID = "did:web:skills.example-training.org:orgs:riverside-welding"
WELDING = "http://data.europa.eu/esco/skill/60ff3eac-7d4d-4e51-87b8-74c3b5d62498"
DRAWINGS = "http://data.europa.eu/esco/skill/f3a0dc3a-2c5e-4f08-a5d3-6b5f2f6f0c4e"


@pytest.fixture(scope="module")
def signers():
    """One key per algorithm; RSA generation is slow, so once per module."""
    return {alg: make_signer(alg) for alg in ALGORITHMS}


def qr_version(data: str) -> int:
    """The QR version ``qrcode`` picks for ``data`` at level M, as verifier.qr draws it."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    return int(code.version)


def realistic_credential(**overrides: Any) -> dict[str, Any]:
    """What a centre on a typical instance issues: two ESCO skills, a status entry."""
    slug_url = f"{INSTANCE}/orgs/riverside-welding"
    credential = build_credential(
        credential_id="urn:uuid:a3713673-099c-4c84-8f82-a7da50ce7824",
        issuer=IssuerProfile(id=CENTRE_DID, name="Riverside Welding & Fabrication Academy"),
        achievement=Achievement(
            id=f"{slug_url}/achievements/3ffc3f8e-1891-42a8-bf25-93eb967a7a04",
            name="Perform MAG welding on structural steel",
            description=(
                "Lays fillet and butt welds on structural steel plate with metal active gas "
                "welding, to EN ISO 9606-1."
            ),
            criteria_narrative="Passed visual inspection and bend tests on fillet and butt welds.",
            achievement_type="ext:JobTask",
            alignments=(
                Alignment.esco_skill(WELDING, "perform metal active gas welding"),
                Alignment.esco_skill(DRAWINGS, "interpret technical drawings"),
            ),
        ),
        recipient=Recipient(
            name="Oleksandra Kovalenko-Hassan",
            email="oleksandra.k@example.org",
            salt="fde054e5cfea32e0340c35de88ecd8d3",
        ),
        valid_from=datetime(2026, 3, 4, 10, 15, 30, tzinfo=UTC),
        credential_status=status_entry(f"{slug_url}/status/1", 48644),
    )
    credential.update(overrides)
    return credential


def fixed_signer() -> LocalSigner:
    """An Ed25519 key from a fixed seed: Ed25519 is deterministic, so the token is too."""
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    return LocalSigner(f"{CENTRE_DID}#key-1", "EdDSA", key)


def base45_payload(raw: bytes) -> str:
    return portable.PREFIX + portable.base45_encode(raw)


def deflated(data: bytes, *, dictionary: bool = True) -> bytes:
    options = {"zdict": portable.dictionary()} if dictionary else {}
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, **options)
    return compressor.compress(data) + compressor.flush()


def framed(header: bytes, payload: bytes, signature: bytes) -> bytes:
    return (
        len(header).to_bytes(2, "big")
        + header
        + len(payload).to_bytes(2, "big")
        + payload
        + signature
    )


# -- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_exact_token_comes_back_for_every_algorithm(signers, algorithm):
    credential = make_credential(validUntil="2027-01-15T09:30:00Z")
    credential["credentialSubject"] = {"id": "did:example:amina", **credential["credentialSubject"]}
    token = signed_jwt(signers[algorithm], credential)
    payload = portable.encode_portable(token)
    assert payload.startswith("TSR1:")
    assert portable.decode_portable(payload) == token


def test_non_ascii_text_and_an_empty_signature_survive_byte_for_byte(signers):
    credential = make_credential(name="Зварювання MAG · لحام · soudage à l'arc")
    token = signed_jwt(signers["EdDSA"], credential)
    assert portable.decode_portable(portable.encode_portable(token)) == token
    unsigned = token.rsplit(".", 1)[0] + "."
    assert portable.decode_portable(portable.encode_portable(unsigned)) == unsigned


def test_the_payload_uses_only_the_qr_alphanumeric_alphabet(signers):
    payload = portable.encode_portable(signed_jwt(signers["EdDSA"]))
    assert set(payload) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    # The prefix and base45 keep the whole code in alphanumeric mode; there is no space at
    # either end for a paste box or a scanner to trim.
    assert payload == payload.strip()


def test_a_payload_made_today_decodes_for_ever():
    """Known answer: version 1 is frozen, so a code printed now must always decode."""
    token = jwt_vc.encode_vc_jwt(realistic_credential(), fixed_signer())
    assert portable.decode_portable(KNOWN_PAYLOAD) == token


def test_a_changed_dictionary_is_refused_not_used(monkeypatch):
    real = portable.dictionary()
    monkeypatch.setattr(portable, "_DICTIONARY_SHA256", "0" * 64)
    portable.dictionary.cache_clear()
    try:
        with pytest.raises(portable.PortablePayloadError, match="frozen"):
            portable.dictionary()
    finally:
        monkeypatch.undo()
        portable.dictionary.cache_clear()
    assert portable.dictionary() == real


# -- the size a phone can read -------------------------------------------------------------


def test_a_realistic_eddsa_credential_fits_version_25_at_level_m():
    token = jwt_vc.encode_vc_jwt(realistic_credential(), fixed_signer())
    assert len(token) > 3000
    payload = portable.portable_qr_payload(token)
    assert len(payload) <= portable.MAX_PAYLOAD_CHARS
    assert qr_version(payload) <= portable.MAX_QR_VERSION
    # What the dictionary is for: the same framing without it needs a larger code.
    header, body, signature = (portable._b64url_decode(s) for s in token.split("."))
    without = base45_payload(deflated(framed(header, body, signature), dictionary=False))
    assert qr_version(without) > portable.MAX_QR_VERSION


def test_the_character_limit_is_what_version_25_m_holds():
    assert qr_version("TSR1:" + "A" * (portable.MAX_PAYLOAD_CHARS - 5)) == 25
    assert qr_version("TSR1:" + "A" * (portable.MAX_PAYLOAD_CHARS - 4)) == 26


def test_an_rs256_credential_is_not_offered_and_says_why(signers):
    token = signed_jwt(signers["RS256"])
    with pytest.raises(portable.NotPortableError, match="RS256") as caught:
        portable.portable_qr_payload(token)
    assert caught.value.reason == "algorithm"
    assert caught.value.algorithm == "RS256"


def test_a_credential_with_too_much_text_is_not_offered_and_says_why():
    # Random-looking text does not compress: a long, unusual description overflows the code.
    description = " ".join(
        f"step-{n * 7919 % 10007:05d}-{n * 104729 % 99991:05d}" for n in range(60)
    )
    credential = realistic_credential()
    credential["credentialSubject"]["achievement"]["description"] = description
    token = jwt_vc.encode_vc_jwt(credential, fixed_signer())
    with pytest.raises(portable.NotPortableError, match="version 25") as caught:
        portable.portable_qr_payload(token)
    assert caught.value.reason == "size"
    assert caught.value.length > portable.MAX_PAYLOAD_CHARS


# -- base45 (RFC 9285 §4.3 examples) ------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"AB", "BB8"),
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),
    ],
)
def test_base45_matches_the_rfc_examples(data, text):
    assert portable.base45_encode(data) == text
    assert portable.base45_decode(text) == data


@pytest.mark.parametrize(
    ("text", "reason"),
    [("GGW", "a value"), (":Z", "a value"), ("ABCD", "its length"), ("ab", "character")],
)
def test_base45_refuses_what_the_rfc_calls_invalid(text, reason):
    # "GGW" is 65,536 (RFC 9285 §4.3); ":Z" is 1,619, too much for one byte.
    with pytest.raises(portable.PortablePayloadError, match=reason):
        portable.base45_decode(text)


# -- hostile payloads ------------------------------------------------------------------------


def test_hostile_payloads_are_refused_with_a_reason(signers):
    good = portable.encode_portable(signed_jwt(signers["EdDSA"]))
    bomb = base45_payload(deflated(b"\0" * (1024 * 1024)))
    cases = {
        "must start with TSR1": "HC1:" + good[5:],
        "version 2 is not known": "TSR2:" + good[5:],
        # Whole base45 groups, about half the data: the deflate stream ends too early.
        r"cut short \(incomplete data\)": good[: 5 + 3 * 200],
        "character base45 does not use": good[:40] + "a" + good[41:],
        "expands beyond 16,384 bytes": bomb,
        "extra data after its end": base45_payload(deflated(b"\0\1{\0\1}x") + b"garbage!"),
        "compressed data is damaged": base45_payload(b"\xff" * 40),
        "JWT header is cut short or empty": base45_payload(deflated(b"\0\0")),
        "JWT payload is cut short": base45_payload(deflated(b"\0\1{\0\x09short")),
        "at most 4,296": "TSR1:" + "A" * 5000,
    }
    for reason, payload in cases.items():
        with pytest.raises(MalformedCredentialError, match=reason):
            portable.decode_portable(payload)
    with pytest.raises(portable.UnknownPortableVersionError):
        portable.decode_portable("TSR2:" + good[5:])


def test_a_bomb_small_enough_for_a_qr_code_is_stopped_at_the_bound():
    # Deflate expands up to about 1,000 times: two megabytes of zeros fit in a QR code.
    bomb = base45_payload(deflated(b"\0" * (2 * 1024 * 1024)))
    assert len(bomb) <= portable.MAX_PAYLOAD_LENGTH
    with pytest.raises(portable.PortablePayloadError, match="expands beyond"):
        portable.decode_portable(bomb)


def test_a_token_that_would_not_come_back_exactly_is_not_encoded(signers):
    token = signed_jwt(signers["EdDSA"])
    header, payload, signature = token.split(".")
    # Base64url that decodes but is not canonical (padding, non-zero trailing bits).
    for bad in (f"{header}=.{payload}.{signature}", f"{header}.{payload}.{signature[:-1]}B"):
        with pytest.raises(portable.PortablePayloadError):
            portable.encode_portable(bad)
    for bad in ("not a token", f"{header}.{payload}", f"{header}.{payload}.{signature}.x"):
        with pytest.raises(portable.PortablePayloadError, match="three"):
            portable.encode_portable(bad)


def test_is_portable_recognises_any_version_and_nothing_else():
    assert portable.is_portable("TSR1:ABC")
    assert portable.is_portable("TSR12:ABC")
    assert not portable.is_portable("tsr1:ABC")
    assert not portable.is_portable("eyJhbGciOiJFZERTQSJ9.e30.")
    assert not portable.is_portable('{"TSR1:": 1}')


#: realistic_credential() signed by fixed_signer(), encoded when format version 1 was frozen.
KNOWN_PAYLOAD = (
    "TSR1:4:O29O5$Q9S21Q77PDA$AZYRU33$IOECW7+TZONHV0YADBC19X3ROCIZQV/F7E9629BAJ.5A45WL$0*8UPD"
    "8*I7EH6JABY43PSPT2H.*KT$K2YNT:VU$CHPI4AW3RVF+F.:5W1FOFP2ZQZF6WVQ0AP-VMIJ5MJ5SMQDB96DVT$2"
    "CCRTL9CBD3J5I2GI5FU7DQ85-Y4*R4YN1J%8/ LLJCLP9BJ0158K%43Z4WD3G3MLU6*UT/ D-Q8W-M3FPXFBHWC3"
    "S8J*VD68/67G*436VRDH+DU+-HYI1XCRTV5B15ECAAN90PB5-DY4P 6IC9FAJPKT11OV/S6B+G4ID/TT*38.FH%6"
    "FS.FHBDUZRNM23CSN*IBKHT2L%C0KFNPMG3/H*W3Z$H0.K929GG9Z37J%P-Q1JCIS+IGI56T6HZO%I3%$6:NT%S0"
    "V01NVHZ-P222VDH:DGX16*7BDPVJP4QLMQ292US-%8+5LP6F*AE%10CV2VS5M+AC.ETCOB4HPF1Y1J4CHYJP4/FN"
    "-3IIUU4STGIM$8$C44.O86UVCB3B8+7DJURW1VYCL2VPO5ACH66QBO*3IJQS/JA8J$HGF-6VDF.:RT6AICA7H8SU"
    "P 65Q4TPI1/SRF*K3U7S7R :QDV7EPE54OL:8/YK/%5WEK*RUG*6MSMF6R 2A.ZIBA4X0I7*67JBOLMQY6Y+I W2"
    ":SOM777848GI5K533AZZCEP7+YV7/I1/F6ZU4UC4JBW6DUPVJOQI827.4/KK2NJNUO5-C:004Q3Z5BH3JH36%Q3V"
    "GKM.8CEB-7E6W5NKBEB5OUPOPFYSAC*O.GUF2WN0A5H928D5GDU3LSMTO 0EW9M8ADU62G8QEEN.BL0WCGWSNEHC"
    "EA2R4WV9*JY$I2$N3QT0CPI0O+ZQ*2EB/354T-EU7+5P6G0LF%URY9ES7G9TOWNEXTP84JCLQ1EBI4W VQQ7LBMU"
)
