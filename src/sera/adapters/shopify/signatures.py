"""Shopify's signatures, computed the way Shopify computes them.

- OAuth and app-URL requests: ``hmac`` = hex HMAC-SHA256, under the app secret, of the
  other query parameters sorted and joined as ``k=v&k=v`` (``%``, ``&`` and ``=`` escaped
  as Shopify's own libraries do; repeated ``k[]`` values as a JSON list).
- Webhooks: ``X-Shopify-Hmac-Sha256`` = base64 HMAC-SHA256 of the raw body.
- The OAuth ``state`` is Sera's: a nonce bound to the shop and an expiry, signed, so any
  web process can check it; the callback also spends it once (a receipt row).

Every comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

SHOP_DOMAIN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com$")
STATE_TTL = timedelta(minutes=10)


def is_shop_domain(value: object) -> bool:
    """A ``*.myshopify.com`` domain and nothing else (no scheme, path, port or look-alike)."""
    return isinstance(value, str) and len(value) <= 255 and SHOP_DOMAIN.fullmatch(value) is not None


def _pairs_for_signature(params: Iterable[tuple[str, str]]) -> list[str]:
    grouped: dict[str, list[str]] = {}
    for key, value in params:
        if key != "hmac":
            grouped.setdefault(key, []).append(value)
    pairs = []
    for key, values in grouped.items():
        if key.endswith("[]"):
            name, value = key[:-2], json.dumps(values)
        else:
            name, value = key, values[-1]
        name = name.replace("%", "%25").replace("=", "%3D")
        pairs.append(f"{name}={value.replace('%', '%25')}".replace("&", "%26"))
    return sorted(pairs)


def query_hmac(params: Iterable[tuple[str, str]], secret: str) -> str:
    message = "&".join(_pairs_for_signature(params))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_query(params: list[tuple[str, str]], secret: str) -> bool:
    """True when the query's ``hmac`` is Shopify's signature of the rest of it."""
    given = [value for key, value in params if key == "hmac"]
    if len(given) != 1:
        return False
    return hmac.compare_digest(query_hmac(params, secret).encode(), given[0].encode())


def webhook_hmac(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_webhook(body: bytes, header: str | None, secret: str) -> bool:
    if not header:
        return False
    return hmac.compare_digest(webhook_hmac(body, secret).encode(), header.strip().encode())


class InvalidStateError(ValueError):
    """The OAuth state was forged, altered, expired, or issued for another shop."""


def _state_signature(key: bytes, shop: str, nonce: str, expires: int) -> str:
    message = f"shopify-oauth|{shop.lower()}|{nonce}|{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def make_state(key: bytes, shop: str, now: datetime) -> str:
    nonce = secrets.token_urlsafe(18)
    expires = int((now + STATE_TTL).timestamp())
    return f"{nonce}.{expires}.{_state_signature(key, shop, nonce, expires)}"


def read_state(key: bytes, state: str, shop: str, now: datetime) -> str:
    """The state's nonce, if Sera signed it for this shop and it has not expired."""
    parts = state.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        raise InvalidStateError("malformed state")
    nonce, expires_text, signature = parts
    expected = _state_signature(key, shop, nonce, int(expires_text))
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise InvalidStateError("state not issued for this shop")
    if int(expires_text) < now.timestamp():
        raise InvalidStateError("state expired")
    return nonce
