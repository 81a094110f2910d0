"""End customers: identity by blind index, personal fields sealed under their own key.

The do-not-contact list (the right to object) lives here too. Invariants of an entry:
- It is found by the number's blind index, the one every table shares, so an objection
  made by text stops calls and texts alike, and it outlives the erasure of its customer.
- The number itself and the reason are sealed: under the customer's key when the entry
  has a customer (erasing them clears both), otherwise under the merchant's key.
- Adding a listed number again changes nothing; changes through the API are audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select

from sera import audit
from sera.customers.phones import normalize_phone, region_of_locale
from sera.integrations.events import emit
from sera.storage.database import MERCHANT, UnitOfWork, prescoped
from sera.storage.models import Consent, Customer, DoNotContact, Merchant, new_id
from sera.storage.paging import Page, PageRequest, keyset, page_of


class CustomerNotFoundError(LookupError):
    pass


class DoNotContactNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class CustomerView:
    id: str
    name: str | None
    phone: str | None
    email: str | None
    do_not_contact: bool
    created_at: datetime
    sources: dict[str, str]  # field -> where it came from ("import", "agent:voice", ...)


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
    source: str | None = None,
) -> Customer:
    merchant_id = _merchant(uow)
    customer = Customer(id=new_id("cus"), merchant_id=merchant_id)
    if now is not None:
        customer.created_at = customer.updated_at = now
    uow.vault.keystore.create_customer_key(merchant_id, customer.id)
    _set_fields(uow, customer, name=name, phone=phone, email=email)
    if source:
        customer.sources = {
            field: source for field, value in (("name", name), ("phone", phone), ("email", email)) if value
        }
    uow.session.add(customer)
    uow.session.flush()
    return customer


def find_or_create_customer(
    uow: UnitOfWork,
    *,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    source: str | None = None,
) -> Customer:
    """The customer with this phone or email; fills in fields they did not have yet (and
    notes where each came from). An email that is another customer's is not taken: two
    records never share one."""
    customer = find_customer(uow, phone=phone, email=email)
    if customer is None:
        return create_customer(uow, name=name, phone=phone, email=email, source=source)
    if email and _someone_elses(uow, customer, email):
        email = None
    current = uow.vault.open_many(customer, "name", "phone", "email")
    missing = {
        field: value
        for field, value in (("name", name), ("phone", phone), ("email", email))
        if value and not current[field]
    }
    if missing:
        _set_fields(uow, customer, **{**current, **missing})
        if source:
            customer.sources = {**(customer.sources or {}), **dict.fromkeys(missing, source)}
    return customer


def add_customer_email(uow: UnitOfWork, customer: Customer, email: str, *, source: str) -> bool:
    """Give a customer without an email this one, unless it is another customer's."""
    current = uow.vault.open_many(customer, "name", "phone", "email")
    if current["email"] or _someone_elses(uow, customer, email):
        return False
    _set_fields(uow, customer, **{**current, "email": email})
    customer.sources = {**(customer.sources or {}), "email": source}
    return True


def _someone_elses(uow: UnitOfWork, customer: Customer, email: str) -> bool:
    """The email is another customer's: two records never share one."""
    owner = find_customer(uow, email=email)
    return owner is not None and owner.id != customer.id


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
        sources=dict(customer.sources or {}),
    )


def _dnc_indexes(uow: UnitOfWork, indexes: list[str]) -> set[str]:
    if not indexes:
        return set()
    rows = uow.session.execute(select(DoNotContact.phone_bidx).where(DoNotContact.phone_bidx.in_(indexes)))
    return set(rows.scalars())


def shop_phone(uow: UnitOfWork, text: str) -> str:
    """A number as the shop's customers write it, in E.164 (the region is the shop's locale's).
    Raises ``InvalidPhoneError``."""
    locale = uow.session.execute(select(Merchant.locale).where(Merchant.id == _merchant(uow))).scalar_one()
    return normalize_phone(text, region_of_locale(locale or "en-US"))


def get_customer(uow: UnitOfWork, customer_id: str) -> CustomerView:
    customer = uow.session.execute(select(Customer).where(Customer.id == customer_id)).scalar_one_or_none()
    if customer is None:
        raise CustomerNotFoundError(customer_id)
    return view(uow, customer)


def list_customers(uow: UnitOfWork, request: PageRequest, *, phone: str | None = None) -> Page[CustomerView]:
    """Newest first; ``phone`` (as written in the shop's country) keeps only that number's
    customers, found by blind index. Raises ``InvalidPhoneError`` for a phone that is none."""
    merchant_id = _merchant(uow)
    query = select(Customer)
    if phone is not None:
        query = query.where(Customer.phone_bidx == uow.vault.phone_index(merchant_id, shop_phone(uow, phone)))
    rows = uow.session.execute(keyset(query, Customer.created_at, Customer.id, request)).scalars().all()
    kept, cursor = page_of(rows, request, lambda c: (c.created_at, c.id))
    uow.vault.prefetch(merchant_id, [c.id for c in kept])
    dnc = _dnc_indexes(uow, [c.phone_bidx for c in kept if c.phone_bidx])
    return Page([view(uow, c, c.phone_bidx in dnc) for c in kept], cursor)


@dataclass(frozen=True)
class DoNotContactView:
    id: str
    phone: str | None  # None once its customer is erased (the blind index keeps the objection)
    source: str
    reason: str | None
    customer_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class Objection:
    entry: DoNotContactView
    created: bool  # False: the number was already listed, nothing changed


def _dnc_entry(uow: UnitOfWork, index: str) -> DoNotContact | None:
    return uow.session.execute(select(DoNotContact).where(DoNotContact.phone_bidx == index)).scalar_one_or_none()


def add_do_not_contact(uow: UnitOfWork, phone: str, *, source: str, now: datetime, reason: str | None = None) -> bool:
    """Honour an objection: this number (E.164) is never contacted again. True if newly added."""
    return _listed(uow, phone, source=source, now=now, reason=reason)[1]


def _listed(
    uow: UnitOfWork, phone: str, *, source: str, now: datetime, reason: str | None
) -> tuple[DoNotContact, bool]:
    """The number's entry, made if it had none (and whether it was)."""
    merchant_id = _merchant(uow)
    index = uow.vault.phone_index(merchant_id, phone)
    existing = _dnc_entry(uow, index)
    if existing is not None:
        if existing.phone is None:  # listed before numbers were kept, or its customer was erased
            uow.vault.seal(existing, phone=phone)
            uow.session.flush()
        return existing, False
    customer = find_customer(uow, phone=phone)
    entry = DoNotContact(
        id=new_id("dnc"),
        merchant_id=merchant_id,
        phone_bidx=index,
        customer_id=customer.id if customer else None,
        source=source,
        created_at=now,
    )
    uow.vault.seal(entry, phone=phone, reason=reason)
    uow.session.add(entry)
    uow.session.flush()
    data = {"phone": phone, "customer_id": entry.customer_id, "source": source}  # a CRM suppresses the number
    emit(uow, "customer.opted_out", data, customer_id=entry.customer_id)
    return entry, True


def remove_do_not_contact(uow: UnitOfWork, phone: str) -> bool:
    index = uow.vault.phone_index(_merchant(uow), phone)
    rows = uow.session.execute(select(DoNotContact).where(DoNotContact.phone_bidx == index)).scalars().all()
    for row in rows:
        uow.session.delete(row)
    uow.session.flush()
    if rows:
        customer_id = rows[0].customer_id
        emit(uow, "customer.opted_in", {"phone": phone, "customer_id": customer_id}, customer_id=customer_id)
    return bool(rows)


def _dnc_views(uow: UnitOfWork, entries: list[DoNotContact]) -> list[DoNotContactView]:
    uow.vault.prefetch(_merchant(uow), [e.customer_id for e in entries])
    # Entries made before numbers were kept show their customer's number, if it is still the same one.
    unsealed = {e.customer_id for e in entries if e.phone is None and e.customer_id}
    customers = (
        {c.id: c for c in uow.session.execute(select(Customer).where(Customer.id.in_(unsealed))).scalars()}
        if unsealed
        else {}
    )
    views = []
    for entry in entries:
        phone = uow.vault.open(entry, "phone")
        customer = customers.get(entry.customer_id or "")
        if phone is None and customer is not None and customer.phone_bidx == entry.phone_bidx:
            phone = uow.vault.open(customer, "phone")
        views.append(
            DoNotContactView(
                id=entry.id,
                phone=phone,
                source=entry.source,
                reason=uow.vault.open(entry, "reason"),
                customer_id=entry.customer_id,
                created_at=entry.created_at,
            )
        )
    return views


def list_do_not_contact(uow: UnitOfWork, request: PageRequest) -> Page[DoNotContactView]:
    """The shop's do-not-contact list, newest first."""
    query = keyset(select(DoNotContact), DoNotContact.created_at, DoNotContact.id, request)
    kept, cursor = page_of(uow.session.execute(query).scalars().all(), request, lambda e: (e.created_at, e.id))
    return Page(_dnc_views(uow, kept), cursor)


def record_objection(
    uow: UnitOfWork, phone: str, *, source: str, reason: str | None, actor: str, now: datetime
) -> Objection:
    """Put a number (as written in the shop's country) on the list for ``actor``, audited.
    Raises ``InvalidPhoneError``."""
    merchant_id = _merchant(uow)
    entry, created = _listed(uow, shop_phone(uow, phone), source=source, now=now, reason=reason)
    audit.record(
        uow.session,
        merchant_id=merchant_id,
        actor=actor,
        action="do_not_contact.added",
        target_type="do_not_contact",
        target_id=entry.id,
        details={"source": source, "created": created},
    )
    return Objection(_dnc_views(uow, [entry])[0], created)


def withdraw_objection(uow: UnitOfWork, number_or_id: str, *, actor: str) -> None:
    """Take an entry off the list, by its id (``dnc_...``) or its number, audited.
    Raises ``DoNotContactNotFoundError``, and ``InvalidPhoneError`` for a number that is none."""
    merchant_id = _merchant(uow)
    if number_or_id.startswith("dnc_"):
        query = select(DoNotContact).where(DoNotContact.id == number_or_id)
        entry = uow.session.execute(query).scalar_one_or_none()
    else:
        entry = _dnc_entry(uow, uow.vault.phone_index(merchant_id, shop_phone(uow, number_or_id)))
    if entry is None:
        raise DoNotContactNotFoundError(number_or_id)
    uow.session.delete(entry)
    audit.record(
        uow.session,
        merchant_id=merchant_id,
        actor=actor,
        action="do_not_contact.removed",
        target_type="do_not_contact",
        target_id=entry.id,
        details={"source": entry.source},
    )
    uow.session.flush()


@dataclass(frozen=True)
class ConsentView:
    id: str
    customer_id: str
    channel: str
    purpose: str
    granted: bool
    source: str
    recorded_at: datetime


def record_consent(
    uow: UnitOfWork,
    customer_id: str,
    *,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    actor: str,
    now: datetime,
) -> ConsentView:
    """Record a customer's consent (or its withdrawal) for a channel and purpose, audited; the
    latest record is the one that counts. ``source`` says where the written consent is kept
    (a signed form, a checkbox on a checkout): an AI-voiced call needs it. Raises
    ``CustomerNotFoundError``."""
    merchant_id = _merchant(uow)
    if uow.session.execute(select(Customer.id).where(Customer.id == customer_id)).scalar_one_or_none() is None:
        raise CustomerNotFoundError(customer_id)
    consent = Consent(
        id=new_id("con"),
        merchant_id=merchant_id,
        customer_id=customer_id,
        channel=channel,
        purpose=purpose,
        granted=granted,
        source=source,
        recorded_at=now,
    )
    uow.session.add(consent)
    audit.record(
        uow.session,
        merchant_id=merchant_id,
        actor=actor,
        action="consent.recorded",
        target_type="customer",
        target_id=customer_id,
        details={"channel": channel, "purpose": purpose, "granted": granted},
    )
    uow.session.flush()
    return ConsentView(consent.id, customer_id, channel, purpose, granted, source, now)


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
