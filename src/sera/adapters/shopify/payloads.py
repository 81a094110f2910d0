"""Shopify webhook payloads, translated into the capabilities' terms.

Payloads are trusted for origin (their HMAC was checked) but not for shape: any field
may be missing, null or odd. What cannot be read raises PayloadError; what is merely
unusable (a malformed phone number, an unknown currency) becomes None.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sera.checkouts.service import CheckoutData, CheckoutItem
from sera.customers.phones import try_normalize_phone

SOURCE = "shopify"
CURRENCY = re.compile(r"^[A-Z]{3}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TAG = re.compile(r"<[^>]+>")
GRANTED = {"subscribed": True, "not_subscribed": False, "unsubscribed": False}


class PayloadError(ValueError):
    """The payload lacks what its topic needs (the message names the field)."""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any, limit: int = 500) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value).strip()
        return text[:limit] or None
    return None


def _ref(value: Any) -> str | None:
    """A Shopify id (number or numeric string) as text."""
    text = _text(value, 64)
    return text if text and text.isdigit() else None


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _cents(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or abs(amount) > 10**12:
        return None
    return int((amount * 100).to_integral_value())


def _int(value: Any, default: int = 1) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
        return value
    return default


def _email(value: Any) -> str | None:
    text = _text(value, 254)
    return text.lower() if text and EMAIL.fullmatch(text) else None


def _full_name(person: dict[str, Any]) -> str | None:
    parts = [_text(person.get("first_name"), 100), _text(person.get("last_name"), 100)]
    return " ".join(p for p in parts if p) or _text(person.get("name"), 200)


# -- checkouts --------------------------------------------------------------------------------


def _phone(payload: dict[str, Any], default_region: str) -> str | None:
    """The first usable number: the checkout's, the SMS-marketing one, the customer's, an address's."""
    customer = _obj(payload.get("customer"))
    shipping, billing = _obj(payload.get("shipping_address")), _obj(payload.get("billing_address"))
    region = _text(shipping.get("country_code"), 2) or _text(billing.get("country_code"), 2) or default_region
    candidates = (
        payload.get("phone"),
        payload.get("sms_marketing_phone"),
        customer.get("phone"),
        shipping.get("phone"),
        billing.get("phone"),
    )
    for candidate in candidates:
        text = _text(candidate, 40)
        if text and (number := try_normalize_phone(text, region.upper())):
            return number
    return None


def _consent(state_holder: Any, checkbox: Any) -> bool | None:
    """Shopify's customer consent state when it gives one, else the checkout's checkbox."""
    state = _obj(state_holder).get("state")
    if isinstance(state, str) and state in GRANTED:
        return GRANTED[state]
    return checkbox if isinstance(checkbox, bool) else None


def _items(payload: dict[str, Any]) -> tuple[CheckoutItem, ...]:
    items = []
    for line in _list(payload.get("line_items")):
        line = _obj(line)
        title = _text(line.get("title"), 300) or _text(line.get("presentment_title"), 300)
        if title:
            items.append(CheckoutItem(title, _int(line.get("quantity")), _cents(line.get("price"))))
    return tuple(items[:200])


def parse_checkout(payload: dict[str, Any], *, default_region: str = "US") -> CheckoutData:
    """A ``checkouts/create`` or ``checkouts/update`` payload."""
    token = _text(payload.get("token"), 64)
    checkout_id = _ref(payload.get("id"))
    if checkout_id is None and token is None:
        raise PayloadError("a checkout needs an id or a token")
    updated_at = _when(payload.get("updated_at")) or _when(payload.get("created_at"))
    if updated_at is None:
        raise PayloadError("a checkout needs updated_at")
    customer = _obj(payload.get("customer"))
    address = _obj(payload.get("shipping_address")) or _obj(payload.get("billing_address"))
    currency = _text(payload.get("presentment_currency"), 3) or _text(payload.get("currency"), 3)
    customer_id = _ref(customer.get("id"))
    return CheckoutData(
        source=SOURCE,
        external_id=checkout_id or f"token:{token}",
        token=token,
        updated_at=updated_at,
        name=_full_name(customer) or _full_name(address),
        phone=_phone(payload, default_region),
        email=_email(payload.get("email")) or _email(customer.get("email")),
        recovery_url=_text(payload.get("abandoned_checkout_url"), 2000),
        items=_items(payload),
        total_cents=_cents(payload.get("total_price")),
        currency=currency if currency and CURRENCY.fullmatch(currency) else None,
        completed_at=_when(payload.get("completed_at")),
        sms_consent=_consent(customer.get("sms_marketing_consent"), payload.get("buyer_accepts_sms_marketing")),
        email_consent=_consent(customer.get("email_marketing_consent"), payload.get("buyer_accepts_marketing")),
        customer_ref=f"{SOURCE}:{customer_id}" if customer_id else None,
    )


# -- orders -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderPlaced:
    order_ref: str
    checkout_id: str | None
    checkout_token: str | None
    placed_at: datetime | None


def parse_order(payload: dict[str, Any]) -> OrderPlaced:
    """An ``orders/create`` or ``orders/updated`` payload: which checkout it completed."""
    order_ref = _ref(payload.get("id"))
    if order_ref is None:
        raise PayloadError("an order needs an id")
    return OrderPlaced(
        order_ref=order_ref,
        checkout_id=_ref(payload.get("checkout_id")),
        checkout_token=_text(payload.get("checkout_token"), 64),
        placed_at=_when(payload.get("processed_at")) or _when(payload.get("created_at")),
    )


# -- products ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductData:
    external_id: str
    title: str
    sku: str | None
    price_cents: int | None
    in_stock: bool
    description: str | None
    active: bool  # drafts and archived products are not offered to callers


def _available(variant: dict[str, Any]) -> bool:
    """Sellable: oversold allowed, stock not tracked, or some left."""
    if variant.get("inventory_policy") == "continue":
        return True
    if "inventory_management" in variant and not variant["inventory_management"]:
        return True
    quantity = variant.get("inventory_quantity")
    return quantity > 0 if isinstance(quantity, int) and not isinstance(quantity, bool) else True


def _plain(markup: Any) -> str | None:
    text = _text(markup, 20_000)
    if text is None:
        return None
    return " ".join(html.unescape(TAG.sub(" ", text)).split())[:2000] or None


def parse_product(payload: dict[str, Any]) -> ProductData:
    """A ``products/create`` or ``products/update`` payload."""
    external_id = _ref(payload.get("id"))
    title = _text(payload.get("title"), 500)
    if external_id is None or title is None:
        raise PayloadError("a product needs an id and a title")
    variants = [v for v in _list(payload.get("variants")) if isinstance(v, dict)]
    first = variants[0] if variants else {}
    status = payload.get("status")
    return ProductData(
        external_id=external_id,
        title=title,
        sku=_text(first.get("sku"), 100),
        price_cents=_cents(first.get("price")),
        in_stock=any(_available(v) for v in variants) if variants else True,
        description=_plain(payload.get("body_html")),
        active=status in (None, "active"),
    )


def parse_product_deletion(payload: dict[str, Any]) -> str:
    external_id = _ref(payload.get("id"))
    if external_id is None:
        raise PayloadError("a deleted product needs an id")
    return external_id


# -- compliance -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerRequest:
    """``customers/data_request`` or ``customers/redact``: whom it is about, which orders."""

    customer_ref: str | None
    email: str | None
    phone: str | None
    orders: tuple[str, ...]
    request_ref: str | None


def parse_customer_request(payload: dict[str, Any], *, default_region: str = "US") -> CustomerRequest:
    customer = _obj(payload.get("customer"))
    orders = _list(payload.get("orders_to_redact")) or _list(payload.get("orders_requested"))
    customer_id = _ref(customer.get("id"))
    phone = _text(customer.get("phone"), 40)
    return CustomerRequest(
        customer_ref=f"{SOURCE}:{customer_id}" if customer_id else None,
        email=_email(customer.get("email")),
        phone=try_normalize_phone(phone, default_region) if phone else None,
        orders=tuple(ref for ref in (_ref(o) for o in orders) if ref)[:1000],
        request_ref=_ref(_obj(payload.get("data_request")).get("id")),
    )
