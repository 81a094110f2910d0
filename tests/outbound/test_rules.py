"""Rules every send obeys: quiet hours in the recipient's own time, the shop's daily cap, the
sending number's rate (shared by every worker), and one worker at a time per message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sera.bootstrap import Sera
from sera.outbound.dispatch import dispatch
from sera.outbound.locks import FileActionLocks, FileThrottle, PostgresActionLocks, RedisThrottle, Throttle
from sera.outbound.service import send_action
from tests.conftest import PG_URL, REDIS_URL, FakeClock
from tests.fakes.twilio_server import TwilioServer
from tests.outbound.conftest import Queue, actions, at, make_outbox, record, sent_texts
from tests.outbound.shoppers import set_outbound, shopper_checkout

CHICAGO_SHOPPER = "+13125550141"
LOS_ANGELES_SHOPPER = "+12135550142"


def test_a_send_due_in_quiet_hours_waits_for_the_morning(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, shopper_checkout(1, CHICAGO_SHOPPER, updated_at="2026-11-27T20:10:00-06:00"))
    at(clock, datetime(2026, 11, 28, 3, 10, tzinfo=UTC))  # 21:10 in Chicago: due, and quiet
    queue.tick()
    [action] = actions(sera, shop)
    morning = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)  # 08:00 in Chicago
    assert (action.status, action.reason, action.due_at) == ("scheduled", "quiet-hours-deferred", morning)
    at(clock, morning - timedelta(minutes=1))
    queue.tick()
    assert sent_texts(fake_twilio) == []
    at(clock, morning)
    queue.tick()
    assert len(sent_texts(fake_twilio)) == 1
    assert actions(sera, shop)[0].sent_at == morning


def test_quiet_hours_are_the_recipients_not_the_shops(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    """09:30 in Chicago is 07:30 in Los Angeles: the Chicago shopper gets it, the LA one at 08:00 LA."""
    record(sera, shop, shopper_checkout(1, CHICAGO_SHOPPER, updated_at="2026-11-27T08:30:00-06:00"))
    record(sera, shop, shopper_checkout(2, LOS_ANGELES_SHOPPER, updated_at="2026-11-27T08:30:00-06:00"))
    at(clock, datetime(2026, 11, 27, 15, 30, tzinfo=UTC))
    queue.tick()
    assert [m["to"] for m in sent_texts(fake_twilio)] == [CHICAGO_SHOPPER]
    la = next(a for a in actions(sera, shop) if a.status == "scheduled")
    assert la.due_at == datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # 08:00 in Los Angeles
    at(clock, la.due_at)
    queue.tick()
    assert [m["to"] for m in sent_texts(fake_twilio)] == [CHICAGO_SHOPPER, LOS_ANGELES_SHOPPER]


def test_quiet_hours_can_be_switched_off(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    set_outbound(sera, shop, quiet_hours={"start": "00:00", "end": "00:00"})
    record(sera, shop, shopper_checkout(1, CHICAGO_SHOPPER, updated_at="2026-11-27T22:00:00-06:00"))
    at(clock, datetime(2026, 11, 28, 5, 0, tzinfo=UTC))  # 23:00 in Chicago
    queue.tick()
    assert len(sent_texts(fake_twilio)) == 1


def test_the_daily_cap_skips_what_is_over_it(
    sera: Sera, shop: str, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    queue = Queue(sera, make_outbox(sera, daily_cap=2))
    for n in range(3):
        record(sera, shop, shopper_checkout(n, f"+1312555016{n}"))
    at(clock, datetime(2026, 11, 27, 16, 42, tzinfo=UTC))
    queue.tick()
    assert len(sent_texts(fake_twilio)) == 2
    assert sorted((a.status, a.reason) for a in actions(sera, shop)) == [
        ("sent", "sent"),
        ("sent", "sent"),
        ("skipped", "capped"),
    ]


def test_the_sending_number_sends_one_text_a_second(
    sera: Sera, shop: str, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    queue = Queue(sera, make_outbox(sera, rate_limits=True))
    for n in range(3):
        record(sera, shop, shopper_checkout(n, f"+1312555016{n}"))
    start = datetime(2026, 11, 27, 16, 42, tzinfo=UTC)
    at(clock, start)
    queue.tick()
    assert len(sent_texts(fake_twilio)) == 1
    waiting = sorted(a.due_at for a in actions(sera, shop) if a.status == "scheduled")
    assert waiting == [start + timedelta(seconds=1), start + timedelta(seconds=2)]
    assert {a.reason for a in actions(sera, shop) if a.status == "scheduled"} == {"rate-limited"}
    for second in (1, 2):
        at(clock, start + timedelta(seconds=second))
        queue.run_due()
        assert len(sent_texts(fake_twilio)) == 1 + second
    assert sorted(a.sent_at for a in actions(sera, shop)) == [start + timedelta(seconds=s) for s in range(3)]


def throttles(tmp_path: Path) -> list[Throttle]:
    found: list[Throttle] = [FileThrottle(tmp_path / "rates")]
    if REDIS_URL:
        found.append(RedisThrottle(REDIS_URL, namespace=f"sera-test-{uuid.uuid4().hex[:8]}"))
    return found


def test_concurrent_workers_get_distinct_slots_per_sending_number(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    for throttle in throttles(tmp_path):
        with ThreadPoolExecutor(16) as pool:
            slots = list(pool.map(throttle.reserve, ["+13125550100"] * 40, [now] * 40, [timedelta(seconds=1)] * 40))
        assert sorted(slots) == [now + timedelta(seconds=s) for s in range(40)]
        other = throttle.reserve("+13125550101", now, timedelta(seconds=1))
        assert other == now  # another sending number has its own pace


def _hold_in_child(code: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": "src"}
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_an_action_lock_excludes_other_threads_and_dies_with_its_process(tmp_path: Path) -> None:
    locks = FileActionLocks(tmp_path / "actions")
    with locks.hold(["out_1", "out_2"], 0.1) as held:
        assert held == {"out_1", "out_2"}
        result: list[set[str]] = []

        def other() -> None:
            with locks.hold(["out_1", "out_3"], 0.1) as theirs:
                result.append(theirs)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert result == [{"out_3"}]
    child = _hold_in_child(
        "import sys, time; from pathlib import Path; from sera.outbound.locks import FileActionLocks\n"
        f"lock = FileActionLocks(Path({str(tmp_path / 'actions')!r})).hold(['out_4'], 1)\n"
        "assert lock.__enter__(); print('held', flush=True); time.sleep(60)"
    )
    with locks.hold(["out_4"], 0.2) as held:
        assert held == set()  # a live worker has it
    child.send_signal(signal.SIGKILL)
    child.wait()
    with locks.hold(["out_4"], 2) as held:
        assert held == {"out_4"}  # its worker is gone


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL advisory locks need SERA_TEST_DATABASE_URL")
def test_a_postgres_action_lock_dies_with_its_process(sera: Sera) -> None:
    locks = PostgresActionLocks(sera.db.engine)
    url = sera.settings.database_url
    child = _hold_in_child(
        "import time; from sera.storage.database import make_engine; "
        "from sera.outbound.locks import PostgresActionLocks\n"
        f"lock = PostgresActionLocks(make_engine({url!r})).hold(['out_3'], 1)\n"
        "assert lock.__enter__(); print('held', flush=True); time.sleep(60)"
    )
    with locks.hold(["out_3", "out_5"], 0.2) as held:
        assert held == {"out_5"}
    child.send_signal(signal.SIGKILL)
    child.wait()
    with locks.hold(["out_3"], 5) as held:
        assert held == {"out_3"}


def test_a_live_workers_action_is_left_to_it(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, shopper_checkout(1, CHICAGO_SHOPPER))
    at(clock, datetime(2026, 11, 27, 16, 42, tzinfo=UTC))
    dispatch(sera, lambda *_: None, clock())  # planned and queued; the job has not run
    [action] = actions(sera, shop)
    with queue.box.locks.hold([action.id], 1) as held:
        assert held == {action.id}
        result: list[str] = []
        worker = threading.Thread(target=lambda: result.append(send_action(queue.box, shop, action.id).status))
        worker.start()
        worker.join()
    assert result == ["busy"] and sent_texts(fake_twilio) == []
    assert send_action(queue.box, shop, action.id).status == "sent"
