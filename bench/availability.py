"""Benchmark the availability engine against a naive baseline on the same data.

Run: .venv/bin/python bench/availability.py

10 staff, 2,000 seeded-random bookings over 60 days at the demo shop's hours. Each
search runs many times; p50/p95 are wall-clock milliseconds per call, and every
call of the engine includes indexing the raw booking list (as a caller without a
prebuilt BookingIndex would pay). Not a test: nothing here asserts on timing.
"""

from __future__ import annotations

import random
import statistics
import time as clock
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sera.booking.slots import (
    Booking,
    BookingIndex,
    Bookings,
    ServiceSpec,
    ShopCalendar,
    Slot,
    StaffSpec,
    TimeRange,
    WeeklyHours,
    find_slots,
    opening_ranges,
)

TZ = ZoneInfo("America/Chicago")
FIRST_DAY = date(2026, 9, 7)  # a Monday; the 60 days include the Nov 1 DST change
DAYS = 60
SEED = 20260907
BOOKINGS = 2_000
FAST_RUNS = 200
NAIVE_RUNS = 5


def _hours(start: int, end: int) -> list[TimeRange]:
    return [TimeRange(time(start), time(end))]


SHOP_HOURS: WeeklyHours = {
    0: _hours(10, 18),
    1: _hours(10, 18),
    2: _hours(10, 18),
    3: _hours(10, 20),
    4: _hours(10, 18),
    5: _hours(9, 17),
}
CALENDAR = ShopCalendar(TZ, SHOP_HOURS, frozenset({date(2026, 10, 12)}))
TUNE_UP = ServiceSpec("tune-up", "Tune-up", duration_min=60, buffer_min=15)


def build_staff() -> list[StaffSpec]:
    """Ten staff: most do tune-ups, some work short or part-week hours."""
    staff = []
    for n in range(10):
        services = frozenset({"flat-tire"}) if n == 3 else None
        own: WeeklyHours | None = None
        if n % 3 == 1:
            own = {day: _hours(12, 20) for day in (1, 2, 3, 4, 5)}
        staff.append(StaffSpec(f"s{n}", f"Staff {n}", services, own))
    return staff


def build_bookings(staff: Sequence[StaffSpec], rng: random.Random) -> list[Booking]:
    bookings = []
    for _ in range(BOOKINGS):
        day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        start = datetime.combine(day, time(rng.randrange(9, 19), rng.choice((0, 15, 30, 45))))
        minutes = rng.choice((30, 45, 75, 105))
        aware = start.replace(tzinfo=TZ)
        bookings.append(Booking(rng.choice(staff).id, aware, aware + timedelta(minutes=minutes)))
    return bookings


# --------------------------------------------------------------------------- naive baseline


def naive_find_slots(
    calendar: ShopCalendar,
    service: ServiceSpec,
    staff: Sequence[StaffSpec],
    bookings: Sequence[Booking],
    *,
    window_start: datetime,
    window_end: datetime,
    limit: int | None = None,
    step_min: int = 15,
) -> list[Slot]:
    """The obvious algorithm: every grid start, every staff, every booking of theirs."""
    duration = timedelta(minutes=service.duration_min)
    busy = duration + timedelta(minutes=service.buffer_min)
    step = timedelta(minutes=step_min)
    eligible = [m for m in staff if m.service_ids is None or service.id in m.service_ids]
    by_staff = {m.id: [b for b in bookings if b.staff_id == m.id] for m in eligible}
    found: list[Slot] = []
    day = window_start.astimezone(calendar.tz).date()
    while datetime.combine(day, time(0), tzinfo=calendar.tz) < window_end:
        working = {m.id: _staff_ranges(calendar, m, day) for m in eligible}
        for opens, closes in opening_ranges(calendar, day):
            start = opens.astimezone(UTC)
            while start < closes:
                if window_start <= start < window_end:
                    for member in eligible:
                        spans = working[member.id]
                        if not any(a <= start and start + duration <= b for a, b in spans):
                            continue
                        if _overlapping(by_staff[member.id], start, start + busy) < service.capacity:
                            end = (start + duration).astimezone(calendar.tz)
                            local = start.astimezone(calendar.tz)
                            found.append(Slot(local, end, member.id, member.name))
                            if len(found) == limit:
                                return found
                            break
                start += step
        day += timedelta(days=1)
    return found


def _overlapping(bookings: list[Booking], start: datetime, end: datetime) -> int:
    return sum(1 for b in bookings if b.start < end and b.end > start)


def _staff_ranges(calendar: ShopCalendar, member: StaffSpec, day: date) -> list[tuple[datetime, datetime]]:
    shop = opening_ranges(calendar, day)
    if member.hours is None:
        return shop
    own = opening_ranges(ShopCalendar(calendar.tz, member.hours, calendar.closures), day)
    return [(max(a, c), min(b, d)) for a, b in shop for c, d in own if max(a, c) < min(b, d)]


# --------------------------------------------------------------------------- measurement


def measure(run: Callable[[], list[Slot]], runs: int) -> tuple[float, float, list[Slot]]:
    times = []
    result: list[Slot] = []
    for _ in range(runs):
        began = clock.perf_counter()
        result = run()
        times.append((clock.perf_counter() - began) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, result


@dataclass(frozen=True)
class Scenario:
    name: str
    window_start: datetime
    window_end: datetime
    limit: int | None = None


def scenarios() -> list[Scenario]:
    start = datetime.combine(FIRST_DAY, time(9, 30), tzinfo=TZ)
    busy_day = datetime.combine(FIRST_DAY + timedelta(days=24), time(0), tzinfo=TZ)  # a Thursday
    sixty_days = start + timedelta(days=DAYS)
    return [
        Scenario("first 5 slots (60-day window)", start, sixty_days, limit=5),
        Scenario("one day, all slots", busy_day, busy_day + timedelta(days=1)),
        Scenario("full 60-day scan", start, sixty_days),
    ]


def engine(staff: list[StaffSpec], bookings: Bookings, s: Scenario) -> Callable[[], list[Slot]]:
    def run() -> list[Slot]:
        return find_slots(
            CALENDAR,
            TUNE_UP,
            staff,
            bookings,
            window_start=s.window_start,
            window_end=s.window_end,
            limit=s.limit,
        )

    return run


def naive(staff: list[StaffSpec], bookings: list[Booking], s: Scenario) -> Callable[[], list[Slot]]:
    def run() -> list[Slot]:
        return naive_find_slots(
            CALENDAR,
            TUNE_UP,
            staff,
            bookings,
            window_start=s.window_start,
            window_end=s.window_end,
            limit=s.limit,
        )

    return run


def main() -> None:
    rng = random.Random(SEED)
    staff = build_staff()
    bookings = build_bookings(staff, rng)
    index = BookingIndex.build(bookings)
    print(f"{len(staff)} staff, {len(bookings)} bookings over {DAYS} days; ms per call\n")
    header = f"{'search':32} {'slots':>6} {'p50':>8} {'p95':>8} {'indexed':>8}"
    print(f"{header} {'naive p50':>10} {'speed-up':>9}  same")
    for scenario in scenarios():
        fast_p50, fast_p95, fast = measure(engine(staff, bookings, scenario), FAST_RUNS)
        indexed_p50, _, _ = measure(engine(staff, index, scenario), FAST_RUNS)
        naive_p50, _, slow = measure(naive(staff, bookings, scenario), NAIVE_RUNS)
        print(
            f"{scenario.name:32} {len(fast):>6} {fast_p50:>8.3f} {fast_p95:>8.3f}"
            f" {indexed_p50:>8.3f} {naive_p50:>10.2f} {naive_p50 / fast_p50:>8.0f}x"
            f"  {fast == slow}"
        )
    print("\np50/p95: engine given the raw booking list (indexing included);")
    print("indexed: p50 with a prebuilt BookingIndex; naive: linear scan per candidate;")
    print("same: the engine and the naive baseline returned identical slots.")


if __name__ == "__main__":
    main()
