"""Connects the booking engine's live calendar check to CalDAV."""

from __future__ import annotations

from sera.adapters.caldav.client import GuardedAdapter, open_calendar
from sera.booking.ports import LIVE_CALENDARS
from sera.bootstrap import Sera
from sera.calendars.busy import LiveCheck
from sera.calendars.ports import Opener

opener: Opener = open_calendar  # what the jobs, the commands and the dashboard connect with


def connect(sera: Sera) -> None:
    GuardedAdapter.allow_private = sera.settings.calendars_allow_private
    sera.db.services[LIVE_CALENDARS] = LiveCheck(opener, sera.settings.calendar_live_timeout_seconds)
