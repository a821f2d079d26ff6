"""Sending e-mail: through an SMTP server when one is configured, else into a local outbox.

``TESSERA_SMTP_URL`` names the server: ``smtp://user:password@host:587`` (STARTTLS when the
server offers it; required unless the host is loopback), or ``smtps://…:465`` (TLS from the
start). Without it, every message is written to ``<instance>/outbox/`` as an ``.eml`` file,
which ``tessera outbox`` lists and prints: nothing is ever dropped silently, and an operator
without a mail server can still hand a worker their link.
"""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from verifier.messages import N_, Message

from .errors import ConfigurationError, ServiceUnavailableError

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 15
OUTBOX = "outbox"


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpServer:
    """Read ``TESSERA_SMTP_URL``.

    Raises:
        ConfigurationError: not an smtp:// or smtps:// URL with a host.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ConfigurationError(f"TESSERA_SMTP_URL is not a valid URL: {e}") from e
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigurationError(
            "TESSERA_SMTP_URL must look like smtp://user:password@mail.example.org:587 "
            "or smtps://user:password@mail.example.org:465"
        )
    implicit_tls = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname,
        port=port or (465 if implicit_tls else 587),
        implicit_tls=implicit_tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def sender(config: dict[str, Any]) -> str:
    """The From address: ``TESSERA_MAIL_FROM``, else no-reply at the public host."""
    configured = config.get("MAIL_FROM")
    if configured:
        return str(configured)
    host = urlsplit(config["PUBLIC_URL"]).hostname or "localhost"
    return f"Tessera <no-reply@{host}>"


def compose(
    config: dict[str, Any], *, to: str, subject: str, body: str, now: datetime
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender(config)
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=urlsplit(config["PUBLIC_URL"]).hostname)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


def outbox_path(config: dict[str, Any]) -> Path:
    return Path(config["INSTANCE"]) / OUTBOX


def _to_outbox(config: dict[str, Any], message: EmailMessage, now: datetime) -> Path:
    folder = outbox_path(config)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{now.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}.eml"
    path = folder / name
    # The links inside open wallets: readable by the operator only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(bytes(message))
    return path


def _loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1")


def _via_smtp(server: SmtpServer, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if server.implicit_tls:
        client = smtplib.SMTP_SSL(
            server.host, server.port, timeout=SMTP_TIMEOUT_SECONDS, context=context
        )
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=SMTP_TIMEOUT_SECONDS)
    with client:
        client.ehlo()
        if not server.implicit_tls:
            if client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            elif not _loopback(server.host):
                raise smtplib.SMTPException(
                    f"{server.host} does not offer STARTTLS; refusing to send in the clear"
                )
        if server.username:
            client.login(server.username, server.password or "")
        client.send_message(message)


def send(config: dict[str, Any], *, to: str, subject: str, body: str, now: datetime) -> str:
    """Send one message; return where it went ("smtp" or the outbox file's path).

    Raises:
        ServiceUnavailableError: the SMTP server could not be reached or refused the message
            (the caller's transaction is then rolled back: nothing claims a mail was sent).
    """
    message = compose(config, to=to, subject=subject, body=body, now=now)
    url = config.get("SMTP_URL")
    if not url:
        path = _to_outbox(config, message, now)
        log.info("e-mail to the outbox: %s", path.name)
        return str(path)
    server = parse_smtp_url(url)
    try:
        _via_smtp(server, message)
    except (OSError, smtplib.SMTPException) as e:
        # Never log the message: it carries a link that opens a wallet.
        log.warning("could not send e-mail through %s:%s: %s", server.host, server.port, e)
        raise ServiceUnavailableError(
            Message(N_("the e-mail could not be sent just now; please try again in a few minutes"))
        ) from e
    return "smtp"


def outbox_messages(config: dict[str, Any]) -> list[Path]:
    """The outbox's messages, newest first."""
    folder = outbox_path(config)
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.eml"), reverse=True)


def read_message(path: Path) -> str:
    """A message of the outbox as a person reads it: its headers and its text."""
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    headers = "\n".join(f"{k}: {message[k]}" for k in ("Date", "From", "To", "Subject"))
    return f"{headers}\n\n{text}"
