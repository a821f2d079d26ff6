"""A real HTTPS (and HTTP) server on 127.0.0.1 for tests of everything the verifier fetches.

The server's certificate is issued for ``localhost`` and ``127.0.0.1`` by a throw-away CA
generated per test session; clients trust it through ``server.ssl_context``. Tests fill
``routes`` and read ``requests``; nothing leaves the machine.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: status, headers (a None value: do not send that header), body
Route = tuple[int, dict[str, str | None], bytes]


@dataclass(frozen=True)
class LocalCertificate:
    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> LocalCertificate:
    """A CA and a server certificate for localhost and 127.0.0.1, valid for a day."""
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Tessera test CA"))
        .issuer_name(_name("Tessera test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    certificate = LocalCertificate(
        folder / "ca.pem", folder / "server.pem", folder / "server-key.pem"
    )
    certificate.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    certificate.cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    certificate.key_file.write_bytes(_pem_key(server_key))
    return certificate


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5  # a connection that never speaks does not hold the test up

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:
        state = self.server.state
        state.requests.append(self.path)
        state.request_headers.append({k.lower(): v for k, v in self.headers.items()})
        delay = state.delays.get(self.path)
        if delay and state.stopping.wait(delay):
            return
        status, headers, body = state.routes.get(
            self.path, (404, {"Content-Type": "text/plain"}, b"not found")
        )
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.0 {status} {reason}"]
        lines += [f"{name}: {value}" for name, value in headers.items() if value is not None]
        if "content-length" not in {name.lower() for name in headers}:
            lines.append(f"Content-Length: {len(body)}")
        response = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        drip = state.drips.get(self.path)
        if drip is None:
            self.wfile.write(response)
            return
        for i in range(len(response)):
            self.wfile.write(response[i : i + 1])
            if state.stopping.wait(drip):
                return

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close, so none outlives its test.
    daemon_threads = False

    def __init__(self, state: LocalServer, tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.tls = tls

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        self.state.connections += 1
        if self.tls is None:
            return sock, address
        # The handshake runs in the handler thread, so a stuck client cannot block accept().
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), (
            address
        )

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that give up (timeouts, refused redirects) are what the tests do


@dataclass(eq=False)
class LocalServer:
    """A running server: fill ``routes``, then read ``requests`` to see what was asked."""

    base_url: str = ""
    port: int = 0
    ssl_context: ssl.SSLContext | None = None
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    request_headers: list[dict[str, str]] = field(default_factory=list)
    #: seconds to wait before answering a path
    delays: dict[str, float] = field(default_factory=dict)
    #: seconds between the bytes of a path's response (status line and headers included)
    drips: dict[str, float] = field(default_factory=dict)
    connections: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)
    _server: _Server | None = None
    _thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self, tls: ssl.SSLContext | None) -> None:
        self._server = _Server(self, tls)
        self.port = self._server.server_address[1]
        self.base_url = f"{'https' if tls else 'http'}://localhost:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the port (idempotent)."""
        if self._server is None or self._thread is None:
            return
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = None


@pytest.fixture
def https_server(tls_certificate: LocalCertificate) -> Iterator[LocalServer]:
    """An HTTPS server on 127.0.0.1 (``https://localhost:PORT``) with a trusted test CA."""
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tls_certificate.cert_file, tls_certificate.key_file)
    server = LocalServer(ssl_context=ssl.create_default_context(cafile=tls_certificate.ca_file))
    server.start(tls)
    yield server
    server.stop()


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """A plain HTTP server on 127.0.0.1 (``http://localhost:PORT``)."""
    server = LocalServer()
    server.start(None)
    yield server
    server.stop()
