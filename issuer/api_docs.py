"""A readable page of the JSON API, rendered from the generated OpenAPI document.

Server-side rendering keeps the page CSP-clean (no third-party viewer scripts) and always in
step with /api/v1/openapi.json, since both come from the same document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, render_template

from .vcapi import openapi_document

bp = Blueprint("api_docs", __name__, template_folder="templates")

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    security: bool
    parameters: list[dict[str, Any]]
    request: str | None
    responses: list[tuple[str, str]]


def _schema_name(content: dict[str, Any] | None) -> str | None:
    if not content:
        return None
    for media in content.values():
        schema = media.get("schema", {})
        ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
        if ref:
            return str(ref).rsplit("/", 1)[-1]
        return json.dumps(schema)[:200]
    return None


def operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    summary=operation.get("summary", ""),
                    description=operation.get("description", ""),
                    security=bool(operation.get("security")),
                    parameters=operation.get("parameters", []) + item.get("parameters", []),
                    request=_schema_name(operation.get("requestBody", {}).get("content")),
                    responses=[
                        (code, response.get("description", ""))
                        for code, response in operation.get("responses", {}).items()
                    ],
                )
            )
    return found


@bp.get("/api/v1/docs")
def docs() -> str:
    """The API, for people: every operation, its parameters, body and answers."""
    document = openapi_document()
    return render_template(
        "api_docs.html",
        info=document.get("info", {}),
        operations=operations(document),
        schemas=document.get("components", {}).get("schemas", {}),
    )
