"""One staff member's CalDAV calendar, through the ``caldav`` package (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import caldav
import requests
from caldav.elements import dav
from caldav.lib import error as dav_error
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth

from sera.adapters.caldav.ical import busy_from, event_ical
from sera.adapters.http import HostRefusedError, public_addresses
from sera.calendars.ports import (
    BusyRead,
    CalendarAccount,
    CalendarAuthError,
    CalendarError,
    CalendarUnreachableError,
    EventDetails,
)

CALENDAR_TYPE = "{urn:ietf:params:xml:ns:caldav}calendar"
T = TypeVar("T")


def _short(text: object) -> str:
    """A server's reason, first line only and short: never a whole body in a log or a page."""
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return first[:120]


def _calling(what: str, call: Callable[[], T]) -> T:
    """Run one exchange with the server, its failures told apart: refused credentials, a
    server that is not there (try later), anything else the server said."""
    try:
        return call()
    except dav_error.AuthorizationError:
        raise CalendarAuthError("the calendar server refused the username or app password") from None
    except dav_error.NotFoundError:
        raise CalendarError(f"{what}: there is no calendar at that URL") from None
    except dav_error.DAVError as exc:
        raise CalendarError(f"{what}: the server said {_short(exc.reason or type(exc).__name__)}") from None
    except CalendarError:
        raise
    except AddressRefusedError as exc:
        raise CalendarError(f"{what}: {exc}") from None
    except Exception as exc:  # the HTTP stack's own errors (refused, reset, timed out, TLS)
        raise CalendarUnreachableError(f"{what}: could not reach the calendar server ({type(exc).__name__})") from None


class AddressRefusedError(requests.ConnectionError):
    """The calendar URL's host resolves to an address Sera does not connect to."""


class GuardedAdapter(HTTPAdapter):
    """Connects only to checked addresses, as the webhook sender does: each request's host is
    resolved here, every address must be public (unless ``allow_private``), and the request goes
    to that address with the host kept for the Host header, TLS name and certificate check, so
    a DNS answer that changes between the check and the connection (rebinding) cannot slip
    through. Redirects come back through here and are checked the same way."""

    allow_private = False  # set once from the settings (``sera.adapters.caldav.wiring``)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = public_addresses(host, port, allow_private=self.allow_private)
        except HostRefusedError as exc:
            raise AddressRefusedError(str(exc)) from None
        pinned = addresses[0] if ":" not in addresses[0] else f"[{addresses[0]}]"
        request.url = urlunsplit(parts._replace(netloc=f"{pinned}:{port}"))
        request.headers["Host"] = host if parts.port is None else f"{host}:{parts.port}"
        return super().send(request, *args, **kwargs)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") == "https":
            name = _host_name(request.headers)
            pool_kwargs["server_hostname"] = name
            pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs


def _host_name(headers: Mapping[str, Any]) -> str:
    host = str(headers.get("Host", ""))
    return host.rsplit(":", 1)[0] if not host.endswith("]") else host


def _client(account: CalendarAccount, timeout: float) -> Any:
    client = caldav.DAVClient(
        url=account.url,
        # credentials on the first request (HTTP Basic, over TLS): asking first costs a round
        # trip, and servers slow every refused attempt down (Radicale by a second)
        auth=HTTPBasicAuth(account.username, account.password),
        timeout=timeout,  # handed to the HTTP stack, which takes seconds as a float
    )
    guarded = GuardedAdapter()
    client.session.mount("https://", guarded)
    client.session.mount("http://", guarded)
    return client


class CaldavCalendar:
    """Implements ``sera.calendars.ports.CalendarClient`` for one calendar collection URL."""

    def __init__(self, account: CalendarAccount, timeout: float) -> None:
        self._client = _calling("opening the calendar", lambda: _client(account, timeout))
        self._calendar = _calling("opening the calendar", lambda: self._client.calendar(url=account.url))

    def check(self) -> None:
        props = _calling("checking the calendar", lambda: self._calendar.get_properties([dav.ResourceType()]))
        kinds = props.get("{DAV:}resourcetype") or []
        if CALENDAR_TYPE not in (kinds if isinstance(kinds, list) else [kinds]):
            raise CalendarError("that URL is not a calendar (give the calendar's own CalDAV URL)")

    def busy(self, start: datetime, end: datetime, zone: ZoneInfo) -> BusyRead:
        found: list[str] = _calling(
            "reading busy times",
            lambda: [obj.data for obj in self._calendar.search(start=start, end=end, event=True, expand=False)],
        )
        return busy_from(found, start, end, zone)

    def put_event(self, event: EventDetails) -> str:
        text = event_ical(event)
        saved = _calling("writing the event", lambda: self._calendar.save_event(ical=text))
        return str(saved.url)

    def _event(self, uid: str) -> Any:
        def find() -> Any:
            try:
                return self._calendar.event_by_uid(uid)
            except dav_error.NotFoundError:
                return None

        return _calling("finding the event", find)

    def has_event(self, uid: str) -> bool:
        return self._event(uid) is not None

    def delete_event(self, uid: str) -> bool:
        found = self._event(uid)
        if found is None:
            return False
        _calling("deleting the event", found.delete)
        return True

    def close(self) -> None:
        self._client.close()


def open_calendar(account: CalendarAccount, timeout: float) -> CaldavCalendar:
    return CaldavCalendar(account, timeout)
