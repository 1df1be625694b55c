"""Helpdesk office hours, from KAKEHASHI_OFFICE_HOURS. No database, no I/O.

The setting is one or more "<days> <HH:MM>-<HH:MM>" spans separated by ";" or ",", then an IANA
time zone, e.g.::

    Mon-Fri 09:00-17:00 Europe/Brussels
    Mon-Thu 09:00-17:00; Fri 09:00-13:00 Asia/Tokyo
    Mon,Wed,Fri 10:00-12:00; Sat 22:00-02:00 UTC      (a span may run past midnight)
    always                                           (24/7; also "24/7")

Days are Mon Tue Wed Thu Fri Sat Sun, as ranges (which may wrap, e.g. Sat-Mon) or lists (Mon,Wed); "24:00" ends a day.

Usage::

    hours = office_hours()                 # the configured hours (default: DEFAULT)
    hours.is_open(now)                     # now: an aware datetime
    hours.next_opening(now)                # `now` when open, else when it opens next
    is_open(now), next_opening(now)        # the same, on the configured hours
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENV = "KAKEHASHI_OFFICE_HOURS"
DEFAULT = "Mon-Fri 09:00-17:00 Europe/Brussels"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ALWAYS = {"always", "24/7", "24x7"}
_DAYS = r"[A-Za-z]{3}(?:\s*-\s*[A-Za-z]{3})?"
_SPAN = re.compile(
    rf"^(?P<days>{_DAYS}(?:\s*,\s*{_DAYS})*)\s+(?P<start>\d{{1,2}}:\d{{2}})\s*-\s*(?P<end>\d{{1,2}}:\d{{2}})$"
)


class OfficeHoursError(ValueError):
    """KAKEHASHI_OFFICE_HOURS cannot be understood."""


@dataclass(frozen=True)
class Span:
    """Open on `weekdays` (0 = Monday) from `start` to `end` minutes after local midnight; an `end`
    not after `start` runs into the next day."""

    weekdays: frozenset[int]
    start: int
    end: int


@dataclass(frozen=True)
class OfficeHours:
    spans: tuple[Span, ...]
    zone: ZoneInfo
    text: str
    always: bool = False

    # ------------------------------------------------------------------ queries

    def _intervals(self, now: dt.datetime, days_back: int = 1, days_ahead: int = 8):
        """Opening intervals (aware, local zone) of the days around `now`, in time order."""
        local = now.astimezone(self.zone)
        out = []
        for offset in range(-days_back, days_ahead + 1):
            day = local.date() + dt.timedelta(days=offset)
            for span in self.spans:
                if day.weekday() not in span.weekdays:
                    continue
                start = _at(day, span.start, self.zone)
                length = span.end - span.start if span.end > span.start else span.end + 1440 - span.start
                # Add minutes in UTC so that a span across a DST change keeps its wall-clock end.
                end = _at(
                    day + dt.timedelta(days=(span.start + length) // 1440), (span.start + length) % 1440, self.zone
                )
                out.append((start, end))
        return sorted(out)

    def is_open(self, now: dt.datetime) -> bool:
        """Whether the helpdesk is open at `now` (an aware datetime)."""
        _aware(now)
        if self.always:
            return True
        return any(start <= now < end for start, end in self._intervals(now))

    def next_opening(self, now: dt.datetime) -> dt.datetime:
        """`now` when open; else the next opening time (in the office's zone)."""
        _aware(now)
        if self.always or self.is_open(now):
            return now
        for start, _end in self._intervals(now, days_back=0):
            if start > now:
                return start
        raise OfficeHoursError(f"{ENV}={self.text!r} never opens")  # unreachable: parse refuses it

    def describe(self) -> str:
        """The hours for people, e.g. "Mon–Fri 09:00–17:00, Europe/Brussels time"."""
        if self.always:
            return "24 hours a day, every day"
        parts = [f"{_days_text(s.weekdays)} {_hm(s.start)}–{_hm(s.end or 1440)}" for s in self.spans]
        return f"{'; '.join(parts)}, {self.zone.key} time"


def format_opening(when: dt.datetime, zone: ZoneInfo | None = None) -> str:
    """e.g. "Monday 24 November, 09:00 Europe/Brussels time"."""
    zone = zone or (when.tzinfo if isinstance(when.tzinfo, ZoneInfo) else ZoneInfo("UTC"))
    local = when.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B}, {local:%H:%M} {zone.key} time"


# ------------------------------------------------------------------ parsing


def parse(text: str) -> OfficeHours:
    """Office hours from the setting's text; raises OfficeHoursError with what is wrong."""
    raw = " ".join((text or "").split())
    if raw.lower() in ALWAYS:
        return OfficeHours((), ZoneInfo("UTC"), raw, always=True)
    body, _, zone_name = raw.rpartition(" ")
    if not body:
        raise OfficeHoursError(f"{ENV}={text!r}: expected e.g. {DEFAULT!r}")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise OfficeHoursError(f"{ENV}={text!r}: unknown time zone {zone_name!r}") from exc
    spans = []
    # Spans are separated by ";" or by a "," right after a time ("," also lists days).
    for part in re.split(r"\s*;\s*|(?<=\d)\s*,\s*", body):
        match = _SPAN.match(part.strip())
        if not match:
            raise OfficeHoursError(f"{ENV}={text!r}: {part!r} is not '<days> HH:MM-HH:MM' (e.g. 'Mon-Fri 09:00-17:00')")
        start, end = _minutes(match["start"], text), _minutes(match["end"], text)
        if start == end or start >= 1440:
            raise OfficeHoursError(f"{ENV}={text!r}: {part!r} has no opening time")
        spans.append(Span(_weekdays(match["days"], text), start, end % 1440 if end == 1440 else end))
    return OfficeHours(tuple(spans), zone, raw)


def office_hours() -> OfficeHours:
    """The configured office hours (KAKEHASHI_OFFICE_HOURS, default DEFAULT)."""
    return parse(os.environ.get(ENV, "").strip() or DEFAULT)


def is_open(now: dt.datetime | None = None) -> bool:
    """Whether the helpdesk is open at `now` (default: the current time)."""
    return office_hours().is_open(now or dt.datetime.now(dt.UTC))


def next_opening(now: dt.datetime | None = None) -> dt.datetime:
    """`now` when the helpdesk is open, else when it next opens."""
    return office_hours().next_opening(now or dt.datetime.now(dt.UTC))


# ------------------------------------------------------------------ helpers


def _aware(now: dt.datetime) -> None:
    if not isinstance(now, dt.datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("office hours need an aware datetime (e.g. datetime.now(timezone.utc))")


def _at(day: dt.date, minutes: int, zone: ZoneInfo) -> dt.datetime:
    """Local wall-clock time `minutes` after midnight of `day`; a time skipped by a DST change
    is taken as the first valid instant after it (normalised through UTC)."""
    naive = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60))
    local = naive.replace(tzinfo=zone)
    return local.astimezone(dt.UTC).astimezone(zone)


def _minutes(value: str, text: str) -> int:
    hours, minutes = (int(x) for x in value.split(":"))
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise OfficeHoursError(f"{ENV}={text!r}: {value!r} is not a time of day")
    return hours * 60 + minutes


def _day(name: str, text: str) -> int:
    try:
        return DAYS.index(name.strip().lower()[:3])
    except ValueError:
        raise OfficeHoursError(f"{ENV}={text!r}: {name!r} is not a day (Mon … Sun)") from None


def _weekdays(spec: str, text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in re.split(r"\s*,\s*", spec.strip()):
        first, _, last = (s.strip() for s in item.partition("-"))
        a = _day(first, text)
        b = _day(last, text) if last else a
        day = a
        while True:
            days.add(day)
            if day == b:
                break
            day = (day + 1) % 7
    return frozenset(days)


def _days_text(days: frozenset[int]) -> str:
    ordered = sorted(days)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{DAY_NAMES[ordered[0]]}–{DAY_NAMES[ordered[-1]]}"
    return ", ".join(DAY_NAMES[d] for d in ordered)


def _hm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
