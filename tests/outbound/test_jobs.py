"""Outbound on the real job queue (SQLite, and Redis where configured): the periodic dispatcher
and the send job are registered, what they queue is ids only, and a short deferral puts the
send back on the queue's schedule by itself."""

from __future__ import annotations

from datetime import UTC, datetime

from sera.bootstrap import Sera
from sera.jobs import Jobs
from sera.outbound.jobs import DISPATCH_JOB, SEND_JOB, dispatch_now
from tests.conftest import FakeClock
from tests.fakes.twilio_server import TwilioServer
from tests.outbound.conftest import actions, at, record, sent_texts
from tests.outbound.shoppers import shopper_checkout


def test_the_dispatcher_runs_every_minute_and_sends_are_jobs(jobs: Jobs) -> None:
    names = set(jobs.huey._registry._registry)
    assert any(name.endswith(DISPATCH_JOB) for name in names)
    assert any(name.endswith(SEND_JOB) for name in names)
    for minute in (0, 17, 59):  # every minute
        due = jobs.huey.read_periodic(datetime(2026, 11, 27, 3, minute))
        assert any(task.name.endswith(DISPATCH_JOB) for task in due)


def test_send_jobs_carry_ids_only(
    sera: Sera, shop: str, jobs: Jobs, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    for n in range(3):
        record(sera, shop, shopper_checkout(n, f"+1312555016{n}"))
    at(clock, datetime(2026, 11, 27, 16, 42, tzinfo=UTC))
    dispatch_now(jobs)
    [task] = jobs.huey.pending()
    ids = {a.id for a in actions(sera, shop)}
    assert task.args[0] == shop and set(task.args[1:]) == ids
    assert not any(isinstance(arg, dict) or "+1" in str(arg) for arg in task.args)


def test_a_rate_limited_send_schedules_itself(
    sera: Sera, shop: str, jobs: Jobs, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    """Rate limits are on by default: three texts from one number at one moment go a second apart."""
    for n in range(3):
        record(sera, shop, shopper_checkout(n, f"+1312555016{n}"))
    at(clock, datetime(2026, 11, 27, 16, 42, tzinfo=UTC))
    dispatch_now(jobs)
    jobs.run_pending()
    assert len(sent_texts(fake_twilio)) == 1
    later = {arg for task in jobs.huey.scheduled() for arg in task.args[1:]}
    assert later == {a.id for a in actions(sera, shop) if a.reason == "rate-limited"} and len(later) == 2
