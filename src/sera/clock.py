"""The one clock.

Every timestamp Sera writes or compares comes from the clock its ``Sera`` was built with
(``sera.clock()``; a unit of work stamps new rows with it): the machine's clock in
production, a clock the tests set and move. Nothing in the capabilities reads the
machine's time itself (``tests/unit/test_one_clock.py`` finds any new use).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The machine's time, timezone-aware UTC: the default clock of a running Sera."""
    return datetime.now(UTC)
