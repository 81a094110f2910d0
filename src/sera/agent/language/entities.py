"""Entities callers give the agent: email, phone, name, yes/no and menu choices.

Each extractor is deliberately conservative: returning None makes the agent ask
again, while a wrong value gets silently written to a booking or a customer
record.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import phonenumbers

from sera.agent.language.normalize import FILLERS, expand_shorthand, is_email, tokens, within_one_edit
from sera.agent.language.numbers import TEENS, TENS, UNITS, number_spans

__all__ = ["extract_email", "extract_name", "extract_phone", "match_option", "says_phrase", "yes_no"]

_RAW_CAP = 2000
_PHONE_CAP = 500
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def _word_set(words: str) -> frozenset[str]:
    """Whitespace-separated word list -> frozenset (keeps long vocabularies readable)."""
    return frozenset(words.split())


# ----------------------------------------------------------------------- email

_EMAIL_EDGE = "\"'()[]<>{},;:!?*"
_LOCAL_WORD = re.compile(r"[a-z0-9](?:[a-z0-9._+-]*[a-z0-9])?")
_DOMAIN_WORD = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_DOTTED_DOMAIN = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_CONNECTORS: dict[str, str] = {
    "dot": ".",
    "period": ".",
    "point": ".",
    "underscore": "_",
    "dash": "-",
    "hyphen": "-",
    "minus": "-",
    "plus": "+",
}
_DIGIT_WORDS: dict[str, str] = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_SPLIT_DOMAINS: dict[tuple[str, str], str] = {
    ("g", "mail"): "gmail",
    ("hot", "mail"): "hotmail",
    ("i", "cloud"): "icloud",
    ("out", "look"): "outlook",
    ("proton", "mail"): "protonmail",
}
# Words that end the local part when walking backwards from "at".
_LOCAL_STOP = frozenset({"is", "email", "address", "mail", "it's", "its", "my", "me", "at", "to", "the", "and", "it"})


def extract_email(text: str) -> str | None:
    """Return a lowercased email written ("a.b@x.com") or spoken ("a dot b at x dot com")."""
    if not isinstance(text, str) or not text:
        return None
    raw = unicodedata.normalize("NFKC", text[:_RAW_CAP]).lower().translate(_APOSTROPHES)
    for chunk in raw.split():
        if "@" in chunk:
            candidate = chunk.strip(_EMAIL_EDGE).rstrip(".")
            if is_email(candidate):
                return candidate
    words = [w.strip(_EMAIL_EDGE) for w in raw.split()]
    words = [w.rstrip(".") if w.endswith(".") else w for w in words]
    words = [w for w in words if w and w not in FILLERS]
    for i, word in enumerate(words):
        if word not in ("at", "@"):
            continue
        local = _local_part(words, i)
        domain = _domain_part(words, i + 1)
        if local and domain and is_email(f"{local}@{domain}"):
            return f"{local}@{domain}"
    return None


def _local_part(words: Sequence[str], at: int) -> str:
    """Walk back from "at" joining words with spoken connectors ("priya dot shah")."""
    pieces: list[str] = []
    j = at - 1
    digits = _trailing_digits(words, j)
    if digits:
        pieces.append(digits[0])
        j = digits[1]
        word, k = _local_word_back(words, j)
        if word and len(word) > 1:
            pieces.insert(0, word)
            j = k
    else:
        word, j = _local_word_back(words, j)
        if not word:
            return ""
        pieces.append(word)
    while j >= 1 and words[j] in _CONNECTORS:
        word, k = _local_word_back(words, j - 1)
        if not word:
            break
        pieces[0:0] = [word, _CONNECTORS[words[j]]]
        j = k
    return "".join(pieces)


def _trailing_digits(words: Sequence[str], j: int) -> tuple[str, int] | None:
    """Spoken digits right before "at" ("jordan eighty eight" style is not covered)."""
    parts: list[str] = []
    while j >= 0 and (words[j] in _DIGIT_WORDS or words[j].isdigit()):
        parts.insert(0, _DIGIT_WORDS.get(words[j], words[j]))
        j -= 1
    return ("".join(parts), j) if parts else None


def _local_word_back(words: Sequence[str], j: int) -> tuple[str, int]:
    """One local-part word ending at ``j``; runs of single letters are spelling."""
    if j < 0:
        return "", j
    if len(words[j]) == 1 and words[j].isalnum():
        start = j
        while start - 1 >= 0 and len(words[start - 1]) == 1 and words[start - 1].isalnum():
            start -= 1
        return "".join(words[start : j + 1]), start - 1
    if words[j] in _LOCAL_STOP or words[j] in _CONNECTORS or not _is_local_word(words[j]):
        return "", j
    return words[j], j - 1


def _is_local_word(word: str) -> bool:
    return len(word) <= 64 and _LOCAL_WORD.fullmatch(word) is not None


def _domain_part(words: Sequence[str], j: int) -> str:
    """Read "example dot com" / "gmail.com" / "g mail dot com" after "at"."""
    if j < len(words) and words[j] in ("sign", "symbol"):
        j += 1
    labels: list[str] = []
    while j < len(words) and len(labels) < 6:
        word = words[j]
        split = _SPLIT_DOMAINS.get((word, words[j + 1] if j + 1 < len(words) else ""))
        if split is not None:
            label, j = split, j + 2
        elif word.endswith("dotcom") and len(word) > 6 and _DOMAIN_WORD.fullmatch(word[:-6]):
            labels.extend([word[:-6], "com"])
            break
        elif _DOTTED_DOMAIN.fullmatch(word) and len(word) <= 253:
            labels.extend(word.split("."))
            j += 1
            if j >= len(words) or words[j] not in ("dot", "period"):
                break
            j += 1
            continue
        elif _DOMAIN_WORD.fullmatch(word) and len(word) <= 63 and word not in _CONNECTORS:
            label, j = word, j + 1
        else:
            break
        labels.append(label)
        if j < len(words) and words[j] == "dotcom":
            labels.append("com")
            break
        if j >= len(words) or words[j] not in ("dot", "period"):
            break
        j += 1
    if len(labels) < 2 or not labels[-1].isalpha():
        return ""
    return ".".join(labels)


# ----------------------------------------------------------------------- phone


def extract_phone(text: str, region: str = "US") -> str | None:
    """Return a valid phone number in E.164, written or spoken digit by digit.

    Written numbers go through libphonenumber's matcher; spoken ones ("three one
    two five five five ...", optionally "plus one ...") are rebuilt from digit
    runs. Numbers libphonenumber considers invalid give None.
    """
    if not isinstance(text, str) or not text:
        return None
    written = _written_phone(text[:_PHONE_CAP], region)
    if written is not None:
        return written
    words = tokens(text)
    for span in number_spans(words):
        if len(span.digits) < 7 or len(span.digits) > 15:
            continue
        plus = span.start > 0 and words[span.start - 1] == "plus"
        found = _parse_phone(("+" if plus else "") + span.digits, region)
        if found is not None:
            return found
    return None


def _written_phone(text: str, region: str) -> str | None:
    try:
        matcher = phonenumbers.PhoneNumberMatcher(text, region, max_tries=50)
        for match in matcher:
            if phonenumbers.is_valid_number(match.number):
                return str(phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164))
    except Exception:  # libphonenumber raises on odd regions/inputs; treat as no match
        return None
    return None


def _parse_phone(digits: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(digits, region)
    except Exception:  # NumberParseException, or unknown region
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


# ------------------------------------------------------------------------ name

_NAME_TOKEN = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
_NAME_CLEAN = re.compile(r"[^\w\s'-]|_")
# a number said in a line is kept as one token, "0": no name runs across it ("I'm 20 weeks pregnant")
_NUMBER = re.compile(r"\d+")
_NUMBER_WORD = "0"
# Words that can never be (part of) a person's name in a reply.
_NEVER_NAME = _word_set(
    """
    a an the and or but so if to of in on at by for with from about as into than then too
    i me my mine you your yours he she they we us our it its it's this that these those
    is am are was were be been being do does did done have has had having would can
    could should shall might must not no nope yes yeah yep yup yea sure ok okay okey
    alright right correct wrong please thanks thank hi hiya hello hey bye goodbye what who when
    where why how which there here just only also very really well oh um uh like
    need want book booking cancel reschedule order orders appointment call calling called
    get got give help know think mean say said tell see look looking go going come coming
    good great fine sorry busy interested wondering trying checking asking sure nothing
    something anything everything someone somebody anyone nobody name number phone email
    bike bikes service repair tune flat tire brake brakes shop store today tomorrow
    tonight morning afternoon evening monday tuesday wednesday thursday friday saturday
    sunday one two three four five six seven eight nine ten zero hundred thousand
    i'm i'd i'll i've don't can't won't didn't doesn't isn't that's what's there's
    gonna wanna gotta still again back now later soon yet ever never always maybe
    ta cheers thx pls plz thanx
    """
)
_NEVER_NAME |= frozenset(UNITS) | frozenset(TEENS) | frozenset(TENS)  # "I'm twenty weeks and my hips are done"
# Extra words that are unlikely names when no prompt asked for one ("i'm new").
_UNLIKELY_NAME = _word_set(
    """
    new here there happy glad fine free ready done home out away open closed available
    planning hoping calling looking trying wondering interested curious confused upset
    angry annoyed frustrated disappointed afraid worried concerned sorry sure not just
    actually currently still also really super pretty kind sort bit little bad ok okay
    all set good great awesome glad excited staying coming going leaving running late
    early on off in at with about from for regarding following reaching texting
    will may asap back later soon tomorrow today now when if
    broken cracked damaged missing urgent important weird strange expensive cheap
    possible impossible ridiculous terrible awful perfect amazing true false him her them
    """
)
_STRONG_CUES: tuple[tuple[str, ...], ...] = (
    ("my", "name", "is"),
    ("my", "name's"),
    ("the", "name", "is"),
    ("name", "is"),
    ("name's",),
)
_MEDIUM_CUES: tuple[tuple[str, ...], ...] = (
    ("this", "is"),
    ("it's", "under", "the", "name", "of"),
    ("it's", "under", "the", "name"),
    ("it's", "under"),  # "It's under Bernard Castillo"
    ("it", "is", "under", "the", "name", "of"),
    ("it", "is", "under", "the", "name"),
    ("it", "is", "under"),
    ("it's",),
    ("it", "is"),
    ("call", "me"),
    ("under", "the", "name", "of"),
    ("under", "the", "name"),
    ("in", "the", "name", "of"),
    ("under",),  # "an AC recharge on Friday at 1 under Luis Ortega"
)
_WEAK_CUES: tuple[tuple[str, ...], ...] = (("i'm",), ("i", "am"), ("im",))
_NAME_END = frozenset(
    {
        "",
        _NUMBER_WORD,
        "and",
        "calling",
        "from",
        "here",
        "speaking",
        "with",
        "thanks",
        "thank",
        "please",
        "ta",
        "cheers",
    }
)
_BARE_PREFIX = _word_set(
    """
    yes yeah yep sure ok okay oh hi hello hey so well it's its it is this my name name's
    i'm im i am the sorry yea alright right um uh
    """
)
_MAX_NAME_WORDS = 3
# words inside a surname, between a given name and the rest ("Ó Dálaigh", "de la Cruz", "van der Berg")
_NAME_PARTICLES = _word_set(
    """
    ó o ní nic mac mc ua uí de da del della di du la le van von der den ter ten bin bint al el ap ab dos das
    """
)


@dataclass(frozen=True, slots=True)
class _Word:
    lower: str
    capitalized: bool


# a name said with "here" or "speaking" after it, at the start of a sentence or clause, capitalised
_NAME_HERE = re.compile(
    r"(?:^|[,.!?]\s*)(?:(?:Hi|Hey|Hello|Hiya|Yeah|Yes|Morning|Afternoon|Evening|Now then|Oh|Ok|Okay),? )?"
    r"([A-Z][a-z'-]+(?: [A-Z][a-z'-]+){1,2}) (?:here|speaking)\b"
)


def extract_name(text: str, *, expect_name: bool = False) -> str | None:
    """Return the caller's name, title-cased ("Jordan Miles", "O'Brien"), or None.

    Without ``expect_name`` a cue is required ("my name is", "this is", "it's",
    "i'm", "call me"); the weak "i'm" cue also needs a capital letter or a
    clean ending ("i'm ken and ...") since "i'm calling about" is common. With
    ``expect_name`` (the agent just asked for a name) a bare reply such as
    "alex kim" or "uh it's nina patel" is accepted.
    """
    if not isinstance(text, str) or not text:
        return None
    words = _name_words(text)
    if not words or any("@" in c for c in text[:_RAW_CAP].split()):
        return None
    cued = _name_after_cue(words, expect_name=expect_name)
    if cued is not None:
        return cued
    introduced = _NAME_HERE.search(text[:_RAW_CAP])  # "Now then, Graham Sutcliffe here, I'm ringing..."
    named = introduced.group(1) if introduced is not None else ""
    said = named.lower().split()
    if said and not FILLERS.intersection(said) and said[0] not in _NEVER_NAME:
        return named
    return _bare_name(words) if expect_name else None


def _name_words(text: str) -> list[_Word]:
    """Tokens for name matching: hyphens and apostrophes inside words survive."""
    raw = unicodedata.normalize("NFKC", text[:_RAW_CAP]).translate(_APOSTROPHES)
    raw = _NUMBER.sub(f" {_NUMBER_WORD} ", _NAME_CLEAN.sub(" ", raw))
    pieces = [piece.strip("'-") for piece in raw.split()]
    out: list[_Word] = []
    for i, piece in enumerate(pieces):
        # a filler's letters within a name, capitalised between its words ("Kekoa Ah Sing"), are a name's
        within = 0 < i < len(pieces) - 1 and all(p[:1].isupper() for p in pieces[i - 1 : i + 2])
        if piece and (piece.lower() not in FILLERS or within):
            out.append(_Word(piece.lower(), piece[:1].isupper()))
    return out


def _name_after_cue(words: Sequence[_Word], *, expect_name: bool) -> str | None:
    lowers = [w.lower for w in words]
    for i in range(len(words)):
        for cues, strength in ((_STRONG_CUES, 2), (_MEDIUM_CUES, 1), (_WEAK_CUES, 0)):
            for cue in cues:
                end = i + len(cue)
                if tuple(lowers[i:end]) != cue:
                    continue
                name = _take_name(words, end, strict=strength < 2 and not expect_name)
                if name is None:
                    continue
                names, stop = name
                if strength == 0 and not expect_name and not _weak_cue_ok(words, end, stop):
                    continue
                return _title(names)
    return None


def _weak_cue_ok(words: Sequence[_Word], start: int, stop: int) -> bool:
    """ "i'm Ken" (capitalised) or "i'm ken and ..." (clean end) reads as a name."""
    following = words[stop].lower if stop < len(words) else ""
    return words[start].capitalized or following in _NAME_END


def _take_name(words: Sequence[_Word], start: int, *, strict: bool) -> tuple[list[str], int] | None:
    """Up to three consecutive name-like words from ``start``, with the particles between them
    ("Fiachra Ó Dálaigh", "Juan de la Cruz")."""
    names: list[str] = []
    j, counted = start, 0
    while j < len(words) and counted < _MAX_NAME_WORDS:
        particles = 0
        while names and j + particles < len(words) and words[j + particles].lower in _NAME_PARTICLES:
            particles += 1
        if particles and j + particles < len(words) and _is_name_word(words[j + particles], strict):
            names.extend(words[k].lower for k in range(j, j + particles))
            j += particles
        elif not _is_name_word(words[j], strict):
            break
        names.append(words[j].lower)
        j, counted = j + 1, counted + 1
    if not names:
        return None
    return names, j


def _is_name_word(token: _Word, strict: bool) -> bool:
    """Name-shaped and not a common word; ``strict`` also rejects likely non-names
    unless the writer capitalised them ("call me Will")."""
    word = token.lower
    if len(word) < 2 or len(word) > 30 or not _NAME_TOKEN.fullmatch(word):
        return False
    if word in _NEVER_NAME or all(part in _NEVER_NAME for part in word.split("-")):  # "sixty-two"
        return False
    if "-" in word and all(len(part) == 1 for part in word.split("-")):  # "M-E-R-E": a name spelled out
        return False
    if not strict or token.capitalized:
        return True
    return word not in _UNLIKELY_NAME and not (word.endswith("ing") and len(word) > 5)


def _bare_name(words: Sequence[_Word]) -> str | None:
    """A reply that is just a name, possibly wrapped in "uh it's ... thanks"."""
    i = 0
    while i < len(words) and words[i].lower in _BARE_PREFIX:
        i += 1
    taken = _take_name(words, i, strict=False)
    if taken is None:
        return None
    names, stop = taken
    following = words[stop].lower if stop < len(words) else ""
    if following not in _NAME_END:
        return None
    return _title(names)


def _title(names: Sequence[str]) -> str:
    return " ".join(_title_word(n) for n in names)


def _title_word(word: str) -> str:
    """ "o'brien" -> "O'Brien", "mary-jane" -> "Mary-Jane", "mcdonald" -> "McDonald"."""
    parts = word.split("-")
    out: list[str] = []
    for part in parts:
        head, sep, tail = part.partition("'")
        if sep and len(head) == 1:
            titled = head.upper() + "'" + tail[:1].upper() + tail[1:]
        else:
            titled = part[:1].upper() + part[1:]
        if titled.startswith("Mc") and len(titled) > 3:
            titled = "Mc" + titled[2].upper() + titled[3:]
        out.append(titled)
    return "-".join(out)


# ---------------------------------------------------------------------- yes/no

_YES = (
    "yes please",
    "yes",
    "yeah",
    "yep",
    "yup",
    "yea",
    "yah",
    "ya",
    "aye",  # Scotland and the north of England
    "ja",  # callers who think in Dutch, German or a Nordic language say it in English too
    "oui",
    "yess",
    "sure",
    "certainly",
    "absolutely",
    "definitely",
    "of course",
    "correct",
    "that's right",
    "that is right",
    "thats right",
    "that's correct",
    "right",
    "exactly",
    "sounds good",
    "sounds great",
    "sounds perfect",
    "please do",
    "go ahead",
    "go for it",
    "that works",
    "that'd work",
    "that'll work",
    "that will work",
    "that would work",
    "that'll do",
    "that will do",
    "suits me",
    "that suits",
    "works for me",
    "ok",
    "okay",
    "okey",
    "k",
    "kk",
    "alright",
    "all right",
    "perfect",
    "great",
    "uh huh",
    "mm hmm",
    "mhm",
    "affirmative",
    "do it",
    "i do",
    "confirm",
    "confirmed",
    "book it",
    "that's fine",
    "fine",
    "no problem",
    "no worries",
    "yeah no worries",  # "yeah no" alone is a no, in Australia and New Zealand
    "yeah no problem",
    "yeah no dramas",
    "why not",
    # regional: New Zealand and Australia, Ireland, Britain
    "sweet as",
    "sweet",
    "choice",
    "chur",
    "too right",
    "nah yeah",  # "no, I mean yes"
    "grand",
    "that's grand",
    "dead on",  # Northern Ireland
    "go on",
    "go on so",
    "lovely",
    "brilliant",
    "spot on",
    "bang on",
    "that'll do",
    "all good",
    "you bet",
    "for sure",
)
_NO = (
    "no thank you",
    "no thanks",
    "no",
    "nope",
    "nah",
    "negative",
    "not really",
    "not right",
    "not correct",
    "not quite",
    "not at all",
    "not interested",
    "not now",
    "absolutely not",
    "definitely not",
    "of course not",
    "that's wrong",
    "that is wrong",
    "wrong",
    "incorrect",
    "don't",
    "do not",
    "doesn't",
    "does not",
    "didn't",
    "won't",
    "can't",
    "cannot",
    "never mind",
    "nevermind",
    "i'd rather not",
    "rather not",
    "yeah nah",  # "yes, I hear you, but no"
    "yeah no",
)
_UNSURE = (
    "not sure",
    "i'm not sure",
    "i don't know",
    "i do not know",
    "don't know",
    "dunno",
    "maybe",
    "make sure",
    "right now",
    "let me think",
    "let me check",
    "no idea",
)


def _yes_no_pattern() -> tuple[re.Pattern[str], list[bool | None]]:
    """One alternation, longest phrase first, so the leftmost and longest phrase wins."""
    entries: list[tuple[str, bool | None]] = [(p, True) for p in _YES]
    entries += [(p, False) for p in _NO]
    entries += [(p, None) for p in _UNSURE]
    entries.sort(key=lambda e: -len(e[0]))
    alternatives = "|".join(f"(?P<g{i}>{re.escape(p)})" for i, (p, _) in enumerate(entries))
    return re.compile(rf"(?<![\w'])(?:{alternatives})(?![\w'])"), [v for _, v in entries]


_YES_NO_RE, _YES_NO_VALUES = _yes_no_pattern()
_YES_NO_WINDOW = 12
_YES_NO_CHARS = 200
_YES_EMOJI = frozenset("\U0001f44d\u2705\U0001f44c\u2714")
_NO_EMOJI = frozenset("\U0001f44e\u274c\u2716")


_SHORT_YES = 3  # words


def yes_no(text: str) -> bool | None:
    """Answer to a yes/no question: True, False, or None when unclear.

    The earliest yes/no phrase in the first dozen words decides ("yes cancel
    it" -> True, "no thanks" -> False). "no problem"/"no worries" count as
    agreement: this is only called right after the agent asked something.
    "not sure", "maybe", "make sure", "right now" are neither. Thumbs-up or
    thumbs-down emoji decide an otherwise wordless SMS.
    """
    if not isinstance(text, str) or not text:
        return None
    words = expand_shorthand(text).split()[:_YES_NO_WINDOW]
    match = _YES_NO_RE.search(" ".join(words)[:_YES_NO_CHARS])
    if match is not None and match.lastgroup is not None:
        return _YES_NO_VALUES[int(match.lastgroup[1:])]
    if len(words) == 1 and words[0] in ("y", "n"):
        return words[0] == "y"
    if words[:1] == ["sound"] and len(words) <= _SHORT_YES:
        return True  # Ireland's "sound", "sound out, thanks": fine (a sound engineer is no yes)
    head = text[:200]
    if any(ch in _YES_EMOJI for ch in head):
        return True
    if any(ch in _NO_EMOJI for ch in head):
        return False
    return None


# --------------------------------------------------------------------- options

_OPTION_STOPWORDS = _word_set(
    """
    a an the my your for with and or of to in on at me i some get service services repair
    repairs appointment session sessions class classes lesson lessons please want need
    like just can could would do doing done you up out off new old full basic
    one it its this that is be his her our their them they
    put take make give go come bring have keep let got know say tell about around from into over
    monday tuesday wednesday thursday friday saturday sunday weekend today tomorrow
    """
)  # a day names when, not what: "what time y'all close this Saturday?" asks for no "Saturday class";
# nor does an everyday verb: "put up a prize for the raffle" asks for no "put a band on"
_MAX_OPTION_TOKENS = 300


@dataclass(frozen=True, slots=True)
class _Alias:
    key: str
    stems: tuple[str, ...]
    joined: str


LONG_JOIN = 9  # letters of a word two typos may be heard in, once its halves are joined


def match_option(
    text: str, options: Mapping[str, Sequence[str]], *, typos: bool = True, whole: bool = False
) -> str | None:
    """Map the caller's words to one canonical option key, or None.

    Each key and its aliases are compared as stemmed token phrases ("tuned up"
    ~ "tune-up", "brakes" ~ "brake", "fitting" ~ "fit"); a whole alias found
    in the text beats a single distinctive word of an alias ("fit" -> "Bike
    fitting"), an alias with more words no other option has beats one with fewer, and longer
    aliases beat shorter ones; words in a row of a longer name that
    no other option has count as an alias ("prep session"). Ties go to the option
    mentioned first in the text. ``typos=False`` takes only what was said word for word;
    ``whole=True`` only a whole alias (not one word of it: "whatever's first" is no "first visit").
    """
    if not isinstance(text, str) or not text or not options:
        return None
    return _match(text, tuple((key, tuple(extra)) for key, extra in options.items()), typos, whole)


@functools.lru_cache(maxsize=1024)  # the same line against the same options, more than once a turn
def _match(text: str, given: tuple[tuple[str, tuple[str, ...]], ...], typos: bool, whole: bool) -> str | None:
    raw = tokens(text)[:_MAX_OPTION_TOKENS]
    words = [_stem(w) for w in raw]
    if not words:
        return None
    aliases = _aliases(given) if whole else _aliases(given) + _name_pieces(given)
    raw, words = _rejoined(raw, words, _owners(_aliases(given)))
    exact = _phrase_match(raw, words, aliases, typos=False)
    near = _phrase_match(raw, words, aliases, typos=True) if typos else None
    # a typo away only where nothing is said word for word, or where the alias a typo away holds
    # what was (a "diver fitting" is a Driver Fitting, not the "fitting" of another)
    best = near if near is not None and (exact is None or _holds(near, exact)) else exact
    if best is not None or whole:
        return best[0] if best is not None else None
    return _best_word_match(words, aliases, typos=typos)


def _rejoined(raw: list[str], words: list[str], known: Mapping[str, object]) -> tuple[list[str], list[str]]:
    """Two words in a row that make a word of an option, where one of them is none, as one
    (speech-to-text's "place meant test" is the "placement test")."""
    i = 0
    while i + 1 < len(words):
        if not (words[i] in known and words[i + 1] in known):
            joined = _stem(raw[i] + raw[i + 1])
            near = (w for w in known if w[:1] == joined[:1] and abs(len(w) - len(joined)) <= 2 and len(w) > 5)
            word = joined if joined in known else next((w for w in near if _joins_to(joined, w)), None)
            if word is not None:
                raw = [*raw[:i], raw[i] + raw[i + 1], *raw[i + 2 :]]
                words = [*words[:i], word, *words[i + 2 :]]
        i += 1
    return raw, words


def says_phrase(text: str, phrases: Sequence[str]) -> bool:
    """One of ``phrases`` is said word for word or in the plural, a phrase of several words
    inflected or not, whoever's it is ("do yous do gift vouchers" says "gift voucher", "squirrels"
    says "squirrel", "selling his piano" says "selling my piano"; "his uniform" is no "uniforms"):
    the merchant's own trigger words."""
    if not isinstance(text, str) or not text:
        return False
    return _says(text, tuple(phrases))


@functools.lru_cache(maxsize=1024)  # asked more than once a turn
def _says(text: str, phrases: tuple[str, ...]) -> bool:
    said = tokens(text)[:_MAX_OPTION_TOKENS]
    words = [_POSSESSIVE if w in _POSSESSIVES else _stem(w) for w in said]
    for phrase in phrases:
        wanted = tokens(phrase)
        if len(wanted) == 1 and any(w in said for w in (wanted[0], wanted[0] + "s", wanted[0] + "es")):
            return True
        stems = [_POSSESSIVE if w in _POSSESSIVES else _stem(w) for w in wanted]
        if len(wanted) > 1 and _find_phrase(words, stems, typos=False) is not None:
            return True
    return False


# whose it is changes no trigger: "selling my piano" is said "selling his piano", "our piano"
_POSSESSIVES = frozenset({"my", "his", "her", "our", "their"})
_POSSESSIVE = "my"


@functools.lru_cache(maxsize=256)  # a shop's services and staff: the same few option sets, turn after turn
def _aliases(options: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[_Alias, ...]:
    out: list[_Alias] = []
    for key, extra in options:
        for phrase in (key, *extra):
            raw = tokens(phrase)
            if raw:
                stems = tuple(_stem(w) for w in raw)
                out.append(_Alias(key, stems, _stem("".join(raw))))
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _name_pieces(options: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[_Alias, ...]:
    """Two or more words in a row of a longer name, where no other option has them: "prep session"
    names the Exam Prep Session ("he wants a prep session with him" beside "maths")."""
    taken = {alias.stems for alias in _aliases(options)}
    owners: dict[tuple[str, ...], set[str]] = {}
    for key, _ in options:
        stems = [_stem(w) for w in tokens(key)]
        for size in range(2, len(stems)):
            for start in range(len(stems) - size + 1):
                piece = tuple(stems[start : start + size])
                if not all(stem in _OPTION_STOP_STEMS for stem in piece):
                    owners.setdefault(piece, set()).add(key)
    return tuple(
        _Alias(next(iter(keys)), piece, "".join(piece))
        for piece, keys in owners.items()
        if len(keys) == 1 and piece not in taken
    )


_Found = tuple[str, int, int]  # the option's key, and where its alias starts and ends in the line


@functools.lru_cache(maxsize=256)
def _owners(aliases: tuple[_Alias, ...]) -> dict[str, frozenset[str]]:
    """Each word of the options' aliases, and the options that have it."""
    owners: dict[str, set[str]] = {}
    for alias in aliases:
        for stem in alias.stems:
            owners.setdefault(stem, set()).add(alias.key)
    return {stem: frozenset(keys) for stem, keys in owners.items()}


def _phrase_match(
    raw: Sequence[str], words: Sequence[str], aliases: tuple[_Alias, ...], *, typos: bool
) -> _Found | None:
    """The alias found whole with the most words no other option has, then the longest: as a token
    phrase, or glued ("tuneup"), with where it lies in the
    line. The caller prefers an alias said word for word to one a typo away ("need Rocco's nails
    done" is nails, not "needles") unless the one a typo away holds it ("a diver fitting")."""
    glued_words = {w: i for i, w in reversed(list(enumerate(words)))}
    owners = _owners(aliases)
    best: tuple[int, int, int, str, int] | None = None  # (-words of its own, -length, position, key, words)
    for alias in aliases:
        width = len(alias.stems)
        position = _find_phrase(words, alias.stems, typos=typos)
        if position is None and alias.joined in glued_words:
            position, width = glued_words[alias.joined], 1
        if position is None and len(alias.stems) == 1:
            position, width = _find_split(raw, alias.joined), 2
        if position is None:
            continue
        # the alias with more words of its own wins ("a big detached ... wants its windows doing" is
        # the detached house's clean, though "windows doing" is longer), then the longer one
        said = [stem for stem in alias.stems if stem not in _OPTION_STOP_STEMS]
        own = sum(len(owners[stem]) == 1 for stem in said) if said else 1  # "one to one" is one idiom
        rank = (-own, -len(alias.joined), position, alias.key, width)
        if best is None or rank[:3] < best[:3]:
            best = rank
    return (best[3], best[2], best[2] + best[4]) if best is not None else None


def _holds(longer: _Found, shorter: _Found) -> bool:
    """``longer``'s words in the line take in all of ``shorter``'s, and more."""
    return longer[1] <= shorter[1] and shorter[2] <= longer[2] and longer[2] - longer[1] > shorter[2] - shorter[1]


def _find_phrase(words: Sequence[str], phrase: Sequence[str], *, typos: bool = True) -> int | None:
    n = len(phrase)
    same = _same if typos else str.__eq__
    for i in range(len(words) - n + 1):
        if all(same(words[i + k], phrase[k]) for k in range(n)):
            return i
    return None


def _find_split(words: Sequence[str], joined: str) -> int | None:
    """A one-word alias said as two words ("e bike" for "ebike")."""
    for i in range(len(words) - 1):
        if _stem(words[i] + words[i + 1]) == joined:
            return i
    return None


def _best_word_match(words: Sequence[str], aliases: tuple[_Alias, ...], *, typos: bool = True) -> str | None:
    """Fallback: a word that belongs to exactly one option ("brakes", "fit")."""
    same = _same if typos else str.__eq__
    own = [
        (stem, keys)
        for stem, keys in _owners(aliases).items()
        if len(keys) == 1 and stem not in _OPTION_STOP_STEMS and len(stem) >= 2
    ]
    scores: dict[str, tuple[int, int]] = {}
    for position, word in enumerate(words):
        for stem, keys in own:
            if not same(word, stem):
                continue
            key = next(iter(keys))
            length, first = scores.get(key, (0, position))
            scores[key] = (length + len(stem), min(first, position))
    if not scores:
        return None
    return min(scores, key=lambda k: (-scores[k][0], scores[k][1]))


def _stem(word: str) -> str:
    """Crude English stemmer; both sides go through it, so only consistency matters."""
    if word.endswith(("'s", "\u2019s")):
        word = word[:-2]  # "the zip's gone": the zip
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith("ss"):
                break
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    return word


def _joins_to(joined: str, stem: str) -> bool:
    """Two words heard for one long one are that word a typo or two away ("telly health" for
    telehealth): speech-to-text that splits a word spells its halves as words it knows."""
    if _same(joined, stem):
        return True
    return len(stem) >= LONG_JOIN and _edits(joined, stem) <= 2


def _edits(a: str, b: str) -> int:
    """Levenshtein distance."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _same(word: str, stem: str) -> bool:
    """Equal stems, or one typo apart for longer words (SMS "tuen up" stays out); an everyday
    word is what it says ("could" is no typo of "mould", "where" none of "wheel")."""
    if word == stem:
        return True
    if len(stem) < 5 or abs(len(word) - len(stem)) > 1 or word in _EVERYDAY_STEMS:
        return False
    return within_one_edit(word, stem)


# Built here because they need _stem; only read at call time.
_OPTION_STOP_STEMS = frozenset(_stem(w) for w in _OPTION_STOPWORDS)
_EVERYDAY_STEMS = frozenset(
    _stem(w)
    for w in _word_set(
        """
        could would should about there where their which while whole what when then than them they
        these those this that from have been were your yours some more most much many also just only
        very will shall might must into onto over under after before again other every each make made
        take took give gave come came know knew look looked want wanted need needed like liked said
        tell told think thought going doing being having still even ever never maybe sorry thanks
        thank please hello right might quite sure first last next little later early today tonight
    """
    )
)
