"""Configuration: defaults, ``TESSERA_*`` environment variables, and generated secrets.

The embedded default (no ``TESSERA_ENV=production``) generates its secrets into the instance
folder on first start (mode 0600) and says so. Production refuses to start without them.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from keys import InvalidKekError, load_kek, new_kek

from .errors import ConfigurationError
from .mail import parse_smtp_url
from .services import SLUG_PATTERN

log = logging.getLogger(__name__)

SECRETS_FILE = "secrets.json"
#: Secrets production must be given; the embedded default generates them.
REQUIRED_SECRETS = ("SECRET_KEY", "KEK")


def instance_path(config: Mapping[str, Any] | None = None) -> Path:
    value = (config or {}).get("INSTANCE") or os.environ.get("TESSERA_INSTANCE") or "instance"
    return Path(value).resolve()


def defaults(instance: Path) -> dict[str, Any]:
    return {
        "ENV": "development",
        "INSTANCE": str(instance),
        "DATABASE_URL": f"sqlite:///{instance / 'tessera.db'}",
        "PUBLIC_URL": "http://localhost:5000",
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        "MAX_CREDENTIAL_BYTES": 2 * 1024 * 1024,
        "TRUSTED_ISSUERS": [],
        # Fetch other issuers' did:web documents and status lists (through the guarded client).
        "REMOTE_RESOLUTION": True,
        # Only from these hosts (comma-separated); empty: any public host.
        "FETCH_ALLOWED_HOSTS": [],
        # Freshness bound of published status lists (seconds): a revocation reaches verifiers
        # that cache lists as told within this time.
        "STATUS_LIST_TTL": 300,
        # Verification counts (outcomes) are added up in each process and written at most this
        # often: a committed write per employer's check would cap the verify API (0: at once).
        "TALLY_FLUSH_SECONDS": 5,
        # Processes a bulk worker signs with (issuer/signing.py); unset: one per core.
        "SIGNING_PROCESSES": None,
        "SECRET_KEY": None,
        "KEK": None,
        # The VC-API issue endpoint (POST /credentials/issue): off unless both are set.
        "VCAPI_ISSUER": None,
        "VCAPI_TOKEN": None,
        # Background jobs: Redis when set (``tessera worker`` processes consume it), else a
        # SQLite queue in the instance folder consumed inside ``tessera serve``.
        "REDIS_URL": None,
        # E-mail (the worker's one-time links): an SMTP server, else the instance's outbox.
        "SMTP_URL": None,
        "MAIL_FROM": None,
        # A whole wallet (CLR JSON or ZIP) may be this large on the verify and import pages.
        "MAX_WALLET_BYTES": 16 * 1024 * 1024,
    }


def _load_or_generate_secrets(instance: Path) -> dict[str, str]:
    path = instance / SECRETS_FILE
    if path.exists():
        return json.loads(path.read_text("utf-8"))
    instance.mkdir(parents=True, exist_ok=True, mode=0o700)  # it holds secrets and the database
    generated = {"SECRET_KEY": secrets.token_urlsafe(48), "KEK": new_kek()}
    # Create with 0600 from the start, so the secrets are never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(generated, f)
    log.warning(
        "Generated new secrets into %s (mode 0600). Back this file up: without its KEK the "
        "signing keys cannot be decrypted. In production set TESSERA_SECRET_KEY and TESSERA_KEK.",
        path,
    )
    return generated


def finalize(config: dict[str, Any]) -> None:
    """Fill generated secrets (embedded default) and validate; fail fast with a clear message.

    Raises:
        ConfigurationError: naming each missing or malformed setting.
    """
    production = config.get("ENV") == "production"
    missing = [name for name in REQUIRED_SECRETS if not config.get(name)]
    if missing and production:
        raise ConfigurationError(
            "production configuration is missing "
            + ", ".join(f"TESSERA_{name}" for name in missing)
            + "; set them in the environment (see README, Configuration)"
        )
    if missing:
        generated = _load_or_generate_secrets(Path(config["INSTANCE"]))
        for name in missing:
            config[name] = generated[name]
    try:
        config["KEK_FERNET"] = load_kek(str(config["KEK"]))
    except InvalidKekError as e:
        raise ConfigurationError(str(e)) from e
    public = urlsplit(str(config["PUBLIC_URL"]))
    if public.scheme not in ("http", "https") or not public.hostname or public.query:
        raise ConfigurationError(
            "TESSERA_PUBLIC_URL must be an absolute http(s) URL such as https://badges.example.org"
        )
    if production and public.scheme != "https":
        raise ConfigurationError("TESSERA_PUBLIC_URL must use https in production")
    config["PUBLIC_URL"] = str(config["PUBLIC_URL"]).rstrip("/")
    ttl = config.get("STATUS_LIST_TTL")
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 10 <= ttl <= 86_400:
        raise ConfigurationError("TESSERA_STATUS_LIST_TTL must be a number of seconds, 10 to 86400")
    flush = config.get("TALLY_FLUSH_SECONDS")
    if not isinstance(flush, int | float) or isinstance(flush, bool) or not 0 <= flush <= 3600:
        raise ConfigurationError(
            "TESSERA_TALLY_FLUSH_SECONDS must be a number of seconds, 0 to 3600"
        )
    signing = config.get("SIGNING_PROCESSES")
    if signing is not None and (
        not isinstance(signing, int) or isinstance(signing, bool) or not 1 <= signing <= 64
    ):
        raise ConfigurationError(
            "TESSERA_SIGNING_PROCESSES must be a number of processes, 1 to 64 (1: sign in the "
            "worker itself)"
        )
    trusted = config.get("TRUSTED_ISSUERS") or []
    if isinstance(trusted, str):
        trusted = [t.strip() for t in trusted.split(",") if t.strip()]
    config["TRUSTED_ISSUERS"] = list(trusted)
    hosts = config.get("FETCH_ALLOWED_HOSTS") or []
    if isinstance(hosts, str):
        hosts = [h.strip().lower() for h in hosts.split(",") if h.strip()]
    config["FETCH_ALLOWED_HOSTS"] = list(hosts)
    if not isinstance(config.get("REMOTE_RESOLUTION"), bool):
        raise ConfigurationError("TESSERA_REMOTE_RESOLUTION must be true or false")
    _check_vcapi(config)
    _check_redis(config)
    _check_mail(config)
    wallet = config.get("MAX_WALLET_BYTES")
    if not isinstance(wallet, int) or isinstance(wallet, bool) or not 1024 <= wallet <= 256 << 20:
        raise ConfigurationError(
            "TESSERA_MAX_WALLET_BYTES must be a number of bytes, 1024 to 256 MB"
        )


def _check_mail(config: dict[str, Any]) -> None:
    url = config.get("SMTP_URL") or None
    if url is not None:
        parse_smtp_url(str(url))  # raises ConfigurationError naming the setting
    elif config.get("ENV") == "production":
        log.warning(
            "TESSERA_SMTP_URL is not set: e-mail to workers goes to %s (read it with "
            "`tessera outbox`), not to their inboxes",
            Path(config["INSTANCE"]) / "outbox",
        )
    config["SMTP_URL"] = url


REDIS_SCHEMES = ("redis", "rediss", "unix")


def _check_redis(config: dict[str, Any]) -> None:
    url = config.get("REDIS_URL") or None
    if url is not None and not _is_redis_url(url):
        raise ConfigurationError(
            "TESSERA_REDIS_URL must be a Redis URL such as redis://127.0.0.1:6379/0, "
            "rediss://user:password@redis.internal:6380/0 or unix:///run/redis.sock"
        )
    config["REDIS_URL"] = url


def _is_redis_url(url: object) -> bool:
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number raises ValueError
    except ValueError:
        return False
    if parts.scheme == "unix":
        return bool(parts.path)
    database = parts.path.strip("/")
    return (
        parts.scheme in REDIS_SCHEMES
        and bool(parts.hostname)
        and (not database or database.isdigit())
    )


#: Shortest bearer token the VC-API issue endpoint accepts (a 192-bit token_urlsafe is 32).
MIN_VCAPI_TOKEN_LENGTH = 32


def _check_vcapi(config: dict[str, Any]) -> None:
    issuer = config.get("VCAPI_ISSUER") or None
    token = config.get("VCAPI_TOKEN") or None
    if (issuer is None) != (token is None):
        missing = "TESSERA_VCAPI_TOKEN" if token is None else "TESSERA_VCAPI_ISSUER"
        raise ConfigurationError(
            f"the VC-API issue endpoint needs both TESSERA_VCAPI_ISSUER and TESSERA_VCAPI_TOKEN; "
            f"{missing} is missing"
        )
    if issuer is not None and (not isinstance(issuer, str) or not SLUG_PATTERN.match(issuer)):
        raise ConfigurationError(
            "TESSERA_VCAPI_ISSUER must be the slug of a training centre, e.g. north-welding"
        )
    if token is not None and (
        not isinstance(token, str)
        or len(token) < MIN_VCAPI_TOKEN_LENGTH
        or not token.isascii()
        or not token.isprintable()
        or " " in token
    ):
        raise ConfigurationError(
            f"TESSERA_VCAPI_TOKEN must be at least {MIN_VCAPI_TOKEN_LENGTH} printable ASCII "
            "characters without spaces; generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    config["VCAPI_ISSUER"] = issuer
    config["VCAPI_TOKEN"] = token
