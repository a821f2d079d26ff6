"""The ``tessera`` command: a thin click layer over the services (operators script against it)."""

from __future__ import annotations

import functools
import gc
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext
from marshmallow import ValidationError, validate

from credentials import CredentialError, normalize_email
from credentials.dates import format_datetime
from keys import KeyManagementError
from schemas import (
    AchievementCreateSchema,
    IssueRequestSchema,
    OrganisationCreateSchema,
    VerificationResultSchema,
)
from verifier import DidKeyResolver, Outcome, Verdict, VerificationResult, verify_credential
from verifier.api import wallet_report
from verifier.backend import verify_any
from verifier.kit import DEFAULT_MAX_AGE, OfflineVerifier, describe_age, load_offline_verifier
from verifier.kit import parse_duration as parse_kit_duration
from verifier.wallet import (
    DEFAULT_MAX_WALLET_BYTES,
    WalletResult,
    looks_like_wallet,
    verify_wallet,
)

from . import (
    accounts,
    backup,
    bulk,
    catalogue,
    claims,
    demo,
    doctor,
    jobs,
    kit,
    mail,
    migrate,
    pathways,
    services,
    wallet,
)
from .app import create_app
from .audit import verify_chain
from .clock import utcnow
from .db import db
from .errors import ConfigurationError, IssuerError, NotFoundError
from .models import WalletSession

F = TypeVar("F", bound=Callable[..., Any])


def _create_app() -> Flask:
    try:
        return create_app()
    except ConfigurationError as e:
        raise click.ClickException(f"configuration: {e}") from e


def _friendly(func: F) -> F:
    """Turn our errors into one readable line and a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ValidationError as e:
            raise click.UsageError(_validation_message(e.messages)) from e
        except (IssuerError, CredentialError, KeyManagementError) as e:
            raise click.ClickException(str(e)) from e

    return wrapper  # type: ignore[return-value]


def _validation_message(messages: Any) -> str:
    if not isinstance(messages, dict):
        return str(messages)
    parts = []
    for field, problems in messages.items():
        text = " ".join(map(str, problems)) if isinstance(problems, list) else str(problems)
        parts.append(f"--{str(field).replace('_', '-')}: {text}")
    return "; ".join(parts)


def _config() -> dict[str, Any]:
    return current_app.config  # type: ignore[return-value]


cli = FlaskGroup(
    name="tessera",
    create_app=_create_app,
    add_default_commands=False,
    load_dotenv=False,
    help="Tessera: issue and verify Open Badges 3.0 micro-credentials.",
)


# -- instance ------------------------------------------------------------------------------


@cli.command("init")
@with_appcontext
@_friendly
def init_command() -> None:
    """Create the instance folder, its secrets and the database. Safe to run again."""
    config = _config()
    click.echo(f"Instance folder: {config['INSTANCE']}")
    engine = current_app.extensions["tessera.engine"]
    click.echo(f"Database: {engine.url.render_as_string(hide_password=True)}")
    click.echo("Applying migrations ...")
    migrate.upgrade(engine)
    services.ensure_instance_keys(
        db(), config["KEK_FERNET"], public_url=config["PUBLIC_URL"], now=utcnow()
    )
    click.echo(f"Ready. Public URL: {config['PUBLIC_URL']}")


@cli.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Apply every pending migration."""
    migrate.upgrade(current_app.extensions["tessera.engine"])
    click.echo("Database is up to date.")


@cli.command("demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the demo credentials (.json, .jwt) into this folder.",
)
@with_appcontext
@_friendly
def demo_command(out: Path | None) -> None:
    """Create a demo training centre with achievements and credentials (once)."""
    config = _config()
    result = demo.ensure_demo(
        db(), config["KEK_FERNET"], public_url=config["PUBLIC_URL"], now=utcnow()
    )
    click.echo(f"Demo training centre: {result.organisation.name} ({result.organisation.did})")
    login_file = Path(config["INSTANCE"]) / "demo-login.txt"
    if result.admin_password is not None:
        _write_private(login_file, f"{demo.DEMO_ADMIN}\n{result.admin_password}\n")
    if login_file.exists():
        email, password = login_file.read_text("utf-8").split()[:2]
        click.echo(
            f"  Staff sign-in: {config['PUBLIC_URL']}/login  as {email}  password {password}"
        )
        click.echo(f"  (kept in {login_file}, readable only by you; a demo account only)")
    for issued in result.credentials:
        record = issued.record
        click.echo(f"  {record.recipient_name}: {record.achievement.name}\n    {issued.verify_url}")
        # A new claim link each run (only hashes are kept), so the worker's side can be tried.
        token = catalogue.new_claim_link(db(), record, now=utcnow(), actor="cli")
        click.echo(f"    worker's wallet: {claims.claim_url(config['PUBLIC_URL'], token)}")
        if out:
            _write_credential_files(out, record)
    if out:
        click.echo(f"Credential files written to {out}")


# -- organisations, achievements, keys ------------------------------------------------------


@cli.group("org")
def org_group() -> None:
    """Training centres."""


@org_group.command("create")
@click.option(
    "--slug", required=True, help="Short name used in URLs and the DID, e.g. north-welding."
)
@click.option("--name", required=True, help="The centre's name as learners and employers see it.")
@click.option(
    "--did-method",
    type=click.Choice(["web", "key"]),
    default="web",
    show_default=True,
    help="did:web (rotatable, hosted here) or did:key (self-contained, cannot rotate).",
)
@click.option(
    "--jwt-alg",
    type=click.Choice(["RS256", "EdDSA", "ES256"]),
    default=None,
    help="Algorithm of the centre's VC-JWTs [default: RS256; EdDSA for did:key].",
)
@click.option("--url", default=None, help="The centre's own web site.")
@click.option(
    "--admin-email",
    default=None,
    help="Invite this person as the centre's first admin (prints their link).",
)
@with_appcontext
@_friendly
def org_create(
    slug: str,
    name: str,
    did_method: str,
    jwt_alg: str | None,
    url: str | None,
    admin_email: str | None,
) -> None:
    """Create a training centre with its DID and signing keys (and invite its first admin)."""
    jwt_alg = jwt_alg or ("EdDSA" if did_method == "key" else "RS256")
    data = OrganisationCreateSchema().load(
        {"slug": slug, "name": name, "did_method": did_method, "jwt_algorithm": jwt_alg, "url": url}
    )
    config = _config()
    if admin_email is not None:
        _check_email(admin_email, "--admin-email")
    organisation = services.create_organisation(
        db(), config["KEK_FERNET"], public_url=config["PUBLIC_URL"], now=utcnow(), **data
    )
    click.echo(f"Created training centre {organisation.slug!r}: {organisation.did}")
    if admin_email is not None:
        _print_invitation(organisation, admin_email, "admin")


def _check_email(value: str, option: str) -> None:
    try:
        validate.Email()(value)
    except ValidationError as e:
        raise click.BadParameter("not a valid e-mail address", param_hint=option) from e


def _print_invitation(organisation: Any, email: str, role: str) -> None:
    token = accounts.invite(
        db(),
        organisation=organisation,
        email=email,
        role=role,
        now=utcnow(),
        invited_by=None,
        actor="cli",
    )
    link = f"{_config()['PUBLIC_URL']}/invite/{token}"
    click.echo(f"Invitation for {email} as {role} (valid 7 days, works once):\n  {link}")


@cli.group("user")
def user_group() -> None:
    """Staff accounts."""


@user_group.command("invite")
@click.option("--org", "org_slug", required=True)
@click.option("--email", required=True)
@click.option(
    "--role", type=click.Choice(list(accounts.ROLES)), default="issuer", show_default=True
)
@with_appcontext
@_friendly
def user_invite(org_slug: str, email: str, role: str) -> None:
    """Invite a member of staff; prints the one-time link to send them."""
    _check_email(email, "--email")
    _print_invitation(services.get_organisation(db(), org_slug), email, role)


@org_group.command("list")
@with_appcontext
def org_list() -> None:
    """List the training centres on this instance."""
    for organisation in services.list_organisations(db()):
        click.echo(f"{organisation.slug}\t{organisation.name}\t{organisation.did}")


@cli.group("achievement")
def achievement_group() -> None:
    """Achievements: the job-task competencies a centre awards."""


@achievement_group.command("create")
@click.option("--org", "org_slug", required=True, help="The centre's slug.")
@click.option("--name", required=True)
@click.option("--description", required=True)
@click.option("--criteria", required=True, help="What a learner did to earn it.")
@click.option(
    "--type",
    "achievement_type",
    default="Competency",
    show_default=True,
    help="Open Badges achievement type, e.g. Competency, MicroCredential, ext:JobTask.",
)
@click.option(
    "--skill",
    "skills",
    multiple=True,
    metavar="ESCO_URI[=LABEL]",
    help="An ESCO skill URI this achievement aligns to (repeatable).",
)
@with_appcontext
@_friendly
def achievement_create(org_slug: str, **fields: Any) -> None:
    """Define an achievement; prints its id."""
    data = AchievementCreateSchema().load(fields | {"skills": list(fields["skills"])})
    organisation = services.get_organisation(db(), org_slug)
    achievement = services.create_achievement(db(), organisation=organisation, now=utcnow(), **data)
    click.echo(achievement.public_id)


@cli.group("keys")
def keys_group() -> None:
    """Signing keys."""


@keys_group.command("rotate")
@click.option("--org", "org_slug", required=True)
@with_appcontext
@_friendly
def keys_rotate(org_slug: str) -> None:
    """Make new signing keys; old keys stay published so old credentials still verify."""
    organisation = services.get_organisation(db(), org_slug)
    for key_id in services.rotate_keys(db(), _config()["KEK_FERNET"], organisation, now=utcnow()):
        click.echo(f"New active key: {key_id}")


@keys_group.command("rewrap")
@with_appcontext
@_friendly
def keys_rewrap() -> None:
    """Re-encrypt every private key under the first TESSERA_KEK (after adding a new one)."""
    count = services.rewrap_keys(db(), _config()["KEK_FERNET"], now=utcnow())
    click.echo(f"Re-encrypted {count} signing keys under the first key-encryption key.")


@keys_group.command("export-jwks")
@click.option("--org", "org_slug", required=True)
@with_appcontext
@_friendly
def keys_export_jwks(org_slug: str) -> None:
    """Print a centre's public keys as a JWK Set."""
    organisation = services.get_organisation(db(), org_slug)
    ring = services.key_ring(db(), _config()["KEK_FERNET"], organisation)
    click.echo(json.dumps(ring.public_jwks(), indent=2))


# -- issuing -------------------------------------------------------------------------------


def _write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(content)


def _atomic_write(path: Path, content: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_credential_files(out: Path, record: Any) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"{record.public_id}.json"
    jwt_path = out / f"{record.public_id}.jwt"
    _atomic_write(
        json_path, json.dumps(json.loads(record.document), indent=2, ensure_ascii=False) + "\n"
    )
    _atomic_write(jwt_path, record.jwt + "\n")
    return [str(json_path), str(jwt_path)]


def _atomic_write_bytes(path: Path, content: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=".tessera-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _writable_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"{out} exists and is not a folder", param_hint="--out")
    probe = out if out.exists() else next((p for p in out.parents if p.exists()), Path("."))
    if not os.access(probe, os.W_OK):
        raise click.BadParameter(f"cannot write into {probe}", param_hint="--out")


@cli.command("issue")
@click.option("--org", "org_slug", required=True, help="The issuing centre's slug.")
@click.option("--achievement", "achievement_id", required=True, help="The achievement's id.")
@click.option("--name", required=True, help="The learner's name as it appears on the credential.")
@click.option(
    "--email",
    required=True,
    help="The learner's e-mail (only its salted hash is in the credential).",
)
@click.option("--valid-until", default=None, help="Expiry, e.g. 2029-12-31T23:59:59Z.")
@click.option(
    "--did", "recipient_did", default=None, help="The learner's own DID, if they have one."
)
@click.option(
    "--idempotency-key", default=None, help="Retrying with the same key issues nothing new."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to write the .json and .jwt files into.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@with_appcontext
@_friendly
def issue_command(
    org_slug: str,
    achievement_id: str,
    out: Path,
    as_json: bool,
    idempotency_key: str | None,
    **fields: Any,
) -> None:
    """Issue a credential to one learner and write it as .json and .jwt."""
    data = IssueRequestSchema().load(fields)
    _writable_dir(out)  # before issuing, so a bad --out changes nothing
    config = _config()
    organisation = services.get_organisation(db(), org_slug)
    achievement = services.get_achievement(db(), organisation, achievement_id)
    issued = services.issue_credential(
        db(),
        config["KEK_FERNET"],
        organisation=organisation,
        achievement=achievement,
        public_url=config["PUBLIC_URL"],
        now=utcnow(),
        idempotency_key=idempotency_key,
        **data,
    )
    files = _write_credential_files(out, issued.record)
    # A fresh claim link each time: only its hash is stored, so an earlier one cannot be shown.
    token = catalogue.new_claim_link(db(), issued.record, now=utcnow(), actor="cli")
    claim_url = claims.claim_url(config["PUBLIC_URL"], token)
    # Automatic pathways this credential completes are awarded now (never fails the issue).
    completed = pathways.after_issue(
        db(), config["KEK_FERNET"], issued.record, public_url=config["PUBLIC_URL"], now=utcnow()
    )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "id": issued.record.credential_id,
                    "public_id": issued.record.public_id,
                    "verify_url": issued.verify_url,
                    "claim_url": claim_url,
                    "files": files,
                    "pathways": [
                        {
                            "id": a.issued.record.credential_id,
                            "name": a.issued.record.achievement.name,
                            "verify_url": a.issued.verify_url,
                        }
                        for a in completed
                    ],
                }
            )
        )
        return
    click.echo(
        f"Issued {achievement.name!r} to {issued.record.recipient_name}"
        + ("" if issued.created else " (already issued with this idempotency key)")
    )
    click.echo(f"  id:         {issued.record.credential_id}")
    click.echo(f"  verify at:  {issued.verify_url}")
    click.echo(f"  claim link: {claim_url}  (give this to the learner; keep it private)")
    for f in files:
        click.echo(f"  file:       {f}")
    for a in completed:
        click.echo(
            f"  completes the pathway {a.issued.record.achievement.name!r}: "
            f"issued {a.issued.verify_url}"
        )


@cli.command("revoke")
@click.argument("credential_id")
@click.option("--reason", required=True, help="Why, in words the holder and employers will see.")
@with_appcontext
@_friendly
def revoke_command(credential_id: str, reason: str) -> None:
    """Revoke a credential for good (CREDENTIAL_ID as `tessera issue --json` printed it)."""
    record = services.get_credential(db(), credential_id)
    services.revoke_credential(db(), record, reason=reason, now=utcnow())
    ttl = _config()["STATUS_LIST_TTL"]
    click.echo(
        f"Revoked {record.credential_id} ({record.recipient_name}: {record.achievement.name})."
    )
    click.echo(f"Verifiers here see it now; the published status list within {ttl} seconds.")


# -- verifying -----------------------------------------------------------------------------

_MARKS = {Outcome.PASSED: "ok  ", Outcome.FAILED: "FAIL", Outcome.COULD_NOT_CHECK: "??  "}


def _read_input(path: str, limit: int) -> bytes:
    stream = sys.stdin.buffer if path == "-" else None
    try:
        if stream is None:
            with open(path, "rb") as f:
                return f.read(limit + 1)
        return stream.read(limit + 1)
    except OSError as e:
        raise click.FileError(path, hint=e.strerror) from e


def _render(result: VerificationResult) -> str:
    lines = [f"Verdict: {result.verdict.value.upper()}"]
    credential = result.credential or {}
    subject = credential.get("credentialSubject")
    if isinstance(subject, dict):
        achievement = (
            subject.get("achievement") if isinstance(subject.get("achievement"), dict) else {}
        )
        issuer = credential.get("issuer")
        issuer_name = issuer.get("name") if isinstance(issuer, dict) else None
        lines.append(f"  Competency: {achievement.get('name', '(unnamed)')}")
        if subject.get("name"):
            lines.append(f"  Holder:     {subject['name']}")
        recognised = result.check("issuer")
        label = (
            issuer_name
            if recognised and recognised.outcome == Outcome.PASSED
            else (
                f"{issuer_name!r} (self-asserted; not a recognised issuer)"
                if issuer_name
                else "(unnamed)"
            )
        )
        lines.append(f"  Issuer:     {label}")
        lines.append(
            f"  Valid from: {credential.get('validFrom', credential.get('issuanceDate', '?'))}"
            + (f" until {credential['validUntil']}" if "validUntil" in credential else "")
        )
    lines.append("Checks:")
    lines.extend(f"  [{_MARKS[c.outcome]}] {c.name}: {c.message}" for c in result.checks)
    return "\n".join(lines)


def _render_wallet(found: WalletResult) -> str:
    counts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(found.counts.items()))
    lines = [
        f"Wallet: {'VALID' if found.verified else 'NOT VALID'} "
        f"({len(found.entries)} credential(s){': ' + counts if counts else ''})"
    ]
    if found.envelope is not None:
        lines.append(f"Wallet's own proof: {found.envelope.verdict.value}")
        lines.extend(
            f"  [{_MARKS[c.outcome]}] {c.name}: {c.message}" for c in found.envelope.checks
        )
    for entry in found.entries:
        lines.append("")
        lines.append(f"{entry.label}:")
        lines.extend("  " + line for line in _render(entry.result).splitlines())
    return "\n".join(lines)


def _offline_verify(data: bytes, now: Any) -> VerificationResult | WalletResult:
    """No instance here: public data only (did:key works fully offline)."""

    def one(item: Any) -> VerificationResult:
        return verify_credential(item, resolver=DidKeyResolver(), now=now)

    if looks_like_wallet(data):
        return verify_wallet(data, verify_one=one, resolver=DidKeyResolver(), now=now)
    return one(data)


def _duration(_ctx: Any, _param: Any, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_kit_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from e


def _kit_verifier(kit_file: str, pins: tuple[str, ...], max_age: Any, now: Any) -> OfflineVerifier:
    """The kit, checked (signature against the pins, dates): or one line saying why not."""
    pinned = [p.strip() for pin in pins for p in pin.split(",") if p.strip()]
    try:
        with open(kit_file, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise click.FileError(kit_file, hint=e.strerror) from e
    try:
        return load_offline_verifier(raw, pins=pinned, now=now, max_age=max_age or DEFAULT_MAX_AGE)
    except CredentialError as e:
        raise click.ClickException(f"verifier kit {kit_file}: {e}") from e


# No automatic app context: with no instance here, verify from public data and create nothing.
@cli.command("verify", with_appcontext=False)
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--offline",
    is_flag=True,
    help="Use nothing but the verifier kit (--kit): no network, no instance database.",
)
@click.option(
    "--kit",
    "kit_file",
    type=click.Path(dir_okay=False),
    help="A verifier kit (tessera kit export, or /kit.json of an instance); implies --offline.",
)
@click.option(
    "--trust",
    "pins",
    multiple=True,
    envvar="TESSERA_KIT_TRUST",
    help="The kit signer's key (z6Mk..., printed by `tessera kit export`); repeatable.",
)
@click.option(
    "--max-age",
    callback=_duration,
    envvar="TESSERA_KIT_MAX_AGE",
    help="Revocation data older than this is stale, e.g. 36h or 14d [default: 7d].",
)
@click.pass_obj
def verify_command(
    info: ScriptInfo,
    file: str,
    as_json: bool,
    offline: bool,
    kit_file: str | None,
    pins: tuple[str, ...],
    max_age: Any,
) -> None:
    """Verify a credential or a wallet (.json, .jwt, baked .png/.svg, CLR wallet or .zip).

    FILE may be - for standard input. Exits 0 only when the credential is valid, or, for a
    wallet, when its own proof holds and every credential in it is valid.
    """
    now = utcnow()
    instance = Path(os.environ.get("TESSERA_INSTANCE", "instance"))
    found: VerificationResult | WalletResult
    if offline and not kit_file:
        raise click.UsageError("--offline needs --kit FILE (a verifier kit)")
    if kit_file:
        checker = _kit_verifier(kit_file, pins, max_age, now)
        if not as_json:
            click.echo(
                f"Verifier kit: {checker.kit.signer} (key {checker.kit.pinned_key}), issued "
                f"{format_datetime(checker.kit.issued)} ({describe_age(now - checker.kit.issued)} "
                f"old), {len(checker.kit.issuers)} issuer(s); verifying offline"
            )
        data = _read_input(file, DEFAULT_MAX_WALLET_BYTES)
        if looks_like_wallet(data):
            found = checker.verify_wallet(data, now=now)
        else:
            found = checker.verify(data, now=now)
    elif (
        os.environ.get("TESSERA_DATABASE_URL")
        or instance.exists()
        or info.create_app is not _create_app
    ):
        app = info.load_app()
        with app.app_context():
            found = verify_any(_read_input(file, app.config["MAX_WALLET_BYTES"]))
    else:
        found = _offline_verify(_read_input(file, DEFAULT_MAX_WALLET_BYTES), now)
    if isinstance(found, WalletResult):
        if as_json:
            click.echo(json.dumps(wallet_report(found), ensure_ascii=False))
        else:
            click.echo(_render_wallet(found))
        sys.exit(0 if found.verified else 1)
    if as_json:
        click.echo(json.dumps(VerificationResultSchema().dump(found), ensure_ascii=False))
    else:
        click.echo(_render(found))
    sys.exit(0 if found.verdict == Verdict.VALID else 1)


@cli.group("kit")
def kit_group() -> None:
    """Verifier kits: this instance's keys and status lists, signed, for offline verifiers."""


@kit_group.command("export")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the kit (JSON); - for standard output.",
)
@click.option(
    "--valid-for",
    "--max-age",
    "valid_for",
    callback=_duration,
    help="How long verifiers may use this kit, e.g. 30d [default: 30d]. Revocation data in "
    "it goes stale sooner (verifiers' --max-age, 7d by default).",
)
@click.option(
    "--include",
    "included",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Another instance's kit whose issuers to carry too (checked first; repeatable).",
)
@click.option(
    "--include-trust",
    "include_pins",
    multiple=True,
    help="The signer key (z6Mk...) of the kits given with --include; repeatable.",
)
@click.option(
    "--issuer",
    "remote_issuers",
    multiple=True,
    help="Another site's did:web issuer to carry too: its DID document is fetched now "
    "(repeatable).",
)
@click.option(
    "--status-list",
    "remote_lists",
    multiple=True,
    help="A status list URL of an --issuer to carry too: fetched and checked now (repeatable).",
)
@with_appcontext
@_friendly
def kit_export(
    out: Path,
    valid_for: Any,
    included: tuple[str, ...],
    include_pins: tuple[str, ...],
    remote_issuers: tuple[str, ...],
    remote_lists: tuple[str, ...],
) -> None:
    """Write a fresh signed verifier kit of every centre on this instance."""
    config = _config()
    also = [_kit_verifier(path, include_pins, None, utcnow()).kit for path in included]
    if remote_lists and not remote_issuers:
        raise click.UsageError("--status-list needs the --issuer that publishes it")
    fetched: list[dict[str, Any]] = []
    if remote_issuers:
        client = current_app.extensions["tessera.public_resolution"].client
        if client is None:
            raise click.UsageError(
                "--issuer needs fetching, which is off here (TESSERA_REMOTE_RESOLUTION)"
            )
        fetched = kit.fetch_issuers(client, remote_issuers, remote_lists, now=utcnow())
    exported = kit.export_kit(
        db(),
        config["KEK_FERNET"],
        public_url=config["PUBLIC_URL"],
        now=utcnow(),
        ttl=config["STATUS_LIST_TTL"],
        valid_for=valid_for or kit.DEFAULT_VALID_FOR,
        fetched=fetched,
        also=also,
    )
    if str(out) == "-":
        click.echo(exported.json())
        return
    try:
        _atomic_write(out, exported.json() + "\n")
    except OSError as e:
        raise click.FileError(str(out), hint=e.strerror) from e
    document = exported.document
    click.echo(
        f"Verifier kit written to {out}: {exported.issuers} issuer(s), "
        f"{exported.status_lists} status list(s), issued {document['issued']}, "
        f"valid until {document['validUntil']}."
    )
    click.echo(f"Signed by {exported.signer}")
    click.echo(
        f"Verifiers pin this key (compare it through a channel you trust):\n  {exported.signer_pin}"
    )
    click.echo(f"  tessera verify --offline --kit {out} --trust {exported.signer_pin} CREDENTIAL")


# -- wallets and e-mail ----------------------------------------------------------------------


@cli.group("wallet")
def wallet_group() -> None:
    """A worker's wallet: every credential issued to one e-mail address."""


@wallet_group.command("export")
@click.option("--email", required=True, help="The worker's e-mail address.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (a CLR 2.0 .json, or a .zip with --zip).",
)
@click.option(
    "--zip", "as_zip", is_flag=True, help="Write a ZIP with every file, not only the CLR."
)
@with_appcontext
@_friendly
def wallet_export(email: str, out: Path, as_zip: bool) -> None:
    """Write every credential issued to EMAIL on this instance as one signed CLR wallet."""
    _check_email(email, "--email")
    if out.exists() and out.is_dir():
        raise click.BadParameter(f"{out} is a folder; name a file", param_hint="--out")
    _writable_dir(out.parent if str(out.parent) else Path("."))
    config = _config()
    holder = WalletSession(email=normalize_email(email), organisation_id=None)
    if not wallet.issued_in(db(), holder) and not wallet.held_in(db(), holder):
        raise NotFoundError(f"no credentials were issued to {email} on this instance")
    out.parent.mkdir(parents=True, exist_ok=True)
    if as_zip:
        export = wallet.export_zip(
            db(), config["KEK_FERNET"], holder, public_url=config["PUBLIC_URL"], now=utcnow()
        )
        _atomic_write_bytes(out, export.content)
    else:
        clr = wallet.export_clr(
            db(), config["KEK_FERNET"], holder, public_url=config["PUBLIC_URL"], now=utcnow()
        )
        _atomic_write(out, json.dumps(clr, indent=2, ensure_ascii=False) + "\n")
    count = len(wallet.issued_in(db(), holder)) + len(wallet.held_in(db(), holder))
    click.echo(f"Wrote {count} credential(s) of {wallet.masked(holder.email)} to {out}")


@cli.command("outbox")
@click.option("--last", default=5, show_default=True, help="How many messages to print.")
@with_appcontext
def outbox_command(last: int) -> None:
    """Print the newest e-mails in the local outbox (used when TESSERA_SMTP_URL is not set)."""
    config = _config()
    messages = mail.outbox_messages(config)
    if not messages:
        click.echo(f"The outbox ({mail.outbox_path(config)}) is empty.")
        return
    for path in messages[: max(last, 1)]:
        click.echo(f"== {path.name}")
        click.echo(mail.read_message(path))


# -- background jobs -----------------------------------------------------------------------


def _refuse_pending_migrations() -> None:
    if migrate.pending(current_app.extensions["tessera.engine"]):
        raise click.ClickException("the database needs migrating: run `tessera init` first")


@cli.command("worker")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Jobs this process runs at the same time (threads). Signing is CPU-bound: for more "
    "throughput, start more worker processes (one per core), on any number of machines.",
)
@with_appcontext
def worker_command(workers: int) -> None:
    """Run background jobs (bulk issuing) until stopped.

    With TESSERA_REDIS_URL, run as many as you like, on any machines that reach the database
    and Redis. Without it, `tessera serve` already runs jobs; a worker on the same machine
    shares its SQLite queue. SIGTERM or Ctrl+C stops after the current row; the job goes back
    to the queue and resumes in the next worker.
    """
    _refuse_pending_migrations()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = _config()
    click.echo(
        f"Worker for {config['PUBLIC_URL']}: queue {jobs.describe(config)}, "
        f"{workers} thread(s). SIGTERM or Ctrl+C stops it after the current row."
    )
    jobs.run_worker(current_app._get_current_object(), workers=workers)  # type: ignore[attr-defined]


@cli.group("bulk")
def bulk_group() -> None:
    """Bulk jobs: issue one achievement to every learner of a spreadsheet."""


def _job_summary(job: Any) -> dict[str, Any]:
    counts = bulk.row_counts(db(), job)
    return {
        "id": job.public_id,
        "state": job.state,
        "organisation": job.organisation.slug,
        "achievement": job.achievement.public_id,
        "filename": job.filename,
        "total": job.total,
        "issued": job.issued,
        "failed": job.failed,
        "invalid": counts[bulk.RowStatus.INVALID],
        "pending": counts[bulk.RowStatus.PENDING],
        "heartbeat_at": job.heartbeat_at.isoformat() if job.heartbeat_at else None,
    }


@bulk_group.command("create")
@click.option("--org", "org_slug", required=True, help="The issuing centre's slug.")
@click.option("--achievement", "achievement_id", required=True, help="The achievement's id.")
@click.option("--confirm", is_flag=True, help="Start issuing the rows that are ready at once.")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
@_friendly
def bulk_create(
    org_slug: str, achievement_id: str, confirm: bool, as_json: bool, file: Path
) -> None:
    """Check a CSV or XLSX file of learners (and with --confirm, issue to them)."""
    with file.open("rb") as f:
        data = f.read(bulk.MAX_UPLOAD_BYTES + 1)
    organisation = services.get_organisation(db(), org_slug)
    achievement = services.get_achievement(db(), organisation, achievement_id)
    sheet = bulk.read_spreadsheet(data, file.name)
    job = bulk.create_job(
        db(),
        organisation=organisation,
        achievement=achievement,
        rows=sheet.rows,
        filename=file.name,
        created_by="cli",
        now=utcnow(),
    )
    waiting = None
    if confirm and job.total:
        job = bulk.confirm_job(db(), job, now=utcnow(), actor="cli")
        try:
            jobs.enqueue_job(job.id)
        except jobs.QueueUnavailableError as e:
            waiting = str(e)
    if as_json:
        click.echo(json.dumps(_job_summary(job)))
        return
    for note in sheet.notes:
        click.echo(f"Note: {note}")
    summary = _job_summary(job)
    click.echo(
        f"Job {job.public_id}: {len(sheet.rows)} rows, {job.total} ready, "
        f"{summary['invalid']} with problems."
    )
    rows, _ = bulk.rows_for_display(db(), job, limit=20)
    for row in rows:
        if row.status == bulk.RowStatus.INVALID:
            problems = "; ".join((row.message or "").splitlines())
            click.echo(f"  row {row.row_number}: {problems}")
    if waiting:
        click.echo(f"Confirmed, but {waiting}.")
    elif job.state == bulk.JobState.QUEUED:
        click.echo(f"Issuing in the background: tessera bulk status {job.public_id}")
    elif job.total:
        click.echo("Nothing issued yet: run again with --confirm, or confirm it in the web UI.")


@bulk_group.command("status")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@with_appcontext
@_friendly
def bulk_status(job_id: str, as_json: bool) -> None:
    """Show a bulk job's progress."""
    summary = _job_summary(bulk.find_job(db(), job_id))
    if as_json:
        click.echo(json.dumps(summary))
        return
    done = summary["issued"] + summary["failed"]
    click.echo(
        f"{summary['id']} ({summary['organisation']}, {summary['filename']}): {summary['state']}, "
        f"{done} of {summary['total']} done ({summary['issued']} issued, {summary['failed']} "
        f"failed); {summary['invalid']} rows skipped for problems in the file."
    )


@bulk_group.command("list")
@click.option("--org", "org_slug", default=None, help="Only this centre's jobs.")
@with_appcontext
@_friendly
def bulk_list(org_slug: str | None) -> None:
    """The newest bulk jobs (tab-separated: id, centre, state, issued/total, file)."""
    organisations = (
        [services.get_organisation(db(), org_slug)]
        if org_slug
        else services.list_organisations(db())
    )
    for organisation in organisations:
        for job in bulk.list_jobs(db(), organisation):
            click.echo(
                f"{job.public_id}\t{organisation.slug}\t{job.state}\t{job.issued}/{job.total}"
                f"\t{job.filename}"
            )


# -- outcomes ------------------------------------------------------------------------------


@cli.command("outcomes")
@click.option("--centre", "org_slug", default=None, help="Only this centre (default: every one).")
@click.option("--from", "start", default=None, metavar="YYYY-MM", help="First month (UTC).")
@click.option("--to", "end", default=None, metavar="YYYY-MM", help="Last month (default: this).")
@click.option(
    "--format",
    "output",
    type=click.Choice(["html", "csv", "json"]),
    default="csv",
    show_default=True,
    help="html: a standalone report with charts; csv: one tidy table; json: the series.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The file to write (default: print to standard output).",
)
@with_appcontext
@_friendly
def outcomes_command(
    org_slug: str | None, start: str | None, end: str | None, output: str, out: Path | None
) -> None:
    """Credentials issued, revoked, pathways completed and verifications, month by month.

    Across every centre (each one, then the instance totals) unless --centre names one. The
    period defaults to the last twelve months.
    """
    from . import outcomes, ui_outcomes  # the report's templates need the staff blueprint

    now = utcnow()
    span = outcomes.period(start, end, now=now)
    organisation = services.get_organisation(db(), org_slug) if org_slug else None
    if out is not None:
        if out.exists() and out.is_dir():
            raise click.BadParameter(f"{out} is a folder; name a file", param_hint="--out")
        _writable_dir(out.parent if str(out.parent) else Path("."))
    found = outcomes.figures(db(), organisation=organisation, start=span.start, end=span.end)
    if output == "html":
        content = ui_outcomes.render_report(found, generated_at=now)
    elif output == "json":
        document = outcomes.to_json(found, generated_at=now)
        content = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    else:
        content = outcomes.to_csv(found)
    if out is None:
        click.echo(content, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(out, content)
    scope = organisation.name if organisation else f"{len(found.centres)} centre(s)"
    click.echo(f"Wrote the outcomes of {scope}, {found.months[0]} to {found.months[-1]}, to {out}")


# -- audit and serving ---------------------------------------------------------------------


@cli.group("audit")
def audit_group() -> None:
    """The hash-chained audit log."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check that no audit event was altered, removed or reordered."""
    count, broken = verify_chain(db())
    if broken is not None:
        raise click.ClickException(f"the audit chain is broken at event {broken} ({count} checked)")
    click.echo(f"Audit chain intact: {count} events.")


# No automatic app context: --verifier-only must not build (or create) the combined app.
@cli.command("serve", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--verifier-only",
    is_flag=True,
    help="Serve only verification (pages, verify API, VC-API verify): no database, issues nothing.",
)
@click.option(
    "--kit",
    "kit_file",
    type=click.Path(dir_okay=False),
    help="With --verifier-only: verify offline with this verifier kit only (as "
    "TESSERA_VERIFIER_KIT; pin its signer with TESSERA_KIT_TRUST).",
)
@click.pass_obj
def serve_command(
    info: ScriptInfo,
    host: str,
    port: int,
    workers: int,
    verifier_only: bool,
    kit_file: str | None,
) -> None:
    """Serve the web app with gunicorn (use a reverse proxy for HTTPS in production)."""
    from gunicorn.app.base import BaseApplication

    from . import gunicorn_conf

    if kit_file and not verifier_only:
        raise click.UsageError("--kit serves an offline verifier: add --verifier-only")
    if verifier_only:
        from verifier.app import ConfigurationError as VerifierConfigurationError
        from verifier.app import create_verifier_app

        try:
            app = create_verifier_app({"VERIFIER_KIT": kit_file} if kit_file else None)
        except VerifierConfigurationError as e:
            raise click.ClickException(f"configuration: {e}") from e
    else:
        app = info.load_app()
        with app.app_context():
            engine = current_app.extensions["tessera.engine"]
            if migrate.pending(engine):
                raise click.ClickException("the database needs migrating: run `tessera init` first")
    hooks = {} if verifier_only else _worker_hooks(app)

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", 2)  # as issuer/gunicorn_conf.py, which says why
            self.cfg.set("accesslog", "-")
            # As with the production config: no tokens or query strings in the access log,
            # and no control socket shared by every server under one account.
            self.cfg.set("logger_class", gunicorn_conf.RedactingLogger)
            self.cfg.set("access_log_format", gunicorn_conf.access_log_format)
            self.cfg.set("control_socket_disable", True)
            for name, hook in hooks.items():
                self.cfg.set(name, hook)

        def load(self) -> Flask:
            return app

    what = " (verifier only)" if verifier_only else ""
    click.echo(f"Serving {app.config['PUBLIC_URL']}{what} on http://{host}:{port} (Ctrl+C stops)")
    if not verifier_only:
        if app.config.get("REDIS_URL"):
            click.echo(
                f"Background jobs: {jobs.describe(app.config)}; run them with `tessera worker`."
            )
        else:
            click.echo(f"Background jobs: {jobs.describe(app.config)}, run inside this server.")
    _Server().run()


def _worker_hooks(app: Flask) -> dict[str, Callable[..., None]]:
    """gunicorn hooks: fresh database connections after the fork; the embedded job consumer;
    the inherited app frozen out of garbage collection.

    The consumer (no TESSERA_REDIS_URL) starts after the fork, in the workers: gunicorn's
    master forks workers and must not have threads of its own. Every worker bids for it and
    exactly one runs it (see jobs.EmbeddedConsumer); it stops, handing its job back to the
    queue, when that worker exits.
    """
    embedded = not app.config.get("REDIS_URL")
    consumers: list[jobs.EmbeddedConsumer] = []

    def post_fork(_server: Any, _worker: Any) -> None:
        # Connections opened in the master (the migration check) must not be shared with
        # the forked workers: each process opens its own.
        app.extensions["tessera.engine"].dispose(close=False)
        if embedded:
            consumer = jobs.EmbeddedConsumer(app)
            consumers.append(consumer)
            consumer.start()
        # The app the worker inherited stays out of full garbage collections: walking it
        # stalls every request for 45-110 ms (issuer/gunicorn_conf.py says more).
        gc.freeze()

    def worker_exit(_server: Any, _worker: Any) -> None:
        for consumer in consumers:
            consumer.stop()

    return {"post_fork": post_fork, "worker_exit": worker_exit}


# -- operations: doctor, backup, restore ---------------------------------------------------


@cli.command("doctor", with_appcontext=False)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON (monitoring).")
@click.pass_obj
def doctor_command(info: ScriptInfo, as_json: bool) -> None:
    """Check this deployment's configuration and connectivity, and say what is wrong.

    Exits 0 when nothing is a PROBLEM (warnings allowed), 1 otherwise. Prints no secrets.
    """
    try:
        app = info.load_app()
    except click.ClickException as e:  # _create_app: the configuration is refused
        report = doctor.configuration_failed(e.message.removeprefix("configuration: "))
    else:
        with app.app_context():
            report = doctor.diagnose(app, now=utcnow())
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else report.as_text())
    sys.exit(0 if report.healthy else 1)


#: Progress lines on stderr at most this often (rows), plus one when a table is done.
PROGRESS_EVERY = 100_000


def _progress(verb: str) -> backup.Progress:
    def report(table: str, done: int, total: int) -> None:
        if total and (done == total or done % PROGRESS_EVERY == 0):
            click.echo(f"  {verb} {table}: {done:,} of {total:,} rows", err=True)

    return report


@cli.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
@_friendly
def backup_command(file: Path) -> None:
    """Write every row of the database to FILE (a ZIP archive, mode 0600).

    Works on SQLite and PostgreSQL alike and restores on either. Private keys stay encrypted
    exactly as stored; the archive never holds TESSERA_KEK: back the KEK up separately, or the
    restored keys cannot sign.
    """
    engine = current_app.extensions["tessera.engine"]
    click.echo(f"Backing up {engine.url.render_as_string(hide_password=True)} ...", err=True)
    summary = backup.write_backup(engine, file, now=utcnow(), progress=_progress("wrote"))
    click.echo(
        f"Wrote {summary.rows:,} rows of {len(summary.tables)} tables (schema revision "
        f"{summary.revision}) to {summary.path}."
    )
    click.echo("It holds no KEK and no private key in the clear; keep TESSERA_KEK apart from it.")


@cli.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="DELETE every row now in the database, then restore. Without it, restore refuses "
    "a database that holds anything.",
)
@with_appcontext
@_friendly
def restore_command(file: Path, force: bool) -> None:
    """Load a `tessera backup` archive into an empty database, all or nothing.

    Checks the whole archive first, migrates the database, then writes every row in one
    transaction. Restore with the TESSERA_KEK of the backed-up instance, or its keys cannot
    sign (`tessera doctor` says so).
    """
    engine = current_app.extensions["tessera.engine"]
    where = engine.url.render_as_string(hide_password=True)
    manifest = backup.inspect_archive(file, verify_rows=False)  # restore checks every row
    click.echo(
        f"Restoring {manifest.rows:,} rows (backup of {manifest.created_at}, from "
        f"{manifest.source_engine}) into {where} ...",
        err=True,
    )
    if force:
        click.echo(
            f"--force: every row now in {where} will be deleted and replaced by the backup.",
            err=True,
        )
    summary = backup.restore_backup(
        engine, file, now=utcnow(), force=force, progress=_progress("restored")
    )
    if summary.deleted:
        click.echo(f"Deleted the {summary.deleted:,} rows that were there before.")
    click.echo(f"Restored {summary.rows:,} rows of {len(summary.tables)} tables from {file}.")
    unusable = doctor.unusable_keys(db(), _config()["KEK"])
    if unusable:
        click.echo(
            f"WARNING: {len(unusable)} signing keys cannot be decrypted with the configured "
            "TESSERA_KEK: nothing can be issued until TESSERA_KEK is the key-encryption key of "
            "the instance the backup came from (see `tessera doctor`).",
            err=True,
        )
