"""Record ids: unguessable, and in creation order (the retention sweep and inserts rely on it)."""

from __future__ import annotations

import re
import time

from sera.storage.models import new_id


def test_ids_sort_in_the_order_they_were_made() -> None:
    made = []
    for _ in range(5):
        made.append(new_id("call"))
        time.sleep(0.002)
    assert sorted(made) == made


def test_ids_carry_eighty_random_bits_after_the_clock_and_fit_their_columns() -> None:
    ids = {new_id("cus") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"cus_[0-9a-f]{12}[0-9a-f]{20}", i) and len(i) <= 40 for i in ids)
