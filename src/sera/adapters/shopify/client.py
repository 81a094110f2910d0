"""Sera's calls to Shopify: the OAuth token endpoint and the Admin GraphQL API.

Everything goes through ``sera.adapters.http.HttpClient`` (timeouts, retries, the split
between permanent and retryable errors). GraphQL answers 200 even for errors: a
``THROTTLED`` error is retryable, any other top-level error is permanent.

Install asks for an expiring offline token (``expiring=1``): an access token that lasts
``expires_in`` seconds (an hour) and a refresh token that lasts
``refresh_token_expires_in`` (90 days). The refresh grant trades the refresh token for a
new pair; the refresh token used is retired once its replacement has been used.
"""

from __future__ import annotations

import json
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
    """What the token endpoint answered; the lifetimes are seconds from the request, None = never."""

    token: str
    scopes: tuple[str, ...]
    expires_in: int | None = None
    refresh_token: str | None = None
    refresh_token_expires_in: int | None = None


class RefreshRefusedError(PermanentError):
    """Shopify will not refresh with this refresh token (expired, retired or revoked):
    only a new install (OAuth) gets the shop a token again."""


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
        """Trade the one-time authorization code for the shop's expiring offline access token."""
        return self._token_request(shop, {"code": code, "expiring": "1"})

    def refresh(self, shop: str, refresh_token: str) -> AccessGrant:
        """Trade the refresh token for a new access token and refresh token.

        Raises RefreshRefusedError when Shopify refuses the refresh token (400
        ``invalid_grant``, or 401), another PermanentError or a RetryableError otherwise.
        """
        register_secret(refresh_token)
        try:
            return self._token_request(shop, {"grant_type": "refresh_token", "refresh_token": refresh_token})
        except PermanentError as exc:
            if exc.status == 401 or (exc.status == 400 and _oauth_error(exc.body) == "invalid_grant"):
                raise RefreshRefusedError("Shopify refused the refresh token", exc.status) from None
            raise

    def _token_request(self, shop: str, fields: dict[str, str]) -> AccessGrant:
        response = self.http.request(
            "POST",
            f"{self.app.shop_url(shop)}/admin/oauth/access_token",
            json={"client_id": self.app.api_key, "client_secret": self.app.api_secret, **fields},
            headers={"Accept": "application/json"},
        )
        body = _body(response)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise PermanentError("the token endpoint answered without an access token", response.status_code)
        register_secret(token)
        refresh_token = body.get("refresh_token")
        if isinstance(refresh_token, str) and refresh_token:
            register_secret(refresh_token)
        else:
            refresh_token = None
        return AccessGrant(
            token,
            tuple(s for s in str(body.get("scope") or "").split(",") if s),
            expires_in=_seconds(body.get("expires_in")),
            refresh_token=refresh_token,
            refresh_token_expires_in=_seconds(body.get("refresh_token_expires_in")),
        )

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


def _seconds(value: Any) -> int | None:
    """A lifetime in seconds (an integer, maybe sent as text); None when absent or not one."""
    if isinstance(value, bool):
        return None
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


def _oauth_error(body: str) -> str | None:
    """The ``error`` code of an OAuth error answer (``{"error": "invalid_grant", ...}``)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, str) else None


def _json(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PermanentError("Shopify answered with an unexpected shape")
    return value


@lru_cache(maxsize=8)
def admin_client(app: ShopifyApp) -> ShopifyAdmin:
    """One client (one connection pool) per app configuration."""
    return ShopifyAdmin(app)
