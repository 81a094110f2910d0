"""Foundation benchmarks: importing the demo shop, and listing customers through the API.

    .venv/bin/python bench/api_listing.py [--customers 20000] [--database-url URL]

Prints the demo-shop import time, and p50/p95/p99 of GET /api/v1/customers?limit=100
with N customers stored, with encryption on and, as the baseline measured in the same
run, with a pass-through cipher (same code path, no cryptography).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sera.access.api_keys import create_api_key  # noqa: E402
from sera.bootstrap import Sera, bootstrap  # noqa: E402
from sera.config import Settings, new_key_text  # noqa: E402
from sera.crypto.envelope import FieldCipher  # noqa: E402
from sera.merchants.service import import_shop  # noqa: E402
from sera.merchants.shop_file import load_shop_file  # noqa: E402
from sera.storage.models import Customer, new_id  # noqa: E402
from sera.web.app import create_app  # noqa: E402

DEMO = ROOT / "src" / "sera" / "merchants" / "demo-shop.yaml"


class PassThroughCipher:
    """The baseline: the same sealing calls, with no encryption."""

    def seal(self, key: bytes, value: str, aad: bytes) -> bytes:
        return value.encode()

    def open(self, key: bytes, sealed: bytes, aad: bytes) -> str:
        return sealed.decode()


def make_sera(workdir: Path, database_url: str | None, cipher: FieldCipher | None) -> Sera:
    settings = Settings(
        env="test",
        database_url=database_url or f"sqlite:///{workdir}/sera.db",
        keystore_url=f"sqlite:///{workdir}/keys.db",
        master_key=SecretStr(new_key_text()),
        secret_key=SecretStr("bench-" + "x" * 40),
    )
    sera = bootstrap(settings, cipher=cipher)
    sera.migrate()
    return sera


def seed_customers(sera: Sera, merchant_id: str, count: int) -> None:
    batch = 2000
    for start in range(0, count, batch):
        ids = [new_id("cus") for _ in range(min(batch, count - start))]
        sera.keystore.create_customer_keys(merchant_id, ids)
        with sera.uow(merchant_id) as uow:
            now = sera.clock()
            for offset, customer_id in enumerate(ids):
                n = start + offset
                row = Customer(id=customer_id, merchant_id=merchant_id, created_at=now, updated_at=now)
                phone = f"+1312{5550000 + n:07d}"
                sera.vault.seal(row, name=f"Customer {n}", phone=phone, email=f"customer{n}@example.com")
                row.phone_bidx = sera.vault.phone_index(merchant_id, phone)
                uow.session.add(row)
            uow.commit()


def percentile(samples: list[float], p: float) -> float:
    return sorted(samples)[min(len(samples) - 1, round(p / 100 * (len(samples) - 1)))]


def time_listing(sera: Sera, merchant_id: str, requests: int) -> list[float]:
    key = create_api_key(sera, merchant_id, role="viewer", actor="bench")
    headers = {"Authorization": f"Bearer {key}"}
    samples = []
    with TestClient(create_app(sera)) as client:
        for _ in range(20):  # warm-up
            client.get("/api/v1/customers?limit=100", headers=headers)
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get("/api/v1/customers?limit=100", headers=headers)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200 and len(response.json()["data"]) == 100
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite in a temp dir)")
    args = parser.parse_args()

    results = {}
    for label, cipher in (("encrypted", None), ("plaintext baseline", PassThroughCipher())):
        with tempfile.TemporaryDirectory() as tmp:
            sera = make_sera(Path(tmp), args.database_url, cipher)
            if args.database_url:
                from sqlalchemy import text

                with sera.db.engine.begin() as conn:
                    tables = "merchants, audit_entries, audit_heads, webhook_receipts"
                    conn.execute(text(f"TRUNCATE {tables} CASCADE"))
            shop = load_shop_file(DEMO)
            started = time.perf_counter()
            merchant_id = import_shop(sera, shop, actor="bench").merchant_id
            first_import = time.perf_counter() - started
            started = time.perf_counter()
            import_shop(sera, shop, actor="bench")
            reimport = time.perf_counter() - started
            seed_customers(sera, merchant_id, args.customers)
            samples = time_listing(sera, merchant_id, args.requests)
            results[label] = samples
            sera.close()
            print(f"[{label}] demo shop import: first {first_import * 1000:.0f} ms, re-import {reimport * 1000:.0f} ms")
            print(
                f"[{label}] list 100 of {args.customers} customers: "
                f"p50 {statistics.median(samples):.2f} ms  p95 {percentile(samples, 95):.2f} ms  "
                f"p99 {percentile(samples, 99):.2f} ms"
            )
    enc, plain = results["encrypted"], results["plaintext baseline"]
    print(
        f"encryption cost: p50 x{statistics.median(enc) / statistics.median(plain):.2f}, "
        f"p99 x{percentile(enc, 99) / percentile(plain, 99):.2f} (encrypted / plaintext)"
    )
    print("targets: import < 1000 ms; encrypted p99 < 30 ms")


if __name__ == "__main__":
    main()
