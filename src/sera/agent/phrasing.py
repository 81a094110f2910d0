"""How the agent says times, days, money, lists and names, the same way in every reply."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time

from sera.agent.context import WEEKDAY_NAMES

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


# Said with "an": a vowel sound first ("an oil change", "an hour"), or an initialism whose first
# letter is spoken so ("an AC recharge", "an MOT", "an X-ray"); "a unicorn", "a one-off", "a euro" are not.
_VOWEL_SOUND = re.compile(r"(?:[ai]|e(?!u)|o(?!ne\b|nce\b)|u(?!ni|s[eu]|ro|ti)|hour|honest|heir)", re.IGNORECASE)
_SPOKEN_AS_VOWEL = re.compile(r"[AEFHILMNORSX](?:[A-Z0-9]|\b)")


def with_article(name: str, *, opening: bool = False) -> str:
    """'a Tune-up', 'an Oil change', 'an AC recharge'; 'An ...' to open a sentence."""
    article = "an" if _SPOKEN_AS_VOWEL.match(name) or _VOWEL_SOUND.match(name) else "a"
    return f"{article.capitalize() if opening else article} {name}"


def say_time(value: time | datetime) -> str:
    """'2 pm', '2:30 pm', 'noon'."""
    if value.hour == 12 and value.minute == 0:
        return "noon"
    hour = value.hour % 12 or 12
    suffix = "am" if value.hour < 12 else "pm"
    return f"{hour} {suffix}" if value.minute == 0 else f"{hour}:{value.minute:02d} {suffix}"


def say_day(day: date, today: date | None = None) -> str:
    """'Tuesday, December 1'; the year only when it is not this year's."""
    full = f"{WEEKDAY_NAMES[day.weekday()]}, {MONTHS[day.month - 1]} {day.day}"
    if today is not None and day.year != today.year and (day - today).days > 180:
        full += f", {day.year}"
    return full


def say_when(moment: datetime, today: date | None = None) -> str:
    return f"{say_day(moment.date(), today)} at {say_time(moment)}"


def say_list(items: Sequence[str], joiner: str = "or") -> str:
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {joiner} {items[-1]}"


def say_money(cents: int | None, currency: str) -> str:
    if cents is None:
        return ""
    amount = f"{cents / 100:,.2f}".removesuffix(".00")
    return f"${amount}" if currency == "USD" else f"{amount} {currency}"


def say_hours(ranges: Sequence[tuple[time, time]]) -> str:
    return say_list([f"{say_time(start)} to {say_time(end)}" for start, end in ranges], "and")
