"""Installing, uninstalling and forgetting a Shopify shop.

Invariants:
- Install asks for an expiring offline token; the pair is stored only sealed, as the
  shop's "shopify" provider account (account id = the shop domain; see ``tokens``). A
  reinstall replaces it; an uninstall deletes it (Shopify revokes it).
- The OAuth ``state`` is signed for one shop, expires, and is spent once: the callback
  records it as a receipt, so a replayed callback is refused in every process.
- An uninstalled shop's data stays for ``SERA_SHOPIFY_UNINSTALL_GRACE_HOURS`` (under 48),
  then the pending-deletion sweep deletes the whole shop (key first). A reinstall
  before then makes the shop active again, which is what cancels the deletion: the
  sweep re-checks each shop right before deleting it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select

from sera import audit
from sera.adapters.http import PermanentError
from sera.adapters.receipts import first_delivery
from sera.adapters.shopify.app import ShopifyApp
from sera.adapters.shopify.client import AccessGrant, ShopifyAdmin, ShopProfile
from sera.adapters.shopify.signatures import InvalidStateError, make_state, read_state
from sera.adapters.shopify.tokens import PROVIDER, ShopifyAccessError, save_grant, shop_access
from sera.bootstrap import Sera
from sera.merchants.service import merchant_id_for_domain
from sera.privacy.erasure import delete_shop
from sera.storage.models import Merchant, ProviderAccount, new_id

log = logging.getLogger("sera.shopify")

STATE_RECEIPTS = "shopify:oauth-state"
REGISTER_WEBHOOKS_JOB = "shopify.register_webhooks"
# Registered per shop through the Admin API (all to the one webhook URL).
WEBHOOK_TOPICS = (
    "app/uninstalled",
    "checkouts/create",
    "checkouts/update",
    "orders/create",
    "orders/updated",
    "products/create",
    "products/update",
    "products/delete",
)
# Shopify accepts these only in the app's configuration (shopify.app.toml), never per shop.
COMPLIANCE_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")


def authorize_url(app: ShopifyApp, shop: str, now: datetime) -> str:
    """Where to send the merchant to approve the app: Shopify's grant screen for their shop."""
    query = urlencode(
        {
            "client_id": app.api_key,
            "scope": ",".join(app.scopes),
            "redirect_uri": app.redirect_uri,
            "state": make_state(app.state_key, shop, now),
        }
    )
    return f"{app.shop_url(shop)}/admin/oauth/authorize?{query}"


def spend_state(sera: Sera, app: ShopifyApp, shop: str, state: str) -> None:
    """Accept the callback's state once: signed for this shop, unexpired, never seen before."""
    nonce = read_state(app.state_key, state, shop, sera.clock())
    with sera.uow() as uow:
        if not first_delivery(uow, provider=STATE_RECEIPTS, event_id=nonce, topic="oauth/callback"):
            raise InvalidStateError("state already used")
        uow.commit()


@dataclass(frozen=True)
class Installed:
    merchant_id: str
    created: bool


def complete_install(sera: Sera, admin: ShopifyAdmin, shop: str, code: str) -> Installed:
    """Exchange the code for the offline token, read the shop, create or reactivate the merchant."""
    requested_at = sera.clock()
    grant = admin.exchange_code(shop, code)
    profile = admin.shop_profile(shop, grant.token)
    installed = install_shop(sera, shop, profile, grant, granted_at=requested_at)
    missing = set(admin.app.scopes) - set(grant.scopes)
    if missing:
        log.warning("shopify granted fewer scopes than asked", extra={"merchant": installed.merchant_id})
    return installed


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def install_shop(sera: Sera, shop: str, profile: ShopProfile, grant: AccessGrant, *, granted_at: datetime) -> Installed:
    """Create the merchant (a minimal shop: no phone numbers until the shop file sets them)
    or make an uninstalled one active again; then store the tokens, sealed."""
    existing = merchant_id_for_domain(sera, shop)
    merchant_id = existing or new_id("mer")
    sera.keystore.create_merchant_key(merchant_id)
    now = sera.clock()
    with sera.uow(merchant_id) as uow:
        merchant = uow.session.execute(select(Merchant).where(Merchant.id == merchant_id)).scalar_one_or_none()
        if merchant is None:
            merchant = Merchant(
                id=merchant_id,
                domain=shop,
                name=profile.name[:255],
                timezone=_zone(profile.timezone),
                currency=profile.currency if len(profile.currency) == 3 else "USD",
                settings={},
                created_at=now,
            )
            uow.session.add(merchant)
        merchant.status = "active"
        merchant.uninstalled_at = None
        merchant.updated_at = max(now, (merchant.updated_at or now) + timedelta(microseconds=1))
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor="shopify:install",
            action="shop.installed",
            target_type="merchant",
            target_id=merchant_id,
            details={"created": existing is None, "scopes": list(grant.scopes)},
            at=now,
        )
        uow.commit()
    save_grant(sera, merchant_id, shop, grant, requested_at=granted_at)
    return Installed(merchant_id, existing is None)


def installed_merchant(sera: Sera, shop: str) -> str | None:
    """The merchant of a shop that has Sera installed now (not uninstalled, not unknown)."""
    with sera.uow(readonly=True) as uow:
        return uow.session.execute(
            select(Merchant.id).where(Merchant.domain == shop, Merchant.status == "active")
        ).scalar_one_or_none()


def register_webhooks(sera: Sera, admin: ShopifyAdmin, merchant_id: str) -> int:
    """Subscribe every topic to Sera's webhook URL; returns how many were new.

    A topic Shopify refuses (a scope the merchant did not grant) is logged and skipped,
    and so is a shop whose token Shopify refused (it must install again); an unreachable
    Shopify raises RetryableError so the job runs again.
    """
    try:
        access = shop_access(sera, admin, merchant_id)
    except ShopifyAccessError:
        log.warning("shopify webhooks not registered: no usable token", extra={"merchant": merchant_id})
        return 0
    if access is None:
        return 0
    created = 0
    for topic in WEBHOOK_TOPICS:
        try:
            created += admin.subscribe(access.shop, access.token, topic)
        except PermanentError:
            log.warning("shopify webhook topic refused", extra={"merchant": merchant_id, "topic": topic})
    with sera.uow(merchant_id) as uow:
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor="shopify:install",
            action="shopify.webhooks_registered",
            target_type="merchant",
            target_id=merchant_id,
            details={"created": created, "topics": len(WEBHOOK_TOPICS)},
            at=sera.clock(),
        )
        uow.commit()
    return created


def mark_uninstalled(sera: Sera, merchant_id: str) -> bool:
    """The merchant removed the app: forget the token and start the grace period."""
    now = sera.clock()
    with sera.uow(merchant_id) as uow:
        merchant = uow.session.execute(select(Merchant).where(Merchant.id == merchant_id)).scalar_one_or_none()
        if merchant is None:
            return False
        if merchant.status != "uninstalled" or merchant.uninstalled_at is None:
            merchant.status = "uninstalled"
            merchant.uninstalled_at = now
        uow.session.execute(delete(ProviderAccount).where(ProviderAccount.provider == PROVIDER))
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor="shopify:webhook",
            action="shop.uninstalled",
            target_type="merchant",
            target_id=merchant_id,
            details={"delete_after_hours": sera.settings.shopify_uninstall_grace_hours},
            at=now,
        )
        uow.commit()
    return True


def _uninstalled_before(sera: Sera, cutoff: datetime, merchant_id: str | None = None) -> list[str]:
    query = select(Merchant.id).where(Merchant.status == "uninstalled", Merchant.uninstalled_at <= cutoff)
    if merchant_id is not None:
        query = query.where(Merchant.id == merchant_id)
    with sera.uow(readonly=True) as uow:
        return list(uow.session.execute(query.order_by(Merchant.uninstalled_at)).scalars())


def delete_uninstalled_shops(sera: Sera, now: datetime) -> list[str]:
    """Delete every shop uninstalled longer ago than the grace period (and not reinstalled)."""
    cutoff = now - timedelta(hours=sera.settings.shopify_uninstall_grace_hours)
    deleted = []
    for merchant_id in _uninstalled_before(sera, cutoff):
        if _uninstalled_before(sera, cutoff, merchant_id):  # a reinstall may have just happened
            delete_shop(sera, merchant_id, actor="system:shopify-uninstall")
            deleted.append(merchant_id)
    return deleted
