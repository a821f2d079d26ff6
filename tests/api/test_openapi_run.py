"""Schemathesis over every operation of docs/openapi.json against the real app (issue 8).

Each operation gets generated requests, valid and invalid (positive and negative modes), sent
in-process (WSGI) to the app on a real database with a real token of a real centre. Every
answer must be documented: no 5xx, a status code the operation lists, a media type it lists
and a body matching its schema. A request the document forbids (negative data, a missing
required header, a method the path does not have) must be refused with a 4xx. Every operation
with a security requirement must also refuse the request once the credentials are taken away
or spoiled (Schemathesis's ``ignored_auth`` probes, sent after the operation's first
success); test_auth.py tries each one by hand too.

Path parameters and achievement ids in bodies are sometimes swapped for real ones, so the
run reaches the handlers' success paths rather than only their 404s.

Bounded for the suite: 25 examples per operation, derandomized, so every run sends the same
requests. To search further, raise TESSERA_SCHEMATHESIS_EXAMPLES (e.g. 300).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from .conftest import OPENAPI_FILE, Credentials, Existing, running_app

MAX_EXAMPLES = int(os.environ.get("TESSERA_SCHEMATHESIS_EXAMPLES", "25"))

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ignored_auth,
    # Bad input gets a clear 4xx: a request the document forbids must not be carried out.
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
]

schema = schemathesis.openapi.from_path(OPENAPI_FILE)
schema.app = running_app
# A body over the size limit is refused before it is read, whatever it holds: a 413 (listed
# for every operation that takes a body) rejects a schema-violating request too.
_rejection = schema.config.checks.negative_data_rejection
_rejection.expected_statuses = [*_rejection.expected_statuses, "413"]


def known_values(path: str, existing: Existing) -> dict[str, list[Any]]:
    """Real values each path parameter of ``path`` may take besides generated ones."""
    if path.startswith("/orgs/"):
        return {"slug": [existing.slug], "sequence": [1]}
    if path.startswith("/api/v1/achievements/"):
        return {"public_id": [existing.achievement]}
    if path.startswith("/api/v1/credentials/"):
        return {"public_id": [existing.credential]}
    if path.startswith("/api/v1/bulk-jobs/"):
        return {"public_id": [existing.bulk_job, existing.finished_job]}
    return {}


def achievement_slots(body: Any) -> list[tuple[dict[str, Any], str]]:
    """Where a request body names an achievement: ``{"achievement": id}`` (centre API, bulk
    jobs) or ``{"achievement": {"id": ...}}`` (VC-API credentialSubject), at any depth."""
    found: list[tuple[dict[str, Any], str]] = []
    if isinstance(body, dict):
        named = body.get("achievement")
        if isinstance(named, str):
            found.append((body, "achievement"))
        elif isinstance(named, dict) and isinstance(named.get("id"), str):
            found.append((named, "id"))
        for value in body.values():
            if value is not named:
                found.extend(achievement_slots(value))
    elif isinstance(body, list):
        for value in body:
            found.extend(achievement_slots(value))
    return found


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # The app and its database are per test (one per operation), not per example.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case,
    data: st.DataObject,
    api_app: Flask,
    credentials: Credentials,
    existing: Existing,
) -> None:
    for name, values in known_values(case.operation.path, existing).items():
        if case.path_parameters and name in case.path_parameters:
            generated = case.path_parameters[name]
            case.path_parameters[name] = data.draw(st.sampled_from([generated, *values]), name)
    for holder, key in achievement_slots(case.body):
        holder[key] = data.draw(st.sampled_from([holder[key], existing.achievement]), key)
    security = case.operation.definition.raw.get("security")
    case.call_and_validate(headers=credentials.headers_for(security), checks=CHECKS)
