"""HubSpot busy, down, refusing: a 429 storm is waited out in order with nothing lost and
nothing created twice; a lost answer does not duplicate; a refused token stops the queue and
tells the shop; a refused object fails alone with HubSpot's reason, shown to the merchant."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from sera.bootstrap import Sera
from sera.integrations.hubspot import Drained, connect, drain, take_due
from sera.storage.models import HubspotSync, Notification
from tests.adapters.hubspot.conftest import a_booking, a_call, a_customer
from tests.conftest import FakeClock
from tests.fakes.hubspot_server import FakeHubspot

SERA_ID = re.compile(r"\((\w+)\)$")


def drain_until_done(sera: Sera, shop: str, clock: FakeClock, rounds: int = 200) -> list[Drained]:
    """Drain as the job queue would: again after each pause, once the clock has reached its end."""
    seen = []
    for _ in range(rounds):
        drained = drain(sera, shop)
        seen.append(drained)
        if drained.outcome != "paused":
            return seen
        assert drain(sera, shop).outcome == "held"  # paused means paused: nothing goes before the time
        assert drained.resume_in is not None
        clock.advance(seconds=drained.resume_in)
    raise AssertionError("the queue never emptied")


def created_in_order(fake: FakeHubspot) -> list[str]:
    """Sera's ids of the calls and meetings HubSpot holds, in the order HubSpot created them."""
    made = [
        (int(object_id), stored["properties"].get("hs_call_title") or stored["properties"]["hs_meeting_title"])
        for kind in ("calls", "meetings")
        for object_id, stored in fake.objects[kind].items()
    ]
    return [SERA_ID.search(title).group(1) for _, title in sorted(made)]  # type: ignore[union-attr]


def test_a_429_storm_delivers_everything_in_order_and_once(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock, api: TestClient
) -> None:
    fake_hubspot.storm(every=3, retry_after=2)
    expected = []
    for n in range(6):
        customer = a_customer(sera, connected, name=f"Caller {n}", phone=f"+1312555017{n}")
        expected.append(a_call(sera, connected, clock, customer_id=customer))
        if n % 2 == 0:
            expected.append(a_booking(sera, connected, clock, customer, hour_utc=17 + n // 2))
        clock.advance(minutes=1)

    first = drain(sera, connected)
    assert first.outcome == "paused" and first.resume_in == 2
    status = api.get("/api/v1/integrations/hubspot").json()
    assert "429" in status["last_error"] and status["paused_until"] is not None and status["pending"] > 0
    assert take_due(sera, clock()) == []  # the sweep leaves a paused queue alone
    clock.advance(seconds=2)
    assert take_due(sera, clock()) == [connected]
    runs = drain_until_done(sera, connected, clock)

    assert sum(r.outcome == "paused" for r in runs) >= 5  # a storm, waited out
    assert created_in_order(fake_hubspot) == expected  # all of it, in Sera's order, each once
    assert len(fake_hubspot.objects["contacts"]) == 6
    status = api.get("/api/v1/integrations/hubspot").json()
    assert (status["pending"], status["failed"]) == (0, 0) and status["last_sync_at"] is not None


def test_hubspot_down_backs_off_and_then_sends(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    call = a_call(sera, connected, clock, customer_id=a_customer(sera, connected))
    fake_hubspot.fail_next(503)
    fake_hubspot.fail_next(502)

    first, second = drain(sera, connected), None
    assert first.outcome == "paused" and first.resume_in == 10
    clock.advance(seconds=10)
    second = drain(sera, connected)
    assert second.outcome == "paused" and second.resume_in == 20  # backing off
    clock.advance(seconds=20)
    assert drain(sera, connected).sent == 1
    assert created_in_order(fake_hubspot) == [call]


def test_an_answer_lost_after_hubspot_created_the_call_does_not_create_a_second(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    # HubSpot made the call and its answer never reached Sera: the same state as Sera stopping
    # between HubSpot's answer and its own commit (the row tried, pending, without HubSpot's id).
    call = a_call(sera, connected, clock, customer_id=a_customer(sera, connected))
    fake_hubspot.lose_next_create("calls")

    assert drain(sera, connected).outcome == "paused"
    assert len(fake_hubspot.objects["calls"]) == 1  # HubSpot has it; Sera does not know
    clock.advance(minutes=2)
    assert drain(sera, connected).sent == 1

    assert created_in_order(fake_hubspot) == [call]  # found by its title, adopted, not made again
    assert fake_hubspot.count("POST", "/crm/v3/objects/calls/search") == 1
    assert fake_hubspot.count("POST", "/crm/v3/objects/contacts") == 1  # the contact was kept too
    with sera.uow(connected, readonly=True) as uow:
        row = uow.session.execute(select(HubspotSync)).scalar_one()
    assert (row.status, row.hubspot_id) == ("synced", next(iter(fake_hubspot.objects["calls"])))


def test_a_refused_token_stops_the_queue_tells_the_shop_and_a_new_one_resumes(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock, api: TestClient
) -> None:
    calls = [a_call(sera, connected, clock, customer_id=a_customer(sera, connected)) for _ in range(2)]
    old, fake_hubspot.token = fake_hubspot.token, "pat-na1-rotated"  # revoked in HubSpot

    assert drain(sera, connected).outcome == "broken"
    status = api.get("/api/v1/integrations/hubspot").json()
    assert status["status"] == "broken" and "HubSpot refused the token" in status["last_error"]
    assert status["pending"] == 2
    with sera.uow(connected, readonly=True) as uow:
        told = uow.session.execute(select(Notification.event)).scalars().all()
    assert told == ["hubspot_disconnected"]
    assert drain(sera, connected).outcome == "held"  # stays stopped

    connect(sera, connected, "pat-na1-rotated", actor="test")
    assert drain(sera, connected).sent == 2
    assert created_in_order(fake_hubspot) == calls and old != fake_hubspot.token


def test_an_object_hubspot_refuses_fails_alone_with_its_reason(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock, api: TestClient
) -> None:
    harriet = a_customer(sera, connected)
    first = a_call(sera, connected, clock, customer_id=harriet)
    second = a_call(sera, connected, clock, customer_id=harriet, outcome="knowledge")
    reason = 'Property values were not valid: [{"isValid":false,"name":"hs_call_title"}]'
    fake_hubspot.refuse_next_create("calls", reason)
    fake_hubspot.refuse_next_create("calls", "Email address harriet@example.com is invalid")  # HubSpot echoes
    third = a_call(sera, connected, clock, customer_id=harriet, outcome="ticket")

    drain(sera, connected)

    status = api.get("/api/v1/integrations/hubspot").json()
    assert status["failed"] == 2 and status["pending"] == 0
    assert status["recent_failures"] == [
        {
            "kind": "call",
            "object_id": second,
            "error": f"HubSpot refused the call {second}: Email address [redacted] is invalid",
        },
        {"kind": "call", "object_id": first, "error": f"HubSpot refused the call {first}: {reason}"},
    ]
    assert "harriet@example.com" not in status["last_error"]
    assert created_in_order(fake_hubspot) == [third]
    assert len(fake_hubspot.objects["contacts"]) == 1  # the contact made for the first went to the second


CRASHING_WORKER = """
import sys
from datetime import datetime

from sera.bootstrap import bootstrap
from sera.config import Settings
from sera.integrations.hubspot import drain

now = datetime.fromisoformat(sys.argv[2])
drain(bootstrap(Settings(), clock=lambda: now), sys.argv[1])
"""


def test_a_worker_killed_after_hubspot_created_the_call_does_not_create_a_second(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock, tmp_path: Path
) -> None:
    # The guarantee: HubSpot has no idempotency key, so the row that never recorded HubSpot's id
    # searches for the call by its title (which carries Sera's id) before creating it; the call is
    # made once unless HubSpot's search index lags more than the queue's hold (two minutes).
    call = a_call(sera, connected, clock, customer_id=a_customer(sera, connected))
    settings = sera.settings
    assert settings.master_key is not None and settings.secret_key is not None
    env = {
        **os.environ,
        "SERA_ENV": "test",
        "SERA_DATABASE_URL": settings.database_url,
        "SERA_KEYSTORE_URL": settings.keystore_url,
        "SERA_MASTER_KEY": settings.master_key.get_secret_value(),
        "SERA_SECRET_KEY": settings.secret_key.get_secret_value(),
        "SERA_HUBSPOT_API_URL": fake_hubspot.base_url,
        "SERA_MAIL_DIR": str(tmp_path / "mail"),
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WORKER, connected, clock().isoformat()],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    fake_hubspot.on_create = lambda kind: os.kill(worker.pid, signal.SIGKILL)  # HubSpot made it; Sera dies
    assert worker.wait(timeout=60) == -signal.SIGKILL
    fake_hubspot.on_create = None
    assert len(fake_hubspot.objects["calls"]) == 1

    assert drain(sera, connected).outcome == "held"  # the dead worker's hold runs out first
    clock.advance(minutes=2, seconds=1)
    assert drain(sera, connected).sent == 1

    assert created_in_order(fake_hubspot) == [call] and len(fake_hubspot.objects["contacts"]) == 1
    with sera.uow(connected, readonly=True) as uow:
        row = uow.session.execute(select(HubspotSync)).scalar_one()
    assert (row.status, row.hubspot_id, row.attempts) == ("synced", next(iter(fake_hubspot.objects["calls"])), 2)
