"""Rules every outbound send obeys that need no database: quiet hours in the recipient's
local time.

A number can span several time zones (toll-free and some area codes do); then a send
is allowed only at a moment that is outside quiet hours in every one of them (the
strictest reading). A send due in quiet hours moves to the next allowed moment,
never earlier than it was due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_zones

SEARCH_STEPS = 16
MAX_SHIFT = timedelta(days=3)


@dataclass(frozen=True)
class QuietHours:
    start: time  # quiet from (e.g. 21:00)
    end: time  # until (e.g. 08:00); may be earlier than start: the window crosses midnight

    @classmethod
    def parse(cls, settings: dict[str, str] | None) -> QuietHours:
        settings = settings or {}
        return cls(time.fromisoformat(settings.get("start", "21:00")), time.fromisoformat(settings.get("end", "08:00")))

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def recipient_zones(e164: str, fallback: ZoneInfo) -> list[ZoneInfo]:
    """The time zones a number may be in; the shop's zone when the number does not say."""
    try:
        names = phone_zones.time_zones_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return [fallback]
    zones = []
    for name in names:
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return zones or [fallback]


def _quiet_end_after(moment: datetime, zone: ZoneInfo, quiet: QuietHours) -> datetime:
    """When quiet hours that contain ``moment`` end, in that zone."""
    local = moment.astimezone(zone)
    end = datetime.combine(local.date(), quiet.end, tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), quiet.end, tzinfo=zone)
    return end


def next_allowed(due: datetime, zones: list[ZoneInfo], quiet: QuietHours) -> datetime | None:
    """The first moment at or after ``due`` outside quiet hours in every zone (None if none soon)."""
    moment = due
    for _ in range(SEARCH_STEPS):
        blocked = [zone for zone in zones if quiet.contains(moment.astimezone(zone).time())]
        if not blocked:
            return moment
        moment = max(_quiet_end_after(moment, zone, quiet) for zone in blocked)
        if moment - due > MAX_SHIFT:
            return None
    return None
