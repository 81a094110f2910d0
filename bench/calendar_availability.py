"""Availability with ten staff whose own calendars are connected over CalDAV (a local Radicale).

    .venv/bin/python bench/calendar_availability.py [--database-url URL]

Ten mechanics, each with a calendar holding about 40 busy events over the next eight weeks
and a weekly recurring one. The slot search reads the busy times cached by a refresh, so it
is timed beside the same searches before any calendar was connected (the baseline, same
run). Confirming a booking re-checks the chosen slot live against Radicale: timed with and
without calendars connected. Not a test: nothing here asserts on timing.
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
from zoneinfo import ZoneInfo

import yaml
from pydantic import SecretStr
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.radicale_server import PASSWORD, RadicaleServer  # noqa: E402

from sera.adapters.caldav.wiring import opener  # noqa: E402
from sera.booking.service import BookingError, book_appointment, find_availability, load_schedule  # noqa: E402
from sera.bootstrap import Sera, bootstrap  # noqa: E402
from sera.calendars.busy import refresh  # noqa: E402
from sera.calendars.connections import connect_calendar  # noqa: E402
from sera.config import Settings, new_key_text  # noqa: E402
from sera.merchants.service import import_shop_text  # noqa: E402
from sera.storage.models import CalendarBusyTime  # noqa: E402

DEMO = ROOT / "src" / "sera" / "merchants" / "demo-shop.yaml"
NOW = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
ZONE = ZoneInfo("America/Chicago")
STAFF = [f"mechanic{i}" for i in range(10)]
EVENTS_EACH = 40
CONFIRMS = 60


def shop_text() -> str:
    data = yaml.safe_load(DEMO.read_text())
    data["staff"] = [{"name": name} for name in STAFF]
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


def _ics(uid: str, start: datetime, end: datetime, extra: str = "") -> str:
    def utc(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261001T000000Z\r\nDTSTART:{utc(start)}\r\nDTEND:{utc(end)}\r\n"
        f"SUMMARY:Busy\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def fill_calendar(server: RadicaleServer, user: str, rng: random.Random) -> str:
    calendar = server.calendar(user)
    local_now = NOW.astimezone(ZONE)
    for n in range(EVENTS_EACH):
        day = local_now.date() + timedelta(days=rng.randrange(1, 56))
        start = datetime(day.year, day.month, day.day, rng.randrange(9, 17), rng.choice([0, 30]), tzinfo=ZONE)
        end = start + timedelta(minutes=rng.choice([30, 60, 90]))
        calendar.save_event(ical=_ics(f"{user}-{n}", start, end))
    weekly = datetime(2026, 10, 20 + rng.randrange(5), 12, 0, tzinfo=ZONE)  # before the DST change, weekly
    calendar.save_event(ical=_ics(f"{user}-weekly", weekly, weekly + timedelta(hours=1), "RRULE:FREQ=WEEKLY\r\n"))
    return str(calendar.url)


def searches(sera: Sera, merchant_id: str, label: str) -> None:
    end = NOW + timedelta(days=56)
    one_day = (NOW + timedelta(days=4), NOW + timedelta(days=5))
    with sera.uow(merchant_id, readonly=True) as uow:
        schedule = load_schedule(uow)
        cases: dict[str, Callable[[], Any]] = {
            "first 5 in 8 weeks": lambda: find_availability(
                uow, schedule, "Tune-up", window_start=NOW, window_end=end, now=NOW, limit=5
            ),
            "one day, all": lambda: find_availability(
                uow, schedule, "Tune-up", window_start=one_day[0], window_end=one_day[1], now=NOW
            ),
            "8 weeks, all": lambda: find_availability(
                uow, schedule, "Tune-up", window_start=NOW, window_end=end, now=NOW
            ),
        }
        for case, run in cases.items():
            p50, p95 = timed(run)
            print(f"[{label}] slot search, {case}: p50 {p50:.2f} ms, p95 {p95:.2f} ms ({len(run())} slots)")


def confirms(sera: Sera, merchant_id: str, label: str, rng: random.Random) -> None:
    """Book a free slot (found first, as the agent does), each with its live re-check."""
    with sera.uow(merchant_id, readonly=True) as uow:
        schedule = load_schedule(uow)
        free = find_availability(
            uow, schedule, "Flat tire repair", window_start=NOW, window_end=NOW + timedelta(days=56), now=NOW
        )
    picks = rng.sample(free, CONFIRMS)
    samples, refused = [], 0
    for slot in picks:
        started = time.perf_counter()
        try:
            with sera.uow(merchant_id) as uow:
                book_appointment(
                    uow, service_name="Flat tire repair", start=slot.start, customer_id=None, now=NOW,
                    staff_name=slot.staff_name,
                )  # fmt: skip
                uow.commit()
        except BookingError:
            refused += 1
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p50, p95 = statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]
    print(f"[{label}] confirm a booking: p50 {p50:.2f} ms, p95 {p95:.2f} ms ({CONFIRMS} bookings, {refused} refused)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    rng = random.Random(18)
    with tempfile.TemporaryDirectory() as tmp, RadicaleServer(Path(tmp) / "radicale", STAFF) as server:
        settings = Settings(
            env="test",
            database_url=args.database_url or f"sqlite:///{tmp}/sera.db",
            keystore_url=f"sqlite:///{tmp}/keys.db",
            master_key=SecretStr(new_key_text()),
            calendars_allow_private=True,
        )
        sera = bootstrap(settings, clock=lambda: NOW)
        sera.migrate()
        merchant_id = import_shop_text(sera, shop_text(), source="bench", actor="bench").merchant_id
        searches(sera, merchant_id, "baseline, no calendars")
        confirms(sera, merchant_id, "baseline, no calendars", rng)
        started = time.perf_counter()
        urls = {user: fill_calendar(server, user, rng) for user in STAFF}
        print(
            f"filled 10 calendars in Radicale ({EVENTS_EACH + 1} events each) in {time.perf_counter() - started:.1f} s"
        )
        read = []
        for user, url in urls.items():
            view = connect_calendar(
                sera, opener, merchant_id, staff_name=user, url=url, username=user, password=PASSWORD, actor="bench"
            )
            began = time.perf_counter()
            assert refresh(sera, opener, view.id) == "refreshed"
            read.append((time.perf_counter() - began) * 1000)
        with sera.uow(merchant_id, readonly=True) as uow:
            cached = uow.session.execute(select(func.count()).select_from(CalendarBusyTime)).scalar_one()
        print(f"refresh of one calendar (8 weeks ahead): p50 {statistics.median(read):.1f} ms, max {max(read):.1f} ms")
        print(f"{cached} busy ranges cached for the 10 staff")
        searches(sera, merchant_id, "10 CalDAV calendars, from the cache")
        confirms(sera, merchant_id, "10 CalDAV calendars, live re-check", rng)
        print("targets: slot search p50 < 20 ms from the cache; confirm with the live re-check p95 < 300 ms")
        sera.close()


if __name__ == "__main__":
    main()
