"""A verification-only app: an employer's own verifier that issues nothing and has no database.

It knows only public data: ``did:key`` issuers offline, ``did:web`` issuers and their status
lists through the one guarded HTTP client, and the issuers the operator lists as trusted.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app

from . import ratelimit, security, web
from .api import openapi_dict, openapi_spec
from .backend import PublishedCredential
from .kit import KitError, OfflineVerifier, load_offline_verifier, parse_duration
from .matching import JobProfile, Offering, Task, catalogue
from .pipeline import VerificationResult, verify_credential
from .problems import register_error_handlers
from .remote import PublicResolution, public_resolution
from .status import StatusChain
from .wallet import WalletResult, verify_wallet

log = logging.getLogger(__name__)

#: The longest a fetched DID document or status list is reused (less when its server says so).
FETCH_CACHE_SECONDS = 300


class ConfigurationError(Exception):
    """The verifier is configured wrongly and refuses to start; the message names the setting."""

    code = "configuration-error"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PublicBackend:
    """The verification backend of a standalone verifier (see verifier.backend).

    Keys and status lists come from the app's public-resolution stack
    (``extensions["tessera.public_resolution"]``, built once so its caches serve every
    request); it holds no credentials of its own, so a verify link never resolves here.
    """

    def __init__(self, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._clock = clock

    def verify(self, data: bytes | str | Mapping[str, Any]) -> VerificationResult:
        public: PublicResolution = current_app.extensions["tessera.public_resolution"]
        config = current_app.config
        return verify_credential(
            data,
            resolver=public.resolver,
            status=StatusChain([public.status] if public.status is not None else []),
            now=self._clock(),
            trusted_issuers=frozenset(config["TRUSTED_ISSUERS"]),
            max_bytes=config["MAX_CREDENTIAL_BYTES"],
        )

    def verify_wallet(self, data: bytes | str | Mapping[str, Any]) -> WalletResult:
        public: PublicResolution = current_app.extensions["tessera.public_resolution"]
        return verify_wallet(
            data,
            verify_one=self.verify,
            resolver=public.resolver,
            now=self._clock(),
            max_bytes=current_app.config["MAX_WALLET_BYTES"],
        )

    def lookup(self, public_id: str) -> PublishedCredential | None:
        return None

    def verify_url(self, public_id: str) -> str:
        return f"{current_app.config['PUBLIC_URL']}/v/{public_id}"

    def job_profiles(self) -> Sequence[JobProfile]:
        return catalogue()

    def job_profile(self, profile_id: str) -> JobProfile | None:
        return next((p for p in catalogue() if p.id == profile_id), None)

    def offerings(self, task: Task) -> Sequence[Offering]:
        return ()  # a standalone verifier offers no training

    def record_verification(self, result: VerificationResult, channel: str) -> None:
        return None  # it issues nothing, so there is no one to report figures to


class KitBackend(PublicBackend):
    """Offline mode (TESSERA_VERIFIER_KIT): keys and status lists only from a signed kit.

    No HTTP client exists in this mode. The kit file is read again when it changes on disk (a
    refreshed kit copied over it); one that does not check out is logged and the previous kit
    stays in use, until it expires.
    """

    def __init__(self, path: str, *, clock: Callable[[], datetime] = _utcnow) -> None:
        super().__init__(clock=clock)
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._checker: OfflineVerifier | None = None

    def checker(self) -> OfflineVerifier:
        """The verifier of the current kit (re-read when the file changed).

        Raises:
            KitError: no kit checked out yet (at startup).
        """
        try:
            info = os.stat(self._path)
            stamp = (info.st_mtime_ns, info.st_size)
        except OSError as e:
            if self._checker is None:
                raise KitError(f"the verifier kit {self._path} cannot be read: {e.strerror}") from e
            return self._checker
        if stamp != self._stamp:
            config = current_app.config
            try:
                with open(self._path, "rb") as f:
                    raw = f.read()
                self._checker = load_offline_verifier(
                    raw,
                    pins=config["KIT_TRUST"],
                    now=self._clock(),
                    max_age=parse_duration(config["KIT_MAX_AGE"]),
                    trusted_issuers=config["TRUSTED_ISSUERS"],
                )
            except (OSError, KitError) as e:
                if self._checker is None:
                    raise KitError(f"the verifier kit {self._path}: {e}") from e
                log.warning("the verifier kit %s was not reloaded: %s", self._path, e)
            self._stamp = stamp
        if self._checker is None:
            raise KitError(f"the verifier kit {self._path} could not be loaded")
        return self._checker

    def verify(self, data: bytes | str | Mapping[str, Any]) -> VerificationResult:
        return self.checker().verify(
            data, now=self._clock(), max_bytes=current_app.config["MAX_CREDENTIAL_BYTES"]
        )

    def verify_wallet(self, data: bytes | str | Mapping[str, Any]) -> WalletResult:
        return self.checker().verify_wallet(
            data, now=self._clock(), max_bytes=current_app.config["MAX_WALLET_BYTES"]
        )


def defaults() -> dict[str, Any]:
    return {
        "ENV": "development",
        "PUBLIC_URL": "http://localhost:5000",
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        "MAX_CREDENTIAL_BYTES": 2 * 1024 * 1024,
        "MAX_WALLET_BYTES": 16 * 1024 * 1024,
        "TRUSTED_ISSUERS": [],
        "REMOTE_RESOLUTION": True,
        "FETCH_ALLOWED_HOSTS": [],
        "SECRET_KEY": None,
        "VERIFIER_KIT": None,
        "KIT_TRUST": [],
        "KIT_MAX_AGE": "7d",
        **security.defaults(),
        **ratelimit.defaults(),
    }


def _names(value: Any, setting: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple | set | frozenset) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise ConfigurationError(f"TESSERA_{setting} must be a comma-separated list")


def _number(config: Mapping[str, Any], name: str, low: int, high: int, unit: str) -> None:
    value = config.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigurationError(f"TESSERA_{name} must be a number of {unit}, {low} to {high}")


def finalize(config: dict[str, Any]) -> None:
    """Validate the settings, fail fast naming each bad one; fill an ephemeral SECRET_KEY.

    Raises:
        ConfigurationError: a malformed setting.
    """
    if not config.get("SECRET_KEY"):
        # The verifier's only session use is the CSRF token of its upload form: losing it on
        # restart costs a resubmitted form, so a fresh key per start is enough.
        config["SECRET_KEY"] = secrets.token_urlsafe(48)
        log.warning(
            "TESSERA_SECRET_KEY is not set: using an ephemeral key for this process. The "
            "verifier keeps no sessions worth preserving; set the key only when several "
            "processes that do not share one preloaded app serve the same site."
        )
    public = urlsplit(str(config["PUBLIC_URL"]))
    if public.scheme not in ("http", "https") or not public.hostname or public.query:
        raise ConfigurationError(
            "TESSERA_PUBLIC_URL must be an absolute http(s) URL such as https://verify.example.org"
        )
    if config.get("ENV") == "production" and public.scheme != "https":
        raise ConfigurationError("TESSERA_PUBLIC_URL must use https in production")
    config["PUBLIC_URL"] = str(config["PUBLIC_URL"]).rstrip("/")
    _number(config, "MAX_CREDENTIAL_BYTES", 1024, 64 << 20, "bytes")
    _number(config, "MAX_CONTENT_LENGTH", 1024, 64 << 20, "bytes")
    _number(config, "MAX_WALLET_BYTES", 1024, 256 << 20, "bytes")
    if not isinstance(config.get("REMOTE_RESOLUTION"), bool):
        raise ConfigurationError("TESSERA_REMOTE_RESOLUTION must be true or false")
    config["TRUSTED_ISSUERS"] = _names(config.get("TRUSTED_ISSUERS"), "TRUSTED_ISSUERS")
    hosts = _names(config.get("FETCH_ALLOWED_HOSTS"), "FETCH_ALLOWED_HOSTS")
    config["FETCH_ALLOWED_HOSTS"] = [h.lower() for h in hosts]
    config["KIT_TRUST"] = _names(config.get("KIT_TRUST"), "KIT_TRUST")
    try:
        parse_duration(config["KIT_MAX_AGE"])
    except ValueError as e:
        raise ConfigurationError(f"TESSERA_KIT_MAX_AGE: {e}") from e
    if config.get("VERIFIER_KIT"):
        if not config["KIT_TRUST"]:
            raise ConfigurationError(
                "TESSERA_VERIFIER_KIT needs TESSERA_KIT_TRUST: the kit signer's key (z6Mk...), "
                "as `tessera kit export` prints it"
            )
        # Offline means offline: nothing is fetched, whatever else is configured.
        config["REMOTE_RESOLUTION"] = False
    try:
        security.finalize(config)
        ratelimit.finalize(config)
    except ValueError as e:
        raise ConfigurationError(str(e)) from e


# -- the app --------------------------------------------------------------------------------


@cache
def openapi_document() -> dict[str, Any]:
    """The standalone verifier's OpenAPI document."""
    spec = openapi_spec(
        title="Tessera verifier",
        description=(
            "A Tessera verifier that issues nothing: verify Open Badges 3.0 credentials and "
            "presentations from public data (did:key, did:web, Bitstring Status Lists)."
        ),
    )
    spec.path(
        path="/healthz",
        operations={
            "get": {
                "tags": ["public"],
                "operationId": "health",
                "summary": "Liveness",
                "responses": {
                    "200": {
                        "description": "the verifier is up",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    )
    return openapi_dict(spec)


def create_verifier_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build a verification-only app: defaults, then ``TESSERA_*`` variables, then ``config``.

    Raises:
        ConfigurationError: a malformed setting.
    """
    app = Flask("verifier")
    app.config.from_mapping(defaults())
    app.config.from_prefixed_env("TESSERA")
    if config:
        app.config.from_mapping(config)
    finalize(app.config)
    app.json.sort_keys = False  # keep credentials in the order they were signed and shown
    register_error_handlers(app)
    app.extensions["tessera.public_resolution"] = public_resolution(
        fetch=app.config["REMOTE_RESOLUTION"],
        allowed_hosts=app.config["FETCH_ALLOWED_HOSTS"] or None,
        cache_seconds=FETCH_CACHE_SECONDS,
    )
    if app.config["VERIFIER_KIT"]:
        offline = KitBackend(str(app.config["VERIFIER_KIT"]))
        with app.app_context():
            try:
                offline.checker()  # fail fast: a bad kit stops startup, naming the reason
            except KitError as e:
                raise ConfigurationError(f"TESSERA_VERIFIER_KIT: {e}") from e
        app.extensions["tessera.verifier"] = offline
    else:
        app.extensions["tessera.verifier"] = PublicBackend()
    web.init_app(app)

    @app.get("/healthz")
    def health() -> tuple[dict[str, str], int]:
        """Liveness, for load balancers (there is no database to check)."""
        return {"status": "ok"}, 200

    @app.get("/api/v1/openapi.json")
    def openapi() -> dict[str, Any]:
        """This verifier's OpenAPI document."""
        return openapi_document()

    ratelimit.init_app(app)  # last: it limits the views registered above
    return app
