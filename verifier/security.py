"""CSRF protection, proxy handling, cookie flags and security headers, shared by both apps.

Behind a reverse proxy (``TESSERA_PROXY_HOPS`` > 0) the client address and scheme come from
the ``X-Forwarded-For`` and ``X-Forwarded-Proto`` headers that many proxies set; with no proxy
(the default) those headers are ignored, since anyone could send them to pose as another
address and so escape the rate limits. The host is never taken from ``X-Forwarded-Host``: the
proxy passes ``Host`` on, and every link we publish is built from ``TESSERA_PUBLIC_URL``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

csrf = CSRFProtect()

#: The most proxies in front of the app that ``TESSERA_PROXY_HOPS`` may name.
MAX_PROXY_HOPS = 5

# Pages use only our own scripts, styles and images; nothing is loaded from elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
#: Two years, subdomains included: what the HSTS preload list asks for.
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"


def defaults() -> dict[str, Any]:
    # 0: not behind a proxy; N: trust the last N entries of X-Forwarded-For/-Proto.
    return {"PROXY_HOPS": 0}


def finalize(config: dict[str, Any]) -> None:
    """Validate the proxy setting.

    Raises:
        ValueError: naming the malformed setting (re-raised as the app's ConfigurationError).
    """
    hops = config.get("PROXY_HOPS")
    if not isinstance(hops, int) or isinstance(hops, bool) or not 0 <= hops <= MAX_PROXY_HOPS:
        raise ValueError(
            f"TESSERA_PROXY_HOPS must be the number of reverse proxies in front of the app, "
            f"0 to {MAX_PROXY_HOPS} (0: none; 1: e.g. nginx on the same machine)"
        )


def _https_site() -> bool:
    return str(current_app.config["PUBLIC_URL"]).startswith("https://")


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # same-origin: our own form posts carry a Referer (flask-wtf's HTTPS CSRF check needs
    # it), while verify links never leak to other sites.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Permissions-Policy", "camera=(self), geolocation=()")
    # Browsers ignore HSTS over plain HTTP, so it is sent only where it means something.
    if request.is_secure or _https_site():
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    return response


def _cookie_flags(app: Flask) -> None:
    """Session (which holds the CSRF token) and language cookies: HttpOnly, SameSite=Lax, and
    Secure on an https site (verifier.i18n reads SESSION_COOKIE_SECURE for its cookie)."""
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=str(app.config["PUBLIC_URL"]).startswith("https://"),
    )


def init_app(app: Flask) -> None:
    """CSRF on every form (JSON APIs exempt themselves), ProxyFix when behind a proxy, cookie
    flags, security headers on every response."""
    hops = app.config["PROXY_HOPS"]
    if hops:
        # Only as many hops as there are proxies: one more would trust what the client sent.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0)  # type: ignore[method-assign]
    _cookie_flags(app)
    csrf.init_app(app)
    app.after_request(_headers)
