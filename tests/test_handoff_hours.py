"""Office hours (bot/helpdesk/hours.py): parsing KAKEHASHI_OFFICE_HOURS, open/closed, the next
opening across weekends, midnight and daylight-saving changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.helpdesk import hours

BRUSSELS = ZoneInfo("Europe/Brussels")
TOKYO = ZoneInfo("Asia/Tokyo")


def at(*args: int, zone: ZoneInfo = BRUSSELS) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone)


WEEKDAYS = hours.parse("Mon-Fri 09:00-17:00 Europe/Brussels")


@pytest.mark.parametrize(
    "now, is_open, opening",
    [
        (at(2026, 11, 23, 9, 0), True, at(2026, 11, 23, 9, 0)),  # Monday, opening minute
        (at(2026, 11, 23, 16, 59), True, at(2026, 11, 23, 16, 59)),
        (at(2026, 11, 23, 17, 0), False, at(2026, 11, 24, 9, 0)),  # closing time: closed
        (at(2026, 11, 23, 8, 59), False, at(2026, 11, 23, 9, 0)),
        (at(2026, 11, 27, 18, 0), False, at(2026, 11, 30, 9, 0)),  # Friday evening → Monday
        (at(2026, 11, 28, 12, 0), False, at(2026, 11, 30, 9, 0)),  # Saturday
        (at(2026, 11, 23, 1, 0, zone=TOKYO), False, at(2026, 11, 23, 9, 0)),  # Sunday 17:00 in Brussels
        (dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.UTC), True, dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.UTC)),
    ],
)
def test_weekday_hours(now, is_open, opening):
    assert WEEKDAYS.is_open(now) is is_open
    assert WEEKDAYS.next_opening(now) == opening


def test_the_module_functions_read_the_environment(monkeypatch):
    monkeypatch.setenv(hours.ENV, "Sat 10:00-12:00 Asia/Tokyo")
    saturday = at(2026, 11, 28, 11, 0, zone=TOKYO)
    assert hours.is_open(saturday)
    assert not hours.is_open(saturday + dt.timedelta(hours=1))
    assert hours.next_opening(saturday + dt.timedelta(hours=1)) == at(2026, 12, 5, 10, 0, zone=TOKYO)
    monkeypatch.delenv(hours.ENV)
    assert hours.office_hours().text == hours.DEFAULT
    monkeypatch.setenv(hours.ENV, "   ")
    assert hours.office_hours().text == hours.DEFAULT
    assert isinstance(hours.is_open(), bool)


def test_several_spans_lists_and_wrapping_day_ranges():
    office = hours.parse("Mon-Thu 09:00-17:00, Fri 09:00-13:00; Sat,Sun 10:00-11:00 Europe/Brussels")
    assert office.is_open(at(2026, 11, 26, 16, 0))  # Thursday
    assert not office.is_open(at(2026, 11, 27, 14, 0))  # Friday afternoon
    assert office.next_opening(at(2026, 11, 27, 14, 0)) == at(2026, 11, 28, 10, 0)
    assert office.is_open(at(2026, 11, 29, 10, 30))  # Sunday
    assert office.describe() == "Mon–Thu 09:00–17:00; Fri 09:00–13:00; Sat, Sun 10:00–11:00, Europe/Brussels time"
    wrap = hours.parse("Sat-Mon 10:00-12:00 UTC")
    assert {d for s in wrap.spans for d in s.weekdays} == {5, 6, 0}


def test_a_span_past_midnight():
    night = hours.parse("Fri 22:00-02:00 UTC")
    assert night.is_open(dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.UTC))  # Friday 23:00
    assert night.is_open(dt.datetime(2026, 11, 28, 1, 59, tzinfo=dt.UTC))  # Saturday 01:59
    assert not night.is_open(dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC))
    assert night.next_opening(dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)) == dt.datetime(
        2026, 12, 4, 22, 0, tzinfo=dt.UTC
    )
    whole_day = hours.parse("Sun 00:00-24:00 UTC")
    assert whole_day.describe() == "Sun 00:00–24:00, UTC time"
    assert whole_day.is_open(dt.datetime(2026, 11, 29, 23, 59, tzinfo=dt.UTC))
    assert not whole_day.is_open(dt.datetime(2026, 11, 30, 0, 0, tzinfo=dt.UTC))


def test_daylight_saving_changes_keep_local_wall_clock_hours():
    # Brussels moves to summer time on Sunday 29 March 2026 and back on Sunday 25 October 2026.
    assert WEEKDAYS.next_opening(at(2026, 3, 28, 12, 0)) == at(2026, 3, 30, 9, 0)
    assert at(2026, 3, 30, 9, 0).utcoffset() == dt.timedelta(hours=2)
    assert WEEKDAYS.is_open(dt.datetime(2026, 3, 30, 7, 0, tzinfo=dt.UTC))  # 09:00 CEST
    assert not WEEKDAYS.is_open(dt.datetime(2026, 3, 30, 6, 59, tzinfo=dt.UTC))
    assert WEEKDAYS.is_open(dt.datetime(2026, 10, 26, 8, 0, tzinfo=dt.UTC))  # 09:00 CET
    night = hours.parse("Sun 01:00-04:00 Europe/Brussels")  # 02:00-03:00 does not exist that night
    assert night.is_open(dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC))
    assert night.is_open(dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC))
    assert not night.is_open(dt.datetime(2026, 3, 29, 2, 0, tzinfo=dt.UTC))  # 04:00 CEST


@pytest.mark.parametrize("text", ["always", "24/7", " ALWAYS "])
def test_always_open(text):
    office = hours.parse(text)
    now = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.UTC)
    assert office.is_open(now) and office.next_opening(now) == now
    assert office.describe() == "24 hours a day, every day"


@pytest.mark.parametrize(
    "text, error",
    [
        ("", "expected"),
        ("Mon-Fri 09:00-17:00", "time zone"),
        ("Mon-Fri 09:00-17:00 Mars/Olympus", "time zone"),
        ("Funday 09:00-17:00 UTC", "not '<days>"),
        ("Mon-Fry 09:00-17:00 UTC", "not a day"),
        ("Mon-Fri 9-17 UTC", "not '<days>"),
        ("Mon-Fri 25:00-26:00 UTC", "not a time"),
        ("Mon-Fri 09:60-17:00 UTC", "not a time"),
        ("Mon-Fri 09:00-09:00 UTC", "no opening"),
        ("Mon-Fri 24:00-01:00 UTC", "no opening"),
    ],
)
def test_malformed_settings_say_what_is_wrong(text, error):
    with pytest.raises(hours.OfficeHoursError, match=error):
        hours.parse(text)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        WEEKDAYS.is_open(dt.datetime(2026, 11, 23, 10, 0))
    with pytest.raises(ValueError, match="aware"):
        WEEKDAYS.next_opening(dt.datetime(2026, 11, 23, 10, 0))


def test_format_opening():
    assert hours.format_opening(at(2026, 11, 30, 9, 0)) == "Monday 30 November, 09:00 Europe/Brussels time"
    utc = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    assert hours.format_opening(utc, BRUSSELS) == "Monday 30 November, 09:00 Europe/Brussels time"
    assert hours.format_opening(utc) == "Monday 30 November, 08:00 UTC time"
