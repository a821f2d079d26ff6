"""Every operation the OpenAPI document marks with a security requirement refuses a request
without valid credentials, and a refused request changes nothing (issue 8).

The requests are ones the operation would carry out: each test ends by sending the very same
request with the right token and seeing it succeed, so the refusals before it were about the
credentials and nothing else. The list of operations comes from docs/openapi.json, so an
operation added there without a request here fails ``test_every_operation_has_a_request_to_try``.
"""

from __future__ import annotations

import secrets
from http import HTTPStatus
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from issuer import accounts

from .conftest import (
    CALLS,
    Credentials,
    Existing,
    database_state,
    make_api_token,
    openapi_document,
    operations,
)

PROBLEM = "application/problem+json"
UNAUTHORIZED, FORBIDDEN = HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN
SECURED = [
    pytest.param(method, path, operation, id=f"{method} {path}")
    for method, path, operation in operations(openapi_document())
    if operation.get("security")
]


def _schemes(operation: dict[str, Any]) -> dict[str, list[str]]:
    return {name: scopes for need in operation["security"] for name, scopes in need.items()}


def test_every_operation_has_a_request_to_try() -> None:
    documented = {f"{method} {path}" for method, path, _ in operations(openapi_document())}
    assert documented == set(CALLS)


def _refusals(
    operation: dict[str, Any], app: Flask, db: Session, centre: Any, now: Any, good: Credentials
) -> list[tuple[str, dict[str, str], HTTPStatus]]:
    """(what is wrong, headers, the status that must come back) for the operation's scheme.

    For the VC-API token this rotates the app's token to ``good.vcapi_token`` first, so the
    token configured until now is one that must stop working.
    """
    schemes = _schemes(operation)
    refusals: list[tuple[str, dict[str, str], HTTPStatus]] = [
        ("no credentials", {}, UNAUTHORIZED),
        ("an empty bearer", {"Authorization": "Bearer "}, UNAUTHORIZED),
    ]
    if "vcApiToken" in schemes:
        old = app.config["VCAPI_TOKEN"]
        app.config["VCAPI_TOKEN"] = good.vcapi_token  # rotated: the old one must stop working
        refusals += [
            ("a wrong token", {"Authorization": f"Bearer {old}x"}, UNAUTHORIZED),
            ("the replaced token", {"Authorization": f"Bearer {old}"}, UNAUTHORIZED),
            ("not a bearer", {"Authorization": f"Basic {good.vcapi_token}"}, UNAUTHORIZED),
            ("a centre's API token", {"Authorization": f"Bearer {good.api_token}"}, UNAUTHORIZED),
        ]
    if "apiToken" in schemes:
        record, revoked = make_api_token(db, centre, *accounts.SCOPES, now=now)
        accounts.revoke_api_token(db, organisation=centre, token_id=record.id, now=now, actor="t")
        prefix = "_".join(good.api_token.split("_")[:2])
        forged = f"{prefix}_{secrets.token_urlsafe(32)}"
        refusals += [
            ("a wrong secret", {"Authorization": f"Bearer {forged}"}, UNAUTHORIZED),
            ("a revoked token", {"Authorization": f"Bearer {revoked}"}, UNAUTHORIZED),
            ("not a bearer", {"Authorization": f"Basic {good.api_token}"}, UNAUTHORIZED),
            ("the VC-API token", {"Authorization": f"Bearer {good.vcapi_token}"}, UNAUTHORIZED),
        ]
        if "403" in operation["responses"]:
            needed = set(schemes["apiToken"])
            others = [s for s in accounts.SCOPES if s not in needed]
            _, unscoped = make_api_token(db, centre, *others, now=now)
            refusals.append(
                ("a token without the scope", {"Authorization": f"Bearer {unscoped}"}, FORBIDDEN)
            )
    return refusals


@pytest.mark.parametrize(("method", "path", "operation"), SECURED)
def test_secured_operations_refuse_bad_credentials_and_change_nothing(
    api_app: Flask,
    db: Session,
    centre: Any,
    now: Any,
    credentials: Credentials,
    existing: Existing,
    method: str,
    path: str,
    operation: dict[str, Any],
) -> None:
    client = api_app.test_client()
    call = CALLS[f"{method} {path}"](existing)
    good = Credentials(api_token=credentials.api_token, vcapi_token=secrets.token_urlsafe(32))
    refusals = _refusals(operation, api_app, db, centre, now, good)
    before = database_state(db)

    for what, headers, status in refusals:
        response = client.open(call.path, method=method, json=call.json, headers=headers)
        assert response.status_code == status, f"{what}: {response.get_data(as_text=True)[:300]}"
        assert str(status.value) in operation["responses"], f"{what}: {status} is not documented"
        assert response.mimetype == PROBLEM, what
        if status == UNAUTHORIZED:
            challenge = response.headers.get("WWW-Authenticate", "")
            assert challenge.lower().startswith("bearer"), f"{what}: no bearer challenge"
    assert database_state(db) == before

    headers = good.headers_for(operation["security"])
    accepted = client.open(call.path, method=method, json=call.json, headers=headers)
    assert accepted.status_code < 300, accepted.get_data(as_text=True)[:500]
