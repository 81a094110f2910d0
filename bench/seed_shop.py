"""A busy shop's history, for the dashboard's benchmark, written as Sera itself writes it.

    .venv/bin/python bench/seed_shop.py [--customers 20000] [--calls 100000] [--messages 50000]
        [--days 120] [--seed 7]

Makes a Sera on SQLite in a temp directory, imports the demo shop (Northside Cycles) and
seeds it with ``--customers`` customers, ``--calls`` phone calls (a few with 40-turn
transcripts) and text conversations holding ``--messages`` texts, with the appointments,
tickets, checkouts, reminders and audit entries they lead to, over the last ``--days``
days. Prints how long that took and the files it made (``sera.env`` opens them:
``SERA_ENV_FILE=<dir>/sera.env``), then reads the shop back through the read API's
service functions. Other bench scripts import ``bench_shop``, ``seed`` and ``check``.

Rows are built in bulk (``CHUNK`` at a time, one transaction each) in the shapes of the
services that write them, personal data sealed by the vault under each customer's own key
and blind indexes set:

- customers: ``sera.customers.service.create_customer`` (their keys made in batches by
  ``KeyStore.create_customer_keys``);
- a phone call: ``Agent.start``/``reply`` over ``sera.adapters.twilio.voice`` and its end
  (``call_ended``): the call (``start_call``, ``end_call``), its transcript
  (``save_transcript``), the conversation and its state, the copies at Twilio
  (``note_copy``: the call and its recording, ``attach_recording``), the ``call-ended``
  receipt and the day's usage;
- a text conversation: ``sera.adapters.twilio.sms.receive_sms``: each text and the replies
  (``record_message``, its copy and receipt), the thread's call record, transcript and
  conversation (a texter's latest only: ``Agent._retire`` deletes the one before), closed by
  the idle sweep (``sera.agent.idle``); the HELP and STOP keywords;
- what the agent's tools do: ``book_appointment`` at a free slot that
  ``sera.booking.slots.find_slots`` finds, ``cancel_appointment``, ``create_ticket`` with
  the owner's mail (``notify``, ``queue_mail``, then sent); an objection is
  ``add_do_not_contact`` itself, called in the chunk's transaction;
- checkouts: ``record_checkout`` and ``complete_checkout``, with the consent they carry;
- texts the shop's outbound settings send: confirmations (``record_confirmation``),
  reminders and recovery texts (``sera.outbound.planning``), sent as
  ``sera.outbound.service`` sends them, or skipped for the reasons its drafts give;
- the audit log: entries chained after the shop's own (``sera.audit.record``, hashed by
  ``entry_hash``): the reads of the shop's CRM through the API, the daily retention sweep,
  the idle sweep;
- usage: ``record_usage`` itself, once per day and metric.

Not seeded: orders, feedback, unanswered questions, privacy requests, webhook deliveries.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from itertools import accumulate
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sera import audit  # noqa: E402
from sera.adapters.twilio.sms import help_text  # noqa: E402
from sera.agent.context import ShopProfile, load_shop  # noqa: E402
from sera.agent.phrasing import say_day, say_money, say_time, say_when  # noqa: E402
from sera.agent.service import IDLE, main_outcome  # noqa: E402
from sera.billing.usage import billed_minutes, record_usage  # noqa: E402
from sera.booking.service import list_appointments  # noqa: E402
from sera.booking.slots import Booking, ServiceSpec, find_slots  # noqa: E402
from sera.bootstrap import Sera, bootstrap  # noqa: E402
from sera.calls.messages import sms_segments  # noqa: E402
from sera.calls.service import get_call, list_calls  # noqa: E402
from sera.config import Settings, new_key_text  # noqa: E402
from sera.customers.service import add_do_not_contact, get_customer, list_customers  # noqa: E402
from sera.merchants.service import import_shop  # noqa: E402
from sera.merchants.shop_file import load_shop_file  # noqa: E402
from sera.notifications.service import OWNER  # noqa: E402
from sera.outbound.confirmations import BOOKED, CANCELLED, confirmation_key  # noqa: E402
from sera.outbound.drafts import OPT_OUT, RECOVERY, REMINDER, recovery_key, reminder_key  # noqa: E402
from sera.outbound.rules import next_allowed  # noqa: E402
from sera.outbound.settings import ShopOutbound  # noqa: E402
from sera.privacy.copies import DATA_CLASS  # noqa: E402
from sera.privacy.retention import merchant_retention_days  # noqa: E402
from sera.storage.database import UnitOfWork  # noqa: E402
from sera.storage.models import (  # noqa: E402
    ApiKey,
    AuditEntry,
    AuditHead,
    Base,
    Call,
    Checkout,
    Consent,
    Conversation,
    Customer,
    KnowledgeEntry,
    MailMessage,
    Merchant,
    MerchantPhoneNumber,
    Message,
    Notification,
    OutboundAction,
    Product,
    ProviderCopy,
    Ticket,
    Transcript,
    WebhookReceipt,
    new_id,
)
from sera.storage.models import Appointment as AppointmentRow  # noqa: E402
from sera.storage.paging import PageRequest  # noqa: E402
from sera.support.service import list_tickets  # noqa: E402

SHOP_FILE = ROOT / "src" / "sera" / "merchants" / "demo-shop.yaml"
NOW = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Chicago: the seeded history ends here
CHUNK = 2000  # rows per INSERT, and conversations per transaction
LONG_TURNS = 40  # the longest calls: the greeting and 40 exchanges, 81 lines
LONG_SHARE = 0.005
KNOWN_SHARE = 0.75  # of calls and texts, from a customer's number
PROVIDER = "twilio"

# When people call, by the shop's local hour (the agent answers around the clock).
HOUR_CUMULATIVE = list(accumulate((1, 1, 1, 1, 1, 2, 4, 8, 14, 20, 22, 22, 20, 20, 21, 21, 19, 16, 12, 9, 7, 5, 3, 2)))
VOICE_TURNS = ((1, 2, 3, 4, 5, 6, 8, 10, 14, 20), (10, 18, 20, 16, 12, 8, 6, 4, 3, 1))
TEXT_TURNS = ((1, 2, 3, 4, 5, 6, 8, 12, 20), (25, 25, 18, 10, 7, 5, 5, 3, 2))
# What a conversation ends with, besides bookings and cancellations (decided from the calendar).
OUTCOMES = {
    ("voice", True): {
        "knowledge": 30,
        "order_status": 14,
        "abandoned": 16,
        "transferred": 9,
        "message": 6,
        "ticket": 4,
    },
    ("voice", False): {"knowledge": 35, "order_status": 15, "abandoned": 25, "transferred": 10},
    ("sms", True): {"knowledge": 30, "order_status": 15, "abandoned": 25, "message": 5, "ticket": 4},
    ("sms", False): {"knowledge": 40, "order_status": 20, "abandoned": 40},
}
CANCEL_SHARE = 0.25  # of a customer's conversations while they have an appointment ahead
OPT_OUT_SHARE = 0.003  # of customers, who ask not to be contacted again
CONSENT_STATED = 0.6  # of a shopper's first checkout: it says whether they agree to texts
CHECKOUT_DAYS = 90  # abandoned checkouts are kept this long (the demo shop's retention)

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "Lucas", "Mia", "Mateo",
    "Amelia", "Ethan", "Harper", "Aiden", "Evelyn", "Jackson", "Abigail", "Daniel", "Priyanka", "Wei", "Fatima",
    "Diego", "Aisha", "Kenji", "Sofia", "Omar", "Grace", "Hiro", "Zara", "Malik", "Nora", "Ivan", "Leila",
    "Tomasz", "Chloe", "Samuel", "Maya", "Andre",
)  # fmt: skip
LAST_NAMES = (
    "Garcia", "Kowalski", "Nguyen", "Okafor", "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson",
    "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nowak",
)  # fmt: skip
AREA_CODES = ("312", "773", "872", "708", "847", "630")  # customers' numbers
STRANGER_AREA_CODES = ("224", "331", "779", "815")  # callers who are no customer
MAIL_DOMAINS = ("example.com", "example.net", "example.org")


class _Step(NamedTuple):
    """One exchange: what the caller says, the agent's answer, and the tool it ran for it (as
    ``ToolRegistry.run`` notes it in the conversation's state: its outcome, or waiting for a yes)."""

    caller: str
    agent: str
    tool: str | None = None
    outcome: str | None = None
    waiting: bool = False


# What callers say and the agent answers, per outcome; {placeholders} are filled per conversation.
BOOKING = (
    _Step(
        "Hi, I'd like to book a {service_l}",
        "What day would you like to come in for the {service}?",
        "check_availability",
    ),
    _Step(
        "{day} around {hour} if you can",
        "Shall I book a {service} on {when} for {name}?",
        "book_appointment",
        waiting=True,
    ),
    _Step(
        "yes please",
        "You're booked for a {service} with {staff} on {when}. Is there anything else I can help with?",
        "book_appointment",
        "booked",
    ),
)
CANCELLING = (
    _Step(
        "I need to cancel my {service_l}",
        "You have a {service} on {when}. Shall I cancel it?",
        "cancel_appointment",
        waiting=True,
    ),
    _Step(
        "yes, cancel it please",
        "Your {service} on {when} is cancelled. Is there anything else I can help with?",
        "cancel_appointment",
        "cancelled",
    ),
)
ORDER = (
    _Step(
        "can you check on my order {order}",
        "Order {order} is on its way with UPS and should arrive on {arrives}.",
        "lookup_order",
        "order_status",
    ),
)
ABANDONED = (_Step("uh hi, I was wondering", "Sure, what can I help you with?"),)
TRANSFER = (
    _Step(
        "can I talk to someone in the shop please", "Connecting you to the team now.", "transfer_call", "transferred"
    ),
)
AFTER_HOURS = (
    _Step(
        "can I talk to a person please",
        "The team isn't available right now, so I've taken a message and someone will call you back. "
        "We open again {reopens}.",
        "transfer_call",
        "message",
    ),
)
MESSAGE = (
    _Step("could you ask {staff} to call me back", "Sure. What message should I pass on?"),
    _Step(
        "{message}",
        "Thanks, I've passed your message to the team and they'll call you back.",
        "take_message",
        "message",
    ),
)
OPTED_OUT = (
    _Step(
        "please stop calling and texting me",
        "Done. {shop} won't call or text this number again.",
        "opt_out",
        "opted_out",
    ),
)
CLOSING = _Step("no, that's all, thanks", "Thanks for contacting {shop}. Goodbye!")
TOOLS_KEPT = 40  # the tool runs a conversation's state keeps (sera.agent.tools)
TOOL_RESULT_CHARS = 300
MESSAGES = (
    "I want to know if my bike is ready to pick up",
    "I left my lights on the bike when I dropped it off",
    "my fitting notes didn't come through by email",
    "I'd like a quote for new wheels before the service",
    "can the shop order a 54cm frame in green",
)
# (what the caller says, what they add, subject, description, tags): tickets and the demo shop's workflows
PROBLEMS = (
    ("my rear wheel has a wobble since I picked it up", "it's the bike I had serviced last week",
     "Wobbly rear wheel", "Rear wheel wobbles since pickup after a service; wants it checked.", ["support"]),
    ("the {product} I ordered arrived scratched", "there's a long scratch on the side",
     "Damaged on arrival", "{product} arrived with a long scratch; wants a replacement.", ["support", "shipping"]),
    ("my brakes are squealing after the service", "it started the day after",
     "Brakes squeal after service", "Brakes squeal since the day after the brake service.", ["support"]),
    ("I was charged twice for my order", "both charges are on my card statement",
     "Charged twice", "Two charges on the card statement for one order.", ["billing"]),
    ("I want to sign up for the saturday group ride", "put me in the intermediate group",
     "Group ride signup", "Rider: {name}; pace group: intermediate.", ["group-ride"]),
    ("I'd like to trade in my old bike", "it's a 2018 Trek FX 3",
     "Trade-in quote", "Bike: 2018 Trek FX 3; call back on {phone}.", ["trade-in"]),
)  # fmt: skip
ZERO_SWEEP = (  # what the daily retention sweep reports (sweep_merchant): nothing is old enough yet
    "recordings", "transcripts", "messages", "conversations", "unanswered_questions", "feedback", "calls",
    "usage_records", "abandoned_checkouts", "audit_entries", "provider_copies", "provider_copy_records",
)  # fmt: skip
API_READS = ("call", "call", "customer", "appointment", "ticket")  # what the shop's CRM polls


def _outcomes(steps: list[_Step]) -> list[str]:
    """What the conversation's tools achieved, in order: its call's outcome is the weightiest."""
    return [step.outcome for step in steps if step.outcome]


def _literal(text: str) -> str:
    """Text that goes through ``str.format`` unchanged."""
    return text.replace("{", "{{").replace("}", "}}")


class SeedCheckError(AssertionError):
    """The seeded shop does not read back as it should."""


@dataclass(frozen=True)
class SeedSummary:
    """What was seeded, and records worth opening: the bench times the pages that show them."""

    merchant_id: str
    now: datetime  # the history ends here (the Sera's clock when seeding)
    since: datetime
    counts: dict[str, int]  # rows seeded, by what they are
    busy_customer_id: str  # the customer with the most calls
    busy_customer_calls: int
    long_call_id: str  # a call with a 40-turn transcript
    text_call_id: str  # the call record of the longest text conversation (or a call, with no texts)
    upcoming_appointment_id: str | None
    ticket_id: str | None
    abandoned_checkout_id: str | None


@dataclass(eq=False)
class _Appointment:
    id: str
    person: _Person
    service: ServiceSpec
    staff: str  # the staff member's name ("" when the shop names none)
    slot: Booking  # as load_bookings sees it: staff id, start, busy until
    end: datetime
    source: str
    booked_at: datetime
    call_id: str | None = None  # the call the agent booked it on
    cancelled_at: datetime | None = None


@dataclass(eq=False)
class _Person:
    id: str
    name: str | None
    phone: str | None
    email: str | None
    created_at: datetime
    source: str | None  # where their details came from (None: a checkout's shopper)
    listed_at: datetime | None = None  # when they asked not to be contacted
    consent: bool | None = None  # their latest answer to marketing texts, from a checkout
    calls: int = 0
    appointments: list[_Appointment] = field(default_factory=list)

    @property
    def first(self) -> str | None:
        return self.name.split()[0] if self.name else None


@dataclass(eq=False)
class _Plan:
    """One conversation to seed: a call, a text thread, or a keyword text (``help``, ``stop``)."""

    at: datetime
    channel: str
    person: _Person | None
    phone: str
    turns: int
    outcome: str | None = None  # decided ahead for an opt-out, else while seeding
    latest: bool = True  # a texter's latest thread keeps its conversation row


@dataclass(frozen=True)
class _TicketSpec:
    subject: str
    description: str
    tags: list[str]
    event: str  # the owner's notification: ticket_created | message_taken | person_requested


@dataclass
class _Talk:
    """What a conversation is for and how it goes, before it has times."""

    script: list[_Step]
    closing: bool = True  # it ends with goodbye (not a transfer or a hang-up)
    ticket: _TicketSpec | None = None
    booked: _Appointment | None = None
    cancelled: _Appointment | None = None


class _Row(SimpleNamespace):
    """A row of ``model`` built as its service builds it, without the ORM's bookkeeping (most of
    the cost of a model instance here). The vault seals it as it seals a model row: under its
    customer's key (its merchant's without one), bound to table, column and row id."""

    def __init__(self, model: type[Base], **values: Any) -> None:
        super().__init__(__tablename__=model.__tablename__, **values)
        self.model = model


class _Rows:
    """Rows waiting to be inserted, per table, in an order their foreign keys allow."""

    ORDER: tuple[type[Base], ...] = (
        Customer, ApiKey, Call, Transcript, Conversation, Message, AppointmentRow, Ticket, Notification, MailMessage,
        Checkout, Consent, OutboundAction, ProviderCopy, WebhookReceipt,
    )  # fmt: skip

    def __init__(self) -> None:
        self.pending: dict[str, list[dict[str, Any]]] = {}

    def add(self, row: Base | _Row) -> None:
        """A row built (and sealed) as its service builds it; columns it leaves unset are empty."""
        table = cast(Table, (row.model if isinstance(row, _Row) else type(row)).__table__)
        self.pending.setdefault(table.name, []).append({c.name: getattr(row, c.key, None) for c in table.columns})

    def values(self, model: type[Base], **values: Any) -> None:
        """A row without sealed data, every column named (None where the service leaves it empty)."""
        table = cast(Table, model.__table__)
        unknown = set(values) - set(table.columns.keys())
        if unknown:
            raise ValueError(f"{table.name} has no {sorted(unknown)}")
        self.pending.setdefault(table.name, []).append({c.name: values.get(c.name) for c in table.columns})

    def insert(self, uow: UnitOfWork) -> None:
        connection = uow.session.connection()
        for model in self.ORDER:
            table = cast(Table, model.__table__)
            rows = self.pending.pop(table.name, [])
            for start in range(0, len(rows), CHUNK):
                connection.execute(table.insert(), rows[start : start + CHUNK])
        if self.pending:
            raise RuntimeError(f"no insert order for {sorted(self.pending)}")


class _Seeder:
    def __init__(self, sera: Sera, merchant_id: str, *, days: int, rng: random.Random) -> None:
        self.sera, self.merchant_id, self.rng = sera, merchant_id, rng
        self.vault = sera.vault
        self.now = sera.clock().astimezone(UTC)
        self.since = self.now - timedelta(days=days)
        with sera.uow(merchant_id, readonly=True) as uow:
            self.shop: ShopProfile = load_shop(uow)
            merchant = uow.session.execute(select(Merchant).where(Merchant.id == merchant_id)).scalar_one()
            self.outbound = ShopOutbound.parse(merchant.settings)
            self.email = merchant.email
            number = uow.session.execute(select(MerchantPhoneNumber.number).order_by(MerchantPhoneNumber.number))
            self.number = number.scalars().first() or "+13125550100"
            products = uow.session.execute(select(Product).order_by(Product.position)).scalars().all()
            self.products = [(p.title, p.price_cents or 0, p.description or "", p.in_stock) for p in products]
            faq = uow.session.execute(select(KnowledgeEntry).where(KnowledgeEntry.kind == "faq")).scalars().all()
            self.faq = [(f.title, f.body) for f in faq]
        self.zone = self.shop.zone
        self.services = list(self.shop.schedule.services.values())
        self.staff_names = [s.name for s in self.shop.schedule.staff if s.name] or ["the team"]
        self.sms_idle = sera.settings.idle_timeout("sms")
        self.account = f"AC{rng.getrandbits(128):032x}"  # the Twilio account the recordings are in
        self.rows = _Rows()
        self.people: list[_Person] = []
        self.callers: list[_Person] = []
        self.caller_weights: list[float] = []
        self.bookings: dict[date, list[Booking]] = {}  # booked slots by local day, as load_bookings finds them
        self.appointments: list[_Appointment] = []
        self.usage: Counter[tuple[date, str]] = Counter()
        self.events: list[tuple[datetime, str, str, str | None, str | None, dict[str, Any], str | None]] = []
        self.tally: Counter[str] = Counter()
        self.objections: list[tuple[str, str, datetime]] = []  # numbers to list: phone, source, when
        self.fillers = self._fillers()
        self.long_call_id = ""
        self.text_call: tuple[int, str] = (0, "")
        self.ticket_id: str | None = None
        self.p_book = 0.0

    # -- time ------------------------------------------------------------------------------
    def moment(self, after: datetime, before: datetime | None = None) -> datetime:
        """A moment in [after, before) (``before``: now), at the hours people contact a shop."""
        before = before or self.now
        if after >= before:
            return before - timedelta(seconds=1)
        first, last = after.astimezone(self.zone).date(), before.astimezone(self.zone).date()
        for _ in range(8):
            day = first + timedelta(days=self.rng.randint(0, (last - first).days))
            hour = self.rng.choices(range(24), cum_weights=HOUR_CUMULATIVE)[0]
            local = datetime(day.year, day.month, day.day, hour, self.rng.randrange(60), self.rng.randrange(60))
            moment = local.replace(tzinfo=self.zone).astimezone(UTC)
            if after <= moment < before:
                return moment
        return after + (before - after) * self.rng.random()

    def sid(self, prefix: str) -> str:
        return f"{prefix}{self.rng.getrandbits(128):032x}"

    # -- customers -------------------------------------------------------------------------
    def add_customers(self, count: int) -> None:
        """Customers as ``create_customer`` makes them (fields sealed under their new key, blind
        indexes, where each field came from); the first few are regulars, there from the start."""
        regulars = max(1, count // 100)
        for start in range(0, count, CHUNK):
            people = [self._person(i, regulars) for i in range(start, min(start + CHUNK, count))]
            self.sera.keystore.create_customer_keys(self.merchant_id, [p.id for p in people])
            for person in people:
                self._customer_row(person)
            self._commit()
            self.people += people
        self.callers = [p for p in self.people if p.phone]
        # a few callers call often, most rarely: the regulars first
        self.caller_weights = list(accumulate(1 / (rank + 1) ** 0.75 for rank in range(len(self.callers))))

    def _person(self, i: int, regulars: int) -> _Person:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        source = rng.choices(("agent:voice", "agent:sms", None), (60, 15, 25))[0]
        area, rest = AREA_CODES[i % len(AREA_CODES)], i // len(AREA_CODES)
        # before any conversation of theirs: one seeded near now may be moved back a few hours to fit
        latest = self.now - timedelta(hours=6)
        created = self.since + timedelta(days=3) * rng.random() if i < regulars else self.moment(self.since, latest)
        email = f"{first}.{last}.{i}@{MAIL_DOMAINS[i % 3]}".lower()
        return _Person(
            id=new_id("cus"),
            name=None if source and rng.random() < 0.08 else f"{first} {last}",  # a caller who never said
            phone=f"+1{area}{200 + rest // 10_000}{rest % 10_000:04d}" if source or rng.random() < 0.85 else None,
            email=email if source is None or rng.random() < 0.3 else None,
            created_at=created,
            source=source,
        )

    def _customer_row(self, person: _Person) -> None:
        row = Customer(
            id=person.id,
            merchant_id=self.merchant_id,
            created_at=person.created_at,
            updated_at=person.created_at,
        )
        self.vault.seal(row, name=person.name, phone=person.phone, email=person.email)
        row.phone_bidx = self.vault.phone_index(self.merchant_id, person.phone) if person.phone else None
        row.email_bidx = self.vault.email_index(self.merchant_id, person.email) if person.email else None
        if person.source is not None:
            fields = {"name": person.name, "phone": person.phone, "email": person.email}
            row.sources = {name: person.source for name, value in fields.items() if value}
        else:  # a checkout's shopper: record_checkout names no source, the store its own id
            row.external_id = str(7_000_000_000_000 + self.rng.randrange(10**12))
        self.rows.add(row)

    # -- planning --------------------------------------------------------------------------
    def plan(self, calls: int, messages: int) -> list[_Plan]:
        """Every conversation with its time and who it is with, oldest first: ``calls`` calls and
        text threads holding exactly ``messages`` texts."""
        plans: list[_Plan] = []
        opt_outs = max(1, round(len(self.callers) * OPT_OUT_SHARE))
        for objector in self.rng.sample(self.callers, min(opt_outs, len(self.callers))):
            by_text = messages > 0 and (self.rng.random() < 0.4 or len(plans) >= calls - 1)
            if not by_text and len(plans) >= calls - 1:
                break  # one call is left for the long one
            objector.listed_at = self.moment(objector.created_at)
            channel = "stop" if by_text else "voice"
            plans.append(_Plan(objector.listed_at, channel, objector, str(objector.phone), 1, outcome="opted_out"))
            messages -= 1 if by_text else 0
        voice = len([p for p in plans if p.channel == "voice"])
        for i in range(calls - voice):
            person = self._someone(known=i == 0 or self.rng.random() < KNOWN_SHARE)
            turns = LONG_TURNS if i == 0 or self.rng.random() < LONG_SHARE else self._turns(VOICE_TURNS)
            plans.append(self._plan_for(person, "voice", turns))
        while messages > 0:
            roll = self.rng.random()
            person = self._someone(known=self.rng.random() < KNOWN_SHARE)
            if messages < 3 or roll < 0.004:  # a keyword: HELP is answered, STOP is not
                channel = "help" if messages >= 2 and (messages == 2 or roll < 0.002) else "stop"
                # planned opt-outs aside, a STOP comes from a stranger (a customer's would change what they get)
                plans.append(self._plan_for(person if channel == "help" else None, channel, 1))
                messages -= 2 if channel == "help" else 1
                continue
            turns = min(self._turns(TEXT_TURNS), (messages - 1) // 2)
            plans.append(self._plan_for(person, "sms", turns))
            messages -= 2 * turns + 1  # each text answered, and the greeting
        plans.sort(key=lambda p: p.at)
        texters: set[str] = set()
        for plan in reversed(plans):
            if plan.channel == "sms":
                plan.latest = plan.phone not in texters
                texters.add(plan.phone)
        self._book_at_capacity(sum(1 for p in plans if p.person and p.channel in ("voice", "sms")))
        return plans

    def _someone(self, *, known: bool) -> _Person | None:
        if not known or not self.callers:
            return None
        return self.rng.choices(self.callers, cum_weights=self.caller_weights)[0]

    def _plan_for(self, person: _Person | None, channel: str, turns: int) -> _Plan:
        at = self.moment(person.created_at if person else self.since)
        if person is not None and person.listed_at is not None and at >= person.listed_at and channel != "voice":
            person = None  # a listed number's texts are never answered: a stranger's thread instead
        if person is None:
            area = self.rng.choice(STRANGER_AREA_CODES)
            phone = f"+1{area}{self.rng.randrange(200, 1000)}{self.rng.randrange(10_000):04d}"
            return _Plan(at, channel, None, phone, turns)
        return _Plan(at, channel, person, str(person.phone), turns)

    def _turns(self, table: tuple[tuple[int, ...], tuple[int, ...]]) -> int:
        return self.rng.choices(table[0], table[1])[0]

    def _book_at_capacity(self, known_conversations: int) -> None:
        """How often a conversation books: enough to fill about half the shop's calendar."""
        hours = self.shop.schedule.calendar.hours
        open_minutes = sum(
            (r.end.hour * 60 + r.end.minute) - (r.start.hour * 60 + r.start.minute)
            for ranges in hours.values()
            for r in ranges
        )
        mean = sum(s.duration_min + s.buffer_min for s in self.services) / max(1, len(self.services))
        weekly = open_minutes * max(1, len(self.shop.schedule.staff)) / max(1.0, mean)
        days = (self.now - self.since).days
        self.p_book = min(0.12, 0.5 * weekly * days / 7 / max(1, known_conversations))

    # -- conversations -----------------------------------------------------------------------
    def converse(self, plans: list[_Plan]) -> None:
        for start in range(0, len(plans), CHUNK):
            chunk = plans[start : start + CHUNK]
            self.vault.prefetch(self.merchant_id, [p.person.id for p in chunk if p.person])
            for plan in chunk:
                if plan.channel == "voice":
                    self._call(plan)
                elif plan.channel == "sms":
                    self._thread(plan)
                else:
                    self._keyword(plan)
            self._commit()

    def _talk(self, plan: _Plan, room: int | None) -> _Talk:
        """What the conversation is for; ``room``: how many exchanges a text thread has."""
        person, rng = plan.person, self.rng
        if plan.outcome == "opted_out":
            return _Talk(list(OPTED_OUT))
        if person is not None and (room is None or room >= len(CANCELLING)):
            ahead = [a for a in person.appointments if a.cancelled_at is None and a.slot.start > plan.at]
            if ahead and rng.random() < CANCEL_SHARE:
                return _Talk(list(CANCELLING), cancelled=ahead[0])
        if person is not None and (room is None or room >= len(BOOKING)) and rng.random() < self.p_book:
            appointment = self._book(person, plan)
            if appointment is not None:
                return _Talk(list(BOOKING), booked=appointment)
        weights = OUTCOMES[("sms" if plan.channel == "sms" else "voice", person is not None)]
        outcome = rng.choices(list(weights), list(weights.values()))[0]
        if outcome in ("message", "ticket") and room is not None and room < 2:
            outcome = "knowledge"
        if outcome == "transferred" and not self.shop.is_open(plan.at):
            if person is None:
                outcome = "knowledge"
            else:
                spec = _TicketSpec(
                    "Callback request", "Caller asked to speak to a person", ["callback"], "person_requested"
                )
                return _Talk(list(AFTER_HOURS), ticket=spec)
        if outcome == "transferred":
            return _Talk(list(TRANSFER), closing=False)
        if outcome == "message":
            message = rng.choice(MESSAGES)
            name = person.name if person else None
            lines = [f"From: {name or 'not given'}", f"Call back on: {plan.phone}", "", message]
            spec = _TicketSpec("Message for the team", "\n".join(lines), ["callback"], "message_taken")
            return _Talk([MESSAGE[0], MESSAGE[1]._replace(caller=_literal(message))], ticket=spec)
        if outcome == "ticket":
            said, more, subject, description, tags = rng.choice(PROBLEMS)
            product = rng.choice(self.products)[0] if self.products else "bike"
            values = {"product": product, "name": (person.name if person else None) or "not given", "phone": plan.phone}
            spec = _TicketSpec(subject, description.format(**values), list(tags), "ticket_created")
            script = [
                _Step(_literal(said.format(**values)), "I'm sorry to hear that. Can you tell me a bit more?"),
                _Step(
                    _literal(more), "I've passed that to the team; they'll get back to you.", "create_ticket", "ticket"
                ),
            ]
            return _Talk(script, ticket=spec)
        if outcome == "order_status":
            return _Talk(list(ORDER))
        if outcome == "abandoned":
            return _Talk(list(ABANDONED), closing=False)
        return _Talk([rng.choice(self.fillers)])

    def _book(self, person: _Person, plan: _Plan) -> _Appointment | None:
        """A free slot as the agent offers them (``find_slots`` over the bookings so far), booked."""
        rng, schedule = self.rng, self.shop.schedule
        service = rng.choice(self.services)
        # the agent offers times from now; a text thread books later on (its texts hours apart, at most)
        not_before = plan.at + timedelta(hours=6 if plan.channel == "sms" else 1)
        lead = timedelta(days=rng.choice((0, 1, 1, 2, 2, 3, 4, 5, 7, 10)))
        for window in ((lead, lead + timedelta(days=4)), (lead + timedelta(days=4), lead + timedelta(days=14))):
            start, end = plan.at + window[0], plan.at + window[1]
            slots = find_slots(
                schedule.calendar,
                service,
                schedule.staff,
                self._booked_between(start - timedelta(days=1), end + timedelta(days=1)),
                window_start=start,
                window_end=end,
                not_before=not_before,
                limit=8,
            )
            if slots:
                slot = rng.choice(slots)
                begins, ends = slot.start.astimezone(UTC), slot.end.astimezone(UTC)
                busy = Booking(slot.staff_id, begins, ends + timedelta(minutes=service.buffer_min))
                self.bookings.setdefault(begins.astimezone(self.zone).date(), []).append(busy)
                source = "sms" if plan.channel == "sms" else "voice"
                appointment = _Appointment(new_id("apt"), person, service, slot.staff_name, busy, ends, source, plan.at)
                person.appointments.append(appointment)
                self.appointments.append(appointment)
                return appointment
        return None

    def _booked_between(self, start: datetime, end: datetime) -> list[Booking]:
        first, last = start.astimezone(self.zone).date(), end.astimezone(self.zone).date()
        found: list[Booking] = []
        for offset in range((last - first).days + 1):
            found += self.bookings.get(first + timedelta(days=offset), [])
        return found

    def _exchanges(self, plan: _Plan, talk: _Talk, turns: int) -> tuple[list[_Step], int]:
        """The conversation's exchanges, filled in (questions first, then what it was for), and
        which of them its purpose was achieved in."""
        person, rng = plan.person, self.rng
        closing = talk.closing and plan.channel == "voice"  # a text thread just goes quiet
        fillers = max(0, turns - len(talk.script) - (1 if closing else 0))
        script = talk.script
        if script == list(ABANDONED) and fillers:
            if plan.channel == "voice" and turns != LONG_TURNS:
                fillers = 0  # a caller who hangs up does so early
            else:
                fillers, script = fillers + 1, []  # they asked their questions and left without goodbye
        steps = [rng.choice(self.fillers) for _ in range(fillers)] + script
        resolved = len(steps) - 1
        if closing:
            steps.append(CLOSING)
        appointment = talk.booked or talk.cancelled
        start = appointment.slot.start.astimezone(self.zone) if appointment else plan.at.astimezone(self.zone)
        values = {
            "shop": self.shop.name,
            "name": (person.name if person else None) or "you",
            "service": appointment.service.name if appointment else "",
            "service_l": appointment.service.name.lower() if appointment else "",
            "staff": (appointment.staff if appointment else None) or rng.choice(self.staff_names),
            "when": say_when(start),
            "day": say_day(start.date()),
            "hour": say_time(start),
            "order": str(1000 + rng.randrange(9000)),
            "arrives": say_day((plan.at + timedelta(days=rng.randint(1, 5))).astimezone(self.zone).date()),
            "reopens": self._reopens(plan.at) if talk.script == list(AFTER_HOURS) else "",
        }
        return [
            step._replace(caller=step.caller.format(**values), agent=step.agent.format(**values)) for step in steps
        ], resolved

    def _reopens(self, at: datetime) -> str:
        local = at.astimezone(self.zone)
        for offset in range(15):
            day = local.date() + timedelta(days=offset)
            for opens, _ in self.shop.opening_hours(day):
                moment = datetime.combine(day, opens, tzinfo=self.zone)
                if moment > local:
                    return say_when(moment, local.date())
        return "soon"

    def _fillers(self) -> list[_Step]:
        """Questions any caller may ask, answered from the shop's own catalogue and FAQ."""
        found = [(f"hi, {q[0].lower()}{q[1:]}", a) for q, a in self.faq]
        for title, price, description, in_stock in self.products:
            stock = "It's in stock." if in_stock else "It's currently out of stock."
            found.append((f"do you have the {title} in stock", f"{title}: {description} {stock}"))
            found.append((f"how much is the {title}", f"The {title} is {say_money(price, self.shop.currency)}."))
        for service in self.shop.services:
            costs = say_money(service.price_cents, self.shop.currency)
            answer = f"A {service.name} costs {costs} and takes about {service.duration_min} minutes."
            found.append((f"how much is a {service.name.lower()}", f"{answer} {service.description or ''}".strip()))
        found = found or [("do you repair bikes", "Yes, we do.")]
        return [_Step(_literal(caller), _literal(agent), "search_knowledge", "knowledge") for caller, agent in found]

    def _greeting(self, plan: _Plan) -> str:
        agent, first = self.shop.agent, plan.person.first if plan.person else None
        if plan.channel == "sms":
            who = f"Hi {first}" if first else "Hi"
            default = f"{who}, this is {self.shop.agent_name} at {self.shop.name}. How can I help?"
            return str(agent.get("greeting_sms") or default).replace("{customer_first_name}", first or "there")
        if first and agent.get("greeting_known_caller"):
            return str(agent["greeting_known_caller"]).replace("{customer_first_name}", first)
        default = f"Thanks for contacting {self.shop.name}, this is {self.shop.agent_name}. How can I help?"
        return str(agent.get("greeting") or default)

    def _state(
        self, plan: _Plan, talk: _Talk, steps: list[_Step], times: list[datetime], resolved: int, turn_id: str | None
    ) -> str:
        """The conversation's remembered state, as the agent keeps it (``_keep``, ``_save``, and
        ``ToolRegistry.run``'s outcomes and tool runs)."""
        said = [step.caller for step in steps]
        actions: list[dict[str, Any]] = []
        if talk.script == list(TRANSFER):
            actions = [{"kind": "transfer", "number": self.shop.handoff_number, "text": None}]
        elif talk.closing and plan.channel == "voice":
            actions = [{"kind": "hang_up", "number": None, "text": None}]
        used = [
            {
                "tool": step.tool,
                "at": at.isoformat(),
                "outcome": step.outcome,
                "waiting": step.waiting,
                "result": step.agent[:TOOL_RESULT_CHARS],
            }
            for step, at in zip(steps, times, strict=True)
            if step.tool
        ]
        state: dict[str, Any] = {
            "caller_phone": plan.phone,
            "last_reply": steps[-1].agent,
            "last_actions": actions,
            "caller_name": plan.person.name if plan.person else None,
            "last_turn_id": turn_id,
            "opening_lines": [line.strip()[:200] for line in said[:3]],
            "slots": {},
            "task_line": said[-1],
            "pending": None,
            "misses": 0,
            "outcomes": _outcomes(steps),
            "tools_used": used[-TOOLS_KEPT:],
        }
        if talk.booked is not None:  # the line that asked for the booking
            state["booked_line"] = said[resolved + 1 - len(talk.script)]
        return json.dumps(state)

    def _transcript(self, call_id: str, customer_id: str | None, lines: list[tuple[str, str]], at: datetime) -> None:
        row = _Row(
            Transcript,
            id=new_id("trn"),
            merchant_id=self.merchant_id,
            call_id=call_id,
            customer_id=customer_id,
            created_at=at,
        )
        self.vault.seal(row, content=json.dumps([{"role": role, "text": text} for role, text in lines]))
        self.rows.add(row)

    def _conversation(
        self, plan: _Plan, call_id: str, external_id: str, state: str, status: str, times: list[datetime]
    ) -> None:
        row = _Row(
            Conversation,
            id=new_id("cnv"),
            merchant_id=self.merchant_id,
            channel="sms" if plan.channel == "sms" else "voice",
            external_id=external_id,
            customer_id=plan.person.id if plan.person else None,
            call_id=call_id,
            status=status,
            created_at=times[0],
            updated_at=times[-1],
        )
        self.vault.seal(row, state=state)
        self.rows.add(row)

    def _copy(self, kind: str, provider_id: str, customer_id: str | None, record_id: str | None, at: datetime) -> None:
        self.rows.values(
            ProviderCopy,
            id=new_id("pcp"),
            merchant_id=self.merchant_id,
            provider=PROVIDER,
            kind=kind,
            provider_id=provider_id,
            data_class=DATA_CLASS[(PROVIDER, kind)],
            customer_id=customer_id,
            record_id=record_id,
            created_at=at,
            status="kept",
            attempts=0,
        )

    def _receipt(self, event_id: str, topic: str, at: datetime) -> None:
        self.rows.values(
            WebhookReceipt,
            id=new_id("whr"),
            provider=PROVIDER,
            event_id=event_id,
            merchant_id=self.merchant_id,
            topic=topic,
            received_at=at,
        )

    def _call(self, plan: _Plan) -> None:
        """A phone call from answer to the end Twilio reports, and what it did."""
        rng, person = self.rng, plan.person
        talk = self._talk(plan, None)
        steps, resolved = self._exchanges(plan, talk, plan.turns)
        offsets = list(accumulate(rng.uniform(6, 22) for _ in steps))  # seconds after the greeting
        talked = 5 + offsets[-1]
        transferred = talk.script == list(TRANSFER)
        duration = round(talked + rng.uniform(2, 6) + (rng.uniform(60, 400) if transferred else 0))
        at = min(plan.at, self.now - timedelta(seconds=duration + 60))
        times = [at + timedelta(seconds=5 + offset) for offset in offsets]
        ended = at + timedelta(seconds=duration)
        sid, customer_id = self.sid("CA"), person.id if person else None
        call = _Row(
            Call,
            id=new_id("call"),
            merchant_id=self.merchant_id,
            customer_id=customer_id,
            channel="voice",
            direction="inbound",
            provider=PROVIDER,
            provider_call_id=sid,
            started_at=at,
            ended_at=ended,
            duration_s=duration,
            outcome=main_outcome(_outcomes(steps)),
        )
        recording = self.sid("RE")
        recording_url = f"https://api.twilio.com/2010-04-01/Accounts/{self.account}/Recordings/{recording}"
        self.vault.seal(call, from_number=plan.phone, to_number=self.number, recording_url=recording_url, summary=None)
        self.rows.add(call)
        lines = [("agent", self._greeting(plan))]
        lines += [line for step in steps for line in (("caller", step.caller), ("agent", step.agent))]
        self._transcript(call.id, customer_id, lines, at)
        state = self._state(plan, talk, steps, times, resolved, None)
        self._conversation(plan, call.id, sid, state, "ended", [at, times[-1]])
        self._copy("call", sid, customer_id, call.id, at)
        self._copy("recording", recording, customer_id, call.id, ended + timedelta(seconds=rng.uniform(3, 30)))
        self._receipt(f"call-ended:{sid}", "voice.status", ended)
        day = at.astimezone(self.zone).date()
        self.usage[(day, "inbound_calls")] += 1
        self.usage[(day, "billed_minutes")] += billed_minutes(duration)
        self._achieved(plan, talk, call.id, "voice", times[resolved])
        self.tally["calls"] += 1
        if person is not None:
            person.calls += 1
        if plan.turns == LONG_TURNS and not self.long_call_id:
            self.long_call_id = call.id

    def _thread(self, plan: _Plan) -> None:
        """A text conversation: each text and the replies (sent back in TwiML, so their delivery is
        not tracked), the thread's call record, closed by the idle sweep once it went quiet."""
        rng, person = self.rng, plan.person
        talk = self._talk(plan, plan.turns)
        steps, resolved = self._exchanges(plan, talk, plan.turns)
        offsets = list(accumulate([0.0] + [rng.uniform(20, 900) for _ in steps[1:]]))
        at = min(plan.at, self.now - timedelta(seconds=offsets[-1] + 60))
        times = [at + timedelta(seconds=offset) for offset in offsets]
        customer_id = person.id if person else None
        external_id = f"{self.number}:{self.vault.phone_index(self.merchant_id, plan.phone)}"
        over = times[-1] + self.sms_idle <= self.now
        call = _Row(
            Call,
            id=new_id("call"),
            merchant_id=self.merchant_id,
            customer_id=customer_id,
            channel="sms",
            direction="inbound",
            provider=PROVIDER,
            provider_call_id=f"{external_id}:{rng.getrandbits(32):08x}",
            started_at=at,
        )
        if over:  # closed by the idle sweep, at its last activity
            call.ended_at, call.ended_reason = times[-1], IDLE
            call.duration_s = round((times[-1] - at).total_seconds())
            call.outcome = main_outcome(_outcomes(steps))
            swept = times[-1] + self.sms_idle + timedelta(seconds=rng.uniform(0, 60))
            if swept <= self.now:
                details = {"closed": 1, "channels": {"sms": 1}}
                event = (swept, "system:idle-sweep", "conversations.closed_idle", "merchant", self.merchant_id)
                self.events.append((*event, details, None))
        self.vault.seal(call, from_number=plan.phone, to_number=self.number)
        self.rows.add(call)
        greeting = self._greeting(plan)
        lines = [("agent", greeting)]
        last_sid = None
        for i, (step, sent) in enumerate(zip(steps, times, strict=True)):
            last_sid = self.sid("SM")
            self._text(person, last_sid, step.caller, [greeting, step.agent] if i == 0 else [step.agent], call.id, sent)
            lines += [("caller", step.caller), ("agent", step.agent)]
        self._transcript(call.id, customer_id, lines, at)
        if plan.latest:
            state = self._state(plan, talk, steps, times, resolved, last_sid)
            self._conversation(plan, call.id, external_id, state, "ended" if over else "active", times)
        self._achieved(plan, talk, call.id, "sms", times[resolved])
        self.tally["text_conversations"] += 1
        if len(steps) > self.text_call[0]:
            self.text_call = (len(steps), call.id)

    def _text(
        self, person: _Person | None, sid: str, body: str, replies: list[str], call_id: str | None, at: datetime
    ) -> None:
        """``_record_exchange``: the text, its copy and receipt, Sera's replies, the day's segments."""
        customer_id = person.id if person else None
        day = at.astimezone(self.zone).date()
        inbound = _Row(
            Message,
            id=new_id("msg"),
            merchant_id=self.merchant_id,
            customer_id=customer_id,
            call_id=call_id,
            direction="inbound",
            provider=PROVIDER,
            provider_message_id=sid,
            status="received",
            segments=sms_segments(body),
            created_at=at,
        )
        self.vault.seal(inbound, body=body)
        self.rows.add(inbound)
        self._copy("message", sid, customer_id, inbound.id, at)
        self._receipt(f"sms:{sid}", "sms.inbound", at)
        self.usage[(day, "sms_segments_inbound")] += inbound.segments
        for text in replies:
            reply = _Row(
                Message,
                id=new_id("msg"),
                merchant_id=self.merchant_id,
                customer_id=customer_id,
                call_id=call_id,
                direction="outbound",
                provider=PROVIDER,
                provider_message_id=None,
                status="queued",
                segments=sms_segments(text),
                created_at=at,
            )
            self.vault.seal(reply, body=text)
            self.rows.add(reply)
            self._copy("message", self.sid("SM"), customer_id, None, at + timedelta(seconds=self.rng.uniform(1, 5)))
            self.usage[(day, "sms_segments_outbound")] += reply.segments
        self.tally["messages"] += 1 + len(replies)

    def _keyword(self, plan: _Plan) -> None:
        """HELP is answered with the shop's help text; STOP lists the number, unanswered."""
        at = min(plan.at, self.now - timedelta(seconds=60))
        if plan.channel == "help":
            self._text(plan.person, self.sid("SM"), "HELP", [help_text(self.shop.name, self.number)], None, at)
            return
        self._text(plan.person, self.sid("SM"), "STOP", [], None, at)
        self._listed(plan.phone, "sms", at)

    def _listed(self, phone: str, source: str, at: datetime) -> None:
        """An objection, made with the chunk's rows by ``add_do_not_contact`` itself (few enough)."""
        self.objections.append((phone, source, at))

    def _achieved(self, plan: _Plan, talk: _Talk, call_id: str, channel: str, at: datetime) -> None:
        """What the agent's tools wrote during the conversation, at ``at``."""
        if talk.booked is not None:
            talk.booked.booked_at, talk.booked.call_id = at, call_id
        if talk.cancelled is not None:
            talk.cancelled.cancelled_at = at
            day = talk.cancelled.slot.start.astimezone(self.zone).date()
            self.bookings[day] = [b for b in self.bookings.get(day, []) if b is not talk.cancelled.slot]
        if plan.outcome == "opted_out":
            self._listed(plan.phone, f"agent:{channel}", at)
        if talk.ticket is not None:
            self._ticket(plan, talk.ticket, call_id, channel, at)

    def _ticket(self, plan: _Plan, spec: _TicketSpec, call_id: str, channel: str, at: datetime) -> None:
        """``create_ticket`` and the owner's email about it (``notify``), sent seconds later."""
        customer_id = plan.person.id if plan.person else None
        ticket = _Row(
            Ticket,
            id=new_id("tkt"),
            merchant_id=self.merchant_id,
            customer_id=customer_id,
            call_id=call_id,
            subject=spec.subject[:300],
            tags=spec.tags,
            status="open",
            source=channel,
            created_at=at,
            updated_at=at,
        )
        self.vault.seal(ticket, description=spec.description)
        self.rows.add(ticket)
        self.ticket_id = self.ticket_id or ticket.id
        self.tally["tickets"] += 1
        if not self.email:
            return
        mail_id = new_id("mail")
        self.rows.values(
            MailMessage,
            id=mail_id,
            merchant_id=self.merchant_id,
            key=f"notify:ticket:{ticket.id}:{OWNER}",
            template="notification",
            customer_id=customer_id,
            recipients=1,
            message=None,  # dropped once sent
            status="sent",
            attempts=1,
            created_at=at,
            sent_at=at + timedelta(seconds=self.rng.uniform(1, 20)),
        )
        self.rows.values(
            Notification,
            id=new_id("ntf"),
            merchant_id=self.merchant_id,
            event=spec.event,
            event_key=f"ticket:{ticket.id}",
            contact_id=OWNER,
            channel="email",
            customer_id=customer_id,
            status="mailed",
            mail_id=mail_id,
            attempts=0,
            created_at=at,
        )

    # -- appointments and the texts about them -------------------------------------------------
    def finish_appointments(self) -> None:
        """The appointments as they stand now, with their confirmations and reminders."""
        for start in range(0, len(self.appointments), CHUNK):
            chunk = self.appointments[start : start + CHUNK]
            self.vault.prefetch(self.merchant_id, [a.person.id for a in chunk])
            for appointment in chunk:
                self._appointment(appointment)
            self._commit()

    def _appointment(self, a: _Appointment) -> None:
        changed = a.cancelled_at or a.booked_at
        self.rows.values(
            AppointmentRow,
            id=a.id,
            merchant_id=self.merchant_id,
            customer_id=a.person.id,
            service_id=a.service.id,
            staff_id=a.slot.staff_id or None,
            start_at=a.slot.start,
            end_at=a.end,
            busy_until=a.slot.end,
            status="cancelled" if a.cancelled_at else "booked",
            source=a.source,
            created_at=a.booked_at,
            updated_at=changed,
            cancelled_at=a.cancelled_at,
            call_id=a.call_id,
        )
        self.tally["appointments"] += 1
        local = a.slot.start.astimezone(self.zone)
        what = f"{a.service.name} at {self.shop.name}"

        def skip(at: datetime, cancelling: bool = False) -> str | None:
            if not cancelling and a.cancelled_at is not None and a.cancelled_at <= at:
                return "appointment-changed"
            return "expired" if not cancelling and a.slot.start <= at else None

        if self.outbound.confirmations and a.slot.start > a.booked_at:
            body = f"You're booked: {what}, {say_when(local)}. {OPT_OUT}"
            key = confirmation_key(a.id, a.slot.start)
            self._notice(BOOKED, key, a.id, a.person, a.booked_at, a.booked_at, body, skip)
        reminders = self.outbound.reminders
        if reminders.enabled and a.booked_at <= a.slot.start - reminders.before:
            due = a.slot.start - reminders.before
            planned = max(a.booked_at, due - timedelta(hours=1))
            if planned <= self.now and (a.cancelled_at is None or a.cancelled_at > planned):
                body = f"Reminder: your {what} is {say_when(local)}. {OPT_OUT}"
                self._notice(REMINDER, reminder_key(a.id, a.slot.start), a.id, a.person, planned, due, body, skip)
        if a.cancelled_at is not None and self.outbound.confirmations and a.slot.start > a.cancelled_at:
            body = f"Your {what} on {say_when(local)} is cancelled. {OPT_OUT}"
            key = confirmation_key(a.id, None)
            self._notice(
                CANCELLED, key, a.id, a.person, a.cancelled_at, a.cancelled_at, body, lambda at: skip(at, True)
            )

    def _notice(
        self,
        kind: str,
        key: str,
        subject_id: str,
        person: _Person,
        planned: datetime,
        due: datetime,
        body: str,
        skip: Callable[[datetime], str | None],
        attempt: int = 1,
    ) -> datetime | None:
        """An intended text and what became of it by now (``sera.outbound.service``): sent (with
        its message, its copy at Twilio and the day's segments), skipped with the reason its
        draft gives, or still waiting. Returns when it was sent."""
        rng = self.rng
        send_at = next_allowed(due + timedelta(seconds=rng.uniform(5, 90)), [self.zone], self.outbound.quiet_hours)
        status, reason, sid, sent_at, updated = "scheduled", None, None, None, planned
        if send_at is not None and send_at <= self.now:
            reason = skip(send_at) or ("do-not-contact" if person.listed_at and person.listed_at <= send_at else None)
            if reason is not None:
                status, updated = "skipped", send_at
            else:
                status, sid, sent_at, updated = "sent", self.sid("SM"), send_at, send_at
        elif send_at is not None and send_at > due + timedelta(minutes=2):
            reason = "quiet-hours"
        self.rows.values(
            OutboundAction,
            id=new_id("out"),
            merchant_id=self.merchant_id,
            customer_id=person.id,
            kind=kind,
            channel="sms",
            subject_id=subject_id,
            status=status,
            reason=reason,
            due_at=due,
            attempt=attempt,
            idempotency_key=key,
            provider_ref=sid,
            created_at=planned,
            updated_at=updated,
            sent_at=sent_at,
        )
        self.tally["outbound_actions"] += 1
        if sid is None or sent_at is None:
            return None
        message = _Row(
            Message,
            id=new_id("msg"),
            merchant_id=self.merchant_id,
            customer_id=person.id,
            call_id=None,
            direction="outbound",
            provider=PROVIDER,
            provider_message_id=sid,
            status="delivered",  # "sent", then Twilio's delivery report
            segments=sms_segments(body),
            created_at=sent_at,
        )
        self.vault.seal(message, body=body)
        self.rows.add(message)
        self._copy("message", sid, person.id, message.id, sent_at)
        self.usage[(sent_at.astimezone(self.zone).date(), "sms_segments_outbound")] += message.segments
        self.tally["notices"] += 1
        return sent_at

    # -- checkouts ---------------------------------------------------------------------------
    def add_checkouts(self, count: int) -> str | None:
        """Checkouts from the online store (``record_checkout``; completed ones by
        ``complete_checkout``), the consent they carry, and recovery texts for the abandoned."""
        shoppers = [p for p in self.people if p.phone or p.email]
        if not shoppers:
            return None
        since = max(self.since, self.now - timedelta(days=CHECKOUT_DAYS))
        abandoned_id: str | None = None
        for start in range(0, count, CHUNK):
            batch = [self.rng.choice(shoppers) for _ in range(min(CHUNK, count - start))]
            self.vault.prefetch(self.merchant_id, [p.id for p in batch])
            for n, person in enumerate(batch, start):
                checkout_id = self._checkout(n, person, self.moment(max(since, person.created_at)))
                abandoned_id = abandoned_id or checkout_id
            self._commit()
        return abandoned_id

    def _checkout(self, n: int, person: _Person, at: datetime) -> str | None:
        rng = self.rng
        token = f"{rng.getrandbits(128):032x}"
        picked = rng.sample(self.products, min(len(self.products), rng.randint(1, 3)))
        items = [
            {"title": title, "quantity": rng.choice((1, 1, 1, 2)), "price_cents": price}
            for title, price, _, _ in picked
        ]
        done = at + timedelta(minutes=rng.uniform(3, 45))
        completed = done if rng.random() < 0.65 and done <= self.now else None
        row = _Row(
            Checkout,
            id=new_id("chk"),
            merchant_id=self.merchant_id,
            customer_id=person.id,
            source="shopify",
            external_id=str(30_000_000_000 + n),
            token=token,
            phone_bidx=self.vault.phone_index(self.merchant_id, person.phone) if person.phone else None,
            items=items,
            total_cents=sum(int(i["price_cents"] or 0) * int(i["quantity"] or 1) for i in items),
            currency=self.shop.currency,
            provider_updated_at=at,
            completed_at=completed,
            order_ref=str(5_500_000_000_000 + n) if completed else None,
            created_at=at,
            updated_at=completed or at,
        )
        url = f"https://{self.shop.domain}/{66_000_000 + n}/checkouts/{token}/recover?key={rng.getrandbits(64):016x}"
        self.vault.seal(row, name=person.name, phone=person.phone, email=person.email, recovery_url=url)
        self.rows.add(row)
        self.tally["checkouts"] += 1
        if person.consent is None and rng.random() < CONSENT_STATED:
            person.consent = rng.random() < 0.75
            self.rows.values(
                Consent,
                id=new_id("con"),
                merchant_id=self.merchant_id,
                customer_id=person.id,
                channel="sms",
                purpose="marketing",
                granted=person.consent,
                source="shopify:checkout",
                recorded_at=at,
            )
        if completed is not None:
            return None
        self.tally["abandoned_checkouts"] += 1
        checkout_id: str = row.id
        self._recover(checkout_id, person, at, url)
        return checkout_id

    def _recover(self, checkout_id: str, person: _Person, updated: datetime, url: str) -> None:
        recovery = self.outbound.recovery
        if not recovery.enabled or recovery.channel != "sms":
            return
        first = (person.name or "").split(" ")[0] or "there"

        def skip(at: datetime) -> str | None:
            if not person.phone:
                return "no-phone"
            return None if person.consent else "no-consent"

        body = (
            f"Hi {first}, you left something in your cart at {self.shop.name}. Finish your order here: {url} {OPT_OUT}"
        )
        due = updated + recovery.delay
        for attempt in range(1, recovery.max_attempts + 1):
            planned = due - timedelta(minutes=self.rng.uniform(0, 5))
            if planned > self.now:
                return
            sent = self._notice(
                RECOVERY, recovery_key(checkout_id, attempt), checkout_id, person, planned, due, body, skip, attempt
            )
            if sent is None:
                return
            due = max(sent + timedelta(hours=24), updated + recovery.delay)

    # -- the audit log and usage -----------------------------------------------------------------
    def add_audit(self, api_reads: int) -> None:
        """The entries Sera's own jobs and the shop's CRM leave, chained after the shop's own."""
        rng = self.rng
        key_id = new_id("key")
        reads = sorted(self.moment(self.since) for _ in range(api_reads))
        self.rows.values(
            ApiKey,
            id=key_id,
            merchant_id=self.merchant_id,
            prefix=f"{rng.getrandbits(48):012x}",
            secret_hash=hashlib.sha256(rng.randbytes(32)).hexdigest(),
            role="viewer",
            label="CRM sync",
            created_at=self.since,
            last_used_at=reads[-1] if reads else None,
        )
        self.events.append((self.since, "cli", "api_key.created", "api_key", key_id, {"role": "viewer"}, None))
        for at in reads:
            target = rng.choice(API_READS)
            details = {"count": 50}
            self.events.append(
                (at, f"api_key:{key_id}", "api.read", target, None, details, f"{rng.getrandbits(128):032x}")
            )
        sweep = {"deleted": dict.fromkeys(ZERO_SWEEP, 0), "days": merchant_retention_days(self.sera, self.merchant_id)}
        first = self.since.astimezone(self.zone).date() + timedelta(days=1)
        for offset in range((self.now - self.since).days + 1):  # nightly, at 03:00 in the shop's zone
            at = datetime.combine(first + timedelta(days=offset), dtime(3), tzinfo=self.zone).astimezone(UTC)
            if at < self.now:
                self.events.append(
                    (at, "system:retention", "retention.swept", "merchant", self.merchant_id, sweep, None)
                )
        with self.sera.uow(self.merchant_id) as uow:
            self.rows.insert(uow)
            self._chain(uow)
            uow.commit()

    def _chain(self, uow: UnitOfWork) -> None:
        """Entries appended as ``audit.record`` appends them: positions and hashes from the chain's head."""
        chain = self.merchant_id
        head = uow.session.execute(select(AuditHead).where(AuditHead.chain == chain)).scalar_one_or_none()
        if head is None:
            head = AuditHead(chain=chain, position=0, hash=audit.GENESIS, floor_position=0, floor_hash=audit.GENESIS)
            uow.session.add(head)
        position, previous = head.position, head.hash
        table = cast(Table, AuditEntry.__table__)
        rows = []
        for at, actor, action, target_type, target_id, details, request_id in sorted(self.events, key=lambda e: e[0]):
            position += 1
            entry = AuditEntry(
                chain=chain,
                position=position,
                merchant_id=chain,
                at=at,
                actor=actor,
                action=action,
                target_type=target_type,
                target_id=target_id,
                request_id=request_id,
                details=details,
                prev_hash=previous,
            )
            entry.hash = previous = audit.entry_hash(entry)
            rows.append({c.name: getattr(entry, c.key) for c in table.columns if c.name != "seq"})
        for start in range(0, len(rows), CHUNK):
            uow.session.connection().execute(table.insert(), rows[start : start + CHUNK])
        head.position, head.hash = position, previous
        uow.session.flush()
        self.tally["audit_entries"] += len(rows)

    def add_usage(self) -> None:
        with self.sera.uow(self.merchant_id) as uow:
            for (day, metric), quantity in sorted(self.usage.items()):
                record_usage(uow, day, metric, quantity)
            uow.commit()

    def _commit(self) -> None:
        with self.sera.uow(self.merchant_id) as uow:
            self.rows.insert(uow)
            for phone, source, at in self.objections:
                self.tally["do_not_contact"] += add_do_not_contact(uow, phone, source=source, now=at)
            self.objections.clear()
            uow.commit()


def seed(
    sera: Sera, merchant_id: str, *, customers: int, calls: int, messages: int, days: int = 120, seed: int = 7
) -> SeedSummary:
    """Seed the shop ``merchant_id`` with ``customers`` customers, ``calls`` phone calls and text
    conversations holding ``messages`` texts (besides the texts its outbound settings send),
    with what they led to, over the ``days`` days before ``sera.clock()``. ``seed`` makes the
    content repeatable (ids and ciphertexts differ from run to run)."""
    if customers < 1 or calls < 1 or messages < 0 or days < 1:
        raise ValueError("at least one customer, one call and one day")
    seeder = _Seeder(sera, merchant_id, days=days, rng=random.Random(seed))
    seeder.add_customers(customers)
    seeder.converse(seeder.plan(calls, messages))
    seeder.finish_appointments()
    abandoned = seeder.add_checkouts(max(2, calls // 25))
    seeder.add_audit(api_reads=calls // 8)
    seeder.add_usage()
    busy = max(seeder.people, key=lambda p: p.calls)
    ahead = [a for a in seeder.appointments if a.cancelled_at is None and a.slot.start > seeder.now]
    counts = {"customers": len(seeder.people), **seeder.tally}
    return SeedSummary(
        merchant_id=merchant_id,
        now=seeder.now,
        since=seeder.since,
        counts=counts,
        busy_customer_id=busy.id,
        busy_customer_calls=busy.calls,
        long_call_id=seeder.long_call_id,
        text_call_id=seeder.text_call[1] or seeder.long_call_id,
        upcoming_appointment_id=min(ahead, key=lambda a: a.slot.start).id if ahead else None,
        ticket_id=seeder.ticket_id,
        abandoned_checkout_id=abandoned,
    )


def _expect(condition: bool, problem: str) -> None:
    if not condition:
        raise SeedCheckError(problem)


def check(sera: Sera, summary: SeedSummary) -> None:
    """Read the seeded shop back through the functions the read API (``/api/v1``) calls: the
    rows come back decrypted and linked, and the audit chain verifies. Raises ``SeedCheckError``."""
    with sera.uow(summary.merchant_id, readonly=True) as uow:
        calls = list_calls(uow, PageRequest(limit=50)).items
        recorded = summary.counts.get("calls", 0) + summary.counts.get("text_conversations", 0)
        _expect(len(calls) == min(50, recorded), "the calls list is short")
        _expect(all(c.from_number and c.from_number.startswith("+") for c in calls), "a caller's number is unreadable")
        _expect(
            [c.started_at for c in calls] == sorted((c.started_at for c in calls), reverse=True), "calls out of order"
        )
        long_call = get_call(uow, summary.long_call_id)
        _expect(len(long_call.transcript or []) == 1 + 2 * LONG_TURNS, "the long call's transcript is not whole")
        customer = get_customer(uow, summary.busy_customer_id)
        _expect(bool(customer.phone), "the busy customer has no readable number")
        found = list_customers(uow, PageRequest(limit=10), phone=str(customer.phone)).items
        _expect(any(c.id == customer.id for c in found), "the busy customer is not found by their number")
        for appointment in list_appointments(uow, PageRequest(limit=50)).items:
            _expect(
                appointment.customer is not None and bool(appointment.customer.phone),
                "an appointment lost its customer",
            )
        for ticket in list_tickets(uow, PageRequest(limit=50)).items:
            _expect(bool(ticket.description), "a ticket's description is unreadable")
        verified = audit.verify_chain(uow.session, summary.merchant_id)
        _expect(verified.ok, f"the audit chain does not verify: {verified.problem}")


class BenchClock:
    """The bench's clock: the time the script says it is (Sera reads no other)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def bench_shop(folder: Path, *, now: datetime = NOW, days: int = 120) -> tuple[Sera, str]:
    """A Sera on SQLite files in ``folder`` with the demo shop, imported ``days`` days before
    ``now`` (its audit chain starts there); its clock then reads ``now``. The folder's
    ``sera.env`` opens the same files (``SERA_ENV_FILE``)."""
    settings = Settings(
        env="test",
        database_url=f"sqlite:///{folder / 'sera.db'}",
        keystore_url=f"sqlite:///{folder / 'keys.db'}",
        master_key=new_key_text(),
        secret_key=new_key_text(),
        public_url="https://sera.test",
        mail_dir=folder / "mail",
    )
    env = folder / "sera.env"
    env.touch(mode=0o600)
    secrets = {"master_key": settings.master_key, "secret_key": settings.secret_key}
    lines = [f"SERA_{name.upper()}={value.get_secret_value()}" for name, value in secrets.items() if value]
    lines += [f"SERA_DATABASE_URL={settings.database_url}", f"SERA_KEYSTORE_URL={settings.keystore_url}"]
    env.write_text("\n".join(lines) + "\n")
    clock = BenchClock(now - timedelta(days=days, hours=1))
    sera = bootstrap(settings, clock=clock)
    sera.migrate()
    merchant_id = import_shop(sera, load_shop_file(SHOP_FILE), actor="bench").merchant_id
    clock.now = now
    return sera, merchant_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sera-bench-shop-"))
    sera, merchant_id = bench_shop(folder, days=args.days)
    started = time.perf_counter()
    summary = seed(
        sera,
        merchant_id,
        customers=args.customers,
        calls=args.calls,
        messages=args.messages,
        days=args.days,
        seed=args.seed,
    )
    took = time.perf_counter() - started
    database = folder / "sera.db"
    size = sum(p.stat().st_size for p in folder.glob("sera.db*")) / 2**20
    print(f"seeded in {took:.1f} s ({args.customers:,} customers, {args.calls:,} calls, {args.messages:,} texts)")
    print("  " + ", ".join(f"{count:,} {what.replace('_', ' ')}" for what, count in summary.counts.items()))
    print(f"database: {database} ({size:.0f} MB), keys: {folder / 'keys.db'}, settings: {folder / 'sera.env'}")
    started = time.perf_counter()
    check(sera, summary)
    print(f"read back through the API's services, audit chain verified: {time.perf_counter() - started:.1f} s")
    print(f"busy customer {summary.busy_customer_id} ({summary.busy_customer_calls:,} calls)")
    print(f"long call {summary.long_call_id}, longest text conversation {summary.text_call_id}")
    sera.close()


if __name__ == "__main__":
    main()
