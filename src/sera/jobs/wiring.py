"""The one place jobs are wired to the capabilities that do the work."""

from __future__ import annotations

from huey import crontab

from sera.bootstrap import Sera
from sera.jobs import Jobs, make_huey
from sera.privacy.queue import check_overdue
from sera.privacy.retention import run_retention


def _retention_sweep(sera: Sera) -> None:
    run_retention(sera, sera.clock())


def _privacy_deadlines(sera: Sera) -> None:
    check_overdue(sera, sera.clock())


def build_jobs(sera: Sera, *, name: str = "sera") -> Jobs:
    jobs = Jobs(sera, make_huey(sera.settings, name=name))
    jobs.periodic("retention.sweep", crontab(minute="15", hour="3"), _retention_sweep)
    jobs.periodic("privacy.deadlines", crontab(minute="*/10"), _privacy_deadlines)
    sera.jobs = jobs
    return jobs
