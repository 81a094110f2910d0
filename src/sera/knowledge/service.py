"""A shop's knowledge as a search index: FAQ, policies, products, services, hours, address.

The index is built once per shop version (merchant ``updated_at``) and kept in memory.
"""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import select

from sera.knowledge.retrieval import Document, Encoder, KnowledgeIndex
from sera.storage.database import UnitOfWork
from sera.storage.models import KnowledgeEntry, Merchant, Product, Service

_cache: dict[str, tuple[datetime, KnowledgeIndex]] = {}
_lock = threading.Lock()


def _price(cents: int | None, currency: str) -> str:
    """Prices as callers say them ('89 dollars'), so spoken questions match."""
    if cents is None:
        return "on request"
    amount = f"{cents / 100:.2f}".removesuffix(".00")
    return f"{amount} dollars" if currency == "USD" else f"{amount} {currency}"


def _documents(uow: UnitOfWork, merchant: Merchant) -> list[Document]:
    session = uow.session
    docs = [
        Document(id=row.id, kind=row.kind, title=row.title, text=row.body)
        for row in session.execute(select(KnowledgeEntry).order_by(KnowledgeEntry.position)).scalars()
    ]
    for service in session.execute(select(Service)).scalars():
        price = _price(service.price_cents, merchant.currency)
        text = f"{service.description or ''} Price {price}. Takes about {service.duration_min} minutes."
        docs.append(
            Document(id=service.id, kind="service", title=service.name, text=text, aliases=tuple(service.aliases))
        )
    for product in session.execute(select(Product)).scalars():
        stock = "in stock" if product.in_stock else "out of stock"
        text = f"{product.description or ''} Price {_price(product.price_cents, merchant.currency)}. {stock}."
        docs.append(Document(id=product.id, kind="product", title=product.title, text=text))
    if merchant.address:
        docs.append(Document(id="address", kind="address", title="address location", text=merchant.address))
    return docs


def shop_index(uow: UnitOfWork, encoder: Encoder | None = None) -> KnowledgeIndex:
    """The shop's index; with an ``encoder`` (the agent's embedding model) it also matches by
    meaning. One encoder serves a process, so the cache keeps one index per shop."""
    version = uow.merchant_version()
    with _lock:
        cached = _cache.get(str(uow.merchant_id))
        if cached is not None and cached[0] == version:
            return cached[1]
    merchant = uow.session.execute(select(Merchant).where(Merchant.id == uow.merchant_id)).scalar_one()
    index = KnowledgeIndex.build(_documents(uow, merchant), encoder)
    with _lock:
        _cache[merchant.id] = (merchant.updated_at, index)
    return index


def shop_policies(uow: UnitOfWork) -> list[tuple[str, str]]:
    """The shop's policies as (topic, text), in the shop file's order."""
    rows = uow.session.execute(
        select(KnowledgeEntry).where(KnowledgeEntry.kind == "policy").order_by(KnowledgeEntry.position)
    ).scalars()
    return [(row.title, row.body) for row in rows]
