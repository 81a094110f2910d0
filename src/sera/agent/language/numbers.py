"""Spoken numbers: cardinals, digit-by-digit runs and order numbers.

Speech recognisers spell numbers out ("forty two", "one zero four four", "ten
forty four") and callers read identifiers in pairs or digit by digit. These
helpers turn such token runs into integers or digit strings without guessing
across unrelated words: every parser only consumes adjacent tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sera.agent.language.normalize import tokens

__all__ = [
    "NumberSpan",
    "extract_digits_sequence",
    "extract_order_number",
    "number_at",
    "number_spans",
    "words_to_number",
]

UNITS: dict[str, int] = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
TEENS: dict[str, int] = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS: dict[str, int] = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_ZERO_WORDS = frozenset({"oh", "o"})
_REPEATERS: dict[str, int] = {"double": 2, "triple": 3}
_DIGIT_TOKEN = re.compile(r"#?\d+(?:-\d+)*")
_PLAIN_DIGITS = re.compile(r"\d+(?:-\d+)*")
_ISO_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")

# An order number is introduced by one of these words...
_ORDER_CUES = frozenset({"order", "confirmation", "reference", "ref", "invoice", "receipt"})
# ...optionally followed by these before the number itself.
_CUE_CONNECTORS = frozenset({"number", "no", "num", "#", "is", "it's", "its", "was", "it", "id"})
# "number 1042" counts as an order cue unless it is clearly a phone number.
_PHONE_WORDS = frozenset({"phone", "cell", "mobile", "my", "your", "contact", "call", "callback", "telephone"})
_TIME_BEFORE = frozenset({"at", "around", "about", "by", "before", "after", "until", "till", "til", "from", "between"})
_TIME_AFTER = frozenset({"am", "pm", "o'clock", "oclock", "ish", "morning", "afternoon", "evening", "tonight", "noon"})
_MONTHS = frozenset(
    {
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    }
)
_QUANTITY_AFTER = frozenset(
    {
        "dollars",
        "dollar",
        "bucks",
        "cents",
        "percent",
        "miles",
        "people",
        "minutes",
        "hours",
        "days",
        "weeks",
        "months",
        "years",
        "bikes",
        "times",
    }
)
_YEAR_BEFORE = frozenset({"in", "since", "year", "from", "of"})
_MAX_SPAN_TOKENS = 1000


@dataclass(frozen=True, slots=True)
class NumberSpan:
    """A number found in a token list.

    ``kind`` tells how it was said, because callers trust the forms differently:
    ``"digits"`` (written digits), ``"run"`` (spoken digit by digit) or
    ``"words"`` (a spoken cardinal or year-style pair such as "ten forty four").
    """

    start: int
    end: int
    digits: str
    kind: str
    hashed: bool = False


def spoken_lengths(minutes: int) -> list[str]:
    """How a caller says a length of time as a word before a noun ("a 90 minute lesson", "an hour
    and a half session", "the half hour consult"), singular as speech puts it there."""
    said = [f"{minutes} minute", f"{minutes} min"]
    if minutes < 100:
        said.append(f"{_number_words(minutes)} minute")
    hours, rest = divmod(minutes, 60)
    if rest == 0 and hours:
        whole = ["hour", "one hour", "1 hour"] if hours == 1 else [f"{hours} hour", f"{_number_words(hours)} hour"]
        said += whole + [f"{h} long" for h in whole]
    elif rest == 30 and hours == 0:
        said += ["half hour", "half an hour"]
    elif rest == 30 and hours == 1:
        said += ["hour and a half", "one and a half hour", "1.5 hour"]
    return said


def _number_words(number: int) -> str:
    """1 to 99 in words ("forty five")."""
    names = {value: word for word, value in (UNITS | TEENS | TENS).items() if word != "fourty"}
    if number in names:
        return names[number]
    tens, units = divmod(number, 10)
    return f"{names[tens * 10]} {names[units]}"


def words_to_number(text: str) -> int | None:
    """Parse text that is entirely one number: "forty two", "twenty nineteen", "42".

    Returns None when anything other than a number remains, so callers can use
    it as a strict check ("is this reply a number?").
    """
    words = tokens(text)
    if not words:
        return None
    if len(words) == 1 and words[0].isdigit() and len(words[0]) <= 18:
        return int(words[0])
    parsed = number_at(words, 0)
    if parsed is None or parsed[1] != len(words):
        return None
    return parsed[0]


def number_at(words: Sequence[str], start: int) -> tuple[int, int] | None:
    """Parse a spoken cardinal or year-style pair at ``start``.

    Returns ``(value, end)`` with ``end`` exclusive, choosing whichever reading
    consumes more tokens: "ten forty four" is the pair 1044, "forty two" is 42,
    "two thousand nineteen" is 2019.
    """
    cardinal = _parse_cardinal(words, start)
    pair = _parse_pair(words, start)
    if pair is not None and (cardinal is None or pair[1] > cardinal[1]):
        return pair
    return cardinal


def extract_digits_sequence(text: str) -> str | None:
    """Return the longest digit-by-digit run: "one zero four four" -> "1044".

    "oh" counts as zero inside a run (not at its start, where it is usually an
    interjection), "double five" is "55", written digits join spoken ones.
    Runs made only of tens/teens ("ten forty four") are not digit speech; use
    :func:`words_to_number` for those. Needs at least two digits.
    """
    words = tokens(text)[:_MAX_SPAN_TOKENS]
    best: str | None = None
    i = 0
    while i < len(words):
        run = _digit_run(words, i)
        if run is None:
            i += 1
            continue
        digits, end = run
        if best is None or len(digits) > len(best):
            best = digits
        i = end
    return best


def number_spans(words: Sequence[str]) -> list[NumberSpan]:
    """Find every number in a token list, longest reading first at each position."""
    spans: list[NumberSpan] = []
    i = 0
    limit = min(len(words), _MAX_SPAN_TOKENS)
    while i < limit:
        span = _span_at(words, i)
        if span is None:
            i += 1
            continue
        spans.append(span)
        i = span.end
    return spans


def extract_order_number(text: str, *, expect_order: bool = False) -> str | None:
    """Return an order number as a digit string, or None.

    Accepted: a number after an order cue ("order 1042", "order number one zero
    four four", "#1042"); any non-time number when ``expect_order`` is True
    (the agent just asked for it); otherwise only a bare written or
    digit-by-digit number of 3-9 digits. Numbers in a time or date context
    ("at 2 pm", "december 3") and phone-length numbers without a cue are never
    taken for order numbers.
    """
    words = tokens(text)
    fallback: str | None = None
    for span in number_spans(words):
        if span.hashed or (_has_order_cue(words, span.start) and not _a_pronoun_one(span)):
            return span.digits
        if _is_time_or_date(words, span) or _is_quantity_or_year(words, span):
            continue
        if len(span.digits) >= 10:
            continue
        if fallback is None and (expect_order or _bare_order_like(span)):
            fallback = span.digits
    return fallback


def order_number_readings(text: str, *, expect_order: bool = False) -> list[str]:
    """The order number as heard, then the other ways its digit groups may be read. Speech keeps
    no pause: "twenty, three eighty-nine" arrives as "twenty three eighty nine", read 2389, and
    may be 20389; each "twenty three" is tried as "twenty" and "three" too."""
    first = extract_order_number(text, expect_order=expect_order)
    if first is None:
        return []
    words = tokens(text)
    pairs = [i for i in range(len(words) - 1) if words[i] in TENS and UNITS.get(words[i + 1], 0) > 0]
    pairs = pairs[:_MAX_SPLIT_PAIRS]
    readings = [first]
    for chosen in range(1, 2 ** len(pairs)):
        split = list(words)
        for bit, i in reversed(list(enumerate(pairs))):
            if chosen >> bit & 1:  # "twenty" said alone: its digits, "two zero"
                split[i : i + 1] = [_DIGIT_NAMES[TENS[words[i]] // 10], "zero"]
        reading = extract_order_number(" ".join(split), expect_order=expect_order)
        if reading and reading not in readings:
            readings.append(reading)
    return readings


_MAX_SPLIT_PAIRS = 3
_DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _a_pronoun_one(span: NumberSpan) -> bool:
    """ "I can't order one": a single digit said as a word after "order" is no order number."""
    return span.kind != "digits" and len(span.digits) == 1


def _span_at(words: Sequence[str], i: int) -> NumberSpan | None:
    """Best number reading starting at token ``i`` (digit run vs spoken cardinal)."""
    word = words[i]
    run = _digit_run(words, i)
    spoken = number_at(words, i)
    if run is not None and (spoken is None or run[1] >= spoken[1]):
        kind = "digits" if all(_DIGIT_TOKEN.fullmatch(w) for w in words[i : run[1]]) else "run"
        return NumberSpan(i, run[1], run[0], kind, word.startswith("#"))
    if spoken is not None:
        return NumberSpan(i, spoken[1], str(spoken[0]), "words")
    if _DIGIT_TOKEN.fullmatch(word):
        digits = word.replace("#", "").replace("-", "")
        if len(digits) <= 18:
            return NumberSpan(i, i + 1, digits, "digits", word.startswith("#"))
    return None


def _parse_cardinal(words: Sequence[str], start: int) -> tuple[int, int] | None:
    """Standard cardinal grammar up to the thousands ("one hundred and five")."""
    total = 0
    current = 0
    last = ""
    i = start
    end = start
    n = len(words)
    while i < n:
        word = words[i]
        nxt = words[i + 1] if i + 1 < n else ""
        if word in UNITS and last in ("", "tens", "hundred", "thousand", "and"):
            if word == "zero" and last != "":
                break
            current += UNITS[word]
            last = "unit"
        elif word in TEENS and last in ("", "hundred", "thousand", "and"):
            current += TEENS[word]
            last = "teen"
        elif word in TENS and last in ("", "hundred", "thousand", "and"):
            current += TENS[word]
            last = "tens"
        elif word == "a" and last == "" and nxt in ("hundred", "thousand"):
            current = 1
            last = "a"
        elif word == "hundred" and last in ("unit", "teen", "tens", "a") and 0 < current < 100:
            current *= 100
            last = "hundred"
        elif word == "thousand" and last in ("unit", "teen", "tens", "hundred", "a"):
            if total or not 0 < current < 1000:
                break
            total = current * 1000
            current = 0
            last = "thousand"
        elif word == "and" and last in ("hundred", "thousand") and _is_number_word(nxt):
            last = "and"
        else:
            break
        i += 1
        if last not in ("a", "and"):
            end = i
    if end == start:
        return None
    return total + current, end


def _parse_pair(words: Sequence[str], start: int) -> tuple[int, int] | None:
    """Year/identifier style pairs: "twenty nineteen" = 2019, "ten oh five" = 1005."""
    first = _two_digit(words, start)
    if first is None or first[0] < 10:
        return None
    i = first[1]
    if i < len(words) and words[i] in _ZERO_WORDS | {"zero"}:
        if i + 1 < len(words) and words[i + 1] in UNITS and UNITS[words[i + 1]] > 0:
            return first[0] * 100 + UNITS[words[i + 1]], i + 2
        return None
    second = _two_digit(words, i)
    if second is None or second[0] < 10:
        return None
    return first[0] * 100 + second[0], second[1]


def _two_digit(words: Sequence[str], i: int) -> tuple[int, int] | None:
    """A teen, a tens word, or tens + unit ("forty four"); returns (value, end)."""
    if i >= len(words):
        return None
    word = words[i]
    if word in TEENS:
        return TEENS[word], i + 1
    if word not in TENS:
        return None
    value = TENS[word]
    if i + 1 < len(words) and words[i + 1] in UNITS and UNITS[words[i + 1]] > 0:
        return value + UNITS[words[i + 1]], i + 2
    return value, i + 1


def _digit_run(words: Sequence[str], start: int) -> tuple[str, int] | None:
    """Digits spoken one by one, e.g. "five five five oh one forty two".

    Tens/teens are allowed inside a run (people say "oh one forty two") but a
    run needs at least one single-digit element so that "ten forty four" is
    left to the cardinal/pair reader.
    """
    parts: list[str] = []
    has_single = False
    i = start
    n = len(words)
    while i < n:
        word = words[i].lstrip("#") if i == start else words[i]
        if word in UNITS:
            parts.append(str(UNITS[word]))
            has_single = True
            i += 1
        elif word in _ZERO_WORDS and i > start:
            parts.append("0")
            has_single = True
            i += 1
        elif word in _REPEATERS and i + 1 < n and _single_digit(words[i + 1]) is not None:
            parts.append(str(_single_digit(words[i + 1])) * _REPEATERS[word])
            has_single = True
            i += 2
        elif len(word) <= 18 and _PLAIN_DIGITS.fullmatch(word):
            parts.append(word.replace("-", ""))
            has_single = True
            i += 1
        elif (pair := _two_digit(words, i)) is not None:
            parts.append(str(pair[0]))
            i = pair[1]
        else:
            break
    digits = "".join(parts)
    if not has_single or len(digits) < 2:
        return None
    return digits, i


def _single_digit(word: str) -> int | None:
    """Digit value of "five", "oh", "zero" or "5"; None otherwise."""
    if word in UNITS:
        return UNITS[word]
    if word in _ZERO_WORDS:
        return 0
    if len(word) == 1 and word.isdigit():
        return int(word)
    return None


def _is_number_word(word: str) -> bool:
    return word in UNITS or word in TEENS or word in TENS


def _has_order_cue(words: Sequence[str], start: int) -> bool:
    """True when an order cue precedes ``start``, with only connectors between."""
    i = start - 1
    while i >= 0 and start - i <= 4:
        word = words[i]
        if word in _ORDER_CUES:
            return True
        if word == "number":
            return i == 0 or words[i - 1] not in _PHONE_WORDS
        if word not in _CUE_CONNECTORS:
            return False
        i -= 1
    return False


def _is_time_or_date(words: Sequence[str], span: NumberSpan) -> bool:
    """Numbers that are clock times ("at 2 pm") or days of a month ("december 3")."""
    before = words[span.start - 1] if span.start > 0 else ""
    after = words[span.end] if span.end < len(words) else ""
    # "at 2", "at 9 30", "at ten forty four" look like clock times; "about 1042" does not.
    multi_token = span.end - span.start > 1
    clock_sized = len(span.digits) <= 2 or (multi_token and len(span.digits) <= 4)
    if before in _MONTHS or after in _TIME_AFTER or (clock_sized and before in _TIME_BEFORE):
        return True
    if after == "in" and span.end + 2 < len(words) and words[span.end + 2] in _TIME_AFTER:
        return True
    return any(":" in w or "/" in w or _ISO_DATE.fullmatch(w) for w in words[span.start : span.end])


def _is_quantity_or_year(words: Sequence[str], span: NumberSpan) -> bool:
    """Prices, counts and years ("in twenty nineteen") are not order numbers."""
    after = words[span.end] if span.end < len(words) else ""
    before = words[span.start - 1] if span.start > 0 else ""
    if after in _QUANTITY_AFTER:
        return True
    return before in _YEAR_BEFORE and len(span.digits) == 4 and span.digits[:2] in ("19", "20")


def _bare_order_like(span: NumberSpan) -> bool:
    """Without a cue only identifier-looking numbers qualify (3-9 digits, not words)."""
    return span.kind in ("digits", "run") and 3 <= len(span.digits) <= 9
