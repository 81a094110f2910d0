"""Behaviour of the availability engine as a customer of the demo bike shop sees it."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

import pytest

from sera.booking.slots import (
    Booking,
    BookingIndex,
    ServiceSpec,
    ShopCalendar,
    Slot,
    StaffSpec,
    TimeRange,
    WeeklyHours,
    find_slots,
    is_bookable,
    next_open_day,
    opening_ranges,
)

CHICAGO = ZoneInfo("America/Chicago")
LONDON = ZoneInfo("Europe/London")

MON, TUE, WED, THU, FRI, SAT = 0, 1, 2, 3, 4, 5
# A plain week without DST changes or closures: Monday 2026-06-01 .. Sunday 2026-06-07.
MONDAY = date(2026, 6, 1)
TUESDAY = date(2026, 6, 2)
WEDNESDAY = date(2026, 6, 3)
THURSDAY = date(2026, 6, 4)
SATURDAY = date(2026, 6, 6)
SUNDAY = date(2026, 6, 7)


def hours(start: int, end: int) -> list[TimeRange]:
    return [TimeRange(time(start), time(end))]


SHOP = ShopCalendar(
    tz=CHICAGO,
    hours={
        MON: hours(10, 18),
        TUE: hours(10, 18),
        WED: hours(10, 18),
        THU: hours(10, 20),
        FRI: hours(10, 18),
        SAT: hours(9, 17),
    },
    closures=frozenset({date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1)}),
)
TUNE_UP = ServiceSpec("tune-up", "Tune-up", duration_min=60, buffer_min=15)
FLAT_TIRE = ServiceSpec("flat-tire", "Flat tire repair", duration_min=30)
BIKE_FITTING = ServiceSpec("fitting", "Bike fitting", duration_min=90, buffer_min=15)
BRAKES = ServiceSpec("brakes", "Brake service", duration_min=45)
DANA = StaffSpec("dana", "Dana", frozenset({"tune-up", "fitting", "brakes"}))
LUIS = StaffSpec(
    "luis",
    "Luis",
    frozenset({"tune-up", "flat-tire", "brakes"}),
    hours={
        TUE: hours(12, 18),
        WED: hours(10, 18),
        THU: hours(12, 20),
        FRI: hours(10, 18),
        SAT: hours(9, 17),
    },
)
STAFF = [DANA, LUIS]


def at(day: date, hour: int, minute: int = 0, tz: ZoneInfo = CHICAGO) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


class Window(TypedDict):
    window_start: datetime
    window_end: datetime


def whole_day(day: date, tz: ZoneInfo = CHICAGO) -> Window:
    start = datetime.combine(day, time(0), tzinfo=tz)
    return {"window_start": start, "window_end": start + timedelta(days=1)}


def local_starts(slots: list[Slot]) -> list[str]:
    return [s.start.strftime("%H:%M") for s in slots]


def utc_starts(slots: list[Slot]) -> list[str]:
    return [s.start.astimezone(UTC).strftime("%H:%M") for s in slots]


def booked(staff: StaffSpec, start: datetime, minutes: int) -> Booking:
    return Booking(staff.id, start, start + timedelta(minutes=minutes))


# --------------------------------------------------------------------------- opening hours


def test_monday_tune_ups_run_from_opening_until_the_last_hour() -> None:
    slots = find_slots(SHOP, TUNE_UP, STAFF, [], **whole_day(MONDAY))

    starts = local_starts(slots)
    assert starts[0] == "10:00"
    assert starts[1] == "10:15"
    # 17:00 + 60 min ends at closing; its 15-minute buffer may run past 18:00.
    assert starts[-1] == "17:00"
    assert len(starts) == 29


def test_a_service_shorter_than_the_grid_starts_on_a_grid_of_its_own_length() -> None:
    """Ten-minute tee times start every ten minutes: 10:40 is one of them."""
    tee_time = ServiceSpec("tee", "Tee time", duration_min=10)
    starter = StaffSpec("starter", "Starter", frozenset({"tee"}))
    starts = local_starts(find_slots(SHOP, tee_time, [starter], [], **whole_day(MONDAY)))
    assert starts[:5] == ["10:00", "10:10", "10:20", "10:30", "10:40"]
    assert starts[-1] == "17:50"


def test_thursday_late_opening_and_saturday_early_opening() -> None:
    thursday = local_starts(find_slots(SHOP, BRAKES, STAFF, [], **whole_day(THURSDAY)))
    saturday = local_starts(find_slots(SHOP, BRAKES, STAFF, [], **whole_day(SATURDAY)))

    assert thursday[-1] == "19:15"
    assert (saturday[0], saturday[-1]) == ("09:00", "16:15")


def test_no_slots_on_sundays_or_holiday_closures() -> None:
    christmas_week = find_slots(
        SHOP,
        TUNE_UP,
        STAFF,
        [],
        window_start=at(date(2026, 12, 25), 0),
        window_end=at(date(2026, 12, 28), 0),
    )

    assert find_slots(SHOP, TUNE_UP, STAFF, [], **whole_day(SUNDAY)) == []
    assert christmas_week == []
    assert find_slots(SHOP, TUNE_UP, STAFF, [], **whole_day(date(2027, 1, 1))) == []


def test_opening_ranges_and_next_open_day_skip_closures() -> None:
    assert opening_ranges(SHOP, MONDAY) == [(at(MONDAY, 10), at(MONDAY, 18))]
    assert opening_ranges(SHOP, SUNDAY) == []
    assert opening_ranges(SHOP, date(2026, 12, 25)) == []
    # Christmas Friday and Saturday are closures, Sunday is closed.
    assert next_open_day(SHOP, date(2026, 12, 24)) == date(2026, 12, 28)
    never_open = ShopCalendar(CHICAGO, {}, frozenset())
    assert next_open_day(never_open, MONDAY) is None


def test_split_hours_offer_no_slot_across_the_lunch_break() -> None:
    lunch_break = ShopCalendar(
        CHICAGO, {MON: [TimeRange(time(14), time(17)), TimeRange(time(9), time(12))]}, frozenset()
    )

    slots = find_slots(lunch_break, BRAKES, [DANA], [], **whole_day(MONDAY), step_min=30)

    morning = ["09:00", "09:30", "10:00", "10:30", "11:00"]
    afternoon = ["14:00", "14:30", "15:00", "15:30", "16:00"]
    assert local_starts(slots) == morning + afternoon


def test_touching_ranges_count_as_one_stretch_of_opening_hours() -> None:
    two_rows = ShopCalendar(CHICAGO, {MON: [TimeRange(time(10), time(12)), TimeRange(time(12), time(14))]}, frozenset())

    assert is_bookable(two_rows, TUNE_UP, [DANA], [], at(MONDAY, 11, 30)) is not None
    assert opening_ranges(two_rows, MONDAY) == [(at(MONDAY, 10), at(MONDAY, 14))]


# --------------------------------------------------------------------------- staff


def test_luis_starts_at_noon_on_tuesdays_and_never_works_mondays() -> None:
    tuesday = find_slots(SHOP, TUNE_UP, STAFF, [], **whole_day(TUESDAY), staff_id="luis")
    monday = find_slots(SHOP, TUNE_UP, STAFF, [], **whole_day(MONDAY), staff_id="luis")

    assert local_starts(tuesday)[0] == "12:00"
    assert monday == []


def test_staff_hours_wider_than_the_shop_are_clipped_to_shop_hours() -> None:
    early_bird = StaffSpec("eve", "Eve", hours={MON: hours(6, 23)})

    slots = find_slots(SHOP, BRAKES, [early_bird], [], **whole_day(MONDAY))

    assert (local_starts(slots)[0], local_starts(slots)[-1]) == ("10:00", "17:15")


def test_only_staff_who_do_the_service_are_offered() -> None:
    fittings = find_slots(SHOP, BIKE_FITTING, STAFF, [], **whole_day(TUESDAY), one_per_start=False)
    # Flat tires are Luis's job, and Luis does not work on Mondays.
    flat_tires_monday = find_slots(SHOP, FLAT_TIRE, STAFF, [], **whole_day(MONDAY))

    assert {s.staff_name for s in fittings} == {"Dana"}
    assert flat_tires_monday == []


def test_one_slot_per_start_goes_to_the_first_free_staff_member() -> None:
    noon = at(TUESDAY, 12)
    window: Window = {"window_start": noon, "window_end": noon + timedelta(minutes=1)}
    dana_busy = [booked(DANA, noon, 75)]

    first_free = find_slots(SHOP, TUNE_UP, STAFF, [], **window)
    everyone = find_slots(SHOP, TUNE_UP, STAFF, [], **window, one_per_start=False)
    dana_taken = find_slots(SHOP, TUNE_UP, STAFF, dana_busy, **window)

    assert [s.staff_name for s in first_free] == ["Dana"]
    assert [s.staff_name for s in everyone] == ["Dana", "Luis"]
    assert [s.staff_name for s in dana_taken] == ["Luis"]


def test_staff_id_limits_the_search_to_that_person() -> None:
    slots = find_slots(SHOP, BRAKES, STAFF, [], **whole_day(TUESDAY), staff_id="luis")

    assert {s.staff_id for s in slots} == {"luis"}
    # Dana does not fix flat tires, so asking for her finds nothing rather than Luis.
    assert find_slots(SHOP, FLAT_TIRE, STAFF, [], **whole_day(TUESDAY), staff_id="dana") == []
    with pytest.raises(ValueError, match="unknown staff_id"):
        find_slots(SHOP, BRAKES, STAFF, [], **whole_day(TUESDAY), staff_id="nobody")


def test_results_are_sorted_by_time_then_staff_order() -> None:
    slots = find_slots(SHOP, BRAKES, STAFF, [], **whole_day(TUESDAY), one_per_start=False)

    order = [m.id for m in STAFF]
    keys = [(s.start.astimezone(UTC), order.index(s.staff_id)) for s in slots]
    assert keys == sorted(keys)
    assert len(slots) > len({s.start for s in slots})  # both staff appear at some times


# --------------------------------------------------------------------------- bookings


def test_buffers_keep_the_gap_before_and_after_an_existing_booking() -> None:
    # Dana already has a tune-up at noon: 60 min plus its own 15 min buffer.
    noon_tune_up = [booked(DANA, at(MONDAY, 12), 75)]

    starts = local_starts(find_slots(SHOP, TUNE_UP, [DANA], noon_tune_up, **whole_day(MONDAY)))

    # A new tune-up needs 75 free minutes: 10:45 finishes its buffer exactly at noon.
    assert "10:45" in starts
    assert "11:00" not in starts
    assert "13:00" not in starts
    assert "13:15" in starts


def test_capacity_two_allows_two_overlapping_bookings_but_not_three() -> None:
    # Two wheels fit on the truing stand at once.
    wheel_truing = ServiceSpec("truing", "Wheel truing", duration_min=30, capacity=2)
    mechanic = StaffSpec("sam", "Sam")
    ten = at(MONDAY, 10)
    window: Window = {"window_start": ten, "window_end": ten + timedelta(minutes=1)}

    one = [booked(mechanic, ten, 30)]
    two = [*one, booked(mechanic, ten + timedelta(minutes=15), 30)]

    assert local_starts(find_slots(SHOP, wheel_truing, [mechanic], one, **window)) == ["10:00"]
    assert find_slots(SHOP, wheel_truing, [mechanic], two, **window) == []


def test_bookings_given_in_another_time_zone_still_block() -> None:
    # 17:00 UTC is noon in Chicago in June.
    utc_booking = [Booking("dana", datetime(2026, 6, 1, 17, tzinfo=UTC), at(MONDAY, 13))]

    starts = local_starts(find_slots(SHOP, BRAKES, [DANA], utc_booking, **whole_day(MONDAY)))

    assert "11:15" in starts
    assert "11:30" not in starts
    assert "12:45" not in starts
    assert "13:00" in starts


def test_a_prebuilt_booking_index_gives_the_same_answer() -> None:
    bookings = [booked(DANA, at(TUESDAY, 12), 75), booked(LUIS, at(TUESDAY, 14), 45)]
    index = BookingIndex.build(bookings)

    def search(given: list[Booking] | BookingIndex) -> list[Slot]:
        return find_slots(SHOP, TUNE_UP, STAFF, given, **whole_day(TUESDAY), one_per_start=False)

    assert search(index) == search(bookings)
    assert index.count_overlapping("dana", at(TUESDAY, 11), at(TUESDAY, 13)) == 1
    assert index.count_overlapping("nobody", at(TUESDAY, 11), at(TUESDAY, 13)) == 0


# --------------------------------------------------------------------------- search window


def test_not_before_hides_slots_that_already_started() -> None:
    now = at(MONDAY, 13, 7)

    slots = find_slots(SHOP, BRAKES, STAFF, [], **whole_day(MONDAY), not_before=now)

    assert local_starts(slots)[0] == "13:15"
    assert is_bookable(SHOP, BRAKES, STAFF, [], at(MONDAY, 13), not_before=now) is None


def test_limit_returns_only_the_next_few_slots() -> None:
    slots = find_slots(
        SHOP,
        TUNE_UP,
        STAFF,
        [],
        window_start=at(date(2026, 6, 6), 16),  # Saturday afternoon
        window_end=at(date(2026, 8, 1), 0),
        limit=3,
    )

    # Saturday 16:00 is the last tune-up; Sunday is closed; Monday opens at 10.
    next_monday = MONDAY + timedelta(days=7)
    assert [s.start for s in slots] == [
        at(SATURDAY, 16),
        at(next_monday, 10),
        at(next_monday, 10, 15),
    ]


def test_step_changes_the_grid_from_the_opening_time() -> None:
    slots = find_slots(SHOP, BRAKES, [DANA], [], **whole_day(MONDAY), step_min=40)

    assert local_starts(slots)[:3] == ["10:00", "10:40", "11:20"]


def test_window_end_is_exclusive() -> None:
    slots = find_slots(SHOP, BRAKES, [DANA], [], window_start=at(MONDAY, 10), window_end=at(MONDAY, 11))

    assert local_starts(slots) == ["10:00", "10:15", "10:30", "10:45"]


# --------------------------------------------------------------------------- is_bookable


def test_is_bookable_agrees_with_find_slots_on_a_busy_week() -> None:
    rng = random.Random(7)
    bookings = [
        booked(rng.choice(STAFF), at(MONDAY + timedelta(rng.randrange(6)), rng.randrange(9, 19)), 75) for _ in range(25)
    ]
    week: Window = {"window_start": at(MONDAY, 0), "window_end": at(SUNDAY, 0)}
    offered = {s.start: s for s in find_slots(SHOP, TUNE_UP, STAFF, bookings, **week)}

    candidate = at(MONDAY, 0)
    while candidate < week["window_end"]:
        assert is_bookable(SHOP, TUNE_UP, STAFF, bookings, candidate) == offered.get(candidate)
        candidate += timedelta(minutes=15)


def test_is_bookable_accepts_off_grid_starts_and_names_the_staff() -> None:
    slot = is_bookable(SHOP, FLAT_TIRE, STAFF, [], at(TUESDAY, 12, 7))

    assert slot == Slot(at(TUESDAY, 12, 7), at(TUESDAY, 12, 37), "luis", "Luis")
    assert is_bookable(SHOP, FLAT_TIRE, STAFF, [], at(TUESDAY, 11, 50)) is None
    assert is_bookable(SHOP, TUNE_UP, STAFF, [], at(TUESDAY, 17, 1)) is None


def test_is_bookable_respects_the_requested_staff_member() -> None:
    dana_busy = [booked(DANA, at(WEDNESDAY, 10), 75)]

    luis = is_bookable(SHOP, TUNE_UP, STAFF, dana_busy, at(WEDNESDAY, 10))

    assert luis is not None
    assert luis.staff_id == "luis"
    assert is_bookable(SHOP, TUNE_UP, STAFF, dana_busy, at(WEDNESDAY, 10), staff_id="dana") is None


# --------------------------------------------------------------------------- daylight saving

NIGHT_HOURS: WeeklyHours = {day: hours(0, 4) for day in range(7)}


def night_shop(tz: ZoneInfo) -> ShopCalendar:
    return ShopCalendar(tz, NIGHT_HOURS, frozenset())


def test_chicago_spring_forward_skips_the_missing_hour() -> None:
    day = date(2026, 3, 8)  # 02:00 CST jumps to 03:00 CDT

    slots = find_slots(night_shop(CHICAGO), TUNE_UP, [DANA], [], **whole_day(day), step_min=30)

    assert local_starts(slots) == ["00:00", "00:30", "01:00", "01:30", "03:00"]
    assert utc_starts(slots) == ["06:00", "06:30", "07:00", "07:30", "08:00"]
    # The 01:30 appointment lasts a real hour and ends at 03:30 daylight time.
    assert slots[3].end == datetime(2026, 3, 8, 8, 30, tzinfo=UTC)
    assert slots[3].end.strftime("%H:%M %Z") == "03:30 CDT"


def test_chicago_fall_back_offers_each_wall_time_once() -> None:
    day = date(2026, 11, 1)  # 02:00 CDT falls back to 01:00 CST

    slots = find_slots(night_shop(CHICAGO), TUNE_UP, [DANA], [], **whole_day(day), step_min=30)

    # Ambiguous 01:00 and 01:30 mean the first (daylight-time) occurrence.
    assert local_starts(slots) == ["00:00", "00:30", "01:00", "01:30", "02:00", "02:30", "03:00"]
    assert utc_starts(slots) == ["05:00", "05:30", "06:00", "06:30", "08:00", "08:30", "09:00"]
    # 60 real minutes after 01:30 CDT the clock reads 01:30 again, now CST.
    assert slots[3].end.astimezone(UTC) == datetime(2026, 11, 1, 7, 30, tzinfo=UTC)
    assert slots[3].end.strftime("%H:%M %Z") == "01:30 CST"


def test_the_repeated_fall_back_hour_is_not_bookable() -> None:
    second_one_thirty = datetime(2026, 11, 1, 7, 30, tzinfo=UTC)  # 01:30 CST

    assert is_bookable(night_shop(CHICAGO), TUNE_UP, [DANA], [], second_one_thirty) is None
    assert is_bookable(night_shop(CHICAGO), TUNE_UP, [DANA], [], at(date(2026, 11, 1), 1, 30))


def test_night_shop_is_open_three_real_hours_in_spring_and_five_in_autumn() -> None:
    spring = opening_ranges(night_shop(CHICAGO), date(2026, 3, 8))
    autumn = opening_ranges(night_shop(CHICAGO), date(2026, 11, 1))

    assert [end - start for start, end in _utc(spring)] == [timedelta(hours=3)]
    assert [end - start for start, end in _utc(autumn)] == [timedelta(hours=5)]


def test_opening_time_inside_the_gap_opens_when_the_clock_jumps() -> None:
    half_two_to_five = [TimeRange(time(2, 30), time(5))]
    opens_at_half_two = ShopCalendar(CHICAGO, {6: half_two_to_five}, frozenset())

    ranges = opening_ranges(opens_at_half_two, date(2026, 3, 8))

    assert _utc(ranges) == [(datetime(2026, 3, 8, 8, tzinfo=UTC), datetime(2026, 3, 8, 10, tzinfo=UTC))]


def test_demo_shop_opens_at_ten_local_on_both_sides_of_spring_forward() -> None:
    slots = find_slots(
        SHOP,
        TUNE_UP,
        STAFF,
        [],
        window_start=at(date(2026, 3, 6), 0),  # Friday, standard time
        window_end=at(date(2026, 3, 10), 0),  # through Monday, daylight time
    )
    friday_first = slots[0]
    monday_first = next(s for s in slots if s.start.date() == date(2026, 3, 9))

    assert friday_first.start.astimezone(UTC) == datetime(2026, 3, 6, 16, tzinfo=UTC)
    assert monday_first.start.astimezone(UTC) == datetime(2026, 3, 9, 15, tzinfo=UTC)
    assert len({s.start.astimezone(UTC) for s in slots}) == len(slots)


@pytest.mark.parametrize(
    ("day", "expected_local", "expected_utc"),
    [
        # 01:00 GMT jumps to 02:00 BST: the 01:xx hour does not exist.
        (
            date(2026, 3, 29),
            ["00:00", "00:30", "02:00", "02:30", "03:00"],
            ["00:00", "00:30", "01:00", "01:30", "02:00"],
        ),
        # 02:00 BST falls back to 01:00 GMT: 01:xx appears once, as BST.
        (
            date(2026, 10, 25),
            ["00:00", "00:30", "01:00", "01:30", "02:00", "02:30", "03:00"],
            ["23:00", "23:30", "00:00", "00:30", "02:00", "02:30", "03:00"],
        ),
    ],
)
def test_london_dst_nights(day: date, expected_local: list[str], expected_utc: list[str]) -> None:
    slots = find_slots(night_shop(LONDON), TUNE_UP, [DANA], [], **whole_day(day, LONDON), step_min=30)

    assert local_starts(slots) == expected_local
    assert utc_starts(slots) == expected_utc
    for slot in slots:
        assert slot.end.astimezone(UTC) - slot.start.astimezone(UTC) == timedelta(minutes=60)


def test_is_bookable_agrees_with_find_slots_across_dst_nights() -> None:
    shop = night_shop(CHICAGO)
    for day in (date(2026, 3, 8), date(2026, 11, 1)):
        window = whole_day(day)
        offered = {s.start.astimezone(UTC) for s in find_slots(shop, BRAKES, [DANA], [], **window)}
        instant = window["window_start"].astimezone(UTC)
        while instant < window["window_end"]:
            answer = is_bookable(shop, BRAKES, [DANA], [], instant)
            assert (answer is not None) == (instant in offered), instant
            instant += timedelta(minutes=15)


def _utc(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    return [(a.astimezone(UTC), b.astimezone(UTC)) for a, b in ranges]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("service", "message"),
    [
        (ServiceSpec("x", "Zero", duration_min=0), "duration_min"),
        (ServiceSpec("x", "Full", duration_min=30, capacity=0), "capacity"),
        (ServiceSpec("x", "Negative buffer", duration_min=30, buffer_min=-5), "buffer_min"),
    ],
)
def test_invalid_services_are_rejected(service: ServiceSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        find_slots(SHOP, service, STAFF, [], **whole_day(MONDAY))
    with pytest.raises(ValueError, match=message):
        is_bookable(SHOP, service, STAFF, [], at(MONDAY, 10))


def test_invalid_search_arguments_are_rejected() -> None:
    naive = datetime(2026, 6, 1, 10)
    with pytest.raises(ValueError, match="step_min"):
        find_slots(SHOP, BRAKES, STAFF, [], **whole_day(MONDAY), step_min=0)
    with pytest.raises(ValueError, match="window_start must be timezone-aware"):
        find_slots(SHOP, BRAKES, STAFF, [], window_start=naive, window_end=at(MONDAY, 18))
    with pytest.raises(ValueError, match="not_before must be timezone-aware"):
        find_slots(SHOP, BRAKES, STAFF, [], **whole_day(MONDAY), not_before=naive)
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        is_bookable(SHOP, BRAKES, STAFF, [], naive)


def test_naive_bookings_are_rejected() -> None:
    naive = Booking("dana", datetime(2026, 6, 1, 10), datetime(2026, 6, 1, 11))

    with pytest.raises(ValueError, match="timezone-aware"):
        find_slots(SHOP, BRAKES, STAFF, [naive], **whole_day(MONDAY))
    with pytest.raises(ValueError, match="timezone-aware"):
        BookingIndex.build([naive])


def test_bookings_that_end_before_they_start_occupy_no_time() -> None:
    backwards = [Booking("dana", at(MONDAY, 11), at(MONDAY, 10))]

    assert is_bookable(SHOP, BRAKES, [DANA], backwards, at(MONDAY, 10)) is not None


def test_time_range_must_start_before_it_ends() -> None:
    with pytest.raises(ValueError, match="before end"):
        TimeRange(time(18), time(10))
