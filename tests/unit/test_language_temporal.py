"""Relative dates and clock times, resolved in the shop's zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from sera.agent.language import find_dates, parse_date, parse_time, parse_when

# Friday, the scenario clock.
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("America/Chicago"))


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("next tuesday", dt.date(2026, 12, 1)),
        ("tomorrow", dt.date(2026, 11, 28)),
        ("thursday", dt.date(2026, 12, 3)),
        ("wednesday", dt.date(2026, 12, 2)),
        ("saturday", dt.date(2026, 11, 28)),
        ("sunday", dt.date(2026, 11, 29)),
        ("friday", dt.date(2026, 12, 4)),
        ("this tuesday", dt.date(2026, 12, 1)),
        ("on tuesdays", dt.date(2026, 12, 1)),
        ("today", dt.date(2026, 11, 27)),
        ("tonight", dt.date(2026, 11, 27)),
        ("day after tomorrow", dt.date(2026, 11, 29)),
        ("next week", dt.date(2026, 11, 30)),
        ("monday next week", dt.date(2026, 11, 30)),
        ("tuesday next week", dt.date(2026, 12, 1)),
        ("next week on friday", dt.date(2026, 12, 4)),
        ("friday after next", dt.date(2026, 12, 11)),
        ("in two weeks", dt.date(2026, 12, 11)),
        ("in 3 days", dt.date(2026, 11, 30)),
        ("this weekend", dt.date(2026, 11, 28)),
        ("next weekend", dt.date(2026, 12, 5)),
        ("december 3", dt.date(2026, 12, 3)),
        ("dec 3rd", dt.date(2026, 12, 3)),
        ("december third", dt.date(2026, 12, 3)),
        ("december the 3rd", dt.date(2026, 12, 3)),
        ("the 3rd", dt.date(2026, 12, 3)),
        ("the third", dt.date(2026, 12, 3)),
        ("on the third at 4", dt.date(2026, 12, 3)),
        ("3rd of december", dt.date(2026, 12, 3)),
        ("the third of december", dt.date(2026, 12, 3)),
        ("2026-12-03", dt.date(2026, 12, 3)),
        ("12/3", dt.date(2026, 12, 3)),
        ("12/3/27", dt.date(2027, 12, 3)),
        ("sat 19/12", dt.date(2026, 12, 19)),  # the day first where the month cannot be 19
        ("25/12/2026", dt.date(2026, 12, 25)),
        ("the twenty first", dt.date(2026, 12, 21)),
        ("december twenty first", dt.date(2026, 12, 21)),
        ("march twenty one", dt.date(2027, 3, 21)),
        ("november 2", dt.date(2027, 11, 2)),
        ("dec 3 twenty twenty seven", dt.date(2027, 12, 3)),
        ("feb 29", dt.date(2028, 2, 29)),
        ("tuesday december 8th", dt.date(2026, 12, 8)),
        ("can we do it tmrw", dt.date(2026, 11, 28)),
        ("on sat", dt.date(2026, 11, 28)),
        # "sat", "sun", "mon" are days when a date or a part of the day follows them
        ("sat 12th", dt.date(2026, 12, 12)),
        ("mon 7th", dt.date(2026, 12, 7)),
        ("thu 3rd", dt.date(2026, 12, 3)),
        ("sun morning", dt.date(2026, 11, 29)),
        ("sat am if poss", dt.date(2026, 11, 28)),
        ("anything sat?", dt.date(2026, 11, 28)),
        ("cn u fix a puncture sat around 11", dt.date(2026, 11, 28)),  # a time after it: a day
        ("sun at 10am?", dt.date(2026, 11, 29)),
        ("cn u move my drop off wed from 11 to 1pm", dt.date(2026, 12, 2)),
        ("this wknd", dt.date(2026, 11, 28)),
    ],
)
def test_parse_date(text: str, day: dt.date) -> None:
    match = parse_date(text, NOW)
    assert match is not None
    assert match.day == day


@pytest.mark.parametrize(
    "text",
    [
        "",
        "the third time I called",
        "may I book a tune up",
        "I sat down",
        "I sat 12 hours in the waiting room",
        "I sat at 10 in the waiting room",
        "the sun at 3 was blinding",
        "the sun was out",
        "at 4 pm",
        "order 1042",
        "february 30",
    ],
)
def test_parse_date_none(text: str) -> None:
    assert parse_date(text, NOW) is None


def test_weekday_said_on_that_weekday_means_next_week() -> None:
    match = parse_date("friday", NOW)
    assert match is not None
    assert match.day == dt.date(2026, 12, 4)


def test_date_match_keeps_the_words() -> None:
    match = parse_date("um can I come in next tuesday please", NOW)
    assert match is not None
    assert match.text == "next tuesday"


def test_reschedule_target_is_the_date_after_to() -> None:
    match = parse_date("move it from tuesday to wednesday", NOW)
    assert match is not None
    assert match.day == dt.date(2026, 12, 2)
    assert [m.day for m in find_dates("from tuesday to wednesday", NOW)] == [
        dt.date(2026, 12, 1),
        dt.date(2026, 12, 2),
    ]


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("2 pm", dt.time(14, 0)),
        ("2pm", dt.time(14, 0)),
        ("2 p.m.", dt.time(14, 0)),
        ("two p m", dt.time(14, 0)),
        ("2:30", dt.time(14, 30)),
        ("at two thirty", dt.time(14, 30)),
        ("half past two", dt.time(14, 30)),
        ("half ten", dt.time(10, 30)),
        ("about half six", dt.time(18, 30)),
        ("quarter to four", dt.time(15, 45)),
        ("quarter past ten", dt.time(10, 15)),
        ("ten to four", dt.time(15, 50)),
        ("noon", dt.time(12, 0)),
        ("midday", dt.time(12, 0)),
        ("10 am", dt.time(10, 0)),
        ("10 in the morning", dt.time(10, 0)),
        ("at four", dt.time(16, 0)),
        ("at 10", dt.time(10, 0)),
        ("at 12", dt.time(12, 0)),
        ("at 7", dt.time(19, 0)),
        ("four o'clock", dt.time(16, 0)),
        ("four oclock", dt.time(16, 0)),
        ("16:00", dt.time(16, 0)),
        ("12 am", dt.time(0, 0)),
        ("12 pm", dt.time(12, 0)),
        ("10ish", dt.time(10, 0)),
        ("7 tonight", dt.time(19, 0)),
        ("this evening at 7", dt.time(19, 0)),
        ("tomorrow morning at 7", dt.time(7, 0)),
        ("by 5", dt.time(17, 0)),
        ("fourteen hundred hours", dt.time(14, 0)),
        ("move my 2pm to 4pm", dt.time(16, 0)),
        ("I can come in at 9 30 tomorrow", dt.time(9, 30)),
        ("friday at um 3 30", dt.time(15, 30)),
        ("next tuesday at 10 in the morning", dt.time(10, 0)),
        ("tomorrow at noon", dt.time(12, 0)),
        ("cn i get a swedish massage fri @ 6?", dt.time(18, 0)),  # a text's "@" is "at"
        ("sat @10am", dt.time(10, 0)),
        ("at 3 thirty", dt.time(15, 30)),
        ("on Friday at ten thirsty", dt.time(10, 30)),  # speech-to-text's slip for "ten thirty"
        ("at two fordy", dt.time(14, 40)),
        ("two twenty minute sessions at 4", dt.time(16, 0)),
    ],
)
def test_parse_time(text: str, at: dt.time) -> None:
    match = parse_time(text)
    assert match is not None
    assert match.at == at


@pytest.mark.parametrize(
    "text",
    [
        "",
        "december 3",
        "order 1042",
        "ten forty four",
        "two thirty",
        "4",
        "I have 2 bikes",
        "at one point",
        "about 3 hours",
        "twenty nineteen",
    ],
)
def test_parse_time_requires_a_cue(text: str) -> None:
    assert parse_time(text) is None


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("4", dt.time(16, 0)),
        ("four", dt.time(16, 0)),
        ("four thirty", dt.time(16, 30)),
        ("ten", dt.time(10, 0)),
        ("uh 11", dt.time(11, 0)),
        ("the later one, the 5 o'clock", dt.time(17, 0)),
    ],
)
def test_parse_time_bare_number_when_agent_asked(text: str, at: dt.time) -> None:
    match = parse_time(text, expect_time=True)
    assert match is not None
    assert match.at == at


@pytest.mark.parametrize("text", ["december 3", "order 1042", "the 3rd", "the later one", "that one", "half an hour"])
def test_expected_time_still_skips_dates_orders_and_pronouns(text: str) -> None:
    assert parse_time(text, expect_time=True) is None


@pytest.mark.parametrize(
    "text", ["Good morning, can I book a trim", "Morning. My son needs a check-up", "sick since last night"]
)
def test_a_greeting_or_the_past_asks_for_no_time_of_day(text: str) -> None:
    assert parse_time(text) is None


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("are you open on christmas eve", dt.date(2026, 12, 24)),
        ("open Xmas Day?", dt.date(2026, 12, 25)),
        ("what about boxing day", dt.date(2026, 12, 26)),
        ("new year's eve", dt.date(2026, 12, 31)),
        ("are you open new years day", dt.date(2027, 1, 1)),
        ("good friday", dt.date(2027, 3, 26)),  # Easter Sunday 2027 is March 28
        ("easter monday", dt.date(2027, 3, 29)),
        ("st patrick's day", dt.date(2027, 3, 17)),
        ("halloween", dt.date(2027, 10, 31)),  # this year's has passed
        ("can I book in for christmas eve morning", dt.date(2026, 12, 24)),
    ],
)
def test_a_holiday_is_its_next_date(text: str, day: dt.date) -> None:
    assert [match.day for match in find_dates(text, NOW)] == [day]


@pytest.mark.parametrize(
    ("zone", "text", "day"),
    [  # on Thursday, May 20, 2027, where the shop is
        ("Pacific/Auckland", "are you guys open on Matariki, the Friday?", dt.date(2027, 6, 25)),
        ("Australia/Perth", "you blokes open on WA Day?", dt.date(2027, 6, 7)),
        ("America/Toronto", "could I bring him in on the May two-four Monday", dt.date(2027, 5, 24)),
        ("America/Toronto", "are you open Thanksgiving", dt.date(2027, 10, 11)),
        ("America/Chicago", "are you open Thanksgiving", dt.date(2027, 11, 25)),
        ("America/Chicago", "open on labour day?", dt.date(2027, 9, 6)),
        ("Europe/London", "are you open on the bank holiday Monday", dt.date(2027, 5, 31)),
        ("Europe/London", "open the August bank holiday?", dt.date(2027, 8, 30)),
        ("Europe/Dublin", "open the August bank holiday?", dt.date(2027, 8, 2)),
        ("Pacific/Honolulu", "you folks going out on Kamehameha Day?", dt.date(2027, 6, 11)),
        ("Europe/London", "are yous open for the Battle of the Boyne holiday", dt.date(2027, 7, 12)),
        ("Pacific/Auckland", "open on Wellington Anniversary Day?", dt.date(2028, 1, 24)),
        ("Australia/Adelaide", "can someone come on Cup Day", dt.date(2028, 3, 13)),
        ("Australia/Melbourne", "can someone come on Cup Day", dt.date(2027, 11, 2)),
    ],
)
def test_a_holiday_of_the_shops_place_is_its_date_there(zone: str, text: str, day: dt.date) -> None:
    now = dt.datetime(2027, 5, 20, 10, 0, tzinfo=ZoneInfo(zone))
    assert [match.day for match in find_dates(text, now)] == [day]


@pytest.mark.parametrize(
    ("text", "day"),
    [  # NOW is Friday, November 27
        ("the day before Christmas Eve", dt.date(2026, 12, 23)),
        ("could we do the Monday after Christmas", dt.date(2026, 12, 28)),
        ("the day after tomorrow", dt.date(2026, 11, 29)),
        ("the Friday after next", dt.date(2026, 12, 11)),
    ],
)
def test_a_day_told_from_another_is_counted_from_it(text: str, day: dt.date) -> None:
    assert [match.day for match in find_dates(text, NOW)] == [day]


def test_the_day_after_the_long_weekend_is_the_day_after_its_holiday() -> None:
    now = dt.datetime(2027, 5, 20, 10, 0, tzinfo=ZoneInfo("America/Toronto"))  # Victoria Day is Monday the 24th
    assert [m.day for m in find_dates("Tuesday, the day after the long weekend", now)] == [dt.date(2027, 5, 25)] * 2
    assert [m.day for m in find_dates("the Monday after the long weekend", now)] == [dt.date(2027, 5, 31)]


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("Europe/London", dt.date(2027, 4, 3)),
        ("Australia/Sydney", dt.date(2027, 4, 3)),
        ("America/Chicago", dt.date(2027, 3, 4)),
    ],
)
def test_a_date_in_figures_is_read_as_the_shops_place_writes_it(zone: str, day: dt.date) -> None:
    now = dt.datetime(2027, 3, 1, 10, 0, tzinfo=ZoneInfo(zone))
    assert [m.day for m in find_dates("can i book 03/04 at 10", now)] == [day]
    assert [m.day for m in find_dates("sat 18/9", now)] == [dt.date(2027, 9, 18)]  # only one reading


def test_a_regions_holiday_named_in_everyday_words_is_no_date_elsewhere() -> None:
    now = dt.datetime(2027, 5, 20, 10, 0, tzinfo=ZoneInfo("America/Chicago"))  # Nevada's Family Day
    assert find_dates("we're having a family day out", now) == []


@pytest.mark.parametrize(
    ("text", "day"),
    [  # NOW is Friday, November 27, 2026
        ("what time do you knock off on a Saturdee?", dt.date(2026, 11, 28)),
        ("Tuesdee arvo", dt.date(2026, 12, 1)),
        ("Wednesday the 23rd then", dt.date(2026, 12, 23)),  # November's 23rd is a Monday
        ("Monday the 30th", dt.date(2026, 11, 30)),
    ],
)
def test_a_day_said_broad_or_with_its_date(text: str, day: dt.date) -> None:
    assert [match.day for match in find_dates(text, NOW)] == [day]


def test_after_the_long_weekend_is_no_saturday() -> None:
    now = dt.datetime(2027, 7, 28, 10, 0, tzinfo=ZoneInfo("America/Halifax"))
    assert find_dates("after the long weekend", now) == []


def test_a_holiday_before_a_deadline_word_is_no_day() -> None:
    now = dt.datetime(2027, 5, 20, 10, 0, tzinfo=ZoneInfo("Europe/London"))
    assert find_dates("can it be done before the bank holiday", now) == []


@pytest.mark.parametrize(
    ("text", "day"),
    [  # NOW is Friday, November 27
        ("a week from Tuesday", dt.date(2026, 12, 8)),
        ("could we do a week on Tuesday, half two", dt.date(2026, 12, 8)),
        ("a week Tuesday", dt.date(2026, 12, 8)),
        ("Tuesday week", dt.date(2026, 12, 8)),
        ("a week from this Saturday", dt.date(2026, 12, 5)),
        ("two weeks Monday", dt.date(2026, 12, 14)),
        ("a fortnight tomorrow", dt.date(2026, 12, 12)),
        ("a week today", dt.date(2026, 12, 4)),
        ("could I come in a week Tuesday", dt.date(2026, 12, 8)),  # not "in a week", then Tuesday
        # the caller works the date out and says it: that date, not a week after it
        ("a week from Friday, the 4th", dt.date(2026, 12, 4)),
        ("a week on Tuesday the 8th", dt.date(2026, 12, 8)),
    ],
)
def test_a_week_from_a_day_is_that_day_a_week_later(text: str, day: dt.date) -> None:
    assert [match.day for match in find_dates(text, NOW)] == [day]


@pytest.mark.parametrize(
    ("text", "day"),
    [  # NOW is Friday, November 27: the coming Thursday is December 3
        ("could I come in next Thursday, I mean the one after this one?", dt.date(2026, 12, 10)),
        ("Thursday, not this one, the next", dt.date(2026, 12, 10)),
        ("Thursday the week after", dt.date(2026, 12, 10)),
        ("Thursday, and the one after I'm away", dt.date(2026, 12, 3)),
    ],
)
def test_the_one_after_the_coming_day_is_a_week_on(text: str, day: dt.date) -> None:
    assert [match.day for match in find_dates(text, NOW)] == [day]


@pytest.mark.parametrize(
    ("text", "found"),
    [("sat", ["sat"]), ("cn u book me in 4 the pots workshop sat 11am x", ["sat"]), ("I sat 11am in traffic", [])],
)
def test_a_short_day_name_is_a_day_alone_or_before_a_clock_time(text: str, found: list[str]) -> None:
    assert [match.text for match in find_dates(text, NOW)] == found


@pytest.mark.parametrize(
    ("text", "days"),
    [  # NOW is Friday, November 27
        ("the wreath class on Thursday the tenth", [dt.date(2026, 12, 10)]),
        ("Saturday the 12th", [dt.date(2026, 12, 12)]),
        ("a hearing test Thursday of next week", [dt.date(2026, 12, 3)]),
        ("one this Thursday at 5, can we push it to next Thursday", [dt.date(2026, 12, 3), dt.date(2026, 12, 10)]),
        ("Thursday the first one you have", [dt.date(2026, 12, 3)]),
    ],
)
def test_a_day_named_with_its_date_or_week_is_that_day(text: str, days: list[dt.date]) -> None:
    assert [match.day for match in find_dates(text, NOW)] == days


@pytest.mark.parametrize(
    ("text", "expect_time", "at"),
    [
        ("Thursday week at won thirty", False, dt.time(13, 30)),  # speech-to-text's homophones of an hour
        ("next Tuesday at for fifteen", False, dt.time(16, 15)),
        ("for fifteen", True, dt.time(16, 15)),
        ("Monday at ten tirty", False, dt.time(10, 30)),
        ("a table for fifteen", False, None),
        ("for fifteen minutes", True, None),
    ],
)
def test_an_hour_misheard_before_its_minutes(text: str, expect_time: bool, at: dt.time | None) -> None:
    match = parse_time(text, expect_time=expect_time)
    assert (match.at if match else None) == at


def test_once_a_week_is_how_often_not_when() -> None:
    assert [match.day for match in find_dates("lessons once a week on tuesdays", NOW)] == [dt.date(2026, 12, 1)]


@pytest.mark.parametrize(
    "text", ["can it be done before christmas", "are you open over christmas", "a gift for easter"]
)
def test_a_holiday_as_a_deadline_or_a_season_is_no_date(text: str) -> None:
    assert find_dates(text, NOW) == []


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("my tooth's been throbbing since about eleven last night, can someone see it today?", None),
        ("it's been leaking since 10pm, could you come at 9?", dt.time(9)),
        ("the screen cracked at 2 yesterday, can I bring it at 4", dt.time(16)),
        ("yesterday around half past three it stopped working", None),
    ],
)
def test_a_clock_time_in_the_past_is_not_the_time_wanted(text: str, wanted: dt.time | None) -> None:
    found = parse_time(text)
    assert (found.at if found else None) == wanted


def test_parse_time_flags() -> None:
    around = parse_time("around 10")
    assert around is not None
    assert around.approximate
    assert around.text == "around 10"
    how_about = parse_time("how about 3")
    assert how_about is not None
    assert not how_about.approximate
    asap = parse_time("as soon as possible")
    assert asap == parse_time("as soon as possible")
    assert asap is not None
    assert asap.earliest
    assert asap.at is None
    first = parse_time("first thing in the morning")
    assert first is not None
    assert (first.earliest, first.part, first.at) == (True, "morning", None)
    afternoon = parse_time("sometime in the afternoon")
    assert afternoon is not None
    assert (afternoon.part, afternoon.at) == ("afternoon", None)


def test_parse_when_combines_date_and_time() -> None:
    when = parse_when("I got a flat, can you fix it tomorrow morning around 10", NOW)
    assert when.day == dt.date(2026, 11, 28)
    assert when.at == dt.time(10, 0)
    assert when.time is not None
    assert when.time.approximate
    assert when.time.part == "morning"


def test_parse_when_empty() -> None:
    when = parse_when("hello there", NOW)
    assert when.date is None
    assert when.time is None
    assert when.day is None
    assert when.at is None


def test_a_date_ends_with_its_sentence() -> None:
    """ "on the twenty-second. It's under ...": the sentence that follows is no word after the date."""
    found = find_dates("I need to cancel the paint correction I've got on the twenty-second. It's under Bernard", NOW)
    assert [match.day for match in found] == [dt.date(2026, 12, 22)]
    assert [match.day for match in find_dates("Dec. 3 works", NOW)] == [dt.date(2026, 12, 3)]


def test_a_days_possessive_and_its_short_forms_are_the_day() -> None:
    """ "tomorrow's safe job", "Friday's class", "tomoz", "Satdy"."""
    assert parse_date("I need to cancel tomorrow's safe job", NOW) == parse_date("tomorrow", NOW)
    assert parse_date("is friday's class still on", NOW) == parse_date("friday", NOW)
    assert parse_date("the locks changed tomoz arvo", NOW) == parse_date("tomorrow", NOW)
    satdy = parse_date("can I grab her Satdy morning", NOW)
    assert satdy is not None and satdy.day.weekday() == 5


def test_a_week_from_today_said_the_irish_and_northern_way() -> None:
    """ "this day week", "today week": a week from today."""
    week_on = NOW.date() + dt.timedelta(days=7)
    for said in ("could I book the knife skills class this day week, at half two", "today week would suit"):
        found = parse_date(said, NOW)
        assert found is not None and found.day == week_on


def test_come_in_a_week_from_thursday_is_that_thursday_a_week_on() -> None:
    """ "in" before "a week from Thursday" is "come in", not "in a week"."""
    found = find_dates("could we come in a week from Thursday at quarter to eleven?", NOW)
    thursday = NOW.date() + dt.timedelta(days=(3 - NOW.weekday()) % 7 or 7)
    assert [match.day for match in found] == [thursday + dt.timedelta(days=7)]
    assert [match.day for match in find_dates("come back in a week or so", NOW)] == [NOW.date() + dt.timedelta(days=7)]


def test_a_time_written_without_its_colon() -> None:
    """ "sun 1130" and "sat 11.30" (British) after a day, "at 1130"; a bare "11.30" is a time only
    as the answer to "what time?" (it may be a price), and an order number after no day is none."""
    for said in ("can i bk a sibling lesson sun 1130 for my 2 pls", "sat 11.30 if poss", "at 1130"):
        when = parse_when(said, NOW)
        assert when.time is not None and when.time.at == dt.time(11, 30), said
    assert parse_when("it was 11.30 in the sale", NOW).time is None
    answer = parse_time("11.30", expect_time=True)
    assert answer is not None and answer.at == dt.time(11, 30)
    assert parse_when("order 1130 on friday", NOW).time is None
    mundy = parse_date("cancel my wheel balance on Mundy", NOW)
    assert mundy is not None and mundy.day.weekday() == 0


def test_an_hour_said_after_the_part_of_the_day_is_the_time() -> None:
    """ "Satdy morning, seven?" is 7 am; "this morning two blokes came" tells of no time."""
    seven = parse_time("Can I grab her Satdy morning, seven?")
    assert seven is not None and seven.at == dt.time(7, 0)
    three = parse_time("friday arvo, three")
    assert three is not None and three.at == dt.time(15, 0)
    told = parse_time("this morning two blokes came round")
    assert told is not None and told.at is None


def test_the_earliest_one_is_no_one_oclock() -> None:
    """ "the earliest one" picks a time; "the one o'clock" names one."""
    earliest = parse_time("the earliest one", expect_time=True)
    assert earliest is not None and earliest.earliest and earliest.at is None
    one = parse_time("the one o'clock", expect_time=True)
    assert one is not None and one.at == dt.time(13, 0)
    soon = parse_time("Saturday the 6th, as early as you go out")
    assert soon is not None and soon.earliest
