"""xsd:dateTimeStamp values: parsed with a time zone, printed in UTC, nothing lost between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from credentials import MalformedCredentialError
from credentials.dates import format_datetime, parse_datetime


def test_a_time_with_an_offset_is_printed_in_utc_to_the_second():
    moment = datetime(2026, 1, 15, 10, 30, 15, 999, tzinfo=timezone(timedelta(hours=1)))
    assert format_datetime(moment) == "2026-01-15T09:30:15Z"
    assert parse_datetime("2026-01-15T10:30:15+01:00", "validFrom") == moment.replace(microsecond=0)


@pytest.mark.parametrize("value", ["2026-01-15T09:30:00", "2026-01-15", 1768469400, None])
def test_a_value_without_a_time_zone_or_not_a_string_is_malformed(value):
    with pytest.raises(MalformedCredentialError, match="with a time zone"):
        parse_datetime(value, "validFrom")


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01"])
def test_a_time_outside_the_years_1_to_9999_in_utc_is_malformed(value):
    # Both are well-formed strings; converted to UTC they fall in year 0 or 10000, which
    # format_datetime could not print (OverflowError), found by tests/property.
    with pytest.raises(MalformedCredentialError, match="outside the years 1 to 9999 in UTC"):
        parse_datetime(value, "validUntil")


def test_a_year_before_1000_is_printed_with_four_digits_and_reads_back():
    # strftime("%Y") writes the year 999 as "999", which no xsd:dateTime parser accepts.
    moment = datetime(999, 3, 1, 12, 0, tzinfo=UTC)
    assert format_datetime(moment) == "0999-03-01T12:00:00Z"
    assert parse_datetime(format_datetime(moment), "validFrom") == moment


def test_formatting_a_time_outside_the_years_1_to_9999_in_utc_says_so():
    with pytest.raises(ValueError, match="outside the years 1 to 9999 in UTC"):
        format_datetime(datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-2))))
