"""What the verify pages and APIs need from whoever hosts them.

The combined app (issuer/) provides a backend that knows this instance's centres, keys, lists
and issued credentials; a standalone verifier provides one that knows only public data. The
web layer reads it from ``current_app.extensions["tessera.verifier"]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from flask import current_app

from .matching import JobProfile, Offering, Task
from .pipeline import VerificationResult
from .wallet import WalletResult, looks_like_wallet


@dataclass(frozen=True, slots=True)
class PublishedCredential:
    """A credential this instance issued, as its public verify page shows it."""

    public_id: str
    document: dict[str, Any]  # with its embedded Data Integrity proof
    jwt: str
    verify_url: str
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    hidden: bool = False  # the holder turned its public page off


class VerificationBackend(Protocol):
    def verify(self, data: bytes | str | Mapping[str, Any]) -> VerificationResult:
        """Run the one pipeline with this host's resolvers, status sources and trust list."""
        ...

    def verify_wallet(self, data: bytes | str | Mapping[str, Any]) -> WalletResult:
        """Verify a wallet (CLR JSON or ZIP): its own proof, and each credential in it."""
        ...

    def lookup(self, public_id: str) -> PublishedCredential | None:
        """The credential behind a verify URL, if this host issued it."""
        ...

    def verify_url(self, public_id: str) -> str:
        """The public verify URL (built from the configured base URL, never the Host header)."""
        ...

    def job_profiles(self) -> Sequence[JobProfile]:
        """The job profiles an employer may pick on the match page (published ones only)."""
        ...

    def job_profile(self, profile_id: str) -> JobProfile | None:
        """One published job profile by its id."""
        ...

    def offerings(self, task: Task) -> Sequence[Offering]:
        """Achievements offered on this host that would cover ``task``."""
        ...

    def record_verification(self, result: VerificationResult, channel: str) -> None:
        """Count one verification by someone outside (see ``tally``); never raises."""
        ...


def backend() -> VerificationBackend:
    return current_app.extensions["tessera.verifier"]  # type: ignore[no-any-return]


def verify_any(data: bytes | str | Mapping[str, Any]) -> VerificationResult | WalletResult:
    """One credential, or a whole wallet: whichever ``data`` is."""
    host = backend()
    return host.verify_wallet(data) if looks_like_wallet(data) else host.verify(data)


#: Where a verification came from, as the outcomes dashboard counts it.
CHANNELS = ("page", "upload", "api", "match")


def tally(found: VerificationResult | WalletResult, channel: str) -> None:
    """Count what a verifier outside checked: each credential of a wallet counts once.

    Only the public entry points call this (the QR page, the upload page, the APIs, the match
    page); the instance verifying for its own purposes (imports, pathways) is not counted.
    """
    host = backend()
    results = (
        [entry.result for entry in found.entries] if isinstance(found, WalletResult) else [found]
    )
    for result in results:
        host.record_verification(result, channel)


#: Public ids are 22-character URL-safe tokens; a little slack for other hosts' schemes.
PUBLIC_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def public_id_in(text: str) -> str | None:
    """The public id in a verify URL of this host, or ``text`` itself if it is one.

    Only this host's own verify URLs count: links elsewhere are never followed.
    """
    candidate = text.strip()
    prefix = backend().verify_url("")
    if candidate.startswith(prefix):
        candidate = re.split(r"[/?#]", candidate[len(prefix) :], maxsplit=1)[0]
    return candidate if PUBLIC_ID.match(candidate) else None
