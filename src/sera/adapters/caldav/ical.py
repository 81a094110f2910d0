"""Reading busy time out of iCalendar data, and writing Sera's events.

Busy ranges are computed here, not with the free-busy REPORT, which many servers (Radicale,
Google) do not answer: events in the window are expanded (recurrences, in their own time
zones, so a weekly 10:00 stays 10:00 local across a daylight-saving change) and merged.
Per RFC 5545: an event without DTEND lasts its DURATION, else one day for a date and no
time for a date-time (which still blocks the slot around that moment); TRANSP:TRANSPARENT
and STATUS:CANCELLED do not block. One malformed event is skipped and counted, never fatal;
a huge calendar is read up to ``MAX_INSTANCES`` event instances.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from sera.calendars.ports import UID_SUFFIX, BusyRead, EventDetails

log = logging.getLogger("sera.calendars")

MAX_INSTANCES = 5000  # per refresh window: ten a day for a year and a half of weeks
MOMENT = timedelta(minutes=1)  # how long an event with no duration blocks


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)


def _span(event: icalendar.cal.Component, zone: ZoneInfo) -> tuple[datetime, datetime]:
    begins = event.decoded("DTSTART")
    if "DTEND" in event:
        ends = event.decoded("DTEND")
    elif "DURATION" in event:
        ends = begins + event.decoded("DURATION")
    elif isinstance(begins, datetime):
        ends = begins
    else:
        ends = begins + timedelta(days=1)
    start, end = _instant(begins, zone), _instant(ends, zone)
    if end < start:
        raise ValueError("the event ends before it starts")
    return start, max(end, start + MOMENT)


def _blocks(event: icalendar.cal.Component) -> bool:
    transparent = str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT"
    cancelled = str(event.get("STATUS", "")).upper() == "CANCELLED"
    return not (transparent or cancelled)


def _merged(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def busy_from(objects: Iterable[str], start: datetime, end: datetime, zone: ZoneInfo) -> BusyRead:
    """Busy ranges in [start, end) from calendar objects (each one VCALENDAR text)."""
    ranges: list[tuple[datetime, datetime]] = []
    sera_uids: set[str] = set()
    skipped = 0
    truncated = False
    for data in objects:
        if len(ranges) >= MAX_INSTANCES:
            truncated = True
            break
        try:
            calendar = icalendar.Calendar.from_ical(data)
            found = _instances(calendar, start, end, zone, MAX_INSTANCES - len(ranges))
        except Exception as exc:  # one bad event must not hide the others
            skipped += 1
            log.info("calendar event skipped", extra={"reason": type(exc).__name__})
            continue
        for uid, span in found:
            if uid.endswith(UID_SUFFIX):
                sera_uids.add(uid)
            elif span is not None:
                ranges.append(span)
        truncated = truncated or len(ranges) >= MAX_INSTANCES
    return BusyRead(_merged(ranges), frozenset(sera_uids), skipped, truncated)


def _instances(
    calendar: icalendar.Calendar, start: datetime, end: datetime, zone: ZoneInfo, room: int
) -> list[tuple[str, tuple[datetime, datetime] | None]]:
    """(UID, busy span or None) of each instance in the window, at most ``room`` spans."""
    found: list[tuple[str, tuple[datetime, datetime] | None]] = []
    spans = 0
    for event in recurring_ical_events.of(calendar).after(start):
        span = _span(event, zone)
        if span[0] >= end:
            break  # instances come in start order
        if span[1] <= start:
            continue
        uid = str(event.get("UID", ""))
        if uid.endswith(UID_SUFFIX):
            found.append((uid, None))
            continue
        if _blocks(event):
            found.append((uid, span))
            spans += 1
            if spans >= room:
                break
    return found


def event_ical(event: EventDetails) -> str:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Sera//bookings//EN")
    calendar.add("version", "2.0")
    vevent = icalendar.Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", event.stamp.astimezone(UTC))
    vevent.add("dtstart", event.start.astimezone(UTC))
    vevent.add("dtend", event.end.astimezone(UTC))
    vevent.add("summary", event.summary)
    vevent.add("description", event.description)
    vevent.add("transp", "OPAQUE")
    calendar.add_component(vevent)
    return str(calendar.to_ical().decode())
