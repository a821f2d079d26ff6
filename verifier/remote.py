"""Public-data resolution: did:key offline, did:web and status lists through the guarded client.

Built once per app (its caches then serve every request) by the combined and standalone apps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .did_web import DidWebResolver
from .http import GuardedHttpClient
from .resolvers import ChainResolver, DidKeyResolver
from .status import RemoteStatusSource


@dataclass(frozen=True, slots=True)
class PublicResolution:
    """Everything needed to verify what other issuers publish."""

    client: GuardedHttpClient | None
    resolver: ChainResolver
    status: RemoteStatusSource | None


def public_resolution(
    *, fetch: bool, allowed_hosts: Iterable[str] | None = None, cache_seconds: int = 300
) -> PublicResolution:
    """did:key always; with ``fetch``, did:web documents and status lists over HTTPS.

    ``allowed_hosts`` restricts fetching to those host names (None: any public host).
    """
    if not fetch:
        return PublicResolution(None, ChainResolver([DidKeyResolver()]), None)
    client = GuardedHttpClient(
        allowed_hosts=frozenset(allowed_hosts) if allowed_hosts is not None else None
    )
    resolver = ChainResolver([DidKeyResolver(), DidWebResolver(client, cache_ttl=cache_seconds)])
    return PublicResolution(
        client, resolver, RemoteStatusSource(client, resolver, max_cache=cache_seconds)
    )
