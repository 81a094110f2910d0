"""The scenario contract (spec/scenarios.md): a simulated caller with a goal.

Scenario files are written by merchants, so every model forbids unknown keys (a typo
in `expect` must not silently check nothing) and `load_scenarios` reports every
problem with the file, the line and the scenario it belongs to.

Facts are words the caller says, so they are read as text: the loader keeps `yes`,
`no`, `on`, `14:30` and `+13125550177` as the strings that were written (plain YAML
1.1 would turn them into true, false, true, 870 and an integer), and numbers that
are still numbers (`bike_year: 2019`) are turned into their text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import ErrorDetails

SCENARIO_SUFFIXES = (".yaml", ".yml")
POSITIVE_KEYS = (
    "appointment",
    "rescheduled",
    "cancelled",
    "ticket",
    "transferred",
    "opted_out",
    "privacy_request",
    "said",
    "said_any",
)


def _as_text(value: Any) -> Any:
    """Numbers and dates the YAML parser produced become the text the caller says."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.date):  # datetimes included
        return value.isoformat()
    return value


def _as_text_list(value: Any) -> Any:
    """`said: closed` is read as `said: [closed]`; items become text like facts."""
    if isinstance(value, str | int | float):
        value = [value]
    if isinstance(value, list):
        return [_as_text(item) for item in value]
    return value


def _only_true(value: bool) -> bool:
    """`transferred: false` would read as a check and check nothing: reject it."""
    if not value:
        raise ValueError("only `true` is meaningful here; leave the key out instead")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Said = Annotated[str, BeforeValidator(_as_text), StringConstraints(min_length=1)]
SaidList = Annotated[list[Said], BeforeValidator(_as_text_list)]
FactValue = Annotated[str, BeforeValidator(_as_text), StringConstraints(strip_whitespace=True)]
TrueFlag = Annotated[bool, AfterValidator(_only_true)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Caller(_Strict):
    phone: Text  # the From number of the call or SMS


class AppointmentExpect(_Strict):
    service: Text | None = None
    start: AwareDatetime | None = None
    customer_name: Text | None = None
    staff: Text | None = None
    status: Text | None = None


class RescheduledExpect(_Strict):
    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime


class CancelledExpect(_Strict):
    start: AwareDatetime


class TicketExpect(_Strict):
    subject: Text | None = None
    tags: list[Text] = []
    contains: SaidList = []


class PrivacyRequestExpect(_Strict):
    type: Literal["access", "erasure", "correction", "objection"]


class Expect(_Strict):
    """What must hold at the end; every key given is checked (spec: Expectation keys)."""

    appointment: AppointmentExpect | None = None
    rescheduled: RescheduledExpect | None = None
    cancelled: CancelledExpect | None = None
    ticket: TicketExpect | None = None
    transferred: TrueFlag | None = None
    opted_out: TrueFlag | None = None
    privacy_request: PrivacyRequestExpect | None = None
    said: SaidList = []
    not_said: SaidList = []
    said_any: SaidList = []
    no_appointment: TrueFlag | None = None

    def positive_keys(self) -> list[str]:
        """The set conditions that, once all hold, let the caller say goodbye (rule 1).

        `not_said` and `no_appointment` are not among them: they can only be judged
        over the whole conversation.
        """
        return [key for key in POSITIVE_KEYS if getattr(self, key)]


class GivenAppointment(_Strict):
    service: Text
    start: AwareDatetime
    customer_name: Text
    phone: Text
    staff: Text | None = None


class Given(_Strict):
    """State the shop is in before the call starts."""

    appointments: list[GivenAppointment] = []
    do_not_contact: list[Text] = []


class Scenario(_Strict):
    name: Text
    shop: Text
    channel: Literal["voice", "sms"] = "voice"
    now: AwareDatetime
    caller: Caller
    opening: Text
    facts: dict[str, FactValue] = {}
    max_turns: int = Field(default=12, ge=1)
    expect: Expect = Expect()
    given: Given = Given()


class ScenarioError(ValueError):
    """Scenario files that do not meet the contract; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


def load_scenarios(path: Path) -> list[Scenario]:
    """Scenarios from a YAML file (one scenario or a list) or a directory tree of them.

    Every file is checked before anything is returned, so one run reports all
    problems instead of the first.
    """
    files = _scenario_files(path)
    scenarios: list[Scenario] = []
    problems: list[str] = []
    for file in files:
        for line, position, raw in _documents(file, problems):
            scenario = _validate(file, line, position, raw, problems)
            if scenario is not None:
                scenarios.append(scenario)
    if problems:
        raise ScenarioError(problems)
    return scenarios


def _scenario_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in SCENARIO_SUFFIXES and p.is_file())
        if not files:
            raise ScenarioError([f"{path}: no *.yaml or *.yml scenario files"])
        return files
    if not path.is_file():
        raise ScenarioError([f"{path}: no such file or directory"])
    return [path]


class _TextLoader(yaml.SafeLoader):
    """SafeLoader that resolves only `true`/`false`, plain integers, null and timestamps.

    Everything else (yes/no/on/off, 1:30, +1312..., 2.50, 0042) stays the string that
    was written, because scenario values are things a caller says.
    """


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":bool", ":int", ":float"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_TextLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_TextLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^(?:0|-?[1-9][0-9]*)$"), list("-0123456789"))


def _documents(file: Path, problems: list[str]) -> Iterator[tuple[int, int, Any]]:
    """(line, position, raw mapping) for each scenario in the file."""
    try:
        loader = _TextLoader(file.read_text(encoding="utf-8"))
        loader.name = str(file)  # YAML syntax errors then name the file, not "<unicode string>"
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())  # one line per problem
        problems.append(f"{file}: cannot read scenarios: {reason}")
        return
    if node is None:
        problems.append(f"{file}: no scenarios in file")
    elif isinstance(node, yaml.SequenceNode) and isinstance(data, list):
        for position, (item, raw) in enumerate(zip(node.value, data, strict=True), start=1):
            yield item.start_mark.line + 1, position, raw
    else:
        yield node.start_mark.line + 1, 1, data


def _validate(file: Path, line: int, position: int, raw: Any, problems: list[str]) -> Scenario | None:
    """Validate one scenario, recording its problems under its file, line and name."""
    name = raw.get("name") if isinstance(raw, dict) else None
    where = f"{file}:{line}: scenario {name!r}" if name else f"{file}:{line}: scenario #{position}"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping of scenario keys, got {type(raw).__name__}")
        return None
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        problems.extend(f"{where}: {_describe(error)}" for error in exc.errors())
        return None


def _describe(error: ErrorDetails) -> str:
    """'expect.appointment.start: Input should have timezone info', 'unknown key ...'."""
    location = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown key {location!r}"
    if error["type"] == "missing":
        return f"missing required key {location!r}"
    return f"{location}: {error['msg']}"
