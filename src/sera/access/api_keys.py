"""API keys for merchants' own systems: shown once, stored as a hash, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from sera import audit
from sera.bootstrap import Sera
from sera.storage.models import ApiKey, new_id

ROLES = ("admin", "viewer")
KEY_PREFIX = "sera"


class InvalidApiKeyError(Exception):
    """Missing, malformed, unknown or revoked key; ``reason`` is safe to log."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Principal:
    """Who is calling the API: a key of one merchant, with a role."""

    merchant_id: str
    key_id: str
    role: str

    @property
    def actor(self) -> str:
        return f"api_key:{self.key_id}"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(sera: Sera, merchant_id: str, *, role: str, label: str | None = None, actor: str) -> str:
    """Create a key and return it in full: the only time it is ever visible."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with sera.uow(merchant_id) as uow:
        key = ApiKey(
            id=new_id("key"),
            merchant_id=merchant_id,
            prefix=prefix,
            secret_hash=_hash(secret),
            role=role,
            label=label,
            created_at=sera.clock(),
        )
        uow.session.add(key)
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor=actor,
            action="api_key.created",
            target_type="api_key",
            target_id=key.id,
            details={"role": role},
        )
        uow.commit()
    return f"{KEY_PREFIX}_{prefix}_{secret}"


def authenticate(sera: Sera, presented: str | None) -> Principal:
    if not presented:
        raise InvalidApiKeyError("missing")
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise InvalidApiKeyError("malformed")
    _, prefix, secret = parts
    with sera.uow(readonly=True) as uow:
        key = uow.session.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar_one_or_none()
        if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
            raise InvalidApiKeyError("unknown")
        if key.revoked_at is not None:
            raise InvalidApiKeyError("revoked")
        principal = Principal(key.merchant_id, key.id, key.role)
        stale = key.last_used_at is None or (sera.clock() - key.last_used_at).total_seconds() > 60
    if stale:  # coarse, so that reads do not all write
        with sera.uow() as uow:
            uow.session.execute(update(ApiKey).where(ApiKey.id == principal.key_id).values(last_used_at=sera.clock()))
            uow.commit()
    return principal


def revoke_api_key(sera: Sera, merchant_id: str, key_id_or_prefix: str, *, actor: str) -> bool:
    with sera.uow(merchant_id) as uow:
        key = uow.session.execute(
            select(ApiKey).where((ApiKey.id == key_id_or_prefix) | (ApiKey.prefix == key_id_or_prefix))
        ).scalar_one_or_none()
        if key is None:
            return False
        key.revoked_at = sera.clock()
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor=actor,
            action="api_key.revoked",
            target_type="api_key",
            target_id=key.id,
        )
        uow.commit()
    return True


@dataclass(frozen=True)
class ApiKeyInfo:
    id: str
    prefix: str
    role: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def list_api_keys(sera: Sera, merchant_id: str) -> list[ApiKeyInfo]:
    with sera.uow(merchant_id, readonly=True) as uow:
        rows = uow.session.execute(select(ApiKey).order_by(ApiKey.created_at)).scalars()
        return [ApiKeyInfo(r.id, r.prefix, r.role, r.label, r.created_at, r.last_used_at, r.revoked_at) for r in rows]
