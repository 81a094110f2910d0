"""Background jobs on Huey: embedded on SQLite, or distributed on Redis with `sera worker`.

Invariants:
- A job carries ids, never personal data: a queue is a place personal data would
  escape retention and erasure. The job loads what it needs when it runs.
- Every job is safe to run twice (a worker can die after doing the work and before
  acknowledging it); jobs that send anything use idempotency keys stored first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.api import Task
from huey.consumer import Consumer

from sera.bootstrap import Sera
from sera.config import Settings

log = logging.getLogger("sera.jobs")
JobId = str | int


def make_huey(settings: Settings, *, name: str = "sera") -> Huey:
    if settings.redis_url:
        return RedisHuey(name, url=settings.redis_url, utc=True)
    Path(settings.jobs_path).parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(settings.jobs_path), utc=True)


def _consumer_options(workers: int) -> dict[str, Any]:
    # An idle worker polls a SQLite queue with a growing pause; Huey's default ceiling (10 s)
    # would delay a job queued after a quiet spell by up to that long. Redis blocks instead.
    return {"workers": workers, "worker_type": "thread", "periodic": True, "max_delay": 1.0}


class _EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A consumer inside the web process: the web server owns the signal handlers."""

    def _set_signal_handlers(self) -> None:
        return None


class Jobs:
    """Sera's jobs, registered on one Huey instance (the same names in every process)."""

    def __init__(self, sera: Sera, huey: Huey) -> None:
        self.sera = sera
        self.huey = huey
        self._tasks: dict[str, Any] = {}
        self._consumer: Consumer | None = None

    def register(self, name: str, handler: Callable[..., Any], *, retries: int = 5, retry_delay: int = 10) -> None:
        """A job that takes ids; it is retried with a delay when it raises."""

        def run(*ids: JobId) -> Any:
            return handler(self.sera, *ids)

        self._tasks[name] = self.huey.task(retries=retries, retry_delay=retry_delay, name=name)(run)

    def periodic(self, name: str, schedule: crontab, handler: Callable[[Sera], Any]) -> None:
        def run() -> Any:
            return handler(self.sera)

        self._tasks[name] = self.huey.periodic_task(schedule, name=name)(run)

    def enqueue(self, name: str, *ids: JobId, delay: float | None = None) -> None:
        for value in ids:
            if not isinstance(value, str | int):
                raise TypeError("jobs carry ids only")
        task = self._tasks[name]
        if delay:
            task.schedule(args=ids, delay=delay)
        else:
            task(*ids)

    def run_pending(self, limit: int = 1000) -> int:
        """Run what is queued now, in this thread (for the CLI and tests). Returns how many ran."""
        ran = 0
        while ran < limit and self.huey.pending_count():  # on Redis, dequeue() waits a second when empty
            task: Task | None = self.huey.dequeue()
            if task is None:
                return ran
            self.huey.execute(task)
            ran += 1
        return ran

    def start_embedded(self, workers: int) -> None:
        """Run the queue's workers and scheduler as threads of this process."""
        self._consumer = _EmbeddedConsumer(self.huey, **_consumer_options(workers))
        self._consumer.start()
        log.info("embedded job workers started", extra={"workers": workers})

    def stop_embedded(self) -> None:
        if self._consumer is not None:
            self._consumer.stop(graceful=True)
            self._consumer = None

    def consumer(self, workers: int) -> Consumer:
        """A consumer for `sera worker` (owns this process's signals)."""
        return Consumer(self.huey, **_consumer_options(workers))
