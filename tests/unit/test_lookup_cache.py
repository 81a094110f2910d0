"""The short-lived cache of look-ups (a number's shop, a webhook secret, an unwrapped key)."""

from __future__ import annotations

from sera.storage.cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_loaded_once_until_it_expires() -> None:
    clock = Clock()
    cache = TtlCache(5, clock)
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return len(loads)

    assert cache.get("k", load) == 1
    clock.now = 4.9
    assert cache.get("k", load) == 1
    clock.now = 5.1
    assert cache.get("k", load) == 2


def test_an_unknown_number_is_remembered_too_and_clear_forgets_everything() -> None:
    cache = TtlCache(5, Clock())
    assert cache.get("+13125550199", lambda: None) is None
    assert cache.get("+13125550199", lambda: "mer_1") is None  # still the cached answer
    cache.clear()
    assert cache.get("+13125550199", lambda: "mer_1") == "mer_1"


def test_a_zero_ttl_caches_nothing() -> None:
    cache = TtlCache(0, Clock())
    assert cache.get("k", lambda: 1) == 1
    assert cache.get("k", lambda: 2) == 2


def test_past_its_bound_the_least_recently_used_entry_goes_first() -> None:
    cache = TtlCache(5, Clock(), max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.cached("a") == 1  # "a" was used last: "b" is the one to go
    cache.put("c", 3)
    assert (cache.cached("a"), cache.cached("b"), cache.cached("c")) == (1, None, 3)
    cache.drop("a")
    assert cache.get("a", lambda: 9) == 9
