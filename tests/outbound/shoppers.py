"""Shopify checkouts as the recorded webhook payload has them, for one shopper or many, and
the shop's outbound settings changed as the dashboard would. Plain helpers, shared by the
tests and ``bench/outbound.py``."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from sera.adapters.shopify.payloads import parse_checkout
from sera.bootstrap import Sera
from sera.checkouts.service import record_checkout
from sera.customers.service import record_consent
from sera.storage.models import Consent, Customer, Merchant

CHECKOUT = Path(__file__).parents[1] / "adapters" / "shopify" / "fixtures" / "checkouts_create.json"
_RECORDED: dict[str, Any] = json.loads(CHECKOUT.read_text())


def checkout(**changes: Any) -> dict[str, Any]:
    """Harriet Okonkwo's recorded ``checkouts/create`` payload, with some fields replaced."""
    payload = copy.deepcopy(_RECORDED)
    payload.update(changes)
    return payload


def shopper_checkout(n: int, phone: str, **changes: Any) -> dict[str, Any]:
    """Another shopper's checkout: its own ids, number, name and email."""
    payload = checkout(id=29817361150000 + n, token=f"{n:032x}", phone=phone, sms_marketing_phone=phone, **changes)
    payload["customer"] = {**payload["customer"], "id": 7066823500000 + n, "phone": phone, "first_name": f"Rider{n}"}
    payload["customer"]["email"] = payload["email"] = f"rider{n}@example.com"
    payload["shipping_address"] = {**payload["shipping_address"], "phone": phone}
    return payload


def record_shopper_checkouts(
    sera: Sera, merchant_id: str, first: int, count: int, updated_at: datetime
) -> dict[str, str]:
    """``count`` checkouts by shoppers ``first``.. (each its own number, name and consent), in
    transactions of 50 (a worker may be writing to the same database); phone -> first name."""
    shoppers = {}
    for start in range(first, first + count, 50):
        with sera.uow(merchant_id) as uow:
            for n in range(start, min(start + 50, first + count)):
                phone = f"+1312{5550000 + n:07d}"
                payload = shopper_checkout(n, phone, updated_at=updated_at.isoformat())
                record_checkout(uow, parse_checkout(payload), now=sera.clock())
                shoppers[phone] = f"Rider{n}"
            uow.commit()
    return shoppers


def set_outbound(sera: Sera, merchant_id: str, **sections: Any) -> None:
    """Change the shop's outbound settings as the dashboard would (each section merged)."""
    with sera.uow(merchant_id) as uow:
        merchant = uow.session.execute(select(Merchant).where(Merchant.id == merchant_id)).scalar_one()
        outbound = dict(merchant.settings.get("outbound", {}))
        for name, values in sections.items():
            outbound[name] = {**outbound.get(name, {}), **values}
        merchant.settings = {**merchant.settings, "outbound": outbound}
        uow.commit()


def grant_call_consent(sera: Sera, merchant_id: str) -> None:
    """Every customer of the shop gave written consent to marketing calls (a signed form);
    those who had already are left as they are."""
    with sera.uow(merchant_id) as uow:
        consented = select(Consent.customer_id).where(Consent.channel == "voice")
        customers = list(uow.session.execute(select(Customer.id).where(Customer.id.not_in(consented))).scalars())
    for start in range(0, len(customers), 200):
        with sera.uow(merchant_id) as uow:
            for customer_id in customers[start : start + 200]:
                record_consent(
                    uow,
                    customer_id,
                    channel="voice",
                    purpose="marketing",
                    granted=True,
                    source="signed web form",
                    actor="test",
                    now=sera.clock(),
                )
            uow.commit()
