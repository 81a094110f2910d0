"""Outbound sending under load: one `sera worker` on Redis against the local fake Twilio.

    .venv/bin/python bench/outbound.py [--channel sms|call] [--sends 10000] [--lag-sends 200] [--threads 4]
                                       [--redis-url redis://127.0.0.1:6379/15] [--database-url URL]

``--channel call`` recovers the carts by call instead (every shopper gave written consent
to calls; the calls go through Twilio's Calls API with answering-machine detection). Goal:
at least 50 calls placed per second, none twice (checked against the fake's calls).

Seeds the demo shop with ``--sends`` abandoned checkouts (each its own consenting
shopper, abandoned two hours ago: every recovery text is due), with rate limits off
(``SERA_OUTBOUND_RATE_LIMITS=false``, no daily cap) and the shop's quiet hours off.
Starts one ``sera worker --workers THREADS`` process on Redis (warmed up with a first
batch), runs the dispatcher once (what the periodic job does every minute) and times
until every text is recorded as sent. Goal: at least 200 sends/s.

Then the dispatcher's pick-up: ``--lag-sends`` checkouts whose texts fall due 3 to 8 s
ahead, dispatched once; the lag from each text's due time to its send. Goal: p99 under 5 s.

Baseline, same run, same fake: raw ``TwilioClient.send_sms`` calls from one thread.
The fake Twilio runs in this process (``tests/outbound/paced_twilio.py``: the shared fake
with TCP_NODELAY, whose answers would otherwise wait 40 ms for a delayed ACK); the data
in SQLite in a temp directory (or ``--database-url``, a scratch PostgreSQL database), the
key store in SQLite. Seeding 10,000 checkouts through ``record_checkout`` takes about
two minutes and is not timed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.twilio_server import new_sid  # noqa: E402
from tests.outbound.paced_twilio import PacedTwilioServer  # noqa: E402
from tests.outbound.shoppers import grant_call_consent, record_shopper_checkouts, set_outbound  # noqa: E402
from tests.outbound.worker import worker_env  # noqa: E402

from sera.adapters.http import HttpClient  # noqa: E402
from sera.adapters.twilio.client import TwilioClient  # noqa: E402
from sera.bootstrap import Sera, bootstrap  # noqa: E402
from sera.config import Settings, new_key_text  # noqa: E402
from sera.jobs import Jobs, make_huey  # noqa: E402
from sera.merchants.service import import_shop  # noqa: E402
from sera.merchants.shop_file import load_shop_file  # noqa: E402
from sera.outbound.dispatch import SEND_BATCH  # noqa: E402
from sera.outbound.jobs import dispatch_now, register_outbound  # noqa: E402
from sera.storage.models import OutboundAction  # noqa: E402

DEMO = ROOT / "src" / "sera" / "merchants" / "demo-shop.yaml"
ACCOUNT, TOKEN = new_sid("AC"), new_sid("")[:32]
SHOP_NUMBER = "+13125550100"
QUEUE = "sera"  # the queue `sera worker` consumes
WARMUP = 100


def make_sera(tmp: Path, fake: PacedTwilioServer, database_url: str | None, redis_url: str) -> Sera:
    settings = Settings(
        env="test",
        database_url=database_url or f"sqlite:///{tmp / 'sera.db'}",
        keystore_url=f"sqlite:///{tmp / 'keys.db'}",
        master_key=new_key_text(),
        secret_key=new_key_text(),
        public_url="https://sera.bench",
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=SecretStr(TOKEN),
        twilio_api_base=fake.url,
        redis_url=redis_url,
        jobs_path=tmp / "jobs.db",
    )
    sera = bootstrap(settings)
    if database_url:
        with sera.db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    sera.migrate()
    return sera


def sent_count(sera: Sera, shop: str) -> int:
    with sera.uow(shop, readonly=True) as uow:
        return int(
            uow.session.execute(
                select(func.count()).select_from(OutboundAction).where(OutboundAction.status == "sent")
            ).scalar_one()
        )


def wait_for(sera: Sera, shop: str, total: int, limit: float) -> float:
    started = time.perf_counter()
    while sent_count(sera, shop) < total:
        if time.perf_counter() - started > limit:
            raise SystemExit(f"only {sent_count(sera, shop)} of {total} sent after {limit:.0f} s")
        time.sleep(0.05)
    return time.perf_counter() - started


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def baseline(fake: PacedTwilioServer, count: int, channel: str) -> float:
    client = TwilioClient(ACCOUNT, TOKEN, api_base=fake.url, http=HttpClient(retries=0))
    started = time.perf_counter()
    for n in range(count):
        to = f"+1312{5560000 + n:07d}"
        if channel == "call":
            client.place_call(to=to, from_=SHOP_NUMBER, url="https://sera.bench/twilio/voice/outbound")
        else:
            client.send_sms(to=to, from_=SHOP_NUMBER, body="Hi there, you left something.")
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channel", choices=["sms", "call"], default="sms")
    parser.add_argument("--sends", type=int, default=10_000)
    parser.add_argument("--lag-sends", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4, help="job threads of the one worker")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--database-url", default=None, help="a scratch PostgreSQL database (default: SQLite)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name, PacedTwilioServer() as fake:
        tmp = Path(tmp_name)
        fake.add_account(ACCOUNT, TOKEN)
        sera = make_sera(tmp, fake, args.database_url, args.redis_url)
        shop = import_shop(sera, load_shop_file(DEMO), actor="bench").merchant_id
        channel = {"channel": args.channel}
        set_outbound(sera, shop, quiet_hours={"start": "00:00", "end": "00:00"}, abandoned_checkout=channel)
        jobs = Jobs(sera, make_huey(sera.settings, name=QUEUE))
        register_outbound(jobs)
        jobs.huey.flush()
        abandoned = datetime.now(UTC) - timedelta(hours=2)
        command = [sys.executable, "-m", "sera", "worker", "--workers", str(args.threads)]
        worker = subprocess.Popen(command, cwd=ROOT, env=worker_env(sera.settings, tmp))
        try:
            record_shopper_checkouts(sera, shop, 0, WARMUP, abandoned)  # the worker's imports, connections and caches
            if args.channel == "call":
                grant_call_consent(sera, shop)
            dispatch_now(jobs)
            wait_for(sera, shop, WARMUP, limit=120)

            started = time.perf_counter()
            set_outbound(sera, shop, abandoned_checkout={"delay_min": 7 * 24 * 60})  # none due while seeding
            record_shopper_checkouts(sera, shop, WARMUP, args.sends, abandoned)
            if args.channel == "call":
                grant_call_consent(sera, shop)
            set_outbound(sera, shop, abandoned_checkout={"delay_min": 60})  # now all of them are
            print(f"seeded {args.sends} checkouts abandoned 2 hours ago in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            dispatched = dispatch_now(jobs)
            queued = time.perf_counter() - started
            elapsed = wait_for(sera, shop, WARMUP + args.sends, limit=900) + queued
            first, last = send_span(sera, shop)
            print(
                f"sera: {args.sends} due {args.channel} sends made in {elapsed:.1f} s "
                f"({args.sends / elapsed:.0f} sends/s end to end: "
                f"planning and queueing {queued:.1f} s, {dispatched.queued} sends in jobs of {SEND_BATCH}); "
                f"the worker ({args.threads} threads, Redis) sent at {(args.sends - 1) / (last - first):.0f} sends/s"
            )
            rate = args.sends / elapsed

            lags = measure_lag(sera, shop, jobs, WARMUP + args.sends, args.lag_sends, args.channel)
            print(
                f"pick-up: {len(lags)} {args.channel} sends due 3-8 s ahead, dispatched once: due -> sent "
                f"p50 {statistics.median(lags):.2f} s, p99 {percentile(lags, 99):.2f} s, max {max(lags):.2f} s"
            )
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            jobs.huey.flush()
        made = fake.state.calls if args.channel == "call" else fake.state.messages
        twice = sum(n - 1 for n in Counter(m["to"] for m in made).values() if n > 1)
        numbers = len({m["to"] for m in made})
        print(f"provider: {len(made)} {args.channel} sends to {numbers} numbers, {twice} twice")
        raw = baseline(fake, 2000, args.channel)
        ratio = rate / raw
        print(
            f"baseline: raw TwilioClient {args.channel} requests, one thread: {raw:.0f}/s (sera / baseline {ratio:.2f})"
        )
        targets = {"sms": ">= 200 sends/s; pick-up p99 < 5 s", "call": ">= 50 calls/s, none twice"}
        print(f"targets: {targets[args.channel]}")
        if twice:
            raise SystemExit("a send was made twice")
        sera.close()


def send_span(sera: Sera, shop: str) -> tuple[float, float]:
    """First and last send time of the timed run (after the warm-up), in epoch seconds."""
    with sera.uow(shop, readonly=True) as uow:
        sent = sorted(at for at in uow.session.execute(select(OutboundAction.sent_at)).scalars() if at)
    return sent[WARMUP].timestamp(), sent[-1].timestamp()


def measure_lag(sera: Sera, shop: str, jobs: Jobs, seeded: int, count: int, channel: str) -> list[float]:
    """Texts due 3-8 s from now, dispatched once (as the minute's run would): how late each went out."""
    now = datetime.now(UTC)
    delay = timedelta(minutes=60)  # the demo shop's delay_min
    for n in range(count):
        due = now + timedelta(seconds=3 + 5 * n / max(1, count - 1))
        record_shopper_checkouts(sera, shop, seeded + n, 1, due - delay)
    if channel == "call":
        grant_call_consent(sera, shop)
    dispatch_now(jobs)
    wait_for(sera, shop, seeded + count, limit=120)
    with sera.uow(shop, readonly=True) as uow:
        rows = uow.session.execute(
            select(OutboundAction.due_at, OutboundAction.sent_at).where(OutboundAction.due_at > now)
        ).all()
    return [(sent_at - due_at).total_seconds() for due_at, sent_at in rows if sent_at]


if __name__ == "__main__":
    main()
