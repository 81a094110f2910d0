"""A small time-bounded cache for the look-ups every webhook makes.

Which shop answers a number, and the secret a provider signs that shop's webhooks
with, are read on every request and change rarely. They are kept for ``ttl_s``
seconds: a change made in this process clears the cache at once (``clear()``), one
made by another process (a CLI import, another web worker) is seen within ``ttl_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
MAX_ENTRIES = 10_000  # bounds memory against a flood of unknown numbers; past it, start over


class TtlCache:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The cached value for ``key`` (None included), else ``load()``'s, kept for ``ttl_s``."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            value: T = entry[1]
            return value
        value = load()
        if self.ttl_s > 0:
            with self._lock:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = (now + self.ttl_s, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
