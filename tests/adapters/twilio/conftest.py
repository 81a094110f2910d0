"""Twilio as the tests see it: recorded webhook payloads, requests signed with the SDK's
own ``RequestValidator``, and a local fake of Twilio's REST API for what Sera sends.

Sera is reached at ``https://sera.test`` (SERA_PUBLIC_URL) while the test client talks
to ``http://testserver``: exactly the proxy situation, so every signature here proves
the URL is rebuilt from the setting, not from the Host header.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from sera.bootstrap import Sera
from sera.config import Settings
from sera.web.app import create_app
from tests.conftest import Personas
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioServer, new_sid

FIXTURES = Path(__file__).parent / "fixtures"
PUBLIC = "https://sera.test"
SHOP = "+13125550100"
HANDOFF = "+13125550199"
CALLER = "+13125550170"
OTHER_SHOP = "+12125550100"  # Southside Skates


def payload(name: str, **overrides: str) -> dict[str, str]:
    """A recorded webhook's form fields, with some replaced."""
    data: dict[str, str] = json.loads((FIXTURES / f"{name}.json").read_text())
    data.update(overrides)
    return data


def parse_twiml(text: str) -> ET.Element:
    """Sera's own answer, parsed to check it is XML Twilio can read."""
    return ET.fromstring(text)  # noqa: S314 - our own output, not untrusted input


def sign(params: dict[str, str], path: str, token: str = AUTH_TOKEN, base: str = PUBLIC) -> str:
    return str(RequestValidator(token).compute_signature(base + path, params))


@dataclass
class Phone:
    """Plays Twilio: posts signed, form-encoded webhooks to Sera."""

    http: TestClient
    token: str = AUTH_TOKEN

    def post(
        self,
        path: str,
        params: dict[str, str],
        *,
        token: str | None = None,
        signed_url: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        signature = RequestValidator(token or self.token).compute_signature(signed_url or PUBLIC + path, params)
        return self.http.post(path, data=params, headers={"X-Twilio-Signature": signature, **(headers or {})})

    # -- a call, as Twilio drives it ----------------------------------------------------------
    def call(self, call_sid: str, caller: str = CALLER, to: str = SHOP) -> httpx.Response:
        return self.post("/twilio/voice", payload("voice_incoming_call", CallSid=call_sid, From=caller, To=to))

    def say(self, call_sid: str, speech: str, caller: str = CALLER, to: str = SHOP, **headers: str) -> httpx.Response:
        params = payload("voice_gather_speech", CallSid=call_sid, SpeechResult=speech, From=caller, To=to)
        return self.post("/twilio/voice/turn", params, headers=headers)

    def silence(self, call_sid: str, attempt: int) -> httpx.Response:
        return self.post(
            f"/twilio/voice/no-input?attempt={attempt}", payload("voice_gather_no_input", CallSid=call_sid)
        )

    def hang_up(self, call_sid: str, duration_s: int) -> httpx.Response:
        params = payload("voice_status_completed", CallSid=call_sid, CallDuration=str(duration_s))
        return self.post("/twilio/voice/status", params)

    def text(self, body: str, sender: str = CALLER, to: str = SHOP, sid: str | None = None) -> httpx.Response:
        sid = sid or new_sid("SM")
        params = payload("sms_incoming", Body=body, From=sender, To=to, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
        return self.post("/twilio/sms", params)


@pytest.fixture
def settings(settings: Settings, fake_twilio: TwilioServer) -> Settings:
    """Sera's own Twilio account, whose REST API is the local fake; calls in Gather mode (the
    relay tests switch a shop to ConversationRelay themselves)."""
    return settings.model_copy(
        update={
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_api_base": fake_twilio.url,
            "voice_mode": "gather",
        }
    )


@pytest.fixture
def http(sera: Sera, personas: Personas) -> Iterator[TestClient]:
    with TestClient(create_app(sera)) as client:
        yield client


@pytest.fixture
def phone(http: TestClient) -> Phone:
    return Phone(http)


def api(http: TestClient, key: str, path: str, **params: Any) -> Any:
    response = http.get(f"/api/v1{path}", params=params, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()
