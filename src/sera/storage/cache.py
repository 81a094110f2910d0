"""A small time-bounded cache, for look-ups that are read often and change rarely.

Which shop answers a number, and the secret a provider signs that shop's webhooks with,
are read on every request; unwrapped data keys on every read of personal data. Each is
kept for ``ttl_s`` seconds: a change made in this process clears or drops it at once, one
made by another process (a CLI import, another web worker, an erasure) is seen within
``ttl_s``. Past ``max_entries`` the least recently used entries go first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
MAX_ENTRIES = 10_000  # bounds memory against a flood of unknown numbers
_MISSING = object()


class TtlCache:
    def __init__(
        self, ttl_s: float, clock: Callable[[], float] = time.monotonic, *, max_entries: int = MAX_ENTRIES
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def _fresh(self, key: Hashable) -> Any:
        """The live value for ``key`` or _MISSING (an expired entry is dropped); under the lock."""
        entry = self._entries.get(key)
        if entry is None:
            return _MISSING
        if entry[0] <= self._clock():
            del self._entries[key]
            return _MISSING
        self._entries.move_to_end(key)
        return entry[1]

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The cached value for ``key`` (None included), else ``load()``'s, kept for ``ttl_s``."""
        with self._lock:
            value = self._fresh(key)
        if value is _MISSING:
            value = load()
            self.put(key, value)
        cached: T = value
        return cached

    def cached(self, key: Hashable) -> Any:
        """The cached value for ``key``, or None."""
        with self._lock:
            value = self._fresh(key)
        return None if value is _MISSING else value

    def put(self, key: Hashable, value: Any) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + self.ttl_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def drop(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
