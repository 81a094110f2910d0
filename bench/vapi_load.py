"""Vapi tool calls under load, against a real `sera serve` (one process, SQLite).

    .venv/bin/python bench/vapi_load.py [--concurrency 50] [--requests 2000] [--profile]

Starts `sera serve` on a free localhost port with a temporary database, the demo shop
imported and SERA_VAPI_SECRET set. Then drives POST /vapi/webhook with `tool-calls`
messages (search_knowledge and check_availability, alternating) from N concurrent callers,
each its own Vapi call with fresh tool-call ids, and prints p50/p95/p99 and requests per
second. Baseline in the same run: GET /healthz of the same server at the same concurrency,
which is what the web stack alone costs. Goal: tool-calls p99 under 50 ms.

--profile also runs the same tool calls in this process under cProfile (no HTTP) and prints
where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import logging
import os
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sera.config import new_key_text  # noqa: E402

DEMO = ROOT / "src" / "sera" / "merchants" / "demo-shop.yaml"
SHOP_NUMBER = "+13125550100"
SECRET = "bench-vapi-secret-" + uuid.uuid4().hex
MASTER_KEY, SECRET_KEY = new_key_text(), uuid.uuid4().hex + uuid.uuid4().hex
QUESTIONS = ["do you have parking", "how much is a tune-up", "what is your return policy", "do you rent e-bikes"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SERA_ENV": "development",
        "SERA_ENV_FILE": str(tmp / "sera.env"),
        "SERA_DATABASE_URL": f"sqlite:///{tmp / 'sera.db'}",
        "SERA_KEYSTORE_URL": f"sqlite:///{tmp / 'keys.db'}",
        "SERA_MASTER_KEY": MASTER_KEY,
        "SERA_SECRET_KEY": SECRET_KEY,
        "SERA_VAPI_SECRET": SECRET,
        "SERA_PUBLIC_URL": "http://127.0.0.1",
    }


def start_server(tmp: Path, port: int, extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    sera = str(Path(sys.executable).parent / "sera")
    env = {**server_env(tmp), **(extra or {})}
    subprocess.run([sera, "shop", "import", str(DEMO)], env=env, check=True, capture_output=True)
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen([sera, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"sera serve did not start; see {tmp / 'server.log'}")


def tool_call_message(call_id: str, turn: int) -> dict[str, Any]:
    """A tool-calls message as Vapi sends it, alternating the two tools."""
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    if turn % 2:
        name, arguments = "check_availability", {"service": "Tune-up", "date": tomorrow}
    else:
        name, arguments = "search_knowledge", {"query": QUESTIONS[turn // 2 % len(QUESTIONS)]}
    tool_call = {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
    return {
        "message": {
            "timestamp": int(time.time() * 1000),
            "type": "tool-calls",
            "toolCallList": [tool_call],
            "toolWithToolCallList": [{"type": "function", "function": {"name": name}, "toolCall": tool_call}],
            "call": {"id": call_id, "type": "inboundPhoneCall", "status": "in-progress"},
            "phoneNumber": {"id": "8d2b6c4e-1a3f-4b5c-9e7d-6f8a0b1c2d3e", "number": SHOP_NUMBER},
            "customer": {"number": f"+1312555{1000 + int(call_id[-3:], 16) % 9000:04d}"},
        }
    }


def drive(base: str, concurrency: int, total: int, kind: str) -> tuple[list[float], float, int]:
    """`total` requests from `concurrency` callers, each waiting for its answer before the next.

    Threads with the stdlib's http.client on keep-alive connections, not an async client:
    httpx's async pool is itself the bottleneck past ~10 connections on this kind of box
    (measured: a trivial GET reached 151 req/s at 50 connections).
    """
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    remaining = iter(range(total))
    split = urlsplit(base)
    headers = {"X-Vapi-Secret": SECRET, "Content-Type": "application/json"}

    def caller(index: int) -> None:
        nonlocal errors
        connection = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port or 80, timeout=30)
        call_id = str(uuid.uuid4())[:-3] + f"{index:03x}"
        while True:
            with lock:
                turn = next(remaining, None)
            if turn is None:
                break
            body = None if kind == "healthz" else json.dumps(tool_call_message(call_id, turn))
            started = time.perf_counter()
            try:
                if body is None:
                    connection.request("GET", "/healthz")
                else:
                    connection.request("POST", "/vapi/webhook", body=body, headers=headers)
                response = connection.getresponse()
                text = response.read().decode()
            except (OSError, http.client.HTTPException):
                connection.close()
                with lock:
                    errors += 1
                continue
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += response.status != 200 or (kind == "tool-calls" and '"error"' in text)
        connection.close()

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(caller, range(concurrency)))
    return latencies, time.perf_counter() - began, errors


def report(label: str, latencies: list[float], elapsed: float, errors: int) -> None:
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    print(
        f"{label:<24} n={len(ms):5d}  p50={q[49]:7.1f} ms  p95={q[94]:7.1f} ms  p99={q[98]:7.1f} ms  "
        f"max={ms[-1]:7.1f} ms  {len(ms) / elapsed:7.0f} req/s  errors={errors}"
    )


def profile_in_process(tmp: Path, requests: int) -> None:
    """The webhook's steps for one tool call, in this thread (no HTTP) under cProfile."""
    for key, value in server_env(tmp).items():
        os.environ[key] = value
    from sera.adapters.vapi.events import VapiEvents
    from sera.adapters.vapi.payloads import parse_envelope, parse_message, routing_number
    from sera.adapters.vapi.webhooks import authenticate
    from sera.bootstrap import bootstrap
    from sera.config import load_settings
    from sera.merchants.service import merchant_id_for_number

    logging.disable(logging.CRITICAL)
    sera = bootstrap(load_settings())
    events = VapiEvents(sera)
    headers = {"x-vapi-secret": SECRET}

    def one(call_id: str, turn: int) -> None:
        raw = parse_envelope(json.dumps(tool_call_message(call_id, turn)).encode())
        merchant_id = merchant_id_for_number(sera, str(routing_number(raw)))
        secret = authenticate(sera, merchant_id, headers)
        assert merchant_id is not None and secret is not None
        events.handle(merchant_id, parse_message(raw), secret=secret)

    call_id = str(uuid.uuid4())
    for turn in range(20):
        one(call_id, turn)
    began = time.perf_counter()
    for turn in range(requests):
        one(f"{call_id[:-4]}{turn // 20:04d}", turn)  # 20 tool calls per Vapi call, as in a long call
    print(f"\nIn process, one thread, no HTTP: {(time.perf_counter() - began) / requests * 1000:.2f} ms per tool call")
    profiler = cProfile.Profile()
    profiler.enable()
    for turn in range(requests):
        one(f"{call_id[:-4]}{9000 + turn // 20:04d}", turn)
    profiler.disable()
    sera.close()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sera-vapi-bench-") as name:
        tmp = Path(name)
        port = free_port()
        server = start_server(tmp, port)
        base = f"http://127.0.0.1:{port}"
        try:
            print(f"sera serve on {base}: one process, SQLite, the demo shop")
            drive(base, args.concurrency, 200, "tool-calls")  # warm up: caches, connections
            for concurrency in (1, args.concurrency):
                print(f"-- {concurrency} concurrent")
                for kind, label in (("healthz", "GET /healthz (baseline)"), ("tool-calls", "POST tool-calls")):
                    count = args.requests if concurrency > 1 else args.requests // 4
                    report(label, *drive(base, concurrency, count, kind))
        finally:
            server.terminate()
            server.wait(timeout=10)
        if args.profile:
            profile_in_process(tmp, min(args.requests, 500))


if __name__ == "__main__":
    main()
