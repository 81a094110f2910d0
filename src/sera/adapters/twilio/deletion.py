"""Deleting Sera's copies at Twilio: recordings, messages and call records.

A sid Twilio no longer holds (404) is gone, which is what was asked. Twilio refuses to
delete a message or call that is not final yet (error 20009): a message then has its body
redacted at once (an update with an empty body) and its deletion is tried again later.
"""

from __future__ import annotations

from sera.adapters.http import HttpClient, PermanentError
from sera.adapters.twilio.client import TwilioClient, client_for, twilio_error_code
from sera.bootstrap import Sera
from sera.privacy.copies import CopyRef, Outcome

PROVIDER = "twilio"
NOT_FINAL = 20009


class TwilioDeleter:
    def __init__(self, client: TwilioClient) -> None:
        self.client = client

    def delete(self, copy: CopyRef) -> Outcome:
        try:
            self.client.delete(copy.kind, copy.provider_id)
        except PermanentError as exc:
            if exc.status == 404:
                return "gone"
            if twilio_error_code(exc) != NOT_FINAL:
                raise
            if copy.kind == "message" and not copy.redacted:
                self.client.redact_message(copy.provider_id)
                return "redacted"
            return "not_yet"
        return "deleted"


def twilio_deleter(sera: Sera, merchant_id: str, http: HttpClient) -> TwilioDeleter | None:
    """The shop's own Twilio account (kept past a deleted shop for this), else Sera's."""
    kept = sera.keystore.kept_for_deletion(merchant_id, PROVIDER)
    client: TwilioClient | None
    if kept is not None and kept[0]:
        client = TwilioClient(kept[0], kept[1], api_base=sera.settings.twilio_api_base, http=http)
    else:
        client = client_for(sera, merchant_id, http=http)
    return None if client is None else TwilioDeleter(client)
