"""End to end with the demo shop (recovery by SMS after 60 minutes, 2 attempts, quiet hours
21:00 to 08:00) on the real job queue (SQLite, and Redis where configured), the fake clock,
the fake Twilio, Twilio's signed SMS webhook for STOP, and the merchant API.

Friday 27 November 2026 in Chicago: Harriet abandons her cart at 09:41 and gets a text at
10:41. Three evening shoppers abandon theirs after 20:00: their texts fall in quiet hours
and wait for 08:00. Overnight one of them orders and one texts STOP; at 08:00 only the
third gets a text. Harriet's STOP after her text stops her second attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from sera.bootstrap import Sera
from sera.jobs import Jobs
from sera.outbound.jobs import dispatch_now
from sera.web.app import create_app
from tests.adapters.twilio.conftest import Phone
from tests.conftest import FakeClock, Personas
from tests.fakes.twilio_server import TwilioServer
from tests.outbound.conftest import SHOPPER, actions, at, order_placed, record, sent_texts
from tests.outbound.shoppers import checkout, shopper_checkout

CHICAGO = ZoneInfo("America/Chicago")
EVENING = {"order": "+13125550161", "stop": "+13125550162", "waits": "+13125550163"}


@pytest.fixture
def http(sera: Sera, personas: Personas) -> Iterator[TestClient]:
    with TestClient(create_app(sera)) as client:
        yield client


def chicago(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=CHICAGO)


def tick(jobs: Jobs) -> None:
    """The minute's dispatcher run, then whatever it queued for now."""
    dispatch_now(jobs)
    jobs.run_pending()


def api(http: TestClient, key: str, path: str, **params: Any) -> Any:
    response = http.get(f"/api/v1{path}", params=params, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_recovery_with_the_demo_shop_from_checkout_to_report(
    sera: Sera,
    personas: Personas,
    jobs: Jobs,
    fake_twilio: TwilioServer,
    clock: FakeClock,
    http: TestClient,
) -> None:
    shop, key, phone = personas.northside_id, personas.owner_key, Phone(http)
    harriet = record(sera, shop, checkout()).customer_id

    at(clock, chicago(27, 10, 39))
    tick(jobs)
    assert sent_texts(fake_twilio) == []  # not before the shop's delay
    at(clock, chicago(27, 10, 41, 7))
    tick(jobs)
    [text] = sent_texts(fake_twilio)
    assert (text["to"], text["from"]) == (SHOPPER, "+13125550100")
    assert text["body"].startswith("Hi Harriet, you left something in your cart at Northside Cycles. ")
    assert "/checkouts/ac/" in text["body"] and text["body"].endswith("Reply STOP to opt out.")
    [mine] = api(http, key, "/outbound/actions", customer_id=harriet)["data"]
    assert (mine["status"], mine["provider_ref"], mine["due_at"]) == ("sent", text["sid"], "2026-11-27T16:41:07Z")
    assert api(http, key, "/outbound")["sends"] == 1

    clock.advance(minutes=30)
    assert phone.text("STOP", sender=SHOPPER).status_code == 200

    for n, number in enumerate(EVENING.values()):
        at(clock, chicago(27, 20, 10 + n))
        record(sera, shop, shopper_checkout(n, number, updated_at=clock().isoformat()))
    at(clock, chicago(27, 21, 20))
    tick(jobs)
    waiting = [a for a in actions(sera, shop) if a.status == "scheduled"]
    assert len(waiting) == 3 and {a.reason for a in waiting} == {"quiet-hours-deferred"}
    assert {a.due_at for a in waiting} == {chicago(28, 8)}

    at(clock, chicago(27, 23))
    order_placed(sera, shop, token=f"{0:032x}")
    assert phone.text("stop", sender=EVENING["stop"]).status_code == 200
    at(clock, chicago(28, 7, 58))
    tick(jobs)
    assert len(sent_texts(fake_twilio)) == 1  # quiet hours: never before 08:00
    at(clock, chicago(28, 8))
    tick(jobs)
    assert [m["to"] for m in sent_texts(fake_twilio)] == [SHOPPER, EVENING["waits"]]

    at(clock, chicago(28, 10, 41, 7))  # Harriet's second attempt, a day after her first
    tick(jobs)
    assert len(sent_texts(fake_twilio)) == 2

    report = api(http, key, "/outbound", since=chicago(27, 0).isoformat(), until=chicago(29, 0).isoformat())
    assert report["sends"] == 2
    assert report["skips"] == {"order-completed": 1, "do-not-contact": 2}
    history = api(http, key, "/outbound/actions", customer_id=harriet)["data"]
    assert [(a["attempt"], a["status"], a["reason"]) for a in history] == [
        (2, "skipped", "do-not-contact"),
        (1, "sent", "sent"),
    ]
