"""The kill test: 500 recovery texts (and, in its second form, 200 recovery calls) sent by two
real worker processes (``build_jobs`` and
the Huey consumer, as ``sera worker`` runs them), each SIGKILLed a random 0.2 to 1.6 s
(seeded) after it is ready to consume and restarted, until every text is out. The fake
Twilio in this process takes a few milliseconds to create each message, before storing
it and before answering, so kills land between "intent stored" and "provider called",
during the call, and between "provider took it" and "outcome recorded". Then: every
intended text reached Twilio exactly once, every action is ``sent`` with that message's
sid, and some were found by reconciliation (the path this test is about). Calls take the
same path with Twilio's Calls API: placed once each, found again in its list of calls.

Runs once per queue: on SQLite's in the SQLite suite and, where SERA_TEST_REDIS_URL is set
(the PostgreSQL and Redis suite), on Redis's. Rate limits are off and the shop's quiet hours too;
``SERA_OUTBOUND_SETTLE_SECONDS`` is 2 (the fake finishes any request within 50 ms). The
test process also plays the periodic dispatcher, every second instead of every minute,
with short "lost job" and "stale sending" ages: a sweep racing live workers is part of
what is tested.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sera.bootstrap import Sera
from sera.jobs import Jobs
from sera.jobs.wiring import build_jobs
from sera.outbound.dispatch import dispatch
from sera.outbound.jobs import enqueue_send
from sera.storage.models import OutboundAction
from tests.adapters.twilio.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.conftest import KILL_BACKENDS, REDIS_URL, ROOT, Personas
from tests.outbound.paced_twilio import Pace, PacedTwilioServer
from tests.outbound.shoppers import grant_call_consent, record_shopper_checkouts, set_outbound
from tests.outbound.worker import worker_env

SENDS = {"sms": 500, "call": 200}
WORKERS = 2  # processes, each with THREADS job threads
THREADS = 2
SEED = 20261127
LIFETIME = (0.2, 1.6)  # seconds a worker works (from when it is ready to consume) before its SIGKILL
SETTLE = 2  # seconds before a dead worker's send is reconciled: the fake finishes a request within 50 ms
DEADLINE = 120.0  # seconds of kills at most: on this machine the test takes 20 to 30 s per backend
# then the workers are left alone to finish what is left, for at most this long: a loaded machine
# starts every replaced worker slowly (its imports alone may take seconds), and work not finished
# while the kills went on is not lost for that
DRAIN = 120.0  # DEADLINE and DRAIN stay inside the suite's 300 s timeout of a test
WORKER = Path(__file__).with_name("worker.py")


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """The workers live on the wall clock; so does this test."""
    return lambda: datetime.now(UTC)


@pytest.fixture
def pace() -> Pace:
    rng = random.Random(SEED)
    return Pace(before=lambda: rng.uniform(0, 0.02), after=lambda: rng.uniform(0, 0.05))


@pytest.fixture
def fake_twilio(pace: Pace) -> Iterator[PacedTwilioServer]:
    with PacedTwilioServer(pace) as fake:
        fake.add_account(ACCOUNT_SID, AUTH_TOKEN)
        yield fake


@pytest.fixture(params=KILL_BACKENDS)
def queue(request: pytest.FixtureRequest, sera: Sera, personas: Personas) -> Iterator[Jobs]:
    if request.param == "redis":
        sera.settings = sera.settings.model_copy(update={"redis_url": REDIS_URL})
    jobs = build_jobs(sera, name=f"sera-kill-{uuid.uuid4().hex[:8]}")
    yield jobs
    jobs.huey.flush()


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    ready: Path
    lifetime: float
    kill_at: float | None = None

    def due_for_kill(self) -> bool:
        if self.kill_at is None and self.ready.exists():
            self.kill_at = time.monotonic() + self.lifetime
        return self.kill_at is not None and time.monotonic() >= self.kill_at

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def kill_until(done: Callable[[], bool], sweep: Callable[[], None], spawn: Callable[[], Worker]) -> int:
    """Run WORKERS workers, each killed when its lifetime is up and replaced, with ``sweep`` (the
    periodic dispatcher) every second, until ``done``; after DEADLINE the workers are killed no
    more and have DRAIN to finish. Returns how many were killed."""
    started = time.monotonic()
    workers = [spawn() for _ in range(WORKERS)]
    kills = 0
    try:
        while not done() and time.monotonic() - started < DEADLINE + DRAIN:
            sweep()
            killing = time.monotonic() - started < DEADLINE
            for _ in range(20):
                for i, worker in enumerate(workers):
                    if killing and worker.due_for_kill():
                        worker.kill()
                        kills += 1
                        workers[i] = spawn()
                time.sleep(0.05)
    finally:
        for worker in workers:
            worker.kill()
    return kills


def _unsent(sera: Sera, shop: str) -> int:
    with sera.uow(shop, readonly=True) as uow:
        return int(
            uow.session.execute(
                select(func.count()).select_from(OutboundAction).where(OutboundAction.status != "sent")
            ).scalar_one()
        )


@pytest.mark.slow
@pytest.mark.parametrize("channel", ["sms", "call"])
def test_no_text_or_call_is_lost_or_sent_twice_when_workers_are_killed(
    sera: Sera, personas: Personas, queue: Jobs, fake_twilio: PacedTwilioServer, tmp_path: Path, channel: str
) -> None:
    shop = personas.northside_id
    sends = SENDS[channel]
    set_outbound(sera, shop, quiet_hours={"start": "00:00", "end": "00:00"}, abandoned_checkout={"channel": channel})
    shoppers = record_shopper_checkouts(sera, shop, 0, sends, datetime.now(UTC) - timedelta(hours=2))
    if channel == "call":
        grant_call_consent(sera, shop)
    env = worker_env(sera.settings, tmp_path, SERA_OUTBOUND_SETTLE_SECONDS=str(SETTLE))
    rng = random.Random(SEED)
    log = (tmp_path / "workers.log").open("w")

    def spawn() -> Worker:
        ready = tmp_path / f"ready-{uuid.uuid4().hex[:8]}"
        command = [sys.executable, str(WORKER), queue.huey.name, str(THREADS), str(ready)]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        return Worker(process, ready, rng.uniform(*LIFETIME))

    def sweep() -> None:
        dispatch(
            sera,
            lambda merchant_id, action_ids, delay: enqueue_send(queue, merchant_id, action_ids, delay),
            sera.clock(),
            requeue_after=timedelta(seconds=2),
            stale_sending=timedelta(seconds=1),
        )

    sweep()
    assert _unsent(sera, shop) == sends  # planned and queued
    started = time.monotonic()
    try:
        kills = kill_until(lambda: not _unsent(sera, shop), sweep, spawn)
    finally:
        log.close()
    elapsed = time.monotonic() - started

    if channel == "call":
        sent = [c for c in fake_twilio.state.calls if c["direction"] == "outbound-api"]
    else:
        sent = [m for m in fake_twilio.state.messages if m["direction"] == "outbound-api"]
    received = Counter(m["to"] for m in sent)
    with sera.uow(shop, readonly=True) as uow:
        outcomes = list(uow.session.execute(select(OutboundAction)).scalars())
    reconciled = sum(1 for a in outcomes if a.reason == "reconciled")
    print(f"\n{len(sent)} sent ({channel}), {kills} kills, {reconciled} reconciled, {elapsed:.1f} s")
    assert kills >= 5 and reconciled > 0, "the workers were hardly killed mid-send: the test proved nothing"
    assert [to for to, n in received.items() if n > 1] == [], "duplicated"
    assert sorted(set(shoppers) - set(received)) == [], "lost"
    assert len(sent) == sends
    if channel == "sms":
        assert all(f"Hi {shoppers[m['to']]}," in m["body"] for m in sent)
    assert Counter(a.status for a in outcomes) == {"sent": sends}
    assert {a.provider_ref for a in outcomes} == {m["sid"] for m in sent}
