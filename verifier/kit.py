"""Offline verification: keys and status lists from a signed verifier kit, no network at all.

The kit (see :mod:`credentials.kit`) stands in for the fetching resolvers: a DID it carries
resolves from the DID document in it, with exactly the rules of :mod:`verifier.did_web` (the
document is authoritative: a key it does not list is a forgery); a status list it carries is
checked with its issuer's proof, exactly as a fetched one
(:func:`verifier.status.verify_list_credential`).

One rule differs, on purpose: a published list says it is fresh only for minutes
(``validUntil``), which no offline verifier can honour. Offline, the list counts as the
revocation data of the moment its issuer signed it, and it is used up to a maximum age the
verifier chooses (``TESSERA_KIT_MAX_AGE``, 7 days unless set). Every verdict states how old
that data is; past the maximum age the status is "could not check: the revocation data is
stale", never "not revoked".
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from credentials import CredentialError, InvalidProofError, UnresolvableKeyError, issuer_id
from credentials.dates import format_datetime, parse_datetime
from credentials.errors import StaleStatusError, StatusUnavailableError
from credentials.kit import Kit, KitError, KitIssuer, read_kit
from credentials.proofs.base import VerificationKey
from credentials.status_list import StatusEntry, parse_status_entries, read_status_list_credential

from .did_web import _find_method, _is_assertion_method, _jwk_material, _key_material
from .messages import N_, Message, Value, describe_age
from .pipeline import Check, Outcome, Verdict, VerificationResult, verify_credential
from .resolvers import ChainResolver, DidKeyResolver
from .status import CLOCK_SKEW, verify_list_credential
from .wallet import WalletResult, verify_wallet

#: Revocation data older than this is stale unless the verifier says otherwise.
DEFAULT_MAX_AGE = timedelta(days=7)
#: The name of the check that states where the revocation data came from and how old it is.
CHECK_NAME = "revocation data"

_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int) -> timedelta:
    """``"7d"``, ``"36h"``, ``"90m"``, ``"600s"`` or a number of seconds.

    Raises:
        ValueError: anything else, or zero.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        seconds = text
    else:
        match = _DURATION.match(str(text))
        if match is None:
            raise ValueError(f"{str(text)[:40]!r} is not a duration such as 7d, 36h or 90m")
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    return timedelta(seconds=seconds)


class KitKeyResolver:
    """Keys of the issuers a kit carries (a :class:`~verifier.resolvers.KeyResolver`).

    An issuer in the kit is authoritative for its keys, as a fetched did:web document is: a
    key its document does not list is invalid. A DID the kit does not carry cannot be looked
    up offline ("could not check").
    """

    def __init__(self, kit: Kit) -> None:
        self._kit = kit

    def resolve(self, key_id: str) -> VerificationKey:
        did = key_id.partition("#")[0] if isinstance(key_id, str) else ""
        issuer = self._kit.issuer(did)
        if issuer is None:
            raise UnresolvableKeyError(
                f"{did[:160] or 'that issuer'} is not in the verifier kit, and this verifier is "
                "offline"
            )
        if issuer.did_document is not None:
            return _from_document(issuer.did_document, did, key_id)
        if issuer.jwks is not None:
            return _from_jwks(issuer, key_id)
        raise UnresolvableKeyError(f"the verifier kit carries no keys for {did}")


def _from_document(document: Mapping[str, Any], did: str, key_id: str) -> VerificationKey:
    """The did:web resolver's rules, applied to the document the kit carries."""
    method = _find_method(document, did, key_id)
    if not _is_assertion_method(document, did, key_id):
        raise InvalidProofError(
            f"{did} does not list {key_id} as an assertionMethod, so it may not sign credentials"
        )
    if method.get("controller") != did:
        raise InvalidProofError(f"key {key_id} is not controlled by {did}")
    algorithm, public_key = _key_material(method, key_id)
    return VerificationKey(id=key_id, controller=did, algorithm=algorithm, public_key=public_key)


def _from_jwks(issuer: KitIssuer, key_id: str) -> VerificationKey:
    keys = (issuer.jwks or {}).get("keys", [])
    found = [k for k in keys if isinstance(k, dict) and k.get("kid") == key_id]
    if len(found) != 1:
        raise InvalidProofError(f"{issuer.id} publishes no key {key_id} (or lists it twice)")
    algorithm, public_key = _jwk_material(found[0], key_id)
    return VerificationKey(
        id=key_id, controller=issuer.id, algorithm=algorithm, public_key=public_key
    )


@dataclass(frozen=True, slots=True)
class _Verified:
    bits: bytes
    issuer: str
    purpose: str
    signed_at: datetime


class KitStatusSource:
    """Status lists from a kit (a :class:`~verifier.status.StatusSource`); each list's proof is
    verified once, with its issuer's keys, then its bits are reused."""

    def __init__(self, kit: Kit, resolver: ChainResolver, *, max_age: timedelta) -> None:
        self._kit = kit
        self._resolver = resolver
        self._max_age = max_age
        self._verified: dict[str, _Verified] = {}
        self._lock = threading.Lock()

    def handles(self, list_url: str) -> bool:
        return self._kit.status_list(list_url) is not None

    def bits(self, entry: StatusEntry, *, issuer: str, now: datetime) -> bytes:
        verified = self.verified(entry.list_url, purpose=entry.purpose)
        if verified.issuer != issuer:
            raise StatusUnavailableError(
                "the status list is published by another issuer than the credential's"
            )
        if verified.signed_at - CLOCK_SKEW > now:
            raise StatusUnavailableError(
                f"the status list is dated {format_datetime(verified.signed_at)}, in the future"
            )
        age = now - verified.signed_at
        if age > self._max_age:
            raise StaleStatusError(
                f"the revocation data is stale (from {format_datetime(verified.signed_at)}, "
                f"{describe_age(age)} old; this verifier accepts up to "
                f"{describe_age(self._max_age)}): get a fresh verifier kit"
            )
        return verified.bits

    def verified(self, list_url: str, *, purpose: str) -> _Verified:
        """The list's bits after its proof, id and shape were checked.

        Raises:
            StatusUnavailableError: the kit has no such list, or it cannot be trusted.
        """
        with self._lock:
            cached = self._verified.get(list_url)
        if cached is None:
            cached = self._verify(list_url, purpose)
            with self._lock:
                self._verified[list_url] = cached
        if cached.purpose != purpose:
            raise StatusUnavailableError(f"the status list is not for {purpose!r}")
        return cached

    def _verify(self, list_url: str, purpose: str) -> _Verified:
        found = self._kit.status_list(list_url)
        if found is None:
            raise StatusUnavailableError(f"the verifier kit has no status list {list_url}")
        carrier, status_list = found
        credential = verify_list_credential(status_list.credential, self._resolver)
        try:
            signed_at = parse_datetime(credential.get("validFrom"), "validFrom")
            bits = read_status_list_credential(credential, purpose=purpose)
        except CredentialError as e:
            raise StatusUnavailableError(f"the status list is not usable: {e}") from e
        if credential.get("id") != list_url:
            raise StatusUnavailableError(
                "the status list's id is not the URL the kit files it under"
            )
        publisher = issuer_id(credential)
        if publisher != carrier.id:
            raise StatusUnavailableError("the kit files the status list under another issuer")
        return _Verified(bits, publisher, purpose, signed_at)


@dataclass
class OfflineVerifier:
    """Everything needed to verify with a kit and nothing else: no HTTP client exists here."""

    kit: Kit
    max_age: timedelta = DEFAULT_MAX_AGE
    trusted_issuers: frozenset[str] = frozenset()
    resolver: ChainResolver = field(init=False)
    status: KitStatusSource = field(init=False)

    def __post_init__(self) -> None:
        # did:key first: it is its own key; then the kit, whose refusal is the one reported.
        self.resolver = ChainResolver([DidKeyResolver(), KitKeyResolver(self.kit)])
        self.status = KitStatusSource(self.kit, self.resolver, max_age=self.max_age)

    @property
    def recognised(self) -> frozenset[str]:
        """The kit's issuers (its signer, whom the operator pinned, vouches for them), and
        any the operator listed as trusted."""
        return self.trusted_issuers | {i.id for i in self.kit.issuers}

    def verify(
        self, data: bytes | str | Mapping[str, Any], *, now: datetime, max_bytes: int | None = None
    ) -> VerificationResult:
        """The one pipeline, with the kit's keys and lists, plus where its data came from.

        A kit that expired while loaded (a long-running verifier) vouches for nothing any more:
        every answer is then "could not check", saying why.
        """
        if self.kit.valid_until is not None and now >= self.kit.valid_until:
            said = Message.of(
                N_("the verifier kit expired on %(moment)s: get a fresh one"),
                moment=self.kit.valid_until,
            )
            check = Check("proof", Outcome.COULD_NOT_CHECK, said, "kit-expired")
            return VerificationResult(Verdict.COULD_NOT_CHECK, (check,))
        extra = {} if max_bytes is None else {"max_bytes": max_bytes}
        result = verify_credential(
            data,
            resolver=self.resolver,
            status=self.status,
            now=now,
            trusted_issuers=self.recognised,
            **extra,
        )
        note = self.freshness(result.credential, now=now)
        return replace(result, checks=(*result.checks, note)) if note is not None else result

    def verify_wallet(
        self, data: bytes | str | Mapping[str, Any], *, now: datetime, max_bytes: int | None = None
    ) -> WalletResult:
        extra = {} if max_bytes is None else {"max_bytes": max_bytes}
        return verify_wallet(
            data,
            verify_one=lambda item: self.verify(item, now=now),
            resolver=self.resolver,
            now=now,
            trusted_issuers=self.recognised,
            **extra,
        )

    def freshness(self, credential: Mapping[str, Any] | None, *, now: datetime) -> Check | None:
        """A passed check naming the kit and the age of the revocation data it used.

        It never changes the verdict: staleness is already "could not check" on the status.
        """
        if credential is None:
            return None
        try:
            entries = parse_status_entries(credential)
        except CredentialError:
            return None
        times: list[datetime] = []
        for entry in entries:
            if entry.purpose not in ("revocation", "suspension") or not self.status.handles(
                entry.list_url
            ):
                continue
            try:
                times.append(self.status.verified(entry.list_url, purpose=entry.purpose).signed_at)
            except CredentialError:
                continue
        kit: dict[str, Value] = {
            "signer": self.kit.signer,
            "issued": self.kit.issued,
            "age": now - self.kit.issued,
        }
        if not times:
            said = Message.of(
                N_(
                    "checked offline with the verifier kit of %(signer)s, "
                    "issued %(issued)s (%(age)s old)"
                ),
                **kit,
            )
            return Check(CHECK_NAME, Outcome.PASSED, said)
        oldest = min(times)
        said = Message.of(
            N_(
                "revocation data from %(moment)s (%(data_age)s old), from the verifier kit of "
                "%(signer)s, issued %(issued)s (%(age)s old)"
            ),
            moment=oldest,
            data_age=now - oldest,
            **kit,
        )
        return Check(CHECK_NAME, Outcome.PASSED, said)


def load_offline_verifier(
    raw: bytes | str,
    *,
    pins: Iterable[str],
    now: datetime,
    max_age: timedelta = DEFAULT_MAX_AGE,
    trusted_issuers: Iterable[str] = (),
) -> OfflineVerifier:
    """Read and check a kit file, and build the verifier that uses it.

    Raises:
        KitError: the kit is malformed, not signed by a pinned key, or expired.
    """
    kit = read_kit(raw, pins=[p for p in pins if p.strip()], now=now)
    return OfflineVerifier(kit, max_age=max_age, trusted_issuers=frozenset(trusted_issuers))


__all__ = [
    "CHECK_NAME",
    "DEFAULT_MAX_AGE",
    "KitError",
    "KitKeyResolver",
    "KitStatusSource",
    "OfflineVerifier",
    "describe_age",
    "load_offline_verifier",
    "parse_duration",
]
