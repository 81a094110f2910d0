"""Relative dates and clock times as callers say them, resolved in the shop's zone.

Every function takes ``now`` already converted to the shop's timezone, so "today"
and "tomorrow" mean the shop's calendar day. Times come back as naive
``datetime.time`` values in that same zone.

Readings chosen for ambiguous speech (documented because callers rely on them):

* A weekday ("tuesday", "this tuesday", "next tuesday", "on tuesday") is the
  first such day strictly after today: said on a Tuesday it means next week's
  Tuesday ("today" is how callers mean the same day). "next tuesday" follows
  the common US reading and equals plain "tuesday".
* "next week" is Monday of next calendar week (weeks start Monday);
  "tuesday next week" is the Tuesday of that week.
* A month-day without a year ("december 3") is its next occurrence on or after
  today; "the 3rd" is the next 3rd of a month on or after today.
* "12/3" is US month/day.
* A clock hour without am/pm uses business hours: 1-7 -> pm, 8-11 -> am,
  12 -> noon; a part of the day anywhere in the text ("morning", "tonight")
  overrides that.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from sera.agent.language import public_holidays
from sera.agent.language.normalize import expand_shorthand, within_one_edit
from sera.agent.language.numbers import TEENS, TENS, UNITS, number_at

__all__ = [
    "DateMatch",
    "TimeMatch",
    "When",
    "find_dates",
    "parse_date",
    "parse_time",
    "parse_when",
]

_MAX_TOKENS = 400

_MONTHS: dict[str, int] = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_WEEKDAYS: dict[str, int] = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
    "tues": 1,
    "weds": 2,
    "thurs": 3,
    "thur": 3,
    "tue": 1,
    "thu": 3,
    "fri": 4,  # abbreviations that are no ordinary word
    "munday": 0,  # as speech-to-text hears a New Zealand or Australian "Monday"
}
# said short or broad in Australia, New Zealand and the north of England ("Satdy morning, seven?",
# "what time do you knock off on a Saturdee?")
_WEEKDAYS.update(
    {
        stem + ending: day
        for stem, day in (
            ("mon", 0),
            ("mun", 0),
            ("tues", 1),
            ("wednes", 2),
            ("wens", 2),
            ("thurs", 3),
            ("fri", 4),
            ("satur", 5),
            ("sat", 5),
            ("sun", 6),
        )
        for ending in ("dy", "dee", "dey")
    }
)
# Abbreviations that are also ordinary words ("sat", "sun", "wed") only count
# after a word that introduces a day.
_RISKY_WEEKDAYS: dict[str, int] = {
    "mon": 0,
    "wed": 2,
    "sat": 5,
    "sun": 6,
}
_DAY_INTRO = frozenset({"on", "this", "next", "by", "until", "till", "coming", "for", "to", "from"})
_ORDINAL_WORDS: dict[str, int] = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
}
# A spelled "the third" is only a date when followed by one of these (or
# nothing): "the third time I called" is not a date.
_ORDINAL_DATE_FOLLOWERS = frozenset(
    {"at", "in", "around", "about", "morning", "afternoon", "evening", "please", "or", "and"}
    | {"if", "then", "works", "would", "instead", "is", "for", "by"}
)
_DIGIT_ORDINAL = re.compile(r"(\d{1,2})(?:st|nd|rd|th)")
_DAY_DIGITS = re.compile(r"\d{1,2}")
_YEAR_DIGITS = re.compile(r"(?:19|20)\d{2}")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?")

_HHMM = re.compile(r"(\d{1,2}):(\d{2})")
_DOTTED_CLOCK = re.compile(r"(\d{1,2})\.(\d{2})")  # British "11.30": a price too, so it needs a cue
_HOUR_DIGITS = re.compile(r"\d{1,2}")
_MINUTE_DIGITS = re.compile(r"\d{2}")
_COMPACT_CLOCK = re.compile(r"(\d{1,2})(\d{2})")
_NOT_A_DAY_BEFORE = frozenset({"i", "we", "you", "he", "she", "they", "it", "who", "the", "a", "and"})
_CLOCK_START = re.compile(r"\d{1,2}(?::\d{2})?(?:am|pm)?$")
_HOUR_ISH = re.compile(r"(\d{1,2})ish")
_TIME_CUES = frozenset(
    {"at", "around", "about", "by", "approximately", "roughly", "after", "before"}
    | {"until", "till", "til", "between", "from"}
)
_APPROX_CUES = frozenset({"around", "about", "approximately", "roughly", "between"})
_NOT_A_CLOCK_AFTER = frozenset(
    {"day", "days", "week", "weeks", "month", "months", "year", "years", "hour", "hours"}
    | {"minute", "minutes", "min", "people", "person", "persons", "bike", "bikes", "items"}
    | {"item", "dollars", "dollar", "bucks", "percent", "times", "time", "point", "of"}
    | {"miles", "kids", "more", "less", "st", "nd", "rd", "th", "locations", "stores"}
)
_OCLOCK = frozenset({"o'clock", "oclock"})
_ONE_AS_A_TIME = frozenset({"o'clock", "oclock", "am", "pm", "thirty", "fifteen", "forty", "fifty"})
_ONE_AS_PRONOUN = frozenset(
    {"the", "that", "this", "earliest", "latest", "first", "last", "later", "earlier", "other", "next", "early", "late"}
)
_AFTER_A_PARTS_HOUR = frozenset(
    {"", "please", "thanks", "ta", "cheers", "if", "or", "and", "then", "ok", "okay", "for", "with", "mate", "works"}
)
_PARTS: dict[str, str] = {
    "morning": "morning",
    "mornings": "morning",
    "afternoon": "afternoon",
    "afternoons": "afternoon",
    "evening": "evening",
    "evenings": "evening",
    "tonight": "evening",
    "night": "evening",
}
_EARLIEST = re.compile(
    r"\b(?:earliest|first thing|as soon as (?:possible|you can)|asap|soonest"
    r"|first available|next available|as early as (?:possible|you|ye|y'?all|they))\b"
)


@dataclass(frozen=True, slots=True)
class DateMatch:
    """A calendar day and the words that named it."""

    day: dt.date
    text: str


@dataclass(frozen=True, slots=True)
class TimeMatch:
    """What the caller said about the time of day.

    ``at`` is an exact clock time when one was given; ``part`` a part of the
    day ("morning", "afternoon", "evening"); ``earliest`` means "as early as
    you can"; ``approximate`` marks "around 10". ``text`` holds the words of
    the clock time when there is one, else of the part/earliest phrase.
    """

    at: dt.time | None
    part: str | None
    earliest: bool
    approximate: bool
    text: str


@dataclass(frozen=True, slots=True)
class When:
    """Date and time found in one utterance; either may be missing."""

    date: DateMatch | None
    time: TimeMatch | None

    @property
    def day(self) -> dt.date | None:
        """The matched day, if any (shortcut for ``date.day``)."""
        return self.date.day if self.date is not None else None

    @property
    def at(self) -> dt.time | None:
        """The exact clock time, if any (shortcut for ``time.at``)."""
        return self.time.at if self.time is not None else None


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    day: dt.date
    dated: bool = False  # the words name the day of the month ("Tuesday the 27th")


@dataclass(frozen=True, slots=True)
class _Clock:
    """A candidate clock time before am/pm resolution."""

    start: int
    end: int
    hour: int
    minute: int
    offset: int
    meridiem: str
    strong: bool
    approximate: bool
    part: str | None
    twenty_four: bool


# --------------------------------------------------------------------------- dates


def parse_date(text: str, now: dt.datetime) -> DateMatch | None:
    """Return the day the caller means, or None.

    With several dates, the last one introduced by "to" wins ("move it from
    tuesday to wednesday" -> wednesday); otherwise the first one.
    """
    words = _words(text)
    spans = _date_spans(words, now)
    if not spans:
        return None
    chosen = spans[0]
    for span in spans:
        if span.start > 0 and words[span.start - 1] == "to":
            chosen = span
    return DateMatch(chosen.day, " ".join(words[chosen.start : chosen.end]))


def find_dates(text: str, now: dt.datetime) -> list[DateMatch]:
    """Every date mentioned, in spoken order (for "from X to Y" style requests)."""
    found = []
    for sentence in _SENTENCE_END.split(text):  # "... on the twenty-second. It's under ...": the date ends there
        words = _words(sentence)
        found += [DateMatch(s.day, " ".join(words[s.start : s.end])) for s in _date_spans(words, now)]
    return next_against_this(found)


_SENTENCE_END = re.compile(r"(?<=[a-z])[.!?]+\s+(?=[A-Z])")


def next_against_this(matches: list[DateMatch]) -> list[DateMatch]:
    """ "this Thursday at 5 ... to next Thursday": said against this one, next is the week after."""
    out: list[DateMatch] = []
    for match in matches:
        if match.text.startswith("next ") and any(m.day == match.day and m.text.startswith("this ") for m in out):
            match = DateMatch(match.day + dt.timedelta(days=7), match.text)
        out.append(match)
    return out


def _words(text: str) -> list[str]:
    """The words the dates and times are read from, a day's possessive read as the day
    ("tomorrow's safe job", "Friday's class")."""
    return [_unpossessed(word) for word in expand_shorthand(text).split()[:_MAX_TOKENS]]


def _unpossessed(word: str) -> str:
    base = word[:-2] if word.endswith("'s") else word
    return base if base in _WEEKDAYS or base in _POSSESSED_DAYS else word


_POSSESSED_DAYS = frozenset({"today", "tonight", "tomorrow", "week", "weekend", "fortnight", "morning", "evening"})


def _date_spans(words: Sequence[str], now: dt.datetime) -> list[_Span]:
    """Scan left to right, taking the first reading that matches at each position."""
    today, zone = now.date(), getattr(now.tzinfo, "key", None)
    token = _DAY_FIRST.set(public_holidays.country_of(zone) not in _MONTH_FIRST)
    try:
        return _spans(words, today, zone)
    finally:
        _DAY_FIRST.reset(token)


# where "3/4" is March 4 (and where the shop's place is unknown); elsewhere it is 3 April
_MONTH_FIRST = frozenset({None, "US", "CA", "PR", "GU", "VI", "AS", "MP", "UM", "PH", "FM", "MH", "PW"})
# whether the shop's place writes the day first, while a line is read
_DAY_FIRST: ContextVar[bool] = ContextVar("day_first", default=False)


def _spans(words: Sequence[str], today: dt.date, zone: str | None) -> list[_Span]:
    spans: list[_Span] = []
    i = 0
    while i < len(words):
        span = _told_from(words, i, today, zone) or _holiday(words, i, today, zone) or _date_at(words, i, today)
        if span is None:
            i += 1
            continue
        if spans and takes_back(" ".join(words[spans[-1].end : span.start])):
            spans.pop()  # "Thursday at six, no wait, scratch that, make it tomorrow": the day said last
        spans.append(span)
        i = span.end
    return spans


def _told_from(words: Sequence[str], i: int, today: dt.date, zone: str | None) -> _Span | None:
    """A day told from another: "the day after the long weekend", "the day before Christmas Eve",
    "the Monday after Easter"."""
    j = i + (words[i] == "the")
    weekday = _weekday_value(words, j, allow_risky=False)
    if _at(words, j) == "day" and _at(words, j + 1) in ("after", "before"):
        shift = 1 if words[j + 1] == "after" else -1
    elif weekday is not None and _at(words, j + 1) == "after" and _at(words, j + 2) != "next":
        shift = 0
    else:
        return None
    k = j + 2 + (_at(words, j + 2) == "the")
    if k >= len(words):
        return None  # "the Tuesday after": after what was said before
    rest = words[k:]  # read without the "after" before it, which would make it a deadline
    base = _holiday(rest, 0, today, zone) or _date_at(rest, 0, today)
    if base is None or base.start != 0:
        return None
    if weekday is None:
        return _Span(i, k + base.end, base.day + dt.timedelta(days=shift))
    return _Span(i, k + base.end, base.day + dt.timedelta(days=(weekday - base.day.weekday()) % 7 or 7))


_CORRECTS = re.compile(
    r"\b(?:scratch that|no wait|wait no|i mean|or rather|actually no|no sorry|sorry no|on second thoughts?)\b"
)


def takes_back(text: str) -> bool:
    """The caller takes back what they just said ("no wait, scratch that", "I mean")."""
    return bool(_CORRECTS.search(text.lower()))


def _date_at(words: Sequence[str], i: int, today: dt.date) -> _Span | None:
    for reader in (
        _weeks_after,
        _relative_day,
        _in_n_days,
        _week_phrase,
        _weekday_phrase,
        _month_first,
        _day_first,
        _the_ordinal,
        _numeric_date,
    ):
        span = reader(words, i, today)
        if span is not None:
            return span
    return None


# Holidays callers name instead of a date: (month, day), or days after Easter Sunday as an int.
# Those whose date differs by country (Thanksgiving, Labour Day) are left out: a wrong day
# would be answered as if sure.
_HOLIDAYS: dict[tuple[str, ...], tuple[int, int] | int] = {
    ("christmas", "eve"): (12, 24),
    ("xmas", "eve"): (12, 24),
    ("christmas", "day"): (12, 25),
    ("xmas", "day"): (12, 25),
    ("christmas",): (12, 25),
    ("xmas",): (12, 25),
    ("boxing", "day"): (12, 26),
    ("st", "stephens", "day"): (12, 26),
    ("new", "years", "eve"): (12, 31),
    ("new", "year", "eve"): (12, 31),
    ("hogmanay",): (12, 31),
    ("new", "years", "day"): (1, 1),
    ("new", "year", "day"): (1, 1),
    ("new", "years"): (1, 1),
    ("australia", "day"): (1, 26),
    ("waitangi", "day"): (2, 6),
    ("valentines", "day"): (2, 14),
    ("valentines",): (2, 14),
    ("st", "patricks", "day"): (3, 17),
    ("saint", "patricks", "day"): (3, 17),
    ("paddys", "day"): (3, 17),
    ("anzac", "day"): (4, 25),
    ("juneteenth",): (6, 19),
    ("canada", "day"): (7, 1),
    ("independence", "day"): (7, 4),
    ("fourth", "of", "july"): (7, 4),
    ("halloween",): (10, 31),
    ("bonfire", "night"): (11, 5),
    ("guy", "fawkes", "night"): (11, 5),
    ("veterans", "day"): (11, 11),
    ("remembrance", "day"): (11, 11),
    ("good", "friday"): -2,
    ("holy", "saturday"): -1,
    ("easter", "saturday"): -1,
    ("easter", "sunday"): 0,
    ("easter", "day"): 0,
    ("easter",): 0,
    ("easter", "monday"): 1,
}
# a holiday after these is a deadline, not the day ("before christmas eve"), and a one-word one
# after these a season or a reason ("over christmas", "for easter")
_DEADLINE_WORDS = frozenset({"before", "after", "by", "until", "till"})
_SEASON_WORDS = frozenset({"over", "around", "for", "during", "throughout"})


def _holiday(words: Sequence[str], i: int, today: dt.date, zone: str | None) -> _Span | None:
    """Christmas Eve, Boxing Day, New Year's Day, Good Friday... and the holidays of the shop's
    place (Matariki, WA Day, the bank holiday Monday): the next one from today."""
    before = words[i - 1] if i > 0 else ""
    if before in _DEADLINE_WORDS or (before == "the" and i > 1 and words[i - 2] in _DEADLINE_WORDS):
        return None
    plain = [public_holidays.plain(w) for w in words[i : i + public_holidays.LONGEST]]
    for length in range(min(public_holidays.LONGEST, len(plain)), 0, -1):
        name = tuple(plain[:length])
        if length == 1 and before in _SEASON_WORDS:
            continue
        if name in public_holidays.GENERIC:
            return _next_holiday(words, i, i + length, today, zone)
        when = _HOLIDAYS.get(name)
        for year in (today.year, today.year + 1):
            if when is None:
                days = public_holidays.holidays_named(zone, year).get(name, [])
            else:
                days = [_easter(year) + dt.timedelta(days=when) if isinstance(when, int) else dt.date(year, *when)]
            day = next((day for day in days if day >= today), None)
            if day is not None:
                return _Span(i, _its_weekday(words, i + length, day), day)
    return None


def _its_weekday(words: Sequence[str], end: int, day: dt.date) -> int:
    """Where a holiday's name ends, with the day of the week it falls on said after it ("Matariki,
    the Friday", "the May two-four Monday")."""
    after = end + (_at(words, end) == "the")
    return after + 1 if _weekday_value(words, after, allow_risky=False) == day.weekday() else end


def _next_holiday(words: Sequence[str], start: int, end: int, today: dt.date, zone: str | None) -> _Span | None:
    """ "the bank holiday", "the long weekend Monday": the place's next holiday (on that day of
    the week)."""
    weekday = _weekday_value(words, end, allow_risky=False)
    days = [
        day for year in (today.year, today.year + 1) for day in public_holidays.days_off(zone, year) if day >= today
    ]
    day = next((day for day in days if weekday is None or day.weekday() == weekday), None)
    return _Span(start, end + (weekday is not None), day) if day is not None else None


def _easter(year: int) -> dt.date:
    """Easter Sunday (Western), by the anonymous Gregorian algorithm."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday = (32 + 2 * e + 2 * i - h - k) % 7
    shift = h + weekday - 7 * ((a + 11 * h + 22 * weekday) // 451) + 114
    return dt.date(year, shift // 31, shift % 31 + 1)


def _relative_day(words: Sequence[str], i: int, today: dt.date) -> _Span | None:
    """today / tonight / tomorrow / day after tomorrow / this morning."""
    word = words[i]
    if word == "day" and _at(words, i + 1) == "after" and _at(words, i + 2) == "tomorrow":
        return _Span(i, i + 3, today + dt.timedelta(days=2))
    if word == "today" and _at(words, i + 1) in ("week", "fortnight"):  # "today week": a week from today
        return _Span(i, i + 2, today + dt.timedelta(weeks=_WEEK_UNITS[words[i + 1]]))
    if word in ("today", "tonight"):
        return _Span(i, i + 1, today)
    if word == "tomorrow":
        return _Span(i, i + 1, today + dt.timedelta(days=1))
    if word == "this" and _at(words, i + 1) in ("morning", "afternoon", "evening"):
        return _Span(i, i + 2, today)
    if word == "this" and _at(words, i + 1) == "day" and _at(words, i + 2) in ("week", "fortnight"):
        return _Span(i, i + 3, today + dt.timedelta(weeks=_WEEK_UNITS[words[i + 2]]))  # Irish "this day week"
    return None


def _in_n_days(words: Sequence[str], i: int, today: dt.date) -> _Span | None:
    """ "in 3 days", "in two weeks", "in a week"."""
    if words[i] != "in":
        return None
    j = i + 1
    nxt = _at(words, j)
    count: int | None
    if nxt == "a":
        count, j = 1, j + 1
        if _at(words, j) == "couple":
            count, j = 2, j + (2 if _at(words, j + 1) == "of" else 1)
    elif nxt.isdigit() and len(nxt) <= 3:
        count, j = int(nxt), j + 1
    else:
        parsed = number_at(words, j)
        if parsed is None:
            return None
        count, j = parsed
    unit = _at(words, j)
    if count > 366:
        return None
    if unit in ("day", "days"):
        return _Span(i, j + 1, today + dt.timedelta(days=count))
    after = j + 1 + (_at(words, j + 1) in ("from", "on", "after"))  # "come in a week from Thursday"
    based = _weekday_value(words, after, allow_risky=False) is not None or (
        after > j + 1 and after < len(words) and _relative_day(words, after, today) is not None
    )
    if unit in ("week", "weeks") and not based:
        return _Span(i, j + 1, today + dt.timedelta(days=7 * count))
    return None  # "come in a week Tuesday": the Tuesday a week on, read from "a week"


_WEEK_UNITS = {"week": 1, "weeks": 1, "fortnight": 2, "fortnights": 2}
_LENGTH_UNITS = frozenset({"minute", "minutes", "min", "mins", "hour", "hours"})
_HOUR_HOMOPHONES = {"won": "one", "for": "four", "fore": "four", "ate": "eight", "too": "two"}
_TIME_CUES = frozenset({"at", "around", "about", "by", "say"})
_MINUTE_TENS = {word: value for word, value in TENS.items() if 20 <= value <= 50}
_TIMES_A_WEEK = frozenset({"once", "twice", "times"})  # "once a week on tuesdays" is no date
# said after a day, the caller puts it a week on: "Thursday, I mean the one after this one",
# "Friday, not this one, the next", "Monday, the following one"
_ONE_AFTER = re.compile(
    r"(?:(?:i mean|sorry|no|so|like|but)\s+)*"
    r"(?:the one after (?:this|that)(?: one| coming one)?|not this (?:coming )?one(?: the next(?: one)?)?"
    r"|the following one|the week after)\b"
)


def _weeks_after(words: Sequence[str], i: int, today: dt.date) -> _Span | None:
    """ "a week from Tuesday", "a week on Friday", "a week Tuesday", "two weeks Friday", "a
    fortnight tomorrow", "a week today": that day, a week (or two) later."""
    if i > 0 and words[i - 1] in _TIMES_A_WEEK:
        return None
    if words[i] in ("a", "one"):
        count, j = 1, i + 1
    elif (parsed := number_at(words, i)) is not None and parsed[0] <= 8:
        count, j = parsed
    else:
        return None
    weeks = _WEEK_UNITS.get(_at(words, j))
    if weeks is None:
        return None
    j += 1 + (_at(words, j + 1) in ("from", "on", "after"))
    if j >= len(words) or (_at(words, j).endswith("s") and _at(words, j)[:-1] in _WEEKDAYS):
        return None  # "a week on tuesdays" is how often, not when; "a week" alone is no day
    base = _relative_day(words, j, today) or _weekday_phrase(words, j, today)
    if base is None:
        return None
    if base.dated:  # "a week from Tuesday, the 27th": the caller worked the date out and says it
        return _Span(i, base.end, base.day)
    return _Span(i, base.end, base.day + dt.timedelta(weeks=count * weeks))


def _week_phrase(words: Sequence[str], i: int, today: dt.date) -> _Span | None:
    """ "next week", "next week on tuesday", "this weekend", "next weekend"."""
    word = words[i]
    next_monday = today + dt.timedelta(days=7 - today.weekday())
    if word == "next" and _at(words, i + 1) == "week":
        j = i + 2
        if _at(words, j) == "on":
            j += 1
        weekday = _weekday_value(words, j, allow_risky=True)
        if weekday is not None:
            return _Span(i, j + 1, next_monday + dt.timedelta(days=weekday))
        return _Span(i, i + 2, next_monday)
    if word == "next" and _at(words, i + 1) == "weekend":
        return _Span(i, i + 2, next_monday + dt.timedelta(days=5))
    if word in ("this", "the") and _at(words, i + 1) == "weekend":
        return _Span(i, i + 2, _upcoming_weekend(today))
    if word == "weekend" and (i == 0 or words[i - 1] not in ("next", "this", "the", "last", "long")):
        return _Span(i, i + 1, _upcoming_weekend(today))
    return None


def _upcoming_weekend(today: dt.date) -> dt.date:
    """Saturday of this weekend; on Sunday that weekend is today."""
    if today.weekday() == 6:
        return today
    return today + dt.timedelta(days=5 - today.weekday())


def _weekday_phrase(words: Sequence[str], i: int, today: dt.date) -> _Span | None:
    """ "tuesday", "this/next/coming tuesday", "tuesday next week", "tuesday after next"."""
    j = i
    if words[j] == "this" and _at(words, j + 1) == "coming":
        j += 2
    elif words[j] in ("this", "next", "coming"):
        j += 1
    weekday = _weekday_value(words, j, allow_risky=j > i or _reads_as_day(words, i, today))
    if weekday is None:
        return None
    end = j + 1
    explicit = _explicit_date(words, end + (1 if _at(words, end) == "the" else 0), today)
    if explicit is not None:
        return _Span(i, explicit.end, explicit.day, dated=True)
    # "sat 12th", "Thursday the eleventh": the day of the month says which Saturday or Thursday
    # ("Wednesday the 23rd" in November is December's, whose 23rd is a Wednesday)
    of_month = _the_ordinal(words, end, today, weekday) if _at(words, end) == "the" else None
    if of_month is not None:
        return _Span(i, of_month.end, of_month.day, dated=True)
    ordinal = _DIGIT_ORDINAL.fullmatch(_at(words, end))
    found = _next_day_of_month(today, int(ordinal[1]), weekday) if ordinal else None
    if found is not None:
        return _Span(i, end + 1, found, dated=True)
    of = 1 if _at(words, end) == "of" else 0  # "Thursday next week", "Thursday of next week"
    if _at(words, end + of) == "next" and _at(words, end + of + 1) == "week":
        next_monday = today + dt.timedelta(days=7 - today.weekday())
        return _Span(i, end + of + 2, next_monday + dt.timedelta(days=weekday))
    delta = (weekday - today.weekday()) % 7 or 7
    if _at(words, end) == "after" and _at(words, end + 1) == "next":
        return _Span(i, end + 2, today + dt.timedelta(days=delta + 7))
    if _at(words, end) == "week" and j == i:  # "Tuesday week": the Tuesday after next
        return _Span(i, end + 1, today + dt.timedelta(days=delta + 7))
    later = _ONE_AFTER.match(" ".join(words[end : end + 8]))
    if later:  # "next Thursday, I mean the one after this one": a week on from the coming one
        return _Span(i, end + len(later[0].split()), today + dt.timedelta(days=delta + 7))
    return _Span(i, end, today + dt.timedelta(days=delta))


def _reads_as_day(words: Sequence[str], i: int, today: dt.date) -> bool:
    """Whether a word at ``i`` that may be a day ("sat", "sun") is one: a word before it
    introduces a day ("on sat", "anything sat?"), or a date or a part of the day follows it
    ("sat 12th", "mon the 7th", "sun morning", "sat am")."""
    if i > 0 and words[i - 1] in _DAY_INTRO | {"anything", "any"}:
        return True
    after = _at(words, i + 1)
    if after in _PARTS or after in ("am", "pm") or _DIGIT_ORDINAL.fullmatch(after):
        return True
    if len(words) == 1:
        return True  # "sat", said alone: the day
    subject = i > 0 and words[i - 1] in _NOT_A_DAY_BEFORE  # "I sat at 10", "the sun at 3"
    cued = after in _APPROX_CUES | {"at", "before", "after", "from"}
    if not subject and cued and _CLOCK_START.match(_at(words, i + 2)):
        return True  # "fix a puncture sat around 11", "sun at 10am", "move my drop off wed from 11 to 1pm"
    clock = _HHMM.fullmatch(after) or _DOTTED_CLOCK.fullmatch(after) or _COMPACT_CLOCK.fullmatch(after)
    if not subject and (clock or (after.isdigit() and _at(words, i + 2) in ("am", "pm"))):
        return True  # "the pots workshop sat 11am" (shorthand splits it: "11 am") or "sat 10:30"
    return _explicit_date(words, i + 1 + (after == "the"), today) is not None


def _weekday_value(words: Sequence[str], i: int, *, allow_risky: bool) -> int | None:
    word = _at(words, i)
    if word.endswith("s") and word[:-1] in _WEEKDAYS and len(word) > 6:
        word = word[:-1]  # "on tuesdays"
    if word in _WEEKDAYS:
        return _WEEKDAYS[word]
    if allow_risky and word in _RISKY_WEEKDAYS:
        return _RISKY_WEEKDAYS[word]
    return None


def _explicit_date(words: Sequence[str], i: int, today: dt.date) -> _Span | None:
    """A date that names its month or is numeric (no relative readings)."""
    if i >= len(words):
        return None
    return _month_first(words, i, today) or _day_first(words, i, today) or _numeric_date(words, i, today)


def _month_first(words: Sequence[str], i: int, today: dt.date) -> _Span | None:
    """ "december 3", "dec 3rd", "december the third", "december twenty first 2026"."""
    month = _MONTHS.get(words[i])
    if month is None:
        return None
    j = i + 1
    if _at(words, j) == "the":
        j += 1
    day = _day_number(words, j, allow_cardinal=True)
    if day is None:
        return None
    return _finish_month_day(words, i, day[1], month, day[0], today)


def _day_first(words: Sequence[str], i: int, today: dt.date) -> _Span | None:
    """ "3rd of december", "the third of december", "3 december"."""
    j = i + 1 if words[i] == "the" else i
    day = _day_number(words, j, allow_cardinal=False)
    if day is None:
        return None
    k = day[1]
    if _at(words, k) == "of":
        k += 1
    month = _MONTHS.get(_at(words, k))
    if month is None or (_at(words, k) == "may" and _at(words, k - 1) != "of"):
        return None
    return _finish_month_day(words, i, k + 1, month, day[0], today)


def _finish_month_day(words: Sequence[str], start: int, end: int, month: int, day: int, today: dt.date) -> _Span | None:
    """Attach an optional year, else take the next occurrence on or after today."""
    year, year_end = _year_at(words, end)
    if year is not None:
        found = _safe_date(year, month, day)
        return _Span(start, year_end, found) if found else None
    for offset in range(9):  # Feb 29 can be up to 8 years away
        found = _safe_date(today.year + offset, month, day)
        if found is not None and found >= today:
            return _Span(start, end, found)
    return None


def _year_at(words: Sequence[str], i: int) -> tuple[int | None, int]:
    word = _at(words, i)
    if _YEAR_DIGITS.fullmatch(word):
        return int(word), i + 1
    parsed = number_at(words, i) if word in TENS or word in TEENS or word == "two" else None
    if parsed is not None and 1900 <= parsed[0] <= 2100:
        return parsed[0], parsed[1]
    return None, i


def _the_ordinal(words: Sequence[str], i: int, today: dt.date, weekday: int | None = None) -> _Span | None:
    """ "the 3rd" / "the third": the next such day of a month, on or after today (that falls on
    ``weekday``, if one falls on it within the year)."""
    if words[i] != "the":
        return None
    nxt = _at(words, i + 1)
    day = _day_number(words, i + 1, allow_cardinal=False, allow_digits=False)
    if day is None:
        return None
    spelled = not _DIGIT_ORDINAL.fullmatch(nxt)
    follower = _at(words, day[1])
    if spelled and follower and follower not in _ORDINAL_DATE_FOLLOWERS:
        return None
    found = _next_day_of_month(today, day[0], weekday)
    return _Span(i, day[1], found) if found else None


def _next_day_of_month(today: dt.date, day: int, weekday: int | None = None) -> dt.date | None:
    """The next ``day`` of a month on or after today; the next one on ``weekday`` within a year,
    if any."""
    year, month = today.year, today.month
    found: list[dt.date] = []
    for _ in range(13):
        one = _safe_date(year, month, day)
        if one is not None and one >= today:
            found.append(one)
        month += 1
        if month == 13:
            year, month = year + 1, 1
    on_weekday = [one for one in found if one.weekday() == weekday]
    return next(iter(on_weekday or found), None)


def _numeric_date(words: Sequence[str], i: int, today: dt.date) -> _Span | None:
    """ISO "2026-12-03", and "12/3" or "12/3/2026" as the shop's place writes it: the month first
    in the United States, the day first in most of the world ("sat 18/9" anywhere)."""
    word = words[i]
    iso = _ISO_DATE.fullmatch(word)
    if iso:
        found = _safe_date(int(iso[1]), int(iso[2]), int(iso[3]))
        return _Span(i, i + 1, found) if found else None
    us = _US_DATE.fullmatch(word)
    if not us:
        return None
    month, day = int(us[1]), int(us[2])
    if month > 12 >= day or (_DAY_FIRST.get() and day <= 12):
        month, day = day, month
    if us[3]:
        year = int(us[3]) + (2000 if len(us[3]) == 2 else 0)
        found = _safe_date(year, month, day)
        return _Span(i, i + 1, found) if found else None
    if _safe_date(2000, month, day) is None:  # leap year: accepts 2/29
        return None
    return _finish_month_day(words, i, i + 1, month, day, today)


def _day_number(
    words: Sequence[str], i: int, *, allow_cardinal: bool, allow_digits: bool = True
) -> tuple[int, int] | None:
    """Day of month at ``i``: "3rd", "3", "third", "twenty first", "twenty one"."""
    word = _at(words, i)
    value: int | None = None
    end = i + 1
    ordinal = _DIGIT_ORDINAL.fullmatch(word)
    if ordinal:
        value = int(ordinal[1])
    elif allow_digits and _DAY_DIGITS.fullmatch(word):
        value = int(word)
    elif word in _ORDINAL_WORDS:
        value = _ORDINAL_WORDS[word]
    elif word in ("twenty", "thirty") and _at(words, i + 1) in _ORDINAL_WORDS:
        value, end = TENS[word] + _ORDINAL_WORDS[words[i + 1]], i + 2
    elif allow_cardinal:
        cardinal = _small_cardinal(words, i)
        if cardinal is not None:
            value, end = cardinal
    if value is None or not 1 <= value <= 31:
        return None
    return value, end


def _small_cardinal(words: Sequence[str], i: int) -> tuple[int, int] | None:
    """1-99 in words without year-style pairing ("twenty one", "three")."""
    word = _at(words, i)
    if word in UNITS:
        return UNITS[word], i + 1
    if word in TEENS:
        return TEENS[word], i + 1
    if word in TENS:
        unit = _at(words, i + 1)
        if unit in UNITS and UNITS[unit] > 0:
            return TENS[word] + UNITS[unit], i + 2
        return TENS[word], i + 1
    return None


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _at(words: Sequence[str], i: int) -> str:
    """Token at ``i`` or "" past either end, so lookaheads need no bounds checks."""
    return words[i] if 0 <= i < len(words) else ""


# --------------------------------------------------------------------------- times


def parse_time(text: str, *, expect_time: bool = False) -> TimeMatch | None:
    """Return what the caller said about the time of day, or None.

    A clock time needs a cue (am/pm, o'clock, a colon, "at"/"around"/"about"/
    "by", half/quarter past/to, noon) so dates and order numbers are never read
    as times; ``expect_time=True`` (the agent just asked "what time?") also
    accepts a bare "4" or "four thirty". With several times, the last one
    introduced by "to" wins, else the first.
    """
    words = _heard_hours(_words(_NO_TIME_WANTED.sub(" ", text)), expect_time=expect_time)
    joined = " ".join(words)
    part = _part_of_day(words)
    earliest = _EARLIEST.search(joined)
    clock = _pick_clock(words, expect_time=expect_time)
    if clock is None:
        if part is None and earliest is None:
            return None
        label = earliest[0] if earliest is not None else _part_word(words)
        return TimeMatch(None, part, earliest is not None, False, label)
    at = _resolve(clock, part)
    return TimeMatch(
        at=at,
        part=clock.part or part,
        earliest=earliest is not None,
        approximate=clock.approximate,
        text=" ".join(words[clock.start : clock.end]),
    )


def parse_when(text: str, now: dt.datetime, *, expect_time: bool = False) -> When:
    """Both the date and the time in one utterance ("tomorrow morning around 10")."""
    return When(parse_date(text, now), parse_time(text, expect_time=expect_time))


# a clock time as said: "11", "11:30", "eleven", "half past ten", with "am", "pm" or "o'clock"
_HOUR_WORDS = "|".join(word for word, value in {**UNITS, **TEENS}.items() if 1 <= value <= 12)
_SAID_CLOCK = (
    r"(?:(?:half|quarter)\s+(?:past|to)\s+)?"
    rf"(?:\d{{1,2}}(?::\d{{2}})?|{_HOUR_WORDS}|noon|midnight)"
    r"(?:\s*(?:am|pm|a\.m\.|p\.m\.|o'?clock))?"
)
_PAST_DAY = r"(?:last night|yesterday|the night before|the other (?:day|night))"
# Times that ask for none: a greeting ("Good morning", "Morning." opening a line) and the past
# ("since last night", "yesterday evening", "since about eleven", "at 2 yesterday")
_NO_TIME_WANTED = re.compile(
    r"\bgood (?:morning|afternoon|evening)\b|^\W*(?:morning|afternoon|evening)\s*[,.!]"
    r"|\b(?:last|since|yesterday|overnight)\s+(?:night|morning|afternoon|evening)\b"
    r"|\bsince (?:this|the) (?:morning|afternoon|evening)\b"
    rf"|\bsince\s+(?:(?:about|around|roughly|like|maybe)\s+)?{_SAID_CLOCK}\b"
    rf"|\b(?:(?:at|about|around)\s+)?{_SAID_CLOCK}\s+{_PAST_DAY}\b"
    rf"|\b{_PAST_DAY}\s+(?:(?:at|about|around)\s+)+{_SAID_CLOCK}\b",
    re.I,
)


def _part_of_day(words: Sequence[str]) -> str | None:
    for word in words:
        if word in _PARTS:
            return _PARTS[word]
    return None


def _part_word(words: Sequence[str]) -> str:
    return next((w for w in words if w in _PARTS), "")


def _pick_clock(words: Sequence[str], *, expect_time: bool) -> _Clock | None:
    clocks: list[_Clock] = []
    i = 0
    while i < len(words):
        clock = _clock_at(words, i, expect_time=expect_time)
        if clock is None:
            i += 1
            continue
        clocks.append(clock)
        i = clock.end
    clocks = [clock for clock in clocks if not _pronoun_one(words, clock)]
    if not clocks:
        return None
    strong = [clock for clock in clocks if clock.strong]
    chosen = strong[0] if strong and not clocks[0].strong else clocks[0]  # "the later one, the 5 o'clock"
    for clock in clocks:
        if clock.start > 0 and words[clock.start - 1] == "to":
            chosen = clock
    return chosen


# words before "one" that make it a pronoun ("the later one", "that one"), not one o'clock
_ONE_AS_PRONOUN_AFTER = frozenset(
    {"the", "later", "earlier", "first", "last", "other", "that", "this", "next", "same", "early", "late"}
    | {"second", "third", "which", "a", "another", "any", "each"}
)


def _pronoun_one(words: Sequence[str], clock: _Clock) -> bool:
    bare = clock.end == clock.start + 1 and not clock.meridiem and not clock.strong
    return bare and words[clock.start] == "one" and _at(words, clock.start - 1) in _ONE_AS_PRONOUN_AFTER


def _clock_at(words: Sequence[str], i: int, *, expect_time: bool) -> _Clock | None:
    """Parse [cues] core [suffix] at ``i`` and decide whether it is a time."""
    j = i
    cued = approximate = False
    while j < len(words) and j - i < 2 and words[j] in _TIME_CUES:
        cued = True
        suggestion = words[j] == "about" and _at(words, j - 1) in ("how", "what")
        approximate = approximate or (words[j] in _APPROX_CUES and not suggestion)
        j += 1
    if _at(words, j) == "one" and _at(words, j - 1) in _ONE_AS_PRONOUN and _at(words, j + 1) not in _ONE_AS_A_TIME:
        return None  # "the earliest one", "that one": a choice, not one o'clock
    core = _clock_core(words, j)
    if core is None:
        return None
    hour, minute, offset, end, strong, twenty_four = core
    # "sun 1130", "sat 11.30": a time written without its colon, right after the day
    unmarked = _COMPACT_CLOCK.fullmatch(words[j]) or _DOTTED_CLOCK.fullmatch(words[j])
    cued = cued or (j == i and unmarked is not None and _after_day_or_cue(words, i))
    # "Satdy morning, seven?", "tomorrow night 8 if you can": a number that ends what the part of
    # the day began ("this morning two blokes came" tells of no time)
    cued = cued or (j == i and _at(words, i - 1) in _PARTS and _at(words, end) in _AFTER_A_PARTS_HOUR)
    meridiem, part, end, suffix_strong, suffix_approx = _clock_suffix(words, end)
    strong = strong or suffix_strong
    ish = _HOUR_ISH.fullmatch(words[j]) is not None or _at(words, end - 1) == "ish"
    approximate = approximate or suffix_approx or ish
    if not (strong or cued or ish or expect_time):
        return None
    if _at(words, j - 1) in _MONTHS or (not meridiem and _at(words, end) in _NOT_A_CLOCK_AFTER):
        return None
    if meridiem and not 1 <= hour <= 12:
        return None
    if not strong and not twenty_four and hour > 12:
        return None
    return _Clock(i, end, hour, minute, offset, meridiem, strong, approximate, part, twenty_four)


def _clock_core(words: Sequence[str], i: int) -> tuple[int, int, int, int, bool, bool] | None:
    """(hour, minute, offset, end, strong, twenty_four) for the time itself."""
    word = _at(words, i)
    if not word:
        return None
    if word in ("noon", "midday"):
        return 12, 0, 0, i + 1, True, True
    if word == "midnight":
        return 0, 0, 0, i + 1, True, True
    if word in ("12", "twelve") and _at(words, i + 1) == "noon":
        return 12, 0, 0, i + 2, True, True
    relative = _relative_clock(words, i)
    if relative is not None:
        return relative
    hhmm = _HHMM.fullmatch(word)
    if hhmm:
        hour, minute = int(hhmm[1]), int(hhmm[2])
        if hour > 23 or minute > 59:
            return None
        return hour, minute, 0, i + 1, True, hour >= 13 or hour == 0
    ish = _HOUR_ISH.fullmatch(word)
    if ish:
        return int(ish[1]), 0, 0, i + 1, False, False
    if _HOUR_DIGITS.fullmatch(word):
        hour = int(word)
        if hour > 23:
            return None
        minute_word = _at(words, i + 1)  # ASR often writes "9:30" as "9 30"
        if 1 <= hour <= 12 and _MINUTE_DIGITS.fullmatch(minute_word) and int(minute_word) <= 59:
            return hour, int(minute_word), 0, i + 2, False, False
        minutes = _minutes_at(words, i + 1) if 1 <= hour <= 12 else None  # "3 thirty"
        if minutes is not None:
            return hour, minutes[0], 0, minutes[1], False, False
        return hour, 0, 0, i + 1, False, hour >= 13
    dotted = _DOTTED_CLOCK.fullmatch(word)
    if dotted and int(dotted[1]) <= 23 and int(dotted[2]) <= 59:
        return int(dotted[1]), int(dotted[2]), 0, i + 1, False, int(dotted[1]) >= 13
    compact = _COMPACT_CLOCK.fullmatch(word)
    if compact and (_at(words, i + 1) in ("am", "pm") or _after_day_or_cue(words, i)):  # "sat 1130", "at 1130"
        hour, minute = int(compact[1]), int(compact[2])
        return (hour, minute, 0, i + 1, False, hour >= 13) if minute <= 59 and hour <= 23 else None
    return _spoken_clock(words, i)


def _after_day_or_cue(words: Sequence[str], i: int) -> bool:
    before = _at(words, i - 1)
    return before in _WEEKDAYS or before in _RISKY_WEEKDAYS or before in _TIME_CUES


def _spoken_clock(words: Sequence[str], i: int) -> tuple[int, int, int, int, bool, bool] | None:
    """ "four", "two thirty", "ten oh five", "fourteen hundred (hours)"."""
    hour_parse = _small_cardinal(words, i)
    if hour_parse is None:
        return None
    hour, end = hour_parse
    if _at(words, end) == "hundred" and 0 <= hour <= 23:
        end += 1
        if _at(words, end) == "hours":
            end += 1
        return hour, 0, 0, end, True, True
    if not 1 <= hour <= 12 or end != i + 1:
        return None
    minutes = _minutes_at(words, end)
    if minutes is not None:
        return hour, minutes[0], 0, minutes[1], False, False
    return hour, 0, 0, end, False, False


def _heard_hours(words: list[str], *, expect_time: bool) -> list[str]:
    """Speech-to-text's homophones of an hour before its minutes: "won thirty" is 1:30, and "for
    fifteen" or "ate thirty" are 4:15 and 8:30 where a time is due (after "at", or as the answer
    to "what time?"), not "a table for fifteen" or "fifteen minutes"."""
    heard = list(words)
    for i, word in enumerate(words):
        hour = _HOUR_HOMOPHONES.get(word)
        if hour is None:
            continue
        minutes = _minutes_at(words, i + 1)
        if minutes is None or _at(words, minutes[1]) in _LENGTH_UNITS:
            continue
        if word == "won" or _at(words, i - 1) in _TIME_CUES or (i == 0 and expect_time):
            heard[i] = hour
    return heard


def _minutes_at(words: Sequence[str], j: int) -> tuple[int, int] | None:
    """(minutes, end) said in words after an hour: "oh five", "thirty", "forty five", and
    speech-to-text's slips ("ten thirsty"); not a length ("two twenty minute sessions")."""
    word = _at(words, j)
    if word in ("oh", "o") and _at(words, j + 1) in UNITS:
        return UNITS[words[j + 1]], j + 2
    minute = _small_cardinal(words, j)
    if minute is not None and 10 <= minute[0] <= 59:
        return None if _at(words, minute[1]) in _LENGTH_UNITS else minute
    misheard = _misheard_tens(word)
    return (misheard, j + 1) if misheard is not None else None


def _misheard_tens(word: str) -> int | None:
    """The minutes a word one slip from "twenty" to "fifty" stands for, after an hour ("thirsty",
    "tirty", "fourty", "fordy"); its first letter must be right."""
    if len(word) < 5 or word in TENS:
        return None
    slips = (value for tens, value in _MINUTE_TENS.items() if word[0] == tens[0] and within_one_edit(word, tens))
    return next(slips, None)


def _relative_clock(words: Sequence[str], i: int) -> tuple[int, int, int, int, bool, bool] | None:
    """ "half past two", "quarter to four", "ten after three", "twenty five minutes to five".

    Only the minute counts people really use this way (5, 10, 20, 25) are
    accepted without the word "minutes", so "two to four" or "from ten to four"
    stay ranges rather than becoming 3:58 / 3:50.
    """
    minutes, j = _relative_minutes(words, i)
    if minutes is None or _at(words, i - 1) in ("from", "between"):
        return None
    if words[i] == "half" and j == i + 1:
        british = _half_hour(words, j)  # "half ten": half past ten, as the British say it
        if british is not None:
            return british
    direction = _at(words, j)
    if direction not in ("past", "after", "to", "til", "till", "of"):
        return None
    if direction == "of" and words[i] != "quarter":
        return None
    parsed_hour = _hour_at(words, j + 1)
    if parsed_hour is None:
        return None
    hour, end = parsed_hour
    offset = minutes if direction in ("past", "after") else -minutes
    return hour, 0, offset, end, True, False


def _half_hour(words: Sequence[str], j: int) -> tuple[int, int, int, int, bool, bool] | None:
    """The hour after a British "half" ("half ten", "half 2"), not "half an hour" or "half past"."""
    parsed = _hour_at(words, j)
    if parsed is None or _at(words, parsed[1]) in ("hour", "hours", "past", "to", "minutes", "days", "day"):
        return None
    return parsed[0], 30, 0, parsed[1], True, False


def _hour_at(words: Sequence[str], j: int) -> tuple[int, int] | None:
    """(hour 1-12, end) for an hour said in digits or words at ``j``."""
    word = _at(words, j)
    if word.isdigit() and len(word) <= 2:
        hour, end = int(word), j + 1
    else:
        parsed = _small_cardinal(words, j)
        if parsed is None:
            return None
        hour, end = parsed
    return (hour, end) if 1 <= hour <= 12 else None


def _relative_minutes(words: Sequence[str], i: int) -> tuple[int | None, int]:
    """Minutes before "past"/"to": half, quarter, or a count (see above)."""
    word = words[i]
    if word == "half":
        return 30, i + 1
    if word == "quarter":
        return 15, i + 1
    if word.isdigit() and len(word) <= 2:
        count: tuple[int, int] | None = (int(word), i + 1)
    else:
        count = _small_cardinal(words, i)
    if count is None or not 1 <= count[0] <= 30:
        return None, i
    if _at(words, count[1]) in ("minutes", "minute"):
        return count[0], count[1] + 1
    if count[0] in (5, 10, 20, 25) and not word.isdigit():
        return count[0], count[1]
    return None, i


def _clock_suffix(words: Sequence[str], i: int) -> tuple[str, str | None, int, bool, bool]:
    """(meridiem, part, end, strong, approximate) from what follows the core."""
    word = _at(words, i)
    nxt = _at(words, i + 1)
    if word in ("am", "pm"):
        return word, None, i + 1, True, False
    if word in ("a", "p") and nxt == "m":
        return word + "m", None, i + 2, True, False
    if word in _OCLOCK:
        return "", None, i + 1, True, False
    if word == "o" and nxt == "clock":
        return "", None, i + 2, True, False
    if word == "in" and nxt == "the" and _at(words, i + 2) in _PARTS:
        return "", _PARTS[words[i + 2]], i + 3, True, False
    if (word, nxt) == ("at", "night"):
        return "", "evening", i + 2, True, False
    if word == "tonight":
        return "", "evening", i + 1, True, False
    if word == "ish":
        return "", None, i + 1, False, True
    if (word, nxt) == ("or", "so"):
        return "", None, i + 2, False, True
    return "", None, i, False, False


def _resolve(clock: _Clock, part: str | None) -> dt.time:
    """Turn a spoken hour into a 24-hour time using am/pm, part of day or business hours."""
    hour = clock.hour
    own_part = clock.part or part
    if clock.meridiem == "am":
        hour = 0 if hour == 12 else hour
    elif clock.meridiem == "pm":
        hour = 12 if hour == 12 else hour + 12
    elif clock.twenty_four:
        pass
    elif own_part == "morning":
        hour = 0 if hour == 12 and clock.part == "morning" else hour
    elif own_part in ("afternoon", "evening"):
        hour = hour + 12 if hour < 12 else hour
    elif 1 <= hour <= 7:
        hour += 12
    total = (hour * 60 + clock.minute + clock.offset) % (24 * 60)
    return dt.time(total // 60, total % 60)
