"""HubSpot as Sera writes to it: the local fake of its CRM v3 API, a shop connected to it, and
the calls and bookings that reach it (made through the capabilities' own service functions).

Harriet Vane (+13125550170, harriet@example.com) calls the demo shop (Northside Cycles,
Chicago) on Friday 27 November 2026 around 10:00 local time: the test clock's time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from sera.booking.service import book_appointment
from sera.bootstrap import Sera
from sera.calls.service import end_call, record_call_report, start_call
from sera.customers.service import find_or_create_customer
from sera.integrations.hubspot import connect
from sera.web.app import create_app
from tests.conftest import FakeClock, Personas
from tests.fakes.hubspot_server import FakeHubspot

HARRIET = {"name": "Harriet Vane", "phone": "+13125550170", "email": "harriet@example.com"}
SHOP_NUMBER = "+13125550100"


@pytest.fixture
def fake_hubspot(sera: Sera) -> Iterator[FakeHubspot]:
    fake = FakeHubspot().start()
    sera.settings = sera.settings.model_copy(update={"hubspot_api_url": fake.base_url})
    yield fake
    fake.stop()


@pytest.fixture
def connected(sera: Sera, personas: Personas, fake_hubspot: FakeHubspot) -> str:
    """Northside, connected to its HubSpot account; its id."""
    connect(sera, personas.northside_id, fake_hubspot.token, actor="test")
    fake_hubspot.requests.clear()
    return personas.northside_id


@pytest.fixture
def api(sera: Sera, personas: Personas) -> Iterator[TestClient]:
    with TestClient(create_app(sera)) as client:
        client.headers["Authorization"] = f"Bearer {personas.owner_key}"
        yield client


def a_customer(sera: Sera, shop: str, **details: str) -> str:
    with sera.uow(shop) as uow:
        customer = find_or_create_customer(uow, **(details or HARRIET))
        uow.commit()
        return customer.id


def a_call(
    sera: Sera,
    shop: str,
    clock: FakeClock,
    *,
    customer_id: str | None,
    caller: str = HARRIET["phone"],
    outcome: str = "booked",
    summary: str | None = None,
    minutes: int = 3,
) -> str:
    """A finished inbound voice call; its id."""
    with sera.uow(shop) as uow:
        started = clock() - timedelta(minutes=minutes)
        call = start_call(
            uow,
            channel="voice",
            direction="inbound",
            provider="twilio",
            from_number=caller,
            to_number=SHOP_NUMBER,
            started_at=started,
            customer_id=customer_id,
        )
        if summary is not None:
            record_call_report(
                uow,
                call,
                started_at=started,
                ended_at=clock(),
                duration_s=minutes * 60,
                outcome=outcome,
                ended_reason=None,
                cost_cents=None,
                recording_url=None,
                summary=summary,
            )
        end_call(uow, call, ended_at=clock(), outcome=outcome)
        uow.commit()
        return call.id


def tuesday_at(clock: FakeClock, hour_utc: int = 17) -> datetime:
    """A Tuesday, 11 am (or noon) in Chicago: the shop is open."""
    start = (clock() + timedelta(days=2)).replace(hour=hour_utc, minute=0, second=0, microsecond=0)
    while start.weekday() != 1:
        start += timedelta(days=1)
    return start


def a_booking(sera: Sera, shop: str, clock: FakeClock, customer_id: str, hour_utc: int = 17) -> str:
    with sera.uow(shop) as uow:
        start = tuesday_at(clock, hour_utc)
        appointment = book_appointment(uow, service_name="Tune-up", start=start, customer_id=customer_id, now=clock())
        uow.commit()
        return appointment.id
