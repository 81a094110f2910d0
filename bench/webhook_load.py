"""Twilio Gather calls under load, open loop and paced like real callers, against `sera serve`.

    .venv/bin/python bench/webhook_load.py [--turns 6] [--pause-ms 3000] [--seconds 30]
        [--processes 2 --database-url postgresql+psycopg://...]

Starts `sera serve` (one process on SQLite in a temp dir by default; or N processes sharing
a PostgreSQL database), the demo shop imported, calls in Gather mode, SERA_TWILIO_AUTH_TOKEN
set, the REST API pointed at a local fake. Calls then arrive at a fixed rate, whatever the
server is doing (open loop): each rings (the incoming-call webhook), takes ``--turns``
speech turns with the caller thinking 0.5-1.5 x ``--pause-ms`` before each, and hangs up
(the status callback), all signed with the SDK's RequestValidator, spread over the
processes. The rate doubles (then is refined halfway) until a turn's p99 passes 100 ms or
a request fails: the report is the highest arrival rate one setup sustains with p99 under
100 ms, in calls and turns per second.

Baseline in the same run: the same open-loop schedule at that rate against
``POST /twilio/bare`` (constant TwiML, no signature, no database): the web stack alone.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
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
MASTER_KEY, SECRET_KEY = new_key_text(), secrets.token_urlsafe(48)
PUBLIC = "http://sera.bench"
P99_GOAL_MS = 100.0
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

    def __init__(self, workdir: Path, api_base: str, database_url: str | None, index: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SERA_ENV": "development",
            "SERA_ENV_FILE": str(workdir / "absent.env"),
            "SERA_DATABASE_URL": database_url or f"sqlite:///{workdir / 'sera.db'}",
            "SERA_KEYSTORE_URL": f"sqlite:///{workdir / 'keys.db'}",
            "SERA_MASTER_KEY": MASTER_KEY,
            "SERA_SECRET_KEY": SECRET_KEY,
            "SERA_PUBLIC_URL": PUBLIC,  # the same for every process: Twilio signs one URL
            "SERA_TWILIO_ACCOUNT_SID": ACCOUNT,
            "SERA_TWILIO_AUTH_TOKEN": TOKEN,
            "SERA_VOICE_MODE": "gather",  # this benchmark measures the webhook-per-turn path
            "SERA_TWILIO_API_BASE": api_base,
        }
        self.log = (workdir / f"server-{index}.log").open("w")
        self.process: subprocess.Popen[bytes] | None = None
        self.first = index == 0

    def sera(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "sera", *args], env=self.env, check=True, capture_output=True)

    def __enter__(self) -> Server:
        if self.first:  # the processes share the database
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

    def __init__(self, base: str, public: str) -> None:
        self.base = public  # what signatures are computed over (SERA_PUBLIC_URL)
        self._local = threading.local()
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


CallDriver = Callable[[Phone, int, argparse.Namespace, Run, float], None]


def open_loop(phones: list[Phone], name: str, one_call: CallDriver, rate: float, args: argparse.Namespace) -> Run:
    """Calls arriving ``rate`` a second for ``--seconds``, each on its own thread, whatever the
    server is doing; the run ends when the last of them hangs up."""
    run = Run(name)
    pause_s = args.pause_ms / 1000
    with ThreadPoolExecutor(max_workers=2000) as pool:
        started, futures, n = time.perf_counter(), [], 0
        while n / rate < args.seconds:
            time.sleep(max(0.0, n / rate - (time.perf_counter() - started)))
            futures.append(pool.submit(one_call, phones[n % len(phones)], next(CALL_NUMBERS), args, run, pause_s))
            n += 1
        for future in futures:
            future.result()
        run.elapsed_s = time.perf_counter() - started
    return run


def sustained(phones: list[Phone], args: argparse.Namespace) -> tuple[float, Run | None]:
    """The highest arrival rate (calls/s) with p99 under the goal and no errors: doubling, then halfway."""
    best: tuple[float, Run | None] = (0.0, None)
    rate, failed = args.start_rate, None
    while failed is None or failed - best[0] > best[0] / 4:
        run = open_loop(phones, f"{rate:g}/s", sera_call, rate, args)
        ok = run.errors == 0 and run.pct(0.99) < P99_GOAL_MS
        print(
            f"  {rate:6.2f} calls/s: {run.turns} turns, p50 {run.pct(0.5):.1f} ms, p99 {run.pct(0.99):.1f} ms, "
            f"{run.errors} errors -> {'ok' if ok else 'over'}",
            flush=True,
        )
        if ok:
            best = (rate, run)
        else:
            failed = rate
        rate = rate * 2 if failed is None else (best[0] + failed) / 2
        if best[0] == 0.0 and failed is not None and failed <= args.start_rate / 8:
            break
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--pause-ms", type=int, default=3000, help="a caller thinks 0.5-1.5x this before each turn")
    parser.add_argument("--seconds", type=float, default=30, help="how long calls keep arriving, per rate tried")
    parser.add_argument("--start-rate", type=float, default=1.0, help="calls per second tried first")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="shared by the processes (PostgreSQL for more than one)")
    args = parser.parse_args()
    if args.processes > 1 and not args.database_url:
        raise SystemExit("several processes need a shared --database-url (PostgreSQL)")
    with tempfile.TemporaryDirectory() as tmp, TwilioServer() as fake, ExitStack() as stack:
        fake.add_account(ACCOUNT, TOKEN)
        servers = [
            stack.enter_context(Server(Path(tmp), fake.url, args.database_url, i)) for i in range(args.processes)
        ]
        phones = [Phone(server.url, PUBLIC) for server in servers]
        backend = "PostgreSQL" if args.database_url else "SQLite"
        print(
            f"{args.processes} `sera serve` process(es) on {backend}; {args.turns} turns a call, "
            f"callers thinking ~{args.pause_ms} ms; calls arriving for {args.seconds:g} s at each rate:"
        )
        open_loop(phones, "warm-up", sera_call, args.start_rate, argparse.Namespace(**{**vars(args), "seconds": 5}))
        rate, run = sustained(phones, args)
        bare = open_loop(phones, "bare", bare_call, max(rate, args.start_rate), args)
    if run is None:
        print(f"no rate tried kept p99 under {P99_GOAL_MS:g} ms")
        return
    print(
        f"sustained: {rate:.2f} calls/s ({rate * args.turns:.0f} turns/s offered) with p99 {run.pct(0.99):.1f} ms "
        f"(p50 {run.pct(0.5):.1f} ms), goal p99 < {P99_GOAL_MS:g} ms"
    )
    print(f"baseline, /twilio/bare on the same schedule: p50 {bare.pct(0.5):.1f} ms, p99 {bare.pct(0.99):.1f} ms")


if __name__ == "__main__":
    main()
