"""A merchant's own provider accounts (their Twilio account, their Vapi secret, their
Shopify shop's access token).

Secrets are sealed under the merchant's key; only an id like a Twilio AccountSid is
kept in the clear. Channels fall back to Sera's own account from the settings. A secret
that expires (Shopify's expiring offline token) comes with its refresh token, sealed
too, and both expiry times; setting an account clears any earlier refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from sera import audit
from sera.bootstrap import Sera
from sera.observability import register_secret
from sera.storage.database import UnitOfWork
from sera.storage.models import ProviderAccount, new_id

LLM_PROVIDER = "llm"  # the shop's own key for its OpenAI-compatible model
PROVIDERS = ("twilio", "vapi", "shopify", LLM_PROVIDER)


@dataclass(frozen=True)
class ProviderCredentials:
    account_id: str | None
    secret: str
    expires_at: datetime | None = None  # None: the secret does not expire
    refresh_secret: str | None = None
    refresh_expires_at: datetime | None = None
    refused_at: datetime | None = None  # the provider refused a refresh: connect again


def provider_credentials(uow: UnitOfWork, provider: str) -> ProviderCredentials | None:
    row = uow.session.execute(select(ProviderAccount).where(ProviderAccount.provider == provider)).scalar_one_or_none()
    if row is None:
        return None
    return ProviderCredentials(
        row.account_id,
        uow.vault.open(row, "secret") or "",
        expires_at=row.secret_expires_at,
        refresh_secret=uow.vault.open(row, "refresh_secret"),
        refresh_expires_at=row.refresh_expires_at,
        refused_at=row.refused_at,
    )


def own_secret(sera: Sera, merchant_id: str, provider: str) -> str | None:
    """The merchant's own secret for a provider (its webhooks are signed with it); cached
    briefly, and never printed in a log line."""

    def load() -> str | None:
        with sera.uow(merchant_id, readonly=True) as uow:
            own = provider_credentials(uow, provider)
        secret = own.secret if own is not None and own.secret else None
        register_secret(secret)
        return secret

    return sera.lookups.get(("secret", merchant_id, provider), load)


def set_provider_account(
    sera: Sera,
    merchant_id: str,
    provider: str,
    *,
    account_id: str | None,
    secret: str,
    actor: str,
    expires_at: datetime | None = None,
    refresh_secret: str | None = None,
    refresh_expires_at: datetime | None = None,
) -> None:
    """Store (or replace) the merchant's account at a provider, its secrets sealed; audited."""
    if provider not in PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}")
    if not secret:
        raise ValueError("the secret is required")
    with sera.uow(merchant_id) as uow:
        row = uow.session.execute(
            select(ProviderAccount).where(ProviderAccount.provider == provider)
        ).scalar_one_or_none()
        if row is None:
            row = ProviderAccount(id=new_id("pac"), merchant_id=merchant_id, provider=provider)
            uow.session.add(row)
        row.account_id = account_id
        row.updated_at = sera.clock()
        row.secret_expires_at = expires_at
        row.refresh_expires_at = refresh_expires_at
        row.refused_at = None
        uow.vault.seal(row, secret=secret, refresh_secret=refresh_secret)
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor=actor,
            action="settings.provider_account_set",
            target_type="provider_account",
            target_id=row.id,
            details={"provider": provider},
        )
        uow.commit()
    sera.lookups.clear()
