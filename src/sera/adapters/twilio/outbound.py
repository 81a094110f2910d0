"""Twilio as the outbound ports: texts through the Messages API, calls through the Calls API.

Each sends once and never retries by itself (a retried create after a timeout could text
or ring twice); after a crash, ``recent`` lists what Twilio holds so the engine reconciles.

A call carries only the action's id in its URLs (``?shop=…&action=…``): Twilio fetches
the opening TwiML from ``/twilio/voice/outbound`` when the call is answered, posts the
answering-machine verdict to ``/twilio/voice/amd`` once a machine's greeting has ended
(``DetectMessageEnd``, asynchronous, so a person is greeted without waiting), and the
call's end to ``/twilio/voice/status``.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from sera.adapters.http import PermanentError
from sera.adapters.twilio.client import TwilioClient, twilio_error_code
from sera.outbound.drafts import Draft
from sera.outbound.service import RecipientOptedOutError

TWILIO_OPTED_OUT = 21610


class TwilioSms:
    """Twilio's Messages API: one attempt per send, delivery reports to Sera."""

    provider = "twilio"

    def __init__(self, client: TwilioClient, status_callback: str) -> None:
        self._client = client
        self._status_callback = status_callback

    def send(self, draft: Draft, action_id: str) -> str:
        try:
            sent = self._client.send_sms(
                to=draft.to, from_=draft.from_, body=draft.body, status_callback=self._status_callback
            )
        except PermanentError as exc:
            if twilio_error_code(exc) == TWILIO_OPTED_OUT:
                raise RecipientOptedOutError(str(exc), exc.status, exc.body) from None
            raise
        return sent.sid

    def recent(self, draft: Draft, action_id: str, since: datetime, limit: int) -> list[str]:
        return [
            m.sid
            for m in self._client.list_messages(to=draft.to, from_=draft.from_, limit=limit)
            if m.direction.startswith("outbound") and m.body == draft.body
        ]


class TwilioCalls:
    """Twilio's Calls API: one attempt per call, with answering-machine detection."""

    provider = "twilio"

    def __init__(self, client: TwilioClient, public_url: str, merchant_id: str) -> None:
        self._client = client
        self._base = f"{public_url.rstrip('/')}/twilio/voice"
        self._merchant_id = merchant_id

    def _url(self, path: str, action_id: str) -> str:
        return f"{self._base}/{path}?{urlencode({'shop': self._merchant_id, 'action': action_id})}"

    def send(self, draft: Draft, action_id: str) -> str:
        return self._client.place_call(
            to=draft.to,
            from_=draft.from_,
            url=self._url("outbound", action_id),
            status_callback=self._url("status", action_id),
            machine_callback=self._url("amd", action_id),
        )

    def recent(self, draft: Draft, action_id: str, since: datetime, limit: int) -> list[str]:
        return [
            c.sid
            for c in self._client.list_calls(to=draft.to, from_=draft.from_, limit=limit)
            if c.direction == "outbound-api" and (c.created is None or c.created >= since)
        ]
