"""How the offline brain reads the shape of a line: what it asks, and how sure a wish is."""

from __future__ import annotations

import pytest

from sera.agent.language import Intent
from sera.agent.offline.brain import WHAT_IF, asked_sentences, asks_question, sureness
from sera.agent.understanding.intents import IntentGuess
from sera.agent.understanding.meaning import Meaning


def test_a_question_of_two_ways_asks_each() -> None:
    assert asked_sentences("is there parking at your place or should I just take the bus?") == [
        "is there parking at your place",
        "should I just take the bus?",
    ]


@pytest.mark.parametrize(
    "line",
    [
        "I wondered whether one of your mechanics might come out to the house.",
        "Good morning. My cat is getting on. I was wondering if you do house calls at all.",
        "I'd like to know if you take cards",
    ],
)
def test_a_question_asked_the_long_way_round_is_a_question(line: str) -> None:
    assert asks_question(line)


@pytest.mark.parametrize(
    ("line", "supposes"),
    [
        ("what do you charge for a clean and service", False),
        ("how much do you charge for a brake bleed", False),
        ("is there a charge for moving it", True),
        ("do you charge if I cancel the day of", True),
        ("any fee to move it to Friday", True),
    ],
)
def test_a_price_asked_is_no_what_if(line: str, supposes: bool) -> None:
    assert bool(WHAT_IF.search(line)) is supposes


def meaning(*guesses: tuple[str, float]) -> Meaning:
    best = guesses[0]
    return Meaning(Intent(best[0]), frozenset({Intent(best[0])}), best[1], tuple(IntentGuess(*g) for g in guesses))


def test_wishes_to_be_left_alone_add_up() -> None:
    """ "I don't want my details used for your newsletters. Can ye stop that?" is split between an
    objection and an opt-out, and surely neither a question for the FAQ."""
    assert sureness(meaning(("privacy_objection", 0.72), ("opt_out", 0.24), ("question", 0.04))) == pytest.approx(0.96)
    assert sureness(meaning(("book", 0.72), ("reschedule", 0.24))) == pytest.approx(0.72)
