"""Public verify pages: the QR target /v/<id>, QR images, and verify by upload or paste.

Everything shown about a credential comes from the credential itself, which anyone can write:
values are read defensively (wrong types are ignored, long text is cut), links are shown only
for plain http(s) URLs, and templates autoescape everything (nothing here is marked safe).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import Forbidden, HTTPException

from credentials import CredentialError
from credentials.dates import format_datetime, parse_datetime
from schemas import ProblemSchema

from . import i18n
from .backend import PublishedCredential, backend, public_id_in, tally, verify_any
from .messages import ACHIEVEMENT_TYPES, Message
from .pipeline import Check, Outcome, Verdict, VerificationResult
from .qr import qr_png, qr_svg
from .ratelimit import VERIFY, limited
from .recipient import belongs_to
from .wallet import WalletResult

bp = Blueprint(
    "pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/verifier",
)

HTML = "text/html"
JSON_TYPES = ("application/json", "application/ld+json", "application/vc+ld+json", "application/vc")
JWT_TYPES = ("application/vc+jwt", "application/jwt")
#: 64 for the local part, "@", 255 for the domain: anything longer is not an address.
MAX_EMAIL_LENGTH = 320
MAX_TEXT = 5_000  # characters of one claimed text shown on a page
MAX_ITEMS = 50  # alignments or evidence entries shown
QR_CACHE = "public, max-age=86400"
# Verdicts whose checks did not confirm the signature: the details are claims, not facts.
_UNCONFIRMED = frozenset({Verdict.INVALID, Verdict.COULD_NOT_CHECK})
_NOT_STRUCTURAL = frozenset(
    {"revoked", "suspended", "expired", "not-yet-valid", "issuer-not-recognised"}
)


# -- template helpers -----------------------------------------------------------------------


#: ``_`` for Python code (the certificate's PDF): the reader's language, ``%(name)s`` filled in.
#: Templates get Flask-Babel's new-style ``_`` (see verifier.i18n), called the same way.
gettext = i18n.gettext


def _utc(moment: datetime) -> datetime:
    # Stored times are aware; a naive one (another backend's) is taken to be UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@bp.app_template_filter("human_datetime")
def human_datetime(moment: datetime) -> str:
    """``15 January 2026, 09:30 UTC`` in the reader's language: unambiguous wherever read."""
    return i18n.long_datetime(_utc(moment))


@bp.app_template_filter("iso_datetime")
def iso_datetime(moment: datetime) -> str:
    """The machine-readable form for ``<time datetime>``."""
    return format_datetime(_utc(moment))


# -- what a page shows of a credential ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alignment:
    name: str
    url: str | None
    framework: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class Evidence:
    name: str | None
    narrative: str | None
    description: str | None
    url: str | None


@dataclass(frozen=True, slots=True)
class CredentialView:
    """The claims of a credential that a person reads, each None when absent or malformed."""

    achievement_name: str | None
    description: str | None
    criteria: str | None
    achievement_type: Message | None
    alignments: tuple[Alignment, ...]
    issuer_name: str | None
    issuer_id: str | None
    issuer_url: str | None
    holder_name: str | None
    valid_from: datetime | None
    valid_until: datetime | None
    evidence: tuple[Evidence, ...]


def _text(source: object, key: str, limit: int = MAX_TEXT) -> str | None:
    value = source.get(key) if isinstance(source, Mapping) else None
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _said(source: Mapping[str, Any], key: str, language: str, limit: int = MAX_TEXT) -> str | None:
    """``source[key]`` in ``language`` when the credential gives it (language value objects)."""
    in_language = source.get("inLanguage")
    chosen = i18n.localized(
        source.get(key),
        language,
        default_language=in_language if isinstance(in_language, str) else None,
    )
    return _text({key: chosen}, key, limit)


def _link(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL, else None (no javascript:, data: …)."""
    if not isinstance(value, str) or len(value) > 2_000:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def _objects(value: object) -> Iterator[Mapping[str, Any]]:
    items = value if isinstance(value, list) else [value]
    yield from (item for item in items[:MAX_ITEMS] if isinstance(item, Mapping))


def _date(credential: Mapping[str, Any], *fields: str) -> datetime | None:
    for field in fields:
        if field in credential:
            try:
                return parse_datetime(credential[field], field)
            except CredentialError:
                return None
    return None


def _humanise_type(value: str | None) -> Message | None:
    """``MicroCredential`` -> "Micro-credential" (translatable); ``ext:ForkliftCheck`` ->
    "Forklift check" (a centre's own type: its words, as written)."""
    if value is None:
        return None
    if (known := ACHIEVEMENT_TYPES.get(value)) is not None:
        return Message(known)
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", value.removeprefix("ext:")).split()
    return Message(" ".join([words[0], *(w.lower() for w in words[1:])])) if words else None


def describe(credential: Mapping[str, Any], language: str | None = None) -> CredentialView:
    """Read what a page shows from a credential, tolerating any shape the JSON may have.

    The achievement's name and description are given in ``language`` (default: the reader's)
    when the credential carries that translation: a VC 2.0 language value object, or an
    OB 3.0 ``related`` achievement with that ``inLanguage`` and its own name.
    """
    language = language or i18n.current_language()
    subject = next(_objects(credential.get("credentialSubject")), {})
    achievement = subject.get("achievement")
    achievement = achievement if isinstance(achievement, Mapping) else {}
    translation = i18n.related_translation(achievement, language) or {}
    issuer = credential.get("issuer")
    issuer_profile = issuer if isinstance(issuer, Mapping) else {}
    issuer_id = issuer[:2_000] if isinstance(issuer, str) else _text(issuer_profile, "id", 2_000)
    alignments = tuple(
        Alignment(
            name=name,
            url=_link(a.get("targetUrl")),
            framework=_text(a, "targetFramework", 200),
            code=_text(a, "targetCode", 200),
        )
        for a in _objects(achievement.get("alignment"))
        if (name := _text(a, "targetName", 500) or _text(a, "targetUrl", 500))
    )
    evidence = tuple(
        Evidence(
            name=_text(e, "name", 500),
            narrative=_text(e, "narrative"),
            description=_text(e, "description"),
            url=_link(e.get("id")),
        )
        for source in (credential.get("evidence"), subject.get("evidence"))
        for e in _objects(source)
        if any(_text(e, k) for k in ("name", "narrative", "description")) or _link(e.get("id"))
    )
    criteria = achievement.get("criteria")
    return CredentialView(
        achievement_name=_said(translation, "name", language, 500)
        or _said(achievement, "name", language, 500)
        or _said(credential, "name", language, 500),
        description=_said(translation, "description", language)
        or _said(achievement, "description", language),
        criteria=_text(criteria, "narrative"),
        achievement_type=_humanise_type(_text(achievement, "achievementType", 100)),
        alignments=alignments,
        issuer_name=_text(issuer_profile, "name", 500),
        issuer_id=issuer_id if isinstance(issuer_id, str) else None,
        issuer_url=_link(issuer_profile.get("url")),
        holder_name=_text(subject, "name", 500),
        valid_from=_date(credential, "validFrom", "issuanceDate"),
        valid_until=_date(credential, "validUntil", "expirationDate"),
        evidence=evidence,
    )


@dataclass(frozen=True, slots=True)
class Dependency:
    """A credential of this host that a credential names as its evidence (a pathway's part).

    ``state`` is the part's verdict now ("valid", "expired" …), "revoked", or "private" when
    its holder turned its public page off (a revocation still shows: the status list that
    says so is public anyway).
    """

    name: str | None
    url: str
    state: str
    revoked_at: datetime | None = None
    reason: str | None = None


def dependencies(view: CredentialView) -> tuple[Dependency, ...]:
    """The credentials of this host that ``view``'s evidence links to, each as it stands now.

    Only verify URLs of this host are looked up (in its own records); links to other hosts
    are never fetched.
    """
    host = backend()
    prefix = host.verify_url("")
    found = []
    for item in view.evidence:
        if item.url is None or not item.url.startswith(prefix):
            continue
        public_id = public_id_in(item.url)
        published = host.lookup(public_id) if public_id is not None else None
        if published is None:
            continue
        name = item.name
        if published.revoked_at is not None:
            state = "revoked"
        elif published.hidden:
            state = "private"
        else:
            state = host.verify(published.document).verdict.value
        if name is None and state != "private":
            name = describe(published.document).achievement_name
        found.append(
            Dependency(
                name=name,
                url=published.verify_url,
                state=state,
                revoked_at=published.revoked_at,
                reason=published.revocation_reason,
            )
        )
    return tuple(found)


def _deciding_check(result: VerificationResult) -> Check | None:
    """The check whose message explains the verdict (why invalid, why not checked …)."""
    if result.verdict == Verdict.INVALID:
        failed = [c for c in result.checks if c.outcome == Outcome.FAILED]
        structural = [c for c in failed if c.code not in _NOT_STRUCTURAL]
        return (structural or failed or [None])[0]
    if result.verdict == Verdict.COULD_NOT_CHECK:
        unknown = [c for c in result.checks if c.outcome == Outcome.COULD_NOT_CHECK]
        return next((c for c in unknown if c.name == "proof"), unknown[0] if unknown else None)
    if result.verdict == Verdict.REVOKED:
        return result.check("status")
    return None


def _result_context(
    result: VerificationResult, published: PublishedCredential | None
) -> dict[str, Any]:
    issuer_check = result.check("issuer")
    view = describe(result.credential) if result.credential is not None else None
    confirmed = result.verdict not in _UNCONFIRMED
    built_from = dependencies(view) if view is not None and confirmed else ()
    return {
        "result": result,
        "verdict": result.verdict.value,
        "view": view,
        "built_from": built_from,
        "depends_on_revoked": any(d.state == "revoked" for d in built_from),
        "confirmed": confirmed,
        "reason": _deciding_check(result),
        "recognised": issuer_check is not None and issuer_check.outcome == Outcome.PASSED,
        "published": published,
        "revoked": published is not None and result.verdict == Verdict.REVOKED,
        "checked_at": datetime.now(UTC),
    }


# -- content negotiation and responses ------------------------------------------------------


def _best(*offers: str) -> str:
    """The media type the client prefers; HTML on ties and without an Accept header."""
    return request.accept_mimetypes.best_match([HTML, *offers]) or HTML


def _prefers_json() -> bool:
    return _best("application/json", "application/problem+json") != HTML


class HolderMadePrivate(Forbidden):
    """The holder turned the credential's public page off (its files still verify)."""

    description = (
        "The holder has made this credential's public page private; ask them for the "
        "credential file or wallet and check that instead."
    )


def _published_or_404(public_id: str) -> PublishedCredential:
    published = backend().lookup(public_id)
    if published is None:
        abort(HTTPStatus.NOT_FOUND, "There is no credential with this link on this verifier.")
    if published.hidden:
        raise HolderMadePrivate()
    return published


def _document_json(published: PublishedCredential) -> str:
    return json.dumps(published.document, indent=2, ensure_ascii=False) + "\n"


def _credential_page(
    published: PublishedCredential,
    *,
    recipient: str | None = None,
    email: str = "",
    status: int = HTTPStatus.OK,
    counted: bool = False,
) -> Response:
    result = backend().verify(published.document)
    if counted:
        tally(result, "page")
    page = render_template(
        "credential.html",
        **_result_context(result, published),
        recipient=recipient,
        email=email,
        max_email=MAX_EMAIL_LENGTH,
    )
    response = make_response(page, status)
    response.headers["Vary"] = "Accept"
    response.headers["Cache-Control"] = "no-cache"  # the verdict changes when it is revoked
    return response


# -- the QR target ----------------------------------------------------------------------------


@bp.get("/v/<public_id>")
def credential(public_id: str) -> Response:
    """The public verify page (or the credential itself, when Accept asks for JSON or JWT)."""
    published = _published_or_404(public_id)
    wanted = _best(*JSON_TYPES, *JWT_TYPES)
    if wanted in JSON_TYPES:
        response = Response(_document_json(published), mimetype=wanted)
    elif wanted in JWT_TYPES:
        response = Response(published.jwt, mimetype=wanted)
    else:
        return _credential_page(published, counted=True)
    response.headers["Vary"] = "Accept"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.post("/v/<public_id>/recipient")
@limited(VERIFY)
def recipient(public_id: str) -> Response:
    """Answer whether the credential was issued to an e-mail address (hashed identity match)."""
    published = _published_or_404(public_id)
    # The address is compared and dropped: never logged, stored or put in a URL.
    email = request.form.get("email", "")
    if not email.strip() or len(email) > MAX_EMAIL_LENGTH:
        return _credential_page(
            published, recipient="invalid", status=HTTPStatus.UNPROCESSABLE_ENTITY
        )
    match = belongs_to(published.document, email)
    answer = {True: "yes", False: "no", None: "no-identity"}[match]
    return _credential_page(published, recipient=answer, email=email.strip())


def _qr(public_id: str, render: Any, mimetype: str) -> Response:
    published = _published_or_404(public_id)
    # The configured public URL, never request.host: a code must not point wherever a
    # spoofed Host header says.
    response = Response(render(backend().verify_url(published.public_id)), mimetype=mimetype)
    response.headers["Cache-Control"] = QR_CACHE
    return response


@bp.get("/v/<public_id>/qr.png")
def qr_code_png(public_id: str) -> Response:
    """A PNG QR code of the credential's verify URL."""
    return _qr(public_id, qr_png, "image/png")


@bp.get("/v/<public_id>/qr.svg")
def qr_code_svg(public_id: str) -> Response:
    """An SVG QR code of the credential's verify URL (sharp at any print size)."""
    return _qr(public_id, qr_svg, "image/svg+xml")


def _download(body: str, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/v/<public_id>/credential.json")
def credential_json(public_id: str) -> Response:
    """Download the credential with its embedded Data Integrity proof."""
    published = _published_or_404(public_id)
    return _download(_document_json(published), "application/json", f"{public_id}.json")


@bp.get("/v/<public_id>/credential.jwt")
def credential_jwt(public_id: str) -> Response:
    """Download the credential as a VC-JWT."""
    published = _published_or_404(public_id)
    return _download(published.jwt + "\n", "application/vc+jwt", f"{public_id}.jwt")


# -- verify by upload or paste ----------------------------------------------------------------


def _limit_mb() -> str:
    """The upload size limit in MB, as the upload form and the 413 page state it."""
    return f"{(current_app.config.get('MAX_WALLET_BYTES') or 0) / (1024 * 1024):g}"


def _verify_form(message: str | None = None, status: int = HTTPStatus.OK) -> Response:
    page = render_template(
        "verify.html",
        message=message,
        pasted=request.form.get("credential"),
        limit_mb=_limit_mb(),
    )
    return make_response(page, status)


@bp.get("/verify")
def verify() -> Response:
    """Verify a credential by uploading its file, pasting it, or scanning its QR code."""
    return _verify_form()


@bp.post("/verify")
@limited(VERIFY)
def verify_submission() -> ResponseReturnValue:
    """Verify an uploaded or pasted credential, or open the page behind a pasted verify URL."""
    upload = request.files.get("file")
    data: bytes | str = upload.read() if upload is not None and upload.filename else b""
    if not data:
        text = request.form.get("credential", "").strip()
        if not text:
            return _verify_form("empty", HTTPStatus.UNPROCESSABLE_ENTITY)
        if (public_id := public_id_in(text)) is not None:
            if backend().lookup(public_id) is None:
                return _verify_form("unknown-id", HTTPStatus.NOT_FOUND)
            return redirect(url_for(".credential", public_id=public_id), HTTPStatus.SEE_OTHER)
        if re.match(r"^https?://", text, re.IGNORECASE):
            # Never fetch what a visitor points at; a link elsewhere is opened there.
            return _verify_form("foreign-link")
        data = text
    email = request.form.get("email", "").strip()
    if len(email) > MAX_EMAIL_LENGTH:
        email = ""
    found = verify_any(data)
    tally(found, "upload")
    if isinstance(found, WalletResult):
        return make_response(_wallet_page(found, email), HTTPStatus.OK)
    page = render_template(
        "credential.html",
        **_result_context(found, None),
        recipient=_recipient_answer(found.credential, email),
        max_email=MAX_EMAIL_LENGTH,
    )
    return make_response(page, HTTPStatus.OK)


def _recipient_answer(credential: Mapping[str, Any] | None, email: str) -> str | None:
    """ "yes", "no" or "no-identity" for an e-mail the employer typed; None when none was."""
    if not email or credential is None:
        return None
    return {True: "yes", False: "no", None: "no-identity"}[belongs_to(credential, email)]


def _wallet_page(found: WalletResult, email: str = "") -> str:
    """One row per credential of a wallet: its verdict, what it is, and why if not valid."""
    rows = [
        {
            "label": entry.label,
            "result": entry.result,
            "view": describe(entry.result.credential) if entry.result.credential else None,
            "reason": _deciding_check(entry.result),
            "recognised": (check := entry.result.check("issuer")) is not None
            and check.outcome == Outcome.PASSED,
            "recipient": _recipient_answer(entry.result.credential, email),
        }
        for entry in found.entries
    ]
    envelope = found.envelope
    return render_template(
        "wallet_report.html",
        found=found,
        rows=rows,
        valid_count=sum(1 for row in rows if row["result"].verified),
        bad=any(row["result"].verdict in (Verdict.INVALID, Verdict.REVOKED) for row in rows),
        envelope=envelope,
        envelope_reason=_deciding_check(envelope) if envelope is not None else None,
    )


# -- errors, as pages in the same layout (or problem JSON for API clients) ---------------------


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    """A friendly page for 404, 413, a missing CSRF token (400) and every other HTTP error."""
    status = error.code or HTTPStatus.INTERNAL_SERVER_ERROR
    if _prefers_json():
        body = ProblemSchema().dump(
            {
                "code": "private"
                if isinstance(error, HolderMadePrivate)
                else (error.name or "error").lower().replace(" ", "-"),
                "title": HTTPStatus(status).phrase,
                "detail": error.description or "",
                "status": status,
            }
        )
        return make_response(body, status, {"Content-Type": "application/problem+json"})
    page = render_template(
        "error.html",
        status=status,
        csrf=isinstance(error, CSRFError),
        private=isinstance(error, HolderMadePrivate),
        limit_mb=_limit_mb(),
        title=HTTPStatus(status).phrase,
    )
    return make_response(page, status)
