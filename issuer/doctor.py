"""``tessera doctor``: check a deployment's configuration and connectivity, say what is wrong.

Each check returns findings: ``OK``, ``WARNING`` (works, but should be looked at) or
``PROBLEM`` (something the service needs is broken or missing), each with what to do about it.
The doctor reads; it never changes the database, the queue or a file, and never prints a
secret: database and Redis URLs are shown without their passwords, keys by their ids.
"""

from __future__ import annotations

import enum
import json
import os
import shutil
import stat
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from keys import KeyPurpose, KeyState, SigningKey, did_web
from keys.crypto import load_public_jwk

from . import jobs
from .backup import current_revision, head_revision
from .clock import utcnow
from .config import SECRETS_FILE
from .models import IssuedCredential, Organisation, StatusList

#: Free disk space below which the service is about to fail (a write can fail any moment).
DISK_PROBLEM_BYTES = 100 * 1024 * 1024
#: Free disk space below which an operator should act soon.
DISK_WARNING_BYTES = 1024 * 1024 * 1024
DISK_WARNING_FRACTION = 0.05
#: Clock differences with the database or Redis server. Bulk-job heartbeats are compared
#: across machines (60 s staleness) and credentials carry issuance times.
CLOCK_WARNING_SECONDS = 5
CLOCK_PROBLEM_SECONDS = 30
#: No Tessera was released before this: a clock earlier than it was reset (a dead RTC battery).
EARLIEST_SANE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
REDIS_TIMEOUT_SECONDS = 3


class Level(enum.StrEnum):
    OK = "OK"
    WARNING = "WARNING"
    PROBLEM = "PROBLEM"


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the report: what was checked, how it stands and what to do."""

    check: str
    level: Level
    message: str
    fix: str | None = None


def ok(check: str, message: str) -> Finding:
    return Finding(check, Level.OK, message)


def warning(check: str, message: str, fix: str | None = None) -> Finding:
    return Finding(check, Level.WARNING, message, fix)


def problem(check: str, message: str, fix: str | None = None) -> Finding:
    return Finding(check, Level.PROBLEM, message, fix)


@dataclass(frozen=True, slots=True)
class Report:
    findings: tuple[Finding, ...]

    @property
    def problems(self) -> int:
        return sum(f.level == Level.PROBLEM for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.level == Level.WARNING for f in self.findings)

    @property
    def healthy(self) -> bool:
        return self.problems == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "problems": self.problems,
            "warnings": self.warnings,
            "checks": [asdict(f) for f in self.findings],
        }

    def as_text(self) -> str:
        width = max((len(f.check) for f in self.findings), default=0)
        lines = []
        for f in self.findings:
            lines.append(f"{f.level.value:<8} {f.check:<{width}}  {f.message}")
            if f.fix:
                lines.append(f"{'':<8} {'':<{width}}  -> {f.fix}")
        lines.append(
            f"{self.problems} problem(s), {self.warnings} warning(s)."
            if self.findings
            else "Nothing was checked."
        )
        return "\n".join(lines)


def configuration_failed(message: str) -> Report:
    """The report when the service would not even start with this configuration."""
    return Report(
        (
            problem(
                "configuration",
                f"the service refuses to start: {message}",
                "fix the setting named above (README, Configuration), then run the doctor again",
            ),
        )
    )


def diagnose(app: Flask, *, now: datetime) -> Report:
    """Run every check against the configuration and services ``app`` was built with."""
    config = app.config
    engine: Engine = app.extensions["tessera.engine"]
    findings: list[Finding] = [
        *check_environment(config),
        *check_secrets(config),
        *check_instance_folder(config),
        *check_disk_space(config),
    ]
    database = check_database(engine)
    findings.extend(database)
    migrated = all(f.level != Level.PROBLEM for f in database)
    if migrated:
        with app.extensions["tessera.sessionmaker"]() as session:
            unusable = unusable_keys(session, config["KEK"])
            findings.extend(check_signing_keys(session, config["KEK"], unusable))
            findings.extend(check_centres(session, unusable))
            findings.extend(check_instance_keys(session, config["PUBLIC_URL"]))
    findings.extend(check_jobs(config))
    findings.extend(check_rate_limits(config))
    findings.extend(check_clock(engine, config, now=now))
    return Report(tuple(findings))


# -- configuration -------------------------------------------------------------------------


def check_environment(config: Any) -> Iterable[Finding]:
    url = str(config["PUBLIC_URL"])
    if config.get("ENV") == "production":
        if "://localhost" in url or "://127." in url:
            yield warning(
                "public URL",
                f"{url} is a loopback address: DIDs and verify links built from it work only "
                "on this machine",
                "set TESSERA_PUBLIC_URL to the address learners and employers use",
            )
        else:
            yield ok("public URL", f"{url} (production, https)")
        return
    yield warning(
        "environment",
        f"TESSERA_ENV is {config.get('ENV')!r}, not 'production': fine for trying Tessera; "
        "secrets may come from the instance folder and http is allowed",
        "set TESSERA_ENV=production on a server learners and employers use",
    )
    yield ok("public URL", url)


def _fernets(kek: str) -> list[Fernet]:
    return [Fernet(part.strip()) for part in str(kek).split(",") if part.strip()]


def check_secrets(config: Any) -> Iterable[Finding]:
    generated = Path(config["INSTANCE"]) / SECRETS_FILE
    for name in ("SECRET_KEY", "KEK"):
        source = (
            "from the environment"
            if os.environ.get(f"TESSERA_{name}")
            else f"generated, in {generated}"
            if generated.exists()
            else "from the configuration"
        )
        if not config.get(name):
            yield problem("secrets", f"TESSERA_{name} is not set", f"set TESSERA_{name}")
            continue
        yield ok("secrets", f"TESSERA_{name} is set ({source})")
    if len(str(config.get("SECRET_KEY") or "")) < 32:
        yield warning(
            "secrets",
            "TESSERA_SECRET_KEY is shorter than 32 characters",
            "generate one with python -c 'import secrets; print(secrets.token_urlsafe(48))'",
        )
    members = len(_fernets(config["KEK"]))
    if members > 1:
        yield ok(
            "secrets",
            f"TESSERA_KEK holds {members} keys; the first encrypts new keys, all decrypt",
        )


# -- the instance folder and the disk ------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_instance_folder(config: Any) -> Iterable[Finding]:
    folder = Path(config["INSTANCE"])
    if not folder.is_dir():
        yield warning(
            "instance folder",
            f"{folder} does not exist yet (the job queue, outbox and generated secrets go there)",
            "run `tessera init`",
        )
        return
    if _mode(folder) & 0o077:
        yield warning(
            "instance folder",
            f"{folder} has mode {_mode(folder):04o}: others on this machine can list it",
            f"chmod 700 {folder}",
        )
    else:
        yield ok("instance folder", f"{folder} (mode {_mode(folder):04o})")
    secrets_file = folder / SECRETS_FILE
    if secrets_file.exists() and _mode(secrets_file) & 0o077:
        yield problem(
            "instance folder",
            f"{secrets_file} (the KEK and secret key) has mode {_mode(secrets_file):04o}: "
            "others on this machine can read it",
            f"chmod 600 {secrets_file}, and treat its secrets as exposed if others had access",
        )
    database = _sqlite_file(config)
    if database is not None and database.exists() and _mode(database) & 0o007:
        yield warning(
            "instance folder",
            f"{database} (names and e-mail addresses) has mode {_mode(database):04o}: "
            "anyone on this machine can read it",
            f"chmod 600 {database}",
        )


def _sqlite_file(config: Any) -> Path | None:
    url = make_url(str(config["DATABASE_URL"]))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk_space(config: Any) -> Iterable[Finding]:
    places = {Path(config["INSTANCE"])}
    database = _sqlite_file(config)
    if database is not None:
        places.add(database.parent)
    seen: set[int] = set()
    for place in sorted(places):
        where = _existing(place)
        device = where.stat().st_dev
        if device in seen:
            continue
        seen.add(device)
        usage = shutil.disk_usage(where)
        free = f"{usage.free / 2**30:.1f} GiB free of {usage.total / 2**30:.1f} GiB at {place}"
        if usage.free < DISK_PROBLEM_BYTES:
            yield problem("disk space", free, "free space now: writes are about to fail")
        elif usage.free < DISK_WARNING_BYTES or usage.free < usage.total * DISK_WARNING_FRACTION:
            yield warning("disk space", free, "free some space or grow the volume soon")
        else:
            yield ok("disk space", free)


# -- the database --------------------------------------------------------------------------


def _scrub(message: str, password: object) -> str:
    """The message without the password, should a driver ever repeat it."""
    return message.replace(str(password), "***") if password else message


def masked_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def check_database(engine: Engine) -> list[Finding]:
    where = masked_url(engine)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = current_revision(connection)
    except SQLAlchemyError as e:
        reason = _scrub(
            str(getattr(e, "orig", None) or e).strip().splitlines()[0][:200], engine.url.password
        )
        return [
            problem(
                "database",
                f"{where} cannot be reached: {reason}",
                "check TESSERA_DATABASE_URL, that the server runs and that this machine may "
                "connect to it",
            )
        ]
    head = head_revision(engine)
    if current is None:
        return [
            ok("database", f"{where} answers"),
            problem(
                "migrations",
                "the database has no Tessera tables yet",
                "run `tessera init`, or `tessera restore FILE` to load a backup",
            ),
        ]
    if current != head:
        return [
            ok("database", f"{where} answers"),
            problem(
                "migrations",
                f"the database is at revision {current}; this version needs {head}",
                "run `tessera db upgrade` (a revision newer than the code means the code is "
                "older than the database: deploy the newer version)",
            ),
        ]
    return [
        ok("database", f"{where} answers"),
        ok("migrations", f"at the newest revision ({head})"),
    ]


# -- keys and centres ----------------------------------------------------------------------


def _raw_public(key: Any) -> bytes:
    return key.public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def unusable_keys(session: Session, kek: str) -> dict[str, str]:
    """Key ids whose private part the configured KEK cannot open (or does not match), with why.

    The private keys are decrypted in memory only, compared with their stored public keys,
    and dropped; nothing about them is reported but their ids.
    """
    fernets = _fernets(kek)
    unusable: dict[str, str] = {}
    for record in session.scalars(select(SigningKey).order_by(SigningKey.id)):
        der = _decrypt(fernets, record.encrypted_private_key)
        if der is None:
            unusable[record.key_id] = "no key of TESSERA_KEK opens it"
            continue
        try:
            private = serialization.load_der_private_key(der, password=None)
            stored = load_public_jwk(json.loads(record.public_jwk))
        except ValueError:
            unusable[record.key_id] = "it decrypts, but is not a readable private key"
            continue
        if _raw_public(private.public_key()) != _raw_public(stored):
            unusable[record.key_id] = "it decrypts, but does not match its published public key"
    return unusable


def _decrypt(fernets: list[Fernet], token: bytes) -> bytes | None:
    for fernet in fernets:
        try:
            return fernet.decrypt(bytes(token))
        except InvalidToken:
            continue
    return None


def _needs_rewrap(session: Session, kek: str) -> int:
    first = _fernets(kek)[0]
    count = 0
    for token in session.scalars(select(SigningKey.encrypted_private_key)):
        try:
            first.decrypt(bytes(token))
        except InvalidToken:
            count += 1
    return count


def check_signing_keys(session: Session, kek: str, unusable: dict[str, str]) -> Iterable[Finding]:
    total = session.scalar(select(func.count()).select_from(SigningKey)) or 0
    if unusable:
        listed = "; ".join(f"{key_id}: {why}" for key_id, why in list(unusable.items())[:5])
        more = f" (and {len(unusable) - 5} more)" if len(unusable) > 5 else ""
        yield problem(
            "signing keys",
            f"{len(unusable)} of {total} private keys cannot be used with the configured "
            f"TESSERA_KEK: {listed}{more}",
            "set TESSERA_KEK to the key-encryption key in use when these keys were made (after "
            "a restore: the KEK of the instance the backup came from); nothing can be signed "
            "with these keys until then",
        )
        return
    yield ok("signing keys", f"all {total} private keys decrypt with TESSERA_KEK and match")
    # Only reachable when every key decrypts, so a key the first KEK cannot open was
    # opened by an older member of the list.
    stale = _needs_rewrap(session, kek)
    if stale:
        yield warning(
            "signing keys",
            f"{stale} keys are still encrypted under an older key of TESSERA_KEK",
            "run `tessera keys rewrap`, then remove the old key from TESSERA_KEK",
        )


def _active(session: Session, controller: str) -> list[SigningKey]:
    return list(
        session.scalars(
            select(SigningKey).where(
                SigningKey.controller == controller, SigningKey.state == KeyState.ACTIVE
            )
        )
    )


def _covers(keys: list[SigningKey], purpose: KeyPurpose) -> list[SigningKey]:
    return [k for k in keys if k.purpose in (purpose, KeyPurpose.BOTH)]


def check_centres(session: Session, unusable: dict[str, str]) -> Iterable[Finding]:
    centres = session.scalars(select(Organisation).order_by(Organisation.slug)).all()
    if not centres:
        yield warning("centres", "no training centre yet", "create one with `tessera org create`")
        return
    for centre in centres:
        check = f"centre {centre.slug}"
        active = _active(session, centre.did)
        missing = [
            p.value for p in (KeyPurpose.DATA_INTEGRITY, KeyPurpose.JWT) if not _covers(active, p)
        ]
        if missing:
            yield problem(
                check,
                f"has no active {' or '.join(missing)} key: it cannot issue or sign its "
                "status lists",
                f"run `tessera keys rotate --org {centre.slug}`",
            )
            continue
        broken = [k.key_id for k in active if k.key_id in unusable]
        if broken:
            yield problem(
                check,
                f"its active keys cannot be decrypted ({', '.join(broken)}): it cannot issue, "
                "and its status lists cannot be re-signed",
                "set the TESSERA_KEK these keys were encrypted with",
            )
            continue
        lists = session.scalar(
            select(func.count())
            .select_from(StatusList)
            .where(StatusList.organisation_id == centre.id)
        )
        issued = session.scalar(
            select(func.count())
            .select_from(IssuedCredential)
            .where(IssuedCredential.organisation_id == centre.id)
        )
        if issued and not lists:
            yield problem(
                check,
                f"{issued} credentials but no status list: they cannot be revoked or checked",
                "restore the status_list table from a backup",
            )
            continue
        status = (
            f"{lists} status list(s), published (re-signed on request) with its active keys"
            if lists
            else "no status list yet (made with its first credential)"
        )
        yield ok(check, f"{len(active)} active key(s); {issued} credential(s); {status}")


def check_instance_keys(session: Session, public_url: str) -> Iterable[Finding]:
    did = did_web(public_url)
    if _active(session, did):
        yield ok("instance key", f"{did} signs wallets and verifier kits")
        return
    others = session.scalars(
        select(SigningKey.controller).where(
            SigningKey.organisation_id.is_(None), SigningKey.controller != did
        )
    ).first()
    yield warning(
        "instance key",
        f"no active key for the instance's own {did}: exported wallets and kits cannot be "
        "signed"
        + (f" (keys exist for {others}: was TESSERA_PUBLIC_URL changed?)" if others else ""),
        "run `tessera init`",
    )


# -- the job queue -------------------------------------------------------------------------


def _redis(url: str) -> Redis:
    return Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
    )


def check_jobs(config: Any) -> Iterable[Finding]:
    where = jobs.describe(config)
    url = config.get("REDIS_URL")
    if not url:
        if config.get("ENV") == "production":
            yield warning(
                "job queue",
                f"{where}: jobs run inside `tessera serve` on this machine only",
                "set TESSERA_REDIS_URL and run `tessera worker` processes to run jobs on "
                "several machines",
            )
        else:
            yield ok("job queue", f"{where}, run inside `tessera serve`")
        return
    try:
        client = _redis(url)
        client.ping()
        pending = jobs.make_huey(config).pending_count()
    except (RedisError, OSError) as e:
        yield problem(
            "job queue",
            f"{where} cannot be reached: {type(e).__name__}: "
            + _scrub(str(e)[:200], urlsplit(url).password),
            "check TESSERA_REDIS_URL (address, password, TLS) and that Redis runs; bulk jobs "
            "wait in the database until it answers",
        )
        return
    yield ok("job queue", f"{where} answers; {pending} task(s) waiting")


def check_rate_limits(config: Any) -> Iterable[Finding]:
    """Where rate-limit counts live (verifier/ratelimit.py): shared by every process, or not."""
    if not config.get("RATELIMIT_ENABLED", False):
        if "RATELIMIT_ENABLED" in config:
            yield warning(
                "rate limits",
                "off: sign-in, verification and issuing are not rate-limited",
                "unset TESSERA_RATELIMIT_ENABLED (it is on by default)",
            )
        return
    url = str(config.get("RATELIMIT_STORAGE_URL") or "memory://")
    if url.startswith("memory://"):
        if config.get("ENV") == "production":
            yield warning(
                "rate limits",
                "counted in each process's memory: with several gunicorn workers or machines "
                "each allows the full limit",
                "set TESSERA_REDIS_URL (or TESSERA_RATELIMIT_STORAGE_URL) to share the counts",
            )
        else:
            yield ok("rate limits", "counted in this process's memory")
        return
    if url == config.get("REDIS_URL"):
        yield ok("rate limits", "counted in the job queue's Redis, shared by every process")
        return
    parts = urlsplit(url)
    where = f"{parts.scheme}://{parts.hostname or ''}{parts.path if 'unix' in parts.scheme else ''}"
    if parts.scheme not in ("redis", "rediss", "redis+unix"):
        yield ok("rate limits", f"counted in {where} (a {parts.scheme} storage: not checked)")
        return
    try:
        _redis(url.replace("redis+unix://", "unix://")).ping()
    except (RedisError, OSError, ValueError) as e:
        yield problem(
            "rate limits",
            f"the rate-limit storage {where} cannot be reached ({type(e).__name__}): every "
            "process counts on its own until it answers",
            "check TESSERA_RATELIMIT_STORAGE_URL and that Redis runs",
        )
        return
    yield ok("rate limits", f"counted in {where}, shared by every process")


# -- clocks --------------------------------------------------------------------------------


def _skew(check: str, other: str, theirs: datetime, ours: datetime) -> Finding:
    seconds = abs((theirs - ours).total_seconds())
    message = f"this machine and {other} differ by {seconds:.1f} s"
    if seconds > CLOCK_PROBLEM_SECONDS:
        return problem(
            check,
            message,
            "synchronise the clocks (NTP): job recovery and credential dates rely on them",
        )
    if seconds > CLOCK_WARNING_SECONDS:
        return warning(check, message, "synchronise the clocks (NTP)")
    return ok(check, message)


def check_clock(engine: Engine, config: Any, *, now: datetime) -> Iterable[Finding]:
    if now < EARLIEST_SANE_TIME:
        yield problem(
            "clock",
            f"this machine's clock says {now.isoformat()}: it is wrong",
            "set the clock (NTP); credentials issued now would carry this date",
        )
        return
    if engine.dialect.name == "postgresql":
        try:
            with engine.connect() as connection:
                theirs = connection.scalar(text("SELECT statement_timestamp()"))
            yield _skew("clock", "the database server", theirs, utcnow())
        except SQLAlchemyError:
            pass  # the database check already said it cannot be reached
    url = config.get("REDIS_URL")
    if url:
        try:
            seconds, micros = _redis(url).time()
            theirs = datetime.fromtimestamp(seconds + micros / 1e6, UTC)
            yield _skew("clock", "the Redis server", theirs, utcnow())
        except (RedisError, OSError):
            pass  # the job queue check already said it cannot be reached
    if engine.dialect.name != "postgresql" and not url:
        yield ok("clock", f"{now.isoformat(timespec='seconds')} (no other server to compare)")
