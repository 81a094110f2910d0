"""The merchant dashboard's numbers (issue #15): each page's server time, what the browser
downloads, and logging in.

    .venv/bin/python bench/dashboard.py [--customers 20000] [--calls 100000] [--messages 50000]
        [--questions N] [--requests 50] [--logins 20] [--fresh]

Seeds the demo shop with ``bench/seed_shop.py``'s ``seed()`` (``--customers`` customers,
``--calls`` calls, ``--messages`` texts over 120 days), adds ``--questions`` questions the agent
could not answer (2% of the calls by default; ``seed()`` makes none, and the analytics page
groups them) and an owner who logs in. Seeding takes minutes at full size: the seeded files are
kept in ``var/bench/dashboard-<sizes>/`` and reused by the next run with the same sizes
(``--fresh`` seeds again).

Then, in-process through a TestClient logged in as the owner (SQLite; server time, no network):

- each page, ``--requests`` times after two warm-up requests: p50 and p95 against the target
  (p95 < 50 ms), and against a baseline measured in the same run through the same client
  (``GET /healthz``, a page that does nothing). A page that is not built yet (404) is reported
  as "missing", and one that fails as "error", so the script can be re-run as pages land;
- JavaScript + CSS shipped to the browser: every script and stylesheet a page's base template
  loads, gzip-compressed at level 6 as a web server would send them (target < 100 KB);
- logging in (argon2id verify and the session's start, ``POST /dashboard/login``), ``--logins``
  times: p50 and p95 (target < 250 ms).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.agent_turn import pct  # noqa: E402
from bench.seed_shop import BenchClock, SeedCheckError, SeedSummary, bench_shop, check, seed  # noqa: E402

from sera.agent.understanding.embedding import embedder  # noqa: E402
from sera.bootstrap import Sera, bootstrap  # noqa: E402
from sera.config import Settings  # noqa: E402
from sera.reports.questions import encode_vector  # noqa: E402
from sera.reports.rollups import keep_every_shops_days  # noqa: E402
from sera.storage.models import AnalyticsDay, UnansweredQuestion, new_id  # noqa: E402
from sera.team.members import create_member  # noqa: E402
from sera.web.app import create_app  # noqa: E402

CACHE = ROOT / "var" / "bench"
BASE = "https://sera.test"
OWNER = "owner@bench.example"
PASSWORD = "bench-owner-password-2026"  # a throwaway shop's, on this machine only
PAGE_TARGET_MS = 50.0
LOGIN_TARGET_MS = 250.0
ASSETS_TARGET_KB = 100.0
WARM_UP = 2
QUESTIONS = (  # phrasings of what callers ask that the demo shop's FAQ does not answer
    "Do you sell gift cards?", "Is there parking near the shop?", "Can I bring my dog inside?",
    "Do you have a student discount?", "Do you ship to Canada?", "Do you rent tandem bikes?",
    "Do you repair electric scooters?", "Is there wifi while I wait?", "Can I store my bike over winter?",
    "Do you take trade-ins?", "Do you offer financing?", "What sizes of kids bikes do you have?",
    "Do you have gravel bikes to test ride?", "How do I pick a helmet size?", "Can you do custom paint?",
    "What does the frame warranty cover?", "When are the group rides?", "Do you do bike fitting?",
    "Is rental insurance included?", "Can you cut a lock if I lost the key?",
)  # fmt: skip


def cache_folder(args: argparse.Namespace) -> Path:
    sizes = f"{args.customers}c-{args.calls}k-{args.messages}m-{args.questions}q-{args.days}d-s{args.seed}"
    return CACHE / f"dashboard-{sizes}"


def prepare(args: argparse.Namespace) -> tuple[Sera, SeedSummary]:
    """The seeded shop: from the cache when it holds these sizes, else seeded now (and kept)."""
    folder = cache_folder(args).resolve()
    done = folder / "summary.json"
    if args.fresh or not done.exists():
        shutil.rmtree(folder, ignore_errors=True)  # a run stopped half-way leaves no summary
        folder.mkdir(parents=True)
        started = time.perf_counter()
        sera, merchant_id = bench_shop(folder, days=args.days)
        summary = seed(
            sera,
            merchant_id,
            customers=args.customers,
            calls=args.calls,
            messages=args.messages,
            days=args.days,
            seed=args.seed,
        )
        add_questions(sera, summary, args.questions)
        create_member(sera, merchant_id, email=OWNER, role="owner", password=PASSWORD, actor="bench")
        print(f"seeded in {time.perf_counter() - started:.0f} s, kept in {folder}")
        try:
            check(sera, summary)
        except SeedCheckError as problem:  # the numbers are still worth printing, with this said
            print(f"WARNING: the seeded shop does not read back as it should: {problem}")
        done.write_text(json.dumps(asdict(summary), default=str, indent=1))
        return sera, summary
    summary = load_summary(done)
    print(f"seeded shop reused from {folder} (--fresh seeds it again)")
    return reopen(folder, summary.now), summary


def add_questions(sera: Sera, summary: SeedSummary, count: int) -> None:
    """Questions sealed as the agent records them, with their sentence vectors (each phrasing
    encoded once), asked at random moments of the seeded history."""
    if count <= 0:
        return
    vectors = [encode_vector(v) for v in embedder().encode(list(QUESTIONS))]
    span = int((summary.now - summary.since).total_seconds())
    with sera.uow(summary.merchant_id) as uow:
        for i in range(count):
            k = (i * 7919) % len(QUESTIONS)
            row = UnansweredQuestion(
                id=new_id("unq"),
                merchant_id=summary.merchant_id,
                channel="voice" if i % 3 else "sms",
                asked_at=summary.since + timedelta(seconds=(i * 104_729) % span),
            )
            uow.vault.seal(row, question=QUESTIONS[k], vector=vectors[k])
            uow.session.add(row)
        uow.commit()


def load_summary(path: Path) -> SeedSummary:
    data: dict[str, Any] = json.loads(path.read_text())
    for name in ("now", "since"):
        data[name] = datetime.fromisoformat(data[name])
    return SeedSummary(**data)


def reopen(folder: Path, now: datetime) -> Sera:
    """The kept files, opened with the keys ``bench_shop`` wrote to their ``sera.env``."""
    env = dict(line.split("=", 1) for line in (folder / "sera.env").read_text().splitlines() if "=" in line)
    settings = Settings(
        env="test",
        database_url=env["SERA_DATABASE_URL"],
        keystore_url=env["SERA_KEYSTORE_URL"],
        master_key=env["SERA_MASTER_KEY"],
        secret_key=env["SERA_SECRET_KEY"],
        public_url=BASE,
        mail_dir=folder / "mail",
    )
    sera = bootstrap(settings, clock=BenchClock(now))
    sera.migrate()  # a shop seeded before the latest migration
    return sera


def pages(summary: SeedSummary) -> list[tuple[str, str]]:
    today = summary.now.astimezone(UTC).date()
    month_ago = today - timedelta(days=30)
    return [
        ("home", "/dashboard/"),
        ("calls list, first page", "/dashboard/calls"),
        (
            "calls list, filtered",
            f"/dashboard/calls?since={month_ago}&until={today}&channel=voice&direction=inbound&outcome=booked",
        ),
        ("a call, 40-turn transcript", f"/dashboard/calls/{summary.long_call_id}"),
        ("customers list", "/dashboard/customers"),
        ("a customer's page", f"/dashboard/customers/{summary.busy_customer_id}"),
        ("analytics, 90 days", "/dashboard/analytics?period=90"),
        ("analytics CSV, 90 days", "/dashboard/analytics.csv?period=90"),
        ("appointments, week view", f"/dashboard/appointments?view=week&date={today}"),
        ("tickets list", "/dashboard/tickets"),
        ("audit log", "/dashboard/privacy/audit"),
    ]


def timed(client: TestClient, url: str, requests: int) -> tuple[str, list[float]]:
    """("ok" and the times in ms), or why not: "missing" for a 404, "error NNN" otherwise."""
    for _ in range(WARM_UP):
        status = client.get(url).status_code
        if status == 404:
            return "missing", []
        if status != 200:
            return f"error {status}", []
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            return f"error {response.status_code}", []
    return "ok", samples


def log_in(client: TestClient) -> float:
    started = time.perf_counter()
    response = client.post("/dashboard/login", data={"email": OWNER, "password": PASSWORD, "next": "/dashboard/"})
    took = (time.perf_counter() - started) * 1000
    if response.status_code != 303:
        raise SystemExit(f"the bench's owner could not log in: {response.status_code} {response.text[:200]}")
    return took


def shipped_assets(client: TestClient) -> list[tuple[str, int, int]]:
    """Every script and stylesheet the page loads: (path, bytes, gzip-compressed bytes)."""
    html = client.get("/dashboard/").text
    scripts = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
    styles = [
        href
        for tag in re.findall(r"<link\b[^>]*>", html)
        if 'rel="stylesheet"' in tag
        for href in re.findall(r'href="([^"]+)"', tag)
    ]
    found = []
    for path in [*styles, *scripts]:
        if path.startswith(("http:", "https:", "//")):
            raise SystemExit(f"a page loads {path} from another origin")
        body = client.get(path).content
        found.append((path, len(body), len(gzip.compress(body, compresslevel=6))))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--questions", type=int, default=None, help="default: 2%% of --calls")
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--fresh", action="store_true", help="seed again instead of reusing var/bench/")
    parser.add_argument(
        "--no-kept-days",
        action="store_true",
        help="forget the kept analytics days: the analytics page as it is before the hourly job first ran",
    )
    args = parser.parse_args()
    if args.questions is None:
        args.questions = args.calls // 50
    sera, summary = prepare(args)
    with sera.uow() as uow:  # as if the hourly job had not run yet
        uow.session.execute(delete(AnalyticsDay))
        uow.commit()
    if not args.no_kept_days:
        started = time.perf_counter()
        kept = keep_every_shops_days(sera)  # what the hourly job does (`analytics.days`)
        print(f"analytics days kept by the hourly job: {kept} in {time.perf_counter() - started:.1f} s")
    counts = ", ".join(f"{n:,} {what.replace('_', ' ')}" for what, n in summary.counts.items())
    print(f"shop: {counts}, {args.questions:,} unanswered questions")

    with TestClient(create_app(sera), base_url=BASE, raise_server_exceptions=False, follow_redirects=False) as client:
        logins = [log_in(client) for _ in range(args.logins)]
        status, baseline = timed(client, "/healthz", args.requests)
        if status != "ok":
            raise SystemExit(f"the baseline page answered {status}")
        base95 = pct(baseline, 95)
        print()
        print(f"server time per page, {args.requests} requests each (target p95 < {PAGE_TARGET_MS:.0f} ms)")
        print(f"  {'page':32s} {'p50 ms':>8s} {'p95 ms':>8s}  {'vs baseline':>11s}  verdict")
        print(f"  {'baseline: GET /healthz':32s} {pct(baseline, 50):8.1f} {base95:8.1f}  {'1.0x':>11s}")
        for name, url in pages(summary):
            status, samples = timed(client, url, args.requests)
            if status != "ok":
                print(f"  {name:32s} {'-':>8s} {'-':>8s}  {'-':>11s}  {status}")
                continue
            p50, p95 = pct(samples, 50), pct(samples, 95)
            verdict = "ok" if p95 < PAGE_TARGET_MS else "OVER TARGET"
            print(f"  {name:32s} {p50:8.1f} {p95:8.1f}  {p95 / base95:10.1f}x  {verdict}")

        assets = shipped_assets(client)
    total = sum(packed for _, _, packed in assets) / 1024
    print()
    print(f"JavaScript + CSS a page loads, gzip -6 (target < {ASSETS_TARGET_KB:.0f} KB)")
    for path, raw, packed in assets:
        print(f"  {path:48s} {raw / 1024:8.1f} KB -> {packed / 1024:6.1f} KB")
    print(f"  {'total':48s} {'':8s}       {total:6.1f} KB  {'ok' if total < ASSETS_TARGET_KB else 'OVER TARGET'}")
    print()
    p50, p95 = pct(logins, 50), pct(logins, 95)
    verdict = "ok" if p95 < LOGIN_TARGET_MS else "OVER TARGET"
    print(f"login, argon2id verify + session start, {args.logins} logins (target p95 < {LOGIN_TARGET_MS:.0f} ms)")
    print(f"  p50 {p50:.1f} ms, p95 {p95:.1f} ms  {verdict}")
    sera.close()


if __name__ == "__main__":
    main()
