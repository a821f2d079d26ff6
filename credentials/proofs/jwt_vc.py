"""VC-JWT in the Open Badges 3.0 profile (OB 3.0 §8.2), and the shapes verifiers meet.

Signing produces the OB 3.0 profile exactly: the JOSE header holds ``alg``, ``kid`` (an
absolute DID URL) and ``typ: "JWT"`` and nothing else; the payload is the credential plus
``iss``, ``jti``, ``nbf``, ``sub`` (when the subject has an ``id``) and ``exp`` (when it has
``validUntil``).

Verification also accepts the W3C VC-JOSE-COSE shape (``typ: vc+jwt``, the payload is the
credential) and the VCDM 1.1 shape (a ``vc`` claim). RFC 8725 practice throughout: the
algorithm comes from the key record, never from the token; ``none`` and HMAC are never
accepted; only an allow-listed set of header members is; keys named by ``jku``, ``x5u``,
``x5c`` or an embedded ``jwk`` are never trusted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.utils import base64url_decode, base64url_encode

from ..dates import parse_datetime
from ..errors import (
    ClaimMismatchError,
    CredentialError,
    InvalidProofError,
    KeyMismatchError,
    MalformedCredentialError,
    UnsupportedAlgorithmError,
)
from ..limits import MAX_JSON_DEPTH, nesting_within
from ..openbadges import issuer_id
from .base import SUPPORTED_ALGORITHMS, Signer, VerificationKey

#: Header members a token may carry; anything else is refused.
ALLOWED_HEADER_MEMBERS = frozenset({"alg", "kid", "typ", "cty"})
#: Header values naming where to fetch or how to process a key: refused with a clear reason.
FORBIDDEN_HEADER_MEMBERS = frozenset({"jku", "x5u", "x5c", "x5t", "x5t#S256", "jwk", "crit"})
ACCEPTED_TYPES = frozenset({"JWT", "vc+jwt", "vc+ld+json+jwt", "vc-ld+jwt"})
REGISTERED_CLAIMS = ("iss", "jti", "nbf", "sub", "exp", "iat", "aud")
MAX_TOKEN_LENGTH = 1_000_000
_TOO_DEEP = f"the JWT {{part}} is nested deeper than {MAX_JSON_DEPTH} levels"

KeyResolver = Callable[[str], VerificationKey]

#: A base64url segment as RFC 7515 §2 writes it: the URL-safe alphabet and no padding.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
#: PyJWT's implementations of the algorithms we accept (signature and key checks).
_JWS = jwt.PyJWS(algorithms=list(SUPPORTED_ALGORITHMS))


@dataclass(frozen=True, slots=True)
class DecodedJwt:
    """A VC-JWT whose signature verified with ``key``.

    ``credential`` is the credential the token carries, without the JWT registered claims.
    ``shape`` is ``"ob3"`` (OB 3.0 profile), ``"vc-jose-cose"`` or ``"vcdm1.1"``.
    """

    credential: dict[str, Any]
    header: dict[str, Any]
    claims: dict[str, Any]
    key: VerificationKey
    shape: str


def _segment(data: Mapping[str, Any]) -> bytes:
    return base64url_encode(
        json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    )


def _timestamp(value: str, field: str) -> int:
    return int(parse_datetime(value, field).timestamp())


def jwt_claims(credential: Mapping[str, Any]) -> dict[str, Any]:
    """The registered claims the OB 3.0 profile derives from a credential (§8.2.4.1)."""
    claims: dict[str, Any] = {
        "iss": issuer_id(dict(credential)),
        "jti": credential["id"],
        "nbf": _timestamp(credential["validFrom"], "validFrom"),
    }
    subject = credential.get("credentialSubject")
    if isinstance(subject, dict) and isinstance(subject.get("id"), str):
        claims["sub"] = subject["id"]
    if "validUntil" in credential:
        claims["exp"] = _timestamp(credential["validUntil"], "validUntil")
    return claims


def encode_vc_jwt(credential: Mapping[str, Any], signer: Signer) -> str:
    """Sign ``credential`` (without any embedded proof) as an OB 3.0 VC-JWT.

    Deterministic for Ed25519 and RS256 keys: the same credential gives the same token.

    Raises:
        UnsupportedAlgorithmError: the signer's algorithm is not one Tessera supports.
    """
    if signer.algorithm not in SUPPORTED_ALGORITHMS:
        raise UnsupportedAlgorithmError(f"algorithm {signer.algorithm!r} is not supported")
    body = {k: v for k, v in credential.items() if k != "proof"}
    payload = body | jwt_claims(body)
    header = {"alg": signer.algorithm, "kid": signer.verification_method, "typ": "JWT"}
    signing_input = _segment(header) + b"." + _segment(payload)
    signature = base64url_encode(signer.sign(signing_input))
    return (signing_input + b"." + signature).decode("ascii")


def read_unverified_header(unverified_token: str) -> dict[str, Any]:
    """Parse and police a token's JOSE header before any key is looked up.

    Raises:
        MalformedCredentialError: not a compact JWS.
        InvalidProofError: a forbidden or unknown header member.
        UnsupportedAlgorithmError: ``none``, HMAC or another unsupported ``alg``.
    """
    if not isinstance(unverified_token, str) or len(unverified_token) > MAX_TOKEN_LENGTH:
        raise MalformedCredentialError("the JWT is missing or too long")
    if unverified_token.count(".") != 2:
        raise MalformedCredentialError("not a compact JWT: expected three dot-separated parts")
    # Read the header ourselves: our policy must run before any library's, so the answer
    # names the rule that refused the token whatever the PyJWT version validates.
    try:
        unverified_header = json.loads(_decoded(unverified_token.split(".", 1)[0], "header"))
    except RecursionError as e:  # json.loads on a header nested a thousand levels deep
        raise MalformedCredentialError(_TOO_DEEP.format(part="header")) from e
    except ValueError as e:
        raise MalformedCredentialError("the JWT header is not base64url-encoded JSON") from e
    if not isinstance(unverified_header, dict):
        raise MalformedCredentialError("the JWT header is not a JSON object")
    if not nesting_within(unverified_header, MAX_JSON_DEPTH):
        raise MalformedCredentialError(_TOO_DEEP.format(part="header"))
    forbidden = sorted(FORBIDDEN_HEADER_MEMBERS & unverified_header.keys())
    if forbidden:
        raise InvalidProofError(
            f"JWT header member {', '.join(forbidden)} is not accepted: keys are only taken "
            "from the issuer's published DID document"
        )
    unknown = sorted(unverified_header.keys() - ALLOWED_HEADER_MEMBERS)
    if unknown:
        raise InvalidProofError(f"unexpected JWT header member {', '.join(unknown)}")
    alg = unverified_header.get("alg")
    if alg not in SUPPORTED_ALGORITHMS:
        raise UnsupportedAlgorithmError(
            f"JWT algorithm {alg!r} is not accepted (accepted: {', '.join(SUPPORTED_ALGORITHMS)})"
        )
    if unverified_header.get("typ", "JWT") not in ACCEPTED_TYPES:
        raise InvalidProofError(f"JWT type {unverified_header.get('typ')!r} is not a credential")
    kid = unverified_header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 2048:
        raise InvalidProofError("the JWT header has no usable kid naming the signing key")
    return unverified_header


def read_unverified_claims(unverified_token: str) -> dict[str, Any]:
    """The payload, unverified: only to find which issuer to ask for the key.

    Raises:
        MalformedCredentialError: the payload is not a JSON object, or is nested too deeply.
    """
    if not isinstance(unverified_token, str) or unverified_token.count(".") != 2:
        raise MalformedCredentialError("not a compact JWT: expected three dot-separated parts")
    return _claims(_decoded(unverified_token.split(".")[1], "payload"))


def _decoded(segment: str, part: str) -> bytes:
    """One part of a compact JWS, strictly: the URL-safe alphabet, no padding, and the one
    encoding of its bytes (no stray trailing bits), so a token has exactly one spelling.

    PyJWT checks the same, a character at a time in Python: for a 3 KB credential that was
    a tenth of a millisecond of every verification, which a regular expression does in
    microseconds.

    Raises:
        MalformedCredentialError: the part is not base64url.
    """
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise MalformedCredentialError(f"the JWT {part} is not base64url-encoded")
    decoded = base64url_decode(segment)
    if base64url_encode(decoded) != segment.encode("ascii"):
        raise MalformedCredentialError(f"the JWT {part} is not base64url-encoded")
    return decoded


def _claims(payload: bytes) -> dict[str, Any]:
    """The JSON object a token's payload holds, within our nesting limit."""
    try:
        claims = json.loads(payload)
    except RecursionError as e:
        raise MalformedCredentialError(_TOO_DEEP.format(part="payload")) from e
    except ValueError as e:
        raise MalformedCredentialError(f"the JWT payload is not JSON: {e}") from e
    if not isinstance(claims, dict):
        raise MalformedCredentialError("the JWT payload is not a JSON object")
    _check_depth(claims)
    return claims


def _verified_claims(unverified_token: str, key: VerificationKey) -> dict[str, Any]:
    """The payload of a compact JWS whose signature ``key`` verifies, with ``key``'s algorithm.

    The header was read and policed by :func:`read_unverified_header`, which admits no
    ``crit`` or ``b64`` member, so the signing input is the token up to its last dot (RFC
    7515 §5.2). PyJWT's own implementation of the algorithm checks the key and the signature.

    Raises:
        MalformedCredentialError: a part is not base64url, or the payload not a JSON object.
        InvalidProofError: the signature does not verify, or the key does not suit the
            algorithm.
    """
    signing_input, _, signature_segment = unverified_token.rpartition(".")
    payload = _decoded(signing_input.partition(".")[2], "payload")
    signature = _decoded(signature_segment, "signature")
    try:
        algorithm = _JWS.get_algorithm_by_name(key.algorithm)
        prepared = algorithm.prepare_key(key.public_key)
        verified = algorithm.verify(signing_input.encode("ascii"), prepared, signature)
    except NotImplementedError as e:
        raise UnsupportedAlgorithmError(f"algorithm {key.algorithm!r} is not supported") from e
    except (jwt.PyJWTError, TypeError, ValueError) as e:
        raise InvalidProofError(f"key {key.id} cannot verify {key.algorithm}: {e}") from e
    if not verified:
        raise InvalidProofError("the JWT signature does not verify")
    claims = _claims(payload)
    for name in ("sub", "jti"):  # as PyJWT's decode checks them (RFC 7519 §4.1.2, §4.1.7)
        if name in claims and not isinstance(claims[name], str):
            raise InvalidProofError(f"the JWT is not acceptable: its {name} claim is not a string")
    return claims


def _check_depth(claims: dict[str, Any]) -> None:
    # PyJWT parses the payload only after the signature verified (so tampering is reported
    # as such); the depth every parser of ours keeps to is checked on what it returns.
    if not nesting_within(claims, MAX_JSON_DEPTH):
        raise MalformedCredentialError(_TOO_DEEP.format(part="payload"))


def decode_vc_jwt(unverified_token: str, resolve_key: KeyResolver) -> DecodedJwt:
    """Verify a VC-JWT and return the credential it carries.

    ``resolve_key`` maps the ``kid`` DID URL to the key record; the algorithm is pinned to
    the record's, whatever the token's header says. Dates are *not* checked here: the
    verifier checks them against its own clock so it can say "expired" rather than
    "invalid".

    .. warning:: ``resolve_key`` must only return keys published by the issuer's own DID
       document or JWKS; it is the trust decision.

    Raises:
        MalformedCredentialError, InvalidProofError and its subclasses
        (``UnsupportedAlgorithmError``, ``KeyMismatchError``, ``ClaimMismatchError``),
        and whatever ``resolve_key`` raises when it cannot resolve the key.
    """
    unverified_header = read_unverified_header(unverified_token)
    kid = unverified_header["kid"]
    if kid.startswith("#"):
        # A relative kid is relative to the issuer's DID; the controller check below makes
        # sure the key really belongs to that issuer.
        kid = str(read_unverified_claims(unverified_token).get("iss", "")) + kid
    key = resolve_key(kid)
    if unverified_header["alg"] != key.algorithm:
        raise UnsupportedAlgorithmError(
            f"the token says {unverified_header['alg']} but key {key.id} signs with {key.algorithm}"
        )
    claims = _verified_claims(unverified_token, key)

    if "vc" in claims:
        shape = "vcdm1.1"
        credential = claims["vc"]
        if not isinstance(credential, dict):
            raise MalformedCredentialError("the JWT's vc claim is not an object")
    else:
        shape = "ob3" if unverified_header.get("typ", "JWT") == "JWT" else "vc-jose-cose"
        if shape == "ob3":
            missing = [c for c in ("iss", "jti", "nbf") if c not in claims]
            if missing:
                raise ClaimMismatchError(
                    f"an Open Badges JWT must carry the {', '.join(missing)} claim(s)"
                )
        credential = {k: v for k, v in claims.items() if k not in REGISTERED_CLAIMS}
    check_claims(claims, credential, shape)
    if issuer_id(credential) != key.controller:
        raise KeyMismatchError(
            f"key {key.id} belongs to {key.controller}, not to the credential's issuer"
        )
    return DecodedJwt(
        credential=credential, header=unverified_header, claims=claims, key=key, shape=shape
    )


def _date_claim(credential: Mapping[str, Any], *fields: str) -> int | None:
    for field in fields:
        if field in credential:
            return _timestamp(credential[field], field)
    return None


def check_claims(claims: Mapping[str, Any], credential: Mapping[str, Any], shape: str) -> None:
    """Check that the JWT's registered claims say what the credential says.

    Raises:
        ClaimMismatchError: a claim contradicts the credential.
    """
    if not isinstance(credential.get("id", ""), str):
        raise MalformedCredentialError("the credential id must be a string")
    issuer = issuer_id(dict(credential))
    if "iss" in claims and claims["iss"] != issuer:
        raise ClaimMismatchError("the JWT iss claim is not the credential's issuer")
    if "jti" in claims and claims["jti"] != credential.get("id"):
        raise ClaimMismatchError("the JWT jti claim is not the credential's id")
    subject = credential.get("credentialSubject")
    subject_id = subject.get("id") if isinstance(subject, dict) else None
    if "sub" in claims and claims["sub"] != subject_id:
        raise ClaimMismatchError("the JWT sub claim is not the credential subject's id")
    try:
        valid_from = _date_claim(credential, "validFrom", "issuanceDate")
        valid_until = _date_claim(credential, "validUntil", "expirationDate")
    except CredentialError as e:
        raise MalformedCredentialError(str(e)) from e
    if "nbf" in claims and claims["nbf"] != valid_from:
        raise ClaimMismatchError("the JWT nbf claim is not the credential's validFrom")
    if "exp" in claims and claims["exp"] != valid_until:
        raise ClaimMismatchError("the JWT exp claim is not the credential's validUntil")
    if shape == "ob3" and valid_until is not None and "exp" not in claims:
        raise ClaimMismatchError("the credential has validUntil but the JWT has no exp claim")
