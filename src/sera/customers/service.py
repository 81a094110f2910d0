"""End customers: identity by blind index, personal fields sealed under their own key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select

from sera.storage.database import MERCHANT, UnitOfWork, prescoped
from sera.storage.models import Customer, DoNotContact, new_id
from sera.storage.paging import Page, PageRequest, keyset, page_of


class CustomerNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class CustomerView:
    id: str
    name: str | None
    phone: str | None
    email: str | None
    do_not_contact: bool
    created_at: datetime


@dataclass(frozen=True)
class PersonRef:
    """How other records show their customer."""

    id: str
    name: str | None
    phone: str | None


def person_refs(uow: UnitOfWork, customer_ids: list[str | None]) -> dict[str, PersonRef]:
    wanted = {c for c in customer_ids if c}
    if not wanted:
        return {}
    rows = uow.session.execute(select(Customer).where(Customer.id.in_(wanted))).scalars().all()
    uow.vault.prefetch(_merchant(uow), [c.id for c in rows])
    return {c.id: PersonRef(c.id, uow.vault.open(c, "name"), uow.vault.open(c, "phone")) for c in rows}


def _merchant(uow: UnitOfWork) -> str:
    if uow.merchant_id is None:
        raise RuntimeError("customer work needs a merchant-scoped unit of work")
    return uow.merchant_id


_BY_PHONE = prescoped(
    select(Customer)
    .where(Customer.merchant_id == MERCHANT, Customer.phone_bidx == bindparam("index"))
    .order_by(Customer.created_at)
    .limit(1)
)


def find_customer(uow: UnitOfWork, *, phone: str | None = None, email: str | None = None) -> Customer | None:
    """Find by E.164 phone first, then by email (blind-index lookups)."""
    merchant_id = _merchant(uow)
    if phone:
        found = uow.run(_BY_PHONE, index=uow.vault.phone_index(merchant_id, phone)).scalar_one_or_none()
        if found is not None:
            return found
    if email:
        return uow.session.execute(
            select(Customer)
            .where(Customer.email_bidx == uow.vault.email_index(merchant_id, email))
            .order_by(Customer.created_at)
            .limit(1)
        ).scalar_one_or_none()
    return None


def create_customer(
    uow: UnitOfWork,
    *,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    now: datetime | None = None,
) -> Customer:
    merchant_id = _merchant(uow)
    customer = Customer(id=new_id("cus"), merchant_id=merchant_id)
    if now is not None:
        customer.created_at = customer.updated_at = now
    uow.vault.keystore.create_customer_key(merchant_id, customer.id)
    _set_fields(uow, customer, name=name, phone=phone, email=email)
    uow.session.add(customer)
    uow.session.flush()
    return customer


def find_or_create_customer(
    uow: UnitOfWork, *, name: str | None = None, phone: str | None = None, email: str | None = None
) -> Customer:
    """The customer with this phone or email; fills in fields they did not have yet."""
    customer = find_customer(uow, phone=phone, email=email)
    if customer is None:
        return create_customer(uow, name=name, phone=phone, email=email)
    current = uow.vault.open_many(customer, "name", "phone", "email")
    missing = {
        field: value
        for field, value in (("name", name), ("phone", phone), ("email", email))
        if value and not current[field]
    }
    if missing:
        _set_fields(uow, customer, **{**current, **missing})
    return customer


def _set_fields(uow: UnitOfWork, customer: Customer, **fields: str | None) -> None:
    merchant_id = customer.merchant_id
    uow.vault.seal(customer, **fields)
    if "phone" in fields:
        phone = fields["phone"]
        customer.phone_bidx = uow.vault.phone_index(merchant_id, phone) if phone else None
    if "email" in fields:
        email = fields["email"]
        customer.email_bidx = uow.vault.email_index(merchant_id, email) if email else None


def is_do_not_contact(uow: UnitOfWork, phone: str) -> bool:
    merchant_id = _merchant(uow)
    index = uow.vault.phone_index(merchant_id, phone)
    return uow.session.execute(select(DoNotContact.id).where(DoNotContact.phone_bidx == index)).first() is not None


def view(uow: UnitOfWork, customer: Customer, do_not_contact: bool | None = None) -> CustomerView:
    fields = uow.vault.open_many(customer, "name", "phone", "email")
    if do_not_contact is None:
        do_not_contact = customer.phone_bidx is not None and _dnc_indexes(uow, [customer.phone_bidx]) != set()
    return CustomerView(
        id=customer.id,
        name=fields["name"],
        phone=fields["phone"],
        email=fields["email"],
        do_not_contact=do_not_contact,
        created_at=customer.created_at,
    )


def _dnc_indexes(uow: UnitOfWork, indexes: list[str]) -> set[str]:
    if not indexes:
        return set()
    rows = uow.session.execute(select(DoNotContact.phone_bidx).where(DoNotContact.phone_bidx.in_(indexes)))
    return set(rows.scalars())


def get_customer(uow: UnitOfWork, customer_id: str) -> CustomerView:
    customer = uow.session.execute(select(Customer).where(Customer.id == customer_id)).scalar_one_or_none()
    if customer is None:
        raise CustomerNotFoundError(customer_id)
    return view(uow, customer)


def list_customers(uow: UnitOfWork, request: PageRequest) -> Page[CustomerView]:
    merchant_id = _merchant(uow)
    rows = uow.session.execute(keyset(select(Customer), Customer.created_at, Customer.id, request)).scalars().all()
    kept, cursor = page_of(rows, request, lambda c: (c.created_at, c.id))
    uow.vault.prefetch(merchant_id, [c.id for c in kept])
    dnc = _dnc_indexes(uow, [c.phone_bidx for c in kept if c.phone_bidx])
    return Page([view(uow, c, c.phone_bidx in dnc) for c in kept], cursor)


def add_do_not_contact(uow: UnitOfWork, phone: str, *, source: str, now: datetime) -> bool:
    """Honour an objection: this number is never contacted again. True if newly added."""
    merchant_id = _merchant(uow)
    if is_do_not_contact(uow, phone):
        return False
    customer = find_customer(uow, phone=phone)
    uow.session.add(
        DoNotContact(
            id=new_id("dnc"),
            merchant_id=merchant_id,
            phone_bidx=uow.vault.phone_index(merchant_id, phone),
            customer_id=customer.id if customer else None,
            source=source,
            created_at=now,
        )
    )
    uow.session.flush()
    return True


def remove_do_not_contact(uow: UnitOfWork, phone: str) -> bool:
    index = uow.vault.phone_index(_merchant(uow), phone)
    rows = uow.session.execute(select(DoNotContact).where(DoNotContact.phone_bidx == index)).scalars().all()
    for row in rows:
        uow.session.delete(row)
    uow.session.flush()
    return bool(rows)


def correct_customer(
    uow: UnitOfWork, customer_id: str, *, name: str | None = None, phone: str | None = None, email: str | None = None
) -> CustomerView:
    """The right to rectification: replace the given fields (others stay as they are)."""
    customer = uow.session.execute(select(Customer).where(Customer.id == customer_id)).scalar_one_or_none()
    if customer is None:
        raise CustomerNotFoundError(customer_id)
    changes = {field: value for field, value in (("name", name), ("phone", phone), ("email", email)) if value}
    _set_fields(uow, customer, **changes)
    uow.session.flush()
    return view(uow, customer)
