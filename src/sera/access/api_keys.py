"""API keys for merchants' own systems: shown once, stored as a hash, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

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
    with sera.uow(merchant_id) as uow:
        key, _ = _add_key(uow.session, sera, merchant_id, role=role, label=label, actor=actor)
        uow.commit()
    return key


@dataclass(frozen=True)
class ReplacedApiKey:
    key: str  # in full: the only time it is ever visible
    revoked: int  # how many earlier keys with the label were revoked


def replace_api_key(sera: Sera, merchant_id: str, *, role: str, label: str, actor: str) -> ReplacedApiKey:
    """Create a key and revoke the merchant's other active keys with this label, in one transaction.

    Afterwards the new key is the only valid one with the label (each step audited as
    ``create_api_key`` and ``revoke_api_key`` audit theirs).
    """
    with sera.uow(merchant_id) as uow:
        active = select(ApiKey).where(
            ApiKey.merchant_id == merchant_id, ApiKey.label == label, ApiKey.revoked_at.is_(None)
        )
        earlier = uow.session.execute(active).scalars().all()
        key, key_id = _add_key(uow.session, sera, merchant_id, role=role, label=label, actor=actor)
        for old in earlier:
            _revoke(uow.session, sera, old, actor=actor, details={"replaced_by": key_id})
        uow.commit()
    return ReplacedApiKey(key=key, revoked=len(earlier))


def _add_key(
    session: Session, sera: Sera, merchant_id: str, *, role: str, label: str | None, actor: str
) -> tuple[str, str]:
    """Add a key to the session (audited); return the full key and the key's id."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id("key"),
        merchant_id=merchant_id,
        prefix=prefix,
        secret_hash=_hash(secret),
        role=role,
        label=label,
        created_at=sera.clock(),
    )
    session.add(key)
    audit.record(
        session,
        merchant_id=merchant_id,
        actor=actor,
        action="api_key.created",
        target_type="api_key",
        target_id=key.id,
        details={"role": role},
    )
    return f"{KEY_PREFIX}_{prefix}_{secret}", key.id


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
        _revoke(uow.session, sera, key, actor=actor)
        uow.commit()
    return True


def _revoke(session: Session, sera: Sera, key: ApiKey, *, actor: str, details: dict[str, str] | None = None) -> None:
    key.revoked_at = sera.clock()
    audit.record(
        session,
        merchant_id=key.merchant_id,
        actor=actor,
        action="api_key.revoked",
        target_type="api_key",
        target_id=key.id,
        details=details,
    )


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
