"""Availability search through the database, as the agent's tool runs it.

    .venv/bin/python bench/availability_db.py [--database-url URL]

A shop with 10 staff and 2,000 booked appointments over 60 days. Times
``find_availability`` (load the bookings in the window, then search) for the first
5 openings, one day, and all openings over 60 days; the baseline in the same run is
the pure engine on bookings already in memory, so the difference is the database.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sera.booking.service import (  # noqa: E402
    BookingError,
    book_appointment,
    find_availability,
    load_bookings,
    load_schedule,
)
from sera.booking.slots import find_slots  # noqa: E402
from sera.bootstrap import bootstrap  # noqa: E402
from sera.config import Settings, new_key_text  # noqa: E402
from sera.merchants.service import import_shop_text  # noqa: E402

DEMO = ROOT / "src" / "sera" / "merchants" / "demo-shop.yaml"
NOW = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
DAYS = 60


def shop_text() -> str:
    data = yaml.safe_load(DEMO.read_text())
    data["staff"] = [{"name": f"Mechanic {i}"} for i in range(10)]
    data["orders"] = []
    return yaml.safe_dump(data, sort_keys=False)


def timed(run: Callable[[], Any], runs: int = 100) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            env="test",
            database_url=args.database_url or f"sqlite:///{tmp}/sera.db",
            keystore_url=f"sqlite:///{tmp}/keys.db",
            master_key=SecretStr(new_key_text()),
        )
        sera = bootstrap(settings, clock=lambda: NOW)
        sera.migrate()
        merchant_id = import_shop_text(sera, shop_text(), source="bench", actor="bench").merchant_id
        rng = random.Random(7)
        booked = 0
        with sera.uow(merchant_id) as uow:
            schedule = load_schedule(uow)
            zone = schedule.calendar.tz
            while booked < 2000:
                day = NOW.astimezone(zone).date() + timedelta(days=rng.randrange(DAYS))
                start = datetime(
                    day.year, day.month, day.day, rng.randrange(9, 17), rng.choice([0, 15, 30, 45]), tzinfo=zone
                )
                try:
                    book_appointment(uow, service_name="Flat tire repair", start=start, customer_id=None, now=NOW)
                    booked += 1
                except BookingError:
                    continue
            uow.commit()
        end = NOW + timedelta(days=DAYS)
        one_day = (NOW + timedelta(days=4), NOW + timedelta(days=5))
        with sera.uow(merchant_id, readonly=True) as uow:
            schedule = load_schedule(uow)
            cases: dict[str, Callable[[], Any]] = {
                "first 5 in 60 days": lambda: find_availability(
                    uow, schedule, "Tune-up", window_start=NOW, window_end=end, now=NOW, limit=5
                ),
                "one day, all": lambda: find_availability(
                    uow, schedule, "Tune-up", window_start=one_day[0], window_end=one_day[1], now=NOW
                ),
                "60 days, all": lambda: find_availability(
                    uow, schedule, "Tune-up", window_start=NOW, window_end=end, now=NOW
                ),
            }
            bookings = load_bookings(uow, NOW, end + timedelta(days=1))
            service = schedule.service("Tune-up")
            for label, run in cases.items():
                p50, p95 = timed(run)
                print(f"[database] {label}: p50 {p50:.2f} ms, p95 {p95:.2f} ms ({len(run())} slots)")
            base50, base95 = timed(
                lambda: find_slots(
                    schedule.calendar, service, schedule.staff, bookings, window_start=NOW, window_end=end
                )
            )
            print(f"[baseline: engine on in-memory bookings] 60 days, all: p50 {base50:.2f} ms, p95 {base95:.2f} ms")
        print(f"{booked} appointments, 10 staff; target: a 60-day search under 20 ms")
        sera.close()


if __name__ == "__main__":
    main()
