"""The fake Twilio (``tests.fakes.twilio_server``) with what crash tests and benchmarks need:
time spent creating a message (or a call), or deleting one, before storing (deleting) it and
after (the answer is not back yet),
recipients Twilio refuses with a given error code (21610: the recipient sent STOP to the
carrier), and answers sent at once (TCP_NODELAY: without it every answer waits 40 ms for
a delayed ACK, which would make the fake, not Sera, the bottleneck). Everything else is
the fake's own behaviour and wire format.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fakes.twilio_server import FakeTwilio, Received, TwilioServer, _Handler, _Server


@dataclass
class Pace:
    before: Callable[[], float] = lambda: 0.0  # seconds before the message is stored
    after: Callable[[], float] = lambda: 0.0  # seconds after it is stored, before the answer
    refuse: dict[str, int] = field(default_factory=dict)  # recipient -> Twilio error code (HTTP 400)


class _PacedHandler(_Handler):
    server: _PacedServer
    disable_nagle_algorithm = True  # answers leave at once (else a delayed ACK costs 40 ms per request)

    def _create_message(self, seen: Received, account: str) -> None:
        time.sleep(self.server.pace.before())
        to = (seen.form.get("To") or [""])[0]
        if to in self.server.pace.refuse:
            self._error(400, self.server.pace.refuse[to], "Attempt to send to unsubscribed recipient")
            return
        super()._create_message(seen, account)

    def _create_call(self, seen: Received, account: str) -> None:
        time.sleep(self.server.pace.before())
        super()._create_call(seen, account)

    def _delete(self, seen: Received, kind: str, account: str, sid: str) -> None:
        time.sleep(self.server.pace.before())
        try:
            super()._delete(seen, kind, account, sid)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client died waiting: the resource stays deleted, as at Twilio

    def _deleted(self) -> None:
        time.sleep(self.server.pace.after())

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        if status == 201:
            time.sleep(self.server.pace.after())
        try:
            super()._answer(status, payload)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client gave up or died waiting: the message stays created, as at Twilio


class _PacedServer(_Server):
    def __init__(self, state: FakeTwilio, pace: Pace) -> None:
        ThreadingHTTPServer.__init__(self, ("127.0.0.1", 0), _PacedHandler)
        self.state = state
        self.pace = pace

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client killed mid-request: what it sent is handled like Twilio would, or not at all
        super().handle_error(request, client_address)


class PacedTwilioServer(TwilioServer):
    def __init__(self, pace: Pace | None = None) -> None:  # replaces the fake's server, keeps its state and API
        self.state = FakeTwilio()
        self._server = _PacedServer(self.state, pace or Pace())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
