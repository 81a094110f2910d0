"""What the booking engine asks of the world outside the shop's own database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sera.storage.database import UnitOfWork

LIVE_CALENDARS = "booking.live_calendars"  # the session service ``sera.bootstrap`` wires (CalDAV)


class LiveCheckFailedError(Exception):
    """A staff member's calendar could not be read now; the message is safe to log."""


class LiveCalendars(Protocol):
    """A staff member's own calendar, read at the moment a booking is confirmed."""

    def busy(
        self, uow: UnitOfWork, staff_id: str, start: datetime, end: datetime
    ) -> Sequence[tuple[datetime, datetime]] | None:
        """Busy ranges overlapping [start, end) in the staff member's calendar, or None when
        they have none connected. Raises ``LiveCheckFailedError`` when it cannot be read."""
