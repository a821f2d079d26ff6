"""Errors of the issuing service, each with a stable code and an HTTP status."""

from __future__ import annotations

from http import HTTPStatus

from verifier.messages import Message


class IssuerError(Exception):
    """Base class of issuing-service errors; the message is meant for a person.

    Raised with a :class:`~verifier.messages.Message`, it can also be shown in the reader's
    language (``said``, on the worker's pages); ``str(error)`` is always the English.
    """

    code = "issuer-error"
    status = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str | Message = "") -> None:
        super().__init__(str(message))
        self.said = message if isinstance(message, Message) else Message(message)


class ConfigurationError(IssuerError):
    """The service is configured wrongly and refuses to start."""

    code = "configuration-error"
    status = HTTPStatus.INTERNAL_SERVER_ERROR


class NotFoundError(IssuerError):
    code = "not-found"
    status = HTTPStatus.NOT_FOUND


class ConflictError(IssuerError):
    code = "conflict"
    status = HTTPStatus.CONFLICT


class InvalidRequestError(IssuerError):
    """Input that passed parsing but makes no sense (an unknown achievement type, say)."""

    code = "invalid-request"
    status = HTTPStatus.UNPROCESSABLE_ENTITY


class ServiceUnavailableError(IssuerError):
    """A service we depend on (the mail server, say) did not answer; try again later."""

    code = "service-unavailable"
    status = HTTPStatus.SERVICE_UNAVAILABLE


class TooManyRequestsError(IssuerError):
    """The same thing was asked too often in a short time."""

    code = "too-many-requests"
    status = HTTPStatus.TOO_MANY_REQUESTS


class DatabaseUnavailableError(ServiceUnavailableError):
    """The database did not answer (down, restarting, unreachable); nothing was half-written.

    Every write is one transaction (issuer/unit_of_work.py), so a request the database
    dropped left nothing behind; the connection pool checks connections before use, so the
    next request after the database returns succeeds without a restart.
    """

    code = "database-unavailable"
    #: Seconds a client should wait before trying again (``Retry-After``).
    retry_after = 30


class StorageFullError(ServiceUnavailableError):
    """The database has no room left (disk full, or SQLite's page limit); an operator must act.

    503 rather than WebDAV's 507: clients, proxies and load balancers treat a 503 with
    ``Retry-After`` as "try again later", which is what helps once space is freed; the code
    ``storage-full`` tells the two apart for anyone who needs to.
    """

    code = "storage-full"
    retry_after = 300
