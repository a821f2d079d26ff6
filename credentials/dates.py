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
        ValueError: ``moment`` has no time zone, or is outside the years 1 to 9999 in UTC.
    """
    if moment.tzinfo is None:
        raise ValueError("credential times must be timezone-aware")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError as e:
        raise ValueError(f"{moment.isoformat()} is outside the years 1 to 9999 in UTC") from e
    # isoformat, not strftime("%Y"): glibc writes the year 999 as "999", which no parser
    # of xsd:dateTime (ours included) reads back.
    return utc.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_datetime(value: object, field: str) -> datetime:
    """Parse an xsd:dateTimeStamp string into an aware datetime.

    Raises:
        MalformedCredentialError: ``value`` is not a string, has no time zone, is not a date,
            or falls outside the years 1 to 9999 once converted to UTC.
    """
    if not isinstance(value, str) or not _DATETIME_STAMP.match(value):
        raise MalformedCredentialError(
            f"{field} must be a date-time with a time zone, such as 2026-01-31T09:00:00Z"
        )
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise MalformedCredentialError(f"{field} is not a valid date-time: {value}") from e
    try:
        # 0001-01-01T00:00:00+01:00 is a valid string but no datetime in UTC; refusing it
        # here keeps every parsed time printable (format_datetime) and comparable.
        moment.astimezone(UTC)
    except OverflowError as e:
        raise MalformedCredentialError(
            f"{field} is outside the years 1 to 9999 in UTC: {value}"
        ) from e
    return moment
