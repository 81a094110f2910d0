"""The shop's catalogue kept in step with Shopify's products (one Product row per product).

Rows are matched by the Shopify product id (``Product.external_id``). Every change bumps
``Merchant.updated_at``: the agent's shop profile and knowledge index are cached per
shop version, so that is what makes the agent see the new catalogue.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from sera.adapters.shopify.payloads import ProductData
from sera.storage.database import UnitOfWork
from sera.storage.models import Merchant, Product, new_id


def _bump_version(uow: UnitOfWork, now: datetime) -> None:
    merchant = uow.session.execute(select(Merchant).where(Merchant.id == uow.merchant_id)).scalar_one()
    merchant.updated_at = max(now, merchant.updated_at + timedelta(microseconds=1))


def _product(uow: UnitOfWork, external_id: str) -> Product | None:
    return uow.session.execute(select(Product).where(Product.external_id == external_id)).scalars().first()


def sync_product(uow: UnitOfWork, data: ProductData, *, now: datetime) -> str:
    """Create, update or (for drafts and archived products) remove the product. Returns what happened."""
    if not data.active:
        return "removed" if remove_product(uow, data.external_id, now=now) else "ignored"
    row = _product(uow, data.external_id)
    created = row is None
    if row is None:
        position = uow.session.execute(select(func.coalesce(func.max(Product.position), -1))).scalar_one() + 1
        row = Product(id=new_id("prd"), merchant_id=uow.merchant_id, external_id=data.external_id, position=position)
        uow.session.add(row)
    values = {
        "title": data.title,
        "sku": data.sku,
        "price_cents": data.price_cents,
        "in_stock": data.in_stock,
        "description": data.description,
    }
    changed = created or any(getattr(row, key) != value for key, value in values.items())
    for key, value in values.items():
        setattr(row, key, value)
    if changed:
        _bump_version(uow, now)
    return "created" if created else "updated" if changed else "unchanged"


def remove_product(uow: UnitOfWork, external_id: str, *, now: datetime) -> bool:
    row = _product(uow, external_id)
    if row is None:
        return False
    uow.session.delete(row)
    _bump_version(uow, now)
    return True
