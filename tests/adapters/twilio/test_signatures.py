"""Every Twilio endpoint refuses what Twilio did not sign, before anything is stored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sera.bootstrap import Sera
from sera.merchants.providers import set_provider_account
from sera.storage.models import (
    Call,
    Conversation,
    DoNotContact,
    Message,
    Transcript,
    UsageRecord,
    WebhookReceipt,
)
from tests.adapters.twilio.conftest import AUTH_TOKEN, OTHER_SHOP, PUBLIC, Phone, payload, sign
from tests.conftest import Personas
from tests.fakes.twilio_server import new_sid

STORED = (Call, Conversation, Transcript, Message, DoNotContact, UsageRecord, WebhookReceipt)
ENDPOINTS = [
    ("/twilio/voice", "voice_incoming_call"),
    ("/twilio/voice/turn", "voice_gather_speech"),
    ("/twilio/voice/no-input?attempt=1", "voice_gather_no_input"),
    ("/twilio/voice/dial-end", "voice_dial_no_answer"),
    ("/twilio/voice/relay-end", "voice_relay_ended"),
    ("/twilio/voice/whisper", "voice_whisper"),
    ("/twilio/voice/message", "voice_gather_speech"),
    ("/twilio/voice/outbound?shop=mer_x&action=out_x", "voice_outbound_answered"),
    ("/twilio/voice/amd?shop=mer_x&action=out_x", "voice_amd_machine"),
    ("/twilio/voice/status", "voice_status_completed"),
    ("/twilio/voice/recording", "voice_recording_completed"),
    ("/twilio/sms", "sms_incoming"),
    ("/twilio/sms/status", "sms_status_delivered"),
]


def stored_rows(sera: Sera) -> dict[str, int]:
    with sera.uow(readonly=True) as uow:
        return {m.__tablename__: uow.session.execute(select(func.count()).select_from(m)).scalar_one() for m in STORED}


@pytest.fixture
def before(sera: Sera, personas: Personas) -> dict[str, int]:
    return stored_rows(sera)


@pytest.mark.parametrize(("path", "fixture"), ENDPOINTS)
def test_an_unsigned_request_is_refused_and_nothing_is_stored(
    http: TestClient, sera: Sera, before: dict[str, int], path: str, fixture: str
) -> None:
    response = http.post(path, data=payload(fixture, Body="STOP"))
    assert response.status_code == 403
    assert stored_rows(sera) == before


@pytest.mark.parametrize(("path", "fixture"), ENDPOINTS)
def test_a_request_signed_with_another_token_is_refused(
    phone: Phone, sera: Sera, before: dict[str, int], path: str, fixture: str
) -> None:
    response = phone.post(path, payload(fixture, Body="STOP"), token="not-" + AUTH_TOKEN)
    assert response.status_code == 403
    assert stored_rows(sera) == before


def test_a_tampered_field_breaks_the_signature(http: TestClient, sera: Sera, before: dict[str, int]) -> None:
    params = payload("sms_incoming", Body="hello")
    signature = sign(params, "/twilio/sms")
    response = http.post("/twilio/sms", data={**params, "Body": "STOP"}, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert stored_rows(sera) == before


def test_the_signature_covers_the_query_string(phone: Phone, sera: Sera, before: dict[str, int]) -> None:
    sid = new_sid("CA")
    params = payload("voice_gather_no_input", CallSid=sid)
    signed_for_attempt_one = f"{PUBLIC}/twilio/voice/no-input?attempt=1"
    response = phone.post("/twilio/voice/no-input?attempt=3", params, signed_url=signed_for_attempt_one)
    assert response.status_code == 403


def test_behind_a_proxy_only_the_public_url_signature_passes(phone: Phone, sera: Sera, before: dict[str, int]) -> None:
    sid = new_sid("CA")
    params = payload("voice_incoming_call", CallSid=sid)
    as_the_proxy_forwards_it = "http://testserver/twilio/voice"
    refused = phone.post("/twilio/voice", params, signed_url=as_the_proxy_forwards_it, headers={"Host": "sera.test"})
    assert refused.status_code == 403
    assert stored_rows(sera) == before
    assert phone.post("/twilio/voice", params, signed_url=f"{PUBLIC}/twilio/voice").status_code == 200


def test_without_any_auth_token_every_request_is_refused(phone: Phone, sera: Sera, before: dict[str, int]) -> None:
    sera.settings.twilio_auth_token = None
    params = payload("voice_incoming_call", CallSid=new_sid("CA"))
    assert phone.post("/twilio/voice", params, token="").status_code == 403
    assert phone.post("/twilio/voice", params).status_code == 403
    assert stored_rows(sera) == before


def test_a_shop_with_its_own_twilio_account_is_verified_with_its_token(
    phone: Phone, sera: Sera, personas: Personas
) -> None:
    own_token = "5b7d9f1e3c5a7b9d1f3e5c7a9b1d3f5e"
    set_provider_account(
        sera, personas.southside_id, "twilio", account_id=new_sid("AC"), secret=own_token, actor="test"
    )
    params = payload("voice_incoming_call", CallSid=new_sid("CA"), To=OTHER_SHOP)
    assert phone.post("/twilio/voice", params).status_code == 403  # Sera's own token is not theirs
    assert phone.post("/twilio/voice", params, token=own_token).status_code == 200
    northside = payload("voice_incoming_call", CallSid=new_sid("CA"))
    assert phone.post("/twilio/voice", northside, token=own_token).status_code == 403


def test_a_shared_key_signature_is_refused(phone: Phone, sera: Sera, before: dict[str, int]) -> None:
    params = payload("voice_incoming_call", CallSid=new_sid("CA"))
    settings_header = {"X-Twilio-Webhooks-Signature-Settings": "key=KS0123,algorithm=HMAC_SHA256"}
    assert phone.post("/twilio/voice", params, headers=settings_header).status_code == 403
    assert stored_rows(sera) == before


def test_only_form_bodies_are_read(http: TestClient, sera: Sera, before: dict[str, int]) -> None:
    response = http.post("/twilio/sms", json=payload("sms_incoming"))
    assert response.status_code == 415
    too_big = http.post("/twilio/sms", data={"Body": "x" * (300 * 1024)})
    assert too_big.status_code == 413
    assert stored_rows(sera) == before


def test_the_bare_endpoint_answers_constant_twiml_without_a_signature(http: TestClient) -> None:
    response = http.post("/twilio/bare", data={"anything": "at all"})
    assert response.status_code == 200
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response><Say>ok</Say></Response>'
