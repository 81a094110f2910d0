"""Logging in to the dashboard, and the sessions it keeps.

Invariants:
- the browser holds an opaque token; the server keeps only its SHA-256 (the session's id), so a
  copy of the database cannot be replayed as a cookie;
- a new token at every login (no fixation): a token from before login is never promoted;
- a session ends after 30 minutes idle or 12 hours in all, when its member is removed or
  changes password, or when ended from the sessions page;
- failed logins are counted per account and per client address (both as keyed hashes) and
  lock with a doubling backoff; successes, failures and lockouts are audited with ids only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from sera import audit
from sera.bootstrap import Sera
from sera.storage.database import UnitOfWork
from sera.storage.models import DashboardSession, LoginThrottle, Merchant, StaffUser
from sera.team import second_factor
from sera.team.members import login_index
from sera.team.passwords import burn_time, hash_password, needs_rehash, verify_password
from sera.team.session_store import store_of

IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
PENDING = timedelta(minutes=10)  # between the password and the second factor
REAUTHENTICATED = timedelta(minutes=5)  # how long a re-entered password opens erasure and deletion
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often
ACCOUNT_FREE_FAILURES = 5
ADDRESS_FREE_FAILURES = 20
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(hours=1)
FORGET_FAILURES = timedelta(hours=24)
SECOND_FACTOR_ROLES = frozenset({"owner", "admin"})  # must have one in production

FULL, SECOND_FACTOR, ENROLL = "full", "second_factor", "enroll"


class LoginRefusedError(Exception):
    """Wrong email or password (one message for both), or a lock; ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SessionInfo:
    id: str
    member_id: str
    merchant_id: str
    role: str
    stage: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    reauthenticated_at: datetime | None
    shop_name: str = ""
    shop_domain: str = ""
    timezone: str = "UTC"  # the shop's: every time on the dashboard is shown in it
    display_zone: str | None = None  # the member's own choice for showing times, if they made one
    density: str = "normal"  # the member's table density: normal | compact

    @property
    def actor(self) -> str:
        return f"team_member:{self.member_id}"


@dataclass(frozen=True)
class Started:
    token: str  # for the cookie: never stored
    session: SessionInfo


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _throttle_key(sera: Sera, kind: str, value: str) -> str:
    secret = sera.settings.secret_key.get_secret_value() if sera.settings.secret_key else ""
    return hmac.new(secret.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def _info(
    row: DashboardSession, role: str, shop: Merchant | None = None, preferences: dict[str, Any] | None = None
) -> SessionInfo:
    preferences = preferences or {}
    zone = preferences.get("timezone")
    density = preferences.get("density")
    return SessionInfo(
        id=row.id,
        member_id=row.member_id,
        merchant_id=row.merchant_id,
        role=role,
        stage=row.stage,
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        reauthenticated_at=row.reauthenticated_at,
        shop_name=shop.name if shop else "",
        shop_domain=shop.domain if shop else "",
        timezone=shop.timezone if shop else "UTC",
        display_zone=zone if isinstance(zone, str) and zone else None,
        density=density if density in ("normal", "compact") else "normal",
    )


# -- throttling ----------------------------------------------------------------------------------


def _locked_for(uow: UnitOfWork, keys: list[str]) -> int | None:
    now = uow.now()
    rows = uow.session.execute(select(LoginThrottle).where(LoginThrottle.key.in_(keys))).scalars()
    waits = [
        int((row.locked_until - now).total_seconds()) + 1 for row in rows if row.locked_until and row.locked_until > now
    ]
    return max(waits) if waits else None


def _count_failure(uow: UnitOfWork, key: str, free: int) -> datetime | None:
    """One more failure; the lock it sets, if it sets one."""
    now = uow.now()
    row = uow.session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0, last_failure_at=now)
        uow.session.add(row)
    elif now - row.last_failure_at > FORGET_FAILURES:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    if row.failures < free:
        return None
    lock = min(FIRST_LOCK * 2 ** (row.failures - free), LONGEST_LOCK)
    row.locked_until = now + lock
    return row.locked_until


# -- logging in ----------------------------------------------------------------------------------


def _candidates(uow: UnitOfWork, sera: Sera, email: str) -> list[StaffUser]:
    return list(
        uow.session.execute(
            select(StaffUser)
            .where(StaffUser.login_bidx == login_index(sera, email), StaffUser.removed_at.is_(None))
            .order_by(StaffUser.last_login_at.desc(), StaffUser.created_at)
        ).scalars()
    )


def login(sera: Sera, email: str, password: str, *, address: str) -> Started:
    """Check an email and password and start a session (at the second-factor stage when the
    member has one, or must set one up)."""
    account_key = _throttle_key(sera, "account", login_index(sera, email))
    address_key = _throttle_key(sera, "address", address)
    with sera.uow() as uow:
        wait = _locked_for(uow, [account_key, address_key])
        candidates = _candidates(uow, sera, email)
        member = None
        if wait is None:
            member = next((row for row in candidates if verify_password(row.password_hash, password)), None)
            if not candidates:
                burn_time(password)
        merchant_id = candidates[0].merchant_id if candidates else None
        details = {"address": address_key[:16], "account": account_key[:16]}
        if wait is not None:
            audit.record(
                uow.session, merchant_id=merchant_id, actor="anonymous", action="login_refused_locked", details=details
            )
            uow.commit()
            raise LoginRefusedError("too many failed attempts: try again later", retry_after=wait)
        if member is None:
            locks = [
                _count_failure(uow, account_key, ACCOUNT_FREE_FAILURES),
                _count_failure(uow, address_key, ADDRESS_FREE_FAILURES),
            ]
            target = candidates[0].id if candidates else None
            audit.record(
                uow.session,
                merchant_id=merchant_id,
                actor="anonymous",
                action="login_failed",
                target_type="team_member" if target else None,
                target_id=target,
                details=details,
            )
            if any(locks):
                audit.record(
                    uow.session,
                    merchant_id=merchant_id,
                    actor="anonymous",
                    action="login_locked",
                    target_type="team_member" if target else None,
                    target_id=target,
                    details=details,
                )
            uow.commit()
            raise LoginRefusedError("that email and password do not match")
        uow.session.execute(delete(LoginThrottle).where(LoginThrottle.key == account_key))
        if member.password_hash and needs_rehash(member.password_hash):
            member.password_hash = hash_password(password)
        if member.totp_enabled_at is not None:
            stage = SECOND_FACTOR
        elif sera.settings.is_production and member.role in SECOND_FACTOR_ROLES:
            stage = ENROLL
        else:
            stage = FULL
        started = _start(uow, member, stage=stage, via="password")
        if stage == FULL:
            _logged_in(uow, member, started.session, second_factor="none")
        uow.commit()
    return started


def _start(uow: UnitOfWork, member: StaffUser, *, stage: str, via: str) -> Started:
    token = secrets.token_urlsafe(32)
    now = uow.now()
    row = DashboardSession(
        id=session_id(token),
        merchant_id=member.merchant_id,
        member_id=member.id,
        stage=stage,
        csrf_token=secrets.token_urlsafe(32),
        via=via,
        created_at=now,
        last_seen_at=now,
    )
    store_of(uow).keep(uow, row)
    return Started(token=token, session=_info(row, member.role))


def _logged_in(uow: UnitOfWork, member: StaffUser, session: SessionInfo, *, second_factor: str) -> None:
    member.last_login_at = uow.now()
    audit.record(
        uow.session,
        merchant_id=member.merchant_id,
        actor=f"team_member:{member.id}",
        action="login",
        target_type="dashboard_session",
        target_id=session.id[:16],
        details={"second_factor": second_factor},
    )


def _pending(uow: UnitOfWork, sid: str, stage: str) -> tuple[DashboardSession, StaffUser]:
    row = store_of(uow).get(uow, sid)
    if row is None or row.ended_at is not None or row.stage != stage or uow.now() - row.created_at > PENDING:
        raise LoginRefusedError("this login has expired: enter your email and password again")
    member = uow.session.get(StaffUser, row.member_id)
    if member is None or member.removed_at is not None:
        raise LoginRefusedError("this login has expired: enter your email and password again")
    return row, member


def pending(sera: Sera, token: str | None, stage: str) -> tuple[SessionInfo, str] | None:
    """A session waiting for its second factor (or its set-up) and its member's email."""
    if not token:
        return None
    with sera.uow(readonly=True) as reader:
        try:
            row, member = _pending(reader, session_id(token), stage)
        except LoginRefusedError:
            return None
        return _info(row, member.role), reader.vault.open(member, "email") or ""


def complete_second_factor(sera: Sera, sid: str, code: str) -> Started:
    """The code after the password: a new token for the full session (the pending one ends)."""
    with sera.uow() as uow:
        row, member = _pending(uow, sid, SECOND_FACTOR)
        account_key = _throttle_key(sera, "account", member.login_bidx or member.id)  # the password's own
        wait = _locked_for(uow, [account_key])
        if wait is not None:  # a code is guessed no faster than a password
            raise LoginRefusedError("too many failed attempts: try again later", retry_after=wait)
        try:
            used = second_factor.verify(uow, member, code)
        except second_factor.SecondFactorError:
            _count_failure(uow, account_key, ACCOUNT_FREE_FAILURES)
            audit.record(
                uow.session,
                merchant_id=member.merchant_id,
                actor=f"team_member:{member.id}",
                action="login_second_factor_failed",
                target_type="team_member",
                target_id=member.id,
            )
            uow.commit()
            raise
        _end(uow, row, "second_factor_done")
        started = _start(uow, member, stage=FULL, via=row.via)
        _logged_in(uow, member, started.session, second_factor=used)
        uow.commit()
    return started


def complete_enrollment(sera: Sera, sid: str, secret: str, code: str) -> tuple[Started, list[str]]:
    """A member who had to set up a second factor did: a full session and the recovery codes."""
    with sera.uow() as uow:
        row, member = _pending(uow, sid, ENROLL)
        codes = second_factor.enable(uow, member, secret, code, actor=f"team_member:{member.id}")
        _end(uow, row, "second_factor_done")
        started = _start(uow, member, stage=FULL, via=row.via)
        _logged_in(uow, member, started.session, second_factor="enrolled")
        uow.commit()
    return started, codes


# -- a session, request by request ---------------------------------------------------------------


def resume(sera: Sera, token: str) -> SessionInfo | None:
    """The session a cookie's token opens, or None (ending it if it timed out)."""
    if not token or len(token) > 128:
        return None
    sid = session_id(token)
    with sera.uow(readonly=True) as reader:
        row = store_of(reader).get(reader, sid)
        member = reader.session.get(StaffUser, row.member_id) if row is not None else None
        shop = reader.session.get(Merchant, row.merchant_id) if row is not None else None
        if row is None or member is None or shop is None or row.ended_at is not None:
            return None
        now = reader.now()
        reason = None
        if member.removed_at is not None or shop.status != "active":
            reason = "member_removed" if member.removed_at is not None else "shop_closed"
        elif now - row.created_at > (ABSOLUTE if row.stage == FULL else PENDING):
            reason = "expired"
        elif now - row.last_seen_at > IDLE:
            reason = "idle"
        info = _info(row, member.role, shop, member.preferences)
    if reason is None and now - info.last_seen_at < TOUCH_EVERY:
        return info
    with sera.uow() as uow:
        store = store_of(uow)
        row = store.get(uow, sid)
        if row is None or row.ended_at is not None:
            return None
        if reason is not None:
            _end(uow, row, reason)
            uow.commit()
            return None
        row.last_seen_at = now
        store.keep(uow, row)
        uow.commit()
    return info


def _end(uow: UnitOfWork, row: DashboardSession, reason: str) -> None:
    row.ended_at, row.ended_reason = uow.now(), reason
    store_of(uow).keep(uow, row)


def end(sera: Sera, sid: str, *, reason: str, actor: str) -> None:
    with sera.uow() as uow:
        row = store_of(uow).get(uow, sid)
        if row is None or row.ended_at is not None:
            return
        _end(uow, row, reason)
        audit.record(
            uow.session,
            merchant_id=row.merchant_id,
            actor=actor,
            action="logout" if reason == "logout" else "session_ended",
            target_type="dashboard_session",
            target_id=sid[:16],
            details={"reason": reason},
        )
        uow.commit()


def reauthenticate(sera: Sera, sid: str, password: str) -> bool:
    """A member enters their password again before erasing or deleting (five minutes)."""
    with sera.uow() as uow:
        store = store_of(uow)
        row = store.get(uow, sid)
        member = uow.session.get(StaffUser, row.member_id) if row is not None else None
        if row is None or member is None or not verify_password(member.password_hash, password):
            if member is not None:
                audit.record(
                    uow.session,
                    merchant_id=member.merchant_id,
                    actor=f"team_member:{member.id}",
                    action="reauthentication_failed",
                    target_type="team_member",
                    target_id=member.id,
                )
                uow.commit()
            return False
        row.reauthenticated_at = uow.now()
        store.keep(uow, row)
        uow.commit()
    return True


def recently_reauthenticated(session: SessionInfo, now: datetime) -> bool:
    return session.reauthenticated_at is not None and now - session.reauthenticated_at <= REAUTHENTICATED


@dataclass(frozen=True)
class SessionView:
    id: str
    short_id: str
    via: str
    created_at: datetime
    last_seen_at: datetime


def open_sessions(uow: UnitOfWork, member_id: str) -> list[SessionView]:
    now = uow.now()
    rows = [
        row
        for row in store_of(uow).of_member(uow, member_id)
        if row.merchant_id == uow.merchant_id and row.stage == FULL and row.ended_at is None
    ]
    return [
        SessionView(
            id=row.id, short_id=row.id[:8], via=row.via, created_at=row.created_at, last_seen_at=row.last_seen_at
        )
        for row in sorted(rows, key=lambda row: row.last_seen_at, reverse=True)
        if now - row.last_seen_at <= IDLE and now - row.created_at <= ABSOLUTE
    ]


def end_member_session(uow: UnitOfWork, member_id: str, sid: str, *, actor: str) -> bool:
    """End one of a member's sessions (from their sessions page, or the team page)."""
    row = store_of(uow).get(uow, sid)
    if row is None or row.member_id != member_id or row.merchant_id != uow.merchant_id or row.ended_at is not None:
        return False
    _end(uow, row, "ended_by_member")
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="session_ended",
        target_type="dashboard_session",
        target_id=sid[:16],
        details={"reason": "ended_by_member"},
    )
    return True


def shopify_admin_session(sera: Sera, member_id: str, admin_session: str) -> SessionInfo | None:
    """A request from inside the Shopify admin: no row, no cookie; App Bridge's session token,
    verified for this request, stands for the session (``admin_session`` is its ``sid``)."""
    with sera.uow(readonly=True) as reader:
        member = reader.session.get(StaffUser, member_id)
        shop = reader.session.get(Merchant, member.merchant_id) if member is not None else None
        if member is None or shop is None or member.removed_at is not None:
            return None
        now = reader.now()
        row = DashboardSession(
            id=hashlib.sha256(f"shopify:{admin_session}".encode()).hexdigest(),
            merchant_id=member.merchant_id,
            member_id=member.id,
            stage=FULL,
            csrf_token="",  # nothing rides on a cookie: there is nothing to forge
            via="shopify",
            created_at=now,
            last_seen_at=now,
        )
        return _info(row, member.role, shop)
