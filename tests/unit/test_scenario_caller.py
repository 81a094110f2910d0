"""Scenario files load as the contract says, and the simulated caller answers by its rules."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from sera.scenarios.caller import (
    FIRST_OFFERED,
    GOODBYE,
    PLEASE_REPEAT,
    SimulatedCaller,
    WorkflowSlotInfo,
    offered_times,
)
from sera.scenarios.model import Scenario, ScenarioError, load_scenarios

PUBLIC_SCENARIOS = Path("/work/shared/scenarios/northside.yaml")

# Scenarios from the public northside.yaml, kept here so these tests stand alone.
NORTHSIDE = {
    scenario["name"]: Scenario.model_validate(scenario)
    for scenario in yaml.safe_load(
        """
- name: book a tune-up next tuesday at 2
  shop: northside-cycles.myshopify.com
  now: "2026-11-27T10:00:00-06:00"
  caller: {phone: "+13125550177"}
  opening: "hi um I need to get my bike tuned up"
  facts: {name: Jordan Miles, service: tune up, day: next tuesday, time: "2 pm", confirm: "yes"}
  expect:
    appointment: {service: Tune-up, start: "2026-12-01T14:00:00-06:00",
                  customer_name: Jordan Miles, status: booked}
- name: asks for sunday, shop is closed, takes an offered time
  shop: northside-cycles.myshopify.com
  now: "2026-11-27T10:00:00-06:00"
  caller: {phone: "+13125550180"}
  opening: "can I bring my bike in for a tune up on sunday"
  facts: {name: Ava Brooks, service: tune-up, day: sunday, confirm: "yes"}
  expect:
    said: ["closed"]
    appointment: {service: Tune-up, customer_name: Ava Brooks}
- name: parking question
  shop: northside-cycles.myshopify.com
  now: "2026-11-27T10:00:00-06:00"
  caller: {phone: "+13125550182"}
  opening: "is there somewhere to park near the shop"
  facts: {}
  expect:
    said: ["parking"]
    no_appointment: true
- name: group ride workflow
  shop: northside-cycles.myshopify.com
  now: "2026-11-27T10:00:00-06:00"
  caller: {phone: "+13125550191"}
  opening: "I'd like to join the saturday group ride"
  facts: {rider_name: Alex Kim, level: intermediate}
  expect:
    ticket: {tags: [group-ride], contains: ["Alex Kim", "intermediate"]}
- name: trade-in workflow
  shop: northside-cycles.myshopify.com
  now: "2026-11-27T10:00:00-06:00"
  caller: {phone: "+13125550192"}
  opening: "I want to trade in my old bike"
  facts: {bike_model: "Trek FX 2", bike_year: "2019", callback_phone: "+13125550192"}
  expect:
    ticket: {tags: [trade-in], contains: ["Trek FX 2"]}
- name: damaged item support ticket
  shop: northside-cycles.myshopify.com
  now: "2026-11-27T10:00:00-06:00"
  caller: {phone: "+13125550142"}
  opening: "the helmet I got from you has a cracked visor and I want a replacement"
  facts: {name: Priya Shah, order_number: "1042", confirm: "yes"}
  expect:
    ticket: {contains: ["visor"]}
- name: reschedule an existing appointment
  shop: northside-cycles.myshopify.com
  now: "2026-11-27T10:00:00-06:00"
  caller: {phone: "+13125550188"}
  given:
    appointments: [{service: Brake service, start: "2026-12-01T11:00:00-06:00",
                    customer_name: Omar Haddad, phone: "+13125550188"}]
  opening: "can I move my brake appointment to wednesday at 3"
  facts: {name: Omar Haddad, day: wednesday, time: "3 pm", confirm: "yes"}
  expect:
    rescheduled: {from: "2026-12-01T11:00:00-06:00", to: "2026-12-02T15:00:00-06:00"}
"""
    )
}

# The demo shop's workflow slots (examples/demo-shop.yaml).
DEMO_SLOTS = {
    "rider_name": WorkflowSlotInfo("rider_name", "What name should I put down?", "name"),
    "level": WorkflowSlotInfo(
        "level",
        "Which pace group would you like: beginner, intermediate or fast?",
        "choice",
        ("beginner", "intermediate", "fast"),
    ),
    "bike_model": WorkflowSlotInfo("bike_model", "What make and model is the bike you'd like to trade in?", "text"),
    "bike_year": WorkflowSlotInfo("bike_year", "About what year is it from?", "number"),
    "callback_phone": WorkflowSlotInfo(
        "callback_phone", "What's the best number for our buyer to call you back on?", "phone"
    ),
}


def caller_for(name: str, slots: dict[str, WorkflowSlotInfo] | None = None) -> SimulatedCaller:
    caller = SimulatedCaller(NORTHSIDE[name], slots or DEMO_SLOTS)
    caller.opening()
    return caller


def answer(caller: SimulatedCaller, reply: str, *, done: bool = False) -> str | None:
    return caller.next_line(reply, positive_expectations_hold=done)


# --- the simulated caller -------------------------------------------------------------


def test_booking_call_answers_each_question_with_the_right_fact() -> None:
    caller = SimulatedCaller(NORTHSIDE["book a tune-up next tuesday at 2"], DEMO_SLOTS)
    assert caller.opening() == "hi um I need to get my bike tuned up"
    assert answer(caller, "What name should I put down for the booking?") == "Jordan Miles"
    assert answer(caller, "Thanks, Jordan. Which service would you like?") == "tune up"
    assert answer(caller, "Which day works for you?") == "next tuesday"
    assert answer(caller, "I have 10:00 am, 11:15 am or 2:00 pm on Tuesday. Which time works?") == ("2 pm")
    assert answer(caller, "Shall I book a Tune-up for Tuesday, December 1 at 2:00 pm?") == "yes"
    assert caller.given_facts == {"name", "service", "day", "time", "confirm"}
    assert answer(caller, "You're booked for Tuesday at 2:00 pm.", done=True) == GOODBYE
    assert answer(caller, "Thanks for calling, bye!", done=True) is None
    assert caller.finished
    assert caller.turns == 7


def test_goodbye_is_said_once_even_if_the_agent_keeps_asking() -> None:
    caller = caller_for("book a tune-up next tuesday at 2")
    assert answer(caller, "What name should I put down?", done=True) == GOODBYE
    assert answer(caller, "What name should I put down?", done=True) is None
    assert answer(caller, "Hello?", done=False) is None


def test_caller_without_a_time_takes_the_first_offered_time() -> None:
    caller = caller_for("asks for sunday, shop is closed, takes an offered time")
    reply = "Sorry, we're closed on Sunday. I have 10:00 am or 11:15 am on Monday... which time works?"
    assert answer(caller, reply) == FIRST_OFFERED


def test_caller_whose_time_is_not_offered_takes_the_first_one() -> None:
    caller = caller_for("book a tune-up next tuesday at 2")
    assert answer(caller, "I have 9:00 am or 11:15 am on Tuesday. Which time works?") == (FIRST_OFFERED)
    assert answer(caller, "I have 9:00 am, noon or 2 p.m. that day.") == "2 pm"


def test_opening_hours_are_not_offered_times() -> None:
    caller = caller_for("book a tune-up next tuesday at 2")
    assert answer(caller, "We're open 10 am to 6 pm on Tuesday. What time works?") == "2 pm"
    assert offered_times("We're open 10 am to 6 pm, or 10:00 - 14:00 on Sunday") == []
    assert offered_times("I have 9 a.m., noon, 2:30pm and 14:00, or 9:00 am") == [
        (9, 0),
        (12, 0),
        (14, 30),
        (14, 0),
    ]


def test_a_confirmation_naming_two_times_is_still_confirmed() -> None:
    caller = caller_for("reschedule an existing appointment")
    reply = (
        "I found your Brake service on Tuesday, December 1 at 11:00 am. "
        "Shall I move it to Wednesday, December 2 at 3:00 pm?"
    )
    assert answer(caller, reply) == "yes"


def test_confirm_needs_a_question() -> None:
    caller = caller_for("damaged item support ticket")
    assert answer(caller, "I will confirm that with the team.") == NORTHSIDE["damaged item support ticket"].opening
    assert answer(caller, "Is that right?") == "yes"


def test_the_question_is_answered_rather_than_words_echoed_before_it() -> None:
    caller = caller_for("book a tune-up next tuesday at 2")
    assert answer(caller, "Thanks, I have your name as Jordan. Which day works?") == "next tuesday"
    assert answer(caller, "To book I need your name. Could you tell me?") == "Jordan Miles"


def test_rules_apply_in_the_spec_order() -> None:
    caller = caller_for("damaged item support ticket")
    assert answer(caller, "Sorry about that! What's your order number?") == "1042"
    assert answer(caller, "And what name is on the order?") == "Priya Shah"
    assert answer(caller, "Should I open a ticket for a replacement visor?") == "yes"


def test_phone_question_without_a_phone_fact_gets_the_calling_number() -> None:
    caller = caller_for("damaged item support ticket")
    assert answer(caller, "What's a good phone number to reach you?") == "+13125550142"
    assert "phone" not in caller.given_facts


def test_workflow_slot_ask_wins_over_the_generic_name_rule() -> None:
    caller = caller_for("group ride workflow")
    reply = "Happy to sign you up for the Saturday group ride. What name should I put down?"
    assert answer(caller, reply) == "Alex Kim"
    assert answer(caller, "Which pace group would you like: beginner, intermediate or fast?") == ("intermediate")
    assert caller.given_facts == {"rider_name", "level"}
    assert answer(caller, "You're on the list.", done=True) == GOODBYE


def test_a_caller_without_the_slot_fact_answers_that_ask_with_its_name() -> None:
    caller = caller_for("book a tune-up next tuesday at 2")
    assert answer(caller, "What name should I put down?") == "Jordan Miles"


def test_slot_asks_are_recognised_by_head_word_and_choice_options() -> None:
    caller = caller_for("group ride workflow")
    assert answer(caller, "Who is riding? I need the rider's name.") == "Alex Kim"
    assert answer(caller, "Beginner, intermediate or fast?") == "intermediate"


def test_slot_facts_are_found_even_when_the_runner_describes_no_workflow() -> None:
    caller = SimulatedCaller(NORTHSIDE["group ride workflow"])
    caller.opening()
    assert answer(caller, "What name should I put down?") == "Alex Kim"
    assert answer(caller, "Would you ride with beginner, intermediate or fast?") == "intermediate"


def test_trade_in_callback_ask_is_the_phone_slot_not_the_generic_phone_rule() -> None:
    caller = caller_for("trade-in workflow")
    reply = "We do take trade-ins. What make and model is the bike you'd like to trade in?"
    assert answer(caller, reply) == "Trek FX 2"
    assert answer(caller, "About what year is it from?") == "2019"
    assert answer(caller, "What's the best number for our buyer to call you back on?") == ("+13125550192")
    assert caller.given_facts == {"bike_model", "bike_year", "callback_phone"}


def test_how_many_and_which_number_reach_number_and_phone_slots() -> None:
    caller = caller_for("trade-in workflow")
    assert answer(caller, "How many years have you had it?") == "2019"
    assert answer(caller, "Which number should our buyer use?") == "+13125550192"


def test_unmatched_replies_get_the_opening_once_then_unheard_facts_then_confirm() -> None:
    name = "damaged item support ticket"
    caller = caller_for(name)
    assert answer(caller, "Mm-hm.") == NORTHSIDE[name].opening
    assert answer(caller, "Mm-hm.") == "Priya Shah"
    assert answer(caller, "Mm-hm.") == "1042"
    assert answer(caller, "Mm-hm.") == "yes"
    assert answer(caller, "Mm-hm.") == "yes"


def test_caller_with_nothing_left_to_say_asks_to_repeat() -> None:
    caller = caller_for("parking question")
    assert answer(caller, "Sorry?") == "is there somewhere to park near the shop"
    assert answer(caller, "Anything else?") == PLEASE_REPEAT
    assert answer(caller, "Yes, there is free parking behind the shop.", done=True) == GOODBYE


def test_scenario_without_positive_expectations_ends_once_every_fact_is_given() -> None:
    data = NORTHSIDE["damaged item support ticket"].model_dump(by_alias=True)
    data["expect"] = {"not_said": ["sorry, I didn't"]}
    caller = SimulatedCaller(Scenario.model_validate(data))
    caller.opening()
    assert answer(caller, "What's your order number?", done=True) == "1042"
    assert answer(caller, "And your name?", done=True) == "Priya Shah"
    assert answer(caller, "Shall I open a ticket?", done=False) == "yes"
    assert answer(caller, "Done.", done=False) == GOODBYE


# --- the scenario contract ------------------------------------------------------------


@pytest.mark.skipif(not PUBLIC_SCENARIOS.exists(), reason="public scenarios not present")
def test_public_northside_scenarios_all_load() -> None:
    scenarios = load_scenarios(PUBLIC_SCENARIOS)
    assert len(scenarios) == 22
    by_name = {s.name: s for s in scenarios}
    booking = by_name["book a tune-up next tuesday at 2"]
    assert booking.channel == "voice"
    assert booking.max_turns == 12
    assert booking.facts["time"] == "2 pm"
    assert booking.expect.appointment is not None
    assert booking.expect.appointment.start is not None
    assert booking.expect.appointment.start.utcoffset() is not None
    assert by_name["opt out by sms"].channel == "sms"
    moved = by_name["reschedule an existing appointment"].expect.rescheduled
    assert moved is not None
    assert moved.from_.isoformat() == "2026-12-01T11:00:00-06:00"
    assert by_name["trade-in workflow"].facts["bike_year"] == "2019"
    assert by_name["parking question"].expect.positive_keys() == ["said"]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


MINIMAL = """\
name: {name}
shop: northside-cycles.myshopify.com
now: "2026-11-27T10:00:00-06:00"
caller: {{phone: "+13125550177"}}
opening: hello
"""


def test_a_directory_loads_every_yaml_file_recursively_in_sorted_order(tmp_path: Path) -> None:
    write(tmp_path / "b.yml", MINIMAL.format(name="second"))
    write(tmp_path / "a" / "z.yaml", MINIMAL.format(name="first"))
    write(tmp_path / "notes.txt", "not a scenario")
    names = [scenario.name for scenario in load_scenarios(tmp_path)]
    assert names == ["first", "second"]


def test_values_are_read_as_the_words_a_caller_says(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.yaml",
        MINIMAL.format(name="text")
        + """\
facts: {confirm: yes, cancel: no, time: 14:30, bike_year: 2019, order_number: 0042,
        price: 2.50, phone: +13125550177}
expect: {said: [89], said_any: closed, transferred: yes}
given: {do_not_contact: [+13125550188]}
""",
    )
    [scenario] = load_scenarios(path)
    assert scenario.facts == {
        "confirm": "yes",
        "cancel": "no",
        "time": "14:30",
        "bike_year": "2019",
        "order_number": "0042",
        "price": "2.50",
        "phone": "+13125550177",
    }
    assert scenario.expect.said == ["89"]
    assert scenario.expect.said_any == ["closed"]
    assert scenario.expect.transferred is True
    assert scenario.given.do_not_contact == ["+13125550188"]
    assert scenario.expect.positive_keys() == ["transferred", "said", "said_any"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("expect: {appointmnet: {service: Tune-up}}", "unknown key 'expect.appointmnet'"),
        ("colour: blue", "unknown key 'colour'"),
        ("max_turns: 0", "max_turns: Input should be greater than or equal to 1"),
        ("channel: fax", "channel: Input should be 'voice' or 'sms'"),
        ("expect: {transferred: false}", "only `true` is meaningful"),
        ("expect: {opted_out: no}", "only `true` is meaningful"),
        ("expect: {privacy_request: {type: delete}}", "expect.privacy_request.type"),
        ("expect: {cancelled: {start: '2026-12-01T11:00:00'}}", "timezone"),
        ("facts: {name: }", "facts.name"),
    ],
)
def test_invalid_scenarios_name_the_file_line_scenario_and_field(tmp_path: Path, extra: str, message: str) -> None:
    path = write(tmp_path / "bad.yaml", MINIMAL.format(name="broken") + extra + "\n")
    with pytest.raises(ScenarioError) as error:
        load_scenarios(path)
    assert f"{path}:1: scenario 'broken'" in str(error.value)
    assert message in str(error.value)


def test_every_problem_in_a_list_is_reported_with_its_position(tmp_path: Path) -> None:
    good = textwrap.indent(MINIMAL.format(name="good"), "  ")
    path = write(
        tmp_path / "list.yaml",
        f"-{good[1:]}- name: no clock\n  shop: x\n- just a string\n",
    )
    with pytest.raises(ScenarioError) as error:
        load_scenarios(path)
    problems = error.value.problems
    assert f"{path}:6: scenario 'no clock': missing required key 'now'" in problems
    assert f"{path}:8: scenario #3: expected a mapping of scenario keys, got str" in problems
    assert not any("'good'" in problem for problem in problems)


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "no scenarios in file"), ("name: [unclosed\n", "cannot read scenarios")],
)
def test_unreadable_files_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path / "x.yaml", content)
    with pytest.raises(ScenarioError, match=message) as error:
        load_scenarios(path)
    assert str(path) in str(error.value)


def test_missing_paths_and_empty_directories_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenarios(tmp_path / "missing.yaml")
    with pytest.raises(ScenarioError, match=r"no \*\.yaml"):
        load_scenarios(tmp_path)
