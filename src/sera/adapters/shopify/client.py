"""Sera's calls to Shopify: the OAuth token exchange and the Admin GraphQL API.

Everything goes through ``sera.adapters.http.HttpClient`` (timeouts, retries, the split
between permanent and retryable errors). GraphQL answers 200 even for errors: a
``THROTTLED`` error is retryable, any other top-level error is permanent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx

from sera.adapters.http import HttpClient, PermanentError, RetryableError
from sera.adapters.shopify.app import ShopifyApp
from sera.observability import register_secret

log = logging.getLogger("sera.shopify")

SHOP_QUERY = "query SeraShop { shop { name ianaTimezone currencyCode } }"
SUBSCRIBE = """
mutation SeraSubscribe($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""
ALREADY_SUBSCRIBED = "has already been taken"


@dataclass(frozen=True)
class AccessGrant:
    token: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class ShopProfile:
    name: str
    timezone: str
    currency: str


class ShopifyAdmin:
    """One app's client for every shop's Admin API (shops differ by URL and token)."""

    def __init__(self, app: ShopifyApp, http: HttpClient | None = None) -> None:
        self.app = app
        self.http = http or HttpClient(timeout=8.0, retries=2)

    def exchange_code(self, shop: str, code: str) -> AccessGrant:
        """Trade the one-time authorization code for the shop's offline access token."""
        response = self.http.request(
            "POST",
            f"{self.app.shop_url(shop)}/admin/oauth/access_token",
            json={"client_id": self.app.api_key, "client_secret": self.app.api_secret, "code": code},
            headers={"Accept": "application/json"},
        )
        body = _body(response)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise PermanentError("the token exchange answered without an access token", response.status_code)
        register_secret(token)
        scopes = tuple(s for s in str(body.get("scope") or "").split(",") if s)
        return AccessGrant(token, scopes)

    def graphql(self, shop: str, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a GraphQL answer; raises PermanentError or RetryableError."""
        register_secret(token)
        response = self.http.request(
            "POST",
            self.app.graphql_url(shop),
            json={"query": query, "variables": variables or {}},
            headers={"X-Shopify-Access-Token": token, "Accept": "application/json"},
        )
        body = _body(response)
        errors = body.get("errors")
        if errors:
            codes = [(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)]
            message = "Shopify GraphQL errors: " + ", ".join(str(c) for c in codes if c)
            if "THROTTLED" in codes:
                raise RetryableError(message, response.status_code)
            raise PermanentError(message, response.status_code)
        return _json(body.get("data"))

    def shop_profile(self, shop: str, token: str) -> ShopProfile:
        data = _json(self.graphql(shop, token, SHOP_QUERY).get("shop"))
        return ShopProfile(
            name=str(data.get("name") or shop.split(".")[0]),
            timezone=str(data.get("ianaTimezone") or "UTC"),
            currency=str(data.get("currencyCode") or "USD"),
        )

    def subscribe(self, shop: str, token: str, topic: str) -> bool:
        """Subscribe the shop's ``topic`` (e.g. ``orders/create``) to Sera's webhook URL.

        True when created, False when it already existed (reinstalls and retries are harmless).
        """
        enum = topic.upper().replace("/", "_")
        variables = {"topic": enum, "webhookSubscription": {"uri": self.app.webhook_uri, "format": "JSON"}}
        result = _json(self.graphql(shop, token, SUBSCRIBE, variables).get("webhookSubscriptionCreate"))
        problems = [str(e.get("message")) for e in result.get("userErrors") or [] if isinstance(e, dict)]
        if any(ALREADY_SUBSCRIBED in message for message in problems):
            return False
        if problems:
            raise PermanentError(f"webhook subscription refused for {topic}")
        return True


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        return _json(response.json())
    except ValueError:
        raise PermanentError("Shopify answered with something other than JSON", response.status_code) from None


def _json(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PermanentError("Shopify answered with an unexpected shape")
    return value


@lru_cache(maxsize=8)
def admin_client(app: ShopifyApp) -> ShopifyAdmin:
    """One client (one connection pool) per app configuration."""
    return ShopifyAdmin(app)
