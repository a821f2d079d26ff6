"""Public verify pages: the QR target /v/<id>, QR images, and verify by upload or paste."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/verifier")
