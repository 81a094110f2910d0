"""The Shopify app as configured: credentials, scopes, API version, and where shops live."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sera.config import Settings
from sera.observability import register_secret

WEBHOOK_PATH = "/shopify/webhooks"
CALLBACK_PATH = "/shopify/callback"
APP_PATH = "/shopify/app"


class ShopifyNotConfiguredError(RuntimeError):
    """SERA_SHOPIFY_API_KEY or SERA_SHOPIFY_API_SECRET is missing: nothing can be verified."""


@dataclass(frozen=True)
class ShopifyApp:
    api_key: str
    api_secret: str
    scopes: tuple[str, ...]
    api_version: str
    admin_base: str  # "" = each shop's own https://{shop}
    public_url: str
    state_key: bytes  # signs the OAuth state

    def shop_url(self, shop: str) -> str:
        """The shop's base URL for its Admin API and OAuth pages."""
        base = self.admin_base.rstrip("/")
        return f"{base}/{shop}" if base else f"https://{shop}"

    def graphql_url(self, shop: str) -> str:
        return f"{self.shop_url(shop)}/admin/api/{self.api_version}/graphql.json"

    @property
    def redirect_uri(self) -> str:
        return self.public_url.rstrip("/") + CALLBACK_PATH

    @property
    def webhook_uri(self) -> str:
        return self.public_url.rstrip("/") + WEBHOOK_PATH

    def embedded_app_url(self, shop: str) -> str:
        """Where a merchant lands after installing: the app inside their Shopify admin."""
        return f"https://{shop}/admin/apps/{self.api_key}"


def shopify_app(settings: Settings) -> ShopifyApp:
    """The app from the settings; raises ShopifyNotConfiguredError without credentials."""
    secret = settings.shopify_api_secret.get_secret_value() if settings.shopify_api_secret else ""
    if not settings.shopify_api_key or not secret:
        raise ShopifyNotConfiguredError("SERA_SHOPIFY_API_KEY and SERA_SHOPIFY_API_SECRET are required")
    register_secret(secret)
    signing = settings.secret_key.get_secret_value() if settings.secret_key else secret
    return ShopifyApp(
        api_key=settings.shopify_api_key,
        api_secret=secret,
        scopes=tuple(s.strip() for s in settings.shopify_scopes.split(",") if s.strip()),
        api_version=settings.shopify_api_version,
        admin_base=settings.shopify_admin_base,
        public_url=settings.public_url,
        state_key=hashlib.sha256(b"sera-shopify-oauth-state:" + signing.encode()).digest(),
    )
