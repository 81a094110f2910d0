"""A Vapi call's recording, streamed through Sera.

Vapi reports a recording as a URL on its storage (``https://storage.vapi.ai/...``), readable
without credentials. Sera fetches only such a URL (or one on the configured Vapi API host,
which is a local fake in the tests), so a stored reference can never send Sera anywhere else,
and it sends no credentials with it: the storage wants none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx

from sera.adapters.http import HttpClient
from sera.bootstrap import Sera
from sera.calls.browse import Audio, RecordingUnavailableError

STORAGE_HOSTS = frozenset({"storage.vapi.ai"})
CHUNK = 64 * 1024
TIMEOUT = httpx.Timeout(10.0, read=30.0)
_http: HttpClient | None = None


def _client() -> HttpClient:
    global _http
    if _http is None:
        _http = HttpClient()
    return _http


def _allowed(sera: Sera, reference: str) -> bool:
    parts = urlsplit(reference)
    api = urlsplit(sera.settings.vapi_api_base)
    if parts.scheme == "https" and parts.hostname in STORAGE_HOSTS and parts.port is None:
        return True
    return (parts.scheme, parts.hostname, parts.port) == (api.scheme, api.hostname, api.port)


@contextmanager
def open_recording(sera: Sera, merchant_id: str, reference: str, *, http: HttpClient | None = None) -> Iterator[Audio]:
    """The recording as Vapi's storage serves it; raises ``RecordingUnavailableError`` for a
    reference Sera did not get from Vapi, or the outbound wrapper's errors before any byte."""
    if not _allowed(sera, reference):
        raise RecordingUnavailableError("not a Vapi recording")
    with (http or _client()).stream("GET", reference, timeout=TIMEOUT) as response:
        length = response.headers.get("content-length")
        yield Audio(
            content_type=response.headers.get("content-type", "audio/wav"),
            length=int(length) if length and length.isdigit() else None,
            chunks=response.iter_bytes(CHUNK),
        )
