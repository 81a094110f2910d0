"""What the calendars capability needs from a calendar server (``sera.adapters.caldav``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

UID_SUFFIX = "@sera"  # the events Sera writes: "<appointment id>@sera", stable across moves


def event_uid(appointment_id: str) -> str:
    return f"{appointment_id}{UID_SUFFIX}"


class CalendarError(Exception):
    """The calendar could not be used; the message is safe to show the shop (no body, no secret)."""


class CalendarAuthError(CalendarError):
    """The server refused the username or app password."""


class CalendarUnreachableError(CalendarError):
    """The server did not answer in time, or not at all: worth trying again later."""


@dataclass(frozen=True)
class CalendarAccount:
    url: str
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class BusyRead:
    """A calendar's busy ranges (UTC, merged) in a window, Sera's own events left out."""

    busy: list[tuple[datetime, datetime]]
    sera_uids: frozenset[str]  # Sera's events seen in the window (a missing one is a conflict)
    skipped: int = 0  # events that could not be read (malformed): reported, never fatal
    truncated: bool = False  # more events than a refresh keeps: the first ones are kept

    def problem(self) -> str | None:
        """What the shop should hear about this read, if anything."""
        notes = []
        if self.skipped:
            notes.append(f"{self.skipped} event(s) could not be read and were ignored")
        if self.truncated:
            notes.append("the calendar has more events than Sera reads; only the earliest block times")
        return "; ".join(notes) or None


@dataclass(frozen=True)
class EventDetails:
    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str
    stamp: datetime  # when Sera wrote it (the event's DTSTAMP)


class CalendarClient(Protocol):
    def check(self) -> None:
        """Raise CalendarAuthError / CalendarError unless the account can read the calendar."""

    def busy(self, start: datetime, end: datetime, zone: ZoneInfo) -> BusyRead:
        """Busy ranges in [start, end); floating times and all-day events are read in ``zone``."""

    def put_event(self, event: EventDetails) -> str:
        """Create or replace the event with this UID; returns its href."""

    def has_event(self, uid: str) -> bool:
        """Whether the event with this UID is still in the calendar."""

    def delete_event(self, uid: str) -> bool:
        """Delete the event with this UID; False if it was not there."""


Opener = Callable[[CalendarAccount, float], CalendarClient]  # an account and a timeout (seconds)
