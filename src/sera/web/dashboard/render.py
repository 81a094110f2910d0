"""Rendering dashboard pages: Jinja2 with autoescape, a fresh CSP nonce per response, the
navigation a member's role allows, and htmx partials.

A page template extends ``dashboard/base.html``. When htmx asks for part of a page (the
``HX-Request`` header with ``HX-Target``), a route may render only that part: ``partial=``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sera import __version__
from sera.web.dashboard.access import CSRF_FIELD, PREFIX, DashboardUser

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "svg"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

# scripts and styles from this server only (plus the page's nonce); no inline style attribute,
# no eval, nothing from another origin; forms post only here; no page may frame the dashboard
CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# inside the Shopify admin: App Bridge from Shopify's CDN (it talks to the admin), framed by the
# shop's admin only
EMBEDDED_CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}' https://cdn.shopify.com; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self' https://*.shopify.com; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
)
HEADERS = {
    "Cache-Control": "no-store",  # pages hold personal data: never kept by the browser or a proxy
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str
    action: str | None  # the permission it needs; None: every member


NAV = (
    NavItem("/", "Home", None),
    NavItem("/calls", "Calls and messages", "calls.read"),
    NavItem("/appointments", "Appointments", "appointments.read"),
    NavItem("/tickets", "Tickets", "tickets.read"),
    NavItem("/customers", "Customers", "customers.read"),
    NavItem("/analytics", "Analytics", "analytics.read"),
    NavItem("/settings", "Agent settings", "settings.read"),
    NavItem("/privacy", "Privacy", "privacy.read"),
    NavItem("/usage", "Usage and invoices", "analytics.read"),
    NavItem("/team", "Team", "team.read"),
    NavItem("/developer", "Developer", "developer.read"),
    NavItem("/webhooks", "Webhooks", "webhooks.read"),
    NavItem("/hubspot", "HubSpot", "hubspot.manage"),
)


def _local(value: datetime | None, zone: str = "UTC", fmt: str = "%a %d %b %Y, %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(zone)).strftime(fmt)


_env.filters["local"] = _local
_env.globals["PREFIX"] = PREFIX
_env.globals["CSRF_FIELD"] = CSRF_FIELD
_env.globals["version"] = __version__


def nav_for(user: DashboardUser | None) -> list[NavItem]:
    if user is None:
        return []
    return [item for item in NAV if item.action is None or user.can(item.action)]


def render(
    request: Request,
    template: str,
    *,
    user: DashboardUser | None,
    status_code: int = 200,
    partial: str | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page (or, for an htmx request, ``partial``: a template of just the swapped part)."""
    nonce = secrets.token_urlsafe(16)
    wants_partial = partial is not None and request.headers.get("hx-request") == "true"
    page = _env.get_template(partial if wants_partial and partial else template)
    inside = getattr(request.state, "embedded", None)  # inside the Shopify admin
    zone = context.pop("zone", None) or "UTC"
    if user is not None and user.session.display_zone:  # the member's own choice beats the shop's
        zone = user.session.display_zone
    body = page.render(
        request=request,
        user=user,
        nav=nav_for(user),
        current=request.url.path,
        nonce=nonce,
        zone=zone,
        user_density=user.session.density if user is not None else "normal",
        embedded=inside,
        **context,
    )
    policy = (
        CSP.format(nonce=nonce)
        if inside is None
        else EMBEDDED_CSP.format(nonce=nonce, ancestors=inside.frame_ancestors)
    )
    all_headers = {**HEADERS, "Content-Security-Policy": policy, **(headers or {})}
    return HTMLResponse(body, status_code=status_code, headers=all_headers)


def render_fragment(template: str, **context: Any) -> str:
    """A template rendered on its own (a chart, an email preview): escaped like every page."""
    return _env.get_template(template).render(**context)
