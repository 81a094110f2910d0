"""A local stand-in for Shopify: the OAuth grant screen and token exchange, and the Admin
GraphQL API, answering in Shopify's own wire format. It also signs what Shopify signs
(callback queries, webhooks, App Bridge session tokens) with the app secret, the way
Shopify does.

Shops live under the path: ``{base_url}/{shop}/admin/...`` (Sera's SERA_SHOPIFY_ADMIN_BASE),
so one fake serves many shops. It listens on 127.0.0.1 on a free port in a thread and
records every request.

- ``GET /{shop}/admin/oauth/authorize`` approves at once (as a merchant clicking "Install")
  and redirects to ``redirect_uri`` with ``code, hmac, host, shop, state, timestamp``.
- ``POST /{shop}/admin/oauth/access_token`` trades a code once for
  ``{"access_token": "shpat_…", "scope": "…"}`` (a non-expiring offline token) or, with
  ``expiring=1``, for an expiring one: ``expires_in`` (an hour), ``refresh_token`` and
  ``refresh_token_expires_in`` (90 days).
- The same endpoint with ``grant_type=refresh_token`` trades a refresh token for a new
  pair, as Shopify does (changelog of 10 December 2025 and 28 August 2026): a shop has one
  expiring access token at a time, so a new one revokes the ones before; a refresh token
  can be used again until its replacement is used, then it is refused
  (``400 {"error": "invalid_grant", …}``), and so is an expired or unknown one.
- ``POST /{shop}/admin/api/{version}/graphql.json`` with ``X-Shopify-Access-Token``
  answers the ``shop`` query, ``webhookSubscriptionCreate``, ``orders(query: "name:…")``
  and ``customers(query: "phone:…") { … orders }``; an expired token gets a 401.

Token lifetimes run on the fake's ``clock`` (the tests' clock, so a test can let a token
expire by moving time on).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt

# The WebhookSubscriptionTopic values Sera uses (compliance topics are not among them:
# Shopify accepts those only in the app configuration).
TOPICS = {
    "APP_UNINSTALLED",
    "CHECKOUTS_CREATE",
    "CHECKOUTS_UPDATE",
    "ORDERS_CREATE",
    "ORDERS_UPDATED",
    "PRODUCTS_CREATE",
    "PRODUCTS_UPDATE",
    "PRODUCTS_DELETE",
}
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 90 * 24 * 3600
PATH = re.compile(r"^/(?P<shop>[^/]+)(?P<rest>/admin/.*)$")
GRAPHQL = re.compile(r"^/admin/api/(?P<version>[0-9]{4}-[0-9]{2}|unstable)/graphql\.json$")


@dataclass
class RecordedRequest:
    method: str
    shop: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class RefreshToken:
    expires_at: datetime
    replaces: str | None  # the refresh token this one was issued for: retired once this one is used
    retired: bool = False


@dataclass
class FakeShop:
    domain: str
    name: str
    timezone: str
    currency: str
    shop_id: int
    orders: list[dict[str, Any]] = field(default_factory=list)  # GraphQL Order nodes (+ "_customer_phone")
    subscriptions: list[dict[str, str]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)  # access tokens that work now (unless expired)
    expiries: dict[str, datetime] = field(default_factory=dict)  # expiring access token -> its end
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    scope: str = ""  # what the merchant granted at install

    def valid(self, token: str | None, now: datetime) -> bool:
        return token in self.tokens and (token not in self.expiries or now < self.expiries[token])


@dataclass
class FakeShopify:
    api_key: str
    api_secret: str
    api_version: str = "2025-10"
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    shops: dict[str, FakeShop] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    _codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (shop, scope)
    _failures: list[int] = field(default_factory=list)
    _throttle: int = 0
    _token_delay: float = 0.0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- running ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeShopify:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- the test's controls --------------------------------------------------------------------

    def add_shop(self, domain: str, name: str, timezone: str = "America/Chicago", currency: str = "USD") -> FakeShop:
        shop = FakeShop(domain, name, timezone, currency, shop_id=60817342000 + len(self.shops))
        self.shops[domain] = shop
        return shop

    def add_order(self, domain: str, node: dict[str, Any]) -> None:
        self.shops[domain].orders.append(node)

    def uninstall(self, domain: str) -> None:
        """What Shopify does when the merchant removes the app: tokens and subscriptions go."""
        self.shops[domain].tokens.clear()
        self.shops[domain].refresh_tokens.clear()
        self.shops[domain].subscriptions.clear()

    def legacy_token(self, domain: str) -> str:
        """A non-expiring offline token, as installs before expiring tokens got (and still work)."""
        token = "shpat_" + secrets.token_hex(16)
        self.shops[domain].tokens.add(token)
        return token

    def revoke_refresh_tokens(self, domain: str) -> None:
        """Shopify stops accepting the shop's refresh tokens (revoked on its side)."""
        self.shops[domain].refresh_tokens.clear()

    def fail_next(self, status: int) -> None:
        self._failures.append(status)

    def throttle_next(self, times: int = 1) -> None:
        self._throttle += times

    def delay_token_answers(self, seconds: float) -> None:
        """The token endpoint takes this long to answer (a slow network, a busy Shopify)."""
        self._token_delay = seconds

    def requests_to(self, shop: str, kind: str = "") -> list[RecordedRequest]:
        return [r for r in self.requests if r.shop == shop and kind in r.path]

    # -- what Shopify signs ---------------------------------------------------------------------

    def sign_query(self, params: dict[str, str]) -> str:
        """A query string with Shopify's ``hmac`` (hex HMAC-SHA256 of the sorted other params)."""
        message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        digest = hmac.new(self.api_secret.encode(), message.encode(), hashlib.sha256).hexdigest()
        return urlencode({**params, "hmac": digest})

    def webhook(
        self, topic: str, payload: Any, shop: str, *, event_id: str | None = None, secret: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers Shopify sends for a webhook (base64 HMAC of the raw body)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        digest = hmac.new((secret or self.api_secret).encode(), body, hashlib.sha256).digest()
        return body, {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-API-Version": self.api_version,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        }

    def session_token(
        self,
        shop: str,
        now: datetime,
        *,
        lifetime: int = 60,
        api_key: str | None = None,
        secret: str | None = None,
        dest: str | None = None,
        **claims: Any,
    ) -> str:
        """An App Bridge session token for a staff member of ``shop``."""
        issued = int(now.timestamp())
        body = {
            "iss": f"https://{shop}/admin",
            "dest": dest or f"https://{shop}",
            "aud": api_key or self.api_key,
            "sub": "74553753793",
            "exp": issued + lifetime,
            "nbf": issued,
            "iat": issued,
            "jti": str(uuid.uuid4()),
            "sid": secrets.token_hex(16),
            **claims,
        }
        return jwt.encode(body, secret or self.api_secret, algorithm="HS256")

    # -- the API --------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        match = PATH.match(url.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = _decode(raw, handler.headers.get("Content-Type", ""))
        shop = match["shop"] if match else ""
        rest = match["rest"] if match else url.path
        if rest == "/admin/oauth/access_token" and self._token_delay:
            time.sleep(self._token_delay)
        with self._lock:
            self.requests.append(RecordedRequest(method, shop, rest, dict(handler.headers.items()), body))
            status, answer, location = self._answer(method, shop, rest, url.query, handler.headers, body)
        if location:
            handler.send_response(status)
            handler.send_header("Location", location)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        payload = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _answer(
        self, method: str, domain: str, rest: str, query: str, headers: Any, body: Any
    ) -> tuple[int, Any, str | None]:
        shop = self.shops.get(domain)
        if shop is None:
            return 404, {"errors": "Not Found"}, None
        if method == "GET" and rest == "/admin/oauth/authorize":
            return self._authorize(shop, dict(parse_qsl(query)))
        if self._failures:
            return self._failures.pop(0), {"errors": "Service Unavailable"}, None
        if method == "POST" and rest == "/admin/oauth/access_token":
            return (*self._access_token(shop, body), None)
        graphql = GRAPHQL.match(rest)
        if method == "POST" and graphql:
            if not shop.valid(headers.get("X-Shopify-Access-Token"), self.clock()):
                return 401, {"errors": INVALID_TOKEN}, None
            return 200, self._graphql(shop, body if isinstance(body, dict) else {}), None
        return 404, {"errors": "Not Found"}, None

    def _authorize(self, shop: FakeShop, params: dict[str, str]) -> tuple[int, Any, str | None]:
        if params.get("client_id") != self.api_key:
            return 400, {"errors": "Oauth error invalid_request: The client_id is invalid"}, None
        code = secrets.token_hex(16)
        self._codes[code] = (shop.domain, params.get("scope", ""))
        store = shop.domain.removesuffix(".myshopify.com")
        host = base64.urlsafe_b64encode(f"admin.shopify.com/store/{store}".encode()).decode().rstrip("=")
        query = self.sign_query(
            {
                "code": code,
                "host": host,
                "shop": shop.domain,
                "state": params.get("state", ""),
                "timestamp": str(int(time.time())),
            }
        )
        return 302, None, f"{params.get('redirect_uri', '')}?{query}"

    def _access_token(self, shop: FakeShop, body: Any) -> tuple[int, Any]:
        fields = body if isinstance(body, dict) else {}
        if fields.get("client_id") != self.api_key or fields.get("client_secret") != self.api_secret:
            return 400, {"error": "invalid_client", "error_description": "Client authentication failed"}
        if fields.get("grant_type") == "refresh_token":
            return self._refresh(shop, str(fields.get("refresh_token") or ""))
        grant = self._codes.pop(str(fields.get("code")), None)
        if grant is None or grant[0] != shop.domain:
            return 400, {
                "error": "invalid_request",
                "error_description": "The authorization code was not found or was already used",
            }
        if str(fields.get("expiring")) != "1":
            token = "shpat_" + secrets.token_hex(16)
            shop.tokens.add(token)
            return 200, {"access_token": token, "scope": grant[1]}
        shop.refresh_tokens.clear()  # a new install starts afresh
        return 200, self._expiring_pair(shop, grant[1], replaces=None)

    def _refresh(self, shop: FakeShop, refresh_token: str) -> tuple[int, Any]:
        used = shop.refresh_tokens.get(refresh_token)
        if used is None or used.retired or used.expires_at <= self.clock():
            return 400, {"error": "invalid_grant", "error_description": "The refresh token is invalid or expired"}
        if used.replaces is not None and used.replaces in shop.refresh_tokens:
            shop.refresh_tokens[used.replaces].retired = True
        return 200, self._expiring_pair(shop, shop.scope, replaces=refresh_token)

    def _expiring_pair(self, shop: FakeShop, scope: str, *, replaces: str | None) -> dict[str, Any]:
        """A new expiring access token (the shop's only one) and its refresh token."""
        now = self.clock()
        for token in list(shop.expiries):
            shop.tokens.discard(token)
            del shop.expiries[token]
        token, refresh_token = "shpat_" + secrets.token_hex(16), "shprt_" + secrets.token_hex(16)
        shop.tokens.add(token)
        shop.expiries[token] = now + timedelta(seconds=ACCESS_TOKEN_SECONDS)
        shop.refresh_tokens[refresh_token] = RefreshToken(now + timedelta(seconds=REFRESH_TOKEN_SECONDS), replaces)
        shop.scope = scope
        return {
            "access_token": token,
            "scope": scope,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "refresh_token": refresh_token,
            "refresh_token_expires_in": REFRESH_TOKEN_SECONDS,
        }

    def _graphql(self, shop: FakeShop, request: dict[str, Any]) -> dict[str, Any]:
        if self._throttle:
            self._throttle -= 1
            return {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}
        query = str(request.get("query") or "")
        variables = request.get("variables") or {}
        cost = {"cost": {"requestedQueryCost": 12, "actualQueryCost": 6}}
        if "webhookSubscriptionCreate" in query:
            return self._subscribe(shop, variables)
        if "customers(" in query:
            return {"data": {"customers": {"nodes": self._customers(shop, variables)}}, "extensions": cost}
        if "orders(" in query:
            return {"data": {"orders": {"nodes": self._orders_named(shop, variables)}}, "extensions": cost}
        if "shop {" in query or "shop{" in query:
            data = {"name": shop.name, "ianaTimezone": shop.timezone, "currencyCode": shop.currency}
            return {"data": {"shop": data}, "extensions": cost}
        return {"errors": [{"message": "Field doesn't exist", "extensions": {"code": "undefinedField"}}]}

    def _subscribe(self, shop: FakeShop, variables: dict[str, Any]) -> dict[str, Any]:
        topic = variables.get("topic")
        if topic not in TOPICS:
            message = f"Variable $topic of type WebhookSubscriptionTopic! was provided invalid value: {topic}"
            return {"errors": [{"message": message, "extensions": {"code": "INVALID_VARIABLE"}}]}
        uri = str((variables.get("webhookSubscription") or {}).get("uri") or "")
        if any(s["topic"] == topic and s["uri"] == uri for s in shop.subscriptions):
            error = {
                "field": ["webhookSubscription", "callbackUrl"],
                "message": "Address for this topic has already been taken",
            }
            return {"data": {"webhookSubscriptionCreate": {"webhookSubscription": None, "userErrors": [error]}}}
        subscription = {
            "id": f"gid://shopify/WebhookSubscription/{1_000_000 + len(shop.subscriptions)}",
            "topic": topic,
            "uri": uri,
        }
        shop.subscriptions.append(subscription)
        return {"data": {"webhookSubscriptionCreate": {"webhookSubscription": subscription, "userErrors": []}}}

    def _orders_named(self, shop: FakeShop, variables: dict[str, Any]) -> list[dict[str, Any]]:
        match = re.fullmatch(r'name:"?(#?[^"]+)"?', str(variables.get("query") or ""))
        wanted = match.group(1).lstrip("#") if match else None
        return [_public(o) for o in shop.orders if wanted and str(o["name"]).lstrip("#") == wanted][:5]

    def _customers(self, shop: FakeShop, variables: dict[str, Any]) -> list[dict[str, Any]]:
        match = re.fullmatch(r'phone:"?([^"]+)"?', str(variables.get("query") or ""))
        phone = match.group(1) if match else None
        mine = [o for o in shop.orders if phone and (o.get("customer") or {}).get("phone") == phone]
        if not mine:
            return []
        newest_first = sorted(mine, key=lambda o: o["processedAt"], reverse=True)
        return [{"orders": {"nodes": [_public(o) for o in newest_first[:5]]}}]


def _public(order: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in order.items() if not k.startswith("_")}


def _decode(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "application/x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(raw.decode()))
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
