"""How this instance verifies: its own keys and lists first, then public data, guarded."""

from __future__ import annotations

import atexit
import json
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flask import Flask, current_app
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from credentials.db import read
from keys import did_web
from verifier import VerificationResult, verify_credential
from verifier.backend import PublishedCredential
from verifier.matching import JobProfile, Offering, Task
from verifier.remote import PublicResolution, public_resolution
from verifier.resolvers import ChainResolver, InstanceKeyResolver
from verifier.status import StatusChain, StatusSource
from verifier.wallet import WalletResult, verify_wallet

from . import outcomes, profiles, services
from .clock import utcnow
from .db import db
from .errors import NotFoundError
from .models import Organisation
from .status import LocalStatusSource

#: Built once: the verify API asks it on every call.
_CENTRE_WITH_DID = select(Organisation.id).where(Organisation.did == bindparam("did"))


#: Centre DIDs a process remembers as ours; a programme has hundreds of centres, not this.
MAX_REMEMBERED_CENTRES = 10_000


class TrustedIssuers:
    """Our own centres, plus the issuers the operator listed in TESSERA_TRUSTED_ISSUERS.

    Asked per issuer (``did in trusted``), so a verification looks up one centre by its
    unique DID instead of loading every centre: the verify API is asked this on every call.
    A DID found to be one of our centres is remembered in ``known`` (one set per app): a
    centre is never deleted and its DID never changes, so the answer cannot go stale. A DID
    that is not ours is asked again each time, so a centre created later is trusted at once.
    """

    def __init__(self, session: Session, configured: Iterable[str], known: set[str]) -> None:
        self._session = session
        self._configured = frozenset(configured)
        self._known = known

    def __contains__(self, issuer: object) -> bool:
        if not isinstance(issuer, str):
            return False
        if issuer in self._configured or issuer in self._known:
            return True
        if read(self._session, _CENTRE_WITH_DID, {"did": issuer}).first() is None:
            return False
        if len(self._known) < MAX_REMEMBERED_CENTRES:
            self._known.add(issuer)
        return True


def trusted_issuers() -> TrustedIssuers:
    return TrustedIssuers(
        db(), current_app.config["TRUSTED_ISSUERS"], current_app.extensions["tessera.centres"]
    )


def init_app(app: Flask) -> None:
    """One public-resolution stack per app, so its caches serve every request."""
    config = app.config
    app.extensions["tessera.public_resolution"] = public_resolution(
        fetch=config["REMOTE_RESOLUTION"],
        allowed_hosts=config["FETCH_ALLOWED_HOSTS"] or None,
        cache_seconds=config["STATUS_LIST_TTL"],
    )
    app.extensions["tessera.verifier"] = InstanceBackend()
    app.extensions["tessera.centres"] = set()  # see TrustedIssuers
    buffer = outcomes.TallyBuffer(config["TALLY_FLUSH_SECONDS"])
    app.extensions["tessera.tally"] = buffer
    # Counts still waiting when the process ends normally (gunicorn's graceful stop, the CLI).
    # The handler holds the app weakly: a process that makes many apps (the test suite) would
    # otherwise keep every one of them alive, and try to flush into their deleted databases.
    atexit.register(_flush_at_exit, weakref.ref(app), buffer)


def _flush_at_exit(app_ref: weakref.ref[Flask], buffer: outcomes.TallyBuffer) -> None:
    app = app_ref()
    if app is None or not buffer.waiting():
        return
    session = app.extensions["tessera.sessionmaker"]()
    try:
        buffer.flush(session)
    finally:
        session.close()


def _resolver() -> ChainResolver:
    """Our own keys from the database (authoritative), then public data, guarded."""
    public: PublicResolution = current_app.extensions["tessera.public_resolution"]
    return ChainResolver(
        [
            InstanceKeyResolver(db(), authority=did_web(current_app.config["PUBLIC_URL"])),
            public.resolver,
        ]
    )


def verify(data: bytes | str | Mapping[str, Any]) -> VerificationResult:
    """Run the one pipeline with this instance's resolvers, status sources and trust list.

    Our own centres' keys and lists come from the database (authoritative, immediate);
    everything else from public data: did:key, then did:web and status lists over HTTPS.
    """
    session = db()
    public: PublicResolution = current_app.extensions["tessera.public_resolution"]
    sources: list[StatusSource] = [LocalStatusSource(session, current_app.config["PUBLIC_URL"])]
    if public.status is not None:
        sources.append(public.status)
    return verify_credential(
        data,
        resolver=_resolver(),
        status=StatusChain(sources),
        now=utcnow(),
        trusted_issuers=trusted_issuers(),
        max_bytes=current_app.config["MAX_CREDENTIAL_BYTES"],
    )


class InstanceBackend:
    """The verification backend of the combined app (see verifier.backend)."""

    def verify(self, data: bytes | str | Mapping[str, Any]) -> VerificationResult:
        return verify(data)

    def verify_wallet(self, data: bytes | str | Mapping[str, Any]) -> WalletResult:
        return verify_wallet(
            data,
            verify_one=verify,
            resolver=_resolver(),
            now=utcnow(),
            max_bytes=current_app.config["MAX_WALLET_BYTES"],
        )

    def lookup(self, public_id: str) -> PublishedCredential | None:
        if not public_id or len(public_id) > 64:
            return None
        try:
            record = services.get_credential(db(), public_id)
        except NotFoundError:
            return None
        if record.public_id != public_id:  # only the opaque id opens the public page
            return None
        return PublishedCredential(
            public_id=record.public_id,
            document=json.loads(record.document),
            jwt=record.jwt,
            verify_url=self.verify_url(record.public_id),
            revoked_at=record.revoked_at,
            revocation_reason=record.revocation_reason,
            hidden=record.public_link_hidden_at is not None,
        )

    def verify_url(self, public_id: str) -> str:
        return f"{current_app.config['PUBLIC_URL']}/v/{public_id}"

    def job_profiles(self) -> Sequence[JobProfile]:
        return profiles.published(db(), current_app.config["PUBLIC_URL"])

    def job_profile(self, profile_id: str) -> JobProfile | None:
        return profiles.find_published(db(), current_app.config["PUBLIC_URL"], profile_id)

    def offerings(self, task: Task) -> Sequence[Offering]:
        return profiles.offerings(db(), current_app.config["PUBLIC_URL"], task)

    def record_verification(self, result: VerificationResult, channel: str) -> None:
        buffer = current_app.extensions["tessera.tally"]
        outcomes.record_verification(db(), result, channel, now=utcnow(), buffer=buffer)
