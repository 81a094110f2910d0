"""A Vapi call, with the recording, transcript and summary it holds, is deleted at Vapi when
its caller is erased, when its period ends, and with the shop."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from sera.bootstrap import Sera
from sera.customers.service import find_or_create_customer
from sera.privacy.copies import copies_of, pending_copies
from sera.privacy.erasure import delete_shop, redact_customer
from sera.privacy.retention import run_retention
from tests.adapters.vapi.conftest import CALLER, load, post
from tests.conftest import FakeClock, Personas
from tests.fakes.vapi_server import FakeVapi

NUMBER_ID = "5b0a8d1e-2c3f-4a5b-8c7d-9e0f1a2b3c4d"


@pytest.fixture
def fake_vapi(sera: Sera) -> Iterator[FakeVapi]:
    fake = FakeVapi().start()
    sera.settings.vapi_api_key = SecretStr(fake.api_key)
    sera.settings.vapi_api_base = fake.base_url
    yield fake
    fake.stop()


def a_call(vapi: TestClient, fake: FakeVapi, caller: str) -> str:
    """A caller rings the shop's Vapi number; the call ends and Vapi reports it."""
    call_id = fake.incoming_call(NUMBER_ID, caller)
    report = load("end-of-call-report")
    report["message"]["call"]["id"] = call_id
    report["message"]["call"]["customer"] = report["message"]["customer"] = {"number": caller}
    assert post(vapi, report).status_code == 200
    return call_id


def test_erasing_a_caller_deletes_their_calls_at_vapi_and_no_one_elses(
    vapi: TestClient, fake_vapi: FakeVapi, sera: Sera, personas: Personas, jobs: Any
) -> None:
    with sera.uow(personas.northside_id) as uow:
        harriet = find_or_create_customer(uow, name="Harriet Vane", phone=CALLER).id
        uow.commit()
    hers = a_call(vapi, fake_vapi, CALLER)
    theirs = a_call(vapi, fake_vapi, "+13125550188")

    redact_customer(sera, personas.northside_id, harriet, actor="test")
    jobs.run_pending()
    assert fake_vapi.deleted == [hers]
    assert fake_vapi.holds(theirs)
    [copy] = copies_of(sera, personas.northside_id, customer_id=harriet)
    assert (copy.provider, copy.kind, copy.result, copy.reason) == ("vapi", "call", "deleted", "erasure")


def test_a_call_vapi_no_longer_has_counts_as_deleted(
    vapi: TestClient, fake_vapi: FakeVapi, sera: Sera, personas: Personas, jobs: Any, clock: FakeClock
) -> None:
    call_id = a_call(vapi, fake_vapi, CALLER)
    fake_vapi.calls.clear()  # someone deleted it in Vapi's dashboard
    clock.advance(days=366)  # a call holds the call log, kept a year
    run_retention(sera, clock())
    jobs.run_pending()
    [copy] = copies_of(sera, personas.northside_id)
    assert (copy.provider_id, copy.result, copy.reason) == (call_id, "gone", "retention")


def test_a_vapi_that_is_down_when_the_shop_is_deleted_gets_the_deletion_later(
    vapi: TestClient, fake_vapi: FakeVapi, sera: Sera, personas: Personas, jobs: Any, clock: FakeClock
) -> None:
    from sera.jobs.wiring import _copies_due

    call_id = a_call(vapi, fake_vapi, CALLER)
    fake_vapi.fail_next(503)
    delete_shop(sera, personas.northside_id, actor="test")
    jobs.run_pending()
    assert fake_vapi.deleted == [] and [c.provider_id for c in pending_copies(sera)] == [call_id]
    clock.advance(minutes=1)
    _copies_due(sera)
    jobs.run_pending()
    assert fake_vapi.deleted == [call_id] and pending_copies(sera) == []
