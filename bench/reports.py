"""The weekly report of a busy shop: 100,000 calls and 5,000 unanswered questions in one week.

    .venv/bin/python bench/reports.py [--calls 100000] [--questions 5000] [--database-url URL]

Seeds the demo shop (SQLite in a temp directory, or ``--database-url``, a scratch PostgreSQL
database) with ``--calls`` calls spread over ISO week 2026-W48 (both directions, every
channel and outcome) and ``--questions`` unanswered questions, sealed as the agent records
them. The questions are 500 phrasings (20 subjects, 25 ways to ask), each asked ten times
with its own words after it; the 500 are encoded once by the embedded model (about 3 s,
not timed), as the agent encodes each line when it is said.

Times, best of five: building the whole report (``weekly_report``; goal < 2 s) and grouping
the week's questions into topics (``question_topics``; goal < 1 s). Baseline, same run:
a plain ``SELECT count(*)`` over the week's calls.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sera.agent.understanding.embedding import embedder  # noqa: E402
from sera.bootstrap import bootstrap  # noqa: E402
from sera.config import Settings, new_key_text  # noqa: E402
from sera.merchants.service import import_shop  # noqa: E402
from sera.merchants.shop_file import load_shop_file  # noqa: E402
from sera.reports.questions import encode_vector, questions_between  # noqa: E402
from sera.reports.service import parse_week, question_topics, weekly_report  # noqa: E402
from sera.storage import migrate  # noqa: E402
from sera.storage.database import make_engine  # noqa: E402
from sera.storage.models import Call, UnansweredQuestion, new_id  # noqa: E402

SHOP = ROOT / "src" / "sera" / "merchants" / "demo-shop.yaml"
SUBJECTS = (
    "gift cards", "parking", "dogs in the shop", "student discounts", "shipping to Canada", "tandem bikes",
    "electric scooters", "wifi", "bike storage", "trade-ins", "financing", "kids bikes", "gravel bikes",
    "helmet sizes", "custom paint", "frame warranty", "group rides", "bike fitting", "rental insurance",
    "lock cutting",
)  # fmt: skip
FORMS = (
    "Do you have {}?", "Can you tell me about {}", "what about {}", "is there anything for {}",
    "I'd like to know about {}", "any info on {}", "how does {} work", "do you guys do {}", "question about {}",
    "are {} available", "what's your policy on {}", "who handles {}", "can I get {} today", "how much is {}",
    "where can I find {}", "when do you offer {}", "is {} possible", "help with {}", "do you still do {}",
    "looking for {}", "I need {}", "what are the options for {}", "tell me about {} please", "asking about {}",
    "info about {}",
)  # fmt: skip
OUTCOMES = ("booked", "knowledge", "message", "transferred", "order_status", "abandoned")


def best(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=5_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sera-bench-reports-"))
    url = args.database_url or f"sqlite:///{folder / 'sera.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    settings = Settings(
        env="test",
        database_url=url,
        keystore_url=f"sqlite:///{folder / 'keys.db'}",
        master_key=new_key_text(),
        secret_key=new_key_text(),
        public_url="https://sera.test",
    )
    sera = bootstrap(settings, clock=lambda: datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    sera.keystore.create_schema()
    merchant_id = import_shop(sera, load_shop_file(SHOP), actor="bench").merchant_id
    week = parse_week("2026-W48", ZoneInfo("America/Chicago"))
    seconds = int((week.ends - week.starts).total_seconds())
    rng = random.Random(48)

    started = time.perf_counter()
    with sera.uow(merchant_id) as uow:
        for chunk in range(0, args.calls, 10_000):
            rows = []
            for i in range(chunk, min(chunk + 10_000, args.calls)):
                at = week.starts + timedelta(seconds=rng.randrange(seconds))
                rows.append(
                    {
                        "id": new_id("call"),
                        "merchant_id": merchant_id,
                        "channel": rng.choice(("voice", "voice", "sms", "web")),
                        "direction": "outbound" if i % 10 == 0 else "inbound",
                        "provider": "local",
                        "provider_call_id": f"bench-{i}",
                        "started_at": at,
                        "ended_at": at + timedelta(minutes=3),
                        "duration_s": 180,
                        "outcome": rng.choice(OUTCOMES),
                    }
                )
            uow.session.execute(insert(Call), rows)
        phrasings = [form.format(subject) for subject in SUBJECTS for form in FORMS]
        vectors = embedder().encode(phrasings)
        for i in range(args.questions):
            row = UnansweredQuestion(
                id=new_id("unq"),
                merchant_id=merchant_id,
                channel="voice",
                asked_at=week.starts + timedelta(seconds=rng.randrange(seconds)),
            )
            k = i % len(phrasings)
            uow.vault.seal(row, question=f"{phrasings[k]} #{i}", vector=encode_vector(vectors[k]))
            uow.session.add(row)
        uow.commit()
    print(f"seeded {args.calls:,} calls and {args.questions:,} questions in {time.perf_counter() - started:.1f} s")

    with sera.uow(merchant_id, readonly=True) as uow:
        baseline = best(5, lambda: uow.session.execute(select(func.count()).select_from(Call)).scalar_one())
        report = weekly_report(uow, week)
        built = best(5, lambda: weekly_report(uow, week))
        asked = questions_between(uow, week.starts, week.ends)
        grouped = best(5, lambda: question_topics(asked))
    print(f"baseline: SELECT count(*) over {args.calls:,} calls       {baseline * 1000:8.1f} ms")
    print(f"weekly report, whole (goal < 2 s)                  {built * 1000:8.1f} ms")
    print(f"grouping {len(asked):,} questions (goal < 1 s)          {grouped * 1000:8.1f} ms")
    print(f"  {sum(report.calls.values()):,} calls, {report.unanswered:,} questions in {len(report.topics)} topics")
    for topic in report.topics[:5]:
        print(f"  {topic.count:5d}  {topic.label:30s} e.g. {topic.example!r}")
    sera.close()


if __name__ == "__main__":
    main()
