"""The one place the web and CLI layers read the clock; the core gets ``now`` passed in."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
