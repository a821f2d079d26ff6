"""Where the verifier gets status lists. Injected, like key resolvers.

An unreachable, stale, tampered or otherwise untrustworthy list never means "not revoked":
every such case raises ``StatusUnavailableError`` and the verifier says "could not check".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from credentials import CredentialError, issuer_id
from credentials.dates import parse_datetime
from credentials.errors import StatusUnavailableError
from credentials.proofs import data_integrity, jwt_vc
from credentials.status_list import StatusEntry, read_status_list_credential

from .resolvers import KeyResolver
from .signatures import verify_embedded_proof

#: How far another host's clock may run ahead of ours before its new list looks premature.
CLOCK_SKEW = timedelta(seconds=60)


class StatusSource(Protocol):
    def handles(self, list_url: str) -> bool:
        """Whether this source answers for that status list URL."""
        ...

    def bits(self, entry: StatusEntry, *, issuer: str, now: datetime) -> bytes:
        """The decoded bitstring of the entry's list, published by ``issuer``.

        Raises:
            StatusUnavailableError: the list cannot be obtained or trusted.
        """
        ...


class StatusChain:
    """The first source that handles a URL answers; none handling it means unavailable."""

    def __init__(self, sources: Sequence[StatusSource]) -> None:
        self._sources = list(sources)

    def handles(self, list_url: str) -> bool:
        return any(s.handles(list_url) for s in self._sources)

    def bits(self, entry: StatusEntry, *, issuer: str, now: datetime) -> bytes:
        for source in self._sources:
            if source.handles(entry.list_url):
                return source.bits(entry, issuer=issuer, now=now)
        raise StatusUnavailableError(
            f"this verifier does not fetch status lists from {entry.list_url}"
        )


class Fetcher(Protocol):
    """The part of the guarded HTTP client the remote source needs."""

    def get(self, url: str, *, accept: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Cached:
    bits: bytes
    issuer: str
    purpose: str
    expires_at: datetime


def verify_list_credential(raw: dict[str, Any] | str, resolver: KeyResolver) -> dict[str, Any]:
    """Check a status list credential's proof; return the credential it carries.

    Raises:
        StatusUnavailableError: no proof, or one that does not verify with the issuer's keys.
    """
    try:
        if isinstance(raw, str):
            return jwt_vc.decode_vc_jwt(raw.strip(), resolver.resolve).credential
        proofs = data_integrity.embedded_proofs(raw)
        if not proofs:
            raise StatusUnavailableError("the status list carries no proof")
        for proof in proofs:
            verify_embedded_proof(raw, proof, resolver)
        return raw
    except StatusUnavailableError:
        raise
    except CredentialError as e:
        raise StatusUnavailableError(f"the status list's proof does not verify: {e}") from e


class RemoteStatusSource:
    """Status lists of other issuers, fetched through the guarded client and cached.

    A list is cached until its ``validUntil`` or the response's ``max-age``, whichever comes
    first (at most ``max_cache`` seconds); a list past its ``validUntil`` is stale and not used.
    """

    ACCEPT = (
        "application/vc+ld+json, application/vc, application/vc+jwt;q=0.9, application/json;q=0.8"
    )

    def __init__(
        self,
        client: Fetcher,
        resolver: KeyResolver,
        *,
        max_cache: int = 300,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._resolver = resolver
        self._max_cache = max_cache
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def handles(self, list_url: str) -> bool:
        return list_url.startswith("https://")

    def bits(self, entry: StatusEntry, *, issuer: str, now: datetime) -> bytes:
        with self._lock:
            cached = self._cache.get(entry.list_url)
        if cached is None or cached.expires_at <= self._clock():
            cached = self._fetch(entry)
            with self._lock:
                self._cache[entry.list_url] = cached
        if cached.issuer != issuer:
            raise StatusUnavailableError(
                "the status list is published by another issuer than the credential's"
            )
        if cached.purpose != entry.purpose:
            raise StatusUnavailableError(f"the status list is not for {entry.purpose!r}")
        return cached.bits

    def _fetch(self, entry: StatusEntry) -> _Cached:
        try:
            fetched = self._client.get(entry.list_url, accept=self.ACCEPT)
            body = fetched.body.decode("utf-8").strip()
            raw: dict[str, Any] | str = body if not body.startswith("{") else fetched.json()
        except (CredentialError, ValueError) as e:  # ValueError: undecodable text or JSON
            raise StatusUnavailableError(f"the status list could not be fetched: {e}") from e
        credential = verify_list_credential(raw, self._resolver)
        now = self._clock()
        try:
            valid_from = parse_datetime(credential.get("validFrom"), "validFrom")
            valid_until = (
                parse_datetime(credential["validUntil"], "validUntil")
                if "validUntil" in credential
                else now + timedelta(seconds=self._max_cache)
            )
            bits = read_status_list_credential(credential, purpose=entry.purpose)
        except CredentialError as e:
            raise StatusUnavailableError(f"the status list is not usable: {e}") from e
        if credential.get("id") != entry.list_url:
            raise StatusUnavailableError("the status list's id is not the URL it came from")
        # A list signed a moment ago by a host whose clock runs slightly ahead is fresh, not
        # "not yet valid"; a list past its validUntil is stale, with no allowance.
        if not valid_from - CLOCK_SKEW <= now < valid_until:
            raise StatusUnavailableError(
                f"the status list is stale: it was valid until {valid_until.isoformat()}"
            )
        max_age = fetched.max_age()
        horizon = min(self._max_cache, max_age if max_age is not None else self._max_cache)
        expires_at = min(valid_until, now + timedelta(seconds=horizon))
        return _Cached(bits, issuer_id(credential), entry.purpose, expires_at)
