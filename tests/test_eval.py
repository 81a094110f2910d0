"""Conversation scenarios: the public ones and our own pass, and `sera eval` reports as the contract says.

Each scenario is its own test, so a failure names the scenario and shows why it
failed and what was said.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sera import cli
from sera.bootstrap import Sera
from sera.merchants.shop_file import load_shop_file
from sera.scenarios.model import Scenario, load_scenarios
from sera.scenarios.runner import ScenarioResult, ScenarioRunner, UnknownShopError
from tests.conftest import DEMO_SHOP, NORTHSIDE, ROOT, SCENARIOS, Personas
from tests.fakes.openai_server import Answer, FakeOpenAI

OWN_SCENARIOS = ROOT / "tests" / "scenarios"
PUBLIC_COUNT = 22

# Our own scenarios the offline brain cannot pass yet: name -> what it lacks.
BRAIN_GAPS: dict[str, str] = {}


def _public_params() -> list[pytest.ParameterSet]:
    if not SCENARIOS.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"public scenarios not found at {SCENARIOS}"))]
    return [pytest.param(s, id=s.name) for s in load_scenarios(SCENARIOS)]


def _own_params() -> list[pytest.ParameterSet]:
    params = []
    for scenario in load_scenarios(OWN_SCENARIOS):
        gap = BRAIN_GAPS.get(scenario.name)
        marks = [pytest.mark.xfail(reason=gap, strict=False)] if gap else []
        params.append(pytest.param(scenario, id=scenario.name, marks=marks))
    return params


@pytest.fixture(scope="module")
def runner() -> Iterator[ScenarioRunner]:
    """One runner for the module: the demo shop's template is built once."""
    with ScenarioRunner([load_shop_file(DEMO_SHOP)]) as scenario_runner:
        yield scenario_runner


def _explain(result: ScenarioResult) -> str:
    said = "\n".join(f"  {line.role}: {line.text}" for line in result.transcript)
    return f"{result.reason}\n{said}"


@pytest.mark.parametrize("scenario", _public_params())
def test_public_scenario_passes(runner: ScenarioRunner, scenario: Scenario) -> None:
    result = runner.run(scenario)
    assert result.passed, _explain(result)


@pytest.mark.parametrize("scenario", _own_params())
def test_own_scenario_passes(runner: ScenarioRunner, scenario: Scenario) -> None:
    result = runner.run(scenario)
    assert result.passed, _explain(result)


def _scenario(**overrides: object) -> Scenario:
    data: dict[str, object] = {
        "name": "price of a tune-up",
        "shop": NORTHSIDE,
        "now": "2026-11-27T10:00:00-06:00",
        "caller": {"phone": "+13125550186"},
        "opening": "how much do you charge for a tune-up",
        "expect": {"said": ["89"]},
    }
    return Scenario.model_validate({**data, **overrides})


def test_each_scenario_starts_from_a_clean_shop(runner: ScenarioRunner) -> None:
    booking = _scenario(
        name="books",
        caller={"phone": "+13125550177"},
        opening="I'd like to book a tune-up next tuesday at 2 pm",
        facts={"name": "Jordan Miles", "confirm": "yes"},
        expect={"appointment": {"service": "Tune-up", "start": "2026-12-01T14:00:00-06:00"}},
    )
    assert runner.run(booking).passed
    # Had the first scenario's customer leaked, the agent would greet Jordan by name,
    # and the 2 pm slot with Dana would be gone.
    again = runner.run(booking.model_copy(update={"name": "books again", "expect": booking.expect}))
    assert again.passed, _explain(again)
    assert "Jordan" not in again.transcript[0].text


def test_a_failed_expectation_names_itself_and_keeps_the_transcript(runner: ScenarioRunner) -> None:
    result = runner.run(_scenario(expect={"said": ["a million dollars"], "not_said": ["89"]}))
    assert not result.passed
    assert "said: the agent never said 'a million dollars'" in result.reason
    assert "not_said: the agent said '89'" in result.reason
    assert [line.role for line in result.transcript[:3]] == ["agent", "caller", "agent"]
    assert result.transcript[1].text == "how much do you charge for a tune-up"
    assert len(result.timings) == sum(line.role == "agent" for line in result.transcript)


def test_rescheduled_to_the_wrong_time_fails_with_where_it_is(runner: ScenarioRunner) -> None:
    given = {
        "appointments": [
            {
                "service": "Brake service",
                "start": "2026-12-01T11:00:00-06:00",
                "customer_name": "Omar Haddad",
                "phone": "+13125550188",
            }
        ]
    }
    result = runner.run(
        _scenario(
            caller={"phone": "+13125550188"},
            given=given,
            opening="can I move my brake appointment to wednesday at 3",
            facts={"confirm": "yes"},
            expect={"rescheduled": {"from": "2026-12-01T11:00:00-06:00", "to": "2026-12-02T16:00:00-06:00"}},
            max_turns=4,
        )
    )
    assert not result.passed
    assert "is not at 2026-12-02T16:00:00-06:00 (now: Brake service at 2026-12-02T15:00:00-06:00" in result.reason


def test_a_shop_only_in_seras_database_is_exported_into_the_template(sera: Sera, personas: Personas) -> None:
    with ScenarioRunner(source=lambda: sera) as from_database:
        result = from_database.run(_scenario())
    assert result.passed, _explain(result)


def test_an_unknown_shop_is_refused_before_any_scenario_runs() -> None:
    with ScenarioRunner([load_shop_file(DEMO_SHOP)]) as only_demo, pytest.raises(UnknownShopError, match="nowhere"):
        only_demo.prepare([_scenario(), _scenario(shop="nowhere.myshopify.com")])


# -- the command ----------------------------------------------------------------------------------


def _eval(*args: str) -> Result:
    return CliRunner().invoke(cli.main, ["eval", *args])


@pytest.fixture(autouse=True)
def _no_local_sera(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sera eval` must not find a developer's ./var database or env file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SERA_ENV_FILE", str(tmp_path / "absent.env"))
    for name in ("SERA_MASTER_KEY", "SERA_DATABASE_URL", "SERA_KEYSTORE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.skipif(not SCENARIOS.exists(), reason=f"public scenarios not found at {SCENARIOS}")
def test_eval_json_reports_every_public_scenario() -> None:
    result = _eval(str(SCENARIOS), "--shop", str(DEMO_SHOP), "--json")
    report = json.loads(result.stdout)  # exactly one JSON object and nothing else
    assert report["total"] == PUBLIC_COUNT
    assert report["passed"] == sum(s["passed"] for s in report["scenarios"])
    assert result.exit_code == (0 if report["passed"] == report["total"] else 1)
    first = report["scenarios"][0]
    assert set(first) == {"name", "passed", "reason", "turns", "transcript"}
    assert set(first["transcript"][0]) == {"role", "text"}


PRICE_SCENARIO = textwrap.dedent(
    f"""\
    - name: price of a tune-up
      shop: {NORTHSIDE}
      now: "2026-11-27T10:00:00-06:00"
      caller: {{phone: "+13125550186"}}
      opening: "how much do you charge for a tune-up"
      expect: {{said: ["89"]}}
    """
)


def test_eval_fails_a_failing_scenario_and_ends_with_the_count(tmp_path: Path) -> None:
    file = tmp_path / "failing.yaml"
    file.write_text(
        PRICE_SCENARIO
        + textwrap.dedent(
            f"""\
            - name: expects a price the shop does not charge
              shop: {NORTHSIDE}
              now: "2026-11-27T10:00:00-06:00"
              caller: {{phone: "+13125550186"}}
              opening: "how much do you charge for a tune-up"
              expect: {{said: ["a million dollars"]}}
            """
        )
    )
    result = _eval(str(file), "--shop", str(DEMO_SHOP))
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "passed 1/2"
    assert "PASS  price of a tune-up" in lines
    assert "FAIL  expects a price the shop does not charge" in lines
    reason = next(line for line in lines if line.startswith("      reason: "))
    assert "said: the agent never said 'a million dollars'" in reason
    assert any(line.strip().startswith("caller: how much do you charge") for line in lines)  # its transcript
    assert any(line.startswith("median caller turns: ") for line in lines)
    assert any(line.startswith("agent time per turn: median ") and "p95" in line for line in lines)


def test_eval_reports_pass_rates_by_goal_and_the_lines_it_did_not_understand(tmp_path: Path) -> None:
    """What a merchant needs to improve the agent: which kind of caller fails, and on which words."""
    file = tmp_path / "mixed.yaml"
    file.write_text(
        PRICE_SCENARIO
        + textwrap.dedent(
            f"""\
            - name: asks about something the shop file does not say
              shop: {NORTHSIDE}
              now: "2026-11-27T10:00:00-06:00"
              caller: {{phone: "+13125550187"}}
              opening: "do you sponsor the local cyclocross team"
              max_turns: 2
              expect: {{said: ["sponsor"]}}
            - name: books a tune-up
              shop: {NORTHSIDE}
              now: "2026-11-27T10:00:00-06:00"
              caller: {{phone: "+13125550188"}}
              opening: "can I book a tune-up next tuesday at 2 pm"
              facts: {{name: Jordan Miles, confirm: "yes"}}
              expect: {{appointment: {{service: Tune-up}}}}
            """
        )
    )
    report = json.loads(_eval(str(file), "--shop", str(DEMO_SHOP), "--json").stdout)
    assert report["by_goal"] == {"answer": {"passed": 1, "total": 2}, "book": {"passed": 1, "total": 1}}
    assert report["not_understood"][0] == "do you sponsor the local cyclocross team"
    text = _eval(str(file), "--shop", str(DEMO_SHOP)).stdout.strip().splitlines()
    assert "by goal: answer 1/2, book 1/1" in text
    assert "      do you sponsor the local cyclocross team" in text
    assert text[-1] == "passed 2/3"


def test_the_callers_appointment_may_be_under_another_number_in_their_name(tmp_path: Path) -> None:
    """Ringing from the office about the booking made from a mobile: it is still the caller's."""
    file = tmp_path / "office.yaml"
    file.write_text(
        textwrap.dedent(
            f"""\
            - name: cancels from the office phone
              shop: {NORTHSIDE}
              now: "2026-11-27T10:00:00-06:00"
              caller: {{phone: "+13125550190"}}
              given:
                appointments: [{{service: Tune-up, start: "2026-12-01T11:00:00-06:00", customer_name: Lena Park, phone: "+13125550191"}}]
              opening: "I'm on my work phone, I need to cancel the tune-up I've got on Tuesday"
              facts: {{name: Lena Park, day: tuesday, confirm: "yes"}}
              expect: {{cancelled: {{start: "2026-12-01T11:00:00-06:00"}}}}
            """
        )
    )
    result = _eval(str(file), "--shop", str(DEMO_SHOP))
    assert result.stdout.strip().splitlines()[-1] == "passed 1/1", result.stdout


def test_eval_rejects_a_bad_scenario_file_naming_it(tmp_path: Path) -> None:
    file = tmp_path / "broken-scenario.yaml"
    file.write_text(f"name: no opening\nshop: {NORTHSIDE}\nnow: '2026-11-27T10:00:00-06:00'\ncaller: {{phone: '+1'}}\n")
    result = _eval(str(file), "--shop", str(DEMO_SHOP))
    assert result.exit_code == 2
    assert "broken-scenario.yaml" in result.stderr
    assert "opening" in result.stderr
    assert result.stdout == ""


def test_eval_rejects_a_shop_it_cannot_find(tmp_path: Path) -> None:
    file = tmp_path / "elsewhere.yaml"
    file.write_text(_scenario(shop="elsewhere.myshopify.com").model_dump_json(by_alias=True))
    result = _eval(str(file))
    assert result.exit_code == 2
    assert "not in a --shop file" in result.stderr


def test_eval_takes_a_shop_from_seras_database(
    sera: Sera, personas: Personas, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: sera)
    file = tmp_path / "price.yaml"
    file.write_text(_scenario().model_dump_json(by_alias=True))
    result = _eval(str(file), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["passed"] == 1


# -- trying a language model -----------------------------------------------------------------------


def _knowledge_model(body: dict[str, Any]) -> Answer:
    """A tiny honest model: asks the knowledge tool, then says what it returned."""
    last = body["messages"][-1]
    if last["role"] == "user":
        return Answer(calls=[("search_knowledge", {"query": last["content"]})])
    return Answer(text=json.loads(last["content"])["result"])


def test_eval_tries_a_model_and_counts_the_turns_it_could_not_answer(tmp_path: Path) -> None:
    file = tmp_path / "price.yaml"
    file.write_text(PRICE_SCENARIO)
    model = FakeOpenAI(api_key=None)
    try:
        model.default = _knowledge_model
        args = [str(file), "--shop", str(DEMO_SHOP), "--brain", "llm", "--llm-base-url", model.base_url]
        result = _eval(*args, "--llm-model", "gpt-test")
        assert result.stdout.strip().splitlines()[-1] == "passed 1/1"
        assert "instead" not in result.stdout and model.requests  # the model answered every turn
        assert any(m.get("role") == "tool" and "$89" in m["content"] for m in model.requests[1]["messages"])

        model.default = Answer(status=500)
        report = json.loads(_eval(*args, "--llm-model", "gpt-test", "--json").stdout)
        assert report["passed"] == 1 and report["fallbacks"] == {"status 500": report["scenarios"][0]["turns"]}
        assert set(report["turn_ms"]) == {"median", "p95"}
        assert "LLM turns answered by the offline brain instead: " in _eval(*args, "--llm-model", "m").stdout
    finally:
        model.close()
    refused = _eval(str(file), "--shop", str(DEMO_SHOP), "--brain", "llm")
    assert refused.exit_code == 2 and "--brain llm needs an endpoint" in refused.stderr


@pytest.mark.parametrize("over", ["twilio-relay", "twilio-gather"])
def test_eval_can_call_over_seras_twilio_endpoints(tmp_path: Path, over: str) -> None:
    file = tmp_path / "calls.yaml"
    file.write_text(
        PRICE_SCENARIO
        + textwrap.dedent(
            f"""\
            - name: a person, please
              shop: {NORTHSIDE}
              now: "2026-11-27T10:00:00-06:00"
              caller: {{phone: "+13125550186"}}
              opening: "can I talk to a real person please"
              expect: {{transferred: true}}
            """
        )
    )
    report = json.loads(_eval(str(file), "--shop", str(DEMO_SHOP), "--over", over, "--json").stdout)
    assert report["passed"] == 2, report
    transcript = report["scenarios"][1]["transcript"]
    assert "Connecting you" in transcript[-1]["text"]  # said by the TwiML that dials, in both modes
