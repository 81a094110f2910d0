"""Recovery by call through Vapi, for a shop whose ``outbound.call_provider`` is ``vapi``: the
call goes out from the shop's Vapi number with the shop's assistant opening on why Sera
calls and a voicemail message with no personal details; it is named after its action, so a
crash finds it again, and the end-of-call report files its result on the action."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from sera.bootstrap import Sera
from sera.config import Settings
from sera.outbound.drafts import Draft
from sera.outbound.jobs import senders
from sera.outbound.settings import ShopOutbound
from sera.storage.models import Merchant
from sera.web.app import create_app
from tests.adapters.vapi.conftest import SECRET, load
from tests.conftest import FakeClock, Personas
from tests.fakes.twilio_server import TwilioServer
from tests.fakes.vapi_server import FakeVapi
from tests.outbound.conftest import SHOP_NUMBER, SHOPPER, Queue, actions, at, record
from tests.outbound.shoppers import checkout, grant_call_consent, set_outbound

DUE = datetime(2026, 11, 27, 16, 41, 7, tzinfo=UTC)
NUMBER_ID = "8d2b6c4e-1a3f-4b5c-9e7d-6f8a0b1c2d3e"


@pytest.fixture
def fake_vapi() -> Iterator[FakeVapi]:
    server = FakeVapi().start()
    server.phone_numbers[SHOP_NUMBER] = NUMBER_ID
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, fake_vapi: FakeVapi) -> Settings:
    return settings.model_copy(
        update={
            "vapi_api_base": fake_vapi.base_url,
            "vapi_api_key": SecretStr(fake_vapi.api_key),
            "vapi_secret": SecretStr(SECRET),
        }
    )


def vapi_cart(sera: Sera, shop: str) -> None:
    set_outbound(sera, shop, abandoned_checkout={"channel": "call"})
    with sera.uow(shop) as uow:  # call_provider is a value, not a section set_outbound merges
        merchant = uow.session.get(Merchant, shop)
        assert merchant is not None
        merchant.settings = {
            **merchant.settings,
            "outbound": {**merchant.settings["outbound"], "call_provider": "vapi"},
        }
        uow.commit()
    record(sera, shop, checkout())
    grant_call_consent(sera, shop)


def test_a_vapi_shop_calls_through_vapi_and_files_the_result(
    sera: Sera,
    shop: str,
    queue: Queue,
    fake_vapi: FakeVapi,
    fake_twilio: TwilioServer,
    clock: FakeClock,
    personas: Personas,
) -> None:
    vapi_cart(sera, shop)
    at(clock, DUE)
    [outcome] = queue.tick()
    assert outcome.status == "sent"
    assert fake_twilio.state.calls == []
    [call] = fake_vapi.calls
    [action] = actions(sera, shop)
    assert (call["name"], call["customer"], call["phoneNumberId"]) == (action.id, {"number": SHOPPER}, NUMBER_ID)
    assert action.provider_ref == call["id"]
    assistant = call["assistant"]
    assert assistant["firstMessage"].startswith("Hi Harriet, this is Sam, the automated assistant at Northside Cycles")
    assert assistant["voicemailMessage"].startswith("Hello, this is Northside Cycles calling.")
    assert "Harriet" not in assistant["voicemailMessage"]
    assert assistant["server"]["url"] == "https://sera.test/vapi/webhook"

    with sera.uow(shop, readonly=True) as uow:
        merchant = uow.session.get(Merchant, shop)
        assert merchant is not None
        draft_sender = senders(sera, shop, ShopOutbound.parse(merchant.settings)).call
    assert draft_sender is not None and draft_sender.provider == "vapi"
    draft = Draft(SHOPPER, SHOP_NUMBER, "", action.customer_id, "call")
    assert draft_sender.recent(draft, action.id, DUE - timedelta(days=1), 20) == [call["id"]]  # found again by name
    assert draft_sender.recent(draft, "out_another", DUE - timedelta(days=1), 20) == []

    report = load("end-of-call-report")
    message = report["message"]
    message["endedReason"] = "voicemail"
    message["call"] |= {"id": call["id"], "type": "outboundPhoneCall", "name": action.id, "endedReason": "voicemail"}
    message["customer"] = {"number": SHOPPER}
    with TestClient(create_app(sera)) as http:
        response = http.post(
            "/vapi/webhook",
            content=json.dumps(report).encode(),
            headers={"Content-Type": "application/json", "X-Vapi-Secret": SECRET},
        )
    assert response.status_code == 200, response.text
    [action] = actions(sera, shop)
    assert action.reason == "voicemail"
