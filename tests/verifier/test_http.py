"""The guarded HTTP client, against a real HTTPS server on 127.0.0.1.

Refusals of private addresses are checked with literal URLs that are refused before any
socket connects (``no_network`` records any attempt), so no test sends traffic anywhere but
the loopback interface.
"""

from __future__ import annotations

import json
import re
import socket
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from verifier.http import USER_AGENT, Fetched, FetchError, GuardedHttpClient

from .conftest import LocalServer

FETCHED_AT = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
JSON = {"Content-Type": "application/json"}


def local_client(server: LocalServer, **options: Any) -> GuardedHttpClient:
    """A client that may reach the test server: loopback allowed, the test CA trusted."""
    options.setdefault("timeout", 2.0)
    return GuardedHttpClient(
        allow_private=True, ssl_context=server.ssl_context, clock=lambda: FETCHED_AT, **options
    )


def fetched(body: bytes = b"{}", **headers: str) -> Fetched:
    return Fetched(
        url="https://issuer.example/did.json",
        status=200,
        headers={k.replace("_", "-"): v for k, v in headers.items()},
        body=body,
        fetched_at=FETCHED_AT,
    )


def test_fetches_a_document_over_https(https_server):
    https_server.routes["/doc.json"] = (200, JSON | {"Cache-Control": "max-age=60"}, b'{"a": 1}')
    response = local_client(https_server).get(
        https_server.url("/doc.json"), accept="application/json"
    )
    assert response.status == 200
    assert response.url == https_server.url("/doc.json")
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"a": 1}
    assert response.max_age() == 60
    assert response.fetched_at == FETCHED_AT
    sent = https_server.request_headers[0]
    assert sent["user-agent"] == USER_AGENT
    assert sent["accept"] == "application/json"
    assert sent["host"] == f"localhost:{https_server.port}"
    assert not {"cookie", "authorization", "proxy-authorization"} & sent.keys()


def test_the_query_string_is_sent_and_the_fragment_is_not(https_server):
    https_server.routes["/list?page=2"] = (200, JSON, b"[]")
    local_client(https_server).get(https_server.url("/list?page=2#top"), accept="*/*")
    assert https_server.requests == ["/list?page=2"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_is_refused_unless_allowed_and_nothing_connects(https_server, host):
    client = GuardedHttpClient(ssl_context=https_server.ssl_context, timeout=2.0)
    with pytest.raises(FetchError, match=r"refused: .*127\.0\.0\.1.* a loopback address") as e:
        client.get(f"https://{host}:{https_server.port}/doc.json", accept="*/*")
    assert e.value.code == "fetch-failed"
    assert https_server.requests == []
    assert https_server.connections == 0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://10.0.0.5/", "refused: 10.0.0.5 is a private address"),
        ("https://192.168.1.1/did.json", "refused: 192.168.1.1 is a private address"),
        ("https://172.16.0.1/", "refused: 172.16.0.1 is a private address"),
        ("https://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("https://100.64.0.1/", "a shared (carrier-grade NAT) address"),
        ("https://0.0.0.0/", "an unspecified address"),
        ("https://224.0.0.1/", "a multicast address"),
        ("https://[::1]:8443/", "refused: ::1 is a loopback address"),
        (
            "https://[::ffff:127.0.0.1]/",
            "a loopback address (it embeds the IPv4 address 127.0.0.1)",
        ),
        ("https://[::ffff:10.0.0.1]/", "a private address (it embeds the IPv4 address 10.0.0.1)"),
        ("https://[fe80::1]/", "a link-local address"),
        ("https://[fc00::1]/", "a private address"),
        ("https://[2002:a00:1::]/", "embeds the IPv4 address 10.0.0.1"),
        # Spellings the C library reads as IPv4 addresses are vetted as what they mean.
        ("https://0x0a.0.0.1/", "0x0a.0.0.1 resolves to 10.0.0.1, a private address"),
        ("https://2130706433/", "2130706433 resolves to 127.0.0.1, a loopback address"),
        ("https://10.1/", "10.1 resolves to 10.0.0.1, a private address"),
    ],
)
def test_private_addresses_are_refused_before_any_connection(no_network, url, reason):
    with pytest.raises(FetchError, match=re.escape(reason)):
        GuardedHttpClient(timeout=1.0).get(url, accept="*/*")
    assert no_network == []  # refused while vetting: no socket ever tried to connect


def test_an_address_the_host_vetted_is_the_one_connected_to(https_server, monkeypatch):
    """DNS rebinding: a second answer for the same name must never be used."""
    real_getaddrinfo = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding_dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        flags = kwargs.get("flags", args[3] if len(args) > 3 else 0)
        if host != "localhost" or flags & socket.AI_NUMERICHOST:
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        # First answer: where the server listens. Any later one: where nothing does.
        address = "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    https_server.routes["/doc.json"] = (200, JSON, b"{}")
    local_client(https_server).get(https_server.url("/doc.json"), accept="*/*")
    assert lookups == ["localhost"]
    assert https_server.requests == ["/doc.json"]


def test_http_is_refused_unless_allowed(http_server):
    http_server.routes["/doc.json"] = (200, JSON, b"{}")
    with pytest.raises(FetchError, match="is not https"):
        local_client(http_server).get(http_server.url("/doc.json"), accept="*/*")
    assert http_server.connections == 0
    response = local_client(http_server, allow_http=True).get(
        http_server.url("/doc.json"), accept="*/*"
    )
    assert response.json() == {}


@pytest.mark.parametrize("url", ["ftp://localhost/x", "file:///etc/passwd", "/relative"])
def test_other_schemes_are_refused(url):
    with pytest.raises(FetchError, match="only https URLs are fetched"):
        GuardedHttpClient(allow_http=True).get(url, accept="*/*")


def test_only_allowed_hosts_are_fetched(https_server):
    https_server.routes["/doc.json"] = (200, JSON, b"{}")
    with pytest.raises(FetchError, match="localhost is not on the verifier's list of allowed"):
        local_client(https_server, allowed_hosts=frozenset({"issuer.example"})).get(
            https_server.url("/doc.json"), accept="*/*"
        )
    assert https_server.connections == 0
    allowed = local_client(https_server, allowed_hosts=frozenset({"LOCALHOST."}))
    assert allowed.get(https_server.url("/doc.json"), accept="*/*").status == 200


def test_a_url_with_a_user_name_or_password_is_refused(https_server):
    with pytest.raises(FetchError, match="user name or password") as e:
        local_client(https_server).get(
            f"https://reader:s3cret@localhost:{https_server.port}/doc.json", accept="*/*"
        )
    assert "s3cret" not in str(e.value)
    assert https_server.connections == 0


@pytest.mark.parametrize(
    "url",
    ["https://local host/", "https://localhost/\r\nX-Injected: 1", "https://bücher.example/"],
)
def test_urls_with_spaces_controls_or_non_ascii_are_refused(url):
    with pytest.raises(FetchError, match="spaces, control or non-ASCII"):
        GuardedHttpClient().get(url, accept="*/*")


def test_a_server_with_an_untrusted_certificate_is_refused(https_server):
    https_server.routes["/doc.json"] = (200, JSON, b"{}")
    client = GuardedHttpClient(allow_private=True, timeout=2.0)  # the system's trust store
    with pytest.raises(FetchError, match=r"TLS certificate of localhost:\d+ was not accepted"):
        client.get(https_server.url("/doc.json"), accept="*/*")
    assert https_server.requests == []


def test_a_same_host_redirect_is_followed(https_server):
    https_server.routes["/old"] = (301, {"Location": "/new"}, b"")
    https_server.routes["/new"] = (200, JSON, b'{"moved": true}')
    response = local_client(https_server).get(https_server.url("/old"), accept="*/*")
    assert response.url == https_server.url("/new")
    assert response.json() == {"moved": True}
    assert https_server.requests == ["/old", "/new"]


@pytest.mark.parametrize(
    "location",
    [
        "https://127.0.0.2:{port}/doc.json",
        "https://127.0.0.1:{port}/doc.json",  # the same address under another name
        "https://issuer.example/doc.json",
        "//issuer.example/doc.json",
    ],
)
def test_a_redirect_to_another_host_is_refused(https_server, location):
    https_server.routes["/away"] = (302, {"Location": location.format(port=https_server.port)}, b"")
    with pytest.raises(FetchError, match="redirect to another host refused"):
        local_client(https_server).get(https_server.url("/away"), accept="*/*")
    assert https_server.requests == ["/away"]
    assert https_server.connections == 1


def test_a_redirect_to_another_scheme_or_port_is_refused(https_server):
    https_server.routes["/down"] = (
        307,
        {"Location": f"http://localhost:{https_server.port}/doc.json"},
        b"",
    )
    https_server.routes["/port"] = (308, {"Location": "https://localhost:1/doc.json"}, b"")
    client = local_client(https_server, allow_http=True)
    for path in ("/down", "/port"):
        with pytest.raises(FetchError, match="redirect to another scheme or port refused"):
            client.get(https_server.url(path), accept="*/*")
    assert https_server.requests == ["/down", "/port"]


def test_a_redirect_loop_is_cut_after_max_redirects(https_server):
    https_server.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    with pytest.raises(FetchError, match="more than 3 redirects"):
        local_client(https_server).get(https_server.url("/loop"), accept="*/*")
    assert https_server.requests == ["/loop"] * 4


def test_no_redirects_when_max_redirects_is_zero(https_server):
    https_server.routes["/old"] = (301, {"Location": "/new"}, b"")
    with pytest.raises(FetchError, match="more than 0 redirects"):
        local_client(https_server, max_redirects=0).get(https_server.url("/old"), accept="*/*")
    assert https_server.requests == ["/old"]


def test_a_redirect_without_location_fails(https_server):
    https_server.routes["/nowhere"] = (302, {}, b"")
    with pytest.raises(FetchError, match=r"HTTP 302 from \S+ without a Location"):
        local_client(https_server).get(https_server.url("/nowhere"), accept="*/*")


@pytest.mark.parametrize("send_length", [True, False])
def test_a_body_over_max_bytes_is_refused(https_server, send_length):
    headers: dict[str, str | None] = {} if send_length else {"Content-Length": None}
    https_server.routes["/big"] = (200, headers, b"x" * 1001)
    https_server.routes["/fits"] = (200, headers, b"x" * 1000)
    client = local_client(https_server, max_bytes=1000)
    with pytest.raises(FetchError, match="larger than 1,000 bytes"):
        client.get(https_server.url("/big"), accept="*/*")
    assert client.get(https_server.url("/fits"), accept="*/*").body == b"x" * 1000


def test_a_body_shorter_than_its_content_length_fails(https_server):
    https_server.routes["/short"] = (200, {"Content-Length": "100"}, b"{}")
    with pytest.raises(FetchError, match="ended early"):
        local_client(https_server).get(https_server.url("/short"), accept="*/*")


def test_a_compressed_body_that_was_not_asked_for_is_refused(https_server):
    https_server.routes["/gz"] = (200, {"Content-Encoding": "gzip"}, b"\x1f\x8b")
    with pytest.raises(FetchError, match="gzip-encoded"):
        local_client(https_server).get(https_server.url("/gz"), accept="*/*")
    assert https_server.request_headers[0]["accept-encoding"] == "identity"


def test_a_slow_server_times_out(https_server):
    https_server.routes["/slow"] = (200, JSON, b"{}")
    https_server.delays["/slow"] = 10
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 0\.5 s"):
        local_client(https_server, timeout=0.5).get(https_server.url("/slow"), accept="*/*")
    assert time.monotonic() - started < 1.5


def test_the_deadline_covers_the_whole_response_not_each_read(https_server):
    # One byte every 0.1 s never trips a per-read timeout; the 0.5 s deadline must, even
    # while http.client is still reading the headers.
    https_server.routes["/drip"] = (200, JSON, b"[" + b" " * 48 + b"]")
    https_server.drips["/drip"] = 0.1
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 0\.5 s"):
        local_client(https_server, timeout=0.5).get(https_server.url("/drip"), accept="*/*")
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("status", [404, 410, 500, 503])
def test_a_status_other_than_2xx_is_an_error_naming_it(https_server, status):
    https_server.routes["/doc.json"] = (status, {}, b"<h1>error</h1>")
    with pytest.raises(FetchError, match=f"HTTP {status} from https://localhost:"):
        local_client(https_server).get(https_server.url("/doc.json"), accept="*/*")


def test_an_unknown_path_is_http_404(https_server):
    with pytest.raises(FetchError, match="HTTP 404"):
        local_client(https_server).get(https_server.url("/missing.json"), accept="*/*")


def test_a_stopped_server_cannot_be_reached(https_server):
    https_server.stop()
    with pytest.raises(FetchError, match="connection refused"):
        local_client(https_server).get(https_server.url("/doc.json"), accept="*/*")


def test_non_json_is_reported_as_such(https_server):
    https_server.routes["/page"] = (200, {"Content-Type": "text/html"}, b"<html></html>")
    response = local_client(https_server).get(https_server.url("/page"), accept="*/*")
    with pytest.raises(FetchError, match="is not JSON: Expecting value at line 1, column 1"):
        response.json()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 100 + b"]" * 100, "nested deeper than 64 levels"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 64 levels"),
        (b'{"a": NaN}', "not JSON"),
        (b"\xff\xfe{}", "not JSON: not UTF-8"),
        (b'{"a": 1', "not JSON"),
    ],
)
def test_json_refuses_what_is_not_plain_bounded_json(body, message):
    with pytest.raises(FetchError, match=message):
        fetched(body).json()


def test_json_accepts_a_utf8_byte_order_mark():
    assert fetched('\ufeff{"a": "é"}'.encode()).json() == {"a": "é"}


def test_json_refuses_a_body_over_its_size_bound():
    with pytest.raises(FetchError, match="larger than 10 bytes"):
        fetched(json.dumps({"a": "x" * 20}).encode()).json(max_bytes=10)


@pytest.mark.parametrize(
    ("cache_control", "max_age"),
    [
        (None, None),
        ("public", None),
        ("max-age=60", 60),
        ("public, max-age=3600, must-revalidate", 3600),
        ('max-age="30"', 30),
        ("max-age=60, no-cache", 0),
        ("no-store", 0),
        ("max-age=abc", 0),
        ("max-age=-1", 0),
    ],
)
def test_max_age_reads_cache_control(cache_control, max_age):
    headers = {} if cache_control is None else {"cache_control": cache_control}
    assert fetched(**headers).max_age() == max_age


def test_an_accept_header_cannot_smuggle_other_headers():
    with pytest.raises(ValueError, match="single-line"):
        GuardedHttpClient().get("https://issuer.example/", accept="*/*\r\nCookie: a=b")
