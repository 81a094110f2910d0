"""A merchant's own provider accounts (their Twilio account, their Vapi secret).

Secrets are sealed under the merchant's key; only an id like a Twilio AccountSid is
kept in the clear. Channels fall back to Sera's own account from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from sera import audit
from sera.bootstrap import Sera
from sera.storage.database import UnitOfWork
from sera.storage.models import ProviderAccount, new_id

PROVIDERS = ("twilio", "vapi", "shopify")


@dataclass(frozen=True)
class ProviderCredentials:
    account_id: str | None
    secret: str


def provider_credentials(uow: UnitOfWork, provider: str) -> ProviderCredentials | None:
    row = uow.session.execute(select(ProviderAccount).where(ProviderAccount.provider == provider)).scalar_one_or_none()
    if row is None:
        return None
    return ProviderCredentials(row.account_id, uow.vault.open(row, "secret") or "")


def set_provider_account(
    sera: Sera, merchant_id: str, provider: str, *, account_id: str | None, secret: str, actor: str
) -> None:
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
        uow.vault.seal(row, secret=secret)
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
