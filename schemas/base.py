"""Shared schema settings: input schemas reject unknown fields."""

from __future__ import annotations

from marshmallow import RAISE, Schema


class InputSchema(Schema):
    class Meta:
        unknown = RAISE
