"""Errors of the issuing service, each with a stable code and an HTTP status."""

from __future__ import annotations

from http import HTTPStatus


class IssuerError(Exception):
    """Base class of issuing-service errors; the message is meant for a person."""

    code = "issuer-error"
    status = HTTPStatus.BAD_REQUEST


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
