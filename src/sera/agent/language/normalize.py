"""Text normalisation shared by every offline language function.

Callers hand us raw speech-recognition output or SMS text. Everything downstream
(numbers, dates, entities, intents) matches against one canonical form so their
patterns stay small: lowercase, NFKC, punctuation removed except where it carries
meaning (emails, clock times, dates, a leading ``+`` or ``#`` before digits),
fillers dropped, whitespace collapsed and length capped so that the work done by
every later regex is bounded.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = ["FILLERS", "MAX_CHARS", "expand_shorthand", "is_email", "normalize", "tokens", "within_one_edit"]

MAX_CHARS = 2000
"""Normalised text is never longer than this; later stages rely on the bound."""

# Raw input is cut before NFKC (which can expand a character up to 18x) so the
# whole pipeline does bounded work even on megabyte payloads.
_RAW_CAP = 4 * MAX_CHARS
_NFKC_CAP = 4 * MAX_CHARS
_MAX_EMAIL_LEN = 254

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})

_EMAIL_SHAPE = re.compile(
    r"[a-z0-9](?:[a-z0-9._%+-]{0,62}[a-z0-9])?@"
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    r"\.[a-z]{2,24}"
)
_EDGE_PUNCT = "\"'()[]<>{},;:!?.*"

# "p.m." / "p. m." -> "pm"; not inside an email or a longer word.
_AMPM_DOTTED = re.compile(r"(?<![\w.@])([ap])\.\s?m\b\.?")
# "2pm" / "10:30am" -> "2 pm" / "10:30 am" so the meridiem is its own token.
_GLUED_AMPM = re.compile(r"(?<=\d)(am|pm)\b")
# "1,200" -> "1200" (thousands separators), before commas become spaces.
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}\b)")
_AMPERSAND = re.compile(r"&")
# Anything that is not a word character, whitespace or a conditionally kept
# symbol goes; underscores are word characters in `re`, so drop them explicitly.
_DISALLOWED = re.compile(r"[^\w\s'+#:./-]|_")
# "checkin' on my order", "fixin' to come in": a dropped g, written with its apostrophe
_DROPPED_G = re.compile(r"\b([a-z]{2,})in'(?![a-z])")
_BAD_APOSTROPHE = re.compile(r"(?<![^\W\d_])'|'(?![^\W\d_])")
_BAD_PLUS = re.compile(r"(?<=\S)\+|\+(?!\d)")
_BAD_HASH = re.compile(r"(?<=\w)#|#(?!\d)")
_BAD_DIGIT_PUNCT = re.compile(r"(?<!\d)[:./-]|[:./-](?!\d)")
_WHITESPACE = re.compile(r"\s+")

FILLERS = frozenset({"um", "umm", "ummm", "uh", "uhh", "uhm", "erm", "er", "hmm", "hmmm", "hm", "mm", "ah", "ahh"})
# Backchannels that look like fillers but mean "yes": keep them intact.
_KEEP_PAIRS = frozenset({("uh", "huh"), ("mm", "hmm"), ("hmm", "hmm")})
# "you know" is only a filler when not part of a real question ("do you know").
_YOU_KNOW_GUARDS = frozenset({"do", "did", "don't", "didn't", "would", "let", "if", "what"})

_SHORTHAND: dict[str, str] = {
    "u": "you",
    "ur": "your",
    "r": "are",
    "hw": "how",
    "wot": "what",
    "wat": "what",
    "wut": "what",
    "wots": "what's",
    "wats": "what's",
    "da": "the",  # Hawaii's Pidgin, the Caribbean's, Philadelphia's: "da one with da turtles"
    "dat": "that",
    "nite": "night",
    "pls": "please",
    "plz": "please",
    "pleez": "please",
    "thx": "thanks",
    "thanx": "thanks",
    "thnx": "thanks",
    "tks": "thanks",
    "ty": "thank you",
    "appt": "appointment",
    "appts": "appointments",
    "apt": "appointment",
    "wanna": "want to",
    "gonna": "going to",
    "gotta": "got to",
    "lemme": "let me",
    "gimme": "give me",
    "im": "i'm",
    "dont": "don't",
    "cant": "can't",
    "wont": "won't",
    "didnt": "didn't",
    "doesnt": "doesn't",
    "isnt": "isn't",
    "whats": "what's",
    "wheres": "where's",
    "thats": "that's",
    "hows": "how's",
    "ive": "i've",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "tmrow": "tomorrow",
    "tomoro": "tomorrow",
    "tomorow": "tomorrow",
    "tommorow": "tomorrow",
    "tommorrow": "tomorrow",
    "2moro": "tomorrow",
    "2morrow": "tomorrow",
    "tomoz": "tomorrow",  # Australia and New Zealand
    "tonite": "tonight",
    "arvo": "afternoon",  # Australia and New Zealand
    # Scotland and Ireland
    "d'ye": "do you",
    "d'you": "do you",
    "ye": "you",
    "y'all": "you",  # the Southern US, Dublin's, Philadelphia's and Pittsburgh's "you" to several
    "yall": "you",
    "youse": "you",
    "yous": "you",
    "yinz": "you",
    "yam": "you",  # the Black Country's and Birmingham's "yow am": "what do yam charge"
    "dawg": "dog",
    "dawgs": "dogs",
    "yer": "your",
    "tae": "to",
    "cannae": "can't",
    "canna": "can't",
    "dinnae": "don't",
    "didnae": "didn't",
    "isnae": "isn't",
    "wouldnae": "wouldn't",
    "couldnae": "couldn't",
    "gonnae": "going to",
    "wi": "with",  # "a wee word wi' Morag"
    "aboot": "about",
    "b4": "before",
    "msg": "message",
    "txt": "text",
    "txting": "texting",
    "mins": "minutes",
    "hrs": "hours",
    "info": "information",
    "val": "valuation",  # "how much 4 a insurance val"
    "jus": "just",
    "2nite": "tonight",
    "2nyt": "tonight",
    "vals": "valuations",
    "cxl": "cancel",
    "canx": "cancel",
    "cncl": "cancel",
    "resched": "reschedule",
    "wknd": "weekend",
    "wkend": "weekend",
    "wk": "week",
    "nxt": "next",
    "avail": "available",
    "abt": "about",
    "bc": "because",
    "cuz": "because",
    "coz": "because",
    "rn": "right now",
    "idk": "i don't know",
    "nvm": "never mind",
    "doin": "doing",
    "goin": "going",
    "comin": "coming",
    "somethin": "something",
}


def normalize(text: str) -> str:
    """Return the canonical lowercase form of ASR or SMS text.

    Punctuation is removed because ASR never produces it reliably, but the few
    symbols that carry meaning survive: ``@`` and dots inside a valid email,
    ``:`` ``.`` ``/`` ``-`` between digits (times, dates, phone numbers), a
    leading ``+`` or ``#`` before digits, and apostrophes inside words
    ("don't", "o'brien"). Hyphens between letters become spaces ("tune-up" ->
    "tune up"). Fillers (um, uh, hmm...) are removed as whole words; "like" and
    "you know" only when they sit next to a filler or, for "you know", end the
    utterance, because both are also ordinary words. Never raises; output is at
    most ``MAX_CHARS`` characters.
    """
    if not isinstance(text, str) or not text:
        return ""
    text = unicodedata.normalize("NFKC", text[:_RAW_CAP])[:_NFKC_CAP]
    text = _NORTHERN_THE.sub("the ", text.lower().translate(_APOSTROPHES))
    cleaned = _clean_chunks(text.split())
    words = _drop_fillers(cleaned.split())
    return _cap(" ".join(words))


def tokens(text: str) -> list[str]:
    """Split ``normalize(text)`` into words; the unit every matcher works on."""
    return normalize(text).split()


def expand_shorthand(text: str) -> str:
    """Normalise and expand SMS shorthand ("u" -> "you", "appt" -> "appointment").

    Kept separate from :func:`normalize` because expansion is only safe for
    phrase matching (intents, yes/no, dates), not for entity extraction where a
    literal token such as "u" could be part of a spelled email.
    """
    words: list[str] = []
    heard = _SCOTS_TOMORROW.sub("tomorrow", _SPLIT_WORD.sub(_joined, normalize(text)))
    heard = _A_YARN.sub(r"\1chat", _CANCEL_MISHEARD.sub("cancel", heard))
    heard = _ALOUD.sub(lambda m: f"{m.group(1) or ''}allowed", _FIXING_TO.sub("going to", heard))
    heard = _AND.sub(" and ", _FOR.sub("for", _WITHOUT.sub("without", heard)))
    for spanish, english in _SPANISH_WHEN:
        heard = spanish.sub(english, heard)
    for word in heard.split():
        words.extend(_SHORTHAND.get(word, word).split())
    return " ".join(words)


# words speech-to-text splits in two: "satur day", "after noon", "eight teenth"
_SPLIT_WORD = re.compile(
    r"\b(?:(mon|tues|wednes|thurs|fri|satur|sun) (days?)|(after) (noon)|(to) (morrow)|(week) (ends?)"
    r"|(thir|four|fif|six|seven|eigh|nine)t? (teen(?:th|s)?)|(?<!day )(to) (day)(?! (?:to|by|after)\b))\b"
)


# Spanish said among English ("can Rosa come mañana a las dos?"): the day and the hour, for the rules
# that read them (names are read from the line as said, so a Domingo stays a Domingo)
_SPANISH_HOURS = [
    "una",
    "uno",
    "dos",
    "tres",
    "cuatro",
    "cinco",
    "seis",
    "siete",
    "ocho",
    "nueve",
    "diez",
    "once",
    "doce",
]
_SPANISH_MINUTES = {"media": ":30", "cuarto": ":15", None: ""}
_SPANISH_DAYS = {
    "lunes": "monday", "martes": "tuesday", "miércoles": "wednesday", "miercoles": "wednesday",
    "jueves": "thursday", "viernes": "friday", "sábado": "saturday", "sabado": "saturday", "domingo": "sunday",
}  # fmt: skip
_SPANISH_PART = {"mañana": "in the morning", "tarde": "in the afternoon", "noche": "in the evening"}
_SPANISH_WHEN: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(r"\bpasado mañana\b"), "the day after tomorrow"),
    (re.compile(r"\b(?:por|en) la (mañana|tarde|noche)\b"), lambda m: _SPANISH_PART[m.group(1)]),
    (re.compile(r"\bmañana\b"), "tomorrow"),
    (re.compile(r"\bhoy\b"), "today"),
    (
        re.compile(rf"\ba las? ({'|'.join(_SPANISH_HOURS)})(?: y (media|cuarto))?\b"),
        lambda m: f"at {max(1, _SPANISH_HOURS.index(m.group(1)))}{_SPANISH_MINUTES[m.group(2)]}",
    ),
    (re.compile(rf"\b(?:el )?({'|'.join(_SPANISH_DAYS)})\b"), lambda m: _SPANISH_DAYS[m.group(1)]),
)

# Yorkshire and Lancashire "are you open t'bank holiday", "t'other one": the
_NORTHERN_THE = re.compile(r"(?<![\w'])t'(?=[a-z])")

# SMS "w/o a booking" (its slash gone): without
_WITHOUT = re.compile(r"\bw o\b")

# SMS "how much is a cut n do u do kids": and, between words (a lone "n" is a no)
_AND = re.compile(r"(?<=\w) n (?=\w)")

# SMS "how much 4 a clean": for, where no clock time can be meant ("at 4 the latest" is one)
_FOR = re.compile(
    r"(?<!\bat )(?<!\bby )(?<!\btill )(?<!\buntil )(?<!\bbefore )(?<!\bafter )(?<!\baround )(?<!\babout )"
    r"(?<!\bfrom )(?<!\bto )\b4(?= (?:a|an|the|my|me|us|him|her|them|your|ur|u|you)\b)"
)


# speech-to-text's "can sell my booking", "can't sell the 3 pm", "council my first appointment": cancel,
# before what is cancelled
_CANCEL_MISHEARD = re.compile(r"\b(?:can(?:'t)? sell|council)(?= (?:my|the|our|it|that|this|his|her|their|tomorrow)\b)")

# New Zealand's and Australia's "a quick yarn with Kirsty": a chat (knitting yarn has no "with")
_A_YARN = re.compile(r"\b(a (?:quick |little |wee )?)yarn(?= with\b)")

# Scots "the morra", "the morn's night": tomorrow ("in the morn" alone may be the morning)
# the Southern US "I'm fixin' to book the boardroom": about to, nothing to do with fixing
_FIXING_TO = re.compile(r"\bfixing to(?= \w)")
# speech-to-text's "are dogs aloud in the building": allowed (nothing is read out loud "in" a place)
_ALOUD = re.compile(r"\b((?:are|is|am|be|not|they|you|we) )aloud\b|\baloud(?= (?:in|on|inside|here|there|at)\b|$)")
_SCOTS_TOMORROW = re.compile(r"\bthe (?:morra|morn's)\b")


def _joined(match: re.Match[str]) -> str:
    return "".join(part for part in match.groups() if part)


def is_email(candidate: str) -> bool:
    """True when ``candidate`` (already lowercase) has the shape of an email address."""
    if len(candidate) > _MAX_EMAIL_LEN or ".." in candidate:
        return False
    return _EMAIL_SHAPE.fullmatch(candidate) is not None


def within_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance <= 1, plus adjacent transpositions, in linear time."""
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        if a[i + 1 :] == b[i + 1 :]:
            return True
        return i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    return a[i:] == b[i + 1 :]


_AT_SIGN = re.compile(r"(?:(?<=\s)|^)@(?=\d|\s|$)")


def _clean_chunks(chunks: list[str]) -> str:
    """Clean whitespace-separated chunks, passing valid emails through untouched.

    Only chunks containing ``@`` are checked for email shape; everything else is
    joined and cleaned with a handful of linear regex substitutions.
    """
    out: list[str] = []
    pending: list[str] = []
    for chunk in chunks:
        if "@" in chunk:
            email = chunk.strip(_EDGE_PUNCT)
            if is_email(email):
                if pending:
                    out.append(_clean_segment(" ".join(pending)))
                    pending = []
                out.append(email)
                continue
        # "fri @ 6", "sat @6pm": in a text an "@" that is no email is the word "at"
        pending.append(_AT_SIGN.sub(" at ", chunk) if "@" in chunk else chunk)
    if pending:
        out.append(_clean_segment(" ".join(pending)))
    return " ".join(out)


def _clean_segment(segment: str) -> str:
    """Strip punctuation from a non-email segment, keeping meaningful symbols."""
    segment = _AMPM_DOTTED.sub(r"\1m", segment)
    segment = _GLUED_AMPM.sub(r" \1", segment)
    segment = _THOUSANDS_COMMA.sub("", segment)
    segment = _AMPERSAND.sub(" and ", segment)
    segment = _DISALLOWED.sub(" ", segment)
    segment = _DROPPED_G.sub(r"\1ing", segment)
    segment = _BAD_APOSTROPHE.sub(" ", segment)
    segment = _BAD_PLUS.sub(" ", segment)
    segment = _BAD_HASH.sub(" ", segment)
    return _BAD_DIGIT_PUNCT.sub(" ", segment)


def _drop_fillers(words: list[str]) -> list[str]:
    """Remove filler words; see :func:`normalize` for the conservative rules."""
    n = len(words)
    drop = [False] * n
    for i, word in enumerate(words):
        if word not in FILLERS:
            continue
        nxt = words[i + 1] if i + 1 < n else ""
        prev = words[i - 1] if i > 0 else ""
        if (word, nxt) in _KEEP_PAIRS or (prev, word) in _KEEP_PAIRS:
            continue
        drop[i] = True
    for i, word in enumerate(words):
        if word == "like" and _next_to_filler(words, drop, i, i):
            drop[i] = True
        elif word == "you" and i + 1 < n and words[i + 1] == "know":
            prev = words[i - 1] if i > 0 else ""
            at_end = i + 2 == n
            if prev not in _YOU_KNOW_GUARDS and (at_end or _next_to_filler(words, drop, i, i + 1)):
                drop[i] = drop[i + 1] = True
    return [w for w, d in zip(words, drop, strict=True) if not d]


def _next_to_filler(words: list[str], drop: list[bool], first: int, last: int) -> bool:
    """True when the word span [first, last] touches a dropped filler."""
    before = first > 0 and drop[first - 1] and words[first - 1] in FILLERS
    after = last + 1 < len(words) and drop[last + 1] and words[last + 1] in FILLERS
    return before or after


def _cap(text: str) -> str:
    """Cut to ``MAX_CHARS`` at a word boundary so no token is half-kept."""
    if len(text) <= MAX_CHARS:
        return text
    cut = text[:MAX_CHARS]
    space = cut.rfind(" ")
    return cut[:space] if space > 0 else cut
