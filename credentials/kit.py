"""The verifier kit: issuers' public keys and status lists in one signed, portable document.

A verifier with no connection (a phone in a field office, a laptop at a border post) checks
credentials with a kit instead of fetching DID documents and status lists. The kit is JSON::

    {"type": "TesseraVerifierKit", "version": 1, "issuer": <signer DID>, "issued": <time>,
     "validUntil": <time>, "issuers": [{"id", "name", "didDocument"?, "jwks"?,
     "statusLists": [{"id": <list URL>, "credential": <the signed list, as published>,
                      "fetched": <time>}]}],
     "proof": {"type": "DetachedJws", "verificationMethod": <DID URL>, "jws": "<hdr>..<sig>"}}

The proof is a compact JWS (RFC 7515) with a detached payload (Appendix F): the payload is the
kit without ``proof`` as canonical JSON (keys sorted, no whitespace, UTF-8), so the document
stays readable and any change to any member breaks the signature. Only Ed25519 (``EdDSA``)
signs kits. Each status list inside keeps its own issuer's proof; checking those is the
verifier's job, exactly as for a list it fetched.

A kit proves nothing by itself: it names its own signer. The verifier pins the signer's
public key (its Multikey, ``z6Mk...``, printed by ``tessera kit export``) and refuses a kit
signed by any other key. Nothing here reads the clock: ``now`` is passed in.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .dates import format_datetime, parse_datetime
from .errors import CredentialError
from .limits import MAX_JSON_DEPTH, nesting_within
from .multikey import ed25519_to_multikey, multikey_to_ed25519
from .proofs.base import Signer

KIT_TYPE = "TesseraVerifierKit"
KIT_VERSION = 1
PROOF_TYPE = "DetachedJws"
#: A kit larger than this is refused before parsing (an instance with hundreds of centres and
#: lists stays far below it: a list of 131,072 entries compresses to a few hundred bytes).
MAX_KIT_BYTES = 32 * 1024 * 1024
#: How far the signer's clock may run ahead of the verifier's.
CLOCK_SKEW = timedelta(minutes=5)


class KitError(CredentialError):
    """The kit cannot be used: malformed, not signed by a pinned key, or out of date."""

    code = "invalid-kit"


class KitSignatureError(KitError):
    """The kit's signature does not verify: it was changed after signing."""

    code = "kit-signature"


class UntrustedKitError(KitError):
    """The kit is signed by a key the verifier has not pinned."""

    code = "untrusted-kit"


class KitExpiredError(KitError):
    """The kit is past its ``validUntil`` (or dated in the future)."""

    code = "kit-expired"


@dataclass(frozen=True, slots=True)
class KitStatusList:
    """One status list as the kit carries it: the signed credential, untouched."""

    id: str
    credential: dict[str, Any] | str  # JSON with its embedded proof, or a VC-JWT
    fetched: datetime


@dataclass(frozen=True, slots=True)
class KitIssuer:
    """An issuer's published keys and status lists."""

    id: str
    name: str
    did_document: dict[str, Any] | None
    jwks: dict[str, Any] | None
    status_lists: tuple[KitStatusList, ...]


@dataclass(frozen=True, slots=True)
class Kit:
    """A kit whose signature verified with a pinned key."""

    signer: str  # the kit's issuer DID
    verification_method: str
    pinned_key: str  # the Multikey that verified it
    issued: datetime
    valid_until: datetime | None
    issuers: tuple[KitIssuer, ...]

    def issuer(self, did: str) -> KitIssuer | None:
        return next((i for i in self.issuers if i.id == did), None)

    def status_list(self, list_url: str) -> tuple[KitIssuer, KitStatusList] | None:
        for issuer in self.issuers:
            for status_list in issuer.status_lists:
                if status_list.id == list_url:
                    return issuer, status_list
        return None


# -- building and signing ---------------------------------------------------------------------


def status_list_entry(
    list_url: str, credential: Mapping[str, Any] | str, fetched: datetime
) -> dict[str, Any]:
    """A ``statusLists`` member: the list credential exactly as published, and when it was got."""
    body: dict[str, Any] | str = credential if isinstance(credential, str) else dict(credential)
    return {"id": list_url, "credential": body, "fetched": format_datetime(fetched)}


def issuer_entry(
    did: str,
    name: str,
    *,
    did_document: Mapping[str, Any] | None = None,
    jwks: Mapping[str, Any] | None = None,
    status_lists: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """An ``issuers`` member (see :func:`status_list_entry` for its lists)."""
    entry: dict[str, Any] = {"id": did, "name": name}
    if did_document is not None:
        entry["didDocument"] = dict(did_document)
    if jwks is not None:
        entry["jwks"] = dict(jwks)
    entry["statusLists"] = [dict(s) for s in status_lists]
    return entry


def build_kit(
    *,
    signer_did: str,
    issuers: Iterable[Mapping[str, Any]],
    issued: datetime,
    valid_until: datetime | None,
) -> dict[str, Any]:
    """The unsigned kit document (sign it with :func:`sign_kit`)."""
    kit: dict[str, Any] = {
        "type": KIT_TYPE,
        "version": KIT_VERSION,
        "issuer": signer_did,
        "issued": format_datetime(issued),
    }
    if valid_until is not None:
        kit["validUntil"] = format_datetime(valid_until)
    kit["issuers"] = [dict(i) for i in issuers]
    return kit


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """Canonical JSON of the kit without its proof: sorted keys, no whitespace, UTF-8.

    Raises:
        KitError: the document holds a value JSON cannot carry exactly (NaN, infinity, an
            integer of more than 4,300 digits, text with a lone surrogate).
    """
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    try:
        text = json.dumps(
            unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return text.encode("utf-8")
    except ValueError as e:  # UnicodeEncodeError (a lone surrogate) is one too
        raise KitError(f"the kit holds a value JSON cannot carry: {str(e)[:120]}") from e


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise KitError(f"the kit's {what} is not base64url") from e


def sign_kit(kit: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """A copy of ``kit`` with its ``proof``: a detached EdDSA JWS over its canonical JSON.

    Raises:
        KitError: ``signer`` is not an Ed25519 key, or it is not a key of the kit's issuer.
    """
    if signer.algorithm != "EdDSA":
        raise KitError("a verifier kit is signed with an Ed25519 (EdDSA) key")
    if signer.verification_method.partition("#")[0] != kit.get("issuer"):
        raise KitError("the kit must be signed by a key of the DID it names as its issuer")
    header = {"alg": "EdDSA", "kid": signer.verification_method, "typ": "tessera-kit+jws"}
    protected = _b64(json.dumps(header, separators=(",", ":")).encode("utf-8"))
    signing_input = f"{protected}.{_b64(canonical_json(kit))}".encode("ascii")
    signature = _b64(signer.sign(signing_input))
    signed = {k: v for k, v in kit.items() if k != "proof"}
    signed["proof"] = {
        "type": PROOF_TYPE,
        "verificationMethod": signer.verification_method,
        "jws": f"{protected}..{signature}",
    }
    return signed


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """The pin a verifier configures for a kit signer: its Multikey (``z6Mk...``)."""
    return ed25519_to_multikey(public_key)


# -- reading and checking ---------------------------------------------------------------------


def parse_kit_json(raw: bytes | str) -> dict[str, Any]:
    """The kit file as a JSON object (not yet trusted).

    Raises:
        KitError: too large, not UTF-8 JSON, nested too deeply, or not a kit.
    """
    try:
        data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    except UnicodeEncodeError as e:  # a lone surrogate, as json.loads can produce
        raise KitError("the kit is not valid Unicode text") from e
    if len(data) > MAX_KIT_BYTES:
        raise KitError(f"the kit is larger than {MAX_KIT_BYTES:,} bytes")
    try:
        document = json.loads(data.decode("utf-8").lstrip("\ufeff"))
    except (ValueError, RecursionError) as e:
        # ValueError covers bad UTF-8, bad JSON and an integer too long to convert.
        raise KitError("the kit is not a JSON document") from e
    if not isinstance(document, dict) or not nesting_within(document, MAX_JSON_DEPTH):
        raise KitError("the kit is not a JSON object of a sensible depth")
    if document.get("type") != KIT_TYPE:
        raise KitError(f"the document is not a verifier kit (its type is not {KIT_TYPE})")
    if document.get("version") != KIT_VERSION:
        raise KitError(
            f"the kit is of version {str(document.get('version'))[:10]!r}; this verifier reads "
            f"version {KIT_VERSION}"
        )
    return document


def _pinned_keys(pins: Iterable[str]) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    for pin in pins:
        try:
            keys[pin] = multikey_to_ed25519(pin.strip())
        except (CredentialError, ValueError) as e:
            raise KitError(
                f"the pinned kit key {pin[:60]!r} is not an Ed25519 Multikey (z6Mk...)"
            ) from e
    return keys


def _claimed_key(document: Mapping[str, Any], method: str) -> str | None:
    """The Multikey the kit's own copy of its signer's DID document gives for ``method``.

    Only used to word the error: a pinned key named there whose signature fails means the
    kit was changed; otherwise the kit is simply someone else's.
    """
    issuers = document.get("issuers")
    for issuer in issuers if isinstance(issuers, list) else []:
        if not isinstance(issuer, dict) or issuer.get("id") != document.get("issuer"):
            continue
        did_document = issuer.get("didDocument")
        methods = did_document.get("verificationMethod") if isinstance(did_document, dict) else None
        for item in methods if isinstance(methods, list) else []:
            if isinstance(item, dict) and item.get("id") == method:
                value = item.get("publicKeyMultibase")
                return value if isinstance(value, str) else None
    return None


def verify_kit_signature(document: Mapping[str, Any], pins: Iterable[str]) -> tuple[str, str]:
    """Check the kit's proof against the pinned keys; return (verification method, pin).

    Warning: ``pins`` is what makes the kit trustworthy; never take it from the kit itself.

    Raises:
        UntrustedKitError: no pins, or the kit is signed by a key none of them is.
        KitSignatureError: signed by a pinned key, but the kit was changed afterwards.
        KitError: the proof is malformed.
    """
    proof = document.get("proof")
    if not isinstance(proof, dict) or proof.get("type") != PROOF_TYPE:
        raise KitError("the kit carries no signature")
    method, jws = proof.get("verificationMethod"), proof.get("jws")
    if not isinstance(method, str) or not isinstance(jws, str) or jws.count(".") != 2:
        raise KitError("the kit's signature is malformed")
    protected, payload, signature = jws.split(".")
    if payload:
        raise KitError("the kit's signature must have a detached payload")
    try:
        header = json.loads(_unb64(protected, "signature header"))
    except (ValueError, RecursionError) as e:
        raise KitError("the kit's signature header is not JSON") from e
    # Pinned algorithm (RFC 8725 §2.1): never what the header asks for.
    if (
        not isinstance(header, dict)
        or header.get("alg") != "EdDSA"
        or set(header) - {"alg", "kid", "typ"}
    ):
        raise KitError("the kit's signature must be EdDSA with only alg, kid and typ")
    if header.get("kid") != method:
        raise KitError("the kit's signature names two different keys")
    if method.partition("#")[0] != document.get("issuer"):
        raise KitError("the kit is signed by a key of another DID than its issuer")
    keys = _pinned_keys(pins)
    if not keys:
        raise UntrustedKitError(
            "no kit signer is pinned: give the signer's key (z6Mk..., printed by "
            "`tessera kit export`) with --trust or TESSERA_KIT_TRUST"
        )
    signing_input = f"{protected}.{_b64(canonical_json(document))}".encode("ascii")
    raw_signature = _unb64(signature, "signature")
    for pin, key in keys.items():
        try:
            key.verify(raw_signature, signing_input)
        except InvalidSignature:
            continue
        return method, pin
    if _claimed_key(document, method) in keys:
        raise KitSignatureError(
            f"the kit's signature does not verify with the pinned key of {method[:160]}: "
            "the kit was changed after it was signed"
        )
    raise UntrustedKitError(
        f"the kit is not signed by a pinned key: it names {method[:160]}, and its signature "
        "verifies with none of the pinned keys (a different signer, or the kit was changed)"
    )


def _text(value: Any, what: str, limit: int = 2048) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise KitError(f"the kit's {what} must be a non-empty string")
    return value


def _time(value: Any, what: str) -> datetime:
    try:
        return parse_datetime(value, what)
    except CredentialError as e:
        raise KitError(f"the kit's {what} is not a date-time with a time zone") from e


def _status_lists(value: Any, issuer: str) -> tuple[KitStatusList, ...]:
    if not isinstance(value, list):
        raise KitError(f"statusLists of {issuer} must be a list")
    found: list[KitStatusList] = []
    for item in value:
        if not isinstance(item, dict):
            raise KitError(f"a status list of {issuer} is not an object")
        credential = item.get("credential")
        if not isinstance(credential, dict | str):
            raise KitError(f"a status list of {issuer} carries no signed list credential")
        found.append(
            KitStatusList(
                id=_text(item.get("id"), "status list id"),
                credential=credential,
                fetched=_time(item.get("fetched"), "status list fetched time"),
            )
        )
    return tuple(found)


def _issuers(value: Any) -> tuple[KitIssuer, ...]:
    if not isinstance(value, list):
        raise KitError("the kit's issuers must be a list")
    found: list[KitIssuer] = []
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, dict):
            raise KitError("an issuer of the kit is not an object")
        did = _text(item.get("id"), "issuer id")
        if did in seen:
            raise KitError(f"the kit lists {did} twice")
        seen.add(did)
        document, jwks = item.get("didDocument"), item.get("jwks")
        if document is not None and (not isinstance(document, dict) or document.get("id") != did):
            raise KitError(f"the DID document the kit gives for {did} is not that DID's")
        if jwks is not None and not (isinstance(jwks, dict) and isinstance(jwks.get("keys"), list)):
            raise KitError(f"the JWKS the kit gives for {did} is not a JWK Set")
        name = item.get("name")
        found.append(
            KitIssuer(
                id=did,
                name=name if isinstance(name, str) and name else did,
                did_document=document,
                jwks=jwks,
                status_lists=_status_lists(item.get("statusLists", []), did),
            )
        )
    return tuple(found)


def read_kit(raw: bytes | str | Mapping[str, Any], *, pins: Iterable[str], now: datetime) -> Kit:
    """Parse a kit, check its signature against ``pins`` and its dates against ``now``.

    Raises:
        KitError (and its subclasses): anything that makes the kit unusable, with a reason
            a person can act on.
    """
    document = parse_kit_json(raw) if not isinstance(raw, Mapping) else dict(raw)
    if isinstance(raw, Mapping) and (
        document.get("type") != KIT_TYPE or document.get("version") != KIT_VERSION
    ):
        raise KitError(f"the document is not a version {KIT_VERSION} verifier kit")
    if isinstance(raw, Mapping) and not nesting_within(document, MAX_JSON_DEPTH):
        raise KitError("the kit is not a JSON object of a sensible depth")
    method, pin = verify_kit_signature(document, pins)
    issued = _time(document.get("issued"), "issued time")
    valid_until = _time(document["validUntil"], "validUntil") if "validUntil" in document else None
    if now + CLOCK_SKEW < issued:
        raise KitExpiredError(
            f"the kit is dated {format_datetime(issued)}, in the future: "
            "check this computer's clock"
        )
    if valid_until is not None and now >= valid_until:
        raise KitExpiredError(
            f"the kit expired on {format_datetime(valid_until)}: get a fresh one "
            "(`tessera kit export`, or download /kit.json from the instance)"
        )
    return Kit(
        signer=_text(document.get("issuer"), "issuer"),
        verification_method=method,
        pinned_key=pin,
        issued=issued,
        valid_until=valid_until,
        issuers=_issuers(document.get("issuers")),
    )
