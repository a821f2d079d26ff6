"""Resolve keys of did:web issuers from the DID documents they publish.

did:web (https://w3c-ccg.github.io/did-method-web/) puts the DID document at a fixed HTTPS
URL on the issuer's own host, so the issuer is authoritative for it: once the document has
been fetched, a key it does not list as an ``assertionMethod`` of that DID is *invalid*, not
"unknown". Only fetching can fail in a way that means "could not check".

Every fetch goes through the :class:`~verifier.http.GuardedHttpClient` given to the resolver.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from credentials.errors import InvalidProofError, UnresolvableKeyError
from credentials.multikey import multikey_to_ed25519
from credentials.proofs.base import PublicKey, VerificationKey
from keys.crypto import algorithm_of, load_public_jwk
from keys.did import did_web_document_url

from .http import GuardedHttpClient

MAX_KEY_ID_LENGTH = 2048
DID_DOCUMENT_MEDIA_TYPES = (
    "application/did+json, application/did+ld+json;q=0.9, application/json;q=0.8"
)
MIN_RSA_BITS = 2048

# did:web method-specific id: a domain name, an optional percent-encoded port, then
# colon-separated path segments (DID Core idchar: ALPHA DIGIT . - _ pct-encoded).
_SEGMENT = r"(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})+"
_DID_WEB = re.compile(
    r"did:web:(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)"
    r"(?:%3[Aa](?P<port>[0-9]{1,5}))?"
    rf"(?P<path>(?::{_SEGMENT})*)"
)
# RFC 3986 fragment characters, as a DID URL fragment uses them.
_FRAGMENT = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})+")
# Private JWK members (RFC 7518 §6.2.2, §6.3.2, §6.4.1); a published key has none of them.
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_JWK_ALGORITHMS: Mapping[tuple[str, str | None], str] = {
    ("OKP", "Ed25519"): "EdDSA",
    ("RSA", None): "RS256",
    ("EC", "P-256"): "ES256",
}
_JWK_TYPES = frozenset({"JsonWebKey", "JsonWebKey2020"})


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Cached:
    document: dict[str, Any]
    expires_at: datetime


def parse_did_web_url(key_id: str) -> tuple[str, str]:
    """Split a did:web DID URL into the DID and the fragment naming the key.

    Raises:
        UnresolvableKeyError: ``key_id`` is not a did:web DID URL (another resolver's).
        InvalidProofError: a did:web DID URL that is malformed, too long, names an IP
            address instead of a domain, or has no ``#fragment``.
    """
    if not isinstance(key_id, str) or not key_id.startswith("did:web:"):
        raise UnresolvableKeyError(f"{str(key_id)[:80]!r} is not a did:web key")
    if len(key_id) > MAX_KEY_ID_LENGTH:
        raise InvalidProofError(f"the key id is longer than {MAX_KEY_ID_LENGTH:,} characters")
    did, hash_mark, fragment = key_id.partition("#")
    check_did_web(did)
    if not hash_mark or not _FRAGMENT.fullmatch(fragment):
        raise InvalidProofError(
            f"{key_id[:120]!r} does not name a key: a DID URL with a #fragment is needed"
        )
    return did, fragment


def check_did_web(did: str) -> None:
    """Refuse a did:web DID that does not name an HTTPS location the method allows.

    Raises:
        UnresolvableKeyError: not a did:web DID.
        InvalidProofError: malformed, too long, or an IP address instead of a domain.
    """
    if not isinstance(did, str) or not did.startswith("did:web:"):
        raise UnresolvableKeyError(f"{str(did)[:80]!r} is not a did:web DID")
    if len(did) > MAX_KEY_ID_LENGTH:
        raise InvalidProofError(f"the DID is longer than {MAX_KEY_ID_LENGTH:,} characters")
    match = _DID_WEB.fullmatch(did)
    if match is None:
        raise InvalidProofError(f"{did[:120]!r} is not a well-formed did:web DID")
    if any(s in (".", "..") for s in match.group("path").split(":")[1:]):
        raise InvalidProofError(f"{did[:120]!r} has a '.' or '..' path segment")
    try:
        ipaddress.ip_address(match.group("host"))
    except ValueError:
        pass
    else:
        # did:web §3.2.1: the identifier is a domain name, never an IP address.
        raise InvalidProofError(f"{did[:120]!r} names an IP address, not a domain")
    port = match.group("port")
    if port is not None and not 0 < int(port) <= 65535:
        raise InvalidProofError(f"{did[:120]!r} has port {port}, which does not exist")


class DidWebResolver:
    """A :class:`~verifier.resolvers.KeyResolver` for ``did:web`` DID URLs.

    Fetches ``did.json`` through ``client`` and keeps each DID document for ``cache_ttl``
    seconds, or less if the response's ``Cache-Control`` says so. Fetch failures are not
    cached: the next verification tries again.

    Args:
        client: the guarded HTTP client; its allowlist, timeouts and caps apply.
        cache_ttl: the longest a document is reused, in seconds.
        clock: returns the aware current time (tests pass their own).
        max_cached: documents kept at most; the oldest is dropped first.
    """

    def __init__(
        self,
        client: GuardedHttpClient,
        *,
        cache_ttl: int = 300,
        clock: Callable[[], datetime] = _utcnow,
        max_cached: int = 1024,
    ) -> None:
        if cache_ttl < 0:
            raise ValueError("cache_ttl must not be negative")
        self._client = client
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._max_cached = max_cached
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._lock = threading.Lock()

    def resolve(self, key_id: str) -> VerificationKey:
        """Return the key ``key_id`` names, as its DID document publishes it.

        Raises:
            UnresolvableKeyError: not a did:web key id.
            FetchError: the DID document could not be fetched (an ``UnresolvableKeyError``:
                the verifier says "could not check").
            InvalidProofError: the key id is malformed, or the issuer's document does not
                publish that key as an assertion method of the DID, or publishes it wrongly.
        """
        did, _ = parse_did_web_url(key_id)
        document = self._document(did)
        method = _find_method(document, did, key_id)
        if not _is_assertion_method(document, did, key_id):
            raise InvalidProofError(
                f"{did} does not list {key_id} as an assertionMethod, so it may not sign "
                "credentials"
            )
        controller = method.get("controller")
        if controller != did:
            raise InvalidProofError(
                f"key {key_id} is controlled by {str(controller)[:120]!r}, not by {did}"
            )
        algorithm, public_key = _key_material(method, key_id)
        return VerificationKey(
            id=key_id, controller=did, algorithm=algorithm, public_key=public_key
        )

    def resolve_document(self, did: str) -> dict[str, Any]:
        """The DID document of ``did``, from the cache or fetched (a copy: callers may edit it).

        Raises:
            UnresolvableKeyError: not a did:web DID.
            FetchError: fetching failed or the response is not JSON.
            InvalidProofError: a malformed DID, or the response is not its DID document.
        """
        check_did_web(did)
        return copy.deepcopy(self._document(did))

    def _document(self, did: str) -> dict[str, Any]:
        """The cached document itself: read it, never modify it."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(did)
            if cached is not None and now < cached.expires_at:
                return cached.document
        url = did_web_document_url(did)
        fetched = self._client.get(url, accept=DID_DOCUMENT_MEDIA_TYPES)
        document = fetched.json()
        if not isinstance(document, dict):
            raise InvalidProofError(f"the DID document at {fetched.url} is not a JSON object")
        if document.get("id") != did:
            raise InvalidProofError(
                f"the document at {fetched.url} is the DID document of "
                f"{str(document.get('id'))[:120]!r}, not of {did}"
            )
        ttl = self._cache_ttl
        max_age = fetched.max_age()
        if max_age is not None:
            ttl = min(ttl, max_age)
        if ttl > 0:
            with self._lock:
                self._cache[did] = _Cached(document, self._clock() + timedelta(seconds=ttl))
                self._cache.move_to_end(did)
                while len(self._cache) > self._max_cached:
                    self._cache.popitem(last=False)
        return document


def _absolute(reference: str, did: str) -> str:
    """A verification-method id as an absolute DID URL (a relative ``#key-1`` is the DID's)."""
    return did + reference if reference.startswith("#") else reference


def _list_member(document: Mapping[str, Any], name: str) -> list[Any]:
    value = document.get(name, [])
    if not isinstance(value, list):
        raise InvalidProofError(f"the DID document's {name} is not a list")
    return value


def _methods(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Verification methods: those listed, and those embedded in assertionMethod."""
    for name in ("verificationMethod", "assertionMethod"):
        for item in _list_member(document, name):
            if isinstance(item, dict):
                yield item


def _find_method(document: Mapping[str, Any], did: str, key_id: str) -> dict[str, Any]:
    found = [
        m
        for m in _methods(document)
        if isinstance(m.get("id"), str) and _absolute(m["id"], did) == key_id
    ]
    if not found:
        raise InvalidProofError(f"{did} publishes no key {key_id}")
    if len(found) > 1 and any(m != found[0] for m in found[1:]):
        raise InvalidProofError(f"{did} lists key {key_id} more than once, differently")
    return found[0]


def _is_assertion_method(document: Mapping[str, Any], did: str, key_id: str) -> bool:
    for item in _list_member(document, "assertionMethod"):
        reference = item.get("id") if isinstance(item, dict) else item
        if isinstance(reference, str) and _absolute(reference, did) == key_id:
            return True
    return False


def _key_material(method: Mapping[str, Any], key_id: str) -> tuple[str, PublicKey]:
    """The JWS algorithm and public key of a Multikey or JsonWebKey verification method."""
    kind = method.get("type")
    has_multibase = "publicKeyMultibase" in method
    has_jwk = "publicKeyJwk" in method
    if has_multibase and has_jwk:
        raise InvalidProofError(f"key {key_id} has both publicKeyMultibase and publicKeyJwk")
    if kind == "Multikey" and has_multibase:
        value = method["publicKeyMultibase"]
        if not isinstance(value, str):
            raise InvalidProofError(f"key {key_id}: publicKeyMultibase is not a string")
        try:
            return "EdDSA", multikey_to_ed25519(value)
        except (UnresolvableKeyError, ValueError) as e:
            raise InvalidProofError(f"key {key_id}: {e}") from e
    if kind in _JWK_TYPES and has_jwk:
        jwk = method["publicKeyJwk"]
        if not isinstance(jwk, dict):
            raise InvalidProofError(f"key {key_id}: publicKeyJwk is not a JSON object")
        return _jwk_material(jwk, key_id)
    raise InvalidProofError(
        f"key {key_id} is of type {str(kind)[:60]!r}; accepted are Multikey with "
        "publicKeyMultibase and JsonWebKey with publicKeyJwk"
    )


def _jwk_material(jwk: Mapping[str, Any], key_id: str) -> tuple[str, PublicKey]:
    private = sorted(_PRIVATE_JWK_MEMBERS & jwk.keys())
    if private:
        raise InvalidProofError(
            f"key {key_id} is published with private key members ({', '.join(private)}); "
            "that key is compromised and is not used"
        )
    kty = jwk.get("kty")
    crv = None if kty == "RSA" else jwk.get("crv")
    algorithm = _JWK_ALGORITHMS.get((str(kty), None if crv is None else str(crv)))
    if algorithm is None:
        raise InvalidProofError(
            f"key {key_id} is a {str(kty)[:20]}/{str(crv)[:20]} key; accepted are Ed25519, "
            "RSA and P-256"
        )
    declared = jwk.get("alg")
    if declared is not None and declared != algorithm:
        raise InvalidProofError(
            f"key {key_id} declares alg {str(declared)[:20]!r} but is a key for {algorithm}"
        )
    if jwk.get("use", "sig") != "sig":
        raise InvalidProofError(f"key {key_id} is published for {jwk.get('use')!r}, not signing")
    try:
        public_key = load_public_jwk({**jwk, "alg": algorithm})
    except ValueError as e:
        raise InvalidProofError(f"key {key_id}: {e}") from e
    # Belt and braces: the algorithm is fixed by what the key is, not by what it says.
    try:
        actual = algorithm_of(public_key)
    except ValueError as e:
        raise InvalidProofError(f"key {key_id} is not a valid {algorithm} key") from e
    if actual != algorithm:
        raise InvalidProofError(f"key {key_id} is not a valid {algorithm} key")
    if isinstance(public_key, RSAPublicKey) and public_key.key_size < MIN_RSA_BITS:
        raise InvalidProofError(
            f"key {key_id} is a {public_key.key_size}-bit RSA key; at least {MIN_RSA_BITS} "
            "bits are required"
        )
    return algorithm, public_key
