"""A shop's Admin API access token, refreshed before it expires.

Invariants:
- Tokens are stored only sealed, as the shop's "shopify" provider account (account id =
  the shop domain): the access token in ``secret``, the refresh token in
  ``refresh_secret``. Their expiry times are kept in the clear: they are not secret, and
  they decide when to refresh.
- A token without an expiry (a non-expiring offline token stored before Sera asked for
  expiring ones) is used as it is, never refreshed.
- An access token that has expired, or expires within ``REFRESH_MARGIN``, is refreshed
  before the Admin API call, and the new pair is saved before that call is made. So is
  one whose refresh token expires within ``REFRESH_TOKEN_MARGIN``; a daily job refreshes
  those of shops that made no Admin API call meanwhile, so a quiet shop keeps its
  connection instead of needing a reinstall after 90 days.
- One refresh at a time per shop: it runs in a transaction holding the account's row
  lock (PostgreSQL) or the database's write lock (SQLite) and reads the row again under
  it, so a process that waited uses the pair the first one saved instead of spending the
  same refresh token again. (Shopify retires a refresh token once its replacement is
  used, and keeps one expiring access token per shop: a second, concurrent refresh
  would revoke the first one's token.)
- On SQLite a caller that already holds the write lock (an agent's turn) cannot wait for
  another transaction: the refresh is saved in the caller's unit of work and commits
  with it. Should that turn roll back, the refresh token kept is the one just used,
  which Shopify accepts again until its replacement has been used.
- A refresh Shopify refuses (400 ``invalid_grant``, 401) marks the account refused
  (audited) and raises ReinstallNeededError: the merchant has to install the app again,
  which stores a new pair and clears the mark. Callers turn this into "unavailable",
  never into a server error. A refresh that cannot reach Shopify changes nothing; an
  access token still valid is used meanwhile.
- Logs carry the merchant id and HTTP status, never a token or anything of the shop's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from sera import audit
from sera.adapters.http import PermanentError, RetryableError
from sera.adapters.shopify.client import AccessGrant, RefreshRefusedError, ShopifyAdmin
from sera.bootstrap import Sera
from sera.merchants.providers import set_provider_account
from sera.notifications.service import notify
from sera.storage.database import UnitOfWork, is_sqlite
from sera.storage.models import ProviderAccount

log = logging.getLogger("sera.shopify")

PROVIDER = "shopify"
REFRESH_MARGIN = timedelta(minutes=5)
REFRESH_TOKEN_MARGIN = timedelta(days=7)
ACTOR = "shopify:token"


class ShopifyAccessError(PermanentError):
    """The shop has no usable Admin API token now; retrying the same call will not help."""


class ReinstallNeededError(ShopifyAccessError):
    """Shopify refused to refresh the shop's token: only a new install gets another one."""


@dataclass(frozen=True)
class ShopAccess:
    shop: str  # the shop domain
    token: str  # the access token for X-Shopify-Access-Token


def _after(start: datetime, seconds: int | None) -> datetime | None:
    return None if seconds is None else start + timedelta(seconds=seconds)


def save_grant(sera: Sera, merchant_id: str, shop: str, grant: AccessGrant, *, requested_at: datetime) -> None:
    """Store what an install's token exchange answered (a replaced pair is forgotten).

    Lifetimes count from ``requested_at``, taken before the request: an expiry is never
    later than Shopify's own.
    """
    set_provider_account(
        sera,
        merchant_id,
        PROVIDER,
        account_id=shop,
        secret=grant.token,
        actor="shopify:install",
        expires_at=_after(requested_at, grant.expires_in),
        refresh_secret=grant.refresh_token,
        refresh_expires_at=_after(requested_at, grant.refresh_token_expires_in) if grant.refresh_token else None,
    )


def connected_shop(uow: UnitOfWork) -> str | None:
    """The domain of the Shopify shop this merchant installed Sera in, if any (no decryption)."""
    return uow.session.execute(
        select(ProviderAccount.account_id).where(ProviderAccount.provider == PROVIDER)
    ).scalar_one_or_none()


def shop_access(
    sera: Sera, admin: ShopifyAdmin, merchant_id: str, *, uow: UnitOfWork | None = None
) -> ShopAccess | None:
    """The shop and a token good for an Admin API call now, refreshed first when due.

    None when the shop is not installed. ``uow`` is the caller's open unit of work for
    this merchant, if it has one. Raises ReinstallNeededError, ShopifyAccessError, or
    RetryableError (Shopify unreachable and the token already expired).
    """
    if uow is not None:
        found = _stored(uow, sera.clock())
    else:
        with sera.uow(merchant_id, readonly=True) as reader:
            found = _stored(reader, sera.clock())
    if found is None:
        return None
    access, due = found
    if not due:
        return access
    if uow is not None and not uow.readonly and is_sqlite(sera.db.engine):
        return _refresh(sera, admin, uow, save=uow.flush)  # the caller holds SQLite's one write lock
    with sera.uow(merchant_id) as own:
        return _refresh(sera, admin, own, save=own.commit)


def _account(uow: UnitOfWork, *, lock: bool) -> ProviderAccount | None:
    query = select(ProviderAccount).where(ProviderAccount.provider == PROVIDER)
    if lock:
        query = query.with_for_update()
    row = uow.session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()
    if row is None or not row.account_id:
        return None
    if row.refused_at is not None:
        raise ReinstallNeededError("Shopify refused this shop's token; the app must be installed again")
    return row


def _due(row: ProviderAccount, now: datetime) -> bool:
    return (row.secret_expires_at is not None and row.secret_expires_at - REFRESH_MARGIN <= now) or (
        row.refresh_expires_at is not None and row.refresh_expires_at - REFRESH_TOKEN_MARGIN <= now
    )


def refresh_expiring_tokens(sera: Sera, admin: ShopifyAdmin) -> int:
    """The daily job: refresh each shop's pair whose refresh token runs out within
    REFRESH_TOKEN_MARGIN; returns how many shops were due. A shop Shopify refuses is marked
    for a reinstall (as on any refresh); one it cannot reach now is tried again tomorrow."""
    now = sera.clock()
    with sera.uow(readonly=True) as uow:
        due = (
            uow.session.execute(
                select(ProviderAccount.merchant_id).where(
                    ProviderAccount.provider == PROVIDER,
                    ProviderAccount.refused_at.is_(None),
                    ProviderAccount.refresh_expires_at <= now + REFRESH_TOKEN_MARGIN,
                )
            )
            .scalars()
            .all()
        )
    for merchant_id in due:
        try:
            shop_access(sera, admin, merchant_id)
        except (ShopifyAccessError, RetryableError):
            continue  # logged where it happened
    return len(due)


def _stored(uow: UnitOfWork, now: datetime) -> tuple[ShopAccess, bool] | None:
    """The stored access, and whether it is due for a refresh."""
    row = _account(uow, lock=False)
    if row is None or row.account_id is None:
        return None
    return ShopAccess(row.account_id, uow.vault.open(row, "secret") or ""), _due(row, now)


def _refresh(sera: Sera, admin: ShopifyAdmin, uow: UnitOfWork, *, save: Callable[[], None]) -> ShopAccess | None:
    """Refresh under the lock, unless the process that held it before has just done so."""
    now = sera.clock()
    row = _account(uow, lock=True)
    if row is None or row.account_id is None:
        return None  # uninstalled meanwhile
    current = ShopAccess(row.account_id, uow.vault.open(row, "secret") or "")
    if not _due(row, now):
        return current
    refresh_token = uow.vault.open(row, "refresh_secret")
    try:
        if not refresh_token or (row.refresh_expires_at is not None and row.refresh_expires_at <= now):
            raise RefreshRefusedError("no refresh token that Shopify would still accept")
        grant = admin.refresh(row.account_id, refresh_token)
    except RefreshRefusedError as exc:
        _refuse(uow, row, now, exc.status)
        save()
        raise ReinstallNeededError("Shopify refused to refresh this shop's token") from None
    except RetryableError as exc:
        if row.secret_expires_at is not None and row.secret_expires_at > now:
            log.warning("shopify token refresh postponed", extra={"merchant": uow.merchant_id, "status": exc.status})
            return current  # still valid for a few minutes; the next call tries again
        raise
    except PermanentError as exc:  # e.g. invalid_client: the app's credentials, not the shop's token
        log.warning("shopify token refresh failed", extra={"merchant": uow.merchant_id, "status": exc.status})
        raise ShopifyAccessError("Shopify did not refresh this shop's token", exc.status) from None
    _store(uow, row, grant, refresh_token, now)
    save()
    log.info("shopify token refreshed", extra={"merchant": uow.merchant_id})
    return ShopAccess(row.account_id, grant.token)


def _store(uow: UnitOfWork, row: ProviderAccount, grant: AccessGrant, used: str, now: datetime) -> None:
    """The new pair replaces the old one (a refresh token Shopify did not replace is kept)."""
    if grant.refresh_token:
        row.refresh_expires_at = _after(now, grant.refresh_token_expires_in)
    row.secret_expires_at = _after(now, grant.expires_in)
    row.updated_at = now
    uow.vault.seal(row, secret=grant.token, refresh_secret=grant.refresh_token or used)


def _refuse(uow: UnitOfWork, row: ProviderAccount, now: datetime, status: int | None) -> None:
    row.refused_at = now
    row.updated_at = now
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=ACTOR,
        action="shopify.reinstall_needed",
        target_type="provider_account",
        target_id=row.id,
        details={"status": status},
        at=now,
    )
    log.warning(
        "shopify refused the token refresh: the shop must install the app again",
        extra={"merchant": uow.merchant_id, "status": status},
    )
    context = {"domain": row.account_id, "reason": "Shopify refused the app's access token"}
    notify(uow, "shopify_disconnected", key=f"shopify:refused:{now.isoformat()}", context=context, now=now)


def reinstall_needed(sera: Sera, merchant_id: str) -> bool:
    """Whether Shopify refused this shop's token (the merchant must install the app again)."""
    with sera.uow(merchant_id, readonly=True) as uow:
        refused = uow.session.execute(
            select(ProviderAccount.refused_at).where(ProviderAccount.provider == PROVIDER)
        ).scalar_one_or_none()
    return refused is not None
