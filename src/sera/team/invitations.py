"""Invitations to a shop's team: an owner invites by email with a role, the invitee chooses a
password from the emailed link and becomes a member.

Invariants:
- the link's token is never stored: the row keeps its SHA-256, so a copy of the database opens
  no invitation;
- an invitation is good once, for 72 hours, and not after it is revoked;
- the invitee's email is sealed like every other personal datum; the mail carrying the link is
  sealed in the mail queue and dropped once sent;
- every invitation, revocation and acceptance is in the shop's audit log, by id.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from sera import audit
from sera.bootstrap import Sera
from sera.mail.service import queue_mail
from sera.storage.database import UnitOfWork
from sera.storage.models import Merchant, TeamInvitation, new_id
from sera.team.members import Member, add_member, new_members_email
from sera.team.passwords import check_policy

VALID_FOR = timedelta(hours=72)
LINK_PATH = "/dashboard/invitations/"
MAIL_TEMPLATE = "team_invitation"


class InvitationNotFoundError(LookupError):
    """No open invitation with this id or token (unknown, used, revoked, expired or another shop's)."""


@dataclass(frozen=True)
class Invitation:
    id: str
    email: str
    role: str
    invited_by: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Sent:
    invitation: Invitation
    link: str  # shown to nobody but the invitee's mailbox; returned for the CLI and the tests


@dataclass(frozen=True)
class OpenInvitation:
    """What the invitee sees before choosing a password."""

    id: str
    merchant_id: str
    shop_name: str
    email: str
    role: str
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _view(uow: UnitOfWork, row: TeamInvitation) -> Invitation:
    return Invitation(
        id=row.id,
        email=uow.vault.open(row, "email") or "",
        role=row.role,
        invited_by=row.invited_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def invite(uow: UnitOfWork, sera: Sera, *, email: str, role: str, actor: str, invited_by: str) -> Sent:
    """Invite someone (in the caller's transaction): the row, the audit entry and the mail."""
    assert uow.merchant_id is not None
    email = new_members_email(uow, email, role)
    now = uow.now()
    token = secrets.token_urlsafe(32)
    row = TeamInvitation(
        id=new_id("inv"),
        merchant_id=uow.merchant_id,
        token_hash=token_hash(token),
        role=role,
        invited_by=invited_by,
        expires_at=now + VALID_FOR,
    )
    uow.vault.seal(row, email=email)
    uow.session.add(row)
    uow.session.flush()
    shop = uow.session.get(Merchant, uow.merchant_id)
    shop_name = shop.name if shop is not None else ""
    link = sera.settings.public_url.rstrip("/") + LINK_PATH + token
    queue_mail(
        uow,
        key=f"team_invitation:{row.id}",
        to=[email],
        template=MAIL_TEMPLATE,
        context={"shop_name": shop_name, "role": role, "link": link, "hours": int(VALID_FOR.total_seconds() // 3600)},
        now=now,
    )
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="team_invitation_sent",
        target_type="team_invitation",
        target_id=row.id,
        details={"role": role},
    )
    return Sent(invitation=_view(uow, row), link=link)


def list_pending(uow: UnitOfWork) -> list[Invitation]:
    """Invitations not yet accepted, revoked or expired, oldest first."""
    rows = uow.session.execute(
        select(TeamInvitation)
        .where(
            TeamInvitation.merchant_id == uow.merchant_id,
            TeamInvitation.accepted_at.is_(None),
            TeamInvitation.revoked_at.is_(None),
            TeamInvitation.expires_at > uow.now(),
        )
        .order_by(TeamInvitation.created_at, TeamInvitation.id)
    ).scalars()
    return [_view(uow, row) for row in rows]


def _usable(uow: UnitOfWork, row: TeamInvitation | None) -> TeamInvitation:
    if row is None or row.accepted_at is not None or row.revoked_at is not None or row.expires_at <= uow.now():
        raise InvitationNotFoundError("this invitation is not valid")
    return row


def revoke(uow: UnitOfWork, invitation_id: str, *, actor: str) -> None:
    row = uow.session.get(TeamInvitation, invitation_id)
    if row is not None and row.merchant_id != uow.merchant_id:
        row = None
    row = _usable(uow, row)
    row.revoked_at = uow.now()
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="team_invitation_revoked",
        target_type="team_invitation",
        target_id=row.id,
    )


def _by_token(uow: UnitOfWork, token: str) -> TeamInvitation:
    if not token or len(token) > 128:
        raise InvitationNotFoundError("this invitation is not valid")
    row = uow.session.execute(
        select(TeamInvitation).where(TeamInvitation.token_hash == token_hash(token))
    ).scalar_one_or_none()
    return _usable(uow, row)


def open_invitation(sera: Sera, token: str) -> OpenInvitation:
    """The invitation a link's token opens, whatever the shop (the link is all the invitee has)."""
    with sera.uow(readonly=True) as reader:
        row = _by_token(reader, token)
        shop = reader.session.get(Merchant, row.merchant_id)
        if shop is None or shop.status != "active":
            raise InvitationNotFoundError("this invitation is not valid")
        return OpenInvitation(
            id=row.id,
            merchant_id=row.merchant_id,
            shop_name=shop.name,
            email=reader.vault.open(row, "email") or "",
            role=row.role,
            expires_at=row.expires_at,
        )


def accept(sera: Sera, token: str, *, password: str, name: str | None = None) -> Member:
    """The invitee chose a password: they become a member, and the link is used up."""
    check_policy(password)
    merchant_id = open_invitation(sera, token).merchant_id
    with sera.uow(merchant_id) as uow:
        row = _by_token(uow, token)
        email = uow.vault.open(row, "email") or ""
        row.accepted_at = uow.now()
        member = add_member(
            uow, sera, email=email, role=row.role, password=password, actor=f"team_invitation:{row.id}", name=name
        )
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor=f"team_member:{member.id}",
            action="team_invitation_accepted",
            target_type="team_invitation",
            target_id=row.id,
        )
        uow.commit()
    return member
