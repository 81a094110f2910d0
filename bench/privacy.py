"""The privacy promises at scale: Shopify's compliance requests and the retention sweep.

    .venv/bin/python bench/privacy.py [--database-url URL] [--redis-url URL] [--sweep-batch N]
                                      [--sweep-hold-ms MS] [--sweep-pause X]
                                      [--customers 20000] [--calls 100000] [--messages 50000] [--rate 50]

Seeds one shop in bulk (the vault's sealing and blind indexes, batched inserts): N
customers, calls with transcripts, messages; about half of the calls, transcripts and
messages are past their retention period. Then, on a fresh process state (cold key
caches), prints:

- customers/data_request: completing an access request (the export) of a customer
  with several calls. Goal < 1 s.
- customers/redact: redact_customer of one customer. Goal < 200 ms.
- the retention sweep's rate in rows/s (goal >= 20,000) while a second process posts
  signed ``checkouts/update`` webhooks to a ``sera serve`` subprocess; the webhooks'
  p99 while idle and during the sweep (goal: during < 2x idle). The load is one request
  at a time: a slow server gets fewer requests, so each window also shows the rate sent.
- shop/redact: delete_shop of the whole shop. Goal < 60 s.

With ``--database-url`` (PostgreSQL) the data lives there (use a scratch database);
the key store is SQLite in a temp directory either way. ``--sweep-batch`` defaults to the
retention job's own batch size (a cap: on SQLite a batch is sized to hold the write lock for
``--sweep-hold-ms``, and the sweep then pauses ``--sweep-pause`` times as long); the two
default to the retention job's own values.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sera.bootstrap import Sera, bootstrap  # noqa: E402
from sera.config import Settings, new_key_text  # noqa: E402
from sera.crypto.envelope import field_aad  # noqa: E402
from sera.privacy import retention  # noqa: E402
from sera.privacy.erasure import delete_shop, redact_customer  # noqa: E402
from sera.privacy.requests import complete_privacy_request  # noqa: E402
from sera.privacy.service import record_privacy_request  # noqa: E402
from sera.storage.models import Call, Customer, Merchant, Message, Transcript, new_id  # noqa: E402

SHOP = "bench-cycles.myshopify.com"
API_KEY = "b3nch" + "0" * 27
API_SECRET = "shpss_" + "b" * 32
CHECKOUT = ROOT / "tests" / "adapters" / "shopify" / "fixtures" / "checkouts_update.json"
BATCH = 5000
WARM_UP = 3.0  # seconds of webhooks before the idle window (first requests warm caches)
IDLE = 10.0
LINES = [
    ("agent", "Thanks for calling Bench Cycles, this is Sam. How can I help?"),
    ("caller", "hi I'm checking on my order and whether the trail bike is back in stock"),
    ("agent", "Your order 1042 has shipped with UPS, expected Friday."),
    ("caller", "great and can I book a tune up next tuesday afternoon"),
    ("agent", "On Tuesday I have 1 pm, 2 pm or 4 pm."),
    ("caller", "two works thanks"),
]


# -- seeding ------------------------------------------------------------------------------------


def make_settings(workdir: Path, database_url: str | None) -> Settings:
    return Settings(
        env="test",
        database_url=database_url or f"sqlite:///{workdir}/sera.db",
        keystore_url=f"sqlite:///{workdir}/keys.db",
        master_key=SecretStr(new_key_text()),
        secret_key=SecretStr("bench-" + "s" * 40),
        shopify_api_key=API_KEY,
        shopify_api_secret=SecretStr(API_SECRET),
        jobs_path=workdir / "jobs.db",
    )


def create_shop(sera: Sera) -> str:
    merchant_id = new_id("mer")
    sera.keystore.create_merchant_key(merchant_id)
    with sera.uow(merchant_id) as uow:
        uow.session.add(
            Merchant(id=merchant_id, domain=SHOP, name="Bench Cycles", timezone="America/Chicago", settings={})
        )
        uow.commit()
    return merchant_id


def _insert(sera: Sera, table: Any, rows: list[dict[str, Any]]) -> None:
    with sera.db.engine.begin() as conn:
        conn.execute(table.insert(), rows)


def seed_customers(sera: Sera, merchant_id: str, count: int, now: datetime) -> list[str]:
    vault, seal = sera.vault, sera.vault.cipher.seal
    ids: list[str] = []
    for start in range(0, count, BATCH):
        batch = [new_id("cus") for _ in range(min(BATCH, count - start))]
        keys = sera.keystore.create_customer_keys(merchant_id, batch)
        rows = []
        for offset, customer_id in enumerate(batch):
            n, key = start + offset, keys[customer_id]
            phone, email = f"+1312{5550000 + n:07d}", f"customer{n}@example.com"
            fields = {"name": f"Customer {n}", "phone": phone, "email": email}
            row = {c: seal(key, v, field_aad("customers", c, customer_id)) for c, v in fields.items()}
            rows.append(
                {
                    **row,
                    "id": customer_id,
                    "merchant_id": merchant_id,
                    "phone_bidx": vault.phone_index(merchant_id, phone),
                    "email_bidx": vault.email_index(merchant_id, email),
                    "created_at": now - timedelta(days=900),
                    "updated_at": now,
                }
            )
        _insert(sera, Customer.__table__, rows)
        ids += batch
    return ids


def seed_calls(sera: Sera, merchant_id: str, customers: list[str], count: int, now: datetime) -> None:
    """Calls with transcripts, in the order they happened: the first half older than both
    retention periods (800 days), the second half recent."""
    seal, keys = sera.vault.cipher.seal, sera.keystore.customer_keys(merchant_id, customers)
    content = json.dumps([{"role": r, "text": t, "at": None} for r, t in LINES])
    for start in range(0, count, BATCH):
        calls, transcripts = [], []
        for n in range(start, min(start + BATCH, count)):
            customer_id = customers[n % len(customers)]
            key, call_id, transcript_id = keys[customer_id], new_id("call"), new_id("trn")
            started = now - timedelta(days=800 if n < count // 2 else 10, minutes=count - n)
            calls.append(
                {
                    "id": call_id,
                    "merchant_id": merchant_id,
                    "customer_id": customer_id,
                    "channel": "voice",
                    "direction": "inbound",
                    "provider": "twilio",
                    "provider_call_id": f"CA{n:032d}",
                    "from_number": seal(key, "+13125550000", field_aad("calls", "from_number", call_id)),
                    "to_number": seal(key, "+13125550100", field_aad("calls", "to_number", call_id)),
                    "started_at": started,
                    "ended_at": started + timedelta(minutes=3),
                    "duration_s": 180,
                    "outcome": "order_status",
                }
            )
            transcripts.append(
                {
                    "id": transcript_id,
                    "merchant_id": merchant_id,
                    "call_id": call_id,
                    "customer_id": customer_id,
                    "content": seal(key, content, field_aad("transcripts", "content", transcript_id)),
                    "created_at": started,
                }
            )
        _insert(sera, Call.__table__, calls)
        _insert(sera, Transcript.__table__, transcripts)


def seed_messages(sera: Sera, merchant_id: str, customers: list[str], count: int, now: datetime) -> None:
    seal, keys = sera.vault.cipher.seal, sera.keystore.customer_keys(merchant_id, customers)
    for start in range(0, count, BATCH):
        rows = []
        for n in range(start, min(start + BATCH, count)):
            customer_id, message_id = customers[(n * 7) % len(customers)], new_id("msg")
            rows.append(
                {
                    "id": message_id,
                    "merchant_id": merchant_id,
                    "customer_id": customer_id,
                    "direction": "inbound" if n % 3 else "outbound",
                    "provider": "twilio",
                    "provider_message_id": f"SM{n:032d}",
                    "body": seal(
                        keys[customer_id], f"is my order {n} ready", field_aad("messages", "body", message_id)
                    ),
                    "status": "received",
                    "segments": 1,
                    "created_at": now - timedelta(days=800 if n < count // 2 else 5, minutes=count - n),
                }
            )
        _insert(sera, Message.__table__, rows)


# -- the webhook load ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(settings: Settings, workdir: Path, redis_url: str | None) -> Iterator[str]:
    """`sera serve` on a free port: with its embedded job workers, or with Redis and a
    separate `sera worker` (as in production on PostgreSQL)."""
    port = _free_port()
    env = {
        **os.environ,
        "SERA_ENV": "development",
        "SERA_ENV_FILE": str(workdir / "absent.env"),
        "SERA_DATABASE_URL": settings.database_url,
        "SERA_KEYSTORE_URL": settings.keystore_url,
        "SERA_MASTER_KEY": settings.master_key.get_secret_value() if settings.master_key else "",
        "SERA_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "",
        "SERA_SHOPIFY_API_KEY": API_KEY,
        "SERA_SHOPIFY_API_SECRET": API_SECRET,
        "SERA_JOBS_PATH": str(workdir / "serve-jobs.db"),
        "SERA_LOG_LEVEL": "WARNING",
    }
    env.pop("SERA_REDIS_URL", None)
    if redis_url:
        env["SERA_REDIS_URL"] = redis_url
    with (workdir / "serve.log").open("wb") as log:
        commands = [["serve", "--port", str(port)]] + ([["worker", "--workers", "2"]] if redis_url else [])
        processes = [
            subprocess.Popen([sys.executable, "-m", "sera", *command], env=env, stdout=log, stderr=log)
            for command in commands
        ]
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield url
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)


def _signed_checkout(template: dict[str, Any], n: int) -> tuple[bytes, dict[str, str]]:
    payload = copy.deepcopy(template)
    payload["id"], payload["token"] = 40_000_000_000_000 + n, uuid.uuid4().hex
    payload["phone"] = payload["customer"]["phone"] = f"+1773555{n % 10000:04d}"
    payload["updated_at"] = datetime.now(UTC).isoformat()
    body = json.dumps(payload).encode()
    digest = base64.b64encode(hmac.new(API_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return body, {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "checkouts/update",
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-API-Version": "2025-10",
    }


def webhook_load(url: str, rate: float, stop: Any, results: Any) -> None:
    """A separate process: signed checkouts/update webhooks at ``rate``/s; (sent at, seconds) each."""
    template = json.loads(CHECKOUT.read_text())
    samples: list[tuple[float, float]] = []
    failures = 0
    with httpx.Client(timeout=30) as client:
        n, interval, next_at = 0, 1 / rate, time.perf_counter()
        while not stop.is_set():
            body, headers = _signed_checkout(template, n)
            sent, started = time.time(), time.perf_counter()
            response = client.post(f"{url}/shopify/webhooks", content=body, headers=headers)
            samples.append((sent, time.perf_counter() - started))
            failures += response.status_code != 200
            n += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
    results.put((samples, failures))


def settle(sera: Sera) -> None:
    """Fold SQLite's write-ahead log into the database first, so the idle window measures
    webhooks and not the seeding's leftover checkpoint."""
    if sera.db.engine.dialect.name == "sqlite":
        raw = sera.db.engine.raw_connection()  # outside a transaction: the engine begins its own
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000


# -- the measurements ----------------------------------------------------------------------------


def timed(label: str, goal: str, work: Any) -> Any:
    started = time.perf_counter()
    result = work()
    print(f"{label}: {(time.perf_counter() - started) * 1000:,.0f} ms   (goal {goal})", flush=True)
    return result


def measure(sera: Sera, settings: Settings, workdir: Path, merchant_id: str, customers: list[str], args: Any) -> None:
    now = sera.clock()
    subject = customers[2]  # every customer has calls/customers calls, half of them recent
    with sera.uow(merchant_id) as uow:
        request = record_privacy_request(
            uow, request_type="access", customer_id=subject, source="shopify", now=now, actor="bench"
        )
        uow.commit()
    timed(
        "customers/data_request (complete the access export)",
        "< 1000 ms",
        lambda: complete_privacy_request(sera, merchant_id, request.id, actor="bench"),
    )
    timed(
        "customers/redact (redact_customer of one customer)",
        "< 200 ms",
        lambda: redact_customer(sera, merchant_id, customers[4], actor="bench"),
    )
    rate = args.rate
    settle(sera)
    with serve(settings, workdir, args.redis_url) as url:
        stop, results = multiprocessing.Event(), multiprocessing.Queue()
        loader = multiprocessing.Process(target=webhook_load, args=(url, rate, stop, results))
        loader.start()
        time.sleep(WARM_UP)
        idle_start = time.time()
        time.sleep(IDLE)
        sweep_start = time.time()
        started = time.perf_counter()
        reports = retention.run_retention(sera, sera.clock(), batch=args.sweep_batch)
        elapsed = time.perf_counter() - started
        sweep_end = time.time()
        time.sleep(1)
        stop.set()
        samples, failures = results.get(timeout=60)
        loader.join(timeout=30)
    deleted = sum(report.total for report in reports)
    idle = [latency for sent, latency in samples if idle_start <= sent < sweep_start]
    during = [latency for sent, latency in samples if sweep_start <= sent <= sweep_end]
    pacing = (
        f", on SQLite each ~{retention.HOLD_SECONDS * 1000:.0f} ms then a {retention.PAUSE_FACTOR:g}x pause"
        if sera.db.engine.dialect.name == "sqlite"
        else ""
    )
    print(
        f"retention sweep (batches of at most {args.sweep_batch:,}{pacing}): {deleted:,} rows in {elapsed:.2f} s = "
        f"{deleted / elapsed:,.0f} rows/s   (goal >= 20,000)"
    )
    print(
        f"webhooks (checkouts/update at {rate:.0f}/s, {failures} not 200): "
        f"idle p99 {p99(idle):.1f} ms (p50 {statistics.median(idle) * 1000:.1f}, n={len(idle)}, "
        f"{len(idle) / IDLE:.0f}/s sent); during the sweep p99 {p99(during):.1f} ms "
        f"(p50 {statistics.median(during) * 1000:.1f}, n={len(during)}, {len(during) / elapsed:.0f}/s sent)"
        f"   (goal: during < 2x idle = {2 * p99(idle):.1f} ms)"
    )
    with sera.uow(merchant_id, readonly=True) as uow:
        left = sum(
            uow.session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Customer, Call, Transcript, Message)
        )
    timed(
        f"shop/redact (delete_shop, {left:,} rows left)",
        "< 60000 ms",
        lambda: delete_shop(sera, merchant_id, actor="bench"),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL of a scratch database (default: SQLite)")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=50.0, help="webhooks per second during the load")
    parser.add_argument(
        "--sweep-batch", type=int, default=retention.BATCH, help="rows per retention transaction, at most"
    )
    parser.add_argument(
        "--sweep-hold-ms", type=float, default=retention.HOLD_SECONDS * 1000, help="SQLite: write lock per batch"
    )
    parser.add_argument(
        "--sweep-pause", type=float, default=retention.PAUSE_FACTOR, help="SQLite: pause after a batch, x its hold"
    )
    parser.add_argument("--redis-url", default=None, help="jobs on Redis with a separate `sera worker`")
    args = parser.parse_args()
    retention.HOLD_SECONDS, retention.PAUSE_FACTOR = args.sweep_hold_ms / 1000, args.sweep_pause
    random.seed(7)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        settings = make_settings(workdir, args.database_url)
        seeder = bootstrap(settings)
        seeder.migrate()
        now = seeder.clock()
        started = time.perf_counter()
        merchant_id = create_shop(seeder)
        customers = seed_customers(seeder, merchant_id, args.customers, now)
        seed_calls(seeder, merchant_id, customers, args.calls, now)
        seed_messages(seeder, merchant_id, customers, args.messages, now)
        seeder.close()
        print(
            f"[{'postgresql' if args.database_url else 'sqlite'}] seeded {args.customers:,} customers, "
            f"{args.calls:,} calls with transcripts, {args.messages:,} messages in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        sera = bootstrap(settings)  # cold caches, as a worker process would have
        try:
            measure(sera, settings, workdir, merchant_id, customers, args)
        finally:
            sera.close()


if __name__ == "__main__":
    main()
