"""Outbound as the tests drive it: the demo shop (Northside Cycles: recovery by SMS after 60
minutes, 2 attempts, reminders 24 h before, confirmations, quiet hours 21:00 to 08:00), Sera's
Twilio account pointing at the local fake Twilio, and recorded Shopify checkout payloads
(Harriet Okonkwo, +13125550188, Chicago, 09:41 on Friday 27 November 2026).

``Queue`` plays the job queue on the test's clock: what the dispatcher queues with a delay
runs when the clock reaches it, and a send that asks to be looked at again is queued again,
exactly as ``sera.outbound.jobs`` does on Huey.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from sera.adapters.http import OutboundError
from sera.adapters.shopify.payloads import parse_checkout
from sera.bootstrap import Sera
from sera.checkouts.service import CheckoutRecorded, complete_checkout, record_checkout
from sera.config import Settings
from sera.outbound.dispatch import Dispatched, dispatch
from sera.outbound.jobs import follow_ups, outbox_for
from sera.outbound.service import Outbox, Outcome, send_actions
from sera.outbound.settings import OutboundSettings
from sera.storage.models import OutboundAction
from tests.adapters.twilio.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.conftest import FakeClock, Personas
from tests.fakes.twilio_server import TwilioServer
from tests.outbound.paced_twilio import PacedTwilioServer

SHOP_NUMBER = "+13125550100"
SHOPPER = "+13125550188"
CHECKOUT_TOKEN = "7f8e1d9c2b3a4f5e6d7c8b9a0f1e2d3c"
RETRY_DELAY = 10  # the send job's retry_delay


@pytest.fixture
def fake_twilio() -> Iterator[TwilioServer]:
    with PacedTwilioServer() as fake:
        fake.add_account(ACCOUNT_SID, AUTH_TOKEN)
        yield fake


@pytest.fixture
def settings(settings: Settings, fake_twilio: TwilioServer, tmp_path: Path) -> Settings:
    """Sera's own Twilio account, whose REST API is the local fake; this test's own queue file."""
    return settings.model_copy(
        update={
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_api_base": fake_twilio.url,
            "jobs_path": tmp_path / "jobs.db",
        }
    )


@pytest.fixture
def shop(personas: Personas) -> str:
    return personas.northside_id


def make_outbox(sera: Sera, *, rate_limits: bool = False, daily_cap: int = 0) -> Outbox:
    return outbox_for(sera, OutboundSettings(rate_limits=rate_limits, daily_cap=daily_cap))


@dataclass
class Queue:
    """The job queue on the test clock."""

    sera: Sera
    box: Outbox
    pending: list[tuple[datetime, str, list[str]]] = field(default_factory=list)
    dispatched: Dispatched = field(default_factory=Dispatched)

    def enqueue(self, merchant_id: str, action_ids: list[str], delay: float) -> None:
        self.pending.append((self.sera.clock() + timedelta(seconds=delay), merchant_id, action_ids))

    def tick(self) -> list[Outcome]:
        """The periodic dispatcher runs now, then every job due by now."""
        self.dispatched = dispatch(self.sera, self.enqueue, self.sera.clock())
        return self.run_due()

    def run_due(self) -> list[Outcome]:
        outcomes = []
        while due := [job for job in self.pending if job[0] <= self.sera.clock()]:
            for job in due:
                self.pending.remove(job)
                try:
                    done = send_actions(self.box, job[1], job[2])
                except OutboundError as exc:  # Huey retries a job that raised, 10 s later
                    outcomes.append(Outcome("raised", type(exc).__name__))
                    self.enqueue(job[1], job[2], RETRY_DELAY)
                    continue
                outcomes += done.values()
                for delay, again in follow_ups(done, self.sera.clock()).items():
                    self.enqueue(job[1], again, delay)
        return outcomes


@pytest.fixture
def queue(sera: Sera) -> Queue:
    return Queue(sera, make_outbox(sera))


def sent_texts(fake: TwilioServer) -> list[dict[str, Any]]:
    return [m for m in fake.state.messages if m["direction"] == "outbound-api"]


def record(sera: Sera, merchant_id: str, payload: dict[str, Any]) -> CheckoutRecorded:
    """A Shopify checkout webhook as the Shopify adapter hands it to the checkouts capability."""
    with sera.uow(merchant_id) as uow:
        recorded = record_checkout(uow, parse_checkout(payload), now=sera.clock())
        uow.commit()
        return recorded


def order_placed(sera: Sera, merchant_id: str, *, token: str = CHECKOUT_TOKEN, order_ref: str = "5551") -> None:
    with sera.uow(merchant_id) as uow:
        complete_checkout(
            uow,
            source="shopify",
            external_id=None,
            token=token,
            order_ref=order_ref,
            completed_at=sera.clock(),
            now=sera.clock(),
        )
        uow.commit()


def actions(sera: Sera, merchant_id: str) -> list[OutboundAction]:
    with sera.uow(merchant_id, readonly=True) as uow:
        return list(uow.session.execute(select(OutboundAction).order_by(OutboundAction.created_at)).scalars())


def at(clock: FakeClock, moment: datetime) -> None:
    clock.now = moment
