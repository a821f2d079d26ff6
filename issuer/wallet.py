"""The worker's wallet: what a claim link or a proven e-mail address opens, and its exports.

A claim link opens a wallet session for the credential's recipient limited to the centre that
issued it (the centre vouched for that address when it issued). Proving control of the address
through a one-time e-mailed link widens the session to everything issued to that address on
this instance, across centres. Credentials issued elsewhere can be imported; they are verified
first and kept exactly as presented.

Exports: a 1EdTech CLR 2.0 ``ClrCredential`` signed by the instance's own did:web (each inner
credential exactly as issued, still verifiable on its own), and a ZIP with every credential's
files, QR codes, printable pages, the CLR and a README for a person.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import MultiFernet
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import credentials
from credentials import archive, baking, portable
from credentials.dates import format_datetime
from credentials.jsonld import VC_V2_CONTEXT
from credentials.proofs import data_integrity
from credentials.wallet import build_clr
from keys import did_web
from keys.models import KeyPurpose
from verifier.messages import N_, VERDICTS, Message, explain, say, with_detail
from verifier.pipeline import Outcome, Verdict, VerificationResult
from verifier.qr import qr_png, qr_svg
from verifier.recipient import belongs_to
from verifier.wallet import WalletResult, looks_like_wallet

from . import certificate, claims, mail, pathways, services, tokens
from .audit import record_event
from .errors import InvalidRequestError, NotFoundError, TooManyRequestsError
from .models import EmailProof, HeldCredential, IssuedCredential, WalletSession
from .unit_of_work import transaction

SESSION_LIFETIME = timedelta(hours=12)
EMAIL_PROOF_LIFETIME = timedelta(minutes=30)
#: One-time links a wallet may ask for per address and hour (the mail goes only to the
#: credential's own recipient, so this protects their inbox, not strangers').
EMAIL_PROOFS_PER_HOUR = 3
#: Imported credentials a wallet may hold.
MAX_HELD = 500


# -- sessions -----------------------------------------------------------------------------------


def _open_session(
    session: Session, *, email: str, organisation_id: int | None, now: datetime
) -> str:
    token = tokens.new_token()
    session.add(
        WalletSession(
            token_hash=tokens.digest(token),
            email=email,
            organisation_id=organisation_id,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    return token


def open_claim(session: Session, token: str, *, now: datetime) -> str | None:
    """A wallet session for the recipient behind a claim link, or None if the link is dead."""
    record = claims.credential_for_claim(session, token, now=now)
    if record is None:
        return None
    with transaction(session):
        return _open_session(
            session,
            email=record.recipient_email,
            organisation_id=record.organisation_id,
            now=now,
        )


def load_session(session: Session, token: str, *, now: datetime) -> WalletSession | None:
    """The live wallet session behind a browser's token, or None."""
    return tokens.live_session(session, WalletSession, token, now=now)


def end_session(session: Session, token: str, *, now: datetime) -> None:
    tokens.end_session(session, WalletSession, token, now=now)


# -- proving the e-mail address -------------------------------------------------------------


def masked(email: str) -> str:
    """``a•••@example.org``: enough for the worker to recognise, not for a shoulder-surfer."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


def request_email_proof(
    session: Session, config: dict[str, Any], wallet: WalletSession, *, now: datetime
) -> str:
    """E-mail the wallet's address a one-time link that opens every credential issued to it.

    The address is the credential's own recipient, never one typed in, so this cannot be used
    to send mail to strangers. Returns where the message went (see mail.send).

    Raises:
        TooManyRequestsError: more than EMAIL_PROOFS_PER_HOUR links in the last hour.
        ServiceUnavailableError: the mail server refused; nothing is recorded.
    """
    recent = session.scalar(
        select(func.count())
        .select_from(EmailProof)
        .where(EmailProof.email == wallet.email, EmailProof.created_at > now - timedelta(hours=1))
    )
    if (recent or 0) >= EMAIL_PROOFS_PER_HOUR:
        raise TooManyRequestsError(
            Message.of(
                N_(
                    "we already sent %(count)s links to this address in the last hour; check "
                    "your inbox (and spam folder), or try again later"
                ),
                count=EMAIL_PROOFS_PER_HOUR,
            )
        )
    token = tokens.new_token()
    link = f"{config['PUBLIC_URL']}/wallet/confirm/{token}"
    minutes = int(EMAIL_PROOF_LIFETIME.total_seconds() // 60)
    # In the language of the page that asked for it (English from the CLI or a job).
    body = say(
        Message.of(
            N_(
                "Hello,\n\n"
                "Someone (we hope you) asked to see every credential issued to this e-mail "
                "address on %(site)s.\n\n"
                "Open this link within %(minutes)s minutes to see them all in your wallet:\n\n"
                "%(link)s\n\n"
                "The link works once. If you did not ask for it, ignore this message: nothing "
                "happens unless the link is opened.\n"
            ),
            site=str(urlsplit(config["PUBLIC_URL"]).hostname),
            minutes=minutes,
            link=link,
        )
    )
    subject = say(Message(N_("Your credentials: sign-in link")))
    with transaction(session):
        session.add(
            EmailProof(
                token_hash=tokens.digest(token),
                email=wallet.email,
                created_at=now,
                expires_at=now + EMAIL_PROOF_LIFETIME,
            )
        )
        session.flush()
        # Inside the transaction: if the mail cannot be sent, no link is recorded either.
        return mail.send(config, to=wallet.email, subject=subject, body=body, now=now)


def _usable_proof(session: Session, token: str, *, now: datetime) -> EmailProof | None:
    proof = tokens.find(session, EmailProof, token)
    if proof is None or proof.used_at is not None or proof.expires_at <= now:
        return None
    return proof


def email_link_usable(session: Session, token: str, *, now: datetime) -> bool:
    """Whether a one-time link would still open (read only: showing its page uses nothing).

    Mail scanners open links before people do; only the page's button uses the link.
    """
    return _usable_proof(session, token, now=now) is not None


def confirm_email(session: Session, token: str, *, now: datetime) -> str | None:
    """Use a one-time link: a wallet session over every centre, or None (unknown, used, old)."""
    with transaction(session):
        proof = _usable_proof(session, token, now=now)
        if proof is None:
            return None
        # One UPDATE decides who uses the link: a second, concurrent use matches no row.
        used = session.execute(
            update(EmailProof)
            .where(EmailProof.id == proof.id, EmailProof.used_at.is_(None))
            .values(used_at=now)
        )
        if used.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return _open_session(session, email=proof.email, organisation_id=None, now=now)


# -- what the wallet holds ------------------------------------------------------------------


def issued_in(session: Session, wallet: WalletSession) -> Sequence[IssuedCredential]:
    """The credentials of this instance the wallet shows, newest first."""
    query = select(IssuedCredential).where(IssuedCredential.recipient_email == wallet.email)
    if wallet.organisation_id is not None:
        query = query.where(IssuedCredential.organisation_id == wallet.organisation_id)
    return session.scalars(
        query.order_by(IssuedCredential.issued_at.desc(), IssuedCredential.id.desc())
    ).all()


def held_in(session: Session, wallet: WalletSession) -> Sequence[HeldCredential]:
    """Credentials issued elsewhere that the worker imported, newest first."""
    return session.scalars(
        select(HeldCredential)
        .where(HeldCredential.email == wallet.email)
        .order_by(HeldCredential.imported_at.desc(), HeldCredential.id.desc())
    ).all()


def find_issued(session: Session, wallet: WalletSession, public_id: str) -> IssuedCredential:
    """One of the wallet's own credentials by its public id.

    Raises:
        NotFoundError: no such credential in this wallet (another person's is not found either).
    """
    found = session.scalars(
        select(IssuedCredential).where(IssuedCredential.public_id == public_id[:64])
    ).first()
    if (
        found is None
        or found.recipient_email != wallet.email
        or (wallet.organisation_id is not None and found.organisation_id != wallet.organisation_id)
    ):
        raise NotFoundError("there is no such credential in this wallet")
    return found


def find_held(session: Session, wallet: WalletSession, held_id: int) -> HeldCredential:
    found = session.get(HeldCredential, held_id)
    if found is None or found.email != wallet.email:
        raise NotFoundError("there is no such imported credential in this wallet")
    return found


def set_public_link(
    session: Session, wallet: WalletSession, public_id: str, *, visible: bool, now: datetime
) -> IssuedCredential:
    """Turn a credential's public verify page on or off (the files verify either way)."""
    record = find_issued(session, wallet, public_id)
    with transaction(session):
        record.public_link_hidden_at = None if visible else now
        record_event(
            session,
            action="credential.public_link." + ("shown" if visible else "hidden"),
            subject=record.credential_id,
            now=now,
            actor="holder",
            organisation_id=record.organisation_id,
        )
    return record


# -- importing credentials issued elsewhere -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Imported:
    """What became of one credential offered for import."""

    label: str
    added: bool
    message: Message  # str() gives the English (the CLI prints it)


def _text_of(data: bytes | str) -> str:
    """The credential text inside an upload: a baked image's payload, or the text itself."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if baking.is_png(raw):
        return baking.unbake_png(raw)
    if baking.looks_like_svg(raw):
        return baking.unbake_svg(raw)
    try:
        return raw.decode("utf-8").strip().lstrip("\ufeff")
    except UnicodeDecodeError as e:
        raise InvalidRequestError(
            Message(N_("the file is neither a credential nor a baked badge"))
        ) from e


def _reason(result: VerificationResult) -> Message:
    failed = [c for c in result.checks if c.outcome == Outcome.FAILED]
    return with_detail(failed[0].said, failed[0].detail) if failed else Message(str(result.verdict))


def _name_of(credential: dict[str, Any]) -> str:
    subject = credential.get("credentialSubject")
    achievement = subject.get("achievement") if isinstance(subject, dict) else None
    name = achievement.get("name") if isinstance(achievement, dict) else None
    return str(name or credential.get("name") or "(unnamed credential)")[:200]


def _issuer_name(credential: dict[str, Any]) -> str:
    issuer = credential.get("issuer")
    name = issuer.get("name") if isinstance(issuer, dict) else None
    return str(name or credentials.issuer_id(credential) or "(unnamed issuer)")[:200]


def _jwt_of(source: Any) -> str:
    """The compact JWT of a credential given as a token, enveloped in a data: URL, or carried
    by a portable QR payload (restored exactly, so the proof that was checked still covers it).
    """
    text = str(source.get("id", "")) if isinstance(source, dict) else str(source)
    if portable.is_portable(text.strip()):
        return portable.decode_portable(text.strip())
    return text.split(",", 1)[1] if text.startswith("data:") else text.strip()


def _import_one(
    session: Session,
    wallet: WalletSession,
    label: str,
    source: Any,
    result: VerificationResult,
    *,
    now: datetime,
) -> Imported:
    credential = result.credential
    if credential is None or result.verdict in (Verdict.INVALID, Verdict.REVOKED):
        said = Message.of(N_("not added: it does not verify (%(why)s)"), why=_reason(result))
        return Imported(label, False, said)
    if belongs_to(credential, wallet.email) is False:
        said = Message(N_("not added: it was issued to a different e-mail address than yours"))
        return Imported(label, False, said)
    key = credential.get("id") if isinstance(credential.get("id"), str) else None
    form = "jwt" if result.form == "jwt" else "json"
    content = _jwt_of(source) if form == "jwt" else json.dumps(credential, ensure_ascii=False)
    key = key or "sha256:" + hashlib.sha256(content.encode("utf-8")).hexdigest()
    own = session.scalars(
        select(IssuedCredential).where(IssuedCredential.credential_id == key[:100])
    ).first()
    if own is not None and own.recipient_email == wallet.email:
        if wallet.organisation_id in (None, own.organisation_id):
            return Imported(label, False, Message(N_("already in your wallet (issued here)")))
        said = Message.of(
            N_(
                "not added: %(centre)s issued it on this service; ask for the e-mail link "
                "above to see credentials from every training centre"
            ),
            centre=own.organisation.name,
        )
        return Imported(label, False, said)
    exists = session.scalars(
        select(HeldCredential).where(
            HeldCredential.email == wallet.email, HeldCredential.credential_key == key[:600]
        )
    ).first()
    if exists is not None:
        return Imported(label, False, Message(N_("already in your wallet")))
    count = session.scalar(
        select(func.count()).select_from(HeldCredential).where(HeldCredential.email == wallet.email)
    )
    if (count or 0) >= MAX_HELD:
        said = Message.of(N_("not added: a wallet holds at most %(limit)s imports"), limit=MAX_HELD)
        return Imported(label, False, said)
    try:
        with transaction(session):
            session.add(
                HeldCredential(
                    email=wallet.email,
                    credential_key=key[:600],
                    issuer_id=credentials.issuer_id(credential)[:600],
                    issuer_name=_issuer_name(credential),
                    name=_name_of(credential),
                    form=form,
                    content=content,
                    verdict=str(result.verdict),
                    imported_at=now,
                )
            )
    except IntegrityError:  # the same credential, imported at the same moment elsewhere
        return Imported(label, False, Message(N_("already in your wallet")))
    verdict = Message(VERDICTS.get(result.verdict.value, result.verdict.value))
    return Imported(label, True, Message.of(N_("added (%(verdict)s)"), verdict=verdict))


def import_credentials(
    session: Session,
    wallet: WalletSession,
    data: bytes | str,
    *,
    verify: Callable[[Any], VerificationResult],
    verify_wallet: Callable[[Any], WalletResult],
    now: datetime,
) -> list[Imported]:
    """Verify and add a credential issued elsewhere (JSON, JWT, baked badge) or a whole wallet.

    Each credential is kept only if it verifies (a forged, tampered or revoked one is refused
    with the reason) and is not plainly someone else's (its hashed e-mail names another
    address). Nothing is stored for a refused credential.

    Raises:
        InvalidRequestError: the upload is empty or not a credential in any form we read.
    """
    if not data:
        raise InvalidRequestError(
            Message(N_("choose a credential file or paste a credential first"))
        )
    if looks_like_wallet(data):
        found = verify_wallet(data)
        if not found.entries:
            first = found.envelope.checks[0] if found.envelope else None
            reason = with_detail(first.said, first.detail) if first else Message(N_("it is empty"))
            raise InvalidRequestError(
                Message.of(N_("the wallet could not be read: %(why)s"), why=reason)
            )
        return [
            _import_one(session, wallet, entry.label, entry.source, entry.result, now=now)
            for entry in found.entries
        ]
    try:
        text = _text_of(data)
    except credentials.CredentialError as e:
        said = Message.of(
            N_("the file could not be read: %(why)s"), why=with_detail(explain(e.code), str(e))
        )
        raise InvalidRequestError(said) from e
    result = verify(text)
    if result.credential is None:
        raise InvalidRequestError(
            Message.of(N_("this is not a credential we can read: %(why)s"), why=_reason(result))
        )
    label = say(Message(N_("the credential")))  # the page's language (English in the CLI)
    return [_import_one(session, wallet, label, text, result, now=now)]


def remove_held(session: Session, wallet: WalletSession, held_id: int) -> None:
    held = find_held(session, wallet, held_id)
    with transaction(session):
        session.delete(held)


# -- exports ----------------------------------------------------------------------------------


def _held_for_clr(held: HeldCredential) -> dict[str, Any]:
    if held.form == "jwt":
        # VC 2.0 EnvelopedVerifiableCredential: the JWT exactly as issued, in a data: URL.
        return {
            "@context": [VC_V2_CONTEXT],
            "id": "data:application/vc+jwt," + held.content,
            "type": "EnvelopedVerifiableCredential",
        }
    return json.loads(held.content)  # type: ignore[no-any-return]


def holder_name(records: Sequence[IssuedCredential]) -> str | None:
    return records[0].recipient_name if records else None


def export_clr(
    session: Session,
    kek: MultiFernet,
    wallet: WalletSession,
    *,
    public_url: str,
    now: datetime,
) -> dict[str, Any]:
    """The wallet as a CLR 2.0 ``ClrCredential``, signed by the instance's own did:web.

    Raises:
        NotFoundError: the wallet holds no credentials.
    """
    records = issued_in(session, wallet)
    held = held_in(session, wallet)
    documents = [json.loads(r.document) for r in records] + [_held_for_clr(h) for h in held]
    if not documents:
        raise NotFoundError("this wallet holds no credentials yet")
    ring = services.ensure_instance_keys(session, kek, public_url=public_url, now=now)
    host = urlsplit(public_url).hostname or public_url
    salt = secrets.token_hex(16)
    name = holder_name(records)
    clr = build_clr(
        documents,
        clr_id=f"urn:uuid:{uuid.uuid4()}",
        issuer={"id": did_web(public_url), "type": ["Profile"], "name": f"Tessera at {host}"},
        name=f"Credentials of {name}" if name else "Credentials",
        description=(
            "Every credential in this wallet is exactly as its issuer signed it and verifies "
            "on its own; this wallet's own proof shows that none was changed or removed."
        ),
        valid_from=now,
        associations=pathways.clr_associations(session, records),
        holder_identifiers=[
            {
                "type": "IdentityObject",
                "identityHash": credentials.hash_email(wallet.email, salt),
                "identityType": "emailAddress",
                "hashed": True,
                "salt": salt,
            }
        ],
    )
    return data_integrity.add_proof(clr, ring.active(KeyPurpose.DATA_INTEGRITY), created=now)


def _slug(text: str, limit: int = 40) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].strip("-") or "credential"


def badge_images(record: IssuedCredential, verify_url: str) -> tuple[bytes, str]:
    """The PNG and SVG pictures to bake into: the achievement's image, else the QR code.

    A QR code as the badge's picture is useful in itself: scanned, it opens the verify page.
    """
    image = record.achievement.image
    kind = record.achievement.image_type
    png = image if image and kind == "image/png" else qr_png(verify_url)
    svg = image.decode("utf-8") if image and kind == "image/svg+xml" else qr_svg(verify_url)
    return png, svg


def baked_png(record: IssuedCredential, verify_url: str) -> bytes:
    png, _ = badge_images(record, verify_url)
    return baking.bake_png(png, _compact(record))


def baked_svg(record: IssuedCredential, verify_url: str) -> bytes:
    _, svg = badge_images(record, verify_url)
    return baking.bake_svg(svg.encode("utf-8"), _compact(record))


def _compact(record: IssuedCredential) -> str:
    """The JSON credential with its Data Integrity proof, as baked (no indentation)."""
    return json.dumps(json.loads(record.document), ensure_ascii=False, separators=(",", ":"))


def credential_certificate(record: IssuedCredential, verify_url: str) -> certificate.Certificate:
    return certificate.certificate_from(
        json.loads(record.document),
        recipient_name=record.recipient_name,
        verify_url=verify_url,
        qr_png=qr_png(verify_url),
    )


README = """\
Your credentials
================

This folder holds every credential in your wallet{holder}, exported on {date}.
Each one proves a skill you showed, signed by the training centre that checked it.
They stay valid even if the centre closes or moves its website: the signatures are
inside the files.

What is here
------------
wallet.json          All your credentials in one file (a 1EdTech CLR 2.0 wallet).
                     Give this one file to an employer, or upload it at
                     {verify_page}
                     to check every credential in it at once.
{folders}
In each credential's folder:
  credential.json    The credential with its digital signature (Open Badges 3.0).
                     Digital wallets, such as the Learner Credential Wallet, import it.
  credential.jwt     The same credential in compact form (a VC-JWT).
  badge.png          A badge picture with the credential baked inside it:
  badge.svg          uploading the picture to a verifier checks the credential.
  qr.png, qr.svg     A QR code: scanning it opens the credential's check page.
  certificate.html   A printable page (open it in a browser, then print).
  certificate.pdf    The same page as a PDF.

Imported credentials (issued elsewhere) are kept as their issuer gave them
(credential.json or credential.jwt).

Keep a copy somewhere safe: on your phone, a USB stick, or in your e-mail.
"""


@dataclass(frozen=True, slots=True)
class ZipExport:
    content: bytes
    filename: str


def export_zip(
    session: Session,
    kek: MultiFernet,
    wallet: WalletSession,
    *,
    public_url: str,
    now: datetime,
) -> ZipExport:
    """The wallet as a ZIP: the CLR, each credential in every form, QR codes, printable pages."""
    clr = export_clr(session, kek, wallet, public_url=public_url, now=now)
    records = issued_in(session, wallet)
    held = held_in(session, wallet)
    files: list[tuple[str, bytes]] = [
        ("wallet.json", (json.dumps(clr, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    ]
    folders: list[str] = []
    for number, record in enumerate(records, start=1):
        folder = f"{number:02d}-{_slug(record.achievement.name)}"
        folders.append(f"{folder + '/':<20} {record.achievement.name} ({record.organisation.name})")
        verify_url = f"{public_url}/v/{record.public_id}"
        document = json.dumps(json.loads(record.document), indent=2, ensure_ascii=False) + "\n"
        page = credential_certificate(record, verify_url)
        png, svg = badge_images(record, verify_url)
        files += [
            (f"{folder}/credential.json", document.encode("utf-8")),
            (f"{folder}/credential.jwt", (record.jwt + "\n").encode("ascii")),
            (f"{folder}/badge.png", baking.bake_png(png, _compact(record))),
            (f"{folder}/badge.svg", baking.bake_svg(svg.encode("utf-8"), _compact(record))),
            (f"{folder}/qr.png", qr_png(verify_url)),
            (f"{folder}/qr.svg", qr_svg(verify_url).encode("utf-8")),
            (
                f"{folder}/certificate.html",
                certificate.render_html(page, standalone=True).encode("utf-8"),
            ),
            (f"{folder}/certificate.pdf", certificate.render_pdf(page)),
        ]
    for number, item in enumerate(held, start=len(records) + 1):
        folder = f"{number:02d}-{_slug(item.name)}"
        folders.append(f"{folder + '/':<20} {item.name} ({item.issuer_name}, imported)")
        if item.form == "jwt":
            files.append((f"{folder}/credential.jwt", (item.content + "\n").encode("ascii")))
        else:
            pretty = json.dumps(json.loads(item.content), indent=2, ensure_ascii=False) + "\n"
            files.append((f"{folder}/credential.json", pretty.encode("utf-8")))
    name = holder_name(records)
    readme = README.format(
        holder=f", {name}" if name else "",
        date=format_datetime(now)[:10],
        verify_page=f"{public_url}/verify",
        folders="".join(f"{line}\n" for line in folders),
    )
    files.insert(0, ("README.txt", readme.encode("utf-8")))
    stamp = (now.year, now.month, now.day, now.hour, now.minute, now.second)
    content = archive.write_zip(files, date_time=stamp)
    return ZipExport(content, f"credentials-{format_datetime(now)[:10]}.zip")
