"""Offline language understanding for the agent: no model, no network.

Everything here is a pure, deterministic function over speech-recognition or
SMS text. All public functions accept any ``str`` (empty, emoji, other
languages, 10 KB pastes) without raising; inputs are capped so work stays
bounded.
"""

from sera.agent.language.entities import (
    extract_email,
    extract_name,
    extract_phone,
    match_option,
    says_phrase,
    yes_no,
)
from sera.agent.language.intents import (
    Intent,
    IntentScore,
    best_intent,
    detect_intents,
    looks_like_injection,
)
from sera.agent.language.normalize import expand_shorthand, normalize, tokens
from sera.agent.language.numbers import (
    extract_digits_sequence,
    extract_order_number,
    order_number_readings,
    words_to_number,
)
from sera.agent.language.temporal import (
    DateMatch,
    TimeMatch,
    When,
    find_dates,
    next_against_this,
    parse_date,
    parse_time,
    parse_when,
    takes_back,
)

__all__ = [
    "DateMatch",
    "Intent",
    "IntentScore",
    "TimeMatch",
    "When",
    "best_intent",
    "detect_intents",
    "expand_shorthand",
    "extract_digits_sequence",
    "extract_email",
    "extract_name",
    "extract_order_number",
    "extract_phone",
    "find_dates",
    "looks_like_injection",
    "match_option",
    "next_against_this",
    "normalize",
    "order_number_readings",
    "parse_date",
    "parse_time",
    "parse_when",
    "says_phrase",
    "takes_back",
    "tokens",
    "words_to_number",
    "yes_no",
]
