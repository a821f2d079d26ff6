"""xsd:dateTimeStamp parsing: an aware datetime that can be printed in UTC, or a declared error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from credentials import MalformedCredentialError
from credentials.dates import format_datetime, parse_datetime

from .strategies import json_leaves, json_trees

date_time_like = st.from_regex(
    r"\A-?[0-9]{4,5}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})\Z"
)
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@given(date_time_like | json_leaves() | json_trees(6))
def test_any_value_parses_to_a_printable_aware_time_or_a_declared_error(value: object) -> None:
    try:
        moment = parse_datetime(value, "validFrom")
    except MalformedCredentialError:
        return
    assert moment.tzinfo is not None
    assert parse_datetime(format_datetime(moment), "validFrom") == moment.replace(microsecond=0)


@given(st.datetimes(timezones=offsets))
def test_a_formatted_time_parses_back_to_the_same_instant(moment: datetime) -> None:
    try:
        text = format_datetime(moment)
    except ValueError:  # declared: the instant is before year 1 or after 9999 in UTC
        assert not datetime.min.replace(tzinfo=UTC) <= moment <= datetime.max.replace(tzinfo=UTC)
        return
    assert parse_datetime(text, "validFrom") == moment.replace(microsecond=0).astimezone(UTC)
