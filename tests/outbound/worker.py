"""``sera worker`` for the kill test: the same settings (from the environment), the same
``build_jobs`` and consumer, on a queue name of the test's own (argv[1]) so that runs
sharing a Redis never take each other's jobs. argv[2] is the number of job threads;
argv[3] a file created once the worker is about to consume (so the test kills it while
it works, however long a loaded machine takes to start it)."""

from __future__ import annotations

import sys
from pathlib import Path

from sera.bootstrap import bootstrap
from sera.config import load_settings
from sera.jobs.wiring import build_jobs
from sera.observability import configure_logging


def main() -> None:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    consumer = build_jobs(bootstrap(settings), name=sys.argv[1]).consumer(int(sys.argv[2]))
    Path(sys.argv[3]).touch()
    consumer.run()


if __name__ == "__main__":
    main()
