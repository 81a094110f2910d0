"""A shop's billing details and plan.

The details (company, billing email, address, tax id) are personal data when the shop is a
person trading under their own name: they are sealed under the shop's key, every read
through the API and every change is audited (field names only, never values), and they go
with the shop when it is deleted. An invoice keeps its own copy, as it was at issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from sera import audit
from sera.billing.pricing import PriceList
from sera.storage.database import UnitOfWork
from sera.storage.models import BillingAccount, new_id

DETAILS = ("company", "email", "address", "tax_id")
_UNSET: Any = object()


class BillingError(ValueError):
    """Billing details or a plan that cannot be used (the message says why)."""


@dataclass(frozen=True)
class BillingView:
    plan: str | None
    company: str | None
    email: str | None
    address: str | None
    tax_id: str | None

    def details(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in DETAILS}


EMPTY = BillingView(None, None, None, None, None)


def _load(uow: UnitOfWork) -> BillingAccount | None:
    return uow.session.execute(select(BillingAccount)).scalar_one_or_none()


def get_billing(uow: UnitOfWork) -> BillingView:
    """The shop's plan and billing details (all None when never set)."""
    row = _load(uow)
    if row is None:
        return EMPTY
    opened = uow.vault.open_many(row, *DETAILS)
    return BillingView(plan=row.plan, **opened)


def set_billing(
    uow: UnitOfWork,
    prices: PriceList,
    *,
    actor: str,
    plan: str | None = _UNSET,
    company: str | None = _UNSET,
    email: str | None = _UNSET,
    address: str | None = _UNSET,
    tax_id: str | None = _UNSET,
) -> BillingView:
    """Change what is given (None clears it; a field left out stays). The plan must be in the
    price list; the email must be an address. Audited with the names of the fields changed."""
    from sera.mail.service import MailError, check_address

    if uow.merchant_id is None:
        raise RuntimeError("billing details need a merchant-scoped unit of work")
    given = {
        name: value
        for name, value in {
            "plan": plan,
            "company": company,
            "email": email,
            "address": address,
            "tax_id": tax_id,
        }.items()
        if value is not _UNSET
    }
    for name, value in list(given.items()):
        if isinstance(value, str):
            value = value.strip() or None
        given[name] = value
    new_plan, new_email = given.get("plan"), given.get("email")
    if new_plan is not None:
        prices.plan(new_plan)  # UnknownPlanError names the plans there are
    if new_email is not None:
        try:
            given["email"] = check_address(new_email)
        except MailError as exc:
            raise BillingError(str(exc)) from None
    row = _load(uow)
    if row is None:
        row = BillingAccount(id=new_id("bil"), merchant_id=uow.merchant_id)
        uow.session.add(row)
    before = get_billing(uow) if row.company is not None or row.plan is not None else EMPTY
    if "plan" in given:
        row.plan = given["plan"]
    sealed = {name: value for name, value in given.items() if name in DETAILS}
    if sealed:
        uow.vault.seal(row, **sealed)
    row.updated_at = uow.now()
    changed = sorted(name for name, value in given.items() if getattr(before, name) != value)
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="billing.updated",
        target_type="billing_account",
        target_id=row.id,
        details={"changed": changed, "plan": row.plan},
    )
    uow.flush()
    return get_billing(uow)
