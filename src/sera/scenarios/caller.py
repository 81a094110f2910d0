"""The simulated caller of spec/scenarios.md, section "How the simulated caller answers".

The caller is deliberately simple and predictable: a merchant reading a failed
scenario's transcript must be able to tell why the caller said what it said. The
rules, and the readings this module takes where the spec leaves a choice:

1. Goodbye. Once every positive expectation holds (the runner checks the world and
   passes `positive_expectations_hold`), the caller says "goodbye" once; after that
   `next_line` returns None. A scenario without positive expectations ends once every
   fact has been given; for it the runner's flag is ignored, since "all of nothing
   holds" would end the call before the caller said anything.
2. Answer what is asked. The agent's question sentences (those ending in "?") are
   searched first and the whole reply only if they ask for nothing known, so
   "Thanks Jordan, I have your name. Which day works?" is answered with the day,
   not the name again. Within one text the order is:
     a. a workflow slot whose whole `ask` text appears, if the caller has that slot's
        fact. This runs before the generic words, so the group ride's "What name
        should I put down?" is answered with `rider_name` and the trade-in's "What's
        the best number for our buyer to call you back on?" with `callback_phone`;
        a caller without that fact falls through to the generic rules (`name`).
     b. the generic rules of the spec, in its order; the first whose words appear
        and whose fact the caller has wins (`phone` falls back to caller.phone).
     c. the looser slot rules: the slot's head word (the last part of its name:
        "rider_name" -> "name", "bike_year" -> "year"), a listed choice option that
        is the fact's value, "how many" for a number slot, "which/what number" for
        a phone slot. Facts that name a slot the runner did not describe are treated
        alike, with the type guessed from the value and "options" read as a question
        listing alternatives ("... beginner, intermediate or fast?").
     d. confirm, only for a question sentence with a confirm phrase.
   Words match whole words, case-insensitively, ignoring punctuation.
3. Offered times. If the reply offers two or more times of day and rule 2 found no
   question or only the time question, the caller says its own time if it is among
   them and otherwise "the first one works". Times joined as a range ("10 am to 6
   pm") are opening hours, not offers. A confirm question keeps rule 2's answer: a
   confirmation often names a start and an end time ("2:00 pm ... until 3:00 pm").
4. Nothing matched: the opening once, then each fact the agent has not heard yet
   (in facts order), then the confirm fact if any, else a request to repeat.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from types import MappingProxyType

from sera.scenarios.model import Scenario

GOODBYE = "goodbye"
FIRST_OFFERED = "the first one works"
PLEASE_REPEAT = "sorry, could you repeat that"

# Rule 2b, in the spec's order: the fact, and the words that ask for it.
ASK_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("name", ("name",)),
    ("order_number", ("order number", "order")),
    ("email", ("email", "e mail")),
    ("phone", ("phone", "number to reach", "callback")),
    ("service", ("which service", "what service", "what kind", "what can we")),
    ("day", ("what day", "which day", "what date", "when would", "when do")),
    ("time", ("what time", "which time", "morning or afternoon")),
)
CONFIRM_PHRASES = (
    "shall i",
    "should i",
    "is that right",
    "confirm",
    "would you like me to",
    "does that work",
    "do you want",
)
HOW_MANY = ("how many",)
WHICH_NUMBER = ("which number", "what number")
GENERIC_FACTS = frozenset({key for key, _ in ASK_RULES} | {"confirm"})

_MERIDIEM_DOTS = re.compile(r"\b([ap])\.\s?m\b\.?", re.IGNORECASE)
_NON_WORD = re.compile(r"[^a-z0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_TIME_OF_DAY = re.compile(
    r"\b(?:(?P<hour>\d{1,2})(?::(?P<minute>[0-5]\d))?\s*(?P<meridiem>am|pm)"
    r"|(?P<h24>[01]?\d|2[0-3]):(?P<m24>[0-5]\d)"
    r"|(?P<noon>noon|midday))\b",
    re.IGNORECASE,
)
_RANGE_JOINER = re.compile(r"\s*(?:to|until|till|through|-|\u2013|\u2014)\s*", re.IGNORECASE)
_PHONE_LIKE = re.compile(r"^\+?[\d\s().-]{7,}$")


@dataclass(frozen=True)
class WorkflowSlotInfo:
    """A slot of one of the shop's workflows, so the caller recognises its ask."""

    slot: str
    ask: str
    type: str  # text, name, phone, email, date, time, number, yes_no, choice
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Slot:
    """What the caller knows about the slot a non-generic fact fills."""

    fact: str
    ask: str  # the ask as `_words` renders it; "" when the runner did not describe it
    type: str
    options: tuple[str, ...]


class SimulatedCaller:
    """Plays one scenario's caller, one line per agent reply."""

    def __init__(
        self,
        scenario: Scenario,
        workflow_slots: Mapping[str, WorkflowSlotInfo] = MappingProxyType({}),
    ) -> None:
        self._scenario = scenario
        self._facts = scenario.facts
        self._slots = [
            _slot_for_fact(key, value, workflow_slots.get(key))
            for key, value in self._facts.items()
            if key not in GENERIC_FACTS
        ]
        self._given: set[str] = set()
        self._repeated_opening = False
        self._said_goodbye = False
        self._turns = 0

    @property
    def given_facts(self) -> set[str]:
        """Names of the facts the caller has said at least once."""
        return set(self._given)

    @property
    def turns(self) -> int:
        """Lines the caller has said, the opening and the goodbye included."""
        return self._turns

    @property
    def finished(self) -> bool:
        """True once the caller has said goodbye."""
        return self._said_goodbye

    def opening(self) -> str:
        """The caller's first line, said after the agent's greeting."""
        return self._say(self._scenario.opening)

    def next_line(self, agent_reply: str, *, positive_expectations_hold: bool) -> str | None:
        """The caller's answer to the agent's reply; None once the call is over."""
        if self._said_goodbye:
            return None
        if self._goal_reached(positive_expectations_hold):
            self._said_goodbye = True
            return self._say(GOODBYE)
        return self._say(self._answer(agent_reply))

    def _say(self, line: str) -> str:
        self._turns += 1
        return line

    def _goal_reached(self, positive_expectations_hold: bool) -> bool:
        """Rule 1."""
        if self._scenario.expect.positive_keys():
            return positive_expectations_hold
        return self._given >= self._facts.keys()

    def _answer(self, reply: str) -> str:
        """Rules 2 to 4."""
        key = self._asked_fact(reply)
        if key in (None, "time"):
            offered = offered_times(reply)
            if len(offered) >= 2:
                own = parse_time(self._facts.get("time", ""))
                return self._give("time") if own in offered else FIRST_OFFERED
        if key is not None:
            return self._give(key)
        return self._unprompted()

    def _asked_fact(self, reply: str) -> str | None:
        """Rule 2: the fact being asked for, questions first, then the whole reply."""
        questions = [s for s in _sentences(reply) if s.endswith("?")]
        if questions:
            key = self._match(_words(" ".join(questions)), confirm_allowed=True)
            if key is not None:
                return key
        return self._match(_words(reply), confirm_allowed=False)

    def _match(self, text: str, *, confirm_allowed: bool) -> str | None:
        """Rules 2a-2d over one normalised text (see the module docstring)."""
        for slot in self._slots:
            if slot.ask and slot.ask in text:
                return slot.fact
        for key, phrases in ASK_RULES:
            if (key in self._facts or key == "phone") and _contains_any(text, phrases):
                return key
        for slot in self._slots:
            if _asks_for_slot(text, slot, self._facts[slot.fact]):
                return slot.fact
        if confirm_allowed and "confirm" in self._facts and _contains_any(text, CONFIRM_PHRASES):
            return "confirm"
        return None

    def _give(self, key: str) -> str:
        if key == "phone" and key not in self._facts:
            return self._scenario.caller.phone
        self._given.add(key)
        return self._facts[key]

    def _unprompted(self) -> str:
        """Rule 4."""
        if not self._repeated_opening:
            self._repeated_opening = True
            return self._scenario.opening
        for key in self._facts:
            if key not in self._given:
                return self._give(key)
        return self._facts.get("confirm", PLEASE_REPEAT)


def _slot_for_fact(key: str, value: str, info: WorkflowSlotInfo | None) -> _Slot:
    """The slot a fact fills; its type is guessed from the value when not described."""
    if info is not None:
        return _Slot(key, _words(info.ask), info.type, info.options)
    if _PHONE_LIKE.match(value):
        return _Slot(key, "", "phone", ())
    return _Slot(key, "", "number" if value.strip().isdigit() else "text", ())


def _asks_for_slot(text: str, slot: _Slot, value: str) -> bool:
    """Rule 2c: the looser ways a reply asks for a workflow slot."""
    if _contains(text, slot.fact.split("_")[-1]):
        return True
    if slot.options:
        chosen = _words(value)
        if chosen in text and any(_words(option) == chosen for option in slot.options):
            return True
    elif not slot.ask and _contains(text, value) and _contains(text, "or"):
        return True  # an undescribed slot: a question listing alternatives, one of them ours
    if slot.type == "number" and _contains_any(text, HOW_MANY):
        return True
    return slot.type == "phone" and _contains_any(text, WHICH_NUMBER)


def _sentences(reply: str) -> list[str]:
    text = _MERIDIEM_DOTS.sub(r"\1m", reply)
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _words(text: str) -> str:
    """Lowercase words separated by single spaces, padded so phrases match whole words."""
    text = _MERIDIEM_DOTS.sub(r"\1m", text.lower())
    return f" {_NON_WORD.sub(' ', text).strip()} "


def _contains(text: str, phrase: str) -> bool:
    """Whole-word containment; `text` comes from `_words`, `phrase` may be raw."""
    words = _words(phrase)
    return words.strip() != "" and words in text


def _contains_any(text: str, phrases: Iterable[str]) -> bool:
    return any(_contains(text, phrase) for phrase in phrases)


def parse_time(text: str) -> tuple[int, int] | None:
    """The first time of day in `text` as (hour, minute): '2 pm' -> (14, 0)."""
    match = _TIME_OF_DAY.search(_MERIDIEM_DOTS.sub(r"\1m", text))
    return _clock(match) if match else None


def offered_times(reply: str) -> list[tuple[int, int]]:
    """Distinct times of day the reply offers, in order; ranges ('10 am to 6 pm') excluded."""
    text = _MERIDIEM_DOTS.sub(r"\1m", reply)
    matches = list(_TIME_OF_DAY.finditer(text))
    in_ranges: set[int] = set()
    for first, second in pairwise(matches):
        if _RANGE_JOINER.fullmatch(text[first.end() : second.start()]):
            in_ranges.update((first.start(), second.start()))
    offers = [_clock(m) for m in matches if m.start() not in in_ranges]
    return list(dict.fromkeys(offers))


def _clock(match: re.Match[str]) -> tuple[int, int]:
    """(hour, minute) on a 24-hour clock for one _TIME_OF_DAY match."""
    if match["noon"]:
        return (12, 0)
    if match["h24"]:
        return (int(match["h24"]), int(match["m24"]))
    hour = int(match["hour"]) % 12
    if match["meridiem"].lower() == "pm":
        hour += 12
    return (hour, int(match["minute"] or 0))
