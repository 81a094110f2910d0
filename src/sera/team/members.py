"""Team members of a shop: created, listed, given another role, removed; their passwords.

Invariants:
- a shop always keeps at least one owner (the last one cannot be removed or demoted);
- a removed member, or one whose password changed, has no session left;
- every change is in the shop's audit log, naming members by id (never email or password).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import available_timezones

from sqlalchemy import func, select

from sera import audit
from sera.bootstrap import Sera
from sera.mail.service import MailError, check_address
from sera.storage.database import UnitOfWork
from sera.storage.models import StaffUser, new_id
from sera.team import second_factor
from sera.team.passwords import hash_password, verify_password
from sera.team.permissions import ROLES
from sera.team.session_store import store_of


class TeamError(ValueError):
    """A change the team rules refuse; the message is safe to show to the member."""


class MemberNotFoundError(LookupError):
    """No such member in this shop (or removed)."""


@dataclass(frozen=True)
class Member:
    id: str
    merchant_id: str
    email: str
    name: str | None
    role: str
    second_factor: bool
    created_at: datetime
    last_login_at: datetime | None
    removed_at: datetime | None


def login_index(sera: Sera, email: str) -> str:
    """The keyed hash a member is found by at login, whatever their shop."""
    secret = sera.settings.secret_key.get_secret_value() if sera.settings.secret_key else ""
    key = hashlib.sha256(b"sera-login-index:" + secret.encode()).digest()
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()


def normalize_email(email: str) -> str:
    try:
        return check_address(email).lower()
    except MailError:
        raise TeamError("enter an email address, like name@example.com") from None


def check_role(role: str) -> str:
    if role not in ROLES:
        raise TeamError(f"the role must be one of {', '.join(ROLES)}")
    return role


def view(uow: UnitOfWork, row: StaffUser) -> Member:
    plain = uow.vault.open_many(row, "email", "name")
    return Member(
        id=row.id,
        merchant_id=row.merchant_id,
        email=plain["email"] or "",
        name=plain["name"],
        role=row.role,
        second_factor=row.totp_enabled_at is not None,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        removed_at=row.removed_at,
    )


def _active(uow: UnitOfWork, member_id: str) -> StaffUser:
    row = uow.session.get(StaffUser, member_id)
    if row is None or row.merchant_id != uow.merchant_id or row.removed_at is not None:
        raise MemberNotFoundError(member_id)
    return row


def get_member(uow: UnitOfWork, member_id: str) -> Member:
    return view(uow, _active(uow, member_id))


def list_members(uow: UnitOfWork) -> list[Member]:
    rows = uow.session.execute(
        select(StaffUser)
        .where(StaffUser.merchant_id == uow.merchant_id, StaffUser.removed_at.is_(None))
        .order_by(StaffUser.created_at, StaffUser.id)
    ).scalars()
    return [view(uow, row) for row in rows]


def find_by_email(uow: UnitOfWork, email: str) -> StaffUser | None:
    assert uow.merchant_id is not None
    bidx = uow.vault.email_index(uow.merchant_id, email)
    return uow.session.execute(
        select(StaffUser).where(
            StaffUser.merchant_id == uow.merchant_id, StaffUser.email_bidx == bidx, StaffUser.removed_at.is_(None)
        )
    ).scalar_one_or_none()


def new_members_email(uow: UnitOfWork, email: str, role: str) -> str:
    """The email of someone joining the team, normalized; ``TeamError`` when it is not an
    address, the role is not one, or the email is a member's already."""
    email = normalize_email(email)
    check_role(role)
    if find_by_email(uow, email) is not None:
        raise TeamError("this email already belongs to a member of the team")
    return email


def add_member(
    uow: UnitOfWork,
    sera: Sera,
    *,
    email: str,
    role: str,
    password: str | None,
    actor: str,
    name: str | None = None,
) -> Member:
    """Add a member in the caller's transaction. ``password`` None: they set one from an
    invitation (or log in through Shopify's admin only)."""
    assert uow.merchant_id is not None
    email = new_members_email(uow, email, role)
    now = uow.now()
    row = StaffUser(
        id=new_id("mem"),
        merchant_id=uow.merchant_id,
        email_bidx=uow.vault.email_index(uow.merchant_id, email),
        login_bidx=login_index(sera, email),
        role=role,
        password_hash=hash_password(password) if password is not None else None,
        password_changed_at=now if password is not None else None,
    )
    uow.vault.seal(row, email=email, name=name)
    uow.session.add(row)
    uow.session.flush()
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="team_member_added",
        target_type="team_member",
        target_id=row.id,
        details={"role": role},
    )
    return view(uow, row)


def create_member(
    sera: Sera, merchant_id: str, *, email: str, role: str, password: str, actor: str, name: str | None = None
) -> Member:
    """``sera user create``: a member who logs in with this password."""
    with sera.uow(merchant_id) as uow:
        member = add_member(uow, sera, email=email, role=role, password=password, actor=actor, name=name)
        uow.commit()
    return member


def _owners(uow: UnitOfWork) -> int:
    return int(
        uow.session.execute(
            select(func.count())
            .select_from(StaffUser)
            .where(StaffUser.merchant_id == uow.merchant_id, StaffUser.role == "owner", StaffUser.removed_at.is_(None))
        ).scalar_one()
    )


def end_sessions(uow: UnitOfWork, member_id: str, *, reason: str, keep: str | None = None) -> int:
    """End every open session of a member (but ``keep``, the one making the change)."""
    store, now, ended = store_of(uow), uow.now(), 0
    for row in store.of_member(uow, member_id):
        if row.id != keep and row.ended_at is None:
            row.ended_at, row.ended_reason = now, reason
            store.keep(uow, row)
            ended += 1
    return ended


def change_role(uow: UnitOfWork, member_id: str, role: str, *, actor: str) -> Member:
    row = _active(uow, member_id)
    check_role(role)
    if row.role == "owner" and role != "owner" and _owners(uow) <= 1:
        raise TeamError("a shop needs an owner: make someone else owner first")
    before, row.role = row.role, role
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="team_member_role_changed",
        target_type="team_member",
        target_id=row.id,
        details={"from": before, "to": role},
    )
    return view(uow, row)


def remove_member(uow: UnitOfWork, member_id: str, *, actor: str) -> None:
    """Remove a member: they cannot log in again and their open sessions end now."""
    row = _active(uow, member_id)
    if row.role == "owner" and _owners(uow) <= 1:
        raise TeamError("a shop needs an owner: make someone else owner first")
    row.removed_at = uow.now()
    row.password_hash = None
    row.login_bidx = None
    ended = end_sessions(uow, row.id, reason="member_removed")
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="team_member_removed",
        target_type="team_member",
        target_id=row.id,
        details={"sessions_ended": ended},
    )


def change_password(
    uow: UnitOfWork, member_id: str, *, current: str, new: str, actor: str, keep_session: str | None
) -> int:
    """A member's new password; every other session of theirs ends. Returns how many ended."""
    row = _active(uow, member_id)
    if not verify_password(row.password_hash, current):
        raise TeamError("the current password is not right")
    return set_password(uow, row, new, actor=actor, keep_session=keep_session)


def set_password(uow: UnitOfWork, row: StaffUser, password: str, *, actor: str, keep_session: str | None) -> int:
    row.password_hash = hash_password(password)
    row.password_changed_at = uow.now()
    ended = end_sessions(uow, row.id, reason="password_changed", keep=keep_session)
    audit.record(
        uow.session,
        merchant_id=row.merchant_id,
        actor=actor,
        action="team_member_password_changed",
        target_type="team_member",
        target_id=row.id,
        details={"sessions_ended": ended},
    )
    return ended


def set_preferences(uow: UnitOfWork, member_id: str, **changes: object) -> dict[str, object]:
    """A member's stored preferences (time zone, table density, analytics): never a cookie."""
    row = _active(uow, member_id)
    preferences = dict(row.preferences or {})
    preferences.update(changes)
    row.preferences = preferences
    return preferences


def preferences_of(uow: UnitOfWork, member_id: str) -> dict[str, object]:
    return dict(_active(uow, member_id).preferences or {})


def reset_demo_owner(sera: Sera, merchant_id: str, email: str, *, actor: str) -> str:
    """The demo's owner, with a new generated password each time (returned, printed once);
    their earlier sessions end."""
    password = secrets.token_urlsafe(12)
    with sera.uow(merchant_id) as uow:
        row = find_by_email(uow, email)
        if row is None:
            add_member(uow, sera, email=email, role="owner", password=password, actor=actor, name="Demo owner")
        else:
            row.role = "owner"
            set_password(uow, row, password, actor=actor, keep_session=None)
        uow.commit()
    return password


SHOPIFY_STAFF_ROLE = "admin"  # what the shop's staff may do when they open Sera inside the Shopify admin


def shopify_staff(sera: Sera, merchant_id: str, shopify_user_id: str) -> str:
    """The id of the member standing for a staff account of the shop's Shopify admin (the
    session token's ``sub``), made on their first visit with the admin role. They have no
    password: they come in only through the Shopify admin, so their actions are audited as a
    member like any other. Every request from the admin asks: only the first one writes."""
    with sera.uow(merchant_id, readonly=True) as reader:
        bidx = reader.vault.blind_index(merchant_id, "staff_users", "shopify_user", f"shopify-user:{shopify_user_id}")
        known = _member_id_by(reader, bidx)
    if known is not None:
        return known
    with sera.uow(merchant_id) as uow:
        known = _member_id_by(uow, bidx)  # made meanwhile by a request beside this one
        if known is not None:
            return known
        row = StaffUser(id=new_id("mem"), merchant_id=merchant_id, email_bidx=bidx, role=SHOPIFY_STAFF_ROLE)
        uow.vault.seal(row, email="", name=f"Shopify staff account {shopify_user_id}")
        uow.session.add(row)
        uow.session.flush()
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor="shopify",
            action="team_member_added",
            target_type="team_member",
            target_id=row.id,
            details={"role": SHOPIFY_STAFF_ROLE, "via": "shopify_admin"},
        )
        uow.commit()
        return row.id


def _member_id_by(uow: UnitOfWork, email_bidx: str) -> str | None:
    return uow.session.execute(
        select(StaffUser.id).where(StaffUser.merchant_id == uow.merchant_id, StaffUser.email_bidx == email_bidx)
    ).scalar_one_or_none()


DENSITIES = ("normal", "compact")


def update_preferences(
    uow: UnitOfWork, member_id: str, *, timezone: str | None, density: str, analytics: bool, actor: str
) -> dict[str, object]:
    """The account page's preferences, checked: a known time zone (None: the shop's), a density."""
    if timezone is not None and timezone not in available_timezones():
        raise TeamError("choose a time zone from the list")
    if density not in DENSITIES:
        raise TeamError("choose normal or compact tables")
    preferences = set_preferences(uow, member_id, timezone=timezone, density=density, analytics=analytics)
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="team_member_preferences_changed",
        target_type="team_member",
        target_id=member_id,
        details={"analytics": analytics},
    )
    return preferences


def enable_second_factor(uow: UnitOfWork, member_id: str, secret: str, code: str, *, actor: str) -> list[str]:
    """Turn on a member's second factor from their account page; the recovery codes, shown once."""
    row = _active(uow, member_id)
    if row.totp_enabled_at is not None:
        raise TeamError("your second factor is on already")
    return second_factor.enable(uow, row, secret, code, actor=actor)


def regenerate_recovery_codes(uow: UnitOfWork, member_id: str, code: str, *, actor: str) -> list[str]:
    row = _active(uow, member_id)
    return second_factor.regenerate_recovery_codes(uow, row, code, actor=actor)
