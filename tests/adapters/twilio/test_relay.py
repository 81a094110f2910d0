"""Calls over Twilio ConversationRelay, as Twilio drives them: the incoming-call webhook, then a
WebSocket signed with the SDK's ``RequestValidator`` over the wss URL, speaking the documented
messages (``setup``, ``prompt``, ``interrupt``, ``dtmf``, ``error``), then the ``<Connect
action>`` callback when the session ends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect
from twilio.request_validator import RequestValidator

from sera.booking.service import list_appointments
from sera.bootstrap import Sera
from sera.storage.models import Call, Transcript
from sera.storage.paging import PageRequest
from tests.adapters.twilio.conftest import AUTH_TOKEN, CALLER, HANDOFF, SHOP, Phone, payload
from tests.adapters.twilio.test_properties import consistent
from tests.adapters.twilio.test_voice import spoken, twiml, verbs
from tests.conftest import Personas
from tests.fakes.openai_server import Answer, FakeOpenAI
from tests.fakes.twilio_server import new_sid

PRIYA = "+13125550142"


@pytest.fixture
def model(sera: Sera) -> Iterator[FakeOpenAI]:
    """The LLM brain, its model a local server in OpenAI's wire format."""
    fake = FakeOpenAI(api_key=None)
    sera.settings = sera.settings.model_copy(update={"brain": "llm", "llm_base_url": fake.base_url, "llm_model": "m"})
    yield fake
    fake.close()


@pytest.fixture
def relay_mode(sera: Sera) -> None:
    sera.settings = sera.settings.model_copy(update={"voice_mode": "relay"})


def socket_url(merchant_id: str) -> str:
    return f"wss://sera.test/twilio/relay/{merchant_id}"


class RelayCall:
    """Twilio's side of one relay session."""

    def __init__(self, ws: WebSocketTestSession, call_sid: str) -> None:
        self.ws = ws
        self.call_sid = call_sid

    def setup(self, caller: str = CALLER, to: str = SHOP) -> None:
        self.ws.send_json(
            {
                "type": "setup",
                "sessionId": new_sid("VX"),
                "accountSid": "AC0f5ab0e7a4d2c1b8e9f6a3d4c2b1a0e9",
                "parentCallSid": "",
                "callSid": self.call_sid,
                "from": caller,
                "to": to,
                "forwardedFrom": to,
                "callType": "PSTN",
                "callerName": "",
                "direction": "inbound",
                "callStatus": "RINGING",
                "customParameters": {},
            }
        )

    def prompt(self, text: str) -> str:
        self.ws.send_json({"type": "prompt", "voicePrompt": text, "lang": "en-US", "last": True})
        return self.heard()

    def heard(self) -> str:
        tokens = []
        while True:
            frame = self.ws.receive_json()
            assert frame["type"] == "text", frame
            tokens.append(frame["token"])
            if frame["last"]:
                return "".join(tokens).strip()

    def dtmf(self, digit: str) -> None:
        self.ws.send_json({"type": "dtmf", "digit": digit})


@contextmanager
def relay(http: TestClient, merchant_id: str, call_sid: str, token: str = AUTH_TOKEN) -> Iterator[RelayCall]:
    signature = RequestValidator(token).compute_signature(socket_url(merchant_id), {})
    path = f"/twilio/relay/{merchant_id}"
    with http.websocket_connect(path, headers={"X-Twilio-Signature": signature}) as ws:
        yield RelayCall(ws, call_sid)


@contextmanager
def answered(phone: Phone, http: TestClient, merchant_id: str) -> Iterator[RelayCall]:
    """A call that came in over the webhook and whose relay socket is set up."""
    call_sid = new_sid("CA")
    phone.call(call_sid)
    with relay(http, merchant_id, call_sid) as call:
        call.setup()
        yield call


def relay_ended(phone: Phone, call_sid: str, handoff: str | None = None, status: str = "ended") -> Any:
    params = payload("voice_relay_ended", CallSid=call_sid, SessionStatus=status)
    if handoff is None:
        params.pop("HandoffData")
    else:
        params["HandoffData"] = handoff
    return twiml(phone.post("/twilio/voice/relay-end", params))


def transcript(sera: Sera, merchant_id: str, call_sid: str) -> list[dict[str, str]]:
    with sera.uow(merchant_id, readonly=True) as uow:
        call = uow.session.execute(select(Call).where(Call.provider_call_id == call_sid)).scalar_one()
        row = uow.session.execute(select(Transcript).where(Transcript.call_id == call.id)).scalar_one()
        return list(json.loads(uow.vault.open(row, "content") or "[]"))


# -- the call ------------------------------------------------------------------------------------


def test_a_call_in_relay_mode_connects_to_the_socket_with_the_greeting(
    phone: Phone, personas: Personas, relay_mode: None
) -> None:
    answer = twiml(phone.call(new_sid("CA")))
    assert verbs(answer) == ["Start", "Connect"]
    connect = answer.find("Connect")
    assert connect is not None and connect.attrib["action"] == "https://sera.test/twilio/voice/relay-end"
    relay_noun = connect.find("ConversationRelay")
    assert relay_noun is not None
    assert relay_noun.attrib["url"] == socket_url(personas.northside_id)
    assert relay_noun.attrib["welcomeGreeting"].startswith("Thanks for calling Northside Cycles")
    assert relay_noun.attrib["language"] == "en-US" and relay_noun.attrib["interruptible"] == "any"
    assert relay_noun.attrib["dtmfDetection"] == "true"


def test_a_shop_file_can_keep_its_calls_on_gather(phone: Phone, sera: Sera, relay_mode: None) -> None:
    from sera.merchants.service import import_shop_text
    from tests.conftest import DEMO_SHOP

    import_shop_text(
        sera, DEMO_SHOP.read_text().replace("agent:\n", "agent:\n  voice_mode: gather\n", 1), source="t", actor="t"
    )
    assert "Gather" in verbs(twiml(phone.call(new_sid("CA"))))


def test_a_caller_books_over_relay_and_is_heard_as_they_speak(
    phone: Phone, http: TestClient, personas: Personas, sera: Sera, relay_mode: None
) -> None:
    with answered(phone, http, personas.northside_id) as call:
        assert "Tuesday" in call.prompt("I'd like to book a tune up next Tuesday")
        assert "name" in call.prompt("2 pm").lower()
        assert "Shall I book" in call.prompt("Jordan Miles")
        assert "booked" in call.prompt("yes").lower()
    with sera.uow(personas.northside_id, readonly=True) as uow:
        booked = [a for a in list_appointments(uow, PageRequest(limit=10)).items if a.status == "booked"]
    assert [a.service for a in booked] == ["Tune-up"]
    lines = transcript(sera, personas.northside_id, call.call_sid)
    assert lines[0]["role"] == "agent" and lines[1] == {
        "role": "caller",
        "text": "I'd like to book a tune up next Tuesday",
    }


def test_an_interrupted_answer_keeps_only_what_the_caller_heard(
    phone: Phone, http: TestClient, personas: Personas, sera: Sera, relay_mode: None
) -> None:
    with answered(phone, http, personas.northside_id) as call:
        full = call.prompt("what are your opening hours")
        assert full.startswith("Our hours are") and len(full) > 60
        call.ws.send_json({"type": "interrupt", "utteranceUntilInterrupt": full[:25], "durationUntilInterruptMs": 900})
        after = call.prompt("sorry, are you open on Sunday?")
        assert "closed" in after.lower()
    lines = transcript(sera, personas.northside_id, call.call_sid)
    heard = full[:25].strip()
    assert {"role": "agent", "text": heard} in lines and {"role": "agent", "text": full} not in lines


def test_zero_on_the_keypad_asks_for_a_person_and_the_transfer_is_said_then_dialled(
    phone: Phone, http: TestClient, personas: Personas, relay_mode: None
) -> None:
    with answered(phone, http, personas.northside_id) as call:
        call.dtmf("0")
        end = call.ws.receive_json()
        assert end["type"] == "end"  # the transfer's words are said by the action's TwiML, not cut short
        handoff = json.loads(end["handoffData"])
        assert handoff["reasonCode"] == "transfer" and "Connecting you" in handoff["say"]
    answer = relay_ended(phone, call.call_sid, end["handoffData"])
    assert verbs(answer) == ["Say", "Dial"] and "Connecting you" in spoken(answer)
    assert answer.findtext("Dial/Number") == HANDOFF  # from Sera's record, not from the socket


def test_digits_ended_by_hash_answer_a_numeric_question(
    phone: Phone, http: TestClient, personas: Personas, relay_mode: None
) -> None:
    with answered(phone, http, personas.northside_id) as call:
        assert "order number" in call.prompt("where is my order").lower()
        for digit in "9*1042#":  # a slip, cleared with the star, then the number
            call.dtmf(digit)
        answer = call.heard()
    assert "email address did you use" in answer, answer  # order 1042 found, shared only once verified


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "0" * 32], ids=["unsigned", "wrong-token"])
def test_an_unsigned_socket_is_refused_before_it_is_accepted(
    http: TestClient, personas: Personas, token: str | None
) -> None:
    path = f"/twilio/relay/{personas.northside_id}"
    headers = (
        {}
        if token is None
        else {"X-Twilio-Signature": RequestValidator(token).compute_signature(socket_url(personas.northside_id), {})}
    )
    with pytest.raises(WebSocketDisconnect) as refused, http.websocket_connect(path, headers=headers):
        pass
    assert refused.value.code == 1008


def test_a_socket_signed_for_another_shop_is_refused(http: TestClient, personas: Personas) -> None:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(socket_url(personas.southside_id), {})
    with (
        pytest.raises(WebSocketDisconnect),
        http.websocket_connect(f"/twilio/relay/{personas.northside_id}", headers={"X-Twilio-Signature": signature}),
    ):
        pass


def test_bad_frames_are_skipped_or_close_the_socket_and_the_call_goes_on(
    phone: Phone, http: TestClient, personas: Personas, sera: Sera, relay_mode: None
) -> None:
    sid = new_sid("CA")
    phone.call(sid)
    with relay(http, personas.northside_id, sid) as call:
        call.ws.send_text("{not json")
        call.ws.send_json({"type": "prompt", "voicePrompt": "hello", "last": True})  # before setup
        with pytest.raises(WebSocketDisconnect) as closed:
            call.ws.receive_json()
        assert closed.value.code == 1008
    with relay(http, personas.northside_id, sid) as call:  # Twilio's new socket for the same call
        call.setup()
        call.ws.send_json({"type": "mystery"})
        call.ws.send_json({"type": "error", "description": "Invalid message received"})
        assert "open" in call.prompt("when do you open tomorrow").lower()
        call.ws.send_text("x" * 70_000)
        with pytest.raises(WebSocketDisconnect) as closed:
            call.ws.receive_json()
        assert closed.value.code == 1009
    answer = relay_ended(phone, sid, status="failed")
    assert verbs(answer) == ["Gather", "Redirect"]  # the caller is not dropped: the call goes on with Gather
    assert "open" in spoken(twiml(phone.say(sid, "are you open tomorrow"))).lower()
    phone.hang_up(sid, 95)
    with sera.uow(personas.northside_id, readonly=True) as uow:
        row = uow.session.execute(select(Call).where(Call.provider_call_id == sid)).scalar_one()
    assert row.ended_at is not None  # one call record, ended


def test_a_relay_session_twilio_cannot_start_leaves_the_call_on_gather(
    phone: Phone, personas: Personas, relay_mode: None
) -> None:
    sid = new_sid("CA")
    phone.call(sid)  # ConversationRelay is not enabled on the account: Twilio reports the failure at once
    answer = relay_ended(phone, sid, status="failed")
    assert verbs(answer) == ["Gather", "Redirect"] and "say it again" in spoken(answer)
    unknown = relay_ended(phone, new_sid("CA"), status="failed")
    assert verbs(unknown) == ["Say", "Hangup"]


def test_a_setup_for_another_shops_number_closes_the_socket(
    phone: Phone, http: TestClient, personas: Personas, relay_mode: None
) -> None:
    with relay(http, personas.northside_id, new_sid("CA")) as call:
        call.setup(to="+12125550100")  # Southside Skates' number
        with pytest.raises(WebSocketDisconnect):
            call.ws.receive_json()


def test_a_streaming_brain_speaks_its_first_sentence_before_the_rest_is_written(
    phone: Phone, http: TestClient, personas: Personas, model: FakeOpenAI, relay_mode: None
) -> None:
    model.answer(Answer(text="Sure thing. We open at 9 tomorrow. See you then!", pieces=16, pause_s=0.04))
    with answered(phone, http, personas.northside_id) as call:
        call.ws.send_json({"type": "prompt", "voicePrompt": "when do you open tomorrow", "last": True})
        frames, times = [], []
        while not frames or not frames[-1]["last"]:
            frames.append(call.ws.receive_json())
            times.append(time.monotonic())
    assert [f["token"] for f in frames] == ["Sure thing. ", "We open at 9 tomorrow. ", "See you then! ", ""]
    assert times[-1] - times[0] > 0.2  # the first sentence went out while the rest was being written


def test_a_caller_who_hangs_up_mid_reply_keeps_what_they_agreed_to(
    phone: Phone, http: TestClient, personas: Personas, sera: Sera, relay_mode: None
) -> None:
    with answered(phone, http, personas.northside_id) as call:
        for line in ("I'd like to book a tune up next Tuesday", "2 pm", "Jordan Miles"):
            call.prompt(line)
        call.ws.send_json({"type": "prompt", "voicePrompt": "yes", "last": True})
    # the socket closed before the answer was read: the booking stands, the record is whole
    with sera.uow(personas.northside_id, readonly=True) as uow:
        booked = [a for a in list_appointments(uow, PageRequest(limit=10)).items if a.status == "booked"]
    assert len(booked) == 1
    assert transcript(sera, personas.northside_id, call.call_sid)[-2] == {"role": "caller", "text": "yes"}


FRAME_TYPES = ["setup", "prompt", "dtmf", "interrupt", "error", "info", "text", "end", "", None]
fields = st.dictionaries(
    st.sampled_from(["voicePrompt", "last", "digit", "utteranceUntilInterrupt", "callSid", "from", "to", "x"]),
    st.one_of(st.text(max_size=30), st.booleans(), st.integers(), st.none(), st.just("CA" + "0" * 32)),
    max_size=4,
)
frames = st.one_of(
    st.text(max_size=200),
    st.builds(lambda kind, rest: json.dumps({"type": kind, **rest}), st.sampled_from(FRAME_TYPES), fields),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(sent=st.lists(frames, max_size=6), set_up=st.booleans())
def test_any_frames_leave_the_records_whole(
    phone: Phone, http: TestClient, personas: Personas, sera: Sera, sent: list[str], set_up: bool
) -> None:
    sid = new_sid("CA")
    phone.call(sid)
    with relay(http, personas.northside_id, sid) as call:
        if set_up:
            call.setup()
        for frame in sent:
            call.ws.send_text(frame)
    relay_ended(phone, sid, status="failed")  # the call goes on (Gather) or ends, never left hanging
    consistent(sera, [personas.northside_id, personas.southside_id])


def test_talking_over_a_long_llm_answer_stops_it_and_the_model_remembers_what_was_heard(
    phone: Phone, http: TestClient, personas: Personas, model: FakeOpenAI, relay_mode: None
) -> None:
    long = "One thing first. Then a second thing. A third. A fourth. A fifth. A sixth. A seventh. The end."
    model.answer(Answer(text=long, pieces=40, pause_s=0.05), Answer(text="We're closed on Sundays."))
    with answered(phone, http, personas.northside_id) as call:
        call.ws.send_json({"type": "prompt", "voicePrompt": "tell me everything", "last": True})
        assert call.ws.receive_json()["token"] == "One thing first. "
        heard = {"type": "interrupt", "utteranceUntilInterrupt": "One thing first.", "durationUntilInterruptMs": 800}
        call.ws.send_json(heard)
        rest = []
        while not (frame := call.ws.receive_json())["last"]:
            rest.append(frame["token"])
        assert len(rest) <= 2  # the writing stopped within a sentence or two, not at "The end."
        assert call.prompt("are you open sunday") == "We're closed on Sundays."
    remembered = [m["content"] for m in model.requests[-1]["messages"] if m["role"] == "assistant"]
    assert remembered[-1] == "One thing first."
