"""Pure booking-availability engine: which appointment start times can a shop offer?

No database and no I/O: callers pass frozen dataclasses and get ``Slot`` values back.

Rules (the integrator must know these):

- Shops work in local wall-clock time. Opening hours are wall times; a start time
  on the grid that does not exist (spring-forward gap) is skipped, and an ambiguous
  one (fall-back) means its FIRST occurrence only (fold=0). Durations are real
  elapsed minutes, so all arithmetic is done on UTC instants.
- An opening-range boundary that falls inside a spring-forward gap resolves to the
  moment the clock jumps (e.g. "open from 02:30" on a night that skips 02:00-03:00
  opens at 03:00 new time).
- The appointment itself ``[s, s+duration)`` must fit inside one opening range of
  both the shop and the staff member; the service buffer may run past closing
  (cleaning up after the last customer is fine), but it still blocks the staff
  member for capacity purposes.
- Start times lie on a grid of ``step_min`` minutes (a shorter service's own length) aligned to the opening time of
  each shop range (touching or overlapping ranges are merged first). All staff share
  that grid, so a customer sees one consistent list of times; a staff member whose
  own hours start off-grid gets their first slot at the next grid point.
- Capacity: a staff member is free for a new booking when fewer than
  ``service.capacity`` of their existing bookings overlap the new booking's busy
  interval ``[s, s+duration+buffer)``. This is conservative: two back-to-back
  bookings that both touch the interval count as two even if they never run at the
  same moment.
- Bookings may be in any zone; only their instants matter. One that does not end
  after it starts occupies no time. Instants are compared as POSIX seconds.
- ``Slot.start``/``Slot.end`` are in the shop's zone. Python compares and subtracts
  datetimes that share a tzinfo by wall time, ignoring ``fold``: on a fall-back night
  ``slot.end - slot.start`` can be wrong. Convert to UTC before doing arithmetic.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypeAlias
from zoneinfo import ZoneInfo

# Instants are POSIX timestamps (float seconds). ``datetime.timestamp()`` is the
# cheapest exact-enough conversion CPython offers, which matters when indexing
# thousands of bookings per call; whole-second values are exact in a float.
_Instant: TypeAlias = float
_Span: TypeAlias = tuple[_Instant, _Instant]  # half-open [start, end)
_WallRange: TypeAlias = tuple[time, time]
_SECONDS_PER_MIN = 60


@dataclass(frozen=True)
class TimeRange:
    """A wall-clock range within one day; ``start < end`` (naive times)."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("TimeRange takes naive wall-clock times; the zone is the shop's")
        if not self.start < self.end:
            raise ValueError(f"TimeRange start {self.start} must be before end {self.end}")


WeeklyHours: TypeAlias = Mapping[int, Sequence[TimeRange]]
"""Weekday (0=Mon .. 6=Sun) -> opening ranges; a missing weekday means closed."""


@dataclass(frozen=True)
class ShopCalendar:
    tz: ZoneInfo
    hours: WeeklyHours
    closures: frozenset[date]  # whole local days closed


@dataclass(frozen=True)
class ServiceSpec:
    id: str
    name: str
    duration_min: int
    buffer_min: int = 0  # kept free AFTER each booking; staff busy for duration+buffer
    capacity: int = 1  # parallel bookings per staff member


@dataclass(frozen=True)
class StaffSpec:
    id: str
    name: str
    service_ids: frozenset[str] | None = None  # None = does every service
    hours: WeeklyHours | None = None  # None = shop hours; always intersected with shop hours


@dataclass(frozen=True)
class Booking:
    """An existing appointment occupying a staff member."""

    staff_id: str
    start: datetime  # timezone-aware (any zone)
    end: datetime  # aware; end of the appointment INCLUDING its own buffer


@dataclass(frozen=True)
class Slot:
    """A bookable start. Times are in the shop's zone; do arithmetic in UTC (see module doc)."""

    start: datetime
    end: datetime  # start + duration (the buffer is not included)
    staff_id: str
    staff_name: str


class BookingIndex:
    """Existing bookings grouped per staff member, as sorted start and end instants.

    Counting the bookings that overlap an interval is then two binary searches
    instead of a scan. Converting datetimes dominates the cost of indexing, so each
    staff member's bookings are converted the first time a search asks about them:
    "the next free time" usually only consults the first staff member or two. Pass a
    built index instead of the booking list to reuse that work across searches.

    A booking that does not end after it starts occupies no time and is ignored.
    """

    __slots__ = ("_instants", "_pending")

    def __init__(self, pending: dict[str, list[Booking]]) -> None:
        self._pending = pending
        self._instants: dict[str, tuple[list[_Instant], list[_Instant]]] = {}

    @classmethod
    def build(cls, bookings: Iterable[Booking]) -> BookingIndex:
        """Group bookings by staff; raises ValueError for datetimes without a tzinfo."""
        grouped: dict[str, list[Booking]] = {}
        for booking in bookings:
            if booking.start.tzinfo is None or booking.end.tzinfo is None:
                raise ValueError(f"booking for {booking.staff_id!r} must be timezone-aware")
            grouped.setdefault(booking.staff_id, []).append(booking)
        return cls(grouped)

    def count_overlapping(self, staff_id: str, start: datetime, end: datetime) -> int:
        """How many bookings of ``staff_id`` overlap ``[start, end)``."""
        starts, ends = self.sorted_instants(staff_id)
        lo = _require_aware("start", start).timestamp()
        hi = _require_aware("end", end).timestamp()
        return bisect_left(starts, hi) - bisect_right(ends, lo)

    def sorted_instants(self, staff_id: str) -> tuple[list[_Instant], list[_Instant]]:
        """Sorted start and end instants (POSIX seconds); empty for unknown staff.

        Bookings overlapping ``[a, b)`` are those starting before ``b`` minus those
        already over by ``a`` (each of which also started before ``b``), i.e.
        ``bisect_left(starts, b) - bisect_right(ends, a)``.
        """
        found = self._instants.get(staff_id)
        if found is None:
            found = _sorted_instants(self._pending.get(staff_id, ()))
            self._instants[staff_id] = found
        return found


def _sorted_instants(bookings: Iterable[Booking]) -> tuple[list[_Instant], list[_Instant]]:
    spans = [(b.start.timestamp(), b.end.timestamp()) for b in bookings]
    starts = sorted(start for start, end in spans if start < end)
    ends = sorted(end for start, end in spans if start < end)
    return starts, ends


Bookings: TypeAlias = Iterable[Booking] | BookingIndex


# --------------------------------------------------------------------------- public API


def find_slots(
    calendar: ShopCalendar,
    service: ServiceSpec,
    staff: Sequence[StaffSpec],
    bookings: Bookings,
    *,
    window_start: datetime,
    window_end: datetime,
    staff_id: str | None = None,
    not_before: datetime | None = None,
    step_min: int = 15,
    limit: int | None = None,
    one_per_start: bool = True,
) -> list[Slot]:
    """Bookable slots starting in ``[window_start, window_end)``, sorted by start then staff.

    With ``one_per_start`` only the first free staff member (in the given order) is
    returned for each start, because a caller who did not name a staff member does not
    care who it is. ``limit`` stops the search early, which is what makes "the next
    few free times" cheap. ``not_before`` is normally "now".
    """
    _require_positive("step_min", step_min)
    if 0 < service.duration_min < step_min:  # ten-minute tee times start every ten minutes
        step_min = service.duration_min
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    lo = _require_aware("window_start", window_start).timestamp()
    hi = _require_aware("window_end", window_end).timestamp()
    if not_before is not None:
        lo = max(lo, _require_aware("not_before", not_before).timestamp())
    search = _Search(calendar, service, staff, bookings, staff_id)
    found: list[Slot] = []
    if lo >= hi or limit == 0:
        return found
    step = step_min * _SECONDS_PER_MIN
    for day in _local_days(lo, hi, calendar.tz):
        room = None if limit is None else limit - len(found)
        found.extend(search.day_slots(day, step, lo, hi, one_per_start, room))
        if len(found) == limit:
            break
    return found


def is_bookable(
    calendar: ShopCalendar,
    service: ServiceSpec,
    staff: Sequence[StaffSpec],
    bookings: Bookings,
    start: datetime,
    *,
    staff_id: str | None = None,
    not_before: datetime | None = None,
) -> Slot | None:
    """The slot for exactly ``start`` with the first free eligible staff, or None.

    ``start`` need not be on the search grid. The second occurrence of an ambiguous
    fall-back wall time is refused, matching ``find_slots`` which never offers it.
    """
    at = _require_aware("start", start).timestamp()
    search = _Search(calendar, service, staff, bookings, staff_id)
    if not_before is not None and at < _require_aware("not_before", not_before).timestamp():
        return None
    local = start.astimezone(calendar.tz)
    if local.fold:
        return None
    day = search.day_plan(local.date())
    if day is None:
        return None
    free = search.free_staff(day, at, first_only=True)
    return search.slot(at, free[0]) if free else None


def opening_ranges(calendar: ShopCalendar, day: date) -> list[tuple[datetime, datetime]]:
    """The shop's opening intervals on a local date as aware datetimes in its zone."""
    if day in calendar.closures:
        return []
    tz = calendar.tz
    spans = _DayClock(day, tz).spans(_day_hours(calendar.hours, day.weekday()))
    return [(_local(a, tz), _local(b, tz)) for a, b in spans]


def staff_hours(calendar: ShopCalendar, member: StaffSpec, weekday: int) -> list[tuple[time, time]]:
    """A staff member's wall hours on a weekday (0=Mon), inside the shop's, sorted and merged."""
    return _clipped(_day_hours(calendar.hours, weekday), member, weekday)


def next_open_day(calendar: ShopCalendar, after: date, max_days: int = 366) -> date | None:
    """The first local date strictly after ``after`` (within ``max_days``) the shop opens."""
    for offset in range(1, max_days + 1):
        day = after + timedelta(days=offset)
        if opening_ranges(calendar, day):
            return day
    return None


# --------------------------------------------------------------------------- search


@dataclass(frozen=True, slots=True)
class _Shift:
    """A staff member's working spans on one day."""

    who: int  # position in the eligible staff list
    staff_id: str
    spans: list[_Span]


@dataclass(frozen=True, slots=True)
class _DayPlan:
    """One open local day: its clock, the shop's wall ranges and who works when."""

    clock: _DayClock
    shop: list[_WallRange]
    staff: list[_Shift]  # staff working today, in the caller's order


class _Search:
    """Everything constant during one call, so per-candidate work is a few compares."""

    def __init__(
        self,
        calendar: ShopCalendar,
        service: ServiceSpec,
        staff: Sequence[StaffSpec],
        bookings: Bookings,
        staff_id: str | None,
    ) -> None:
        _check_service(service)
        self._calendar = calendar
        self._duration = service.duration_min * _SECONDS_PER_MIN
        self._busy = (service.duration_min + service.buffer_min) * _SECONDS_PER_MIN
        self._capacity = service.capacity
        self._staff = _eligible_staff(staff, service, staff_id)
        if not isinstance(bookings, BookingIndex):
            bookings = BookingIndex.build(bookings)
        self._index = bookings
        self._weekly: dict[int, list[list[_WallRange]]] = {}

    def slot(self, start: _Instant, who: int) -> Slot:
        tz = self._calendar.tz
        member = self._staff[who]
        end = datetime.fromtimestamp(start + self._duration, tz)
        return Slot(datetime.fromtimestamp(start, tz), end, member.id, member.name)

    def day_plan(self, day: date) -> _DayPlan | None:
        """Resolve a local day, or None when nobody can take this service that day."""
        if day in self._calendar.closures:
            return None
        shop = _day_hours(self._calendar.hours, day.weekday())
        clock = _DayClock(day, self._calendar.tz)
        staff = []
        for who, wall in enumerate(self._staff_hours(day.weekday(), shop)):
            spans = clock.spans(wall)
            if spans:
                staff.append(_Shift(who, self._staff[who].id, spans))
        return _DayPlan(clock, shop, staff) if staff else None

    def day_slots(
        self, day: date, step: int, lo: _Instant, hi: _Instant, first_only: bool, room: int | None
    ) -> list[Slot]:
        """Slots on one day's grid starting within ``[lo, hi)``, at most ``room`` of them."""
        found: list[Slot] = []
        plan = self.day_plan(day)
        if plan is None:
            return found
        for opens, closes in plan.shop:
            last_start = plan.clock.instant(closes) - self._duration
            for start in plan.clock.grid(opens, closes, step):
                if start < lo:
                    continue
                if start >= hi or start > last_start:
                    break
                for who in self.free_staff(plan, start, first_only):
                    found.append(self.slot(start, who))
                    if len(found) == room:
                        return found
        return found

    def free_staff(self, plan: _DayPlan, start: _Instant, first_only: bool) -> list[int]:
        """Positions of the staff, in order, whose hours and bookings allow ``start``.

        This is the hot loop of every search, so it sticks to float compares and
        two binary searches per staff member.
        """
        free: list[int] = []
        end = start + self._duration
        busy_end = start + self._busy
        capacity = self._capacity
        for shift in plan.staff:
            for span_start, span_end in shift.spans:
                if span_start <= start and end <= span_end:
                    break
            else:
                continue
            starts, ends = self._index.sorted_instants(shift.staff_id)
            if bisect_left(starts, busy_end) - bisect_right(ends, start) < capacity:
                free.append(shift.who)
                if first_only:
                    break
        return free

    def _staff_hours(self, weekday: int, shop: list[_WallRange]) -> list[list[_WallRange]]:
        """Each eligible staff member's wall hours on a weekday, clipped to the shop's."""
        cached = self._weekly.get(weekday)
        if cached is None:
            cached = [_clipped(shop, m, weekday) for m in self._staff]
            self._weekly[weekday] = cached
        return cached


def _eligible_staff(staff: Sequence[StaffSpec], service: ServiceSpec, staff_id: str | None) -> list[StaffSpec]:
    if staff_id is not None:
        chosen = [m for m in staff if m.id == staff_id]
        if not chosen:
            raise ValueError(f"unknown staff_id {staff_id!r}")
        staff = chosen
    return [m for m in staff if m.service_ids is None or service.id in m.service_ids]


def _local_days(lo: _Instant, hi: _Instant, tz: ZoneInfo) -> Iterator[date]:
    """Local dates touched by the instants ``[lo, hi)``."""
    day = _local(lo, tz).date()
    last = (_local(hi, tz) - timedelta(microseconds=1)).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


# --------------------------------------------------------------------------- wall hours


def _day_hours(hours: WeeklyHours, weekday: int) -> list[_WallRange]:
    """A weekday's ranges sorted, with touching or overlapping ranges merged, so an
    appointment may span e.g. 10-12 and 12-14 given as two rows."""
    merged: list[_WallRange] = []
    for start, end in sorted((r.start, r.end) for r in hours.get(weekday, ())):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _clipped(shop: list[_WallRange], member: StaffSpec, weekday: int) -> list[_WallRange]:
    return shop if member.hours is None else _intersect(shop, _day_hours(member.hours, weekday))


def _intersect(a: list[_WallRange], b: list[_WallRange]) -> list[_WallRange]:
    """Intersection of two sorted, disjoint range lists."""
    out: list[_WallRange] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


# --------------------------------------------------------------------------- wall clock


class _DayClock:
    """Turns one local date's wall times into instants.

    Most days have a single UTC offset, so conversion is plain addition; only the
    two DST days a year take the slow path that inspects every wall time.
    """

    __slots__ = ("_day", "_midnight", "_tz")

    def __init__(self, day: date, tz: ZoneInfo) -> None:
        self._day = day
        self._tz = tz
        self._midnight = _fixed_offset_midnight(day, tz)

    def instant(self, wall: time) -> _Instant:
        """When the clock reads ``wall``; inside a gap, the moment the clock jumps."""
        if self._midnight is not None:
            return self._midnight + _seconds(wall)
        naive = datetime.combine(self._day, wall)
        existing = _existing_instant(naive, self._tz)
        return _gap_end(naive, self._tz) if existing is None else existing

    def spans(self, ranges: list[_WallRange]) -> list[_Span]:
        """Non-empty instant spans for wall ranges (a range inside a gap vanishes)."""
        spans = [(self.instant(a), self.instant(b)) for a, b in ranges]
        return [(a, b) for a, b in spans if a < b]

    def grid(self, start: time, end: time, step: int) -> list[_Instant]:
        """Instants of the wall times start, start+step, ... before end that exist."""
        if self._midnight is not None:
            first = self._midnight + _seconds(start)
            count = -((_seconds(start) - _seconds(end)) // step)  # ceiling division
            return [first + k * step for k in range(int(count))]
        naive = datetime.combine(self._day, start)
        stop = datetime.combine(self._day, end)
        found: list[_Instant] = []
        while naive < stop:
            existing = _existing_instant(naive, self._tz)
            if existing is not None:
                found.append(existing)
            naive += timedelta(seconds=step)
        return found


def _fixed_offset_midnight(day: date, tz: ZoneInfo) -> _Instant | None:
    """Local midnight as an instant when the whole day has one UTC offset, else None."""
    first = datetime.combine(day, time.min, tzinfo=tz)
    last = datetime.combine(day, time.max, tzinfo=tz)
    offsets = {d.utcoffset() for d in (first, first.replace(fold=1), last, last.replace(fold=1))}
    return first.timestamp() if len(offsets) == 1 else None


def _existing_instant(naive: datetime, tz: ZoneInfo) -> _Instant | None:
    """The first (fold=0) instant showing this wall time, or None inside a gap."""
    aware = naive.replace(tzinfo=tz)
    round_trip = _local(aware.timestamp(), tz).replace(tzinfo=None)
    return aware.timestamp() if round_trip == naive else None


def _gap_end(naive: datetime, tz: ZoneInfo) -> _Instant:
    """The instant a spring-forward jump skips past ``naive``.

    The fold=0/fold=1 readings of a missing time bracket the transition; binary
    search whole seconds (tz transitions fall on them) for the first instant whose
    wall reading is not before ``naive``.
    """
    earlier, later = sorted(naive.replace(tzinfo=tz, fold=f).timestamp() for f in (0, 1))
    lo, hi = int(earlier) - 1, int(later) + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _local(mid, tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return float(hi)


# --------------------------------------------------------------------------- conversions


def _local(instant: _Instant, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(instant, tz)


def _seconds(wall: time) -> float:
    return wall.hour * 3600 + wall.minute * 60 + wall.second + wall.microsecond / 1e6


def _require_aware(name: str, moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment


def _require_positive(name: str, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def _check_service(service: ServiceSpec) -> None:
    _require_positive(f"service {service.id!r} duration_min", service.duration_min)
    if service.buffer_min < 0:
        raise ValueError(f"service {service.id!r} buffer_min must be >= 0")
    if service.capacity < 1:
        raise ValueError(f"service {service.id!r} capacity must be >= 1")
