"""Deleting Sera's copies at Vapi: a call, with the recording, transcript and summary it holds.

Deleted with Sera's Vapi API key (the account every shop's assistant runs in); a call Vapi
no longer has (404) is gone, which is what was asked.
"""

from __future__ import annotations

from sera.adapters.http import HttpClient
from sera.adapters.vapi.client import VapiClient
from sera.bootstrap import Sera
from sera.privacy.copies import CopyRef, Outcome


class VapiDeleter:
    def __init__(self, client: VapiClient) -> None:
        self.client = client

    def delete(self, copy: CopyRef) -> Outcome:
        if copy.kind != "call":
            raise ValueError(f"Vapi holds no {copy.kind} of Sera's")
        return "deleted" if self.client.delete_call(copy.provider_id) else "gone"


def vapi_deleter(sera: Sera, http: HttpClient | None = None) -> VapiDeleter | None:
    if sera.settings.vapi_api_key is None:
        return None
    return VapiDeleter(VapiClient(sera.settings, http))
