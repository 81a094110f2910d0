"""The agent's tools: one registry used by every brain (offline, LLM) and by Vapi.

Each tool has a JSON schema for its arguments and returns a plain-language result
(plus structured data for the brain). Tools hold no business logic: they resolve
what the caller said to ids and call the capabilities' service functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sera.agent.context import WEEKDAY_NAMES, TurnContext
from sera.agent.language import match_option, normalize
from sera.agent.phrasing import say_day, say_hours, say_list, say_money, say_time, say_when, with_article
from sera.agent.ports import Action, ActionKind
from sera.agent.understanding.embedding import embedder
from sera.booking.service import (
    AppointmentView,
    BookingError,
    appointments_for_name,
    available_at,
    book_appointment,
    cancel_appointment,
    find_availability,
    get_appointment,
    reschedule_appointment,
    upcoming_appointments,
)
from sera.booking.slots import Slot, StaffSpec, next_open_day, staff_hours
from sera.customers.service import add_customer_email, add_do_not_contact, find_or_create_customer
from sera.knowledge.service import shop_index
from sera.orders.ports import OrderInfo, OrdersPort, OrdersUnavailableError
from sera.orders.source import orders_for
from sera.privacy.service import REQUEST_TYPES, record_privacy_request
from sera.reports.questions import record_unanswered
from sera.support.service import Callback, create_ticket

KNOWLEDGE_CONFIDENCE = 0.35
# where the shop is ("where's your office to?", "whereabouts are you based?"), not where a thing is there
WHERE_ARE_YOU = re.compile(
    r"\bwhere(?:abouts)?(?:'s| is| are)? (?:are |is )?(?:you|ya|your (?:office|shop|store|studio|place|clinic"
    r"|salon|premises|garage|workshop|practice|surgery|location|base|building|yard|centre|center))"
    r"(?: (?:guys|folks|all|lot))?(?: (?:based|located|situated|at|to|exactly|now))*(?=\s*(?:$|[?.,!]|and\b|then\b))"
)
TELLS_WHERE = re.compile(r"(?i)\b(?:where|find|directions?|located|location|get (?:to|there))\b")  # an entry on it
ADDRESS_FOUND = {"found": True, "kind": "address", "title": "address location", "confidence": 1.0}
SEARCH_DAYS = 21
IDENTITY_ATTEMPTS = 2  # name-and-date look-ups that may fail in one conversation before they are refused
EMAIL_ATTEMPTS = 3  # emails that may fail to match an order in one conversation


@dataclass(frozen=True)
class ToolResult:
    text: str  # what a brain can say (or paraphrase) to the caller
    data: dict[str, Any] = field(default_factory=dict)
    actions: tuple[Action, ...] = ()
    outcome: str | None = None  # the call outcome this result achieves


Handler = Callable[[TurnContext, dict[str, Any]], ToolResult]


@dataclass(frozen=True)
class Plan:
    """What a tool that changes an appointment would do, resolved: ``key`` identifies it (the
    caller's yes is recorded against it), ``summary`` is the question the caller answers."""

    key: dict[str, Any]
    summary: str


Planner = Callable[[TurnContext, dict[str, Any]], "Plan | ToolResult"]  # a ToolResult: it cannot be done


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    handler: Handler
    plan: Planner | None = None  # set: the tool runs only after the caller said yes to this plan

    def spec(self) -> dict[str, Any]:
        """The OpenAI/Vapi function definition."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


class ToolError(ValueError):
    """The arguments do not fit the tool's schema; the message says which."""


def _schema(required: list[str] | None = None, **properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }


STRING: dict[str, Any] = {"type": "string"}


def _check(tool: Tool, args: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(args, dict):
        raise ToolError("arguments must be an object")
    props = tool.parameters["properties"]
    unknown = set(args) - set(props)
    if unknown:
        raise ToolError(f"unknown argument {sorted(unknown)[0]!r}")
    for name in tool.parameters["required"]:
        if args.get(name) in (None, ""):
            raise ToolError(f"{name} is required")
    for name, value in args.items():
        kind = props[name].get("type")
        ok = value is None or {
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
        }.get(kind, True)
        if not ok or (isinstance(value, str) and len(value) > 2000):
            raise ToolError(f"{name} must be a {kind}")
        if "enum" in props[name] and value is not None and value not in props[name]["enum"]:
            raise ToolError(f"{name} must be one of {', '.join(props[name]['enum'])}")
    return args


# -- helpers -----------------------------------------------------------------------------------


def _service_name(ctx: TurnContext, said: str | None) -> str | None:
    if not said:
        return None
    if ctx.shop.service(said):
        return said
    return match_option(said, ctx.shop.service_options())


def _parse_day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise ToolError("date must be YYYY-MM-DD") from None


def _parse_time(value: str | None) -> time | None:
    try:
        return time.fromisoformat(value) if value else None
    except ValueError:
        raise ToolError("time must be HH:MM") from None


def _parse_start(ctx: TurnContext, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ToolError("start must be an ISO 8601 date and time") from None
    return moment.replace(tzinfo=ctx.shop.zone) if moment.tzinfo is None else moment.astimezone(ctx.shop.zone)


def _ensure_customer(ctx: TurnContext, name: str | None = None, email: str | None = None) -> str | None:
    """The caller as a customer record (created on first need), so records link to them.

    What the caller tells the agent about themselves (the name for a booking, a message or a
    workflow, the email for a privacy request) lands on their record, sealed, with the channel
    as its source; an email that is another known customer's stays off it.
    """
    if ctx.caller.customer_id and not name and not email:
        return ctx.caller.customer_id
    if not ctx.caller.phone and not name:
        return None
    source = f"agent:{ctx.channel}"
    customer = find_or_create_customer(ctx.uow, name=name, phone=ctx.caller.phone, source=source)
    if email:  # never a look-up key: an email said on a call proves nothing about who calls
        add_customer_email(ctx.uow, customer, email, source=source)
    ctx.caller.customer_id = customer.id
    if name and not ctx.caller.name:
        ctx.caller.name = name
    return customer.id


def _day_window(ctx: TurnContext, day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=ctx.shop.zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=ctx.shop.zone)


PARTS = {
    "morning": (time(0), time(12)),
    "afternoon": (time(12), time(17)),
    "evening": (time(17), time(23, 59)),
}


GAP_STEP_MIN = 5  # the grid a day with no free quarter hour is searched again on


def _spread(slots: list[Slot], count: int = 3) -> list[Slot]:
    """A few slots spread across the list, so a caller hears real choices."""
    if len(slots) <= count:
        return slots
    step = (len(slots) - 1) / (count - 1)
    return [slots[round(i * step)] for i in range(count)]


def _free(
    ctx: TurnContext,
    service: str,
    start: datetime,
    end: datetime,
    staff: str | None,
    moving: str | None = None,
    step_min: int = 15,
) -> list[Slot]:
    """Free starts; with ``moving`` (the id of the caller's own appointment being moved, checked
    by the caller), its own time counts as free."""
    return find_availability(
        ctx.uow,
        ctx.shop.schedule,
        service,
        window_start=start,
        window_end=end,
        now=ctx.now,
        staff_name=staff,
        exclude=moving,
        step_min=step_min,
    )


def _free_at(
    ctx: TurnContext, service: str, start: datetime, staff: str | None, moving: str | None = None
) -> Slot | None:
    """The free slot at exactly ``start``, whether the search's grid has it or not ("ten forty")."""
    schedule = ctx.shop.schedule
    return available_at(ctx.uow, schedule, service, start, now=ctx.now, staff_name=staff, exclude=moving)


def _slot_data(slots: list[Slot]) -> list[dict[str, str]]:
    return [{"start": s.start.isoformat(), "staff": s.staff_name} for s in slots]


# -- booking tools -----------------------------------------------------------------------------


def check_availability(ctx: TurnContext, args: dict[str, Any]) -> ToolResult:
    service = _service_name(ctx, args.get("service"))
    if service is None:
        names = say_list([s.name for s in ctx.shop.services])
        return ToolResult(f"We offer {names}. Which service would you like?", {"unknown_service": True})
    day, at = _parse_day(args.get("date")), _parse_time(args.get("time"))
    staff, part = args.get("staff"), args.get("part")
    staff = match_option(staff, ctx.shop.staff_options()) if staff else None
    today = ctx.local_now.date()
    data: dict[str, Any] = {"service": service, "staff": staff}
    moving = args.get("moving")
    moving = moving if moving and _my_appointment(ctx, moving) is not None else None
    if day is not None and not ctx.shop.opening_hours(day):
        data["closed"] = day.isoformat()
        day = next_open_day(ctx.shop.schedule.calendar, day)
    if day is not None:
        start, end = _day_window(ctx, day)
    else:
        start, end = ctx.now, ctx.now + timedelta(days=SEARCH_DAYS)
    slots = _free(ctx, service, start, end, staff, moving)
    if day is not None and not slots:  # a day full on the quarter hours may have a gap between bookings
        slots = _free(ctx, service, start, end, staff, moving, step_min=GAP_STEP_MIN)
    if day is not None and not slots:
        # nothing that day (a full class, a booked-out day): the next day that has something
        data["none_on"] = day.isoformat()
        if at is not None:
            data["requested_available"] = False
        slots = _free(ctx, service, end, end + timedelta(days=SEARCH_DAYS), staff, moving)
        day = at = None
    if at is not None and day is not None:
        wanted = datetime.combine(day, at, tzinfo=ctx.shop.zone)
        exact = next((s for s in slots if s.start == wanted), None) or _free_at(ctx, service, wanted, staff, moving)
        data["requested_available"] = exact is not None
        if exact is not None:
            data["slots"] = _slot_data([exact])
            return ToolResult(f"{service} is available {say_when(exact.start, today)}.", data)
        slots = sorted(slots, key=lambda s: abs((s.start - wanted).total_seconds()))[:3]
        slots.sort(key=lambda s: s.start)
    elif part in PARTS:
        lo, hi = PARTS[part]
        slots = [s for s in slots if lo <= s.start.time() < hi] or slots
    if day is None and slots:
        first_day = slots[0].start.date()
        slots = [s for s in slots if s.start.date() == first_day]
    chosen = slots[:3] if args.get("earliest") else _spread(slots)
    data["slots"] = _slot_data(chosen)
    data["all_said"] = len(chosen) == len(slots)  # every free time there is, not a sample of them
    if not chosen:
        return ToolResult(f"There are no openings for {service} then.", data)
    times = say_list([say_time(s.start) for s in chosen])
    none_on = (
        f"There are no openings for {service} on {say_day(date.fromisoformat(data['none_on']), today)}. "
        if "none_on" in data
        else ""
    )
    return ToolResult(f"{none_on}On {say_day(chosen[0].start.date(), today)} I have {times}.", data)


def plan_booking(ctx: TurnContext, args: dict[str, Any]) -> Plan | ToolResult:
    """A booking the caller can say yes to: a service the shop offers, at a time that is free."""
    service = _service_name(ctx, args["service"])
    if service is None:
        return ToolResult("I couldn't find that service.", {"booked": False})
    start = _parse_start(ctx, args["start"])
    staff = match_option(args["staff"], ctx.shop.staff_options()) if args.get("staff") else None
    if _free_at(ctx, service, start, staff) is None:
        wanted = {"service": service, "date": start.date().isoformat(), "time": start.strftime("%H:%M"), "staff": staff}
        nearby = check_availability(ctx, {k: v for k, v in wanted.items() if v})
        return ToolResult(f"That time is not free. {nearby.text}", {**nearby.data, "booked": False})
    name = args.get("customer_name") or ctx.caller.name
    with_staff = f" with {staff}" if staff else ""
    summary = f"book {with_article(service)}{with_staff} on {say_when(start, ctx.local_now.date())}"
    key = {"service": service, "start": start.isoformat(), "staff": staff, "name": name}
    return Plan(key, summary + (f" for {name}" if name else ""))


def book(ctx: TurnContext, args: dict[str, Any]) -> ToolResult:
    service = _service_name(ctx, args["service"])
    if service is None:
        return ToolResult("I couldn't find that service.", {"booked": False})
    start = _parse_start(ctx, args["start"])
    customer_id = _ensure_customer(ctx, args.get("customer_name"))
    try:
        appointment = book_appointment(
            ctx.uow,
            service_name=service,
            start=start,
            customer_id=customer_id,
            now=ctx.now,
            staff_name=args.get("staff"),
            source=ctx.channel,
            call_id=ctx.call_id,
        )
    except BookingError as exc:
        return ToolResult(f"Sorry, {exc}.", {"booked": False})
    view = get_appointment(ctx.uow, appointment.id)
    with_staff = f" with {view.staff}" if view.staff else ""
    text = f"You're booked for {with_article(service)}{with_staff} on {say_when(view.start, ctx.local_now.date())}."
    return ToolResult(
        text,
        {"booked": True, "appointment_id": view.id, "start": view.start.isoformat()},
        outcome="booked",
    )


def _describe(view: AppointmentView, today: date) -> str:
    return f"{view.service} on {say_when(view.start, today)}"


def list_my_appointments(ctx: TurnContext, args: dict[str, Any]) -> ToolResult:
    """By caller id; or, for a caller from another number, by name plus the appointment's date."""
    if args.get("customer_name") and args.get("date"):
        failed = int(ctx.state.get("identity_failures", 0))
        if failed >= IDENTITY_ATTEMPTS:  # a name and a date are a weak proof: no guessing them
            return ToolResult(
                "I can't look that up again on this call; I can put you through to the team or take a message.",
                {"appointments": [], "refused": True},
            )
        day = _parse_day(args["date"])
        assert day is not None
        found = appointments_for_name(ctx.uow, args["customer_name"], day, ctx.shop.zone)
        if not found and (day - ctx.local_now.date()).days < 7:
            # "next Friday" said on a Thursday may be tomorrow or the Friday after: the same day a
            # week on, under the same name, is the one meant (the caller still confirms it)
            found = appointments_for_name(ctx.uow, args["customer_name"], day + timedelta(days=7), ctx.shop.zone)
        if found:
            ctx.caller.customer_id = found[0].customer_id
        else:
            ctx.state["identity_failures"] = failed + 1
    if not ctx.caller.customer_id:
        return ToolResult("I don't see any upcoming appointments for this number.", {"appointments": []})
    views = upcoming_appointments(ctx.uow, ctx.caller.customer_id, ctx.now)
    data = {"appointments": [{"id": v.id, "service": v.service, "start": v.start.isoformat()} for v in views]}
    if not views:
        return ToolResult("I don't see any upcoming appointments for this number.", data)
    today = ctx.local_now.date()
    return ToolResult(f"You have {say_list([_describe(v, today) for v in views], 'and')}.", data)


def _my_appointment(ctx: TurnContext, appointment_id: str | None) -> AppointmentView | None:
    if not ctx.caller.customer_id:
        return None
    views = upcoming_appointments(ctx.uow, ctx.caller.customer_id, ctx.now)
    if appointment_id:
        return next((v for v in views if v.id == appointment_id), None)
    return views[0] if len(views) == 1 else None


def plan_move(ctx: TurnContext, args: dict[str, Any]) -> Plan | ToolResult:
    view = _my_appointment(ctx, args.get("appointment_id"))
    if view is None:
        return ToolResult("I couldn't find that appointment for this caller.", {"rescheduled": False})
    start = _parse_start(ctx, args["new_start"])
    today = ctx.local_now.date()
    summary = f"move your {view.service} from {say_when(view.start, today)} to {say_when(start, today)}"
    return Plan({"appointment": view.id, "start": start.isoformat(), "staff": args.get("staff")}, summary)


def plan_cancel(ctx: TurnContext, args: dict[str, Any]) -> Plan | ToolResult:
    view = _my_appointment(ctx, args.get("appointment_id"))
    if view is None:
        return ToolResult("I couldn't find that appointment for this caller.", {"cancelled": False})
    return Plan({"appointment": view.id, "cancel": True}, f"cancel your {_describe(view, ctx.local_now.date())}")


def reschedule(ctx: TurnContext, args: dict[str, Any]) -> ToolResult:
    view = _my_appointment(ctx, args.get("appointment_id"))
    if view is None:
        return ToolResult("I couldn't find that appointment for this caller.", {"rescheduled": False})
    start = _parse_start(ctx, args["new_start"])
    try:
        reschedule_appointment(ctx.uow, view.id, new_start=start, now=ctx.now, staff_name=args.get("staff"))
    except BookingError as exc:
        return ToolResult(f"Sorry, {exc}.", {"rescheduled": False})
    today = ctx.local_now.date()
    text = f"Done: your {view.service} is moved from {say_when(view.start, today)} to {say_when(start, today)}."
    return ToolResult(text, {"rescheduled": True, "appointment_id": view.id}, outcome="rescheduled")


def cancel(ctx: TurnContext, args: dict[str, Any]) -> ToolResult:
    view = _my_appointment(ctx, args.get("appointment_id"))
    if view is None:
        return ToolResult("I couldn't find that appointment for this caller.", {"cancelled": False})
    cancel_appointment(ctx.uow, view.id, now=ctx.now)
    text = f"Your {_describe(view, ctx.local_now.date())} is cancelled."
    return ToolResult(text, {"cancelled": True, "appointment_id": view.id}, outcome="cancelled")


# -- orders, knowledge, tickets ------------------------------------------------------------------

STATUS_TEXT = {
    "unfulfilled": "hasn't shipped yet: it has been received and is waiting to be packed",
    "processing": "is processing and hasn't shipped yet",
    "shipped": "has shipped",
    "delivered": "was delivered",
    "cancelled": "was cancelled",
    "refunded": "was refunded",
}


def _order_text(order: OrderInfo, today: date) -> str:
    items = say_list([item.title for item in order.items], "and")
    text = f"Order {order.number} ({items}) {STATUS_TEXT.get(order.status, order.status)}"
    if order.tracking_carrier and order.status == "shipped":
        text += f" with {order.tracking_carrier}"
        if order.tracking_eta:
            text += f", expected {say_day(order.tracking_eta, today)}"
    elif order.tracking_carrier and order.status == "delivered" and order.tracking_eta:
        text += f" on {say_day(order.tracking_eta, today)} by {order.tracking_carrier}"
    return text + "."


def lookup_order(ctx: TurnContext, args: dict[str, Any]) -> ToolResult:
    """Order details only for a verified caller: caller id matches, or they know the email.

    Orders come from the shop's store (Shopify) when it is connected, else from Sera's own."""
    try:
        return _lookup_order(ctx, args, orders_for(ctx.uow))
    except OrdersUnavailableError:
        return ToolResult("I can't reach our order system right now.", {"found": False, "unavailable": True})


def _lookup_order(ctx: TurnContext, args: dict[str, Any], orders: OrdersPort) -> ToolResult:
    today = ctx.local_now.date()
    number = (args.get("order_number") or "").lstrip("#").strip()
    if not number:
        mine = orders.by_phone(ctx.caller.phone) if ctx.caller.phone else []
        if not mine:
            return ToolResult(
                "I couldn't find an order for this phone number.",
                {"found": False, "need": "order_number"},
            )
        return ToolResult(
            " ".join(_order_text(o, today) for o in mine[:3]),
            {"found": True, "verified": True, "orders": [o.number for o in mine[:3]]},
            outcome="order_status",
        )
    order = orders.by_number(number)
    if order is None:
        return ToolResult(f"I couldn't find order {number}.", {"found": False, "need": "order_number"})
    email = (args.get("email") or "").strip().lower()
    failed = int(ctx.state.get("email_failures", 0))
    if email and failed >= EMAIL_ATTEMPTS:  # an order's email is not to be guessed
        return ToolResult(
            "I can't check another email on this call; the team can help you with this order.",
            {"found": True, "verified": False, "refused": True},
        )
    verified = bool(ctx.caller.phone and ctx.caller.phone == order.customer_phone) or bool(
        email and email == (order.customer_email or "").lower()
    )
    if email and not verified:
        ctx.state["email_failures"] = failed + 1
    if not verified:
        data = {"found": True, "verified": False, "need": "email", "email_given": bool(email)}
        if email:
            return ToolResult("That email doesn't match the order, so I can't share its details.", data)
        return ToolResult("To protect your privacy I need to verify the order first.", data)
    return ToolResult(
        _order_text(order, today),
        {"found": True, "verified": True, "orders": [order.number]},
        outcome="order_status",
    )


def search_knowledge(ctx: TurnContext, args: dict[str, Any]) -> ToolResult:
    """The shop's best answer to a query, or "found": False. With ``kind`` ("product"), only
    entries of that kind answer, and one the query names ("your foam cannon's been showing sold
    out for like ever") answers even when the rest of the words make it an unsure match."""
    kind = args.get("kind")
    hits = shop_index(ctx.uow, embedder()).search(args["query"], limit=10 if kind else 3)
    hits = [hit for hit in hits if hit.document.kind == kind] if kind else hits
    named = bool(kind and hits and match_option(args["query"], {hits[0].document.title: []}, typos=False))
    # "where's your office to?", "whereabouts are you based": the shop's address, unless an entry
    # surely says how to find the shop
    top = hits[0].document if hits else None
    surely_found = top is not None and (top.kind == "address" or bool(TELLS_WHERE.search(top.title)))
    if not kind and ctx.shop.address and not surely_found and WHERE_ARE_YOU.search(normalize(args["query"])):
        return ToolResult(f"We're at {ctx.shop.address}.", dict(ADDRESS_FOUND), outcome="knowledge")
    if not hits or (hits[0].confidence < KNOWLEDGE_CONFIDENCE and not named):
        return ToolResult("I don't know that.", {"found": False})
    doc = hits[0].document
    if doc.kind == "service":
        info = ctx.shop.service(doc.title)
        price = say_money(info.price_cents, ctx.shop.currency) if info else ""
        minutes = info.duration_min if info else "?"
        costs = "is free" if info and info.price_cents == 0 else f"costs {price}"
        text = f"{with_article(doc.title, opening=True)} {costs} and takes about {minutes} minutes."
        text += f" {info.description}" if info and info.description else ""
    elif doc.kind == "product":
        text = f"{doc.title}: {doc.text.strip()}".replace(" in stock.", " It's in stock.").replace(
            " out of stock.", " It's currently out of stock."
        )
    elif doc.kind == "address":
        text = f"We're at {doc.text}."
    else:
        text = doc.text
    data = {"found": True, "kind": doc.kind, "title": doc.title, "confidence": round(hits[0].confidence, 2)}
    if doc.kind == "product":
        data["in_stock"] = " out of stock." not in f" {doc.text}"
    return ToolResult(text, data, outcome="knowledge")


def ticket(ctx: TurnContext, args: dict[str, Any], callback: Callback | None = None) -> ToolResult:
    customer_id = _ensure_customer(ctx, args.get("customer_name"))
    created = create_ticket(
        ctx.uow,
        subject=args["subject"],
        description=args.get("description"),
        tags=[str(t) for t in args.get("tags") or []],
        customer_id=customer_id,
        now=ctx.now,
        source=ctx.channel,
        call_id=ctx.call_id,
        callback=callback,
    )
    return ToolResult(
        "I've passed that to the team; they'll get back to you.",
        {"ticket_id": created.id},
        outcome="ticket",
    )


def next_opening(ctx: TurnContext) -> datetime | None:
    local = ctx.local_now
    for offset in range(0, 15):
        day = local.date() + timedelta(days=offset)
        for start, _end in ctx.shop.opening_hours(day):
            moment = datetime.combine(day, start, tzinfo=ctx.shop.zone)
            if moment > local:
                return moment
    return None


def transfer(ctx: TurnContext, args: dict[str, Any]) -> ToolResult:
    """To a person while the shop is open; otherwise take a message and say when it opens."""
    if ctx.shop.handoff_number and ctx.shop.is_open(ctx.now):
        action = Action(ActionKind.TRANSFER, number=ctx.shop.handoff_number)
        return ToolResult(
            "Connecting you to the team now.",
            {"transferred": True},
            (action,),
            outcome="transferred",
        )
    reason = args.get("reason") or "Caller asked to speak to a person"
    callback = Callback(ctx.caller.name, ctx.caller.phone, reason, asked_for_person=True)
    ticket(ctx, {"subject": "Callback request", "description": reason, "tags": ["callback"]}, callback)
    text = f"The team isn't available right now, so I've taken a message and someone will call you back.{_reopens(ctx)}"
    return ToolResult(text, {"transferred": False, "message_taken": True}, outcome="message")


def _reopens(ctx: TurnContext) -> str:
    opening = next_opening(ctx) if not ctx.shop.is_open(ctx.now) else None
    return f" We open again {say_when(opening, ctx.local_now.date())}." if opening else ""


def take_message(ctx: TurnContext, args: dict[str, Any]) -> ToolResult:
    """A message for the team (or one of them): who called, how to call them back, what about."""
    _ensure_customer(ctx, args.get("customer_name"))
    recipient = args.get("for") or "the team"
    lines = [
        f"From: {args.get('customer_name') or ctx.caller.name or 'not given'}",
        f"Call back on: {args.get('callback_number') or 'not given'}",
        "",
        str(args["message"]),
    ]
    callback = Callback(
        args.get("customer_name") or ctx.caller.name,
        args.get("callback_number") or ctx.caller.phone,
        str(args["message"]),
        recipient,
        asked_for_person=bool(ctx.state.pop("asked_for_person", False)),
    )
    ticket(
        ctx, {"subject": f"Message for {recipient}", "description": "\n".join(lines), "tags": ["callback"]}, callback
    )
    text = f"Thanks, I've passed your message to {recipient} and they'll call you back.{_reopens(ctx)}"
    return ToolResult(text, {"message_taken": True}, outcome="message")


def opt_out(ctx: TurnContext, args: dict[str, Any]) -> ToolResult:
    if not ctx.caller.phone:
        return ToolResult("I need the phone number to stop contacting.", {"opted_out": False})
    add_do_not_contact(ctx.uow, ctx.caller.phone, source=f"agent:{ctx.channel}", now=ctx.now)
    text = f"Done. {ctx.shop.name} won't call or text this number again."
    return ToolResult(text, {"opted_out": True}, outcome="opted_out")


def privacy_request(ctx: TurnContext, args: dict[str, Any]) -> ToolResult:
    customer_id = _ensure_customer(ctx, args.get("customer_name"), email=args.get("email"))
    request = record_privacy_request(
        ctx.uow,
        request_type=args["type"],
        customer_id=customer_id,
        source="agent",
        now=ctx.now,
        actor=f"agent:{ctx.channel}",
        details=args.get("details"),
    )
    text = f"I've recorded your request. {ctx.shop.name} will answer it within 48 hours."
    return ToolResult(text, {"request_id": request.id, "type": args["type"]}, outcome="privacy_request")


WEEKDAYS = tuple(name.lower() for name in WEEKDAY_NAMES)  # the get_hours tool's weekday argument


def _weekly_hours(ctx: TurnContext, weekday: int) -> list[tuple[time, time]]:
    """The shop's usual hours on a day of the week, whatever the date."""
    return [(r.start, r.end) for r in ctx.shop.schedule.calendar.hours.get(weekday, [])]


def hours(ctx: TurnContext, args: dict[str, Any]) -> ToolResult:
    day = _parse_day(args.get("date"))
    today = ctx.local_now.date()
    weekday = str(args.get("weekday") or "").lower()
    named = match_option(str(args["staff"]), ctx.shop.staff_options()) if args.get("staff") else None
    staff = ctx.shop.schedule.staff_named(named)
    if staff is not None:
        return _when_staff_works(ctx, staff, WEEKDAYS.index(weekday) if weekday in WEEKDAYS else None, day)
    if weekday in WEEKDAYS:  # "are you open on Mondays?": the week's hours for that day, not one date's
        ranges = _weekly_hours(ctx, WEEKDAYS.index(weekday))
        said = f"we're open from {say_hours(ranges)}" if ranges else "we're closed"
        data = {"weekday": weekday, "open": bool(ranges)}
        return ToolResult(f"On {weekday.title()}s {said}.", data, outcome="knowledge")
    if day is None:
        week = [today + timedelta(days=i) for i in range(7)]
        parts = []
        for d in sorted(week, key=lambda d: d.weekday()):
            ranges = ctx.shop.opening_hours(d) if d not in ctx.shop.schedule.calendar.closures else []
            ranges = ranges or _weekly_hours(ctx, d.weekday())
            parts.append(f"{say_day(d).split(',')[0]} {say_hours(ranges) if ranges else 'closed'}")
        return ToolResult("Our hours are: " + "; ".join(parts) + ".", {"day": None}, outcome="knowledge")
    ranges = ctx.shop.opening_hours(day)
    name = say_day(day, today)
    if not ranges:
        closed = {"day": day.isoformat(), "open": False}
        until = _closed_until(ctx, day)
        if until == day:
            return ToolResult(f"We're closed on {name}.", closed, outcome="knowledge")
        # "are yous open over the Twelfth?": the holidays around it are said too
        return ToolResult(f"We're closed from {name} to {say_day(until, today)}.", closed, outcome="knowledge")
    opened = {"day": day.isoformat(), "open": True}
    return ToolResult(f"On {name} we're open from {say_hours(ranges)}.", opened, outcome="knowledge")


def _closed_until(ctx: TurnContext, day: date, most: int = 7) -> date:
    """The last of the closed days that run on from ``day``, the shop's days off among them, when
    a closure (a holiday) begins or continues the run; else ``day``."""
    closures = ctx.shop.schedule.calendar.closures
    last = day
    while last - day < timedelta(days=most) and not ctx.shop.opening_hours(last + timedelta(days=1)):
        last += timedelta(days=1)
    held = any(day + timedelta(days=i) in closures for i in range((last - day).days + 1))
    return last if held else day


def _when_staff_works(ctx: TurnContext, staff: StaffSpec, weekday: int | None, day: date | None) -> ToolResult:
    """The days and hours a staff member works: on a date, on a day of the week, or in a week."""
    data = {"staff": staff.name, "day": day.isoformat() if day else None}
    if day is not None:
        ranges = staff_hours(ctx.shop.schedule.calendar, staff, day.weekday()) if ctx.shop.opening_hours(day) else []
        name = say_day(day, ctx.local_now.date())
        works = f"{staff.name} works from {say_hours(ranges)}" if ranges else f"{staff.name} isn't in"
        return ToolResult(f"On {name} {works}.", data, outcome="knowledge")
    days = [weekday] if weekday is not None else range(7)
    worked = [(WEEKDAY_NAMES[d], staff_hours(ctx.shop.schedule.calendar, staff, d)) for d in days]
    said = [f"{name}s from {say_hours(ranges)}" for name, ranges in worked if ranges]
    if not said:
        off = f" on {WEEKDAY_NAMES[weekday]}s" if weekday is not None else " at the moment"
        return ToolResult(f"{staff.name} doesn't work{off}.", data, outcome="knowledge")
    return ToolResult(f"{staff.name} works {say_list(said, 'and')}.", data, outcome="knowledge")


# -- workflows -----------------------------------------------------------------------------------

SLOT_SCHEMA: dict[str, dict[str, Any]] = {
    "number": {"type": "string", "description": "a number"},
    "phone": {"type": "string", "description": "a phone number"},
    "email": {"type": "string", "description": "an email address"},
    "date": {"type": "string", "description": "YYYY-MM-DD"},
    "time": {"type": "string", "description": "HH:MM"},
}


def workflow_tool(workflow: dict[str, Any]) -> Tool:
    slots = workflow.get("collect", [])
    properties: dict[str, dict[str, Any]] = {}
    for slot in slots:
        prop = dict(SLOT_SCHEMA.get(slot["type"], STRING))
        prop["description"] = slot["ask"]
        if slot["type"] == "choice":
            prop["enum"] = list(slot["options"])
        properties[slot["slot"]] = prop

    def run(ctx: TurnContext, args: dict[str, Any]) -> ToolResult:
        action = workflow["action"]["create_ticket"]
        given = {slot["type"]: args.get(slot["slot"]) for slot in slots if slot["type"] in ("name", "email")}
        if given.get("name") or given.get("email"):
            _ensure_customer(ctx, given.get("name"), email=given.get("email"))
        lines = [f"{slot['slot'].replace('_', ' ')}: {args.get(slot['slot'], '')}" for slot in slots]
        result = ticket(
            ctx,
            {
                "subject": action["subject"],
                "description": "\n".join(lines),
                "tags": action.get("tags", []),
            },
        )
        done = workflow.get("say_done") or "Thanks, that's all noted."
        return ToolResult(done, {**result.data, "workflow": workflow["name"]}, outcome="ticket")

    triggers = ", ".join(workflow.get("triggers", []))
    return Tool(
        name=f"workflow_{workflow['name']}",
        description=f"{workflow.get('say_start') or workflow['name']} (when the caller mentions: {triggers})",
        parameters=_schema([s["slot"] for s in slots], **properties),
        handler=run,
    )


TOOLS: tuple[Tool, ...] = (
    Tool(
        "check_availability",
        "Find open appointment times for a service, optionally on a date, near a time, with a staff member.",
        _schema(
            ["service"],
            service=STRING,
            date={"type": "string", "description": "YYYY-MM-DD in the shop's time zone"},
            time={"type": "string", "description": "HH:MM, a wanted time"},
            staff=STRING,
            part={"type": "string", "enum": ["morning", "afternoon", "evening"]},
            earliest={"type": "boolean"},
            moving={"type": "string", "description": "the id of the caller's appointment being moved"},
        ),
        check_availability,
    ),
    Tool(
        "book_appointment",
        "Book an appointment for the caller after they confirmed service, time and name.",
        _schema(
            ["service", "start"],
            service=STRING,
            start={"type": "string", "description": "ISO 8601"},
            staff=STRING,
            customer_name=STRING,
        ),
        book,
        plan_booking,
    ),
    Tool(
        "reschedule_appointment",
        "Move the caller's upcoming appointment to a new start time.",
        _schema(
            ["new_start"],
            appointment_id=STRING,
            new_start={"type": "string", "description": "ISO 8601"},
            staff=STRING,
        ),
        reschedule,
        plan_move,
    ),
    Tool(
        "cancel_appointment",
        "Cancel the caller's upcoming appointment.",
        _schema(appointment_id=STRING),
        cancel,
        plan_cancel,
    ),
    Tool(
        "list_my_appointments",
        "The caller's upcoming appointments: by caller id, or by the name and date they are booked under.",
        _schema(customer_name=STRING, date={"type": "string", "description": "YYYY-MM-DD"}),
        list_my_appointments,
    ),
    Tool(
        "lookup_order",
        "Order status. Details only for a verified caller: caller id matches the order, or give the order's email.",
        _schema(order_number=STRING, email=STRING),
        lookup_order,
    ),
    Tool(
        "search_knowledge",
        "Answer a question from the shop's FAQ, policies, products, services and address. Never guess.",
        _schema(["query"], query=STRING, kind={"type": "string", "enum": ["product"]}),
        search_knowledge,
    ),
    Tool(
        "get_hours",
        "Opening hours, for a date, a day of the week in general, or the week; or a staff member's working hours.",
        _schema(date={"type": "string"}, weekday={"type": "string", "enum": list(WEEKDAYS)}, staff=STRING),
        hours,
    ),
    Tool(
        "create_ticket",
        "Take a message or report a problem for the team.",
        _schema(
            ["subject"],
            subject=STRING,
            description=STRING,
            tags={"type": "array"},
            customer_name=STRING,
        ),
        ticket,
    ),
    Tool(
        "transfer_call",
        "Hand the caller to a person (or take a message when closed).",
        _schema(reason=STRING),
        transfer,
    ),
    Tool(
        "take_message",
        "Take a message for the team or a named staff member: who is calling, the number to call back, the message.",
        _schema(
            ["message"],
            message=STRING,
            callback_number=STRING,
            customer_name=STRING,
            **{"for": {"type": "string", "description": "a staff member's name, if the message is for them"}},
        ),
        take_message,
    ),
    Tool("opt_out", "The caller never wants to be called or texted again.", _schema(), opt_out),
    Tool(
        "record_privacy_request",
        "Record a data-subject request: access, erasure, correction or objection.",
        _schema(
            ["type"],
            type={"type": "string", "enum": list(REQUEST_TYPES)},
            details=STRING,
            customer_name=STRING,
            email=STRING,
        ),
        privacy_request,
    ),
)


TOOLS_KEPT = 40  # the last tool runs a conversation's sealed state keeps, for its call's page
TOOL_RESULT_CHARS = 300


def _keep_unanswered(ctx: TurnContext, question: str) -> None:
    if ctx.shop.agent.get("record_calls", True):  # kept as long as transcripts: none kept, none kept
        record_unanswered(
            ctx.uow,
            question=question,
            channel=ctx.channel,
            asked_at=ctx.now,
            call_id=ctx.call_id,
            customer_id=ctx.caller.customer_id,
        )


def _noted(ctx: TurnContext, name: str, result: ToolResult) -> ToolResult:
    """Keep the run in the conversation's state (sealed with it): the call's page lists the tools
    the agent used and what each answered."""
    used = ctx.state.setdefault("tools_used", [])
    used.append(
        {
            "tool": name,
            "at": ctx.now.isoformat(),
            "outcome": result.outcome,
            "waiting": bool(result.data.get("needs_confirmation")),
            "result": result.text[:TOOL_RESULT_CHARS],
        }
    )
    del used[:-TOOLS_KEPT]
    return result


class ToolRegistry:
    """The shop's tools: the fixed set plus one per merchant workflow.

    Booking, moving and cancelling happen only after the caller's yes, whatever a brain
    decides: a call that the conversation state does not hold a yes for records the plan as
    the proposal and answers "ask the caller to confirm", doing nothing. A brain records the
    caller's yes with ``confirm``; it holds for that one plan, once. ``confirmations=False``
    is for a provider whose own model holds the dialogue (Vapi), where Sera never hears the yes.
    ``records_unanswered`` is for a brain that does not say which questions it could not answer
    (a language model's, Vapi's): a search of the shop's knowledge that finds nothing is kept as
    an unanswered question for the weekly report, as the offline brain's are.
    """

    def __init__(
        self, workflows: list[dict[str, Any]], *, confirmations: bool = True, records_unanswered: bool = False
    ) -> None:
        tools = list(TOOLS) + [workflow_tool(w) for w in workflows]
        self._tools = {tool.name: tool for tool in tools}
        self.confirmations = confirmations
        self.records_unanswered = records_unanswered

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._tools.values())

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def run(self, ctx: TurnContext, name: str, args: dict[str, Any]) -> ToolResult:
        tool = self._tools.get(name)
        if tool is None:
            raise ToolError(f"unknown tool {name!r}")
        args = _check(tool, args)
        if tool.plan is not None and self.confirmations:
            plan = tool.plan(ctx, args)
            if isinstance(plan, ToolResult):
                return plan  # it cannot be done as asked: nothing to confirm
            if ctx.state.get("confirmed") != plan.key:
                ctx.state["proposal"] = {"tool": name, "args": args}
                text = (
                    f"Not done yet: ask the caller to confirm. Shall I {plan.summary}? "
                    f"Call {name} again with the same arguments only after they say yes."
                )
                return _noted(ctx, name, ToolResult(text, {"needs_confirmation": True, "plan": plan.summary}))
            del ctx.state["confirmed"]
        result = tool.handler(ctx, args)
        if result.outcome:
            ctx.state.setdefault("outcomes", []).append(result.outcome)
        if self.records_unanswered and tool.handler is search_knowledge and not result.data.get("found"):
            _keep_unanswered(ctx, str(args.get("query", "")))
        return _noted(ctx, name, result)

    def confirm(self, ctx: TurnContext, name: str, args: dict[str, Any]) -> None:
        """The caller said yes to this call: its next run with these arguments goes ahead."""
        tool = self._tools.get(name)
        if tool is None or tool.plan is None:
            return
        plan = tool.plan(ctx, _check(tool, args))
        if isinstance(plan, Plan):
            ctx.state["confirmed"] = plan.key
