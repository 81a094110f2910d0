"""``GET /api/v1/outbound`` (sends, replies, recoveries, revenue, skips by reason, in a window)
and ``GET /api/v1/outbound/actions`` (each intended message with its reason, per customer),
for the owner, a teammate and an outsider."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sera.bootstrap import Sera
from sera.calls.messages import sms_segments
from sera.privacy.export import export_customer_data
from sera.web.app import create_app
from tests.adapters.twilio.conftest import Phone
from tests.conftest import FakeClock, Personas
from tests.fakes.twilio_server import TwilioServer
from tests.outbound.conftest import SHOPPER, Queue, at, order_placed, record, sent_texts
from tests.outbound.shoppers import checkout, shopper_checkout

SENT_AT = datetime(2026, 11, 27, 16, 42, tzinfo=UTC)


@pytest.fixture
def http(sera: Sera, personas: Personas) -> Iterator[TestClient]:
    with TestClient(create_app(sera)) as client:
        yield client


def get(http: TestClient, key: str, path: str, status: int = 200, **params: Any) -> Any:
    response = http.get(f"/api/v1{path}", params=params, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def recovered(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock, http: TestClient
) -> str:
    """Harriet got a recovery text, replied to it and ordered; another shopper never consented."""
    recorded = record(sera, shop, checkout())
    no_consent = shopper_checkout(7, "+13125550107", buyer_accepts_sms_marketing=False)
    no_consent["customer"]["sms_marketing_consent"]["state"] = "not_subscribed"
    record(sera, shop, no_consent)
    at(clock, SENT_AT)
    queue.tick()
    clock.advance(minutes=5)
    assert Phone(http).text("is the blue one still in stock?", sender=SHOPPER).status_code == 200
    clock.advance(hours=1)
    order_placed(sera, shop)
    assert recorded.customer_id is not None
    return recorded.customer_id


def test_the_report_counts_sends_replies_recoveries_revenue_and_skips(
    http: TestClient, personas: Personas, recovered: str
) -> None:
    report = get(http, personas.owner_key, "/outbound")
    assert report["sends"] == 1 and report["sends_by_kind"] == {"abandoned_checkout": 1}
    assert report["replies"] == 1
    assert (report["recoveries"], report["revenue"]) == (1, {"USD": 117800})
    assert report["skips"] == {"no-consent": 1}
    [credited] = report["recovered"]
    actions = get(http, personas.owner_key, "/outbound/actions", customer_id=recovered)["data"]
    assert credited["action_id"] == actions[0]["id"] and credited["amount_cents"] == 117800


def test_the_report_window_counts_each_thing_when_it_happened(
    http: TestClient, personas: Personas, recovered: str
) -> None:
    before = get(http, personas.owner_key, "/outbound", until=SENT_AT.isoformat())
    assert (before["sends"], before["recoveries"], before["skips"]) == (0, 0, {})
    sends_only = get(
        http,
        personas.owner_key,
        "/outbound",
        since=SENT_AT.isoformat(),
        until=(SENT_AT + timedelta(minutes=30)).isoformat(),
    )
    assert (sends_only["sends"], sends_only["recoveries"], sends_only["revenue"]) == (1, 0, {})
    get(http, personas.owner_key, "/outbound", status=422, since="2026-11-27T10:00:00")


def test_a_customers_outbound_history_lists_every_message_with_its_reason(
    http: TestClient, personas: Personas, recovered: str
) -> None:
    [action] = get(http, personas.teammate_key, "/outbound/actions", customer_id=recovered)["data"]
    assert (action["kind"], action["status"], action["reason"], action["attempt"]) == (
        "abandoned_checkout",
        "sent",
        "sent",
        1,
    )
    everything = get(http, personas.owner_key, "/outbound/actions")["data"]
    assert sorted(a["reason"] for a in everything) == ["no-consent", "sent"]


def test_an_outsider_sees_none_of_it(http: TestClient, personas: Personas, recovered: str) -> None:
    get(http, personas.outsider_key, "/outbound/actions", status=404, customer_id=recovered)
    assert get(http, personas.outsider_key, "/outbound/actions")["data"] == []
    assert get(http, personas.outsider_key, "/outbound")["sends"] == 0
    assert http.get("/api/v1/outbound").status_code == 401


def test_a_send_is_counted_in_the_shops_usage_as_it_happens(
    sera: Sera,
    shop: str,
    queue: Queue,
    fake_twilio: TwilioServer,
    clock: FakeClock,
    http: TestClient,
    personas: Personas,
) -> None:
    record(sera, shop, checkout())
    at(clock, SENT_AT)
    queue.tick()
    [text] = sent_texts(fake_twilio)
    [day] = get(http, personas.owner_key, "/usage")["data"]
    assert (day["day"], day["sms_segments_outbound"]) == ("2026-11-27", sms_segments(text["body"]))


def test_the_customers_access_export_lists_the_texts_sent_to_them(sera: Sera, shop: str, recovered: str) -> None:
    with sera.uow(shop, readonly=True) as uow:
        [entry] = export_customer_data(uow, recovered)["outbound"]
    assert entry == {
        "kind": "abandoned_checkout",
        "channel": "sms",
        "status": "sent",
        "reason": "sent",
        "due_at": "2026-11-27T16:41:07+00:00",
        "sent_at": SENT_AT.isoformat(),
    }
