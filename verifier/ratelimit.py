"""Rate limits on what is worth attacking: staff sign-in, public verification, issuing.

Counted by Flask-Limiter in the storage ``TESSERA_RATELIMIT_STORAGE_URL`` names (by default the
Redis of ``TESSERA_REDIS_URL``, else this process's memory), so every process behind one load
balancer shares one count. Clients are told apart by their address as ProxyFix leaves it
(``verifier.security``), API clients by their bearer token, sign-in attempts also by the
account they try.

Views are marked with ``limited(RULE)`` at import time; ``init_app`` gives each app its own
Limiter (its own storage and settings) and wraps the marked views of that app only. Public
documents that CDNs cache (``/v/<id>`` pages, static files, status lists, DID documents) carry
no mark and are never limited.

When the storage stops answering, every limit keeps counting in this process's memory until
it answers again (Flask-Limiter's in-memory fallback; it logs the switch once, and the
recovery): neither open (no brute-force protection while Redis is down) nor closed (nobody
could sign in or verify because a cache server failed).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, make_response, render_template, request, url_for
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse_many
from limits.errors import StorageError
from werkzeug.exceptions import HTTPException

from .problems import problem

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: Settings (``TESSERA_`` + name) and their defaults; a limit is ``N/period`` items joined by ``;``.
SETTINGS: dict[str, Any] = {
    "RATELIMIT_ENABLED": True,
    # Where counts live: memory:// (this process only) or a Redis URL; default: REDIS_URL.
    "RATELIMIT_STORAGE_URL": None,
    # Prepended to every key, so several instances can share one Redis.
    "RATELIMIT_KEY_PREFIX": "tessera",
    # Failed staff sign-ins per client address, and per account (e-mail address) tried.
    "LOGIN_RATE_LIMIT": "10/minute;50/hour",
    "LOGIN_ACCOUNT_RATE_LIMIT": "5/minute;20/hour",
    # Verifications (API, upload/paste page, recipient check, job match) per client address.
    "VERIFY_RATE_LIMIT": "60/minute;1000/hour",
    # Issuing requests per API token.
    "ISSUE_RATE_LIMIT": "300/minute",
}
LIMIT_SETTINGS = (
    "LOGIN_RATE_LIMIT",
    "LOGIN_ACCOUNT_RATE_LIMIT",
    "VERIFY_RATE_LIMIT",
    "ISSUE_RATE_LIMIT",
)
STORAGE_SCHEMES = ("memory", "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")
#: A Redis that does not answer within this many seconds counts as down (then: memory).
REDIS_TIMEOUT = 0.5

_MARK = "tessera_rate_limits"
_ENDPOINTS = "tessera.rate_limited_endpoints"
LIMITER = "tessera.limiter"


# -- who is counted -------------------------------------------------------------------------


def client_address() -> str:
    """The client's address after ProxyFix; an IPv6 client by its /64.

    One IPv6 subscriber usually holds a whole /64, so counting single addresses would let
    them switch address per request.
    """
    address = request.remote_addr or ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _digest(value: str) -> str:
    # Keys end up in Redis: store a digest, never an e-mail address or a token.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def account_tried() -> str:
    """The account a sign-in form names (its e-mail address, case-insensitive, as a digest)."""
    return "account:" + _digest(request.form.get("email", "").strip().casefold())


def api_token() -> str:
    """The bearer token presented (as a digest); the client address when there is none."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and presented.strip():
        return "token:" + _digest(presented.strip())
    return "address:" + client_address()


def _sign_in_failed(response: Response) -> bool:
    return response.status_code == HTTPStatus.UNAUTHORIZED


# -- the rules ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One limit: its setting, the counter it shares across endpoints, and whom it counts."""

    setting: str
    scope: str
    key: Callable[[], str]
    #: What is counted, for messages: "… too many {what} …".
    what: str
    methods: tuple[str, ...] | None = None
    #: Count only the requests whose response this accepts (e.g. failed sign-ins).
    counts: Callable[[Response], bool] | None = None


LOGIN_BY_ADDRESS = Rule(
    "LOGIN_RATE_LIMIT",
    "login-address",
    client_address,
    "failed sign-in attempts from your network",
    methods=("POST",),
    counts=_sign_in_failed,
)
LOGIN_BY_ACCOUNT = Rule(
    "LOGIN_ACCOUNT_RATE_LIMIT",
    "login-account",
    account_tried,
    "failed sign-in attempts for this account",
    methods=("POST",),
    counts=_sign_in_failed,
)
VERIFY = Rule("VERIFY_RATE_LIMIT", "verify", client_address, "checks from your network")
ISSUE = Rule("ISSUE_RATE_LIMIT", "issue", api_token, "issuing requests with this API token")
RULES = {rule.scope: rule for rule in (LOGIN_BY_ADDRESS, LOGIN_BY_ACCOUNT, VERIFY, ISSUE)}


def limited(*rules: Rule) -> Callable[[F], F]:
    """Mark a view to be counted under ``rules`` in every app that registers it."""

    def mark(view: F) -> F:
        setattr(view, _MARK, (*getattr(view, _MARK, ()), *rules))
        return view

    return mark


def limit_endpoint(app: Flask, endpoint: str, *rules: Rule) -> None:
    """Count ``endpoint`` under ``rules`` in ``app`` (for views defined in another package)."""
    marked: dict[str, tuple[Rule, ...]] = app.extensions.setdefault(_ENDPOINTS, {})
    marked[endpoint] = (*marked.get(endpoint, ()), *rules)


# -- settings -------------------------------------------------------------------------------


def defaults() -> dict[str, Any]:
    return dict(SETTINGS)


def finalize(config: dict[str, Any]) -> None:
    """Validate the rate-limit settings and choose the storage.

    Raises:
        ValueError: naming the malformed setting (the app factories re-raise it as their
            ConfigurationError).
    """
    if not isinstance(config.get("RATELIMIT_ENABLED"), bool):
        raise ValueError("TESSERA_RATELIMIT_ENABLED must be true or false")
    for name in LIMIT_SETTINGS:
        value = config.get(name)
        try:
            if not isinstance(value, str) or not parse_many(value):
                raise ValueError(value)
        except ValueError as e:
            raise ValueError(
                f"TESSERA_{name} must be limits such as 10/minute;50/hour (got {value!r})"
            ) from e
    prefix = config.get("RATELIMIT_KEY_PREFIX")
    if not isinstance(prefix, str) or not prefix.isascii() or not prefix.isprintable():
        raise ValueError("TESSERA_RATELIMIT_KEY_PREFIX must be printable ASCII text")
    config["RATELIMIT_STORAGE_URL"] = _storage_url(config)
    if (
        config.get("ENV") == "production"
        and config["RATELIMIT_ENABLED"]
        and config["RATELIMIT_STORAGE_URL"] == "memory://"
    ):
        log.warning(
            "rate limits are counted per process (no TESSERA_REDIS_URL or "
            "TESSERA_RATELIMIT_STORAGE_URL): with several processes each one allows the full limit"
        )


def _storage_url(config: Mapping[str, Any]) -> str:
    url = config.get("RATELIMIT_STORAGE_URL") or config.get("REDIS_URL") or "memory://"
    if not isinstance(url, str):
        raise ValueError("TESSERA_RATELIMIT_STORAGE_URL must be memory:// or a Redis URL")
    if url.startswith("unix://"):
        url = "redis+unix://" + url.removeprefix("unix://")  # limits' name for a Redis socket
    if urlsplit(url).scheme not in STORAGE_SCHEMES:
        raise ValueError(
            "TESSERA_RATELIMIT_STORAGE_URL must be memory:// or a Redis URL such as "
            "redis://127.0.0.1:6379/1"
        )
    return url


# -- the app --------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """This app's limiter and the limits on its marked views; call after every blueprint."""
    config = app.config
    if not config["RATELIMIT_ENABLED"]:
        return
    storage = config["RATELIMIT_STORAGE_URL"]
    options: dict[str, Any] = {"wrap_exceptions": True}
    if storage != "memory://":
        # A Redis that hangs must not hang sign-in: time out, then count in memory.
        options |= {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT}
    limiter = Limiter(
        key_func=client_address,
        storage_uri=storage,
        storage_options=options,
        # Two counters per key (this window's and the last one's, weighted): constant work per
        # request whatever the limit, unlike a moving window's list of every request, and no
        # double burst at a window boundary as with fixed windows.
        strategy="sliding-window-counter",
        key_prefix=config["RATELIMIT_KEY_PREFIX"],
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        headers_enabled=False,
    )
    limiter.init_app(app)
    app.extensions[LIMITER] = limiter
    explicit: dict[str, tuple[Rule, ...]] = app.extensions.get(_ENDPOINTS, {})
    for endpoint, view in list(app.view_functions.items()):
        rules = (*getattr(view, _MARK, ()), *explicit.get(endpoint, ()))
        if rules:
            app.view_functions[endpoint] = _limit(limiter, view, rules, config)
    app.register_error_handler(RateLimitExceeded, too_many_requests)


def _limit(
    limiter: Limiter, view: Callable[..., Any], rules: tuple[Rule, ...], config: Mapping[str, Any]
) -> Callable[..., Any]:
    for rule in dict.fromkeys(rules):
        view = limiter.shared_limit(
            config[rule.setting],
            scope=rule.scope,
            key_func=rule.key,
            methods=list(rule.methods) if rule.methods else None,
            deduct_when=rule.counts,
        )(view)
    return view


# -- the answer -----------------------------------------------------------------------------


def _seconds_to_wait(error: RateLimitExceeded) -> int:
    limiter: Limiter = current_app.extensions[LIMITER]
    breached = limiter.current_limit
    try:
        if breached is not None:
            return max(1, math.ceil(breached.window.reset_time - time.time()))
    except StorageError as e:
        log.info("rate limit reset time unknown (%s); telling the client the whole window", e)
    return max(1, int(error.limit.limit.get_expiry()))


def _is_form_post() -> bool:
    """A browser's form submission, answered with a page rather than problem details."""
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return False
    best = request.accept_mimetypes.best_match(
        ["text/html", "application/problem+json", "application/json"], default="text/html"
    )
    return best == "text/html"


def _back() -> str:
    """Where the page's button leads: the form the request came from, else the verify page."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    try:
        adapter.match(request.path, method="GET")
    except HTTPException:
        return url_for("pages.verify")
    return request.path


def too_many_requests(error: RateLimitExceeded) -> Response:
    """429 with Retry-After: a page for a browser's form, problem details for API clients."""
    seconds = _seconds_to_wait(error)
    minutes = math.ceil(seconds / 60)
    rule = RULES.get(str(error.limit.scope))
    what = rule.what if rule else "requests"
    if _is_form_post():
        page = render_template(
            "rate_limited.html", scope=rule.scope if rule else "", minutes=minutes, back=_back()
        )
        response = make_response(page, HTTPStatus.TOO_MANY_REQUESTS)
    else:
        wait = f"{seconds} seconds" if seconds < 120 else f"{minutes} minutes"
        body, status, headers = problem(
            "too-many-requests",
            f"too many {what}; try again in {wait}",
            int(HTTPStatus.TOO_MANY_REQUESTS),
        )
        response = make_response(body, status, headers)
    response.headers["Retry-After"] = str(seconds)
    response.headers["Cache-Control"] = "no-store"
    return response


def openapi_429(counted: str) -> dict[str, Any]:
    """The OpenAPI response of a limited operation; ``counted`` says per what it is counted."""
    return {
        "description": f"too many requests ({counted}): try again after Retry-After seconds",
        "headers": {
            "Retry-After": {
                "description": "seconds to wait before trying again",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "content": {"application/problem+json": {"schema": "Problem"}},
    }
