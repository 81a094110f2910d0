"""Merchants: import and export of the shop file, and routing by business number.

Import is atomic (one transaction: a failure changes nothing) and idempotent (each
collection is synced by its natural key, and unchanged rows are left untouched, so
importing the same file twice writes nothing the second time). Products synced from
Shopify stay Shopify's: an import replaces only the products files define.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import time
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from sera import audit
from sera.bootstrap import Sera
from sera.customers.service import find_or_create_customer
from sera.merchants.providers import LLM_PROVIDER, provider_credentials, set_provider_account
from sera.merchants.shop_file import WEEKDAYS, Hours, OrderEntry, ShopFile, parse_shop_text
from sera.storage.database import UnitOfWork
from sera.storage.models import (
    Closure,
    KnowledgeEntry,
    Merchant,
    MerchantPhoneNumber,
    OpeningHours,
    Order,
    Product,
    Service,
    StaffMember,
    new_id,
)

# The shop file requires phone numbers (spec/shop-config.md); a shop installed from Shopify
# has none until its file sets them, so its export says what to add before it can be imported.
NUMBERS_MISSING = "required before this file can be imported: the E.164 numbers the agent answers"


class MerchantNotFoundError(LookupError):
    pass


class ImportConflictError(ValueError):
    """The file is valid but clashes with data Sera holds (named in the message)."""


@dataclass(frozen=True)
class ImportResult:
    merchant_id: str
    created: bool
    changes: int


def merchant_id_for_domain(sera: Sera, domain: str) -> str | None:
    with sera.uow(readonly=True) as uow:
        return uow.session.execute(select(Merchant.id).where(Merchant.domain == domain)).scalar_one_or_none()


def require_merchant_id(sera: Sera, domain: str) -> str:
    merchant_id = merchant_id_for_domain(sera, domain)
    if merchant_id is None:
        raise MerchantNotFoundError(f"no shop with domain {domain}")
    return merchant_id


def merchant_id_for_number(sera: Sera, number: str) -> str | None:
    """The merchant that answers this business number (inbound routing by To); cached briefly."""

    def load() -> str | None:
        with sera.uow(readonly=True) as uow:
            return uow.session.execute(
                select(MerchantPhoneNumber.merchant_id).where(MerchantPhoneNumber.number == number)
            ).scalar_one_or_none()

    return sera.lookups.get(("number", number), load)


def import_shop(sera: Sera, shop: ShopFile, *, actor: str) -> ImportResult:
    existing_id = merchant_id_for_domain(sera, shop.shop.domain)
    merchant_id = existing_id or new_id("mer")
    _check_numbers_free(sera, shop, merchant_id)
    sera.keystore.create_merchant_key(merchant_id)
    with sera.uow(merchant_id) as uow:
        merchant = uow.session.execute(select(Merchant).where(Merchant.id == merchant_id)).scalar_one_or_none()
        if merchant is None:
            merchant = Merchant(id=merchant_id, domain=shop.shop.domain, settings={})
            uow.session.add(merchant)
        changes = _apply_merchant(merchant, shop)
        uow.session.flush()
        changes += _sync_numbers(uow.session, merchant_id, shop)
        changes += _sync_hours(uow.session, merchant_id, shop)
        changes += _sync_catalogue(uow.session, merchant_id, shop)
        changes += _sync_orders(uow, merchant_id, shop.orders)
        if changes:
            merchant.updated_at = sera.clock()
            audit.record(
                uow.session,
                merchant_id=merchant_id,
                actor=actor,
                action="shop.imported",
                target_type="merchant",
                target_id=merchant_id,
                details={"changes": changes, "created": existing_id is None},
            )
        uow.commit()
    _seal_llm_key(sera, merchant_id, shop, actor)
    sera.lookups.clear()  # its numbers may have changed
    return ImportResult(merchant_id, existing_id is None, changes)


def _seal_llm_key(sera: Sera, merchant_id: str, shop: ShopFile, actor: str) -> None:
    """The shop's model key goes where provider secrets go, sealed; a file without one keeps it."""
    key = shop.agent.llm.api_key if shop.agent.llm else None
    if not key:
        return
    with sera.uow(merchant_id, readonly=True) as uow:
        current = provider_credentials(uow, LLM_PROVIDER)
    if current is None or current.secret != key:
        set_provider_account(sera, merchant_id, LLM_PROVIDER, account_id=None, secret=key, actor=actor)


def import_shop_text(sera: Sera, text: str, *, source: str, actor: str) -> ImportResult:
    return import_shop(sera, parse_shop_text(text, source), actor=actor)


def _check_numbers_free(sera: Sera, shop: ShopFile, merchant_id: str) -> None:
    with sera.uow(readonly=True) as uow:
        taken = uow.session.execute(
            select(MerchantPhoneNumber.number).where(
                MerchantPhoneNumber.number.in_(shop.shop.phone_numbers),
                MerchantPhoneNumber.merchant_id != merchant_id,
            )
        ).scalars()
        for number in taken:
            raise ImportConflictError(f"shop.phone_numbers: {number} is already answered by another shop")


def _assign(row: Any, values: dict[str, Any]) -> int:
    changed = 0
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = 1
    return changed


def _apply_merchant(merchant: Merchant, shop: ShopFile) -> int:
    info = shop.shop
    settings = {
        "agent": shop.agent.model_dump(exclude={"llm": {"api_key"}}),
        "workflows": [w.model_dump(exclude_none=True) for w in shop.workflows],
        "outbound": shop.outbound.model_dump(),
        "retention": shop.retention.model_dump(),
    }
    return _assign(
        merchant,
        {
            "name": info.name,
            "timezone": info.timezone,
            "locale": info.locale,
            "currency": info.currency,
            "handoff_number": info.handoff_number,
            "email": info.email,
            "address": info.address,
            "website": info.website,
            "settings": settings,
        },
    )


def _sync(
    session: Session,
    existing: Iterable[Any],
    key: Callable[[Any], Any],
    desired: list[tuple[Any, dict[str, Any]]],
    make: Callable[[dict[str, Any]], Any],
) -> int:
    """Make the rows match ``desired`` (natural key -> values); returns rows changed."""
    current = {key(row): row for row in existing}
    changes = 0
    for natural_key, values in desired:
        row = current.pop(natural_key, None)
        if row is None:
            session.add(make(values))
            changes += 1
        else:
            changes += _assign(row, values)
    for row in current.values():
        session.delete(row)
        changes += 1
    return changes


def _rows(session: Session, model: Any) -> list[Any]:
    return list(session.execute(select(model)).scalars())


def _sync_numbers(session: Session, merchant_id: str, shop: ShopFile) -> int:
    desired = [(n, {"number": n}) for n in shop.shop.phone_numbers]
    return _sync(
        session,
        _rows(session, MerchantPhoneNumber),
        lambda r: r.number,
        desired,
        lambda v: MerchantPhoneNumber(merchant_id=merchant_id, **v),
    )


def _hour_rows(hours: Hours, staff_id: str | None) -> list[tuple[Any, dict[str, Any]]]:
    rows = []
    for weekday, ranges in hours.by_weekday().items():
        for opens, closes in ranges:
            values = {
                "staff_id": staff_id,
                "weekday": weekday,
                "opens": _hhmm(opens),
                "closes": _hhmm(closes),
            }
            rows.append(((staff_id, weekday, values["opens"], values["closes"]), values))
    return rows


def _hhmm(value: time) -> str:
    return "24:00" if value == time(23, 59, 59) else value.strftime("%H:%M")


def _sync_hours(session: Session, merchant_id: str, shop: ShopFile) -> int:
    changes = _sync(
        session,
        _rows(session, Closure),
        lambda r: r.day,
        [(d, {"day": d}) for d in shop.closures],
        lambda v: Closure(id=new_id("clo"), merchant_id=merchant_id, **v),
    )
    desired_staff = [
        (
            person.name,
            {
                "name": person.name,
                "service_names": person.services,
                "has_own_hours": person.hours is not None,
                "position": i,
            },
        )
        for i, person in enumerate(shop.staff)
    ]
    changes += _sync(
        session,
        _rows(session, StaffMember),
        lambda r: r.name,
        desired_staff,
        lambda v: StaffMember(id=new_id("stf"), merchant_id=merchant_id, **v),
    )
    session.flush()
    staff_ids = {s.name: s.id for s in _rows(session, StaffMember)}
    desired_hours = _hour_rows(shop.hours, None)
    for person in shop.staff:
        if person.hours is not None:
            desired_hours += _hour_rows(person.hours, staff_ids[person.name])
    return changes + _sync(
        session,
        _rows(session, OpeningHours),
        lambda r: (r.staff_id, r.weekday, r.opens, r.closes),
        desired_hours,
        lambda v: OpeningHours(id=new_id("hrs"), merchant_id=merchant_id, **v),
    )


def _cents(amount: float | None) -> int | None:
    return None if amount is None else round(amount * 100)


def _sync_catalogue(session: Session, merchant_id: str, shop: ShopFile) -> int:
    services = [
        (
            s.name,
            {
                "name": s.name,
                "duration_min": s.duration_min,
                "price_cents": _cents(s.price),
                "buffer_min": s.buffer_min,
                "capacity": s.capacity,
                "description": s.description,
                "aliases": list(s.aliases),
                "position": i,
            },
        )
        for i, s in enumerate(shop.services)
    ]
    knowledge = [
        (("faq", f.q), {"kind": "faq", "title": f.q, "body": f.a, "position": i}) for i, f in enumerate(shop.faq)
    ]
    knowledge += [
        (("policy", topic), {"kind": "policy", "title": topic, "body": text, "position": i})
        for i, (topic, text) in enumerate(shop.policies.items())
    ]
    # Products synced from Shopify (they carry its id) are Shopify's: a file neither changes
    # nor deletes them, and one it lists (an exported file lists them) is not a second copy.
    rows = _rows(session, Product)
    synced = {(r.sku, r.title) for r in rows if r.external_id is not None}
    own = [p for p in shop.products if (p.sku, p.title) not in synced]
    products = [
        (
            (p.sku, p.title),
            {
                "title": p.title,
                "sku": p.sku,
                "price_cents": _cents(p.price),
                "in_stock": p.in_stock,
                "description": p.description,
                "position": i,
            },
        )
        for i, p in enumerate(own)
    ]
    return (
        _sync(
            session,
            _rows(session, Service),
            lambda r: r.name,
            services,
            lambda v: Service(id=new_id("svc"), merchant_id=merchant_id, **v),
        )
        + _sync(
            session,
            _rows(session, KnowledgeEntry),
            lambda r: (r.kind, r.title),
            knowledge,
            lambda v: KnowledgeEntry(id=new_id("kno"), merchant_id=merchant_id, **v),
        )
        + _sync(
            session,
            [r for r in rows if r.external_id is None],
            lambda r: (r.sku, r.title),
            products,
            lambda v: Product(id=new_id("prd"), merchant_id=merchant_id, **v),
        )
    )


def _order_values(entry: OrderEntry, position: int) -> dict[str, Any]:
    tracking = entry.tracking
    return {
        "number": entry.number,
        "placed_on": entry.created,
        "status": entry.status,
        "items": [item.model_dump() for item in entry.items],
        "total_cents": _cents(entry.total),
        "tracking_carrier": tracking.carrier if tracking else None,
        "tracking_number": tracking.number if tracking else None,
        "tracking_eta": tracking.eta if tracking else None,
        "position": position,
    }


def _sync_orders(uow: UnitOfWork, merchant_id: str, entries: list[OrderEntry]) -> int:
    session, vault = uow.session, uow.vault
    current = {row.number: row for row in _rows(session, Order)}
    changes = 0
    for position, entry in enumerate(entries):
        person = entry.customer
        wanted = {
            "customer_name": person.name,
            "customer_phone": person.phone,
            "customer_email": person.email,
        }
        row = current.pop(entry.number, None)
        if row is None:
            customer = find_or_create_customer(uow, name=person.name, phone=person.phone, email=person.email)
            row = Order(id=new_id("ord"), merchant_id=merchant_id, customer_id=customer.id)
            row.number = entry.number
            session.add(row)
            changes += 1
            _assign(row, _order_values(entry, position))
            vault.seal(row, **wanted)
            continue
        changes += _assign(row, _order_values(entry, position))
        if vault.open_many(row, *wanted) != wanted:
            customer = find_or_create_customer(uow, name=person.name, phone=person.phone, email=person.email)
            row.customer_id = customer.id
            vault.seal(row, **wanted)
            changes += 1
    for row in current.values():
        session.delete(row)
        changes += 1
    return changes


# -- export ------------------------------------------------------------------------------------


def _money(cents: int | None) -> float | None:
    return None if cents is None else cents / 100


def _hours_dict(rows: list[OpeningHours]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for row in sorted(rows, key=lambda r: (r.weekday, r.opens)):
        result.setdefault(WEEKDAYS[row.weekday], []).append(f"{row.opens}-{row.closes}")
    return result


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def shop_document(uow: UnitOfWork, *, with_orders: bool) -> dict[str, Any]:
    """The shop file as data, read in the caller's unit of work; ``with_orders`` opens the
    orders' sealed customer details (an export), without them it holds no personal data."""
    session = uow.session
    merchant_id = uow.merchant_id
    merchant = session.execute(select(Merchant).where(Merchant.id == merchant_id)).scalar_one()
    hours = _rows(session, OpeningHours)
    staff = sorted(_rows(session, StaffMember), key=lambda r: r.position)
    settings = merchant.settings
    document: dict[str, Any] = {
        "shop": _drop_none(
            {
                "domain": merchant.domain,
                "name": merchant.name,
                "timezone": merchant.timezone,
                "locale": merchant.locale,
                "currency": merchant.currency,
                "phone_numbers": sorted(n.number for n in _rows(session, MerchantPhoneNumber)),
                "handoff_number": merchant.handoff_number,
                "email": merchant.email,
                "address": merchant.address,
                "website": merchant.website,
            }
        ),
        "agent": _drop_none(settings.get("agent", {})),
        "hours": _hours_dict([h for h in hours if h.staff_id is None]),
        "closures": sorted(c.day for c in _rows(session, Closure)),
        "staff": [
            _drop_none(
                {
                    "name": s.name,
                    "services": s.service_names,
                    "hours": _hours_dict([h for h in hours if h.staff_id == s.id]) if s.has_own_hours else None,
                }
            )
            for s in staff
        ],
        "services": [
            _drop_none(
                {
                    "name": s.name,
                    "duration_min": s.duration_min,
                    "price": _money(s.price_cents),
                    "buffer_min": s.buffer_min,
                    "capacity": s.capacity,
                    "description": s.description,
                    "aliases": s.aliases,
                }
            )
            for s in sorted(_rows(session, Service), key=lambda r: r.position)
        ],
    }
    knowledge = sorted(_rows(session, KnowledgeEntry), key=lambda r: r.position)
    document["faq"] = [{"q": k.title, "a": k.body} for k in knowledge if k.kind == "faq"]
    document["policies"] = {k.title: k.body for k in knowledge if k.kind == "policy"}
    document["products"] = [
        _drop_none(
            {
                "title": p.title,
                "sku": p.sku,
                "price": _money(p.price_cents),
                "in_stock": p.in_stock,
                "description": p.description,
            }
        )
        for p in sorted(_rows(session, Product), key=lambda r: (r.position, r.external_id is not None, r.id))
    ]
    if with_orders:
        orders = sorted(_rows(session, Order), key=lambda r: r.position)
        uow.vault.prefetch(merchant.id, [o.customer_id for o in orders])
        document["orders"] = [_export_order(uow, o) for o in orders]
    document["workflows"] = settings.get("workflows", [])
    document["outbound"] = settings.get("outbound", {})
    document["retention"] = settings.get("retention", {})
    return document


def shop_text(document: dict[str, Any]) -> str:
    """A shop document written as the shop file (YAML) that import reads back."""
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if not document["shop"]["phone_numbers"]:  # a shop installed from Shopify, before it set any
        text = text.replace("\n  phone_numbers: []\n", f"\n  # {NUMBERS_MISSING}\n  phone_numbers: []\n", 1)
    return text


def export_shop(sera: Sera, domain: str, *, actor: str) -> str:
    """The shop file for a merchant, personal data decrypted; the export is audited."""
    merchant_id = require_merchant_id(sera, domain)
    with sera.uow(merchant_id) as uow:
        document = shop_document(uow, with_orders=True)
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor=actor,
            action="shop.exported",
            target_type="merchant",
            target_id=merchant_id,
            details={"orders": len(document["orders"])},
        )
        uow.commit()
    return shop_text(document)


def _export_order(uow: UnitOfWork, order: Order) -> dict[str, Any]:
    fields = uow.vault.open_many(order, "customer_name", "customer_phone", "customer_email")
    tracking = (
        _drop_none(
            {
                "carrier": order.tracking_carrier,
                "number": order.tracking_number,
                "eta": order.tracking_eta,
            }
        )
        if order.tracking_carrier
        else None
    )
    return _drop_none(
        {
            "number": order.number,
            "created": order.placed_on,
            "customer": _drop_none(
                {
                    "name": fields["customer_name"],
                    "phone": fields["customer_phone"],
                    "email": fields["customer_email"],
                }
            ),
            "status": order.status,
            "tracking": tracking,
            "items": order.items,
            "total": _money(order.total_cents),
        }
    )
