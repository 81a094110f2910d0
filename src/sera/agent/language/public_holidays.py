"""The public holidays of the shop's place, by the names callers give them ("are you open on
Matariki?", "WA Day", "the bank holiday Monday"): a date that differs by country, state or
province, read from the shop's time zone and the `holidays` calendar of that place."""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path
from zoneinfo import TZPATH

import holidays

# The country, and the state or province where holidays differ by it, of a time zone. Other
# zones get their country's own holidays (the United States' federal ones), by the time zone
# database's table.
_PLACES = {
    "Australia/Perth": ("AU", "WA"),
    "Australia/Adelaide": ("AU", "SA"),
    "Australia/Darwin": ("AU", "NT"),
    "Australia/Brisbane": ("AU", "QLD"),
    "Australia/Sydney": ("AU", "NSW"),
    "Australia/Melbourne": ("AU", "VIC"),
    "Australia/Hobart": ("AU", "TAS"),
    "America/Toronto": ("CA", "ON"),
    "America/Vancouver": ("CA", "BC"),
    "America/Edmonton": ("CA", "AB"),
    "America/Winnipeg": ("CA", "MB"),
    "America/Regina": ("CA", "SK"),
    "America/Halifax": ("CA", "NS"),
    "America/Moncton": ("CA", "NB"),
    "America/St_Johns": ("CA", "NL"),
    "Pacific/Honolulu": ("US", "HI"),
    "America/Anchorage": ("US", "AK"),
    "America/Puerto_Rico": ("US", "PR"),
    "Europe/London": ("GB", "ENG"),
}
# The names callers use beside the calendar's own, in the calendar's words.
_SAID_AS = {
    "wa day": "western australia day",
    "bc day": "british columbia day",
    "may two four": "victoria day",
    "may twenty four": "victoria day",
    "may long weekend": "victoria day",
    "presidents day": "washingtons birthday",
    "mlk day": "martin luther king jr day",
    "martin luther king day": "martin luther king jr day",
    "thanksgiving": "thanksgiving day",
    "queens birthday": "kings birthday",
    "august bank holiday": "late summer bank holiday",
    "summer bank holiday": "late summer bank holiday",
    "may bank holiday": "may day",
    "early may bank holiday": "may day",
    "whit monday": "spring bank holiday",
}
# "the bank holiday", "the long weekend", "the stat holiday on Monday": the place's next holiday
GENERIC = frozenset(
    {
        ("bank", "holiday"),
        ("public", "holiday"),
        ("stat", "holiday"),
        ("statutory", "holiday"),
        ("long", "weekend"),
        ("holiday", "monday"),
    }
)
LONGEST = 6  # words in the longest name looked for


def plain(word: str) -> str:
    """A word of a holiday's name as looked for: without apostrophes or points, "labour" spelt
    "labor" and "saint" as "st"."""
    word = word.lower().replace("'", "").replace("\u2019", "").replace(".", "")
    return {"labour": "labor", "saint": "st"}.get(word, word)


def said(name: str) -> tuple[str, ...]:
    """A holiday's name as words to find in a line."""
    return tuple(plain(word) for word in re.sub(r"[^\w'\u2019. ]", " ", name).split() if plain(word))


def holidays_named(zone: str | None, year: int) -> dict[tuple[str, ...], list[dt.date]]:
    """The place's holidays in ``year``, by their names as said, each with its dates (an
    observed day besides the day itself)."""
    return _named(zone, year) if zone else {}


def days_off(zone: str | None, year: int) -> list[dt.date]:
    """Every holiday of the place in ``year``, in order."""
    return sorted({day for days in holidays_named(zone, year).values() for day in days})


@functools.lru_cache(maxsize=64)
def _named(zone: str, year: int) -> dict[tuple[str, ...], list[dt.date]]:
    country, subdivision = _PLACES.get(zone) or (country_of(zone), None)
    if country is None:
        return {}
    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    except NotImplementedError:  # a country the calendar does not know
        return {}
    named = _by_name(calendar)
    for alias, name in _SAID_AS.items():
        if said(name) in named:
            named[said(alias)] = named[said(name)]
    _shortened(named, dict(named))
    # a holiday of one state or region only, where the time zone does not tell which ("Kamehameha
    # Day" of a shop on Pacific time or the Battle of the Boyne in Europe/London's Belfast): its
    # date, where every region that keeps a holiday of that name keeps it on the same days
    regional: dict[tuple[str, ...], list[dt.date]] = {}
    clashes: set[tuple[str, ...]] = set()
    for region in getattr(type(calendar), "subdivisions", ()):
        if region != subdivision:
            for words, days in _by_name(holidays.country_holidays(country, subdiv=region, years=year)).items():
                if regional.setdefault(words, days) != days:
                    clashes.add(words)
    kept = {
        words: days
        for words, days in regional.items()
        if words not in clashes and words not in named and not _EVERYDAY.issuperset(words)
    }
    named.update(kept)
    _shortened(named, kept)
    return named


def _shortened(named: dict[tuple[str, ...], list[dt.date]], holidays_of: dict[tuple[str, ...], list[dt.date]]) -> None:
    """Adds to ``named`` the names of ``holidays_of`` without their place ("Cup Day" of the Adelaide
    Cup Day), where no other holiday of theirs shortens to the same and the name is not taken."""
    shortened: dict[tuple[str, ...], list[list[dt.date]]] = {}
    for words, days in holidays_of.items():
        short = words[1:]
        if len(short) >= 2 and short[-1] == "day" and short[0] not in _NOT_A_NAME and short not in named:
            shortened.setdefault(short, []).append(days)
    named.update({short: days[0] for short, days in shortened.items() if len(days) == 1})


# words of a region's holiday that may be said of anything else ("our family day", "election day"):
# a holiday of another region named only in them is not looked for
_EVERYDAY = frozenset(
    [
        "all",
        "americans",
        "arbor",
        "citizenship",
        "commonwealth",
        "constitution",
        "covenant",
        "cultural",
        "day",
        "discovery",
        "election",
        "emancipation",
        "family",
        "heritage",
        "indigenous",
        "islander",
        "liberty",
        "memorial",
        "national",
        "native",
        "of",
        "patriots",
        "peoples",
        "pioneer",
        "primary",
        "remembrance",
        "souls",
        "the",
        "transfer",
        "victory",
    ]
)
_NOT_A_NAME = frozenset({"after", "before", "of", "the", "day"})


def _by_name(calendar: holidays.HolidayBase) -> dict[tuple[str, ...], list[dt.date]]:
    named: dict[tuple[str, ...], list[dt.date]] = {}
    for day, names in sorted(calendar.items()):
        for name in str(names).split(";"):
            words = said(name.replace("(observed)", ""))
            if words:
                named.setdefault(words, []).append(day)
    return named


@functools.cache
def _countries() -> dict[str, str]:
    """Each time zone's country, from the time zone database's own table."""
    for folder in TZPATH:
        table = Path(folder) / "zone.tab"
        if table.is_file():
            rows = (line.split("\t") for line in table.read_text().splitlines() if not line.startswith("#"))
            return {row[2]: row[0] for row in rows if len(row) >= 3}
    return {}


def country_of(zone: str | None) -> str | None:
    """The country (ISO 3166 code) a time zone lies in, if the time zone database says."""
    if zone is None:
        return None
    return _PLACES[zone][0] if zone in _PLACES else _countries().get(zone)
