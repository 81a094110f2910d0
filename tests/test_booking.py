"""The booking engine on a real database: slots, booking, moving, cancelling, no double-booking."""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from sera.booking.service import (
    BookingError,
    SlotUnavailableError,
    book_appointment,
    cancel_appointment,
    find_availability,
    get_appointment,
    load_schedule,
    reschedule_appointment,
)
from sera.bootstrap import Sera
from sera.customers.service import create_customer
from sera.storage.models import Appointment
from tests.conftest import Personas

CHICAGO = ZoneInfo("America/Chicago")


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CHICAGO)


def test_slots_follow_hours_staff_and_existing_bookings(sera: Sera, personas: Personas) -> None:
    with sera.uow(personas.northside_id) as uow:
        schedule = load_schedule(uow)
        slots = find_availability(
            uow, schedule, "Tune-up", window_start=at(1, 0), window_end=at(2, 0), now=sera.clock()
        )
        assert slots[0].start == at(1, 10)  # Tuesday opens at 10
        assert slots[-1].start == at(1, 17)  # a 60-minute tune-up must end by 18:00
        book_appointment(
            uow,
            service_name="Tune-up",
            start=at(1, 10),
            customer_id=None,
            now=sera.clock(),
            staff_name="Dana",
        )
        uow.commit()
    with sera.uow(personas.northside_id) as uow:
        dana = find_availability(
            uow,
            load_schedule(uow),
            "Tune-up",
            window_start=at(1, 0),
            window_end=at(2, 0),
            now=sera.clock(),
            staff_name="Dana",
        )
        assert dana[0].start == at(1, 11, 15)  # 60 min + 15 min buffer


def test_closed_days_have_no_slots(sera: Sera, personas: Personas) -> None:
    with sera.uow(personas.northside_id) as uow:
        schedule = load_schedule(uow)
        sunday = find_availability(
            uow,
            schedule,
            "Tune-up",
            window_start=at(29, 0, month=11),
            window_end=at(30, 0, month=11),
            now=sera.clock(),
        )
        christmas = find_availability(
            uow, schedule, "Tune-up", window_start=at(25, 0), window_end=at(26, 0), now=sera.clock()
        )
    assert sunday == [] and christmas == []


def test_book_move_and_cancel(sera: Sera, personas: Personas) -> None:
    with sera.uow(personas.northside_id) as uow:
        customer = create_customer(uow, name="Jordan Miles", phone="+13125550177")
        booked = book_appointment(
            uow,
            service_name="Brake service",
            start=at(1, 14),
            customer_id=customer.id,
            now=sera.clock(),
        )
        moved = reschedule_appointment(uow, booked.id, new_start=at(2, 15), now=sera.clock())
        view = get_appointment(uow, moved.id)
        assert (view.start, view.end, view.status) == (at(2, 15), at(2, 15, 45), "booked")
        assert view.customer is not None and view.customer.name == "Jordan Miles"
        cancel_appointment(uow, booked.id, now=sera.clock())
        assert get_appointment(uow, booked.id).status == "cancelled"
        uow.commit()


def test_unbookable_requests_are_refused(sera: Sera, personas: Personas) -> None:
    with sera.uow(personas.northside_id) as uow:
        with pytest.raises(SlotUnavailableError):
            book_appointment(
                uow,
                service_name="Tune-up",
                start=at(29, 11, month=11),
                customer_id=None,
                now=sera.clock(),
            )
        with pytest.raises(SlotUnavailableError):  # Luis does not do bike fittings
            book_appointment(
                uow,
                service_name="Bike fitting",
                start=at(1, 14),
                customer_id=None,
                now=sera.clock(),
                staff_name="Luis",
            )
        with pytest.raises(BookingError):
            book_appointment(
                uow,
                service_name="Tune-up",
                start=at(1, 14),
                customer_id=None,
                now=sera.clock(),
                staff_name="Zed",
            )
        with pytest.raises(SlotUnavailableError):  # already past at noon
            book_appointment(
                uow,
                service_name="Tune-up",
                start=at(27, 10, month=11),
                customer_id=None,
                now=at(27, 12, month=11),
            )


def test_twenty_concurrent_bookings_of_one_slot_give_exactly_one(sera: Sera, personas: Personas) -> None:
    start = at(3, 16)  # Bike fitting with Dana, the only one who does it
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            with sera.uow(personas.northside_id) as uow:
                book_appointment(
                    uow,
                    service_name="Bike fitting",
                    start=start,
                    customer_id=None,
                    now=sera.clock(),
                )
                uow.commit()
            result = "booked"
        except SlotUnavailableError:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["booked"] + ["refused"] * 19
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert uow.session.execute(select(func.count()).select_from(Appointment)).scalar_one() == 1
