"""CSRF protection and security headers, shared by the combined and the standalone apps."""

from __future__ import annotations

from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

# Pages use only our own scripts, styles and images; nothing is loaded from elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # same-origin: our own form posts carry a Referer (flask-wtf's HTTPS CSRF check needs
    # it), while verify links never leak to other sites.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Permissions-Policy", "camera=(self), geolocation=()")
    return response


def init_app(app: Flask) -> None:
    """CSRF on every form (JSON APIs exempt themselves), security headers on every response."""
    csrf.init_app(app)
    app.after_request(_headers)
