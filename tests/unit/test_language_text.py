"""Normalisation and spoken-number parsing for the offline agent brain."""

from __future__ import annotations

import pytest

from sera.agent.language import (
    expand_shorthand,
    extract_digits_sequence,
    extract_order_number,
    normalize,
    tokens,
    words_to_number,
)
from sera.agent.language.normalize import MAX_CHARS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hi, um, I need to get my bike tuned-up!!", "hi i need to get my bike tuned up"),
        ("Call me at 2 p.m. or 10:30am", "call me at 2 pm or 10:30 am"),
        ("email Priya.Shah@Example.com.", "email priya.shah@example.com"),
        ("+1 (312) 555-0142", "+1 312 555-0142"),
        ("order #1042?", "order #1042"),
        ("it\u2019s O\u2019Brien", "it's o'brien"),
        ("e-bikes for $1,200", "e bikes for 1200"),
        ("12/3 or 2026-12-03", "12/3 or 2026-12-03"),
        ("\U0001f44d ok", "ok"),
        ("caf\u00e9 \u65e5\u672c", "caf\u00e9 \u65e5\u672c"),
        ("just checkin' on my order, y'all", "just checking on my order y'all"),  # a dropped g
        ("   ", ""),
        ("", ""),
    ],
)
def test_normalize_keeps_only_meaningful_punctuation(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("um uh erm hmm so yeah", "so yeah"),
        ("it was like um great", "it was great"),
        ("i like this bike", "i like this bike"),
        ("yeah you know", "yeah"),
        ("do you know", "do you know"),
        ("uh huh", "uh huh"),
        ("mm hmm", "mm hmm"),
    ],
)
def test_normalize_removes_fillers_conservatively(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_caps_length_at_a_word_boundary() -> None:
    out = normalize("word " * 5000)
    assert len(out) <= MAX_CHARS
    assert out.endswith("word")


def test_tokens_splits_normalized_text() -> None:
    assert tokens("Tune-up, PLEASE!") == ["tune", "up", "please"]


def test_expand_shorthand_for_sms() -> None:
    assert expand_shorthand("wanna make an appt 4 tmrw pls") == ("want to make an appointment 4 tomorrow please")
    assert (
        expand_shorthand("pls cxl the 8th, idk if i can make it")
        == "please cancel the 8th i don't know if i can make it"
    )
    assert expand_shorthand("wot metal do u use, r u 21+ at nite") == "what metal do you use are you 21 at night"
    assert expand_shorthand("what do yam charge") == "what do you charge"
    assert expand_shorthand("wots the warranty n how much 4 a clean") == "what's the warranty and how much for a clean"
    assert expand_shorthand("how much stay for da one with da turtles") == "how much stay for the one with the turtles"
    assert expand_shorthand("can I come at 4 the latest") == "can i come at 4 the latest"  # a clock time stays
    assert expand_shorthand("n") == "n"  # a lone "n" is a no, not "and"


def test_words_speech_splits_and_scots_and_irish_words_are_read_as_meant() -> None:
    assert expand_shorthand("satur day after noon, the eight teenth") == "saturday afternoon the eighteenth"
    assert expand_shorthand("d'ye take card, I cannae pay cash") == "do you take card i can't pay cash"
    assert expand_shorthand("would ye have a slot to morrow") == "would you have a slot tomorrow"
    assert expand_shorthand("a week from to day at too thirty") == "a week from today at too thirty"
    assert expand_shorthand("from day to day") == "from day to day"
    assert expand_shorthand("could we come in the morra about half ten") == "could we come in tomorrow about half ten"
    assert expand_shorthand("is Kwame free the morn's night") == "is kwame free tomorrow night"
    # speech-to-text's "can sell my", New Zealand's "a quick yarn with"
    assert expand_shorthand("I'd like to can sell my wheel balance") == "i'd like to cancel my wheel balance"
    assert expand_shorthand("which ones can sell quickly") == "which ones can sell quickly"
    assert expand_shorthand("I need to council my appointment") == "i need to cancel my appointment"
    assert expand_shorthand("the council tax office") == "the council tax office"
    assert expand_shorthand("a quick yarn with Kirsty") == "a quick chat with kirsty"
    assert expand_shorthand("is the yarn wool") == "is the yarn wool"
    # the regional "you" to several, the Southern "fixing to", speech-to-text's "aloud"
    assert expand_shorthand("do y'all charge, do youse see babies") == "do you charge do you see babies"
    assert expand_shorthand("I'm fixin' to book the boardroom") == "i'm going to book the boardroom"
    assert expand_shorthand("he's fixing to the fence") == "he's going to the fence"
    assert expand_shorthand("are dawgs aloud in the building?") == "are dogs allowed in the building"
    assert expand_shorthand("can you read it aloud to me") == "can you read it aloud to me"


@pytest.mark.parametrize(
    ("spoken", "value"),
    [
        ("forty two", 42),
        ("forty-two", 42),
        ("one hundred and five", 105),
        ("a hundred", 100),
        ("twenty nineteen", 2019),
        ("two thousand nineteen", 2019),
        ("nineteen ninety nine", 1999),
        ("twenty oh five", 2005),
        ("ten forty four", 1044),
        ("one thousand forty four", 1044),
        ("42", 42),
        ("zero", 0),
    ],
)
def test_words_to_number(spoken: str, value: int) -> None:
    assert words_to_number(spoken) == value


@pytest.mark.parametrize("text", ["", "one two", "forty two bikes", "hello", "oh"])
def test_words_to_number_rejects_non_numbers(text: str) -> None:
    assert words_to_number(text) is None


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [
        ("one zero four four", "1044"),
        ("one oh four four", "1044"),
        ("double five", "55"),
        ("triple seven two", "7772"),
        ("three one two five five five zero one four two", "3125550142"),
        ("five five five oh one forty two", "5550142"),
        ("it's 312 555 0142", "3125550142"),
    ],
)
def test_extract_digits_sequence(spoken: str, digits: str) -> None:
    assert extract_digits_sequence(spoken) == digits


@pytest.mark.parametrize("text", ["five", "forty two", "ten forty four", "oh well", ""])
def test_extract_digits_sequence_needs_digit_speech(text: str) -> None:
    assert extract_digits_sequence(text) is None


def test_leading_oh_is_an_interjection() -> None:
    assert extract_digits_sequence("oh one two") == "12"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1042", "1042"),
        ("#1042", "1042"),
        ("order 1042", "1042"),
        ("where is my order 1042", "1042"),
        ("my order number is one zero four four", "1044"),
        ("order number one zero four four", "1044"),
        ("hi I want to know about order number one zero four four", "1044"),
        ("order ten forty-four", "1044"),
        ("order number one thousand forty four", "1044"),
    ],
)
def test_extract_order_number(text: str, expected: str) -> None:
    assert extract_order_number(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ten forty-four", "1044"),
        ("ten forty four", "1044"),
        ("one thousand forty four", "1044"),
        ("it's 42", "42"),
        ("uh it's one zero four four", "1044"),
    ],
)
def test_extract_order_number_when_agent_asked(text: str, expected: str) -> None:
    assert extract_order_number(text, expect_order=True) == expected


@pytest.mark.parametrize(
    "text",
    [
        "can I come at 2 pm",
        "around 4",
        "at 2 pm",
        "december 3",
        "my number is 312 555 0142",
        "I have 2 bikes",
        "it costs 150 dollars",
        "I bought it in 2019",
        "2026-12-03",
        "at 9 30",
        "at ten forty four",
        "",
    ],
)
def test_extract_order_number_ignores_times_dates_and_quantities(text: str) -> None:
    assert extract_order_number(text, expect_order=True) is None


@pytest.mark.parametrize("text", ["ten forty four", "it's 42", "the 5 of us", "forty two"])
def test_spelled_or_small_numbers_need_a_cue_or_a_question(text: str) -> None:
    assert extract_order_number(text) is None


def test_regional_and_spanish_words_for_when_are_read_as_meant() -> None:
    # Yorkshire's "t'" for "the", SMS "w/o", "jus" and "2nite"
    assert normalize("are you open t'bank holiday") == "are you open the bank holiday"
    assert normalize("don't") == "don't"
    assert expand_shorthand("can we jus show up 2nite w/o a booking") == "can we just show up tonight without a booking"
    # Spanish among English: the day and the hour
    assert expand_shorthand("can Rosa come mañana a las dos?") == "can rosa come tomorrow at 2"
    assert expand_shorthand("el lunes por la mañana") == "monday in the morning"
    assert expand_shorthand("pasado mañana a las once y media") == "the day after tomorrow at 11:30"
