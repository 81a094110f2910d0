"""Quiet hours in the recipient's local time, strictest zone first, never earlier than due."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sera.outbound.rules import QuietHours, next_allowed, recipient_zones

CHICAGO = ZoneInfo("America/Chicago")
QUIET = QuietHours(time(21), time(8))


def test_zones_come_from_the_number() -> None:
    assert recipient_zones("+12125550100", CHICAGO) == [ZoneInfo("America/New_York")]
    assert recipient_zones("+441632960000", CHICAGO) == [CHICAGO]  # the number does not say
    assert len(recipient_zones("+18005550100", CHICAGO)) > 10  # toll-free spans the continent


def test_a_send_in_the_evening_waits_for_the_morning() -> None:
    due = datetime(2026, 11, 27, 22, 30, tzinfo=CHICAGO)
    assert next_allowed(due, [CHICAGO], QUIET) == datetime(2026, 11, 28, 8, 0, tzinfo=CHICAGO)


def test_an_allowed_send_is_not_moved() -> None:
    due = datetime(2026, 11, 27, 10, 0, tzinfo=CHICAGO)
    assert next_allowed(due, [CHICAGO], QUIET) == due


def test_the_strictest_zone_wins() -> None:
    new_york, los_angeles = ZoneInfo("America/New_York"), ZoneInfo("America/Los_Angeles")
    due = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)  # 7:30 in New York, 4:30 in Los Angeles
    moved = next_allowed(due, [new_york, los_angeles], QUIET)
    assert moved == datetime(2026, 11, 27, 8, 0, tzinfo=los_angeles)
    late = datetime(2026, 11, 28, 1, 30, tzinfo=UTC)  # 20:30 New York... 17:30 LA: NY quiet from 21
    assert next_allowed(late, [new_york, los_angeles], QUIET) == late


def test_a_window_inside_one_day() -> None:
    lunch = QuietHours(time(12), time(13))
    assert next_allowed(datetime(2026, 11, 27, 12, 15, tzinfo=CHICAGO), [CHICAGO], lunch) == datetime(
        2026, 11, 27, 13, 0, tzinfo=CHICAGO
    )


def test_zones_with_no_common_window_give_up() -> None:
    zones = [ZoneInfo("Pacific/Guam"), ZoneInfo("America/Adak")]  # 20 hours apart
    assert next_allowed(datetime(2026, 11, 27, 12, 0, tzinfo=UTC), zones, QuietHours(time(14), time(10))) is None
