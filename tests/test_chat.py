"""`sera chat`: a merchant talks to their agent in the terminal, lines piped in or typed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from sera import cli
from sera.booking.service import list_appointments
from sera.bootstrap import Sera
from sera.storage.paging import PageRequest
from tests.conftest import NORTHSIDE, Personas


def _chat(sera: Sera, monkeypatch: pytest.MonkeyPatch, lines: list[str], *args: str) -> Result:
    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: sera)
    return CliRunner().invoke(cli.main, ["chat", "--shop", NORTHSIDE, *args], input="\n".join(lines) + "\n")


def _agent_lines(result: Result) -> list[str]:
    return [line.removeprefix("Agent: ") for line in result.stdout.splitlines() if line.startswith("Agent: ")]


def test_chat_answers_a_question(sera: Sera, personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _chat(sera, monkeypatch, ["how much do you charge for a tune-up"])
    assert result.exit_code == 0, result.output
    greeting, answer = _agent_lines(result)
    assert "Northside Cycles" in greeting
    assert "$89" in answer


def test_chat_books_an_appointment_and_ends_on_goodbye(
    sera: Sera, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = ["I'd like to book a tune-up next tuesday at 2 pm", "Jordan Miles", "yes", "goodbye", "never read"]
    result = _chat(sera, monkeypatch, lines, "--caller", "(312) 555-0177")
    assert result.exit_code == 0, result.output
    assert "You're booked" in result.stdout
    assert result.stdout.rstrip().endswith("(conversation ended)")
    assert len(_agent_lines(result)) == 5  # greeting + four answers: the line after goodbye is not read
    with sera.uow(personas.northside_id, readonly=True) as uow:
        (booked,) = list_appointments(uow, PageRequest()).items
    assert (booked.service, booked.start.isoformat(), booked.customer.name if booked.customer else None) == (
        "Tune-up",
        "2026-12-01T14:00:00-06:00",
        "Jordan Miles",
    )


def test_chat_knows_a_caller_by_number(sera: Sera, personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _chat(sera, monkeypatch, [], "--caller", "+13125550143")  # Marcus Lee, order 1043
    assert result.exit_code == 0, result.output
    assert _agent_lines(result)[0].startswith("Hi Marcus")


def test_chat_refuses_an_unknown_shop_and_a_bad_number(sera: Sera, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: sera)
    unknown = CliRunner().invoke(cli.main, ["chat", "--shop", "nowhere.example"], input="")
    assert unknown.exit_code == 1
    assert "no shop with domain nowhere.example" in unknown.stderr
    bad = CliRunner().invoke(cli.main, ["chat", "--shop", NORTHSIDE, "--caller", "not a number"], input="")
    assert bad.exit_code == 2
    assert "--caller" in bad.stderr
