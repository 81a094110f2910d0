"""Signed webhooks: a merchant's endpoint receives Standard Webhooks it can verify, retried
under a stable id, logged, replayable, never to a private address, and never carrying an
erased customer's events."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from sera.adapters.webhooks.sender import AddressRefused, GuardedTransport, StandardWebhooksSender, guarded_http
from sera.booking.service import book_appointment
from sera.bootstrap import Sera
from sera.calls.service import TranscriptLine, end_call, record_call_report, save_transcript, start_call
from sera.customers.service import find_or_create_customer
from sera.integrations import webhooks
from sera.jobs.wiring import _webhooks_due
from sera.privacy.erasure import redact_customer
from sera.storage.models import AuditEntry
from sera.web.app import create_app
from tests.conftest import FakeClock, Personas


class Receiver:
    """The merchant's own code: answers each POST with the next status given (200 after)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.on_post: Callable[[], None] = lambda: None  # what taking a request does meanwhile
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.on_post()
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/sera"

    def events(self, secret: str) -> list[dict[str, Any]]:
        """Each event as the merchant's receiver reads it: verified first."""
        return [Webhook(secret).verify(body, headers) for headers, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


@pytest.fixture
def api(sera: Sera, personas: Personas, clock: FakeClock) -> Iterator[TestClient]:
    clock.now = datetime.now(UTC).replace(microsecond=0)  # receivers check the signature's time
    sera.settings.webhooks_allow_private = True  # the receiver listens on loopback
    with TestClient(create_app(sera)) as client:
        client.headers["Authorization"] = f"Bearer {personas.owner_key}"
        yield client


def subscribe(api: TestClient, url: str, *events: str) -> dict[str, Any]:
    created = api.post("/api/v1/webhook-endpoints", json={"url": url, "events": list(events)})
    assert created.status_code == 201, created.text
    endpoint: dict[str, Any] = created.json()
    return endpoint


def a_call_and_a_booking(sera: Sera, shop: str, clock: FakeClock) -> str:
    with sera.uow(shop) as uow:
        customer = find_or_create_customer(uow, name="Harriet Vane", phone="+13125550170")
        call = start_call(
            uow,
            channel="voice",
            direction="inbound",
            provider="twilio",
            from_number="+13125550170",
            to_number="+13125550100",
            started_at=clock() - timedelta(minutes=3),
            customer_id=customer.id,
        )
        start = (clock() + timedelta(days=2)).replace(hour=17, minute=0, second=0)
        while start.weekday() != 1:  # a Tuesday, at 11 am or noon in Chicago: the shop is open
            start += timedelta(days=1)
        book_appointment(uow, service_name="Tune-up", start=start, customer_id=customer.id, now=clock())
        end_call(uow, call, ended_at=clock(), outcome="booked")
        uow.commit()
        return customer.id


def test_a_merchant_receives_verified_signed_events_for_a_call_and_a_booking(
    api: TestClient, sera: Sera, personas: Personas, jobs: Any, clock: FakeClock, receiver: Receiver
) -> None:
    endpoint = subscribe(api, receiver.url, "call.completed", "appointment.booked")
    assert endpoint["secret"].startswith("whsec_") and "secret" not in api.get("/api/v1/webhook-endpoints").text
    harriet = a_call_and_a_booking(sera, personas.northside_id, clock)
    jobs.run_pending()

    events = receiver.events(endpoint["secret"])
    assert sorted(e["type"] for e in events) == ["appointment.booked", "call.completed"]
    call = next(e for e in events if e["type"] == "call.completed")
    assert call["data"]["customer_id"] == harriet and call["data"]["outcome"] == "booked"
    assert "Harriet" not in json.dumps(events) and "5550170" not in json.dumps(events)  # ids, not details
    log = api.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    assert {(d["status"], d["last_status_code"]) for d in log} == {("delivered", 200)}
    assert {d["id"] for d in log} == {headers["webhook-id"] for headers, _ in receiver.received}


def test_a_failing_receiver_gets_the_same_webhook_id_until_it_takes_it(
    api: TestClient, sera: Sera, personas: Personas, jobs: Any, clock: FakeClock, receiver: Receiver
) -> None:
    endpoint = subscribe(api, receiver.url, "ticket.created", "appointment.booked")
    receiver.statuses = [500, 503, 302]  # down, busy, a redirect (not followed)
    a_call_and_a_booking(sera, personas.northside_id, clock)
    jobs.run_pending()
    for _ in range(3):
        clock.advance(minutes=5)
        _webhooks_due(sera)
        jobs.run_pending()
    ids = [headers["webhook-id"] for headers, _ in receiver.received]
    assert len(ids) == 4 and len(set(ids)) == 1
    [delivery] = api.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 4, 200)


def test_three_days_of_failures_fail_the_delivery_disable_the_endpoint_and_a_replay_sends_it(
    api: TestClient, sera: Sera, personas: Personas, jobs: Any, clock: FakeClock, receiver: Receiver
) -> None:
    endpoint = subscribe(api, receiver.url, "appointment.booked")
    receiver.statuses = [500] * 1000
    a_call_and_a_booking(sera, personas.northside_id, clock)
    jobs.run_pending()
    url = f"/api/v1/webhook-endpoints/{endpoint['id']}"
    for _ in range(13):  # three days and more, in six-hour steps
        clock.advance(hours=6)
        _webhooks_due(sera)
        jobs.run_pending()
    state = api.get(url).json()
    assert (state["enabled"], state["disabled_reason"]) == (False, "failing for a day")
    told = api.get("/api/v1/notifications").json()["data"]  # the shop hears of it, once
    assert [n["event"] for n in told].count("webhook_endpoint_disabled") == 1
    [delivery] = api.get(f"{url}/deliveries").json()["data"]
    assert delivery["status"] in ("failed", "pending")

    receiver.statuses.clear()
    assert api.patch(url, json={"enabled": True}).json()["failing_since"] is None
    replayed = api.post(f"/api/v1/webhook-deliveries/{delivery['id']}/replay")
    assert replayed.status_code == 200, replayed.text
    jobs.run_pending()
    assert receiver.received[-1][0]["webhook-id"] == delivery["id"]
    assert api.get(f"{url}/deliveries").json()["data"][0]["status"] == "delivered"
    again = api.post(f"/api/v1/webhook-deliveries/{delivery['id']}/replay")
    assert again.status_code == 409 and "not kept after delivery" in again.text


def test_an_erased_customers_events_are_never_sent_and_the_erasure_is(
    api: TestClient, sera: Sera, personas: Personas, jobs: Any, clock: FakeClock, receiver: Receiver
) -> None:
    endpoint = subscribe(api, receiver.url, "appointment.booked", "customer.erased")
    harriet = a_call_and_a_booking(sera, personas.northside_id, clock)  # not delivered yet
    [held] = api.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    redact_customer(sera, personas.northside_id, harriet, actor="test")
    jobs.run_pending()
    events = receiver.events(endpoint["secret"])
    assert events == [
        {"type": "customer.erased", "timestamp": events[0]["timestamp"], "data": {"customer_id": harriet}}
    ]
    replay = api.post(f"/api/v1/webhook-deliveries/{held['id']}/replay")
    assert replay.status_code == 409 and "erased" in replay.text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x",
        "https://10.0.0.7/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://user:pass@crm.example.com/hook",
        "ftp://crm.example.com/hook",
    ],
)
def test_urls_into_seras_own_network_are_refused(api: TestClient, sera: Sera, url: str) -> None:
    sera.settings.webhooks_allow_private = False
    refused = api.post("/api/v1/webhook-endpoints", json={"url": url, "events": ["call.completed"]})
    assert refused.status_code == 422, refused.text


def test_a_host_that_resolves_to_a_private_address_is_refused_when_connecting() -> None:
    host = socket.gethostname()  # a name the URL check lets by, resolving to this machine's own address
    with httpx.Client(transport=GuardedTransport(allow_private=False)) as client, pytest.raises(AddressRefused):
        client.post(f"http://{host}:9/hook", content=b"{}")


def test_only_the_shops_admins_manage_its_endpoints(api: TestClient, personas: Personas, receiver: Receiver) -> None:
    endpoint = subscribe(api, receiver.url, "call.completed")
    path = f"/api/v1/webhook-endpoints/{endpoint['id']}"
    outsider = {"Authorization": f"Bearer {personas.outsider_key}"}
    assert api.get(path, headers=outsider).status_code == 404
    assert api.delete(path, headers=outsider).status_code == 404
    assert api.get(path, headers={"Authorization": f"Bearer {personas.teammate_key}"}).status_code == 403
    unknown = api.post("/api/v1/webhook-endpoints", json={"url": receiver.url, "events": ["call.exploded"]})
    assert unknown.status_code == 422 and "unknown events" in unknown.text
    assert api.delete(path).status_code == 204 and api.get(path).status_code == 404


def a_call_with_a_transcript(sera: Sera, shop: str, clock: FakeClock) -> str:
    with sera.uow(shop) as uow:
        customer = find_or_create_customer(uow, name="Harriet Vane", phone="+13125550170")
        call = start_call(
            uow,
            channel="voice",
            direction="inbound",
            provider="vapi",
            from_number="+13125550170",
            to_number="+13125550100",
            started_at=clock() - timedelta(minutes=3),
            customer_id=customer.id,
        )
        save_transcript(
            uow,
            call,
            [TranscriptLine("caller", "Is my bike ready?"), TranscriptLine("agent", "Yes, pick it up after 3.")],
        )
        record_call_report(
            uow,
            call,
            started_at=call.started_at,
            ended_at=clock(),
            duration_s=180,
            outcome="order_status",
            ended_reason=None,
            cost_cents=None,
            recording_url=None,
            summary="Asked whether the bike was ready; it is.",
        )
        end_call(uow, call, ended_at=clock(), outcome="order_status")
        uow.commit()
        return customer.id


def test_calls_carry_no_transcript_or_summary_unless_the_shop_shares_them(
    api: TestClient, sera: Sera, personas: Personas, jobs: Any, clock: FakeClock, receiver: Receiver
) -> None:
    endpoint = subscribe(api, receiver.url, "call.completed")
    assert api.get("/api/v1/integration-settings").json() == {"share_interaction_data": False}
    a_call_with_a_transcript(sera, personas.northside_id, clock)
    jobs.run_pending()
    [kept_back] = receiver.events(endpoint["secret"])
    assert "summary" not in kept_back["data"] and "transcript" not in kept_back["data"]
    assert "bike" not in json.dumps(kept_back)

    teammate = {"Authorization": f"Bearer {personas.teammate_key}"}
    assert (
        api.put("/api/v1/integration-settings", json={"share_interaction_data": True}, headers=teammate).status_code
        == 403
    )
    turned_on = api.put("/api/v1/integration-settings", json={"share_interaction_data": True})
    assert turned_on.json() == {"share_interaction_data": True}
    assert api.put("/api/v1/integration-settings", json={"share_interaction_data": "yes"}).status_code == 422
    outsider = {"Authorization": f"Bearer {personas.outsider_key}"}
    assert api.get("/api/v1/integration-settings", headers=outsider).json() == {"share_interaction_data": False}
    a_call_with_a_transcript(sera, personas.northside_id, clock)
    jobs.run_pending()
    shared = receiver.events(endpoint["secret"])[-1]["data"]
    assert shared["summary"] == "Asked whether the bike was ready; it is."
    assert shared["transcript"] == [
        {"role": "caller", "text": "Is my bike ready?"},
        {"role": "agent", "text": "Yes, pick it up after 3."},
    ]
    with sera.uow(readonly=True) as uow:
        changed = uow.session.execute(
            select(AuditEntry.actor).where(
                AuditEntry.chain == personas.northside_id, AuditEntry.action == "integrations.sharing_changed"
            )
        ).scalars()
        assert len(list(changed)) == 1


def test_turning_sharing_off_stops_transcripts_still_waiting_and_an_erased_callers_never_go(
    api: TestClient, sera: Sera, personas: Personas, jobs: Any, clock: FakeClock, receiver: Receiver
) -> None:
    endpoint = subscribe(api, receiver.url, "call.completed")
    api.put("/api/v1/integration-settings", json={"share_interaction_data": True})
    a_call_with_a_transcript(sera, personas.northside_id, clock)  # queued while sharing is on
    api.put("/api/v1/integration-settings", json={"share_interaction_data": False})
    jobs.run_pending()
    [sent] = receiver.events(endpoint["secret"])
    assert "transcript" not in sent["data"] and "bike" not in json.dumps(sent)

    api.put("/api/v1/integration-settings", json={"share_interaction_data": True})
    harriet = a_call_with_a_transcript(sera, personas.northside_id, clock)
    redact_customer(sera, personas.northside_id, harriet, actor="test")
    jobs.run_pending()
    assert len(receiver.received) == 1  # the erased caller's call never went, transcript or not


def test_a_rotated_secret_signs_beside_the_old_one_for_a_day(
    api: TestClient, sera: Sera, personas: Personas, jobs: Any, clock: FakeClock, receiver: Receiver
) -> None:
    endpoint = subscribe(api, receiver.url, "appointment.booked")
    rotated = api.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret")
    assert rotated.status_code == 200 and rotated.json()["secret"] != endpoint["secret"]
    assert rotated.json()["rotation_ends_at"] is not None
    outsider = {"Authorization": f"Bearer {personas.outsider_key}"}
    assert api.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=outsider).status_code == 404
    a_call_and_a_booking(sera, personas.northside_id, clock)
    jobs.run_pending()
    assert receiver.events(endpoint["secret"]) == receiver.events(rotated.json()["secret"])  # either verifies
    assert len(receiver.received[-1][0]["webhook-signature"].split()) == 2

    clock.advance(hours=25)
    with sera.uow(personas.northside_id) as uow:
        customer = find_or_create_customer(uow, name="Peter Wimsey", phone="+13125550171")
        start = (clock() + timedelta(days=2)).replace(hour=18, minute=0, second=0)  # Harriet has 17:00
        while start.weekday() != 1:
            start += timedelta(days=1)
        book_appointment(uow, service_name="Tune-up", start=start, customer_id=customer.id, now=clock())
        uow.commit()
    jobs.run_pending()
    headers, body = receiver.received[-1]
    assert len(headers["webhook-signature"].split()) == 1  # the old secret no longer signs
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(body, headers)


def backlog(sera: Sera, shop: str, count: int) -> list[str]:
    with sera.uow(shop) as uow:
        ids = [webhooks.emit(uow, "ticket.updated", {"id": f"tkt_{n}"})[0] for n in range(count)]
        uow.commit()
    return ids


def test_one_job_sends_a_backlog_as_a_batch_and_stops_at_a_failing_endpoint(
    api: TestClient, sera: Sera, personas: Personas, receiver: Receiver
) -> None:
    endpoint = subscribe(api, receiver.url, "ticket.updated")
    sender = StandardWebhooksSender(guarded_http(allow_private=True))
    queued = backlog(sera, personas.northside_id, 5)
    assert webhooks.deliver(sera, sender, queued[0]) == dict.fromkeys(queued, "delivered")
    assert sorted(h["webhook-id"] for h, _ in receiver.received) == sorted(queued)
    assert len(receiver.events(endpoint["secret"])) == 5
    assert webhooks.deliver(sera, sender, *queued[1:]) == {}  # their own jobs find them sent: nothing twice

    receiver.statuses = [503]
    queued = backlog(sera, personas.northside_id, 3)
    [(tried, outcome)] = webhooks.deliver(sera, sender, queued[0]).items()  # the batch's first, whichever
    assert outcome == "retry" and len(receiver.received) == 6  # the rest were not tried against a failing endpoint
    log = api.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    untried = [d["id"] for d in log if d["id"] in queued and (d["status"], d["attempts"]) == ("pending", 0)]
    assert sorted(untried) == sorted(set(queued) - {tried})
    assert webhooks.deliver(sera, sender, *untried) == dict.fromkeys(untried, "delivered")  # released, due again


def test_a_batch_running_past_half_its_claim_leaves_the_rest_to_the_next_job(
    api: TestClient, sera: Sera, personas: Personas, clock: FakeClock, receiver: Receiver
) -> None:
    endpoint = subscribe(api, receiver.url, "ticket.updated")
    queued = backlog(sera, personas.northside_id, 3)
    receiver.on_post = lambda: clock.advance(seconds=31)  # a slow receiver: the claim is 60 s
    sender = StandardWebhooksSender(guarded_http(allow_private=True))
    assert list(webhooks.deliver(sera, sender, queued[0]).values()) == ["delivered"]
    log = api.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    assert sorted((d["status"], d["attempts"]) for d in log) == [("delivered", 1), ("pending", 0), ("pending", 0)]
    assert len(receiver.received) == 1  # none held past its claim, so none can go twice
