"""Vapi as the outbound port for calls (a shop whose ``outbound.call_provider`` is ``vapi``).

A call goes out from the shop's number at Vapi (its id found by number, ``GET
/phone-number``) with the shop's assistant, as an incoming call would get it, opening with
why Sera calls and carrying the voicemail message Vapi leaves when its detection hears a
machine. The call is named after the action (``name``: an id, no personal data), so after
a crash the engine finds it among the number's recent calls, and the end-of-call report
files the call's result on its action.
"""

from __future__ import annotations

import threading
from datetime import datetime

from sera.adapters.http import HttpClient, PermanentError
from sera.adapters.vapi.assistant import CallContext, build_assistant
from sera.adapters.vapi.client import VapiClient
from sera.adapters.vapi.webhooks import expected_secret
from sera.agent.context import load_shop
from sera.bootstrap import Sera
from sera.knowledge.service import shop_policies
from sera.outbound.calls import opening
from sera.outbound.drafts import Draft

VOICEMAIL_VERDICTS = ["machine_end_beep", "machine_end_silence"]

_number_ids: dict[tuple[str, str], str] = {}  # (API base, number) -> Vapi's phone number id
_number_ids_lock = threading.Lock()


class VapiCalls:
    provider = "vapi"

    def __init__(self, sera: Sera, merchant_id: str, client: VapiClient, secret: str) -> None:
        self._sera = sera
        self._merchant_id = merchant_id
        self._client = client
        self._secret = secret

    def _number_id(self, number: str) -> str:
        key = (self._client.base_url, number)
        with _number_ids_lock:
            known = _number_ids.get(key)
        if known is None:
            known = self._client.phone_number_id(number)
            if known is None:
                raise PermanentError("the shop's number is not a phone number of the Vapi account")
            with _number_ids_lock:
                _number_ids[key] = known
        return known

    def send(self, draft: Draft, action_id: str) -> str:
        with self._sera.uow(self._merchant_id, readonly=True) as uow:
            greeting = opening(uow, action_id)
            shop = load_shop(uow)
            context = CallContext(
                shop=shop, policies=shop_policies(uow), caller_first_name=None, now=self._sera.clock()
            )
        assistant = build_assistant(context, self._sera.settings, self._secret)
        assistant |= {
            "firstMessage": greeting or assistant["firstMessage"],
            "voicemailMessage": draft.body,
            "voicemailDetection": {"provider": "twilio", "voicemailDetectionTypes": VOICEMAIL_VERDICTS},
        }
        call = self._client.create_outbound_call(
            customer_number=draft.to, phone_number_id=self._number_id(draft.from_), assistant=assistant, name=action_id
        )
        return call.id

    def recent(self, draft: Draft, action_id: str, since: datetime, limit: int) -> list[str]:
        calls = self._client.recent_calls(phone_number_id=self._number_id(draft.from_), since=since, limit=limit)
        return [call_id for call_id, name in calls if name == action_id]


def vapi_caller(sera: Sera, merchant_id: str, *, http: HttpClient) -> VapiCalls | None:
    """The shop's Vapi caller; None without Sera's Vapi API key or a secret for the shop."""
    secret = expected_secret(sera, merchant_id)
    if not sera.settings.vapi_api_key or not secret:
        return None
    return VapiCalls(sera, merchant_id, VapiClient(sera.settings, http), secret)
