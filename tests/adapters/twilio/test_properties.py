"""Whatever reaches the Twilio endpoints, Sera never fails with a 5xx and never keeps half a record.

Where the point is the body, requests carry valid signatures computed over exactly
what is sent; otherwise they are refused before anything is read. After every
example the stored data must still add up: every conversation has its call, every
counted call end has its closed call, usage equals what the records say, every
sealed field opens.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from sera.billing.usage import billed_minutes
from sera.bootstrap import Sera
from sera.storage.models import Call, Conversation, Message, Transcript, UsageRecord, WebhookReceipt
from tests.adapters.twilio.conftest import AUTH_TOKEN, FIXTURES, PUBLIC, Phone, parse_twiml, payload
from tests.adapters.twilio.test_signatures import ENDPOINTS
from tests.conftest import Personas
from tests.fakes.twilio_server import new_sid

FIELDS = sorted({key for f in FIXTURES.glob("*.json") for key in json.loads(f.read_text())})
ODD_VALUES = [
    "",
    " ",
    "x" * 100_000,
    "é🚲" * 25_000,
    "\x00\x01\x1f",
    "<Response><Hangup/></Response>",
    "CA" + "0" * 32,
    "SM" + "f" * 32,
    "+13125550100",
    "+13125550170",
    "anonymous",
    "-1",
    "99999999999999999999",
    "completed",
    "in-progress",
    "delivered",
    "STOP",
    "YES",
    "HELP",
    "outbound-api",
    "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
]
values = st.one_of(st.text(max_size=40), st.sampled_from(ODD_VALUES))
relaxed = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def well_formed(response: httpx.Response) -> None:
    """Never a 5xx; a TwiML answer is always XML Twilio can read."""
    assert response.status_code < 500, response.text[:500]
    if response.status_code == 200 and response.headers.get("content-type", "").startswith("text/xml"):
        parse_twiml(response.text)


def consistent(sera: Sera, merchant_ids: list[str]) -> None:
    """The stored records add up, in every shop."""
    for merchant_id in merchant_ids:
        with sera.uow(merchant_id, readonly=True) as uow:
            calls = {c.id: c for c in uow.session.execute(select(Call)).scalars()}
            by_sid = {c.provider_call_id: c for c in calls.values()}
            for conversation in uow.session.execute(select(Conversation)).scalars():
                assert conversation.call_id in calls
                uow.vault.open(conversation, "state")
            for call in calls.values():
                uow.vault.open_many(call, "from_number", "to_number", "recording_url")
                assert (call.ended_at is None) == (call.outcome is None)
            for transcript in uow.session.execute(select(Transcript)).scalars():
                assert transcript.call_id in calls
                json.loads(uow.vault.open(transcript, "content") or "")
            mine = select(WebhookReceipt).where(WebhookReceipt.merchant_id == merchant_id)  # receipts are not scoped
            receipts = [r.event_id for r in uow.session.execute(mine).scalars()]
            ended = [by_sid[r.removeprefix("call-ended:")] for r in receipts if r.startswith("call-ended:")]
            assert all(call.ended_at is not None for call in ended)
            messages = list(uow.session.execute(select(Message)).scalars())
            for message in messages:
                uow.vault.open(message, "body")
            inbound = {m.provider_message_id for m in messages if m.direction == "inbound"}
            assert inbound == {r.removeprefix("sms:") for r in receipts if r.startswith("sms:")}
            usage: Counter[str] = Counter()
            for row in uow.session.execute(select(UsageRecord)).scalars():
                usage[row.metric] += row.quantity
            assert usage["inbound_calls"] + usage["outbound_calls"] == len(ended)
            assert usage["billed_minutes"] == sum(billed_minutes(c.duration_s or 0) for c in ended)
            assert usage["sms_segments_inbound"] == sum(m.segments for m in messages if m.direction == "inbound")
            assert usage["sms_segments_outbound"] == sum(m.segments for m in messages if m.direction == "outbound")


@st.composite
def mangled(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """A recorded event with fields dropped, replaced and added."""
    path, fixture = draw(st.sampled_from(ENDPOINTS))
    params = payload(fixture)
    for key in draw(st.lists(st.sampled_from(sorted(params)), max_size=4, unique=True)):
        del params[key]
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        params[key] = draw(values)
    extra = draw(st.dictionaries(st.text(min_size=1, max_size=20), values, max_size=3))
    return path, {**params, **extra}


@relaxed
@given(case=mangled())
def test_signed_odd_fields_never_break_an_endpoint(phone: Phone, sera: Sera, personas: Personas, case: Any) -> None:
    path, params = case
    if "CallSid" in params and params["CallSid"].startswith("CA") and len(params["CallSid"]) == 34:
        phone.call(params["CallSid"])  # sometimes a call Sera knows
    well_formed(phone.post(path, params))
    consistent(sera, [personas.northside_id, personas.southside_id])


@relaxed
@given(
    path=st.sampled_from([*(p for p, _ in ENDPOINTS), "/twilio/bare"]),
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
            "application/json",
            "text/plain",
            "multipart/form-data; boundary=xyz",
            "",
        ]
    ),
)
def test_random_bytes_are_refused_without_a_trace(
    phone: Phone, sera: Sera, personas: Personas, path: str, body: bytes, content_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        from twilio.request_validator import RequestValidator

        headers["X-Twilio-Signature"] = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path, fields)
    except (UnicodeDecodeError, ValueError):
        headers["X-Twilio-Signature"] = "bm90IGEgc2lnbmF0dXJl"
    response = phone.http.post(path, content=body, headers=headers)
    well_formed(response)
    consistent(sera, [personas.northside_id])


@relaxed
@given(
    document=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=30),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
        max_leaves=10,
    )
)
def test_json_bodies_are_not_webhooks(phone: Phone, sera: Sera, personas: Personas, document: Any) -> None:
    for path, _ in ENDPOINTS:
        response = phone.http.post(path, json=document, headers={"X-Twilio-Signature": "x"})
        assert response.status_code == 415


EVENTS = st.sampled_from(
    [
        "call",
        "say",
        "say-again",
        "silence",
        "status-completed",
        "status-ringing",
        "status-busy",
        "recording",
        "dial-end",
    ]
)


@relaxed
@given(events=st.lists(EVENTS, min_size=1, max_size=12), duration=st.integers(min_value=0, max_value=7200))
def test_replayed_and_reordered_callbacks_keep_the_records_whole(
    phone: Phone, sera: Sera, personas: Personas, events: list[str], duration: int
) -> None:
    sid = new_sid("CA")
    shop = f"?shop={personas.northside_id}"
    requests: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
        "call": ("/twilio/voice", payload("voice_incoming_call", CallSid=sid), {}),
        "say": (
            "/twilio/voice/turn",
            payload("voice_gather_speech", CallSid=sid),
            {"I-Twilio-Idempotency-Token": "t1"},
        ),
        "say-again": ("/twilio/voice/turn", payload("voice_gather_speech", CallSid=sid, SpeechResult="2 pm"), {}),
        "silence": ("/twilio/voice/no-input?attempt=3", payload("voice_gather_no_input", CallSid=sid), {}),
        "status-completed": (
            "/twilio/voice/status",
            payload("voice_status_completed", CallSid=sid, CallDuration=str(duration)),
            {},
        ),
        "status-ringing": (
            "/twilio/voice/status",
            payload("voice_status_completed", CallSid=sid, CallStatus="ringing"),
            {},
        ),
        "status-busy": ("/twilio/voice/status", payload("voice_status_completed", CallSid=sid, CallStatus="busy"), {}),
        "recording": (f"/twilio/voice/recording{shop}", payload("voice_recording_completed", CallSid=sid), {}),
        "dial-end": ("/twilio/voice/dial-end", payload("voice_dial_no_answer", CallSid=sid), {}),
    }
    for event in events:
        path, params, headers = requests[event]
        well_formed(phone.post(path, params, headers=headers))
    consistent(sera, [personas.northside_id])
    with sera.uow(personas.northside_id, readonly=True) as uow:
        counted = (
            uow.session.execute(select(WebhookReceipt).where(WebhookReceipt.event_id == f"call-ended:{sid}"))
            .scalars()
            .all()
        )
    assert len(counted) <= 1


@relaxed
@given(
    texts=st.lists(
        st.tuples(st.sampled_from(["STOP", "start", "YES", "help", "hi", "2 pm", "book a tune up"]), st.booleans()),
        min_size=1,
        max_size=8,
    )
)
def test_texts_and_their_retries_keep_the_records_whole(
    phone: Phone, sera: Sera, personas: Personas, texts: list[tuple[str, bool]]
) -> None:
    sender = "+1312555" + new_sid("XX")[2:6].translate(str.maketrans("abcdef", "123456"))
    for body, retried in texts:
        sid = new_sid("SM")
        first = phone.text(body, sender=sender, sid=sid)
        well_formed(first)
        if retried:
            again = phone.text(body, sender=sender, sid=sid)
            well_formed(again)
            # the same answer, except that a new thread's greeting is not repeated
            assert [m.text for m in parse_twiml(again.text)] == [m.text for m in parse_twiml(first.text)][-1:] or (
                again.text == first.text
            )
    consistent(sera, [personas.northside_id])
