"""Twilio webhooks under load: simulated phone calls against a real `sera serve`.

    .venv/bin/python bench/webhook_load.py [--calls 50] [--turns 6] [--rounds 3]

Starts `sera serve` as a subprocess (one process, SQLite in a temp dir, the demo shop
imported, SERA_TWILIO_AUTH_TOKEN set, SERA_PUBLIC_URL = the server's own URL, the REST
API pointed at a local fake, so nothing reaches the internet), then drives
``--calls`` concurrent calls, each: the incoming-call webhook, ``--turns`` speech
turns, the completed status callback, all signed with the SDK's RequestValidator.

The baseline, in the same run and under the same concurrency, sends the same number
of requests per call to ``POST /twilio/bare`` on the same server: constant TwiML, no
signature, no database. It measures what the web stack itself costs.

A second reference, ``signed``: the same signed requests to ``/twilio/voice/dial-end``
(a transfer's end: signature checked, no database), which is what every Twilio route
costs before Sera's own work (the worker thread a blocking route runs on, the form, the
signature, the TwiML).

Prints per-turn p50/p99 latency and turns per second for each, and the ratios.
Goal: Sera's p99 under 100 ms and its turns/s at least 30% of the baseline's.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.twilio_server import TwilioServer, new_sid  # noqa: E402

from sera.config import new_key_text  # noqa: E402

DEMO = ROOT / "src" / "sera" / "merchants" / "demo-shop.yaml"
SHOP = "+13125550100"
TOKEN = secrets.token_hex(16)
ACCOUNT = new_sid("AC")
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]
HOURS = ["10 am", "11 am", "noon", "1 pm", "2 pm", "3 pm", "4 pm", "5 pm"]


def lines_for(call: int, turns: int) -> list[str]:
    """A caller asks a question, books (each call its own slot) and says goodbye."""
    script = [
        "do you have parking",
        f"I'd like to book a tune up next {DAYS[call % len(DAYS)]}",
        HOURS[(call // len(DAYS)) % len(HOURS)],
        f"Caller Number{call}",
        "yes",
        "no that's all",
    ]
    while len(script) < turns:
        script.insert(1, "what time do you close on thursday")
    return script[:turns]


CALL_NUMBERS = itertools.count()  # each call its own caller and booking slot


def caller(call: int) -> str:
    return f"+1312555{2000 + call % 7000:04d}"


@dataclass
class Run:
    name: str
    turn_ms: list[float] = field(default_factory=list)
    turns: int = 0
    elapsed_s: float = 0.0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def per_second(self) -> float:
        return self.turns / self.elapsed_s if self.elapsed_s else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.turn_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`sera serve` in a subprocess with its own temp directory."""

    def __init__(self, workdir: Path, api_base: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SERA_ENV": "development",
            "SERA_ENV_FILE": str(workdir / "absent.env"),
            "SERA_DATABASE_URL": f"sqlite:///{workdir / 'sera.db'}",
            "SERA_KEYSTORE_URL": f"sqlite:///{workdir / 'keys.db'}",
            "SERA_MASTER_KEY": new_key_text(),
            "SERA_SECRET_KEY": secrets.token_urlsafe(48),
            "SERA_PUBLIC_URL": self.url,
            "SERA_TWILIO_ACCOUNT_SID": ACCOUNT,
            "SERA_TWILIO_AUTH_TOKEN": TOKEN,
            "SERA_VOICE_MODE": "gather",  # this benchmark measures the webhook-per-turn path
            "SERA_TWILIO_API_BASE": api_base,
        }
        self.log = (workdir / "server.log").open("w")
        self.process: subprocess.Popen[bytes] | None = None

    def sera(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "sera", *args], env=self.env, check=True, capture_output=True)

    def __enter__(self) -> Server:
        self.sera("migrate")
        self.sera("shop", "import", str(DEMO))
        command = [sys.executable, "-m", "sera", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(command, env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("sera serve did not start; see server.log")

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.log.close()


class Phone:
    """Twilio's side of one call: signed form posts on a keep-alive connection (one per thread).

    Threads with the stdlib's http.client, not an async client: on this kind of box the
    client must not be the bottleneck, and httpx's async pool slows down past ~10
    connections (measured: 150 req/s at 50 connections, against ~1,700 with threads).
    """

    _local = threading.local()

    def __init__(self, base: str) -> None:
        self.base = base
        self.validator = RequestValidator(TOKEN)
        split = urlsplit(base)
        self.host, self.port = split.hostname or "127.0.0.1", split.port or 80

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        return connection

    def post(self, path: str, params: dict[str, str], *, signed: bool = True) -> int:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signed:
            headers["X-Twilio-Signature"] = self.validator.compute_signature(self.base + path, params)
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request("POST", path, body=urlencode(params), headers=headers)
                response = connection.getresponse()
                response.read()
                return response.status
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                connection.close()  # the server closed an idle keep-alive connection: open a new one
                self._local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def call_params(sid: str, call: int, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "From": caller(call),
        "To": SHOP,
        "Called": SHOP,
        "Caller": caller(call),
        **extra,
    }


def timed(run: Run, send: Callable[[], int]) -> None:
    started = time.perf_counter()
    status = send()
    elapsed = (time.perf_counter() - started) * 1000
    with run.lock:
        run.turn_ms.append(elapsed)
        run.turns += 1
        run.errors += status >= 400


def think(pause_s: float, call: int, turn: int) -> None:
    """Real callers are not in step: each pause is 0.5-1.5x the pause, the same in every run."""
    if pause_s:
        time.sleep(pause_s * random.Random(call * 100 + turn).uniform(0.5, 1.5))


def sera_call(phone: Phone, call: int, args: argparse.Namespace, run: Run, pause_s: float) -> None:
    sid = new_sid("CA")
    think(pause_s, call, -1)  # calls do not all ring at once either
    errors = phone.post("/twilio/voice", call_params(sid, call, CallStatus="ringing")) >= 400
    for turn, line in enumerate(lines_for(call, args.turns)):
        think(pause_s, call, turn)  # the caller listening to the last answer, then speaking
        params = call_params(sid, call, SpeechResult=line, Confidence="0.92")
        timed(run, partial(phone.post, "/twilio/voice/turn", params))
    status = call_params(sid, call, CallStatus="completed", CallDuration=str(30 + 10 * args.turns))
    errors |= phone.post("/twilio/voice/status", status) >= 400
    with run.lock:
        run.errors += errors


def bare_call(phone: Phone, call: int, args: argparse.Namespace, run: Run, pause_s: float) -> None:
    """The same number of requests per call, to the constant endpoint."""
    think(pause_s, call, -1)
    phone.post("/twilio/bare", {}, signed=False)
    for turn in range(args.turns):
        think(pause_s, call, turn)
        timed(run, partial(phone.post, "/twilio/bare", {"SpeechResult": "hello"}, signed=False))
    phone.post("/twilio/bare", {}, signed=False)


def signed_call(phone: Phone, call: int, args: argparse.Namespace, run: Run, pause_s: float) -> None:
    """The same number of signed requests to a Twilio route that needs no database (a transfer's
    end): the web stack plus what every Twilio route costs before Sera's own work."""
    sid = new_sid("CA")
    think(pause_s, call, -1)
    ended = call_params(sid, call, DialCallStatus="completed")
    phone.post("/twilio/voice/dial-end", ended)
    for turn in range(args.turns):
        think(pause_s, call, turn)
        timed(run, partial(phone.post, "/twilio/voice/dial-end", ended))
    phone.post("/twilio/voice/dial-end", ended)


CallDriver = Callable[[Phone, int, argparse.Namespace, Run, float], None]


def drive(server: Server, name: str, one_call: CallDriver, args: argparse.Namespace, *, pause_s: float = 0.0) -> Run:
    """A warm-up wave of concurrent calls, then the timed waves (one when paced)."""
    run = Run(name)
    phone = Phone(server.url)
    with ThreadPoolExecutor(max_workers=args.calls) as pool:

        def wave(into: Run) -> None:
            numbers = [next(CALL_NUMBERS) for _ in range(args.calls)]
            list(pool.map(lambda n: one_call(phone, n, args, into, pause_s), numbers))

        wave(Run("warm-up"))
        started = time.perf_counter()
        for _ in range(args.rounds if pause_s == 0 else 1):
            wave(run)
        run.elapsed_s = time.perf_counter() - started
    return run


def report(sera: Run, bare: Run, signed: Run, paced: Run | None, args: argparse.Namespace) -> None:
    print(f"{args.calls} concurrent calls x {args.turns} turns x {args.rounds} rounds, one `sera serve`, SQLite")
    print(f"{'':<8}{'turns':>7}{'p50 ms':>9}{'p99 ms':>9}{'turns/s':>10}{'errors':>8}")
    for run in (sera, bare, signed):
        print(
            f"{run.name:<8}{run.turns:>7}{run.pct(0.50):>9.1f}{run.pct(0.99):>9.1f}"
            f"{run.per_second:>10.0f}{run.errors:>8}"
        )
    ratio = sera.per_second / bare.per_second if bare.per_second else float("nan")
    print(f"Sera's turns/s are {ratio:.0%} of the bare endpoint's (goal: at least 30%)")
    ceiling = signed.per_second / bare.per_second if bare.per_second else float("nan")
    print(
        f"A signed Twilio request that needs no database (worker thread, form, signature, TwiML) "
        f"runs at {ceiling:.0%} of the bare endpoint's rate: the ceiling of any Twilio route here"
    )
    mean = statistics.fmean(sera.turn_ms)
    print(f"Sera's p99 per turn: {sera.pct(0.99):.1f} ms (goal: under 100 ms); mean {mean:.1f} ms")
    if paced is not None:
        print(
            f"Paced like real callers (about {args.pause_ms} ms between an answer and the next turn), "
            f"{args.calls} concurrent calls: p50 {paced.pct(0.5):.1f} ms, p99 {paced.pct(0.99):.1f} ms, "
            f"{paced.per_second:.0f} turns/s, {paced.errors} errors"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pause-ms", type=int, default=2000, help="caller pause in the paced run; 0 skips it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, TwilioServer() as fake:
        fake.add_account(ACCOUNT, TOKEN)
        with Server(Path(tmp), fake.url) as server:
            sera = drive(server, "sera", sera_call, args)
            bare = drive(server, "bare", bare_call, args)
            signed = drive(server, "signed", signed_call, args)
            paced = drive(server, "paced", sera_call, args, pause_s=args.pause_ms / 1000) if args.pause_ms else None
            solo = drive(server, "solo", sera_call, argparse.Namespace(**{**vars(args), "calls": 1, "rounds": 10}))
    report(sera, bare, signed, paced, args)
    print(f"One call at a time (what a turn costs the server): p50 {solo.pct(0.5):.1f} ms, p99 {solo.pct(0.99):.1f} ms")


if __name__ == "__main__":
    main()
