"""Email to the business from the job queue to a real local SMTP server, under paced load.

    .venv/bin/python bench/mail.py [--rate 100] [--seconds 20] [--backlog 3000] [--workers 4]
        [--producers 2] [--database-url postgresql+psycopg://.../scratch --redis-url redis://...]

Separate processes, as deployed: ``--producers`` processes (web processes, say) open tickets
on a shared schedule at ``--rate`` a second whatever the others are doing (open loop; each
ticket is a ``ticket_created`` notification to the shop's email, queued in the ticket's
transaction); ``sera worker`` takes the mail from the queue (the embedded SQLite queue, or
Redis) and hands it to an SMTP server (aiosmtpd) in its own process, which notes when each
message arrived.

- paced: for each mail, the time from its event's commit to the server's acceptance;
- drain: a backlog queued while no worker runs, then emptied by one ``sera worker``: the
  rate the queue delivers at;
- every mail counted once at the server: none lost, none twice.

Baseline in the same run: the same server, messages handed to it one by one through a
single plain ``smtplib`` connection, no queue and no database (the SMTP exchange alone).

Targets: >= 100 messages/s from the queue; a notification reaches the server < 2 s after its
event (p99) at that rate; none lost, none twice.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.agent_turn import DEMO, make_sera, pct  # noqa: E402

from sera.jobs.wiring import build_jobs  # noqa: E402
from sera.support.service import create_ticket  # noqa: E402


def serve_smtp(port: int, log: Path) -> None:
    """The SMTP server process: one line per message, '<bench number> <arrival time>'."""
    from aiosmtpd.controller import Controller

    out = log.open("a", buffering=1)

    class Stamp:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
            subject = str(message_from_bytes(envelope.content, policy=default)["Subject"])
            number = subject.split("bench-", 1)[1].split()[0] if "bench-" in subject else "-"
            out.write(f"{number} {time.time()}\n")
            return "250 2.0.0 OK"

    controller = Controller(Stamp(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        asyncio.run(asyncio.sleep(10**6))
    finally:
        controller.stop()


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
    raise SystemExit("the SMTP server did not start")


def baseline(port: int, count: int) -> float:
    """Messages per second handed to the server through one plain smtplib connection."""
    body = b"Subject: baseline\r\nTo: hello@northside.example\r\nFrom: sera@localhost\r\n\r\nhi\r\n"
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        started = time.perf_counter()
        for _ in range(count):
            client.sendmail("sera@localhost", ["hello@northside.example"], body)
        return count / (time.perf_counter() - started)


def arrivals(log: Path) -> dict[int, list[float]]:
    found: dict[int, list[float]] = {}
    for line in log.read_text().splitlines():
        number, at = line.split()
        if number != "-":
            found.setdefault(int(number), []).append(float(at))
    return found


def produce(first: int, step: int, total: int, rate: float, start_at: float, merchant_id: str, out: Path) -> None:
    """A producer process (a web process, say): tickets ``first``, ``first + step``, ... opened on
    the shared schedule (``rate`` a second from ``start_at``; 0 for as fast as it can)."""
    from sera.bootstrap import bootstrap
    from sera.config import load_settings

    sera = bootstrap(load_settings())
    build_jobs(sera)  # this process queues; `sera worker` runs the jobs
    log = out.open("a", buffering=1)
    for number in range(first, total, step):
        if rate:
            wait = start_at + number / rate - time.time()
            if wait > 0:
                time.sleep(wait)
        with sera.uow(merchant_id) as uow:
            create_ticket(
                uow,
                subject=f"bench-{number} wheel",
                description="The rear wheel wobbles.",
                tags=["support"],
                customer_id=None,
                now=sera.clock(),
            )
            uow.commit()
        log.write(f"{number} {time.time()}\n")
    sera.close()


def run_producers(work: Path, env: dict[str, str], merchant_id: str, total: int, rate: float, count: int) -> float:
    """``count`` producer processes share ``total`` events; returns when they are done: the start time."""
    start_at = time.time() + 3.0  # once every producer has loaded
    producers = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--produce",
                str(i),
                str(count),
                str(total),
                str(rate),
                str(start_at),
                merchant_id,
            ],
            env=env | {"BENCH_COMMITTED": str(work / "committed.log")},
        )
        for i in range(count)
    ]
    for producer in producers:
        producer.wait()
    return start_at


def start_worker(env: dict[str, str], workers: int) -> subprocess.Popen[bytes]:
    worker = subprocess.Popen(
        [sys.executable, "-m", "sera", "worker", "--workers", str(workers)], env=env, stderr=subprocess.DEVNULL
    )
    time.sleep(3.0)  # loaded and consuming
    return worker


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100.0, help="events a second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--backlog", type=int, default=3000, help="mails queued with no worker, then drained")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--database-url", default=None, help="a scratch PostgreSQL database (empty)")
    parser.add_argument("--serve-smtp", nargs=2, metavar=("PORT", "LOG"), help=argparse.SUPPRESS)
    parser.add_argument("--produce", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_smtp:
        serve_smtp(int(args.serve_smtp[0]), Path(args.serve_smtp[1]))
        return
    if args.produce:
        first, step, total, rate, start_at, merchant_id = args.produce
        out = Path(os.environ["BENCH_COMMITTED"])
        produce(int(first), int(step), int(total), float(rate), float(start_at), merchant_id, out)
        return
    total = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port, log = free_port(), work / "arrivals.log"
        log.touch()
        smtp = subprocess.Popen([sys.executable, __file__, "--serve-smtp", str(port), str(log)])
        wait_for(port)
        plain = baseline(port, 500)
        sera, merchant_id = make_sera(work, DEMO.read_text(), args.database_url)
        assert sera.settings.master_key is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("SERA_")} | {
            "SERA_ENV": "test",
            "SERA_DATABASE_URL": sera.settings.database_url,
            "SERA_KEYSTORE_URL": sera.settings.keystore_url,
            "SERA_MASTER_KEY": sera.settings.master_key.get_secret_value(),
            "SERA_JOBS_PATH": str(work / "jobs.db"),
            "SERA_SMTP_URL": f"smtp://127.0.0.1:{port}",
            "SERA_LOG_LEVEL": "WARNING",
            "SERA_ENV_FILE": str(work / "none.env"),
        }
        if args.redis_url:
            env["SERA_REDIS_URL"] = args.redis_url
        sera.close()
        try:
            # paced: events at the offered rate, the worker taking them as they come
            worker = start_worker(env, args.workers)
            started = run_producers(work, env, merchant_id, total, args.rate, args.producers)
            produced = max(committed(work).values()) - started
            settle(log, total)
            worker.terminate()
            worker.wait(timeout=30)
            paced, committed_at = arrivals(log), committed(work)
            # drain: a backlog queued while no worker runs, then one worker empties it
            (work / "committed.log").unlink()
            log.write_text("")
            run_producers(work, env, merchant_id, args.backlog, 0, args.producers)
            worker = start_worker(env, args.workers)
            settle(log, args.backlog)
            worker.terminate()
            worker.wait(timeout=30)
            drained = arrivals(log)
        finally:
            smtp.terminate()
            smtp.wait(timeout=10)
    report(plain, args, total, produced, paced, committed_at, drained)


def committed(work: Path) -> dict[int, float]:
    return {int(n): float(at) for n, at in (line.split() for line in (work / "committed.log").read_text().splitlines())}


def settle(log: Path, expected: int) -> None:
    deadline = time.time() + 120
    while len(arrivals(log)) < expected and time.time() < deadline:
        time.sleep(0.2)


def report(
    plain: float,
    args: argparse.Namespace,
    total: int,
    produced: float,
    paced: dict[int, list[float]],
    committed_at: dict[int, float],
    drained: dict[int, list[float]],
) -> None:
    latencies = [times[0] - committed_at[n] for n, times in paced.items() if n in committed_at]
    twice = sum(len(t) > 1 for t in paced.values()) + sum(len(t) > 1 for t in drained.values())
    firsts = sorted(t[0] for t in drained.values())
    drain_rate = (len(firsts) - 1) / (firsts[-1] - firsts[0]) if len(firsts) > 1 else float("nan")
    print(f"[plain smtplib, one connection, no queue (baseline)] {plain:.0f} messages/s")
    print(
        f"[paced] {total} events offered at {args.rate:.0f}/s by {args.producers} processes "
        f"({total / produced:.0f}/s achieved): {len(paced)} arrived; event -> server "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {pct(latencies, 99) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms"
    )
    print(
        f"[drain] a backlog of {args.backlog} mails: sera worker ({args.workers} threads) delivered "
        f"{len(drained)} at {drain_rate:.0f} messages/s; delivered twice (both runs): {twice}"
    )
    print("targets: >= 100 messages/s from the queue; event -> server p99 < 2000 ms at 100/s; none lost, none twice")


if __name__ == "__main__":
    main()
