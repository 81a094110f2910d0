"""The dashboard inside the Shopify admin: the same pages, authenticated by App Bridge's
session token instead of a cookie (a third-party iframe gets no cookies).

- A page load carries the token as ``id_token`` (Shopify adds it to the app's URL); every later
  request, made by htmx, carries ``Authorization: Bearer`` (the dashboard's script asks App
  Bridge for a fresh token). Tokens live a minute; a page loaded without one (a reload, a link
  opened by hand) goes to the bounce page, where App Bridge reloads it with a new ``id_token``.
- The shop's staff are members with the admin role (``sera.team.members.shopify_staff``).
- Framing: ``frame-ancestors`` names only the shop's admin and admin.shopify.com; App Bridge is
  the one script from another origin, as Shopify requires (loaded first, from its CDN).
- No CSRF token is needed: nothing rides on ambient credentials, and a bearer token is never
  taken from a URL for a request that changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from sera.adapters.shopify.app import ShopifyNotConfiguredError
from sera.adapters.shopify.app import shopify_app as configured_app
from sera.adapters.shopify.installs import installed_merchant
from sera.adapters.shopify.session_tokens import InvalidSessionTokenError, verify_session_token
from sera.bootstrap import Sera
from sera.team import sessions
from sera.team.members import shopify_staff
from sera.web.api.deps import SeraDep

APP_BRIDGE = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
BOUNCE = "/embedded/bounce"
SAFE_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Embedded:
    """What a page inside the Shopify admin needs to load App Bridge."""

    shop: str
    api_key: str

    @property
    def frame_ancestors(self) -> str:
        return f"https://{self.shop} https://admin.shopify.com"


class EmbeddedRefusedError(Exception):
    """A session token that is not good (expired, forged, another app's, an uninstalled shop)."""


def bearer_token(request: Request) -> str | None:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if request.method in SAFE_METHODS:
        return request.query_params.get("id_token") or None
    return None


def wants_bounce(request: Request) -> bool:
    """A page load inside the admin that came without a token (a reload, say)."""
    return request.method in SAFE_METHODS and request.query_params.get("embedded") == "1"


def authenticate(request: Request, sera: Sera, token: str) -> tuple[sessions.SessionInfo, Embedded]:
    try:
        app = configured_app(sera.settings)
        claims = verify_session_token(app, token, sera.clock())
    except (ShopifyNotConfiguredError, InvalidSessionTokenError):
        raise EmbeddedRefusedError from None
    merchant_id = installed_merchant(sera, claims.shop)
    if merchant_id is None:
        raise EmbeddedRefusedError
    member_id = shopify_staff(sera, merchant_id, claims.user_id)
    info = sessions.shopify_admin_session(sera, member_id, claims.session_id)
    if info is None:  # the member was removed from the team page
        raise EmbeddedRefusedError
    return info, Embedded(shop=claims.shop, api_key=app.api_key)


router = APIRouter()


@router.get(BOUNCE)
def bounce(request: Request, sera: SeraDep) -> Response:
    """App Bridge reads ``shopify-reload`` and loads that URL again with a fresh ``id_token``."""
    try:
        api_key = configured_app(sera.settings).api_key
    except ShopifyNotConfiguredError:
        return HTMLResponse("the Shopify app is not configured on this server", status_code=503)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sera</title>'
        f'<meta name="shopify-api-key" content="{quote(api_key)}">'
        f'<script src="{APP_BRIDGE}"></script></head><body></body></html>'
    )
    csp = f"default-src 'self'; script-src {APP_BRIDGE}; frame-ancestors https://*.myshopify.com https://admin.shopify.com"
    return HTMLResponse(page, headers={"Content-Security-Policy": csp, "Cache-Control": "no-store"})


def bounce_url(request: Request, prefix: str) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{prefix}{BOUNCE}?shopify-reload={quote(target, safe='')}"
