"""The worker's page behind a claim link: their credential, its verify page and its files.

(The wallet issue grows this into every credential of the worker, across centres.) The
token is in the URL, so the page is never cached, never indexed and sends no referrer.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from flask import Blueprint, Response, current_app, make_response, render_template

from . import claims
from .clock import utcnow
from .db import db

bp = Blueprint("worker", __name__, template_folder="templates")


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.get("/claim/<token>")
def claim(token: str) -> Response:
    """Show the worker the credential this link opens."""
    record = claims.credential_for_claim(db(), token, now=utcnow())
    if record is None:
        page = render_template("claim_gone.html")
        return _private(make_response(page, HTTPStatus.NOT_FOUND))
    document = json.loads(record.document)
    page = render_template(
        "claim.html",
        record=record,
        achievement=document["credentialSubject"]["achievement"],
        verify_url=f"{current_app.config['PUBLIC_URL']}/v/{record.public_id}",
    )
    return _private(make_response(page))
