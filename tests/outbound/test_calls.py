"""Recovery and reminders by call: placed through Twilio with asynchronous answering-machine
detection, only with written consent to calls; a person hears why the shop calls and can
talk to the agent (and opt out), a machine gets one message with no personal details, and
a call nobody answered is tried again as the shop's ``max_attempts`` says.

The fake Twilio places the call and plays the called phone: it fetches Sera's answer URL,
posts the detection verdict and the status callback, each signed as Twilio signs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sera.bootstrap import Sera
from sera.customers.service import is_do_not_contact
from sera.storage.models import Call
from sera.web.app import create_app
from tests.adapters.twilio.conftest import Phone, parse_twiml, payload
from tests.conftest import FakeClock, Personas
from tests.fakes.twilio_server import Deliver, TwilioServer
from tests.outbound.conftest import SHOP_NUMBER, SHOPPER, Queue, actions, at, record
from tests.outbound.shoppers import checkout, set_outbound

UPDATED = datetime(2026, 11, 27, 15, 41, 7, tzinfo=UTC)  # 09:41 in Chicago
DUE = UPDATED + timedelta(minutes=60)
PUBLIC = "https://sera.test"


@pytest.fixture
def http(sera: Sera, personas: Personas) -> Iterator[TestClient]:
    with TestClient(create_app(sera)) as client:
        yield client


@pytest.fixture
def deliver(http: TestClient) -> Deliver:
    def post(url: str, params: dict[str, str], headers: dict[str, str]) -> Any:
        assert url.startswith(PUBLIC), url
        return http.post(url.removeprefix(PUBLIC), data=params, headers=headers)

    return post


def consent_to_calls(http: TestClient, personas: Personas, customer_id: str, granted: bool = True) -> None:
    response = http.post(
        f"/api/v1/customers/{customer_id}/consents",
        json={"channel": "voice", "purpose": "marketing", "granted": granted, "source": "signed web form"},
        headers={"Authorization": f"Bearer {personas.owner_key}"},
    )
    assert response.status_code == 201, response.text


def harriet_cart(sera: Sera, shop: str, http: TestClient, personas: Personas, *, consent: bool = True) -> str:
    set_outbound(sera, shop, abandoned_checkout={"channel": "call", "max_attempts": 2})
    customer_id = record(sera, shop, checkout()).customer_id
    assert customer_id is not None
    if consent:
        consent_to_calls(http, personas, customer_id)
    return customer_id


def placed(fake: TwilioServer) -> list[dict[str, Any]]:
    return [c for c in fake.state.calls if c["direction"] == "outbound-api"]


def test_a_person_who_answers_hears_why_the_shop_calls_and_talks_to_the_agent(
    sera: Sera,
    shop: str,
    queue: Queue,
    fake_twilio: TwilioServer,
    clock: FakeClock,
    http: TestClient,
    personas: Personas,
    deliver: Deliver,
) -> None:
    harriet_cart(sera, shop, http, personas)
    at(clock, DUE)
    [outcome] = queue.tick()
    assert outcome.status == "sent"
    [call] = placed(fake_twilio)
    assert (call["to"], call["from"]) == (SHOPPER, SHOP_NUMBER)
    form = fake_twilio.state.placed[call["sid"]]
    assert (form["MachineDetection"], form["AsyncAmd"]) == ("DetectMessageEnd", "true")
    assert "Harriet" not in str(form) and SHOPPER not in form["Url"]  # the URLs carry ids only
    [action] = actions(sera, shop)
    assert (action.status, action.provider_ref) == ("sent", call["sid"])

    answer, _amd, _status = fake_twilio.ring(call["sid"], deliver, answered_by="human")
    relay = parse_twiml(answer.text).find("Connect/ConversationRelay")  # relay mode, the default
    assert relay is not None
    greeting = relay.get("welcomeGreeting", "")
    assert greeting.startswith("Hi Harriet, this is Sam, the automated assistant at Northside Cycles")
    assert "Gravel King 54 and Bottle Cage left in your cart" in greeting
    assert fake_twilio.state.updates == []  # a person: no voicemail
    [action] = actions(sera, shop)
    assert action.reason == "answered"
    with sera.uow(shop, readonly=True) as uow:
        record_ = uow.session.execute(select(Call)).scalar_one()
        assert (record_.direction, record_.customer_id) == ("outbound", action.customer_id)


def test_a_person_can_ask_never_to_be_called_again(
    sera: Sera,
    shop: str,
    queue: Queue,
    fake_twilio: TwilioServer,
    clock: FakeClock,
    http: TestClient,
    personas: Personas,
    deliver: Deliver,
) -> None:
    harriet_cart(sera, shop, http, personas)
    at(clock, DUE)
    queue.tick()
    [call] = placed(fake_twilio)
    form = fake_twilio.state.placed[call["sid"]]
    phone = Phone(http)
    outbound = {"Direction": "outbound-api", "From": SHOP_NUMBER, "To": SHOPPER}
    answer = phone.post(form["Url"].removeprefix(PUBLIC), {"CallSid": call["sid"], **outbound}, signed_url=form["Url"])
    assert answer.status_code == 200
    said = {"CallSid": call["sid"], "SpeechResult": "please don't ever call me again"}
    reply = phone.post("/twilio/voice/turn", payload("voice_gather_speech", **said, **outbound))
    assert parse_twiml(reply.text).find("Hangup") is not None
    with sera.uow(shop, readonly=True) as uow:
        assert is_do_not_contact(uow, SHOPPER)


def test_a_machine_gets_one_message_without_personal_details(
    sera: Sera,
    shop: str,
    queue: Queue,
    fake_twilio: TwilioServer,
    clock: FakeClock,
    http: TestClient,
    personas: Personas,
    deliver: Deliver,
) -> None:
    harriet_cart(sera, shop, http, personas)
    at(clock, DUE)
    queue.tick()
    [call] = placed(fake_twilio)
    _answer, amd, _status = fake_twilio.ring(call["sid"], deliver, answered_by="machine_end_beep")
    assert amd.status_code == 204
    [(sid, twiml)] = fake_twilio.state.updates
    said = parse_twiml(twiml).find("Say")
    assert sid == call["sid"] and said is not None
    assert (
        said.text
        == "Hello, this is Northside Cycles calling. Please call us back at (312) 555-0100. Thank you, goodbye."
    )
    assert parse_twiml(twiml).find("Hangup") is not None
    form = fake_twilio.state.placed[call["sid"]]
    again = Phone(http).post(
        form["AsyncAmdStatusCallback"].removeprefix(PUBLIC),
        {"AccountSid": call["account_sid"], "CallSid": sid, "AnsweredBy": "machine_end_beep"},
        signed_url=form["AsyncAmdStatusCallback"],
    )
    assert again.status_code == 204 and len(fake_twilio.state.updates) == 1  # once, even when Twilio repeats
    [action] = actions(sera, shop)
    assert action.reason == "voicemail"
    with sera.uow(shop, readonly=True) as uow:
        assert uow.session.execute(select(Call.outcome)).scalar_one() == "voicemail"
    at(clock, DUE + timedelta(days=1, minutes=1))
    queue.tick()
    assert len(placed(fake_twilio)) == 1  # a message was left: not called again about this cart


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed"])
def test_a_call_nobody_answered_is_tried_again_up_to_the_shops_attempts(
    sera: Sera,
    shop: str,
    queue: Queue,
    fake_twilio: TwilioServer,
    clock: FakeClock,
    http: TestClient,
    personas: Personas,
    deliver: Deliver,
    status: str,
) -> None:
    harriet_cart(sera, shop, http, personas)
    at(clock, DUE)
    queue.tick()
    [first] = placed(fake_twilio)
    assert fake_twilio.ring(first["sid"], deliver, answered_by=None, status=status)[0].status_code == 204
    assert actions(sera, shop)[0].reason == {"failed": "call-failed"}.get(status, status)
    at(clock, DUE + timedelta(days=1))
    queue.tick()
    assert len(placed(fake_twilio)) == 2
    fake_twilio.ring(placed(fake_twilio)[1]["sid"], deliver, answered_by=None, status=status)
    at(clock, DUE + timedelta(days=2))
    queue.tick()
    assert len(placed(fake_twilio)) == 2  # max_attempts: 2
    assert [(a.attempt, a.status) for a in actions(sera, shop)] == [(1, "sent"), (2, "sent")]
    with sera.uow(shop, readonly=True) as uow:
        assert uow.session.execute(select(Call)).all() == []  # nobody answered: no call record


@pytest.mark.parametrize("withdrawn", [False, True])
def test_no_call_without_written_consent_to_calls(
    sera: Sera,
    shop: str,
    queue: Queue,
    fake_twilio: TwilioServer,
    clock: FakeClock,
    http: TestClient,
    personas: Personas,
    withdrawn: bool,
) -> None:
    customer_id = harriet_cart(sera, shop, http, personas, consent=False)  # she agreed to texts, not calls
    if withdrawn:
        consent_to_calls(http, personas, customer_id)
        consent_to_calls(http, personas, customer_id, granted=False)  # the latest record counts
    at(clock, DUE)
    queue.tick()
    assert placed(fake_twilio) == []
    assert [(a.channel, a.status, a.reason) for a in actions(sera, shop)] == [("call", "skipped", "no-call-consent")]


def test_a_call_waits_for_the_recipients_daytime(
    sera: Sera,
    shop: str,
    queue: Queue,
    fake_twilio: TwilioServer,
    clock: FakeClock,
    http: TestClient,
    personas: Personas,
) -> None:
    harriet_cart(sera, shop, http, personas)
    record(sera, shop, checkout(updated_at="2026-11-28T02:30:00+00:00"))  # 20:30 in Chicago, an hour to 21:30
    at(clock, datetime(2026, 11, 28, 3, 30, tzinfo=UTC))
    assert [(o.status, o.reason) for o in queue.tick()] == [("scheduled", "quiet-hours-deferred")]
    assert placed(fake_twilio) == []


def test_a_call_for_no_action_sera_placed_is_ended(http: TestClient, sera: Sera, personas: Personas) -> None:
    params = {"CallSid": "CA" + "0" * 32, "Direction": "outbound-api", "From": SHOP_NUMBER, "To": SHOPPER}
    path = f"/twilio/voice/outbound?shop={personas.northside_id}&action=out_nothing"
    answer = Phone(http).post(path, params, signed_url=PUBLIC + path)
    assert parse_twiml(answer.text).find("Hangup") is not None
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert uow.session.execute(select(Call)).all() == []


@pytest.mark.parametrize(("answered_by", "reason", "hung_up"), [("fax", "fax", True), ("unknown", "answered", False)])
def test_a_fax_is_hung_up_on_and_an_unsure_verdict_stays_with_the_agent(
    sera: Sera,
    shop: str,
    queue: Queue,
    fake_twilio: TwilioServer,
    clock: FakeClock,
    http: TestClient,
    personas: Personas,
    deliver: Deliver,
    answered_by: str,
    reason: str,
    hung_up: bool,
) -> None:
    harriet_cart(sera, shop, http, personas)
    at(clock, DUE)
    queue.tick()
    [call] = placed(fake_twilio)
    fake_twilio.ring(call["sid"], deliver, answered_by=answered_by)
    updates = [parse_twiml(twiml) for _, twiml in fake_twilio.state.updates]
    assert [(u.find("Say") is None, u.find("Hangup") is not None) for u in updates] == (
        [(True, True)] if hung_up else []
    )
    assert actions(sera, shop)[0].reason == reason
