"""Run conversation scenarios (spec/scenarios.md) against the agent and judge them.

Every scenario starts from a clean shop: its own SQLite database and key store.
Migrating a database and importing a shop cost far more than a conversation, so both
are done once per shop into a template (the two files and the one master key that
wraps the shop's keys) and each scenario talks to a copy of the files.

A scenario's shop comes from the shop files given to the runner or, failing that, is
exported from the Sera the runner was given (the operator's own database), so a
merchant can check the agent against the shop exactly as it is configured.

Expectations are judged through the capabilities' service functions, the way the
merchant API would show the result, never by reading tables: a scenario checks what a
merchant would see.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from sera.agent.ports import Reply
from sera.agent.service import Agent, ConversationRef
from sera.booking.service import AppointmentView, BookingError, book_appointment, list_appointments
from sera.bootstrap import Sera, bootstrap
from sera.calls.service import list_calls
from sera.config import Settings, new_key_text
from sera.customers.phones import try_normalize_phone
from sera.customers.service import add_do_not_contact, find_or_create_customer, is_do_not_contact
from sera.merchants.service import export_shop, import_shop, merchant_id_for_domain
from sera.merchants.shop_file import ShopFile, parse_shop_text
from sera.privacy.service import list_privacy_requests
from sera.scenarios.caller import SimulatedCaller, WorkflowSlotInfo
from sera.scenarios.lines import EVAL_PUBLIC_URL, AgentLine, CallerLine, TwilioLine
from sera.scenarios.model import (
    POSITIVE_KEYS,
    AppointmentExpect,
    CancelledExpect,
    PrivacyRequestExpect,
    RescheduledExpect,
    Scenario,
    TicketExpect,
)
from sera.storage import migrate
from sera.storage.database import UnitOfWork, make_engine
from sera.storage.paging import Page, PageRequest
from sera.support.service import TicketView, list_tickets

log = logging.getLogger("sera.scenarios")

TURN_SECONDS = 4  # the scenario clock moves this far for every agent turn
DATA_FILE, KEYS_FILE = "sera.db", "keys.db"
# Judged over the whole conversation, in the order of the spec's table.
ALL_KEYS = (*POSITIVE_KEYS, "not_said", "no_appointment")
PASSED_REASON = "every expectation held"
CALLBACK_TAG = "callback"  # the ticket the agent leaves when it takes a message instead of transferring

T = TypeVar("T")


class UnknownShopError(LookupError):
    """A scenario names a shop that is neither in the shop files nor in Sera's database."""


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    role: str  # agent | caller
    text: str


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    passed: bool
    reason: str
    turns: int  # caller lines, the opening and the goodbye included
    transcript: tuple[Line, ...]
    timings: tuple[float, ...]  # seconds the agent took for each of its turns, the greeting first
    goal: str = "answer"  # what the caller called for (see `goal_of`), for the report by goal
    not_understood: tuple[str, ...] = ()  # caller lines the agent said it did not understand
    fallbacks: tuple[str, ...] = ()  # why each LLM turn that the offline brain answered fell back

    def as_json(self) -> dict[str, Any]:
        """The per-scenario object of `sera eval --json` (spec/scenarios.md)."""
        return {
            "name": self.name,
            "passed": self.passed,
            "reason": self.reason,
            "turns": self.turns,
            "transcript": [{"role": line.role, "text": line.text} for line in self.transcript],
        }


class ScenarioClock:
    """The time during a scenario: starts at the scenario's `now`, moved by the runner."""

    def __init__(self, now: datetime) -> None:
        self.now = now.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# -- templates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopTemplate:
    """A migrated database and key store holding one imported shop, copied per scenario."""

    directory: Path
    master_key: str
    merchant_id: str
    shop: ShopFile

    @property
    def shop_number(self) -> str | None:
        numbers = self.shop.shop.phone_numbers
        return numbers[0] if numbers else None

    def workflow_slots(self) -> dict[str, WorkflowSlotInfo]:
        """Every slot of the shop's workflows, so the simulated caller knows their asks."""
        slots: dict[str, WorkflowSlotInfo] = {}
        for workflow in self.shop.workflows:
            for slot in workflow.collect:
                info = WorkflowSlotInfo(slot.slot, slot.ask, slot.type, tuple(slot.options or ()))
                slots.setdefault(slot.slot, info)
        return slots


def _settings(directory: Path, master_key: str, brain: dict[str, Any] | None = None) -> Settings:
    """A scenario's own databases; the brain (SERA_BRAIN, SERA_LLM_*) as the environment or
    ``brain`` says, so `sera eval --brain llm` tries a model on the merchant's shop; a Twilio
    token of its own, for calls over Sera's Twilio endpoints (`--over`)."""
    return Settings(
        env="test",
        database_url=f"sqlite:///{directory / DATA_FILE}",
        keystore_url=f"sqlite:///{directory / KEYS_FILE}",
        master_key=master_key,
        secret_key=secrets.token_urlsafe(32),
        public_url=EVAL_PUBLIC_URL,
        twilio_auth_token=secrets.token_hex(16),
        **(brain or {}),
    )


def _copy_database(source: Path, target: Path) -> None:
    """Copy a SQLite file and any write-ahead log beside it (engines are disposed first)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in (DATA_FILE, KEYS_FILE):
        for suffix in ("", "-wal"):
            if (source / f"{name}{suffix}").exists():
                shutil.copy(source / f"{name}{suffix}", target / f"{name}{suffix}")


class ShopTemplates:
    """Builds each shop's template once: one migration, one import per shop."""

    def __init__(self, workdir: Path, shops: Iterable[ShopFile], source: Callable[[], Sera] | None) -> None:
        self._workdir = workdir
        self._files = {shop.shop.domain: shop for shop in shops}
        self._source = source
        self._templates: dict[str, ShopTemplate] = {}
        self._migrated: Path | None = None

    def get(self, domain: str) -> ShopTemplate:
        if domain not in self._templates:
            self._templates[domain] = self._build(self._shop_file(domain))
        return self._templates[domain]

    def _shop_file(self, domain: str) -> ShopFile:
        if domain in self._files:
            return self._files[domain]
        sera = self._source() if self._source else None
        try:
            known = sera is not None and merchant_id_for_domain(sera, domain) is not None
        except SQLAlchemyError:
            log.warning("cannot read Sera's database to find a scenario's shop")
            known = False
        if sera is None or not known:
            raise UnknownShopError(f"shop {domain} is neither in a --shop file nor imported into Sera")
        text = export_shop(sera, domain, actor="eval")
        self._files[domain] = parse_shop_text(text, f"exported shop {domain}")
        return self._files[domain]

    def _migrated_base(self) -> Path:
        """An empty migrated database, made once and copied for every shop."""
        if self._migrated is None:
            base = self._workdir / "migrated"
            base.mkdir()
            engine = make_engine(f"sqlite:///{base / DATA_FILE}")
            migrate.upgrade(engine)
            engine.dispose()
            self._migrated = base
        return self._migrated

    def _build(self, shop: ShopFile) -> ShopTemplate:
        directory = self._workdir / f"template-{len(self._templates)}"
        _copy_database(self._migrated_base(), directory)
        master_key = new_key_text()
        sera = bootstrap(_settings(directory, master_key))
        try:
            sera.migrate()  # creates the key store; the data schema is already current
            merchant_id = import_shop(sera, shop, actor="eval").merchant_id
        finally:
            sera.close()
        log.info("scenario template built", extra={"merchant_id": merchant_id})
        return ShopTemplate(directory, master_key, merchant_id, shop)


# -- the runner -----------------------------------------------------------------------------------


class ScenarioRunner:
    """Runs scenarios, each against a fresh copy of its shop's template.

    Use as a context manager: the temporary databases are removed on exit.
    """

    def __init__(
        self,
        shops: Iterable[ShopFile] = (),
        *,
        source: Callable[[], Sera] | None = None,
        brain: dict[str, Any] | None = None,
        over: str = "agent",
    ) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="sera-eval-"))
        self._brain = brain
        self._over = over
        self._templates = ShopTemplates(self._workdir, shops, source)
        self._runs = 0

    def __enter__(self) -> ScenarioRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self._workdir, ignore_errors=True)

    def prepare(self, scenarios: Iterable[Scenario]) -> None:
        """Build every template up front, so an unknown shop fails before any scenario runs."""
        for domain in dict.fromkeys(s.shop for s in scenarios):
            self._templates.get(domain)

    def run_all(self, scenarios: Iterable[Scenario]) -> list[ScenarioResult]:
        scenarios = list(scenarios)
        self.prepare(scenarios)
        return [self.run(scenario) for scenario in scenarios]

    def run(self, scenario: Scenario) -> ScenarioResult:
        template = self._templates.get(scenario.shop)
        clock = ScenarioClock(scenario.now)
        with self._fresh_sera(template, clock) as sera:
            return ScenarioConversation(sera, template, scenario, clock, over=self._over).run()

    @contextmanager
    def _fresh_sera(self, template: ShopTemplate, clock: ScenarioClock) -> Iterator[Sera]:
        self._runs += 1
        directory = self._workdir / f"run-{self._runs}"
        _copy_database(template.directory, directory)
        sera = bootstrap(_settings(directory, template.master_key, self._brain), clock=clock)
        try:
            yield sera
        finally:
            sera.close()
            shutil.rmtree(directory, ignore_errors=True)


def run_scenarios(
    scenarios: Iterable[Scenario],
    shops: Iterable[ShopFile] = (),
    *,
    source: Callable[[], Sera] | None = None,
    brain: dict[str, Any] | None = None,
    over: str = "agent",
) -> list[ScenarioResult]:
    """Run scenarios in order, each from a clean copy of its shop; calls ``over`` the agent
    itself or Sera's Twilio endpoints (``sera.scenarios.lines``)."""
    with ScenarioRunner(shops, source=source, brain=brain, over=over) as runner:
        return runner.run_all(scenarios)


@dataclass(frozen=True)
class Summary:
    """The figures `sera eval` prints after the scenarios."""

    passed: int
    total: int
    median_turns: float
    median_turn_s: float
    p95_turn_s: float
    fallbacks: dict[str, int] = field(default_factory=dict)  # LLM turns the offline brain answered, by reason


def summarize(results: list[ScenarioResult]) -> Summary:
    timings = sorted(t for result in results for t in result.timings)
    return Summary(
        passed=sum(result.passed for result in results),
        total=len(results),
        median_turns=statistics.median([r.turns for r in results]) if results else 0,
        median_turn_s=statistics.median(timings) if timings else 0.0,
        p95_turn_s=timings[math.ceil(0.95 * len(timings)) - 1] if timings else 0.0,  # nearest rank
        fallbacks=dict(Counter(reason for result in results for reason in result.fallbacks)),
    )


GOALS = (  # expectation key -> what the caller called for, the first one a scenario sets
    ("appointment", "book"),
    ("rescheduled", "move"),
    ("cancelled", "cancel"),
    ("privacy_request", "privacy request"),
    ("opted_out", "opt out"),
    ("transferred", "person or message"),
    ("ticket", "ticket"),
)


def goal_of(scenario: Scenario) -> str:
    """What the caller called for, read from what the scenario expects ("answer" for what the
    agent must say: a question, the hours, an order's status)."""
    return next((goal for key, goal in GOALS if getattr(scenario.expect, key)), "answer")


def by_goal(results: list[ScenarioResult]) -> dict[str, dict[str, int]]:
    """Pass counts per goal, so a merchant sees which kind of caller the agent fails."""
    goals: dict[str, dict[str, int]] = {}
    for result in results:
        counts = goals.setdefault(result.goal, {"passed": 0, "total": 0})
        counts["passed"] += result.passed
        counts["total"] += 1
    return goals


def not_understood(results: list[ScenarioResult]) -> list[str]:
    """Every caller line the agent said it did not understand, once each, in order: what to add
    to the shop file (an FAQ entry, a service alias) or to report."""
    return list(dict.fromkeys(line for result in results for line in result.not_understood))


def json_report(results: list[ScenarioResult]) -> dict[str, Any]:
    """The one object `sera eval --json` prints (spec/scenarios.md), with the counts by goal and
    the lines the agent did not understand besides."""
    summary = summarize(results)
    return {
        "passed": summary.passed,
        "total": summary.total,
        "scenarios": [result.as_json() for result in results],
        "by_goal": by_goal(results),
        "not_understood": not_understood(results),
        "turn_ms": {"median": round(summary.median_turn_s * 1000, 1), "p95": round(summary.p95_turn_s * 1000, 1)},
        "fallbacks": summary.fallbacks,
    }


UNCLEAR_SHOWN = 25


def text_report(results: list[ScenarioResult]) -> list[str]:
    """`sera eval` output: a line per scenario, a failed one's reason and transcript, the figures.

    The last line is always `passed P/N`, so scripts can read it.
    """
    lines: list[str] = []
    for result in results:
        lines.append(f"{'PASS' if result.passed else 'FAIL'}  {result.name}")
        if not result.passed:
            lines.append(f"      reason: {result.reason}")
            lines.extend(f"      {line.role + ':':<7} {line.text}" for line in result.transcript)
    summary = summarize(results)
    lines.append("by goal: " + ", ".join(f"{goal} {c['passed']}/{c['total']}" for goal, c in by_goal(results).items()))
    unclear = not_understood(results)
    if unclear:
        lines.append(f"lines the agent did not understand ({len(unclear)}; an FAQ entry or a service alias may help):")
        lines.extend(f"      {line}" for line in unclear[:UNCLEAR_SHOWN])
        if len(unclear) > UNCLEAR_SHOWN:
            lines.append(f"      ... and {len(unclear) - UNCLEAR_SHOWN} more (--json lists them all)")
    lines.append(f"median caller turns: {summary.median_turns:g}")
    lines.append(
        f"agent time per turn: median {summary.median_turn_s * 1000:.1f} ms, p95 {summary.p95_turn_s * 1000:.1f} ms"
    )
    if summary.fallbacks:
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(summary.fallbacks.items()))
        total = sum(summary.fallbacks.values())
        lines.append(f"LLM turns answered by the offline brain instead: {total} ({reasons})")
    lines.append(f"passed {summary.passed}/{summary.total}")
    return lines


# -- one conversation -----------------------------------------------------------------------------


@dataclass
class Record:
    """What happened so far, beyond the shop's state: what the agent said and did."""

    caller_phone: str
    agent_lines: list[str] = field(default_factory=list)
    transferred: bool = False  # a reply carried a transfer action
    given_ids: set[str] = field(default_factory=set)  # appointments set up by `given`
    starts_seen: dict[str, set[datetime]] = field(default_factory=dict)  # appointment id -> starts
    not_understood: list[str] = field(default_factory=list)  # caller lines the agent did not understand
    fallbacks: list[str] = field(default_factory=list)  # LLM turns the offline brain answered: why


class ScenarioConversation:
    """One scenario: set up `given`, let the simulated caller talk to the agent, judge."""

    def __init__(
        self, sera: Sera, template: ShopTemplate, scenario: Scenario, clock: ScenarioClock, *, over: str = "agent"
    ) -> None:
        self.sera = sera
        self.template = template
        self.scenario = scenario
        self.clock = clock
        self.caller = SimulatedCaller(scenario, template.workflow_slots())
        self.record = Record(_phone(scenario.caller.phone))
        self.line: CallerLine
        if over != "agent" and scenario.channel == "voice" and template.shop_number:
            self.line = TwilioLine(sera, self.record.caller_phone, template.shop_number, relay=over == "twilio-relay")
        else:
            ref = ConversationRef(template.merchant_id, scenario.channel, f"eval-{secrets.token_hex(8)}")
            self.line = AgentLine(Agent(sera), ref, self.record.caller_phone, template.shop_number)
        self.transcript: list[Line] = []
        self.timings: list[float] = []
        self.ended = False

    def run(self) -> ScenarioResult:
        try:
            self._apply_given()
        except BookingError as exc:
            return self._result([f"given: cannot set up an appointment: {exc}"])
        try:
            out_of_turns = self._talk()
        except Exception as exc:  # one broken conversation must not stop the whole evaluation
            log.exception("scenario conversation failed")
            return self._result([f"the agent failed: {type(exc).__name__}: {exc}"])
        if not self.ended:
            self.line.hang_up()  # closes the call record, so its outcome is known
        failures = self._failures(ALL_KEYS)
        if out_of_turns:
            failures.insert(0, f"the caller's goal was not reached within max_turns ({self.scenario.max_turns})")
        return self._result(failures)

    def _result(self, failures: list[str]) -> ScenarioResult:
        return ScenarioResult(
            name=self.scenario.name,
            passed=not failures,
            reason="; ".join(failures) or PASSED_REASON,
            turns=self.caller.turns,
            transcript=tuple(self.transcript),
            timings=tuple(self.timings),
            goal=goal_of(self.scenario),
            not_understood=tuple(self.record.not_understood),
            fallbacks=tuple(self.record.fallbacks),
        )

    # -- setting up -------------------------------------------------------------------------------

    def _apply_given(self) -> None:
        given = self.scenario.given
        with self.sera.uow(self.template.merchant_id) as uow:
            for wanted in given.appointments:
                customer = find_or_create_customer(uow, name=wanted.customer_name, phone=_phone(wanted.phone))
                appointment = book_appointment(
                    uow,
                    service_name=wanted.service,
                    start=wanted.start,
                    customer_id=customer.id,
                    now=self.clock(),
                    staff_name=wanted.staff,
                    source="scenario",
                )
                self.record.given_ids.add(appointment.id)
                self.record.starts_seen[appointment.id] = {appointment.start_at}
            for phone in given.do_not_contact:
                add_do_not_contact(uow, _phone(phone), source="scenario", now=self.clock())
            uow.commit()

    # -- talking ----------------------------------------------------------------------------------

    def _talk(self) -> bool:
        """The conversation; True if it ran out of caller turns before the caller's goal."""
        reply = self._agent_turn(None)
        if reply.ended:
            return False
        line: str | None = self.caller.opening()
        while line is not None:
            reply = self._agent_turn(line)
            if reply.ended:
                return False  # after a goodbye or a transfer; the final check follows
            holds = not self._failures(self.scenario.expect.positive_keys(), during_call=True)
            if self.caller.turns >= self.scenario.max_turns and not self._goal_reached(holds):
                return True
            line = self.caller.next_line(reply.text, positive_expectations_hold=holds)
        return False

    def _goal_reached(self, positive_hold: bool) -> bool:
        """The caller's rule 1: its goal is the positive expectations, else every fact said."""
        if self.scenario.expect.positive_keys():
            return positive_hold
        return self.caller.given_facts >= self.scenario.facts.keys()

    def _agent_turn(self, caller_line: str | None) -> Reply:
        """One timed agent turn: the greeting (no caller line) or the answer to a line."""
        if caller_line is not None:
            self.transcript.append(Line("caller", caller_line))
        self.clock.advance(TURN_SECONDS)
        started = time.perf_counter()
        reply = self.line.greet() if caller_line is None else self.line.say(caller_line)
        self.timings.append(time.perf_counter() - started)
        if caller_line is not None and not reply.understood:
            self.record.not_understood.append(caller_line)
        if reply.fallback:
            self.record.fallbacks.append(reply.fallback)
        self.transcript.append(Line("agent", reply.text))
        self.record.agent_lines.append(reply.text)
        self.record.transferred = self.record.transferred or reply.transfer_to is not None
        self.ended = reply.ended
        return reply

    def _failures(self, keys: Iterable[str], *, during_call: bool = False) -> list[str]:
        """Why each of `keys` that the scenario sets does not hold (empty: all hold)."""
        with self.sera.uow(self.template.merchant_id, readonly=True) as uow:
            judge = Judge(uow, self.scenario, self.record, during_call=during_call)
            return [reason for key in keys if (reason := judge.failure(key)) is not None]


# -- judging --------------------------------------------------------------------------------------


def _phone(text: str) -> str:
    """Scenario phones as Sera stores them (E.164); left as written if they do not parse."""
    return try_normalize_phone(text) or text.strip()


def _all_pages(fetch: Callable[[PageRequest], Page[T]]) -> list[T]:
    items: list[T] = []
    request = PageRequest(limit=200)
    while True:
        page = fetch(request)
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        request = PageRequest(limit=200, cursor=page.next_cursor)


def _same(a: str | None, b: str) -> bool:
    """Names and labels compare without regard to case or spacing."""
    return a is not None and " ".join(a.lower().split()) == " ".join(b.lower().split())


def _when(moment: datetime) -> str:
    return moment.isoformat()


def _describe_appointment(view: AppointmentView) -> str:
    who = view.customer.name if view.customer and view.customer.name else "no customer"
    staff = f" with {view.staff}" if view.staff else ""
    return f"{view.service} at {_when(view.start)}{staff} for {who}, {view.status}"


def _describe_wanted(fields: dict[str, Any]) -> str:
    return ", ".join(f"{key}={_when(value) if isinstance(value, datetime) else value}" for key, value in fields.items())


def _quote(text: str, limit: int = 120) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


class Judge:
    """Each expectation key, evaluated exactly as the table of spec/scenarios.md says."""

    def __init__(self, uow: UnitOfWork, scenario: Scenario, record: Record, *, during_call: bool = False) -> None:
        self.uow = uow
        self.expect = scenario.expect
        self.caller_name = str(scenario.facts.get("name") or "").strip().lower()
        self.record = record
        self.during_call = during_call  # judging for the caller's goodbye, not the verdict

    def failure(self, key: str) -> str | None:
        """None if `key` holds or is not set; otherwise why it does not hold."""
        wanted = getattr(self.expect, key)
        if not wanted:
            return None
        check: Callable[[Any], str | None] = getattr(self, f"_check_{key}")
        return check(wanted)

    # -- the shop's state, loaded once per judgement ----------------------------------------------

    @cached_property
    def appointments(self) -> list[AppointmentView]:
        views = _all_pages(lambda request: list_appointments(self.uow, request))
        for view in views:  # remember every start, so `rescheduled` knows where one was
            self.record.starts_seen.setdefault(view.id, set()).add(view.start)
        return views

    @cached_property
    def created(self) -> list[AppointmentView]:
        """Appointments made during the scenario (not by `given`)."""
        return [view for view in self.appointments if view.id not in self.record.given_ids]

    @cached_property
    def callers_appointments(self) -> list[AppointmentView]:
        """The appointments of the caller: booked under the number they call from, or under the
        name they give (a caller may ring from the office about the booking on their mobile)."""
        phone, name = self.record.caller_phone, self.caller_name
        return [
            view
            for view in self.appointments
            if view.customer
            and (view.customer.phone == phone or (name and (view.customer.name or "").strip().lower() == name))
        ]

    @cached_property
    def tickets(self) -> list[TicketView]:
        return _all_pages(lambda request: list_tickets(self.uow, request))

    # -- the keys ---------------------------------------------------------------------------------

    def _check_appointment(self, wanted: AppointmentExpect) -> str | None:
        fields = wanted.model_dump(exclude_none=True)
        if any(self._matches(view, wanted) for view in self.created):
            return None
        made = "; ".join(_describe_appointment(view) for view in self.created) or "none"
        return f"appointment: none created matches {_describe_wanted(fields)} (created: {made})"

    @staticmethod
    def _matches(view: AppointmentView, wanted: AppointmentExpect) -> bool:
        name = view.customer.name if view.customer else None
        return (
            (wanted.service is None or _same(view.service, wanted.service))
            and (wanted.start is None or view.start == wanted.start)
            and (wanted.customer_name is None or _same(name, wanted.customer_name))
            and (wanted.staff is None or _same(view.staff, wanted.staff))
            and (wanted.status is None or _same(view.status, wanted.status))
        )

    def _check_rescheduled(self, wanted: RescheduledExpect) -> str | None:
        was_there = [view for view in self.callers_appointments if wanted.from_ in self.record.starts_seen[view.id]]
        if not was_there:
            return f"rescheduled: the caller had no appointment at {_when(wanted.from_)}"
        if any(view.start == wanted.to and view.status != "cancelled" for view in was_there):
            return None
        now = "; ".join(_describe_appointment(view) for view in was_there)
        return (
            f"rescheduled: the caller's appointment at {_when(wanted.from_)} is not at {_when(wanted.to)} (now: {now})"
        )

    def _check_cancelled(self, wanted: CancelledExpect) -> str | None:
        at_start = [view for view in self.callers_appointments if view.start == wanted.start]
        if not at_start:
            return f"cancelled: the caller has no appointment at {_when(wanted.start)}"
        if any(view.status == "cancelled" for view in at_start):
            return None
        return f"cancelled: the caller's appointment at {_when(wanted.start)} is still {at_start[0].status}"

    def _check_ticket(self, wanted: TicketExpect) -> str | None:
        if any(self._ticket_matches(ticket, wanted) for ticket in self.tickets):
            return None
        fields = wanted.model_dump(exclude_defaults=True)
        made = "; ".join(f"{t.subject!r} tags {t.tags}" for t in self.tickets) or "none"
        return f"ticket: none matches {_describe_wanted(fields)} (tickets: {made})"

    @staticmethod
    def _ticket_matches(ticket: TicketView, wanted: TicketExpect) -> bool:
        text = f"{ticket.subject}\n{ticket.description or ''}".lower()
        tags = {tag.lower() for tag in ticket.tags}
        return (
            (wanted.subject is None or _same(ticket.subject, wanted.subject))
            and all(tag.lower() in tags for tag in wanted.tags)
            and all(part.lower() in text for part in wanted.contains)
        )

    def _check_transferred(self, _wanted: bool) -> str | None:
        if self.record.transferred:
            return None
        calls = _all_pages(lambda request: list_calls(self.uow, request))
        outcomes = [call.outcome for call in calls]
        if "transferred" in outcomes or "message" in outcomes:  # a message taken when closed counts
            return None
        if self.during_call and any(CALLBACK_TAG in ticket.tags for ticket in self.tickets):
            # A call's outcome is written only when it ends, so while it lasts the message
            # taken for a callback is seen by its ticket; this only lets the caller say
            # goodbye, the verdict still needs the outcome.
            return None
        shown = ", ".join(str(outcome) for outcome in outcomes) or "none"
        return f"transferred: the call was not handed over and no message was taken (call outcome: {shown})"

    def _check_opted_out(self, _wanted: bool) -> str | None:
        if is_do_not_contact(self.uow, self.record.caller_phone):
            return None
        return "opted_out: the caller's number is not on the do-not-contact list"

    def _check_privacy_request(self, wanted: PrivacyRequestExpect) -> str | None:
        types = [r.type for r in _all_pages(lambda request: list_privacy_requests(self.uow, request))]
        if wanted.type in types:
            return None
        return f"privacy_request: no {wanted.type} request was recorded (recorded: {', '.join(types) or 'none'})"

    def _check_said(self, phrases: list[str]) -> str | None:
        missing = [phrase for phrase in phrases if not self._said(phrase)]
        if not missing:
            return None
        return "said: the agent never said " + ", ".join(repr(p) for p in missing)

    def _check_not_said(self, phrases: list[str]) -> str | None:
        for phrase in phrases:
            line = self._said(phrase)
            if line is not None:
                return f"not_said: the agent said {phrase!r}: {_quote(line)}"
        return None

    def _check_said_any(self, phrases: list[str]) -> str | None:
        if any(self._said(phrase) for phrase in phrases):
            return None
        return "said_any: the agent said none of " + ", ".join(repr(p) for p in phrases)

    def _check_no_appointment(self, _wanted: bool) -> str | None:
        if not self.created:
            return None
        return "no_appointment: one was created: " + "; ".join(_describe_appointment(v) for v in self.created)

    def _said(self, phrase: str) -> str | None:
        """The first thing the agent said that contains `phrase`, case-insensitively."""
        needle = _squash(phrase)
        return next((line for line in self.record.agent_lines if needle in _squash(line)), None)


_SPACES = re.compile(r"\s+")


def _squash(text: str) -> str:
    """Lowercase with runs of whitespace as one space, so line breaks do not hide a phrase."""
    return _SPACES.sub(" ", text.lower())
