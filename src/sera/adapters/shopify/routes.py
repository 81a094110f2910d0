"""Shopify's HTTP entry points: install, OAuth callback, the embedded app, webhooks.

Routes only verify and translate; the work is in ``installs`` and ``events``. Every
endpoint checks Shopify's signature (query ``hmac``, session token, or webhook HMAC)
before acting, and answers 401 when it does not verify.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from sera.adapters.http import OutboundError, PermanentError
from sera.adapters.shopify.app import APP_PATH, CALLBACK_PATH, WEBHOOK_PATH, ShopifyApp, ShopifyNotConfiguredError
from sera.adapters.shopify.app import shopify_app as configured_app
from sera.adapters.shopify.client import admin_client
from sera.adapters.shopify.events import Delivery, receive
from sera.adapters.shopify.installs import (
    REGISTER_WEBHOOKS_JOB,
    authorize_url,
    complete_install,
    installed_merchant,
    register_webhooks,
    spend_state,
)
from sera.adapters.shopify.session_tokens import InvalidSessionTokenError, verify_session_token
from sera.adapters.shopify.signatures import InvalidStateError, is_shop_domain, verify_query, verify_webhook
from sera.adapters.shopify.tokens import reinstall_needed
from sera.bootstrap import Sera
from sera.observability import AUTH_FAILURES
from sera.web.api.deps import SeraDep
from sera.web.bodies import read_capped

log = logging.getLogger("sera.shopify")
MAX_BODY_BYTES = 4 * 1024 * 1024


router = APIRouter(include_in_schema=False)  # live orders are wired in sera.bootstrap, for every process


def _unauthorized(reason: str) -> HTTPException:
    AUTH_FAILURES.labels(f"shopify_{reason}").inc()
    log.warning("shopify request refused", extra={"reason": reason})
    return HTTPException(401, "not signed by Shopify")


def get_app(sera: SeraDep) -> ShopifyApp:
    try:
        return configured_app(sera.settings)
    except ShopifyNotConfiguredError:
        raise HTTPException(503, "the Shopify app is not configured on this server") from None


AppDep = Annotated[ShopifyApp, Depends(get_app)]


def _signed_query(request: Request, app: ShopifyApp) -> list[tuple[str, str]]:
    params = request.query_params.multi_items()
    if not verify_query(params, app.api_secret):
        raise _unauthorized("query_hmac")
    return params


# -- install ----------------------------------------------------------------------------------


@router.get("/shopify/install")
def install(request: Request, sera: SeraDep, app: AppDep) -> RedirectResponse:
    """Start the install: to Shopify's grant screen, with a one-time state for this shop."""
    if "hmac" in request.query_params:  # from Shopify (the App Store, an install link)
        _signed_query(request, app)
    shop = request.query_params.get("shop", "")
    if not is_shop_domain(shop):
        raise HTTPException(400, "shop must be a *.myshopify.com domain")
    return RedirectResponse(authorize_url(app, shop.lower(), sera.clock()), status_code=302)


@router.get(CALLBACK_PATH)
def callback(request: Request, sera: SeraDep, app: AppDep) -> RedirectResponse:
    """Shopify sends the merchant back here with a code: verify everything, then install."""
    params = dict(_signed_query(request, app))
    shop, code, state = params.get("shop", ""), params.get("code", ""), params.get("state", "")
    if not is_shop_domain(shop) or not code:
        raise HTTPException(400, "shop must be a *.myshopify.com domain, with a code")
    shop = shop.lower()
    try:
        spend_state(sera, app, shop, state)
    except InvalidStateError:
        log.warning("shopify install state refused")
        raise HTTPException(400, "this install link is not valid any more; start the install again") from None
    try:
        installed = complete_install(sera, admin_client(app), shop, code)
    except PermanentError:
        raise HTTPException(400, "Shopify refused the installation; start it again") from None
    except OutboundError:
        raise HTTPException(502, "Shopify could not be reached; start the install again") from None
    _register_webhooks(sera, app, installed.merchant_id)
    return RedirectResponse(app.embedded_app_url(shop), status_code=302)


def _register_webhooks(sera: Sera, app: ShopifyApp, merchant_id: str) -> None:
    """In a job (retried while Shopify is busy); inline when this process has no queue."""
    if sera.jobs is not None:
        sera.jobs.enqueue(REGISTER_WEBHOOKS_JOB, merchant_id)
        return
    try:
        register_webhooks(sera, admin_client(app), merchant_id)
    except OutboundError:
        log.warning("shopify webhooks not registered", extra={"merchant": merchant_id})


# -- the embedded app -----------------------------------------------------------------------------


class ShopSession(BaseModel):
    merchant_id: str
    shop: str
    user_id: str | None = None


def _bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _session(sera: Sera, app: ShopifyApp, token: str) -> ShopSession:
    try:
        claims = verify_session_token(app, token, sera.clock())
    except InvalidSessionTokenError as exc:
        raise _unauthorized(f"session_{exc.reason}") from None
    merchant_id = installed_merchant(sera, claims.shop)
    if merchant_id is None:
        raise _unauthorized("session_shop_not_installed")
    return ShopSession(merchant_id=merchant_id, shop=claims.shop, user_id=claims.user_id)


def shopify_session(request: Request, sera: SeraDep, app: AppDep) -> ShopSession:
    """The installed shop whose admin sent this request (``Authorization: Bearer <session token>``)."""
    token = _bearer(request.headers)
    if token is None:
        raise _unauthorized("session_missing")
    return _session(sera, app, token)


ShopSessionDep = Annotated[ShopSession, Depends(shopify_session)]


def _page_session(request: Request, sera: SeraDep, app: AppDep) -> ShopSession:
    """The page's first load: a session token (header or ``id_token``), or a signed app URL."""
    token = _bearer(request.headers) or request.query_params.get("id_token")
    if token:
        return _session(sera, app, token)
    if "hmac" not in request.query_params:
        raise _unauthorized("session_missing")
    shop = dict(_signed_query(request, app)).get("shop", "").lower()
    merchant_id = installed_merchant(sera, shop) if is_shop_domain(shop) else None
    if merchant_id is None:
        raise _unauthorized("session_shop_not_installed")
    return ShopSession(merchant_id=merchant_id, shop=shop)


REINSTALL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sera</title>
<meta name="shopify-api-key" content="{api_key}">
<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script></head>
<body><main><h1>Sera needs to be installed again</h1>
<p id="reinstall">Shopify no longer accepts Sera's access to {shop}, so callers cannot
hear about their orders. <a href="{install}" target="_top">Install Sera again</a> to reconnect it.</p>
</main></body></html>"""
DASHBOARD = "/dashboard/"


@router.get(APP_PATH, response_class=HTMLResponse)
def embedded_app(
    request: Request, session: Annotated[ShopSession, Depends(_page_session)], sera: SeraDep, app: AppDep
) -> Response:
    """The app inside the Shopify admin: the dashboard, with the session token Shopify put in the
    URL (a signed URL without one goes by the dashboard's bounce page, where App Bridge adds one).
    Only the shop's own admin (and Shopify's) may frame it."""
    ancestors = f"frame-ancestors https://{session.shop} https://admin.shopify.com;"
    if reinstall_needed(sera, session.merchant_id):  # Shopify refused to refresh the shop's token
        install = html.escape(f"/shopify/install?{urlencode({'shop': session.shop})}")
        page = REINSTALL.format(api_key=html.escape(app.api_key), shop=html.escape(session.shop), install=install)
        return HTMLResponse(page, headers={"Content-Security-Policy": ancestors})
    query = urlencode({"embedded": "1", **{k: v for k, v in request.query_params.items() if k != "hmac"}})
    target = f"{DASHBOARD}?{query}"
    if "id_token" not in request.query_params:
        target = f"{DASHBOARD}embedded/bounce?{urlencode({'shopify-reload': target})}"
    return RedirectResponse(target, status_code=303, headers={"Content-Security-Policy": ancestors})


@router.get(f"{APP_PATH}/session")
def app_session(session: ShopSessionDep) -> ShopSession:
    """Which shop the embedded app is signed in to (App Bridge adds the session token)."""
    return session


# -- webhooks ---------------------------------------------------------------------------------


async def _raw_body(request: Request) -> bytes:
    """The exact bytes Shopify signed, refused early when too large."""
    return await read_capped(request, MAX_BODY_BYTES)


RawBody = Annotated[bytes, Depends(_raw_body)]


def _delivery(headers: Mapping[str, str], body: bytes) -> Delivery:
    topic, shop = headers.get("x-shopify-topic", ""), headers.get("x-shopify-shop-domain", "")
    if not topic or not shop:
        raise HTTPException(400, "X-Shopify-Topic and X-Shopify-Shop-Domain are required")
    try:
        payload: Any = json.loads(body)
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        raise HTTPException(400, "the body must be a JSON object")
    event_id = headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id")
    return Delivery(
        topic=topic.strip().lower(),
        shop=shop.strip().lower(),
        event_id=event_id or hashlib.sha256(body).hexdigest(),
        body=body.decode(),
    )


@router.post(WEBHOOK_PATH)
def webhook(request: Request, body: RawBody, sera: SeraDep) -> JSONResponse:
    """Every topic arrives here: verify the HMAC first, then record and queue (Shopify waits 5 s)."""
    try:
        secret = configured_app(sera.settings).api_secret
    except ShopifyNotConfiguredError:
        raise _unauthorized("webhook_unconfigured") from None
    if not verify_webhook(body, request.headers.get("x-shopify-hmac-sha256"), secret):
        raise _unauthorized("webhook_hmac")
    outcome = receive(sera, _delivery(request.headers, body))
    return JSONResponse({"outcome": outcome})
