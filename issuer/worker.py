"""The worker's wallet pages: a claim link or a one-time e-mail link opens them.

The browser holds a random wallet token in the signed session cookie (stored here hashed);
every page and download is scoped to that wallet's e-mail address (and, for a claim link, to
the centre that issued it). Private pages: never cached, never indexed, no referrer. Views are
thin: read the request, call one function of ``wallet``, answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from http import HTTPStatus
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound

from credentials import portable
from verifier import backend as verifier_backend
from verifier import matching
from verifier.messages import N_, Message
from verifier.qr import qr_png
from verifier.ratelimit import VERIFY, limited

from . import certificate, pathways, profiles, verification, wallet
from .clock import utcnow
from .db import db
from .errors import IssuerError, NotFoundError
from .models import IssuedCredential, WalletSession

bp = Blueprint("worker", __name__, template_folder="templates")

WALLET_KEY = "wallet"
F = TypeVar("F", bound=Callable[..., Any])


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _page(template: str, status: int = HTTPStatus.OK, **context: Any) -> Response:
    return _private(make_response(render_template(template, **context), status))


def _enter(token: str) -> Response:
    session.pop(WALLET_KEY, None)
    session[WALLET_KEY] = token
    session.permanent = True
    return _private(redirect(url_for(".wallet_page"), HTTPStatus.SEE_OTHER))


def wallet_required(view: F) -> F:
    """Open the wallet behind the browser's token, or explain how to get in."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = session.get(WALLET_KEY)
        found = wallet.load_session(db(), token, now=utcnow()) if isinstance(token, str) else None
        if found is None:
            session.pop(WALLET_KEY, None)
            return _page("wallet_closed.html", HTTPStatus.UNAUTHORIZED)
        g.wallet = found
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _wallet() -> WalletSession:
    return g.wallet  # type: ignore[no-any-return]


def _verify_url(record: IssuedCredential) -> str:
    return f"{current_app.config['PUBLIC_URL']}/v/{record.public_id}"


def _own(public_id: str) -> IssuedCredential:
    try:
        return wallet.find_issued(db(), _wallet(), public_id)
    except NotFoundError as e:
        raise NotFound(str(e)) from e


def _download(body: bytes | str, mimetype: str, filename: str) -> Response:
    response = make_response(body)
    response.mimetype = mimetype
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _private(response)


# -- getting in ---------------------------------------------------------------------------------


@bp.get("/claim/<token>")
def claim(token: str) -> Response:
    """A claim link: open the worker's wallet for the credentials this centre issued them."""
    opened = wallet.open_claim(db(), token, now=utcnow())
    if opened is None:
        return _page("claim_gone.html", HTTPStatus.NOT_FOUND)
    return _enter(opened)


@bp.get("/wallet/confirm/<token>")
def confirm_page(token: str) -> Response:
    """The one-time e-mailed link: a page whose button opens every credential of the address.

    Opening the page uses nothing, so a mail scanner that follows the link first does not
    spend it; the worker's press of the button (a POST with a CSRF token) does.
    """
    if not wallet.email_link_usable(db(), token, now=utcnow()):
        return _page("wallet_link_gone.html", HTTPStatus.NOT_FOUND)
    return _page("wallet_confirm.html", token=token)


@bp.post("/wallet/confirm/<token>")
def confirm(token: str) -> Response:
    """Use the one-time link: open every credential issued to the address."""
    opened = wallet.confirm_email(db(), token, now=utcnow())
    if opened is None:
        return _page("wallet_link_gone.html", HTTPStatus.NOT_FOUND)
    return _enter(opened)


@bp.post("/wallet/sign-out")
@wallet_required
def sign_out() -> Response:
    wallet.end_session(db(), session.pop(WALLET_KEY), now=utcnow())
    return _page("wallet_closed.html", HTTPStatus.OK, signed_out=True)


# -- the wallet page ----------------------------------------------------------------------------


def _why_not_portable(record: IssuedCredential) -> portable.NotPortableError | None:
    """None when the credential fits a portable QR code, else why not (the page says it)."""
    try:
        portable.portable_qr_payload(record.jwt)
    except portable.NotPortableError as e:
        return e
    return None


def _wallet_page(status: int = HTTPStatus.OK, **context: Any) -> Response:
    here = _wallet()
    records = wallet.issued_in(db(), here)
    cards = [
        {
            "record": record,
            "achievement": json.loads(record.document)["credentialSubject"]["achievement"],
            "verify_url": _verify_url(record),
            "not_portable": _why_not_portable(record),
        }
        for record in records
    ]
    return _page(
        "wallet.html",
        status,
        wallet=here,
        masked_email=wallet.masked(here.email),
        holder=wallet.holder_name(records),
        cards=cards,
        held=wallet.held_in(db(), here),
        pathways=pathways.progress(
            db(), here.email, now=utcnow(), organisation_id=here.organisation_id
        ),
        limit_mb=f"{current_app.config['MAX_WALLET_BYTES'] / (1024 * 1024):g}",
        max_portable_chars=portable.MAX_PAYLOAD_CHARS,
        **context,
    )


@bp.get("/wallet")
@wallet_required
def wallet_page() -> Response:
    """Every credential in the wallet, with its downloads and its public-link switch."""
    return _wallet_page(notice=request.args.get("notice"))


@bp.post("/wallet/email-link")
@wallet_required
def email_link() -> ResponseReturnValue:
    """E-mail a one-time link that widens the wallet to every centre."""
    try:
        wallet.request_email_proof(db(), current_app.config, _wallet(), now=utcnow())
    except IssuerError as e:
        return _wallet_page(e.status, error=e.said)
    return redirect(url_for(".wallet_page", notice="link-sent"), HTTPStatus.SEE_OTHER)


@bp.post("/wallet/c/<public_id>/public-link")
@wallet_required
def public_link(public_id: str) -> ResponseReturnValue:
    """Turn a credential's public verify page on or off."""
    visible = request.form.get("visible") == "on"
    try:
        wallet.set_public_link(db(), _wallet(), public_id, visible=visible, now=utcnow())
    except NotFoundError as e:
        raise NotFound(str(e)) from e
    notice = "link-shown" if visible else "link-hidden"
    return redirect(
        url_for(".wallet_page", notice=notice, _anchor=f"c-{public_id}"), HTTPStatus.SEE_OTHER
    )


@bp.post("/wallet/import")
@limited(VERIFY)  # it verifies what it is given, as the public check does
@wallet_required
def import_credential() -> ResponseReturnValue:
    """Add a credential issued elsewhere (file or paste): verified first, refused if bad."""
    upload = request.files.get("file")
    data: bytes | str = upload.read() if upload is not None and upload.filename else b""
    if not data:
        data = request.form.get("credential", "").strip()
    host = verifier_backend.backend()
    try:
        outcomes = wallet.import_credentials(
            db(),
            _wallet(),
            data,
            verify=host.verify,
            verify_wallet=host.verify_wallet,
            now=utcnow(),
        )
    except IssuerError as e:
        return _wallet_page(e.status, error=e.said)
    status = HTTPStatus.OK if any(o.added for o in outcomes) else HTTPStatus.UNPROCESSABLE_ENTITY
    return _wallet_page(status, imported=outcomes)


@bp.post("/wallet/pathways/<pathway_id>/request")
@wallet_required
def request_pathway(pathway_id: str) -> ResponseReturnValue:
    """Ask for a pathway credential whose parts the worker holds (an on-request pathway)."""
    here = _wallet()
    try:
        result = pathways.request_award(
            db(),
            current_app.config["KEK_FERNET"],
            pathway_id,
            here.email,
            organisation_id=here.organisation_id,
            public_url=current_app.config["PUBLIC_URL"],
            now=utcnow(),
        )
    except NotFoundError as e:
        raise NotFound(str(e)) from e
    except IssuerError as e:
        return _wallet_page(e.status, error=e.said)
    public_id = result.issued.record.public_id
    return redirect(
        url_for(".wallet_page", notice="pathway-awarded", _anchor=f"c-{public_id}"),
        HTTPStatus.SEE_OTHER,
    )


# -- checking myself against a job --------------------------------------------------------------


def _presented(here: WalletSession) -> list[matching.Presented]:
    """Every credential in the wallet, verified now (the worker's own check: not tallied)."""
    found = [
        matching.Presented(
            label=record.achievement.name, result=verification.verify(json.loads(record.document))
        )
        for record in wallet.issued_in(db(), here)
    ]
    found += [
        matching.Presented(label=held.name, result=verification.verify(held.content))
        for held in wallet.held_in(db(), here)
    ]
    return found


def _match_page(status: int = HTTPStatus.OK, **context: Any) -> Response:
    public_url = current_app.config["PUBLIC_URL"]
    return _page(
        "wallet_match.html",
        status,
        choices=profiles.published(db(), public_url),
        chosen=request.form.get("profile", ""),
        **context,
    )


@bp.get("/wallet/match")
@wallet_required
def match_page() -> Response:
    """Pick a role to check the wallet against."""
    return _match_page()


@bp.post("/wallet/match")
@limited(VERIFY)  # it verifies every credential of the wallet, as the employer's match does
@wallet_required
def match() -> Response:
    """Which tasks of a role the worker's valid credentials show, and training for the rest."""
    session = db()
    public_url = current_app.config["PUBLIC_URL"]
    profile = profiles.find_published(session, public_url, request.form.get("profile", ""))
    if profile is None:
        return _match_page(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            error=Message(N_("Choose one of the roles in the list.")),
        )
    result = matching.match(
        profile,
        _presented(_wallet()),
        offerings_for=lambda task: profiles.offerings(session, public_url, task),
    )
    return _match_page(result=result)


@bp.post("/wallet/held/<int(max=2147483647):held_id>/remove")
@wallet_required
def remove_held(held_id: int) -> ResponseReturnValue:
    try:
        wallet.remove_held(db(), _wallet(), held_id)
    except NotFoundError as e:
        raise NotFound(str(e)) from e
    return redirect(url_for(".wallet_page", notice="removed"), HTTPStatus.SEE_OTHER)


# -- downloads ----------------------------------------------------------------------------------


@bp.get("/wallet/c/<public_id>/credential.json")
@wallet_required
def download_json(public_id: str) -> Response:
    record = _own(public_id)
    body = json.dumps(json.loads(record.document), indent=2, ensure_ascii=False) + "\n"
    return _download(body, "application/json", f"{public_id}.json")


@bp.get("/wallet/c/<public_id>/credential.jwt")
@wallet_required
def download_jwt(public_id: str) -> Response:
    record = _own(public_id)
    return _download(record.jwt + "\n", "text/plain", f"{public_id}.jwt")


@bp.get("/wallet/c/<public_id>/badge.png")
@wallet_required
def download_png(public_id: str) -> Response:
    record = _own(public_id)
    return _download(wallet.baked_png(record, _verify_url(record)), "image/png", "badge.png")


@bp.get("/wallet/c/<public_id>/badge.svg")
@wallet_required
def download_svg(public_id: str) -> Response:
    record = _own(public_id)
    return _download(wallet.baked_svg(record, _verify_url(record)), "image/svg+xml", "badge.svg")


@bp.get("/wallet/c/<public_id>/qr.png")
@wallet_required
def download_qr(public_id: str) -> Response:
    record = _own(public_id)
    response = make_response(qr_png(_verify_url(record)))
    response.mimetype = "image/png"
    return _private(response)


@bp.get("/wallet/c/<public_id>/portable-qr.png")
@wallet_required
def download_portable_qr(public_id: str) -> Response:
    """A QR code carrying the signed credential itself, for checking with no connection."""
    record = _own(public_id)
    try:
        payload = portable.portable_qr_payload(record.jwt)
    except portable.NotPortableError as e:
        raise NotFound(f"this credential has no portable QR code: {e}") from e
    return _download(qr_png(payload), "image/png", f"{public_id}-portable-qr.png")


@bp.get("/wallet/c/<public_id>/certificate")
@wallet_required
def certificate_page(public_id: str) -> Response:
    record = _own(public_id)
    page = wallet.credential_certificate(record, _verify_url(record))
    html = certificate.render_html(page, standalone=False, back_url=url_for(".wallet_page"))
    return _private(make_response(html))


@bp.get("/wallet/c/<public_id>/certificate.pdf")
@wallet_required
def certificate_pdf(public_id: str) -> Response:
    record = _own(public_id)
    page = wallet.credential_certificate(record, _verify_url(record))
    return _download(certificate.render_pdf(page), "application/pdf", "certificate.pdf")


@bp.get("/wallet/held/<int(max=2147483647):held_id>/credential.<form>")
@wallet_required
def download_held(held_id: int, form: str) -> Response:
    try:
        held = wallet.find_held(db(), _wallet(), held_id)
    except NotFoundError as e:
        raise NotFound(str(e)) from e
    if form != held.form:
        raise NotFound(f"this credential is kept as .{held.form}")
    if held.form == "jwt":
        return _download(held.content + "\n", "text/plain", "credential.jwt")
    body = json.dumps(json.loads(held.content), indent=2, ensure_ascii=False) + "\n"
    return _download(body, "application/json", "credential.json")


def _exported(export: Callable[..., Any]) -> Any:
    """Run one of wallet's exports for this wallet; an empty wallet is a 404."""
    try:
        return export(
            db(),
            current_app.config["KEK_FERNET"],
            _wallet(),
            public_url=current_app.config["PUBLIC_URL"],
            now=utcnow(),
        )
    except NotFoundError as e:
        raise NotFound(str(e)) from e


@bp.get("/wallet/wallet.json")
@wallet_required
def export_clr() -> Response:
    """The whole wallet as one CLR 2.0 file, signed by this instance."""
    body = json.dumps(_exported(wallet.export_clr), indent=2, ensure_ascii=False) + "\n"
    return _download(body, "application/json", "wallet.json")


@bp.get("/wallet/wallet.zip")
@wallet_required
def export_zip() -> Response:
    """Every credential in every form, QR codes, printable pages, the CLR and a README."""
    export = _exported(wallet.export_zip)
    return _download(export.content, "application/zip", export.filename)
