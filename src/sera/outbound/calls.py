"""Outbound calls once placed: what the agent says when a person answers, the one
voicemail a machine gets, and what became of the call.

Invariants:
- The words are written when the call is answered, from the action's subject as it is
  then (the cart, the appointment); the provider is told only the action's id.
- A machine gets the voicemail once: the first answering-machine verdict claims it with a
  compare-and-set on the action's ``reason``; a repeated or late verdict finds it claimed.
- A call's result lands on its action's ``reason`` (``answered``, ``voicemail``, ``fax``,
  ``no-answer``, ``busy``, ``call-failed``) and never overwrites a voicemail or fax verdict.
  Recovery plans another attempt only after a call nobody answered (``UNREACHED``).
"""

from __future__ import annotations

from sqlalchemy import select, update

from sera.agent.context import load_shop
from sera.agent.phrasing import say_list, say_when
from sera.outbound.drafts import RECOVERY, REMINDER
from sera.storage.database import UnitOfWork, rows
from sera.storage.models import Appointment, Checkout, Customer, OutboundAction, Service

UNREACHED = ("no-answer", "busy", "call-failed")
MACHINE = frozenset({"machine_end_beep", "machine_end_silence", "machine_end_other", "machine_start"})
_MACHINE_VERDICTS = ("voicemail", "fax")
_PLACED = ("sent", "sending")  # a call whose sid a crash left unrecorded still gets its results
_RESULTS = {  # Twilio's CallStatus of a finished call -> its result
    "completed": "answered",
    "busy": "busy",
    "no-answer": "no-answer",
    "failed": "call-failed",
    "canceled": "call-failed",
}


def _placed_call(uow: UnitOfWork, action_id: str) -> OutboundAction | None:
    return uow.session.execute(
        select(OutboundAction).where(
            OutboundAction.id == action_id, OutboundAction.channel == "call", OutboundAction.status.in_(_PLACED)
        )
    ).scalar_one_or_none()


def opening(uow: UnitOfWork, action_id: str) -> str | None:
    """What the agent says first when a person picks up: who is calling, that it is an
    automated assistant, and why; None when the action is no call Sera placed."""
    action = _placed_call(uow, action_id)
    if action is None:
        return None
    shop = load_shop(uow)
    who = f"this is {shop.agent_name}, the automated assistant at {shop.name}"
    if action.kind == RECOVERY:
        checkout = uow.session.get(Checkout, action.subject_id or "")
        name = uow.vault.open(checkout, "name") if checkout is not None else None
        return (
            f"Hi {_first(name)}, {who}, calling about {_cart(checkout)}. "
            "Is there anything I can help with before you finish your order? "
            "If you'd rather we didn't call, just say so."
        )
    if action.kind == REMINDER:
        found = uow.session.execute(
            select(Appointment, Service.name)
            .join(Service, Service.id == Appointment.service_id)
            .where(Appointment.id == action.subject_id)
        ).first()
        if found is not None:
            appointment, service = found
            customer = uow.session.get(Customer, appointment.customer_id or "")
            name = uow.vault.open(customer, "name") if customer is not None else None
            when = say_when(appointment.start_at.astimezone(shop.zone))
            return (
                f"Hi {_first(name)}, {who}, with a reminder of your {service} {when}. "
                "You don't need to do anything to keep it; if you'd like to move or cancel it, just tell me."
            )
    return f"Hi, {who}. How can I help?"


def _first(name: str | None) -> str:
    return (name or "").strip().split(" ")[0] or "there"


def _cart(checkout: Checkout | None) -> str:
    titles = [str(item.get("title")) for item in (checkout.items if checkout is not None else []) if item.get("title")]
    if not titles:
        return "the order you started"
    if len(titles) == 1:
        return f"the {titles[0]} left in your cart"
    if len(titles) == 2:
        return f"the {say_list(titles, 'and')} left in your cart"
    return f"the {titles[0]} and {len(titles) - 1} other items left in your cart"


def machine_answered(uow: UnitOfWork, action_id: str, answered_by: str) -> str | None:
    """The answering-machine verdict for a placed call. Returns ``voicemail`` (leave the message,
    this request claimed it), ``fax`` (hang up), or None (a person, or a verdict already acted on)."""
    if answered_by in MACHINE:
        verdict = "voicemail"
    elif answered_by == "fax":
        verdict = "fax"
    else:
        _set_result(uow, action_id, "answered")
        return None
    return verdict if _set_result(uow, action_id, verdict) else None


def call_finished(uow: UnitOfWork, action_id: str, call_status: str) -> str | None:
    """The call is over, in Twilio's words (``CallStatus``): see ``call_result``."""
    return call_result(uow, action_id, _RESULTS.get(call_status))


def call_result(uow: UnitOfWork, action_id: str, result: str | None) -> str | None:
    """The call is over: its result, unless a machine verdict already says more. Returns the
    action's result as it now stands (None for no call Sera placed)."""
    if result is not None:
        _set_result(uow, action_id, result)
    return uow.session.execute(
        select(OutboundAction.reason).where(OutboundAction.id == action_id, OutboundAction.channel == "call")
    ).scalar_one_or_none()


def _set_result(uow: UnitOfWork, action_id: str, result: str) -> bool:
    """Compare-and-set: a call's result, unless a machine verdict (voicemail, fax) is there already."""
    moved = uow.session.execute(
        update(OutboundAction)
        .where(
            OutboundAction.id == action_id,
            OutboundAction.channel == "call",
            OutboundAction.status.in_(_PLACED),
            OutboundAction.reason.is_(None) | OutboundAction.reason.not_in(_MACHINE_VERDICTS),
        )
        .values(reason=result)  # not updated_at: a crashed send's claim time must stay what reconciliation reads
        .execution_options(synchronize_session=False)
    )
    return rows(moved) > 0
