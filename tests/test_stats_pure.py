"""Months, readable strings and rounding: pure functions, values from the contract's examples."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from definum_gql.stats.courses import moodle_now, percent
from definum_gql.stats.errors import InvalidMonth
from definum_gql.stats.months import Month
from definum_gql.stats.strings import format_datetime, format_duration, format_login, never

PARIS = ZoneInfo("Europe/Paris")


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def test_english_daydatetime_is_zero_padded_twelve_hour_with_upper_case_meridiem() -> None:
    # 12:00 UTC is 13:00 in Paris (UTC+1 in November): the contract's own example.
    assert format_datetime(utc("2026-11-05T12:00:00"), PARIS, "en") == (
        "Thursday, 05 November 2026, 01:00 PM"
    )


def test_french_daydatetime_is_lower_case_twenty_four_hour() -> None:
    assert (
        format_datetime(utc("2026-11-05T12:00:00"), PARIS, "fr") == "jeudi 05 novembre 2026, 13:00"
    )


def test_midnight_is_twelve_am_and_noon_twelve_pm() -> None:
    assert format_datetime(utc("2026-08-15T22:05:00"), PARIS, "en") == (
        "Sunday, 16 August 2026, 12:05 AM"  # 22:05 UTC = 00:05 CEST (UTC+2) next day
    )
    assert format_datetime(utc("2026-02-01T11:59:00"), PARIS, "en") == (
        "Sunday, 01 February 2026, 12:59 PM"
    )
    assert format_datetime(utc("2026-02-11T08:07:00"), PARIS, "fr") == (
        "mercredi 11 février 2026, 09:07"
    )


def test_lastlogin_zero_reads_never_or_jamais() -> None:
    assert format_login(0, PARIS, "en") == "Never"
    assert format_login(0, PARIS, "fr") == "Jamais"
    assert never("de") == "Never"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (41, "41s"),
        (60, "1m 0s"),
        (2880, "48m 0s"),
        (3600, "1h 0m 0s"),
        (13100, "3h 38m 20s"),
        (90061, "25h 1m 1s"),
    ],
)
def test_duration_drops_leading_zero_units_without_padding(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


def test_month_parse_and_bad_months() -> None:
    assert Month.parse("2026-11") == Month(2026, 11)
    assert str(Month(2026, 3)) == "2026-03"
    for bad in ("2026-13", "2026-1", "26-11", "2026/11", "", "2026-00", "abcd-ef"):
        with pytest.raises(InvalidMonth):
            Month.parse(bad)


def test_month_start_follows_the_site_timezone() -> None:
    # November 2026 starts at 00:00 Paris = 23:00 UTC on 31 October.
    assert Month(2026, 11).start(PARIS) == utc("2026-10-31T23:00:00")
    assert Month.containing(utc("2026-10-31T23:30:00"), PARIS) == Month(2026, 11)
    assert Month.containing(utc("2026-10-31T22:59:59"), PARIS) == Month(2026, 10)


def test_dst_march_is_an_hour_short_and_october_an_hour_long_in_paris() -> None:
    # Clocks go forward on Sunday 29 March 2026 and back on Sunday 25 October 2026.
    march = Month(2026, 3).bounds(PARIS)
    assert march == (utc("2026-02-28T23:00:00"), utc("2026-03-31T22:00:00"))
    assert march[1] - march[0] == 31 * 86400 - 3600
    october = Month(2026, 10).bounds(PARIS)
    assert october == (utc("2026-09-30T22:00:00"), utc("2026-10-31T23:00:00"))
    assert october[1] - october[0] == 31 * 86400 + 3600


def test_month_arithmetic_crosses_years() -> None:
    assert Month(2026, 12).next() == Month(2027, 1)
    assert Month(2027, 1).previous() == Month(2026, 12)
    assert Month(2026, 11).until(Month(2027, 2)) == [
        Month(2026, 11),
        Month(2026, 12),
        Month(2027, 1),
        Month(2027, 2),
    ]
    assert Month(2026, 11).count_until(Month(2027, 2)) == 4
    assert Month(2026, 11).count_until(Month(2026, 11)) == 1
    assert Month(2026, 11).count_until(Month(2026, 10)) == 0
    assert Month(1970, 1).count_until(Month(9998, 12)) == 8029 * 12


def test_ratio_rounds_halves_up_not_to_even() -> None:
    assert percent(1, 8) == 13  # 12.5
    assert percent(5, 8) == 63  # 62.5 (banker's rounding would give 62)
    assert percent(1, 200) == 1  # 0.5 (banker's rounding would give 0)
    assert percent(2, 3) == 67
    assert percent(1, 3) == 33
    assert percent(0, 0) == 0
    assert percent(3, 3) == 100


def test_moodle_rounds_now_to_the_nearest_hundred_seconds() -> None:
    assert moodle_now(1795628523) == 1795628500
    assert moodle_now(1795628550) == 1795628600
    assert moodle_now(1795628549) == 1795628500
