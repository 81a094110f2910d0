"""ConversationRelay sessions under load, against a real `sera serve` (one process, SQLite).

    .venv/bin/python bench/relay_load.py [--sessions 200] [--seconds 60] [--processes 2 --database-url URL]

Starts `sera serve` on a free localhost port with a temporary database and the demo shop,
in relay mode, with a Twilio auth token. Then plays Twilio for N concurrent calls, started
evenly over the first ten seconds: each posts the signed incoming-call webhook, opens the
WebSocket the TwiML names (signed over its wss URL), sends `setup`, and then, open loop,
sends a `prompt` every 3 to 8 seconds (uniformly random), like a caller taking turns, for
the rest of the run. Measured: the time from a `prompt` leaving the caller to Sera's first
`text` frame arriving (p50, p99), and the server's resident memory per open session (what
RSS grows by from half the sessions open to all of them, over the sessions opened between).
Baseline in the same run: a WebSocket ping/pong on the same sockets, which is what the
transport alone costs.
Targets: prompt to first text p50 < 10 ms, p99 < 50 ms; < 200 KB per open session.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.agent_turn import pct  # noqa: E402
from bench.vapi_load import free_port, start_server  # noqa: E402

TOKEN = uuid.uuid4().hex
ACCOUNT = "AC" + uuid.uuid4().hex
SHOP = "+13125550100"
PUBLIC = "http://sera.bench"
PROMPTS = [
    "what time do you close on thursday",
    "do you have parking",
    "how much is a tune-up",
    "are you open on sunday",
    "what's your return policy",
]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def incoming_call(client: httpx.AsyncClient, port: int, call_sid: str, caller: str) -> tuple[str, str]:
    """Twilio's signed incoming-call webhook to the process on ``port``; returns the WebSocket
    URL the TwiML names (what is signed) and where that process listens for it."""
    params = {"CallSid": call_sid, "AccountSid": ACCOUNT, "From": caller, "To": SHOP, "CallStatus": "ringing"}
    params.update({"Direction": "inbound", "ApiVersion": "2010-04-01", "Called": SHOP, "Caller": caller})
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/twilio/voice", params)
    response = await client.post(
        f"http://127.0.0.1:{port}/twilio/voice", data=params, headers={"X-Twilio-Signature": signature}
    )
    found = re.search(r'url="(ws://[^"]+)"', response.text)
    if found is None:
        raise SystemExit(f"no ConversationRelay in the answer: {response.text[:300]}")
    named = found.group(1)
    return named, named.replace(PUBLIC.replace("http://", "ws://"), f"ws://127.0.0.1:{port}")


async def first_text(socket: ClientConnection) -> None:
    """Wait for Sera's first text frame of a turn, then drain the turn."""
    first = True
    while True:
        frame = json.loads(await socket.recv())
        if first and frame.get("type") == "text":
            return
        first = False


async def warm_up(client: httpx.AsyncClient, port: int) -> None:
    """One whole call before the measured ones: the shop is loaded once per process."""
    call_sid, caller = "CA" + uuid.uuid4().hex, "+13125559999"
    named, url = await incoming_call(client, port, call_sid, caller)
    signature = RequestValidator(TOKEN).compute_signature(named, {})
    async with connect(url, additional_headers={"X-Twilio-Signature": signature}) as socket:
        await socket.send(json.dumps({"type": "setup", "callSid": call_sid, "from": caller, "to": SHOP}))
        for line in PROMPTS:
            await socket.send(json.dumps({"type": "prompt", "voicePrompt": line, "last": True}))
            while not (frame := json.loads(await socket.recv())).get("last"):
                pass
            assert frame.get("type") == "text"


class Session:
    def __init__(self, index: int, port: int, until: float) -> None:
        self.index = index
        self.port = port
        self.until = until
        self.latencies: list[float] = []
        self.pings: list[float] = []
        self.socket: ClientConnection | None = None

    async def run(self, client: httpx.AsyncClient, opened: asyncio.Event, ready: list[int]) -> None:
        call_sid = "CA" + uuid.uuid4().hex
        caller = f"+1312555{1000 + self.index:04d}"
        named, url = await incoming_call(client, self.port, call_sid, caller)
        signature = RequestValidator(TOKEN).compute_signature(named, {})
        async with connect(url, additional_headers={"X-Twilio-Signature": signature}, max_size=2**20) as socket:
            self.socket = socket
            await socket.send(json.dumps({"type": "setup", "callSid": call_sid, "from": caller, "to": SHOP}))
            ready.append(self.index)
            await opened.wait()
            rng = random.Random(self.index)
            due = time.monotonic()
            while True:
                due += rng.uniform(3, 8)  # open loop: turns are due on the caller's clock, not after replies
                if due > self.until:
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                prompt = {"type": "prompt", "voicePrompt": rng.choice(PROMPTS), "lang": "en-US", "last": True}
                started = time.perf_counter()
                await socket.send(json.dumps(prompt))
                await first_text(socket)
                self.latencies.append((time.perf_counter() - started) * 1000)
                while True:  # the rest of the turn, up to its last token
                    frame = json.loads(await socket.recv())
                    if frame.get("type") == "text" and frame.get("last"):
                        break
                started = time.perf_counter()
                await (await socket.ping())
                self.pings.append((time.perf_counter() - started) * 1000)


async def main_async(args: argparse.Namespace) -> None:
    if args.processes > 1 and not args.database_url:
        raise SystemExit("several processes need a shared --database-url (PostgreSQL)")
    with tempfile.TemporaryDirectory() as tmp:
        ports = [free_port() for _ in range(args.processes)]
        extra = {
            "SERA_TWILIO_ACCOUNT_SID": ACCOUNT,
            "SERA_TWILIO_AUTH_TOKEN": TOKEN,
            "SERA_PUBLIC_URL": PUBLIC,  # one URL for every process: Twilio signs it
            "SERA_VOICE_MODE": "relay",
        }
        if args.database_url:
            extra["SERA_DATABASE_URL"] = args.database_url
        servers = [start_server(Path(tmp), port, extra) for port in ports]
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                for port in ports:
                    await warm_up(client, port)  # one-time work (the shop's index) is not per session
                until = time.monotonic() + args.seconds
                sessions = [Session(i, ports[i % len(ports)], until) for i in range(args.sessions)]
                opened, ready = asyncio.Event(), []
                tasks = []
                for session in sessions:
                    tasks.append(asyncio.create_task(session.run(client, opened, ready)))
                    await asyncio.sleep(10 / args.sessions)  # arrivals spread over ten seconds
                half = args.sessions // 2
                while len(ready) < half:
                    await asyncio.sleep(0.05)
                at_half = sum(rss_kb(server.pid) for server in servers)
                while len(ready) < args.sessions:
                    await asyncio.sleep(0.05)
                at_full = sum(rss_kb(server.pid) for server in servers)
                per_session = (at_full - at_half) / (args.sessions - half)
                print(f"[memory] server RSS {at_half} KB with {half} sessions open, {at_full} KB with {args.sessions}")
                opened.set()
                await asyncio.gather(*tasks)
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)
    latencies = [x for s in sessions for x in s.latencies]
    pings = [x for s in sessions for x in s.pings]
    print(f"[transport baseline: ping/pong on the same sockets] {len(pings)}: p50 {statistics.median(pings):.2f} ms")
    print(
        f"[prompt -> first text frame] {len(latencies)} turns over {args.sessions} open sessions, "
        f"{args.processes} process(es) on {'PostgreSQL' if args.database_url else 'SQLite'}: "
        f"p50 {statistics.median(latencies):.2f} ms, p99 {pct(latencies, 99):.2f} ms, max {max(latencies):.2f} ms"
    )
    print(f"[memory] {per_session:.0f} KB resident per open session (RSS growth from half to all open)")
    print("targets: p50 < 10 ms, p99 < 50 ms; < 200 KB per open session")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--database-url", default=None, help="e.g. PostgreSQL (default: a temporary SQLite)")
    parser.add_argument("--processes", type=int, default=1, help="web processes sharing --database-url")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
