"""The one wrapper every outbound HTTP call goes through.

It owns timeouts, retries with backoff, and the split between permanent errors (the
request is wrong: retrying cannot help) and retryable ones (timeouts, connection
failures, 429 and 5xx). Provider clients translate these into their own terms.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

log = logging.getLogger("sera.http.out")
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


def public_address(address: str, *, allow_private: bool) -> bool:
    """Whether Sera may connect to ``address`` for a merchant-supplied URL (a webhook endpoint,
    a staff calendar): a global unicast address, or anything when ``allow_private`` (tests,
    development). Private, loopback, link-local (cloud metadata) and IPv4-mapped forms of them
    are refused, so a merchant's URL cannot reach Sera's own network."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return allow_private or (ip.is_global and not ip.is_multicast)


class HostRefusedError(Exception):
    """A merchant-supplied URL's host does not resolve, or resolves inside Sera's network."""


def public_addresses(host: str, port: int, *, allow_private: bool) -> list[str]:
    """What ``host`` resolves to now, every address allowed by ``public_address``: the caller
    connects to one of these (pinned), never resolves again, so DNS rebinding cannot slip by."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise HostRefusedError(f"{host} does not resolve") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses or not all(public_address(a, allow_private=allow_private) for a in addresses):
        raise HostRefusedError(f"{host} resolves to a private, loopback or link-local address")
    return addresses


class OutboundError(Exception):
    def __init__(
        self, message: str, status: int | None = None, body: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.retry_after = retry_after  # seconds the provider asked us to wait (Retry-After)


class PermanentError(OutboundError):
    """The provider refused the request; sending it again will not help."""


class RetryableError(OutboundError):
    """The provider could not be reached or was busy; the same request may succeed later."""


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context a process: loading the CA bundle for each client took 55 ms."""
    return httpx.create_ssl_context()


class HttpClient:
    def __init__(
        self,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(timeout=timeout, transport=transport, verify=tls_context(), follow_redirects=False)
        self.retries = retries
        self.backoff = backoff

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send, retrying what may succeed later; raise PermanentError or RetryableError."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TimeoutException as exc:
                error: OutboundError = RetryableError(f"timeout: {exc.__class__.__name__}")
            except httpx.TransportError as exc:
                error = RetryableError(f"connection failed: {exc.__class__.__name__}")
            else:
                if response.status_code < 400:
                    return response
                message = f"{method} {httpx.URL(url).host} answered {response.status_code}"
                if response.status_code not in RETRYABLE_STATUS:
                    raise PermanentError(message, response.status_code, response.text[:2000])
                error = RetryableError(message, response.status_code, response.text[:2000], _retry_after(response))
            if attempt > self.retries:
                raise error
            log.warning("outbound request retried", extra={"host": httpx.URL(url).host, "attempt": attempt})
            time.sleep(self.backoff * 2 ** (attempt - 1))

    @contextmanager
    def stream(self, method: str, url: str, *, timeout: httpx.Timeout, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed response, sent once (a caller on the line cannot wait for a retry);
        raise PermanentError or RetryableError as ``request`` does, before the body is read."""
        try:
            with self._client.stream(method, url, timeout=timeout, **kwargs) as response:
                if response.status_code >= 400:
                    body = response.read().decode("utf-8", "replace")[:2000]
                    message = f"{method} {httpx.URL(url).host} answered {response.status_code}"
                    kind = RetryableError if response.status_code in RETRYABLE_STATUS else PermanentError
                    raise kind(message, response.status_code, body, _retry_after(response))
                yield response
        except httpx.TimeoutException as exc:
            raise RetryableError(f"timeout: {exc.__class__.__name__}") from None
        except httpx.TransportError as exc:
            raise RetryableError(f"connection failed: {exc.__class__.__name__}") from None

    def close(self) -> None:
        self._client.close()


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (the HTTP-date form is read as no hint)."""
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None
