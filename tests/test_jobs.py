"""The job queue: ids only, retries, and a real consumer, on SQLite and on Redis."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from sera.bootstrap import Sera

ran: list[tuple[str, ...]] = []


def test_jobs_carry_ids_only(jobs: Any) -> None:
    jobs.register("test.record", lambda sera, *ids: ran.append(ids))
    with pytest.raises(TypeError, match="ids only"):
        jobs.enqueue("test.record", {"name": "Priya Shah"})
    ran.clear()
    jobs.enqueue("test.record", "cus_1", 7)
    assert jobs.run_pending() == 1
    assert ran == [("cus_1", 7)]


def test_a_failing_job_is_retried(jobs: Any) -> None:
    attempts: list[int] = []

    def flaky(sera: Sera, key: str) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("provider down")

    jobs.register("test.flaky", flaky, retries=3, retry_delay=0)
    jobs.enqueue("test.flaky", "x")
    deadline = time.monotonic() + 10
    while len(attempts) < 3 and time.monotonic() < deadline:
        jobs.run_pending()
    assert len(attempts) == 3


def test_the_embedded_consumer_runs_jobs(jobs: Any) -> None:
    done = threading.Event()
    jobs.register("test.signal", lambda sera, key: done.set())
    # queued before the workers start, so their first look finds it: an idle worker's timed
    # pause never ends under libfaketime (scripts/test-other-dates), whatever the job's date
    jobs.enqueue("test.signal", "go")
    jobs.start_embedded(2)
    assert done.wait(15), "the consumer did not run the job"


def test_periodic_jobs_are_registered(jobs: Any) -> None:
    names = set(jobs.huey._registry._registry)
    assert any(name.endswith("retention.sweep") for name in names)
    assert any(name.endswith("privacy.deadlines") for name in names)
