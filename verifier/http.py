"""The one guarded HTTP client through which the verifier fetches anything remote.

What the verifier fetches (a did:web document, a JWKS, a status list) is named by the
credential it is checking, that is by a stranger. Fetching it naively is server-side
request forgery: the stranger points us at ``http://169.254.169.254/`` or ``localhost:6379``
and reads or pokes our network through the verifier. So every remote read goes through
:class:`GuardedHttpClient`, which follows the OWASP SSRF prevention rules
(https://cheatsheetseries.owasp.org/cheatsheets/Server_Side_Request_Forgery_Prevention_Cheat_Sheet.html):

- https only (http only when configured), no user name or password in the URL, an optional
  allowlist of host names;
- the host is resolved once and *every* address must be globally routable; the connection
  is then made to that vetted address, so a DNS answer that changes between the check and
  the connect (DNS rebinding) cannot redirect the request;
- one deadline for the whole exchange (name lookup, connect, TLS, headers, body), a size cap
  read before it is exceeded, redirects only within the same origin and re-vetted;
- no proxies from the environment, no cookies, no credentials, no compression.

Nothing here logs a response body.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from credentials.errors import UnresolvableKeyError
from credentials.limits import MAX_JSON_DEPTH, nesting_within

logger = logging.getLogger(__name__)

USER_AGENT = "Tessera-Verifier/0.1"
DEFAULT_MAX_BYTES = 1_048_576
MAX_URL_LENGTH = 2048
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"https": 443, "http": 80}
_CHUNK = 65_536
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*"
)
_MAX_AGE = re.compile(r"max-age\s*=\s*\"?([0-9]{1,10})\"?", re.IGNORECASE)
# Networks that embed an IPv4 address which is what a connection really reaches.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
SockAddr = tuple[Any, ...]


class FetchError(UnresolvableKeyError):
    """A remote document could not be fetched, or fetching it was refused.

    A subclass of :class:`UnresolvableKeyError`: when the key or status behind it cannot be
    fetched, the verifier says "could not check", never "invalid" nor "not revoked".
    """

    code = "fetch-failed"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True, slots=True)
class Fetched:
    """A successful (2xx) response: the final URL after redirects, headers and body.

    ``headers`` has lower-cased names; repeated headers are joined with ``", "``.
    """

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    fetched_at: datetime

    def json(self, *, max_depth: int = MAX_JSON_DEPTH, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
        """Parse the body as JSON (RFC 8259: UTF-8, no ``NaN``).

        Raises:
            FetchError: the body is larger than ``max_bytes``, is not JSON, or is nested
                deeper than ``max_depth``.
        """
        if len(self.body) > max_bytes:
            raise FetchError(f"the response from {self.url} is larger than {max_bytes:,} bytes")
        try:
            text = self.body.decode("utf-8-sig")
            value = json.loads(text, parse_constant=_refuse_constant)
        except UnicodeDecodeError as e:
            raise FetchError(f"the response from {self.url} is not JSON: not UTF-8") from e
        except json.JSONDecodeError as e:
            raise FetchError(
                f"the response from {self.url} is not JSON: {e.msg} at line {e.lineno}, "
                f"column {e.colno}"
            ) from e
        except RecursionError as e:
            raise FetchError(
                f"the response from {self.url} is JSON nested deeper than {max_depth} levels"
            ) from e
        except ValueError as e:  # NaN/Infinity, or an integer too long to convert
            raise FetchError(f"the response from {self.url} is not JSON: {e}") from e
        if not nesting_within(value, max_depth):
            raise FetchError(
                f"the response from {self.url} is JSON nested deeper than {max_depth} levels"
            )
        return value

    def max_age(self) -> int | None:
        """Seconds the response may be reused for, from ``Cache-Control``.

        ``None`` when the response says nothing; ``0`` for ``no-store``, ``no-cache`` or a
        ``max-age`` that cannot be read (RFC 9111 §4.2.1: treat it as stale).
        """
        value = self.headers.get("cache-control")
        if value is None:
            return None
        directives = [d.strip() for d in value.split(",") if d.strip()]
        names = {d.partition("=")[0].strip().lower() for d in directives}
        if names & {"no-store", "no-cache"}:
            return 0
        if "max-age" not in names:
            return None
        for directive in directives:
            match = _MAX_AGE.fullmatch(directive)
            if match:
                return int(match.group(1))
        return 0


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, what goes on the request line

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = _DEFAULT_PORTS[self.scheme] == self.port
        netloc = host if default else f"{host}:{self.port}"
        path, _, query = self.path.partition("?")
        return urlunsplit((self.scheme, netloc, path, query, ""))


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._expires = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left. Raises FetchError once the deadline has passed."""
        left = self._expires - time.monotonic()
        if left <= 0:
            raise self.error()
        return left

    def error(self) -> FetchError:
        return FetchError(f"timed out after {self.seconds:g} s")


class _Watchdog:
    """Shuts a connection's socket down at the deadline.

    Socket timeouts bound each read, not their sum: a server dripping one byte a second
    would never trip them. Shutting the socket down wakes whatever read is blocked.
    """

    def __init__(
        self, connection: _PinnedHTTPConnection | _PinnedHTTPSConnection, seconds: float
    ) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self._finished = False
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._finished = True
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.fired = True
            # Not connection.sock: http.client drops that once the response owns the socket.
            sock = self._connection.pinned
            if sock is not None:
                # The plain socket's shutdown, also for TLS: SSLSocket.shutdown would drop
                # its SSL object under the reading thread's feet.
                with contextlib.suppress(OSError):  # already closed: nothing to cut
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _connect_pinned(addresses: list[tuple[int, SockAddr]], timeout: float) -> socket.socket:
    """Connect to one of the vetted addresses, in order. No name is looked up here."""
    last: OSError | None = None
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as e:
            sock.close()
            last = e
            continue
        return sock
    raise last or OSError("no address to connect to")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to an address vetted beforehand; ``host`` is only the ``Host`` header."""

    def __init__(
        self, host: str, port: int, *, addresses: list[tuple[int, SockAddr]], timeout: float
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses
        self._connect_timeout = timeout
        self.pinned: socket.socket | None = None

    def connect(self) -> None:
        self.sock = self.pinned = _connect_pinned(self._addresses, self._connect_timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address vetted beforehand; ``host`` is the SNI name the certificate must
    match and the ``Host`` header."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: list[tuple[int, SockAddr]],
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._addresses = addresses
        self._tls_context = context
        self._connect_timeout = timeout
        self.pinned: socket.socket | None = None

    def connect(self) -> None:
        raw = _connect_pinned(self._addresses, self._connect_timeout)
        try:
            tls = self._tls_context.wrap_socket(
                raw, server_hostname=self.host, do_handshake_on_connect=False
            )
        except BaseException:
            raw.close()
            raise
        # Set before the handshake so the watchdog can cut a handshake that never ends.
        self.sock = self.pinned = tls
        tls.do_handshake()


def _not_public(address: Address) -> str | None:
    """Why connecting to ``address`` could reach something private, or None if it cannot."""
    embedded: ipaddress.IPv4Address | None = None
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and any(address in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if embedded is not None:
        reason = _classify(embedded)
        if reason:
            return f"{reason} (it embeds the IPv4 address {embedded})"
    return _classify(address)


def _classify(address: Address) -> str | None:
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if not address.is_global:
        return "not a globally routable address"
    return None


AddrInfo = list[tuple[Any, Any, Any, Any, Any]]


def _lookup(host: str, port: int, deadline: _Deadline) -> AddrInfo:
    """Resolve ``host`` once, within the deadline.

    An IP literal (in any form the C library accepts, such as ``2130706433``) is parsed
    without touching DNS; a name is looked up on a helper thread because ``getaddrinfo``
    itself cannot be given a timeout.
    """
    try:
        return socket.getaddrinfo(
            host,
            port,
            type=socket.SOCK_STREAM,
            proto=socket.IPPROTO_TCP,
            flags=socket.AI_NUMERICHOST,
        )
    except socket.gaierror as e:
        if _is_ip_literal(host):
            # An address the C library will not take (a bad IPv6 zone): never send to DNS.
            raise FetchError(f"refused: {host} is not a usable address") from e
    result: AddrInfo = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.extend(
                socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
            )
        except (OSError, UnicodeError) as e:
            failure.append(e)

    thread = threading.Thread(target=run, name=f"tessera-dns-{host}", daemon=True)
    thread.start()
    thread.join(deadline.remaining())
    if thread.is_alive():
        raise FetchError(f"timed out after {deadline.seconds:g} s looking up {host}")
    if failure:
        raise FetchError(f"{host} could not be looked up: {failure[0]}") from failure[0]
    return result


class GuardedHttpClient:
    """Fetches remote documents for the verifier, refusing anything that could reach inside.

    Args:
        allowed_hosts: only these host names may be fetched; ``None`` allows any public host.
        timeout: seconds for the whole fetch, redirects included.
        max_bytes: the largest body accepted.
        max_redirects: redirects followed (same scheme, host and port only).
        allow_http: also fetch ``http://`` URLs.
        allow_private: permit loopback and private addresses.

            .. warning:: For tests only. With it, a credential can make the verifier
               request any address on its network.
        ssl_context: the TLS context (tests pass one trusting their own CA); by default the
            system's trust store with certificate and host name checks.
        clock: returns the aware time stamped on each response.

    The client is stateless and may be shared between threads.
    """

    def __init__(
        self,
        *,
        allowed_hosts: frozenset[str] | None = None,
        timeout: float = 5.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_redirects: int = 3,
        allow_http: bool = False,
        allow_private: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        if max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        self.allowed_hosts = (
            None
            if allowed_hosts is None
            else frozenset(h.lower().removesuffix(".") for h in allowed_hosts)
        )
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.allow_http = allow_http
        self.allow_private = allow_private
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._clock = clock

    def get(self, url: str, *, accept: str) -> Fetched:
        """GET ``url`` and return the 2xx response.

        Raises:
            FetchError: the URL or an address it resolves to is refused, the fetch failed or
                timed out, the body is too large, a redirect leaves the origin or there are
                too many, or the final status is not 2xx. The message says which.
        """
        if not accept or not accept.isascii() or any(c in accept for c in "\r\n\0"):
            raise ValueError("accept must be a single-line ASCII media range")
        deadline = _Deadline(self.timeout)
        target = self._check_url(url)
        redirects = 0
        while True:
            addresses = self._vet(target, deadline)
            status, headers, body = self._exchange(target, addresses, accept, deadline)
            logger.debug("GET %s -> HTTP %d", target.url, status)
            if status in REDIRECT_STATUSES:
                if redirects >= self.max_redirects:
                    raise FetchError(
                        f"refused: more than {self.max_redirects} redirects, starting at {url}"
                    )
                redirects += 1
                target = self._redirect(target, headers.get("location"), status)
                continue
            if not 200 <= status < 300:
                raise FetchError(f"HTTP {status} from {target.url}")
            return Fetched(
                url=target.url,
                status=status,
                headers=MappingProxyType(headers),
                body=body,
                fetched_at=self._clock(),
            )

    def _check_url(self, url: str) -> _Target:
        """Everything that can be refused from the URL alone, before any lookup."""
        if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
            raise FetchError(f"refused: the URL is longer than {MAX_URL_LENGTH:,} characters")
        if not url.isascii() or any(c <= " " or c == "\x7f" for c in url):
            raise FetchError("refused: the URL contains spaces, control or non-ASCII characters")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "http" and not self.allow_http:
            raise FetchError(f"refused: {url} is not https")
        if scheme not in _DEFAULT_PORTS:
            raise FetchError(f"refused: only https URLs are fetched, not {url[:80]!r}")
        if "@" in parts.netloc:
            raise FetchError("refused: the URL carries a user name or password")
        host = (parts.hostname or "").removesuffix(".")
        if not host:
            raise FetchError(f"refused: {url} names no host")
        if not _is_ip_literal(host) and not _HOSTNAME.fullmatch(host):
            raise FetchError(f"refused: {host!r} is not a valid host name")
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError as e:
            raise FetchError("refused: the URL's port is not a number from 1 to 65535") from e
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            raise FetchError(f"refused: {host} is not on the verifier's list of allowed hosts")
        path = parts.path or "/"
        return _Target(scheme, host, port, f"{path}?{parts.query}" if parts.query else path)

    def _vet(self, target: _Target, deadline: _Deadline) -> list[tuple[int, SockAddr]]:
        """Resolve the host once; every address must be public (unless allow_private)."""
        infos = _lookup(target.host, target.port, deadline)
        addresses: list[tuple[int, SockAddr]] = []
        for family, _type, _proto, _name, sockaddr in infos:
            text = str(sockaddr[0])
            try:
                address = ipaddress.ip_address(text)
            except ValueError as e:
                raise FetchError(f"refused: {target.host} resolves to {text!r}") from e
            reason = None if self.allow_private else _not_public(address)
            if reason:
                if _is_ip_literal(target.host):
                    raise FetchError(f"refused: {address} is {reason}")
                raise FetchError(f"refused: {target.host} resolves to {address}, {reason}")
            if (family, sockaddr) not in addresses:
                addresses.append((family, sockaddr))
        if not addresses:
            raise FetchError(f"{target.host} has no address")
        return addresses

    def _exchange(
        self,
        target: _Target,
        addresses: list[tuple[int, SockAddr]],
        accept: str,
        deadline: _Deadline,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on one pinned connection; the body is read only for a 2xx."""
        timeout = deadline.remaining()
        connection: _PinnedHTTPConnection | _PinnedHTTPSConnection
        if target.scheme == "https":
            connection = _PinnedHTTPSConnection(
                target.host,
                target.port,
                addresses=addresses,
                timeout=timeout,
                context=self._ssl_context,
            )
        else:
            connection = _PinnedHTTPConnection(
                target.host, target.port, addresses=addresses, timeout=timeout
            )
        watchdog = _Watchdog(connection, timeout)
        response: http.client.HTTPResponse | None = None
        try:
            with watchdog:
                # No cookies, no Authorization, no proxy: http.client adds none by itself.
                connection.request(
                    "GET",
                    target.path,
                    headers={"Accept": accept, "User-Agent": USER_AGENT, "Connection": "close"},
                )
                response = connection.getresponse()
                headers = _headers(response)
                body = b""
                if 200 <= response.status < 300:
                    body = self._read_body(response, headers, target, deadline)
                return response.status, headers, body
        except FetchError:
            raise
        except (TimeoutError, OSError, http.client.HTTPException) as e:
            if watchdog.fired or isinstance(e, TimeoutError):
                raise deadline.error() from e
            raise FetchError(_describe(e, target)) from e
        finally:
            # The response holds the socket after http.client lets go of it: close both.
            if response is not None:
                response.close()
            connection.close()

    def _read_body(
        self,
        response: http.client.HTTPResponse,
        headers: Mapping[str, str],
        target: _Target,
        deadline: _Deadline,
    ) -> bytes:
        too_large = FetchError(
            f"refused: the response from {target.url} is larger than {self.max_bytes:,} bytes"
        )
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            # We ask for identity; decompressing what we did not ask for invites bombs.
            raise FetchError(f"refused: the response from {target.url} is {encoding}-encoded")
        declared = headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise too_large
        chunks: list[bytes] = []
        received = 0
        while True:
            deadline.remaining()
            chunk = response.read1(min(_CHUNK, self.max_bytes + 1 - received))
            if not chunk:
                break
            received += len(chunk)
            if received > self.max_bytes:
                raise too_large
            chunks.append(chunk)
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if declared.isdigit() and not chunked and received < int(declared):
            raise FetchError(f"the response from {target.url} ended early")
        return b"".join(chunks)

    def _redirect(self, current: _Target, location: str | None, status: int) -> _Target:
        if not location:
            raise FetchError(f"HTTP {status} from {current.url} without a Location")
        new_url = urljoin(current.url, location.strip())
        parts = urlsplit(new_url)
        host = (parts.hostname or "").removesuffix(".")
        if host != current.host:
            raise FetchError(
                f"redirect to another host refused: {current.host} sent us to {host or new_url!r}"
            )
        target = self._check_url(new_url)
        if target.origin != current.origin:
            raise FetchError(
                f"redirect to another scheme or port refused: {current.url} sent us to {target.url}"
            )
        return target


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _headers(response: http.client.HTTPResponse) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in response.getheaders():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _describe(error: OSError | http.client.HTTPException, target: _Target) -> str:
    where = f"{target.host}:{target.port}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"the TLS certificate of {where} was not accepted: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        return f"TLS with {where} failed: {error.reason or error}"
    if isinstance(error, ConnectionRefusedError):
        return f"could not connect to {where}: connection refused"
    if isinstance(error, http.client.HTTPException):
        return f"{where} sent a malformed HTTP response ({type(error).__name__})"
    return f"could not fetch from {where}: {getattr(error, 'strerror', None) or error}"
