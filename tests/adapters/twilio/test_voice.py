"""Phone calls through Twilio's webhooks, as a caller and the merchant live them."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sera.bootstrap import Sera
from sera.merchants.service import import_shop_text
from sera.storage.models import Call, Transcript, UsageRecord
from sera.storage.paging import PageRequest
from sera.support.service import list_tickets
from tests.adapters.twilio.conftest import CALLER, HANDOFF, PUBLIC, SHOP, Phone, api, parse_twiml, payload
from tests.conftest import DEMO_SHOP, FakeClock, Personas
from tests.fakes.twilio_server import TwilioServer, new_sid

BOOKING = ["I'd like to book a tune up next Tuesday", "2 pm", "Jordan Miles", "yes"]


def twiml(response: httpx.Response) -> Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    return parse_twiml(response.text)


def verbs(root: Element) -> list[str]:
    return [child.tag for child in root]


def spoken(root: Element) -> str:
    return " ".join(say.text or "" for say in root.iter("Say"))


def _call_row(sera: Sera, merchant_id: str, call_sid: str) -> Call:
    with sera.uow(merchant_id, readonly=True) as uow:
        return uow.session.execute(select(Call).where(Call.provider_call_id == call_sid)).scalar_one()


def test_a_call_books_a_tune_up_end_to_end(
    phone: Phone, http: TestClient, personas: Personas, sera: Sera, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    sid = new_sid("CA")
    greeting = twiml(phone.call(sid))
    assert verbs(greeting) == ["Start", "Gather", "Redirect"]
    recording = greeting.find("Start/Recording")
    assert recording is not None and recording.attrib == {
        "recordingStatusCallback": f"{PUBLIC}/twilio/voice/recording?shop={personas.northside_id}",
        "recordingStatusCallbackMethod": "POST",
        "recordingStatusCallbackEvent": "completed",
    }
    gather = greeting.find("Gather")
    assert gather is not None
    assert gather.attrib == {
        "input": "speech",
        "action": f"{PUBLIC}/twilio/voice/turn",
        "method": "POST",
        "speechTimeout": "auto",
    }
    assert spoken(greeting).startswith("Thanks for calling Northside Cycles")
    assert greeting.findtext("Redirect") == f"{PUBLIC}/twilio/voice/no-input?attempt=1"

    answers = [spoken(twiml(phone.say(sid, line))) for line in BOOKING]
    assert answers[-2] == "Shall I book a Tune-up on Tuesday, December 1 at 2 pm for Jordan Miles?"
    assert "You're booked for a Tune-up" in answers[-1]
    clock.advance(seconds=95)
    goodbye = twiml(phone.say(sid, "no that's all"))
    assert verbs(goodbye) == ["Say", "Hangup"]
    assert "Goodbye" in spoken(goodbye)

    assert phone.hang_up(sid, duration_s=95).status_code == 204

    [listed] = api(http, personas.owner_key, "/calls")["data"]
    assert {k: listed[k] for k in ("channel", "direction", "from", "to", "outcome", "duration_s")} == {
        "channel": "voice",
        "direction": "inbound",
        "from": CALLER,
        "to": SHOP,
        "outcome": "booked",
        "duration_s": 95,
    }
    assert listed["started_at"].startswith("2026-11-27T16:00:00") and listed["ended_at"] is not None
    detail = api(http, personas.owner_key, f"/calls/{listed['id']}")
    said = [(line["role"], line["text"]) for line in detail["transcript"]]
    assert said[1] == ("caller", BOOKING[0]) and len(said) == 1 + 2 * (len(BOOKING) + 1)
    assert said[-1] == ("agent", "Thanks for contacting Northside Cycles. Goodbye!")
    [day] = api(http, personas.owner_key, "/usage")["data"]
    assert (day["day"], day["inbound_calls"], day["billed_minutes"]) == ("2026-11-27", 1, 2)
    assert fake_twilio.state.received == []  # the whole call needed no request to Twilio's API


def test_a_transfer_dials_the_handoff_number(phone: Phone) -> None:
    sid = new_sid("CA")
    phone.call(sid)
    answer = twiml(phone.say(sid, "I want to speak to a manager"))
    assert verbs(answer) == ["Say", "Dial"]
    dial = answer.find("Dial")
    assert dial is not None and dial.findtext("Number") == HANDOFF
    assert dial.attrib["action"] == f"{PUBLIC}/twilio/voice/dial-end"


def test_the_person_a_call_is_transferred_to_hears_who_is_calling_and_why(phone: Phone) -> None:
    sid = new_sid("CA")
    phone.call(sid, caller="+13125550142")  # Priya, a known customer
    phone.say(sid, "hi")
    answer = twiml(phone.say(sid, "my new helmet arrived cracked and I want to talk to someone about it"))
    number = answer.find("Dial/Number")
    assert number is not None and number.text == HANDOFF
    whisper_url = number.attrib["url"]
    assert whisper_url.startswith(f"{PUBLIC}/twilio/voice/whisper?shop=") and whisper_url.endswith(f"&call={sid}")
    leg = payload("voice_whisper", CallSid=new_sid("CA"), ParentCallSid=sid)
    note = spoken(twiml(phone.post(whisper_url.removeprefix(PUBLIC), leg)))
    assert note.startswith("Call from Priya about a problem with an order, who said: my new helmet arrived cracked")
    assert "+1312" not in note
    unsigned = phone.http.post(whisper_url.removeprefix(PUBLIC), data=leg)
    assert unsigned.status_code == 403


def test_nobody_answering_a_transfer_is_offered_a_message_once(phone: Phone, sera: Sera, personas: Personas) -> None:
    sid = new_sid("CA")
    phone.call(sid)
    phone.say(sid, "I want to speak to a manager")
    after = twiml(phone.post("/twilio/voice/dial-end", payload("voice_dial_no_answer", CallSid=sid)))
    assert verbs(after) == ["Gather", "Say", "Hangup"] and "Tell me your message" in spoken(after)
    gather = after.find("Gather")
    assert gather is not None and gather.attrib["action"] == f"{PUBLIC}/twilio/voice/message"
    words = "It's Sam Ortiz, my wheel is still wobbling after the repair, please call me"
    params = payload("voice_gather_speech", CallSid=sid, SpeechResult=words)
    thanks = twiml(phone.post("/twilio/voice/message", params, headers={"I-Twilio-Idempotency-Token": "tok-1"}))
    assert verbs(thanks) == ["Say", "Hangup"] and "passed your message" in spoken(thanks)
    phone.post("/twilio/voice/message", params, headers={"I-Twilio-Idempotency-Token": "tok-1"})  # a retry
    with sera.uow(personas.northside_id, readonly=True) as uow:
        tickets = [t for t in list_tickets(uow, PageRequest(limit=10)).items if "callback" in t.tags]
        call = uow.session.execute(select(Call).where(Call.provider_call_id == sid)).scalar_one()
    assert len(tickets) == 1 and words in (tickets[0].description or "") and CALLER in (tickets[0].description or "")
    assert call.outcome == "message"  # the transfer did not happen
    answered = payload("voice_dial_no_answer", CallSid=sid, DialCallStatus="completed", DialCallDuration="40")
    assert verbs(twiml(phone.post("/twilio/voice/dial-end", answered))) == ["Hangup"]


def test_silence_is_asked_again_twice_then_the_call_ends_politely(phone: Phone, sera: Sera, personas: Personas) -> None:
    sid = new_sid("CA")
    phone.call(sid)
    first = twiml(phone.silence(sid, attempt=1))
    assert verbs(first) == ["Gather", "Redirect"] and "didn't hear anything" in spoken(first)
    assert first.findtext("Redirect") == f"{PUBLIC}/twilio/voice/no-input?attempt=2"
    second = twiml(phone.silence(sid, attempt=2))
    assert verbs(second) == ["Gather", "Redirect"] and "still there" in spoken(second)
    last = twiml(phone.silence(sid, attempt=3))
    assert verbs(last) == ["Say", "Hangup"] and "Goodbye" in spoken(last)
    call = _call_row(sera, personas.northside_id, sid)
    assert call.ended_at is not None and call.outcome == "abandoned"


def test_an_answer_after_silence_starts_the_count_again(phone: Phone) -> None:
    sid = new_sid("CA")
    phone.call(sid)
    phone.silence(sid, attempt=1)
    answer = twiml(phone.say(sid, "what time do you close on thursday"))
    assert answer.findtext("Redirect") == f"{PUBLIC}/twilio/voice/no-input?attempt=1"


def test_a_call_to_an_unknown_number_is_told_so_and_ended(
    phone: Phone, sera: Sera, caplog: pytest.LogCaptureFixture
) -> None:
    sid = new_sid("CA")
    answer = twiml(phone.call(sid, to="+13125550111"))
    assert verbs(answer) == ["Say", "Hangup"] and "not taking calls" in spoken(answer)
    with sera.uow(readonly=True) as uow:
        assert uow.session.execute(select(func.count()).select_from(Call)).scalar_one() == 0
    records = caplog.records
    warnings = [r for r in records if r.levelname == "WARNING" and r.name.startswith("sera.twilio")]
    assert warnings and all("+1312" not in r.getMessage() for r in records)


def test_a_retried_turn_gets_the_same_answer_and_is_not_a_second_turn(
    phone: Phone, http: TestClient, personas: Personas
) -> None:
    sid = new_sid("CA")
    phone.call(sid)
    first = phone.say(sid, "book a tune up next tuesday", **{"I-Twilio-Idempotency-Token": "idem-0001"})
    again = phone.say(sid, "book a tune up next tuesday", **{"I-Twilio-Idempotency-Token": "idem-0001"})
    assert again.text == first.text
    [listed] = api(http, personas.owner_key, "/calls")["data"]
    transcript = api(http, personas.owner_key, f"/calls/{listed['id']}")["transcript"]
    assert [line["role"] for line in transcript] == ["agent", "caller", "agent"]


def test_a_retried_turn_without_a_token_is_recognised_by_its_fields(phone: Phone, sera: Sera) -> None:
    sid = new_sid("CA")
    phone.call(sid)
    first = phone.say(sid, "book a tune up next tuesday")
    assert phone.say(sid, "book a tune up next tuesday").text == first.text
    with sera.uow(readonly=True) as uow:
        transcript = uow.session.execute(select(Transcript)).scalar_one()
        lines = uow.vault.open(transcript, "content") or ""
    assert lines.count('"caller"') == 1


def test_a_retried_greeting_records_one_call(phone: Phone, sera: Sera) -> None:
    sid = new_sid("CA")
    assert phone.call(sid).text == phone.call(sid).text
    with sera.uow(readonly=True) as uow:
        assert uow.session.execute(select(func.count()).select_from(Call)).scalar_one() == 1


def test_a_status_callback_delivered_twice_counts_the_call_once(
    phone: Phone, http: TestClient, personas: Personas, sera: Sera
) -> None:
    sid = new_sid("CA")
    phone.call(sid)
    for _ in range(2):
        assert phone.hang_up(sid, duration_s=61).status_code == 204
    [day] = api(http, personas.owner_key, "/usage")["data"]
    assert (day["inbound_calls"], day["billed_minutes"]) == (1, 2)
    call = _call_row(sera, personas.northside_id, sid)
    assert call.duration_s == 61 and call.outcome == "abandoned"


def test_status_callback_completed_closes_the_call_in_the_shops_local_day(
    phone: Phone, http: TestClient, personas: Personas, clock: FakeClock
) -> None:
    from datetime import UTC, datetime

    clock.now = datetime(2026, 11, 28, 5, 30, tzinfo=UTC)  # 23:30 on Friday in Chicago, Saturday in UTC
    sid = new_sid("CA")
    phone.call(sid)
    response = phone.post("/twilio/voice/status", payload("voice_status_completed", CallSid=sid))
    assert response.status_code == 204
    [day] = api(http, personas.owner_key, "/usage")["data"]
    assert (day["day"], day["inbound_calls"], day["billed_minutes"]) == ("2026-11-27", 1, 2)  # 95 s: 2 minutes


def test_a_status_callback_for_a_ringing_call_changes_nothing(phone: Phone, sera: Sera, personas: Personas) -> None:
    sid = new_sid("CA")
    phone.call(sid)
    ringing = payload("voice_status_completed", CallSid=sid, CallStatus="ringing")
    del ringing["CallDuration"]
    assert phone.post("/twilio/voice/status", ringing).status_code == 204
    assert _call_row(sera, personas.northside_id, sid).ended_at is None
    with sera.uow(readonly=True) as uow:
        assert uow.session.execute(select(func.count()).select_from(UsageRecord)).scalar_one() == 0


def test_recording_completed_keeps_a_sealed_reference_on_the_call(phone: Phone, sera: Sera, personas: Personas) -> None:
    sid = new_sid("CA")
    phone.call(sid)
    recording = payload("voice_recording_completed", CallSid=sid)
    path = f"/twilio/voice/recording?shop={personas.northside_id}"
    assert phone.post(path, recording).status_code == 204
    call = _call_row(sera, personas.northside_id, sid)
    assert call.recording_url is not None and b"api.twilio.com" not in call.recording_url
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert uow.vault.open(call, "recording_url") == recording["RecordingUrl"]


def test_a_shop_that_does_not_record_keeps_no_recording_and_starts_none(
    phone: Phone, sera: Sera, personas: Personas
) -> None:
    shop = yaml.safe_load(DEMO_SHOP.read_text())
    shop["agent"]["record_calls"] = False
    import_shop_text(sera, yaml.safe_dump(shop), source="test", actor="test")
    sid = new_sid("CA")
    assert verbs(twiml(phone.call(sid))) == ["Gather", "Redirect"]  # no <Start><Recording>
    path = f"/twilio/voice/recording?shop={personas.northside_id}"
    assert phone.post(path, payload("voice_recording_completed", CallSid=sid)).status_code == 204
    assert _call_row(sera, personas.northside_id, sid).recording_url is None


def test_a_call_another_shop_answers_is_that_shops_call(
    phone: Phone, http: TestClient, personas: Personas, sera: Sera
) -> None:
    from tests.adapters.twilio.conftest import OTHER_SHOP

    sid = new_sid("CA")
    answer = twiml(phone.call(sid, to=OTHER_SHOP))
    assert "Southside Skates" in spoken(answer)
    assert api(http, personas.owner_key, "/calls")["data"] == []
    assert len(api(http, personas.outsider_key, "/calls")["data"]) == 1


def test_a_call_through_the_llm_brain_hears_the_model_and_never_silence(phone: Phone, sera: Sera) -> None:
    from tests.fakes.openai_server import Answer, FakeOpenAI

    model = FakeOpenAI(api_key=None)
    try:
        updates = {"brain": "llm", "llm_base_url": model.base_url, "llm_model": "m", "llm_first_token_seconds": 0.5}
        sera.settings = sera.settings.model_copy(update=updates)
        model.answer(
            Answer(calls=[("transfer_call", {"reason": "asked for a person"})]),
            Answer(text="Happy to help with that."),
            Answer(status=500),
        )
        sid = new_sid("CA")
        phone.call(sid)
        answer = twiml(phone.say(sid, "the person who fixed my bike last week, please"))
        assert verbs(answer) == ["Say", "Dial"] and answer.find("Dial") is not None  # the tool's action, on the wire

        sid = new_sid("CA")
        phone.call(sid)
        assert "Happy to help with that." in (twiml(phone.say(sid, "hi there")).findtext(".//Say") or "")
        fallback = twiml(phone.say(sid, "what time do you close on thursday"))
        assert "8 pm" in (fallback.findtext(".//Say") or "")  # the offline brain answered the turn
    finally:
        model.close()


def test_a_message_after_the_call_was_reported_over_keeps_its_times(
    phone: Phone, sera: Sera, personas: Personas
) -> None:
    sid = new_sid("CA")
    phone.call(sid)
    phone.say(sid, "I want to speak to a manager")
    phone.hang_up(sid, 95)  # Twilio reports the call over, with its own duration
    phone.post("/twilio/voice/message", payload("voice_gather_speech", CallSid=sid, SpeechResult="call me back"))
    with sera.uow(personas.northside_id, readonly=True) as uow:
        call = uow.session.execute(select(Call).where(Call.provider_call_id == sid)).scalar_one()
    assert call.duration_s == 95 and call.outcome == "message"  # the billed minutes still match the record
