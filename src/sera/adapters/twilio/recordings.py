"""A call's recording, streamed from Twilio with the account that made it.

Sera keeps the ``RecordingUrl`` Twilio reported (sealed on the call). To play it, only the
account and recording sids are read from it: the request goes to Twilio's API base with
the matching account's own credentials (the shop's, or Sera's when the shop has none), so a
stored reference can never send Sera, or a shop's credentials, anywhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from sera.adapters.http import HttpClient
from sera.adapters.twilio.client import shared_http
from sera.bootstrap import Sera
from sera.calls.browse import Audio, RecordingUnavailableError
from sera.merchants.providers import provider_credentials

_REFERENCE = re.compile(r"/Accounts/(?P<account>AC[0-9a-f]{32})/Recordings/(?P<sid>RE[0-9a-f]{32})(\.\w+)?$")
CHUNK = 64 * 1024
TIMEOUT = httpx.Timeout(10.0, read=30.0)


def _account_token(sera: Sera, merchant_id: str, account: str) -> str | None:
    with sera.uow(merchant_id, readonly=True) as uow:
        own = provider_credentials(uow, "twilio")
    if own is not None and own.account_id == account and own.secret:
        return own.secret
    settings = sera.settings
    if settings.twilio_account_sid == account and settings.twilio_auth_token is not None:
        return settings.twilio_auth_token.get_secret_value()
    return None


@contextmanager
def open_recording(sera: Sera, merchant_id: str, reference: str, *, http: HttpClient | None = None) -> Iterator[Audio]:
    """The recording's MP3 as Twilio serves it; raises ``RecordingUnavailableError``, or the
    outbound wrapper's ``PermanentError``/``RetryableError`` before any byte is read."""
    found = _REFERENCE.search(reference.split("?", 1)[0])
    if found is None:
        raise RecordingUnavailableError("not a Twilio recording")
    account, sid = found["account"], found["sid"]
    token = _account_token(sera, merchant_id, account)
    if token is None:
        raise RecordingUnavailableError("no credentials for the account holding this recording")
    url = f"{sera.settings.twilio_api_base.rstrip('/')}/2010-04-01/Accounts/{account}/Recordings/{sid}.mp3"
    with (http or shared_http()).stream("GET", url, timeout=TIMEOUT, auth=(account, token)) as response:
        length = response.headers.get("content-length")
        yield Audio(
            content_type=response.headers.get("content-type", "audio/mpeg"),
            length=int(length) if length and length.isdigit() else None,
            chunks=response.iter_bytes(CHUNK),
        )
