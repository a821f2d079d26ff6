"""XML Schema dateTime values as the VC data model uses them (always with a time zone)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .errors import MalformedCredentialError

# xsd:dateTimeStamp: a time zone is mandatory (VC 2.0 §4.9 requires one for validFrom/Until).
_DATETIME_STAMP = re.compile(r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def format_datetime(moment: datetime) -> str:
    """Format an aware datetime as an xsd:dateTimeStamp in UTC, to the second (``...Z``).

    Raises:
        ValueError: ``moment`` has no time zone.
    """
    if moment.tzinfo is None:
        raise ValueError("credential times must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: object, field: str) -> datetime:
    """Parse an xsd:dateTimeStamp string into an aware datetime.

    Raises:
        MalformedCredentialError: ``value`` is not a string, has no time zone or is not a date.
    """
    if not isinstance(value, str) or not _DATETIME_STAMP.match(value):
        raise MalformedCredentialError(
            f"{field} must be a date-time with a time zone, such as 2026-01-31T09:00:00Z"
        )
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise MalformedCredentialError(f"{field} is not a valid date-time: {value}") from e
