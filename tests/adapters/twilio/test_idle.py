"""Twilio conversations that go quiet are closed by the idle sweep: a text thread after a day,
a call whose status callback never came after two hours."""

from __future__ import annotations

from sqlalchemy import select

from sera.agent.idle import close_idle_conversations
from sera.bootstrap import Sera
from sera.storage.models import Call, UsageRecord
from tests.adapters.twilio.conftest import Phone, parse_twiml
from tests.conftest import FakeClock, Personas
from tests.fakes.twilio_server import new_sid

SID = new_sid("CA")


def the_calls(sera: Sera, merchant_id: str) -> list[Call]:
    with sera.uow(merchant_id, readonly=True) as uow:
        return list(uow.session.execute(select(Call).order_by(Call.started_at)).scalars())


def test_a_quiet_text_thread_is_closed_after_a_day_and_the_next_text_starts_a_new_one(
    phone: Phone, sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    phone.text("hi")
    last_text = clock()
    clock.advance(hours=23, minutes=59)
    assert close_idle_conversations(sera, clock()) == {}
    clock.advance(minutes=1)
    assert close_idle_conversations(sera, clock()) == {personas.northside_id: 1}
    [thread] = the_calls(sera, personas.northside_id)
    assert (thread.channel, thread.outcome, thread.ended_at) == ("sms", "abandoned", last_text)

    clock.advance(minutes=5)
    messages = parse_twiml(phone.text("hi again").text).findall("Message")
    assert messages[0].text is not None and messages[0].text.startswith("Hi, this is Sam at Northside Cycles")
    old, new = the_calls(sera, personas.northside_id)
    assert old.ended_at == last_text and (new.started_at, new.ended_at) == (clock(), None)


def test_a_call_whose_end_was_never_reported_is_closed_after_two_hours(
    phone: Phone, sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    phone.call(SID)
    clock.advance(seconds=20)
    phone.say(SID, "what time do you close on thursday")
    last_turn = clock()
    clock.advance(minutes=119)
    assert close_idle_conversations(sera, clock()) == {}
    clock.advance(minutes=1)
    assert close_idle_conversations(sera, clock()) == {personas.northside_id: 1}
    [call] = the_calls(sera, personas.northside_id)
    assert (call.channel, call.ended_at, call.ended_reason) == ("voice", last_turn, "idle-timeout")

    # Twilio's report arrives after all: the provider's duration, and the call is counted once
    assert phone.hang_up(SID, duration_s=95).status_code == 204
    [call] = the_calls(sera, personas.northside_id)
    assert (call.ended_at, call.duration_s) == (last_turn, 95)
    with sera.uow(personas.northside_id, readonly=True) as uow:
        usage = dict(uow.session.execute(select(UsageRecord.metric, UsageRecord.quantity)).all())
    assert usage["inbound_calls"] == 1 and usage["billed_minutes"] == 2
