"""Text messages through Twilio's webhooks: the agent over SMS, the carrier keywords, delivery reports."""

from __future__ import annotations

import logging
from datetime import datetime

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sera.adapters.twilio.sms import DoNotContactError, send_text
from sera.bootstrap import Sera
from sera.customers.service import add_do_not_contact, is_do_not_contact
from sera.storage.models import Call, Conversation, Message, UsageRecord
from tests.adapters.twilio.conftest import CALLER, PUBLIC, Phone, api, parse_twiml, payload
from tests.conftest import FakeClock, Personas
from tests.fakes.twilio_server import TwilioServer, new_sid


def replies(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    return [m.text or "" for m in parse_twiml(response.text).iter("Message")]


def listed(sera: Sera, merchant_id: str, phone: str = CALLER) -> bool:
    with sera.uow(merchant_id, readonly=True) as uow:
        return is_do_not_contact(uow, phone)


def messages(sera: Sera, merchant_id: str) -> list[tuple[str, str | None, int, str]]:
    with sera.uow(merchant_id, readonly=True) as uow:
        rows = uow.session.execute(select(Message).order_by(Message.created_at, Message.direction)).scalars().all()
        return [(m.direction, uow.vault.open(m, "body"), m.segments, m.status) for m in rows]


def usage(sera: Sera, merchant_id: str) -> dict[str, int]:
    with sera.uow(merchant_id, readonly=True) as uow:
        return {r.metric: r.quantity for r in uow.session.execute(select(UsageRecord)).scalars()}


def test_a_booking_over_sms(phone: Phone, http: TestClient, sera: Sera, personas: Personas) -> None:
    first = replies(phone.text("I'd like to book a tune up next tuesday"))
    assert first[0].startswith("Hi, this is Sam at Northside Cycles")  # a new thread is greeted first
    assert first[1] == "What time works for you on Tuesday, December 1? We're open 10 am to 6 pm."
    assert replies(phone.text("2 pm")) == ["What name should I put the booking under?"]
    assert replies(phone.text("Jordan Miles")) == [
        "Shall I book a Tune-up on Tuesday, December 1 at 2 pm for Jordan Miles?"
    ]
    [booked] = replies(phone.text("yes"))
    assert booked.startswith("You're booked for a Tune-up with Dana on Tuesday, December 1 at 2 pm")

    [appointment] = api(http, personas.owner_key, "/appointments")["data"]
    assert (appointment["service"], appointment["customer"]["name"]) == ("Tune-up", "Jordan Miles")
    recorded = messages(sera, personas.northside_id)
    assert [d for d, *_ in recorded].count("inbound") == 4 and [d for d, *_ in recorded].count("outbound") == 5
    assert ("inbound", "2 pm", 1, "received") in recorded
    assert usage(sera, personas.northside_id) == {"sms_segments_inbound": 4, "sms_segments_outbound": 5}
    with sera.uow(personas.northside_id, readonly=True) as uow:
        [conversation] = uow.session.execute(select(Conversation)).scalars().all()
    assert conversation.external_id.startswith("+13125550100:") and "5550170" not in conversation.external_id
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert uow.session.execute(select(Message.body)).scalars().first() not in (None, b"2 pm")


def test_an_idle_thread_starts_a_new_conversation(
    phone: Phone, clock: FakeClock, sera: Sera, personas: Personas
) -> None:
    assert len(replies(phone.text("hi"))) == 2  # greeting and answer
    clock.advance(hours=5)  # a text thread stays one conversation for a day (SERA_SMS_IDLE_MINUTES)
    assert len(replies(phone.text("what time do you close on thursday"))) == 1
    clock.advance(hours=24)
    assert replies(phone.text("hi"))[0].startswith("Hi, this is Sam at Northside Cycles")
    with sera.uow(personas.northside_id, readonly=True) as uow:
        threads = uow.session.execute(select(Call.ended_at).order_by(Call.started_at)).scalars().all()
    assert len(threads) == 2 and threads[0] is not None  # the idle thread was closed, its record kept


@pytest.mark.parametrize(
    "word", ["STOP", "stop", " Stop ", "STOPALL", "UNSUBSCRIBE", "end", "QUIT", "Cancel", "REVOKE", "optout"]
)
def test_an_opt_out_keyword_lists_the_number_and_lets_twilio_confirm(
    phone: Phone, sera: Sera, personas: Personas, word: str
) -> None:
    assert replies(phone.text(word)) == []
    assert listed(sera, personas.northside_id)
    assert usage(sera, personas.northside_id) == {"sms_segments_inbound": 1}


def test_a_listed_number_gets_no_answers_until_start(phone: Phone, sera: Sera, personas: Personas) -> None:
    phone.text("STOP")
    assert replies(phone.text("what time do you close on thursday")) == []
    assert replies(phone.text("START")) == []
    assert not listed(sera, personas.northside_id)
    assert replies(phone.text("what time do you close on thursday")) != []


def test_a_stop_shows_on_the_merchants_do_not_contact_list(
    phone: Phone, http: TestClient, clock: FakeClock, personas: Personas
) -> None:
    phone.text("STOP")  # CALLER is no customer of the shop: the API shows the number only here
    [entry] = api(http, personas.teammate_key, "/do-not-contact")["data"]
    assert (entry["phone"], entry["source"], entry["customer_id"]) == (CALLER, "sms", None)
    assert datetime.fromisoformat(entry["created_at"]) == clock()
    assert api(http, personas.owner_key, "/customers", phone=CALLER)["data"] == []
    phone.text("START")
    assert api(http, personas.owner_key, "/do-not-contact")["data"] == []


def test_unstop_also_opts_back_in(phone: Phone, sera: Sera, personas: Personas) -> None:
    phone.text("STOP")
    assert replies(phone.text("unstop")) == []
    assert not listed(sera, personas.northside_id)


def test_yes_opts_back_in_only_a_listed_number(phone: Phone, sera: Sera, personas: Personas) -> None:
    [greeting, answer] = replies(phone.text("yes"))  # not listed: an ordinary answer
    assert greeting.startswith("Hi, this is Sam at") and answer
    assert not listed(sera, personas.northside_id)
    phone.text("QUIT")
    assert listed(sera, personas.northside_id)
    assert replies(phone.text("Yes")) == []
    assert not listed(sera, personas.northside_id)


@pytest.mark.parametrize("word", ["HELP", "info", " Help "])
def test_help_gets_the_shops_help_text(phone: Phone, sera: Sera, personas: Personas, word: str) -> None:
    [text] = replies(phone.text(word))
    assert "Northside Cycles" in text and "(312) 555-0100" in text and "STOP" in text
    assert not listed(sera, personas.northside_id)
    assert [d for d, *_ in messages(sera, personas.northside_id)] == ["inbound", "outbound"]


def test_a_sentence_with_a_keyword_is_not_a_keyword(phone: Phone, sera: Sera, personas: Personas) -> None:
    assert replies(phone.text("can you help me with my brakes")) != []
    assert not listed(sera, personas.northside_id)


def test_a_retried_text_gets_the_same_reply_and_is_recorded_once(phone: Phone, sera: Sera, personas: Personas) -> None:
    sid = new_sid("SM")
    first = replies(phone.text("Do you have parking?", sid=sid))
    again = replies(phone.text("Do you have parking?", sid=sid))
    assert again[-1] == first[-1] and "free parking" in first[-1]
    inbound = [m for m in messages(sera, personas.northside_id) if m[0] == "inbound"]
    assert len(inbound) == 1
    assert usage(sera, personas.northside_id)["sms_segments_inbound"] == 1


def test_incoming_sms_fixture_is_answered_from_the_shops_knowledge(phone: Phone) -> None:
    [_greeting, answer] = replies(phone.post("/twilio/sms", payload("sms_incoming")))
    assert answer.startswith("Yes, there is free parking in the lot behind the shop")


def test_a_text_to_an_unknown_number_is_not_answered(phone: Phone, sera: Sera, personas: Personas) -> None:
    assert replies(phone.text("hello", to="+13125550111")) == []
    with sera.uow(readonly=True) as uow:
        assert uow.session.execute(select(func.count()).select_from(Message)).scalar_one() == 0


def test_a_text_sent_through_twilio_is_tracked_by_its_delivery_reports(
    phone: Phone, sera: Sera, personas: Personas, fake_twilio: TwilioServer, caplog: pytest.LogCaptureFixture
) -> None:
    send_text(sera, personas.northside_id, to=CALLER, body="Your bike is ready for pick-up.")
    [request] = fake_twilio.state.requests_to("/Messages.json")
    assert request.form["From"] == ["+13125550100"] and request.form["To"] == [CALLER]
    assert request.form["StatusCallback"] == [f"{PUBLIC}/twilio/sms/status?shop={personas.northside_id}"]
    sid = fake_twilio.state.messages[0]["sid"]
    assert messages(sera, personas.northside_id) == [("outbound", "Your bike is ready for pick-up.", 1, "queued")]
    assert usage(sera, personas.northside_id) == {"sms_segments_outbound": 1}

    path = f"/twilio/sms/status?shop={personas.northside_id}"
    delivered = payload("sms_status_delivered", MessageSid=sid, SmsSid=sid)
    assert phone.post(path, delivered).status_code == 204
    assert messages(sera, personas.northside_id)[0][3] == "delivered"
    late_sent = payload("sms_status_delivered", MessageSid=sid, SmsSid=sid, MessageStatus="sent", SmsStatus="sent")
    assert phone.post(path, late_sent).status_code == 204
    assert messages(sera, personas.northside_id)[0][3] == "delivered"  # a late report never moves it back


def test_an_undelivered_report_keeps_the_status_and_logs_only_the_code(
    phone: Phone, sera: Sera, personas: Personas, fake_twilio: TwilioServer, caplog: pytest.LogCaptureFixture
) -> None:
    send_text(sera, personas.northside_id, to=CALLER, body="See you tomorrow at 2 pm.")
    sid = fake_twilio.state.messages[0]["sid"]
    caplog.set_level(logging.WARNING)
    report = payload("sms_status_undelivered", MessageSid=sid, SmsSid=sid)
    assert phone.post("/twilio/sms/status", report).status_code == 204  # routed by From: the shop's number
    assert messages(sera, personas.northside_id)[0][3] == "undelivered"
    [warning] = [r for r in caplog.records if r.name == "sera.twilio.sms"]
    assert getattr(warning, "code", None) == 30003 and "5550170" not in warning.getMessage()


def test_a_report_for_a_message_that_is_not_ours_changes_nothing(phone: Phone, sera: Sera, personas: Personas) -> None:
    report = payload("sms_status_delivered", MessageSid=new_sid("SM"))
    assert phone.post("/twilio/sms/status", report).status_code == 204
    assert messages(sera, personas.northside_id) == []


def test_nothing_is_sent_to_a_number_on_the_do_not_contact_list(
    sera: Sera, personas: Personas, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    with sera.uow(personas.northside_id) as uow:
        add_do_not_contact(uow, CALLER, source="test", now=clock())
        uow.commit()
    with pytest.raises(DoNotContactError):
        send_text(sera, personas.northside_id, to=CALLER, body="Big sale this weekend!")
    assert fake_twilio.state.received == []


def test_asking_for_a_person_by_text_gets_the_number_to_call(phone: Phone) -> None:
    [_greeting, answer] = replies(phone.text("can I talk to a real person"))
    assert answer == "You can reach the team directly at (312) 555-0199."


def test_a_thread_that_ended_starts_afresh_on_the_next_text_in_the_same_second(phone: Phone, sera: Sera) -> None:
    phone.text("Do you have parking?")
    assert replies(phone.text("no that's all")) == ["Thanks for contacting Northside Cycles. Goodbye!"]
    again = replies(phone.text("hi"))  # the clock has not moved: a new thread all the same
    assert again[0].startswith("Hi, this is Sam at Northside Cycles")
    with sera.uow(readonly=True) as uow:
        assert uow.session.execute(select(func.count()).select_from(Call)).scalar_one() == 2


def test_a_retried_text_that_ended_the_thread_is_not_a_new_conversation(phone: Phone, sera: Sera) -> None:
    phone.text("Do you have parking?")
    sid = new_sid("SM")
    first = replies(phone.text("no that's all", sid=sid))
    assert replies(phone.text("no that's all", sid=sid)) == first
    with sera.uow(readonly=True) as uow:
        assert uow.session.execute(select(func.count()).select_from(Call)).scalar_one() == 1
