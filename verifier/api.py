"""JSON APIs: POST /api/v1/verify and the W3C VC-API verification endpoints."""

from __future__ import annotations

from flask import Blueprint

from .security import csrf

bp = Blueprint("verify_api", __name__)
csrf.exempt(bp)  # token-less JSON API: no cookies are used to authorise anything here
