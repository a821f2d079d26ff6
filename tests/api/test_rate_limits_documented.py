"""Every operation that answers 429 when its client goes too fast documents that answer.

Black-box: with limits of two requests a minute, each operation's request (conftest.CALLS) is
sent three times; a 429 must be listed in docs/openapi.json for that operation, and come as
problem details with a Retry-After a client can wait for.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from flask import Flask

from .conftest import CALLS, Credentials, Existing, openapi_document, operations

LIMIT = "2/minute"
# Each test sends an operation past a limit counted per clock minute.
pytestmark = pytest.mark.usefixtures("clear_of_a_minute_boundary")


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URL": "memory://",
        "VERIFY_RATE_LIMIT": LIMIT,
        "ISSUE_RATE_LIMIT": LIMIT,
    }


def _sent_until_limited(
    app: Flask, method: str, operation: dict[str, Any], call: Any, credentials: Credentials
) -> Any:
    client = app.test_client()
    headers = credentials.headers_for(operation.get("security"))
    for _ in range(3):
        response = client.open(call.path, method=method, json=call.json, headers=headers)
        if response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
            break
    return response


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        pytest.param(
            method,
            path,
            operation,
            id=f"{method} {path}",
        )
        for method, path, operation in operations(openapi_document())
    ],
)
def test_a_rate_limited_operation_documents_its_429(
    api_app: Flask,
    credentials: Credentials,
    existing: Existing,
    method: str,
    path: str,
    operation: dict[str, Any],
) -> None:
    call = CALLS[f"{method} {path}"](existing)
    response = _sent_until_limited(api_app, method, operation, call, credentials)
    if response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
        assert response.mimetype == "application/problem+json"
        assert int(response.headers["Retry-After"]) >= 1
        assert "429" in operation["responses"], f"{method} {path} does not document 429"


def test_the_limits_are_on_in_these_tests(
    api_app: Flask, credentials: Credentials, existing: Existing
) -> None:
    """Without this, every test above would pass with the limiter silently off."""
    operation = openapi_document()["paths"]["/api/v1/verify"]["post"]
    call = CALLS["POST /api/v1/verify"](existing)
    response = _sent_until_limited(api_app, "POST", operation, call, credentials)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
