"""Standard Webhooks over HTTP: each event signed (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``: HMAC-SHA256 under the endpoint's ``whsec_`` secret, by the
``standardwebhooks`` package, so a receiver verifies with any of its libraries) and posted
through the one HTTP wrapper, which never retries by itself (the delivery's row does).

A merchant's URL must not reach Sera's own network: the host is resolved here, every
address it resolves to must be public (unless ``SERA_WEBHOOKS_ALLOW_PRIVATE``), and the
connection goes to that checked address (the TLS name stays the host's), so a DNS answer
that changes between the check and the connection (rebinding) cannot slip through.
Redirects are not followed: a 3xx is a failed delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from sera.adapters.http import HostRefusedError, HttpClient, PermanentError, public_addresses, tls_context

USER_AGENT = "Sera-Webhooks/1"
TIMEOUT = 10.0


class AddressRefused(httpx.ConnectError):
    """The URL's host resolves to an address Sera does not post to."""


class GuardedTransport(httpx.HTTPTransport):
    """Connects only to checked addresses: resolves once, checks, and pins the request to it."""

    def __init__(self, *, allow_private: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allow_private = allow_private

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = public_addresses(host, port, allow_private=self.allow_private)
        except HostRefusedError as exc:
            raise AddressRefused(str(exc)) from None
        pinned = addresses[0]
        request.url = request.url.copy_with(host=pinned if ":" not in pinned else f"[{pinned}]")
        request.headers["Host"] = host if request.url.port is None else f"{host}:{request.url.port}"
        request.extensions = {**request.extensions, "sni_hostname": host}
        return super().handle_request(request)


def guarded_http(*, allow_private: bool) -> HttpClient:
    return HttpClient(
        timeout=TIMEOUT, retries=0, transport=GuardedTransport(allow_private=allow_private, verify=tls_context())
    )


class StandardWebhooksSender:
    def __init__(self, http: HttpClient) -> None:
        self._http = http

    def deliver(self, url: str, secrets: Sequence[str], message_id: str, timestamp: datetime, body: str) -> int:
        # during a secret rotation the header carries one signature per secret, space-separated
        signatures = " ".join(Webhook(secret).sign(message_id, timestamp, body) for secret in secrets)
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signatures,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        try:
            response = self._http.request("POST", url, content=body.encode(), headers=headers)
        except PermanentError as exc:
            if exc.status is None:
                raise
            return exc.status
        return response.status_code
