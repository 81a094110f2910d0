"""Signed webhooks from the job queue to a local receiver that verifies every signature.

    .venv/bin/python bench/webhook_delivery.py [--rate 200] [--seconds 20] [--backlog 4000]
        [--workers 4] [--producers 2] [--outage-events 720]

Separate processes, as deployed: a receiver (a threaded HTTP/1.1 server that checks each
request with ``standardwebhooks`` and notes when it arrived), ``--producers`` processes (web
processes, say) that queue events on a shared schedule at ``--rate`` a second whatever the
others are doing (open loop: ``webhooks.emit`` in a committed transaction, one delivery per
event), and ``sera worker`` (Huey on the embedded SQLite queue, ``--workers`` threads) that
delivers them through the real job path.

- paced: for each event, the time from its commit to the receiver's verified arrival;
  deliveries/s sustained while events come at the offered rate;
- drain: a backlog queued while no worker runs, then emptied by one ``sera worker``;
- outage: the receiver answers 503 for an hour while events keep coming (one every five
  seconds of Sera's clock, which the bench moves forward minute by minute, running the
  minutely sweep and the delivery jobs as the workers would), then recovers: every event
  arrives, verified, exactly once per ``webhook-id``; how long after the recovery the last
  one took.

Baseline in the same run: the same receiver hit by the same client (Sera's sender: the
guarded HTTP client, signing), from as many threads as the worker has, no queue and no
database.

Targets: >= 200 deliveries/s; event -> delivery p99 < 2 s at 200/s; an hour down delays and
loses nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.agent_turn import DEMO, make_sera, pct  # noqa: E402
from standardwebhooks import Webhook  # noqa: E402
from standardwebhooks.webhooks import WebhookVerificationError  # noqa: E402

from sera.adapters.webhooks.sender import StandardWebhooksSender, guarded_http  # noqa: E402
from sera.integrations import webhooks  # noqa: E402
from sera.storage.models import WebhookDelivery  # noqa: E402

EVENT = "ticket.updated"


# -- the receiver -------------------------------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    """The merchant's code: verifies, notes '<bench number> <webhook-id> <arrival>' per delivery,
    answers 204 (or 503 while ``down``); a request that does not verify is counted as forged."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, port: int, secret: str, out: Any, verifier: type[Webhook] = Webhook) -> None:
        self.webhook = verifier(secret)
        self.out = out
        self.down = False
        self.forged = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a sender keeps its connection
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server = self.server
        if server.down:
            self._answer(503)
            return
        try:
            event = server.webhook.verify(body, dict(self.headers.items()))
        except WebhookVerificationError:
            with server.lock:
                server.forged += 1
            self._answer(400)
            return
        with server.lock:
            server.out.write(f"{event['data']['number']} {self.headers['webhook-id']} {time.time()}\n")
        self._answer(204)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def serve(port: int, secret: str, log: Path) -> None:
    """The receiver's process."""
    with log.open("a", buffering=1) as out:
        Receiver(port, secret, out).serve_forever()


def arrivals(log: Path) -> dict[int, list[tuple[str, float]]]:
    found: dict[int, list[tuple[str, float]]] = {}
    for line in log.read_text().splitlines():
        number, webhook_id, at = line.split()
        found.setdefault(int(number), []).append((webhook_id, float(at)))
    return found


# -- the producers --------------------------------------------------------------------------------


def produce(first: int, step: int, total: int, rate: float, go: Path, merchant_id: str, out: Path) -> None:
    """A producer process: once loaded, says so and waits for the start time (in ``go``), then
    queues events ``first``, ``first + step``, ... on the shared schedule (``rate`` a second from
    then; 0 for as fast as it can), each in its own transaction."""
    from sera.bootstrap import bootstrap
    from sera.config import load_settings
    from sera.jobs.wiring import build_jobs

    sera = bootstrap(load_settings())
    build_jobs(sera)  # this process queues; `sera worker` runs the jobs
    go.with_suffix(f".ready{first}").touch()
    while not go.exists() or not go.read_text():
        time.sleep(0.01)
    start_at = float(go.read_text())
    with out.open("a", buffering=1) as log:
        for number in range(first, total, step):
            if rate:
                wait = start_at + number / rate - time.time()
                if wait > 0:
                    time.sleep(wait)
            with sera.uow(merchant_id) as uow:
                webhooks.emit(uow, EVENT, {"id": f"tkt_bench{number}", "number": number, "status": "resolved"})
                uow.commit()
            log.write(f"{number} {time.time()}\n")
    sera.close()


def run_producers(work: Path, env: dict[str, str], merchant_id: str, total: int, rate: float, count: int) -> float:
    """``count`` producer processes share ``total`` events, starting together once all have
    loaded (on a busy machine that takes seconds); returns when they are done: the start time."""
    go = work / f"go-{time.time_ns()}"
    args = [str(total), str(rate), str(go), merchant_id]
    producers = [
        subprocess.Popen([sys.executable, __file__, "--produce", str(i), str(count), *args], env=env)
        for i in range(count)
    ]
    while not all(go.with_suffix(f".ready{i}").exists() for i in range(count)):
        if any(p.poll() is not None for p in producers):
            raise SystemExit("a producer process failed to start")
        time.sleep(0.05)
    start_at = time.time() + 0.2
    go.write_text(str(start_at))
    for producer in producers:
        producer.wait()
    return start_at


def committed(work: Path) -> dict[int, float]:
    lines = (work / "committed.log").read_text().splitlines()
    return {int(n): float(at) for n, at in (line.split() for line in lines)}


STARTED: list[subprocess.Popen[bytes]] = []  # stopped at the end, whatever happened


def start_worker(env: dict[str, str], workers: int) -> subprocess.Popen[bytes]:
    worker = subprocess.Popen(
        [sys.executable, "-m", "sera", "worker", "--workers", str(workers)], env=env, stderr=subprocess.DEVNULL
    )
    STARTED.append(worker)
    return worker


def warm_worker(work: Path, env: dict[str, str], merchant_id: str, workers: int, log: Path) -> subprocess.Popen[bytes]:
    """``sera worker``, once it has delivered a first event (loaded and consuming); the logs emptied."""
    worker = start_worker(env, workers)
    run_producers(work, env, merchant_id, 1, 0, 1)
    settle(log, 1)
    log.write_text("")  # the receiver appends: what it writes next starts the file again
    (work / "committed.log").unlink()
    return worker


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


def settle(log: Path, expected: int, patience: float = 120) -> None:
    deadline = time.time() + patience
    while len(arrivals(log)) < expected and time.time() < deadline:
        time.sleep(0.2)


# -- the baseline -------------------------------------------------------------------------------------


def baseline(url: str, secret: str, count: int, threads: int) -> float:
    """Deliveries per second from Sera's own sender straight to the receiver: no queue, no database."""
    sender = StandardWebhooksSender(guarded_http(allow_private=True))
    body = json.dumps({"type": EVENT, "timestamp": "", "data": {"id": "tkt_base", "number": -1}})

    def one(i: int) -> int:
        return sender.deliver(url, [secret], f"msg_base{i}", datetime.now(UTC), body)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        statuses = list(pool.map(one, range(count)))
    elapsed = time.perf_counter() - started
    assert set(statuses) == {204}, set(statuses)
    return count / elapsed


# -- an hour down, on Sera's clock --------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def outage(work: Path, events: int) -> dict[str, Any]:
    """The receiver down for an hour of Sera's clock while ``events`` come (evenly), then up: each
    minute the sweep queues what is due and the delivery jobs run, as the workers would."""
    from sera.bootstrap import bootstrap
    from sera.jobs.wiring import _webhooks_due, build_jobs

    logging.getLogger("sera.webhooks").setLevel(logging.ERROR)  # a warning per failed attempt, by design
    work.mkdir(parents=True, exist_ok=True)
    seeded, merchant_id = make_sera(work, DEMO.read_text())
    settings = seeded.settings.model_copy(
        update={"jobs_path": work / "outage-jobs.db", "webhooks_allow_private": True, "redis_url": None}
    )
    seeded.close()
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    sera = bootstrap(settings, clock=clock)
    jobs = build_jobs(sera, name="bench-outage")

    class OnSerasClock(Webhook):
        # the library's tolerance, on Sera's clock (its name-mangled check, overridden)
        def _Webhook__verify_timestamp(self, header: str) -> datetime:  # noqa: N802
            stamp = datetime.fromtimestamp(float(header), tz=UTC)
            if abs(stamp - clock()) > timedelta(minutes=5):
                raise WebhookVerificationError("Message timestamp too old or too new")
            return stamp

    log = work / "outage.log"
    out = log.open("a", buffering=1)
    port = free_port()
    with sera.uow(merchant_id) as uow:
        _, secret = webhooks.create_endpoint(
            uow, f"http://127.0.0.1:{port}/hooks", [EVENT], actor="bench", allow_private=True, require_https=False
        )
        uow.commit()
    receiver = Receiver(port, secret, out, OnSerasClock)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    receiver.down = True
    began = clock()
    every = timedelta(hours=1) / events
    number, attempts = 0, 0
    wall = time.perf_counter()
    minute = 0
    while True:
        minute += 1
        step_end = began + timedelta(minutes=minute)
        while number < events and began + every * number < step_end:  # the events of this minute
            clock.now = began + every * number
            with sera.uow(merchant_id) as uow:
                webhooks.emit(uow, EVENT, {"id": f"tkt_bench{number}", "number": number, "status": "resolved"})
                uow.commit()
            number += 1
        clock.now = step_end
        if clock() - began >= timedelta(hours=1):
            receiver.down = False
        _webhooks_due(sera)  # the minutely sweep
        attempts += jobs.run_pending(limit=100_000)
        if not receiver.down and len(arrivals(log)) >= events:
            break
        if clock() - began > timedelta(hours=6):
            break
    out.close()
    receiver.shutdown()
    got = arrivals(log)
    with sera.uow(merchant_id, readonly=True) as reader:
        statuses: dict[str, int] = {}
        for d in reader.session.query(WebhookDelivery).all():
            statuses[d.status] = statuses.get(d.status, 0) + 1
    sera.close()
    return {
        "events": events,
        "arrived": len(got),
        "twice": sum(len(v) > 1 for v in got.values()),
        "ids": len({w for v in got.values() for w, _ in v}),
        "forged": receiver.forged,
        "attempts": attempts,
        "last_after_recovery_min": (clock() - (began + timedelta(hours=1))).total_seconds() / 60,
        "statuses": statuses,
        "wall_s": time.perf_counter() - wall,
    }


# -- the run ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the receiver did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200.0, help="events a second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--backlog", type=int, default=4000, help="events queued with no worker, then drained")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--outage-events", type=int, default=720, help="events during the hour down (0: skip)")
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "SECRET", "LOG"), help=argparse.SUPPRESS)
    parser.add_argument("--produce", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], Path(args.serve[2]))
        return
    if args.produce:
        first, step, total, rate, go, merchant_id = args.produce
        out = Path(os.environ["BENCH_COMMITTED"])
        produce(int(first), int(step), int(total), float(rate), Path(go), merchant_id, out)
        return
    total = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port, log = free_port(), work / "arrivals.log"
        log.touch()
        url = f"http://127.0.0.1:{port}/hooks/sera"
        sera, merchant_id = make_sera(work, DEMO.read_text())
        with sera.uow(merchant_id) as uow:
            _, secret = webhooks.create_endpoint(
                uow, url, [EVENT], actor="bench", allow_private=True, require_https=False
            )
            uow.commit()
        assert sera.settings.master_key is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("SERA_")} | {
            "SERA_ENV": "test",
            "SERA_DATABASE_URL": sera.settings.database_url,
            "SERA_KEYSTORE_URL": sera.settings.keystore_url,
            "SERA_MASTER_KEY": sera.settings.master_key.get_secret_value(),
            "SERA_JOBS_PATH": str(work / "jobs.db"),
            "SERA_WEBHOOKS_ALLOW_PRIVATE": "true",
            "SERA_LOG_LEVEL": "ERROR",
            "SERA_ENV_FILE": str(work / "none.env"),
            "BENCH_COMMITTED": str(work / "committed.log"),
        }
        sera.close()
        receiver = subprocess.Popen([sys.executable, __file__, "--serve", str(port), secret, str(log)])
        try:
            wait_for(port)
            plain = baseline(url, secret, 2000, args.workers)
            log.write_text("")  # the baseline's lines go
            # paced: events at the offered rate, the worker taking them as they come
            worker = warm_worker(work, env, merchant_id, args.workers, log)
            started = run_producers(work, env, merchant_id, total, args.rate, args.producers)
            produced = max(committed(work).values()) - started
            settle(log, total)
            stop(worker)
            paced, committed_at = arrivals(log), committed(work)
            # drain: a backlog queued while no worker runs, then one worker empties it
            (work / "committed.log").unlink()
            log.write_text("")
            run_producers(work, env, merchant_id, args.backlog, 0, args.producers)
            worker = start_worker(env, args.workers)
            settle(log, args.backlog)
            stop(worker)
            drained = arrivals(log)
        finally:
            for process in [receiver, *STARTED]:
                if process.poll() is None:
                    stop(process)
        down = outage(work / "outage", args.outage_events) if args.outage_events else None
    report(plain, args, total, produced, paced, committed_at, drained, down)


def report(
    plain: float,
    args: argparse.Namespace,
    total: int,
    produced: float,
    paced: dict[int, list[tuple[str, float]]],
    committed_at: dict[int, float],
    drained: dict[int, list[tuple[str, float]]],
    down: dict[str, Any] | None,
) -> None:
    latencies = [times[0][1] - committed_at[n] for n, times in paced.items() if n in committed_at]
    firsts = sorted(times[0][1] for times in paced.values())
    window = firsts[-1] - firsts[0] if len(firsts) > 1 else float("nan")
    twice = sum(len(t) > 1 for t in paced.values()) + sum(len(t) > 1 for t in drained.values())
    drained_at = sorted(t[0][1] for t in drained.values())
    drain_rate = (len(drained_at) - 1) / (drained_at[-1] - drained_at[0]) if len(drained_at) > 1 else float("nan")
    print(
        f"[baseline: Sera's sender straight to the receiver, {args.workers} threads, no queue] {plain:.0f} deliveries/s"
    )
    print(
        f"[paced] {total} events offered at {args.rate:.0f}/s by {args.producers} processes "
        f"({total / produced:.0f}/s achieved): {len(paced)} delivered and verified at {len(paced) / window:.0f}/s; "
        f"event -> delivery p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {pct(latencies, 99) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms"
    )
    print(
        f"[drain] a backlog of {args.backlog}: sera worker ({args.workers} threads) delivered "
        f"{len(drained)} at {drain_rate:.0f} deliveries/s; delivered twice (both runs): {twice}"
    )
    if down is not None:
        print(
            f"[outage] receiver down for an hour of Sera's clock, {down['events']} events meanwhile: "
            f"{down['arrived']} arrived verified ({down['ids']} webhook-ids, {down['twice']} twice, "
            f"{down['forged']} failed verification) after {down['attempts']} attempts; the last "
            f"{down['last_after_recovery_min']:.0f} min after the receiver came back; rows {down['statuses']} "
            f"({down['wall_s']:.0f} s of wall time)"
        )
    print("targets: >= 200 deliveries/s; event -> delivery p99 < 2000 ms at 200/s; an hour down loses nothing")


if __name__ == "__main__":
    main()
