"""The dashboard benchmark's shop (``bench/seed_shop.py``): its history reads back through the
read API's own service functions, decrypted, sealed at rest, and for its own shop only."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.seed_shop import LONG_TURNS, SeedSummary, check, seed
from sqlalchemy import func, select, text

from sera.booking.service import get_appointment, list_appointments
from sera.bootstrap import Sera
from sera.calls.service import CallNotFoundError, CallView, get_call, list_calls
from sera.customers.service import CustomerNotFoundError, get_customer, list_customers, list_do_not_contact
from sera.storage.models import Base, Message
from sera.storage.paging import PageRequest
from sera.support.service import list_tickets
from tests.conftest import PG_URL, Personas

SHOP_NUMBER = "+13125550100"


@pytest.fixture
def seeded(sera: Sera, personas: Personas) -> SeedSummary:
    return seed(sera, personas.northside_id, customers=50, calls=200, messages=100)


def _all_calls(sera: Sera, merchant_id: str) -> list[CallView]:
    calls: list[CallView] = []
    cursor = None
    with sera.uow(merchant_id, readonly=True) as uow:
        while True:
            page = list_calls(uow, PageRequest(limit=200, cursor=cursor))
            calls += page.items
            if page.next_cursor is None:
                return calls
            cursor = page.next_cursor


def _stored_bytes(sera: Sera) -> bytes:
    """Everything the main database holds: its SQLite files, or every PostgreSQL row."""
    if PG_URL:
        chunks: list[bytes] = []
        with sera.db.engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in conn.execute(text(f'SELECT * FROM "{table.name}"')):
                    chunks.append(repr(tuple(row)).encode())
                    chunks.extend(bytes(v) for v in row if isinstance(v, bytes | memoryview))
        return b"\n".join(chunks)
    sera.db.engine.dispose()  # the WAL checkpointed into the file
    path = Path(sera.settings.database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_the_calls_list_shows_every_seeded_call_decrypted_newest_first(sera: Sera, seeded: SeedSummary) -> None:
    calls = _all_calls(sera, seeded.merchant_id)
    phone_calls = [c for c in calls if c.channel == "voice"]
    assert len(phone_calls) == seeded.counts["calls"] == 200
    assert len(calls) == 200 + seeded.counts["text_conversations"]
    assert [c.started_at for c in calls] == sorted((c.started_at for c in calls), reverse=True)
    assert all(seeded.since <= c.started_at < seeded.now for c in calls)
    assert all(c.to_number == SHOP_NUMBER and str(c.from_number).startswith("+1") for c in phone_calls)
    assert {c.outcome for c in phone_calls} >= {"knowledge", "abandoned", "booked"}


def test_a_long_call_opens_with_its_whole_transcript(sera: Sera, seeded: SeedSummary) -> None:
    with sera.uow(seeded.merchant_id, readonly=True) as uow:
        call = get_call(uow, seeded.long_call_id)
        thread = get_call(uow, seeded.text_call_id)
    assert call.transcript is not None and len(call.transcript) == 1 + 2 * LONG_TURNS
    assert [line.role for line in call.transcript[:3]] == ["agent", "caller", "agent"]
    assert call.transcript[-1].text == "Thanks for contacting Northside Cycles. Goodbye!"
    assert thread.channel == "sms" and thread.transcript and len(thread.transcript) >= 3


def test_the_busiest_customer_is_found_by_their_number_with_their_calls(sera: Sera, seeded: SeedSummary) -> None:
    with sera.uow(seeded.merchant_id, readonly=True) as uow:
        customer = get_customer(uow, seeded.busy_customer_id)
        found = list_customers(uow, PageRequest(limit=10), phone=str(customer.phone)).items
    assert [c.id for c in found] == [customer.id]
    theirs = [c for c in _all_calls(sera, seeded.merchant_id) if c.channel == "voice" and c.customer_id == customer.id]
    assert len(theirs) == seeded.busy_customer_calls > 1
    assert {c.from_number for c in theirs} == {customer.phone}


def test_the_texts_are_exactly_as_many_as_asked_besides_the_shops_own(sera: Sera, seeded: SeedSummary) -> None:
    with sera.uow(seeded.merchant_id, readonly=True) as uow:
        texts = uow.session.execute(select(func.count()).select_from(Message)).scalar_one()
    assert texts == 100 + seeded.counts["notices"]


def test_appointments_tickets_and_objections_read_back(sera: Sera, seeded: SeedSummary) -> None:
    with sera.uow(seeded.merchant_id, readonly=True) as uow:
        appointments = list_appointments(uow, PageRequest(limit=200)).items
        latest = get_appointment(uow, appointments[0].id)
        tickets = list_tickets(uow, PageRequest(limit=200)).items
        listed = list_do_not_contact(uow, PageRequest(limit=200)).items
    assert len(appointments) == seeded.counts["appointments"] > 0
    assert all(a.customer is not None and a.customer.phone for a in appointments)
    assert latest.customer == appointments[0].customer
    ahead = [a for a in appointments if a.status == "booked" and a.start > seeded.now]
    assert seeded.upcoming_appointment_id == (min(ahead, key=lambda a: a.start).id if ahead else None)
    assert len(tickets) == seeded.counts["tickets"] > 0
    assert all(t.description and t.customer is not None for t in tickets)
    assert len(listed) == seeded.counts["do_not_contact"] > 0
    assert all(str(entry.phone).startswith("+1") for entry in listed)


def test_another_shop_sees_none_of_it(sera: Sera, personas: Personas, seeded: SeedSummary) -> None:
    with sera.uow(seeded.merchant_id, readonly=True) as uow:
        phone = str(get_customer(uow, seeded.busy_customer_id).phone)
    with sera.uow(personas.southside_id, readonly=True) as uow:
        assert list_calls(uow, PageRequest()).items == []
        assert list_appointments(uow, PageRequest()).items == []
        assert list_tickets(uow, PageRequest()).items == []
        assert list_do_not_contact(uow, PageRequest()).items == []
        assert list_customers(uow, PageRequest(), phone=phone).items == []
        with pytest.raises(CallNotFoundError):
            get_call(uow, seeded.long_call_id)
        with pytest.raises(CustomerNotFoundError):
            get_customer(uow, seeded.busy_customer_id)


def test_personal_data_is_sealed_at_rest(sera: Sera, seeded: SeedSummary) -> None:
    with sera.uow(seeded.merchant_id, readonly=True) as uow:
        people = list_customers(uow, PageRequest(limit=200)).items
        call = get_call(uow, seeded.long_call_id)
    secrets = [str(c.name) for c in people if c.name] + [str(c.phone) for c in people if c.phone]
    secrets += [str(c.email) for c in people if c.email]
    assert len(secrets) > 100
    storage = _stored_bytes(sera)
    for secret in [*secrets, str(call.from_number)]:
        assert secret.encode() not in storage, f"{secret!r} stored in plaintext"


def test_the_seeded_shop_passes_its_own_check_and_its_audit_chain_verifies(sera: Sera, seeded: SeedSummary) -> None:
    check(sera, seeded)
