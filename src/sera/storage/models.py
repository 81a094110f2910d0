"""The data model. Every merchant-owned table carries ``merchant_id``.

Personal data lives only in ``LargeBinary`` columns sealed by ``sera.crypto``
(see ``sealed_columns``); exact-match lookups use ``*_bidx`` blind-index columns.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


ID_SHAPE = r"[A-Za-z0-9_-]{1,64}"  # what any id may look like (``new_id`` makes "cus_" and 32 hex digits)


def new_id(prefix: str) -> str:
    """Opaque, unguessable ids (80 random bits), known before insert so they can bind
    ciphertexts, in creation order: a millisecond clock comes first. New rows then go to the
    end of a primary-key index, and the retention sweep, deleting the oldest rows, empties
    whole pages of it instead of touching one row on every page."""
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Sera stores only timezone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def stamped() -> Any:
    """A timestamp column set when its row is first flushed, from the unit of work's clock (the
    one clock, ``Sera.clock``; see ``sera.storage.database``), unless the code set it: never
    from the machine's clock, so tests and a moved clock see the same time everywhere."""
    return mapped_column(UtcDateTime, info={STAMPED: True})


STAMPED = "sera_stamped"


Sealed = LargeBinary  # a personal-data column: AES-GCM ciphertext, see sera.crypto


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def sealed_columns(table: str) -> tuple[str, ...]:
    """Which columns of a table hold sealed personal data (checked by the plaintext-scan test)."""
    return tuple(c.name for c in Base.metadata.tables[table].columns if isinstance(c.type, LargeBinary))


class MerchantOwned:
    """Rows that belong to one merchant; sessions scoped to a merchant see only theirs."""

    @declared_attr
    def merchant_id(cls) -> Mapped[str]:  # noqa: N805 - SQLAlchemy declared_attr
        return mapped_column(String(40), ForeignKey("merchants.id", ondelete="CASCADE"), index=True)


# -- merchants and their team --------------------------------------------------------------


class Merchant(Base):
    __tablename__ = "merchants"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(16), default="en-US")
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    handoff_number: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(String(500))
    website: Mapped[str | None] = mapped_column(String(500))
    # agent persona, workflows, outbound and retention settings, as in the shop file
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = stamped()
    updated_at: Mapped[datetime] = stamped()
    uninstalled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class MerchantPhoneNumber(MerchantOwned, Base):
    """A business number the agent answers; inbound calls are routed by it."""

    __tablename__ = "merchant_phone_numbers"
    number: Mapped[str] = mapped_column(String(20), primary_key=True)


class StaffUser(MerchantOwned, Base):
    """A dashboard user (the merchant's team), not an end customer (``sera.team``).

    ``login_bidx`` finds a member by email at login, across shops (a keyed hash under the
    deployment's secret key); ``email_bidx`` finds one within a shop. A removed member's row
    stays (the audit log names it) but can never log in again.
    """

    __tablename__ = "staff_users"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[bytes] = mapped_column(Sealed)
    email_bidx: Mapped[str] = mapped_column(String(32), index=True)
    login_bidx: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[bytes | None] = mapped_column(Sealed)
    role: Mapped[str] = mapped_column(String(10))  # owner | admin | agent | viewer
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    totp_secret: Mapped[bytes | None] = mapped_column(Sealed)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)  # a code is good once
    recovery_codes: Mapped[list[str] | None] = mapped_column(JSON)  # SHA-256 of each unused code
    preferences: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # time zone, table density, analytics
    created_at: Mapped[datetime] = stamped()
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DashboardSession(MerchantOwned, Base):
    """A member's session in the dashboard; the cookie holds a token whose SHA-256 is the id.

    ``stage`` is ``second_factor`` between the password and the code, ``enroll`` while a member
    who must have a second factor sets one up, and ``full`` after.
    """

    __tablename__ = "dashboard_sessions"
    __table_args__ = (Index("ix_dashboard_sessions_member", "member_id", "ended_at"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(40), ForeignKey("staff_users.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(20))
    csrf_token: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(20), default="password")  # password | shopify
    created_at: Mapped[datetime] = stamped()
    last_seen_at: Mapped[datetime] = stamped()
    reauthenticated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(30))


class TeamInvitation(MerchantOwned, Base):
    """An emailed invitation: single use, 72 hours; the link's token is kept as its SHA-256."""

    __tablename__ = "team_invitations"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[bytes] = mapped_column(Sealed)
    role: Mapped[str] = mapped_column(String(10))
    invited_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = stamped()
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LoginThrottle(Base):
    """Failed logins per account or per client address (keyed hashes: no email, no address)."""

    __tablename__ = "login_throttles"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UtcDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ProviderAccount(MerchantOwned, Base):
    """A merchant's account at a provider (Twilio, Vapi, their Shopify shop); secrets are sealed.

    An OAuth credential that expires (Shopify's expiring offline token) also keeps its
    refresh token, sealed, and both expiry times; they are not secret, and they are what
    decides a refresh. ``refused_at`` is set when the provider refused the refresh: the
    merchant has to connect (install) again.
    """

    __tablename__ = "provider_accounts"
    __table_args__ = (UniqueConstraint("merchant_id", "provider", name="uq_provider_accounts_provider"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[str | None] = mapped_column(String(100))  # e.g. a Twilio AccountSid: not secret
    secret: Mapped[bytes] = mapped_column(Sealed)
    secret_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # None: does not expire
    refresh_secret: Mapped[bytes | None] = mapped_column(Sealed)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    refused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = stamped()
    updated_at: Mapped[datetime] = stamped()


class ApiKey(MerchantOwned, Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(10))  # admin | viewer
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = stamped()
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# -- end customers -------------------------------------------------------------------------


class Customer(MerchantOwned, Base):
    __tablename__ = "customers"
    __table_args__ = (
        # created_at too: lookups take the oldest match, and one index then serves filter and order
        Index("ix_customers_merchant_phone", "merchant_id", "phone_bidx", "created_at"),
        Index("ix_customers_merchant_email", "merchant_id", "email_bidx", "created_at"),
        Index("ix_customers_merchant_created", "merchant_id", "created_at", "id"),
        Index("ix_customers_merchant_external", "merchant_id", "external_id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[bytes | None] = mapped_column(Sealed)
    phone: Mapped[bytes | None] = mapped_column(Sealed)
    email: Mapped[bytes | None] = mapped_column(Sealed)
    phone_bidx: Mapped[str | None] = mapped_column(String(32))
    email_bidx: Mapped[str | None] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(64))
    # where each personal field came from ({"email": "agent:sms"}): no personal data itself
    sources: Mapped[dict[str, str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = stamped()
    updated_at: Mapped[datetime] = stamped()
    last_contact_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Consent(MerchantOwned, Base):
    __tablename__ = "consents"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # sms | voice | email
    purpose: Mapped[str] = mapped_column(String(20))  # marketing | transactional
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(40))
    recorded_at: Mapped[datetime] = stamped()


class DoNotContact(MerchantOwned, Base):
    """The right to object: a number Sera must never contact for this merchant."""

    __tablename__ = "do_not_contact"
    __table_args__ = (
        UniqueConstraint("merchant_id", "phone_bidx", name="uq_dnc_merchant_phone"),
        Index("ix_dnc_merchant_created", "merchant_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    phone_bidx: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    # The number itself, so the merchant can see the list: sealed, under the customer's key when
    # the entry has one (erasing them clears it; the blind index alone keeps the objection).
    phone: Mapped[bytes | None] = mapped_column(Sealed)
    reason: Mapped[bytes | None] = mapped_column(Sealed)
    source: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = stamped()


# -- conversations -------------------------------------------------------------------------


class Call(MerchantOwned, Base):
    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("merchant_id", "provider", "provider_call_id", name="uq_calls_provider_id"),
        Index("ix_calls_merchant_started", "merchant_id", "started_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # voice | sms | web
    direction: Mapped[str] = mapped_column(String(10))  # inbound | outbound
    provider: Mapped[str] = mapped_column(String(20))  # twilio | vapi | web | local
    provider_call_id: Mapped[str | None] = mapped_column(String(64))
    from_number: Mapped[bytes | None] = mapped_column(Sealed)
    to_number: Mapped[bytes | None] = mapped_column(Sealed)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    duration_s: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(30))
    ended_reason: Mapped[str | None] = mapped_column(String(60))
    recording_url: Mapped[bytes | None] = mapped_column(Sealed)
    summary: Mapped[bytes | None] = mapped_column(Sealed)
    cost_cents: Mapped[int | None] = mapped_column(Integer)


class Transcript(MerchantOwned, Base):
    """Its own table: transcripts have their own retention class (2 years)."""

    __tablename__ = "transcripts"
    __table_args__ = (Index("ix_transcripts_merchant_created", "merchant_id", "created_at"),)  # the retention sweep
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), unique=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    content: Mapped[bytes] = mapped_column(Sealed)  # JSON list of {role, text, at}
    created_at: Mapped[datetime] = stamped()


class Message(MerchantOwned, Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("merchant_id", "provider", "provider_message_id", name="uq_messages_provider_id"),
        Index("ix_messages_merchant_created", "merchant_id", "created_at"),  # the retention sweep
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    direction: Mapped[str] = mapped_column(String(10))
    provider: Mapped[str] = mapped_column(String(20))
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(Sealed)
    status: Mapped[str] = mapped_column(String(20))
    segments: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = stamped()


class Conversation(MerchantOwned, Base):
    """A brain's memory of one conversation, keyed by the channel's conversation id.

    ``external_id`` is the channel's id (a call SID, or a hash for SMS threads): never
    personal data. The state itself is sealed.
    """

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("merchant_id", "channel", "external_id", name="uq_conversations_external"),
        Index("ix_conversations_idle", "status", "channel", "updated_at"),  # the idle sweep
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10))
    external_id: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    state: Mapped[bytes] = mapped_column(Sealed)
    status: Mapped[str] = mapped_column(String(10), default="active")  # active | ended
    created_at: Mapped[datetime] = stamped()
    updated_at: Mapped[datetime] = stamped()


# -- the shop's business data ----------------------------------------------------------------


class Service(MerchantOwned, Base):
    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("merchant_id", "name", name="uq_services_merchant_name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    duration_min: Mapped[int] = mapped_column(Integer)
    price_cents: Mapped[int | None] = mapped_column(Integer)
    buffer_min: Mapped[int] = mapped_column(Integer, default=0)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    description: Mapped[str | None] = mapped_column(Text)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)


class StaffMember(MerchantOwned, Base):
    """A person who delivers services (distinct from dashboard users)."""

    __tablename__ = "staff_members"
    __table_args__ = (UniqueConstraint("merchant_id", "name", name="uq_staff_merchant_name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # None: every service; otherwise the names of the services they do
    service_names: Mapped[list[str] | None] = mapped_column(JSON)
    has_own_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)


class OpeningHours(MerchantOwned, Base):
    """One opening range on a weekday, for the shop (staff_id null) or a staff member."""

    __tablename__ = "opening_hours"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    staff_id: Mapped[str | None] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    opens: Mapped[str] = mapped_column(String(5))  # HH:MM, shop time zone
    closes: Mapped[str] = mapped_column(String(5))


class Closure(MerchantOwned, Base):
    __tablename__ = "closures"
    __table_args__ = (UniqueConstraint("merchant_id", "day", name="uq_closures_merchant_day"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date)


class Appointment(MerchantOwned, Base):
    __tablename__ = "appointments"
    __table_args__ = (
        Index("ix_appointments_merchant_start", "merchant_id", "start_at", "id"),
        Index("ix_appointments_staff_start", "staff_id", "start_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="RESTRICT"))
    staff_id: Mapped[str | None] = mapped_column(ForeignKey("staff_members.id", ondelete="SET NULL"))
    start_at: Mapped[datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime)
    busy_until: Mapped[datetime] = mapped_column(UtcDateTime)  # end plus the service buffer
    status: Mapped[str] = mapped_column(String(12), default="booked")  # booked | cancelled
    notes: Mapped[bytes | None] = mapped_column(Sealed)
    source: Mapped[str] = mapped_column(String(20), default="agent")
    created_at: Mapped[datetime] = stamped()
    updated_at: Mapped[datetime] = stamped()
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # where it came from: the call the agent booked it on, or the team member who booked it
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    booked_by: Mapped[str | None] = mapped_column(String(80))  # an audit actor, never a name


class KnowledgeEntry(MerchantOwned, Base):
    """An FAQ answer or a policy the agent may quote word for word."""

    __tablename__ = "knowledge_entries"
    __table_args__ = (UniqueConstraint("merchant_id", "kind", "title", name="uq_knowledge_title"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # faq | policy
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Product(MerchantOwned, Base):
    __tablename__ = "products"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    sku: Mapped[str | None] = mapped_column(String(100))
    price_cents: Mapped[int | None] = mapped_column(Integer)
    in_stock: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Order(MerchantOwned, Base):
    """A local order (shops without Shopify); its customer fields are sealed."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("merchant_id", "number", name="uq_orders_merchant_number"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    number: Mapped[str] = mapped_column(String(40))
    placed_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    total_cents: Mapped[int | None] = mapped_column(Integer)
    tracking_carrier: Mapped[str | None] = mapped_column(String(40))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    tracking_eta: Mapped[date | None] = mapped_column(Date)
    customer_name: Mapped[bytes | None] = mapped_column(Sealed)
    customer_phone: Mapped[bytes | None] = mapped_column(Sealed)
    customer_email: Mapped[bytes | None] = mapped_column(Sealed)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(MerchantOwned, Base):
    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_merchant_created", "merchant_id", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    description: Mapped[bytes | None] = mapped_column(Sealed)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | in_progress | resolved
    source: Mapped[str] = mapped_column(String(20), default="agent")
    created_at: Mapped[datetime] = stamped()
    updated_at: Mapped[datetime] = stamped()
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))


class TicketNote(MerchantOwned, Base):
    """A team member's internal note on a ticket, sealed under the ticket's customer's key (so
    erasing the customer shreds it too); ``customer_id`` follows the ticket's."""

    __tablename__ = "ticket_notes"
    __table_args__ = (Index("ix_ticket_notes_ticket_created", "ticket_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    author_id: Mapped[str | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    body: Mapped[bytes] = mapped_column(Sealed)
    created_at: Mapped[datetime] = stamped()


class Checkout(MerchantOwned, Base):
    """An online-store checkout (from Shopify), kept so an abandoned one can be recovered.

    Contact fields and the recovery URL are sealed under the customer's key (the merchant's
    when no customer is known); deleting the customer deletes their checkouts. Line items
    are product titles and prices, not personal data. ``provider_updated_at`` is the
    provider's own clock: an update older than it is stale and ignored.
    """

    __tablename__ = "checkouts"
    __table_args__ = (
        UniqueConstraint("merchant_id", "source", "external_id", name="uq_checkouts_external"),
        Index("ix_checkouts_merchant_token", "merchant_id", "token"),
        Index("ix_checkouts_merchant_created", "merchant_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(20))  # shopify
    external_id: Mapped[str] = mapped_column(String(64))  # the provider's checkout id
    token: Mapped[str | None] = mapped_column(String(64))  # the provider's checkout token (orders name it)
    name: Mapped[bytes | None] = mapped_column(Sealed)
    phone: Mapped[bytes | None] = mapped_column(Sealed)
    email: Mapped[bytes | None] = mapped_column(Sealed)
    recovery_url: Mapped[bytes | None] = mapped_column(Sealed)
    phone_bidx: Mapped[str | None] = mapped_column(String(32))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    total_cents: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    provider_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    order_ref: Mapped[str | None] = mapped_column(String(64))  # the provider's id of the order that completed it
    created_at: Mapped[datetime] = stamped()
    updated_at: Mapped[datetime] = stamped()


class ShopifyEvent(MerchantOwned, Base):
    """A verified Shopify webhook between its receipt and its job (an outbox row).

    The payload is sealed under the merchant's key and the row is deleted once processed,
    so the queue itself only ever carries this row's id. ``request_ids`` records the privacy
    requests a compliance webhook opened, so a retried job completes them instead of
    opening new ones.
    """

    __tablename__ = "shopify_events"
    __table_args__ = (Index("ix_shopify_events_received", "received_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    topic: Mapped[str] = mapped_column(String(80))
    payload: Mapped[bytes] = mapped_column(Sealed)
    request_ids: Mapped[list[str] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = stamped()


# -- privacy, outbound, usage, webhooks, audit -------------------------------------------------


class PrivacyRequest(MerchantOwned, Base):
    __tablename__ = "privacy_requests"
    __table_args__ = (Index("ix_privacy_merchant_received", "merchant_id", "received_at", "id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    type: Mapped[str] = mapped_column(String(12))  # access | erasure | correction | objection
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending | completed | rejected
    source: Mapped[str] = mapped_column(String(20))  # agent | api | shopify
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    details: Mapped[bytes | None] = mapped_column(Sealed)
    result: Mapped[bytes | None] = mapped_column(Sealed)  # the access export, until the request is deleted


class OutboundAction(MerchantOwned, Base):
    __tablename__ = "outbound_actions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # abandoned_checkout | reminder | confirmation
    channel: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(30))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = stamped()
    updated_at: Mapped[datetime] = stamped()
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ProviderCopy(Base):
    """A copy of a conversation that Sera caused to exist at a provider (a recording or a
    message at Twilio, a call at Twilio or Vapi): the deletion ledger.

    Written when the copy is made, with ids only (the provider's id is no personal data).
    Retention, erasure and shop deletion turn rows into deletions (``pending``), which jobs
    carry out at the provider (``deleted``). Like the audit log, a row outlives its shop
    (no foreign key): the proof of a deletion must outlast what it deleted.
    """

    __tablename__ = "provider_copies"
    __table_args__ = (
        UniqueConstraint("provider", "kind", "provider_id", name="uq_provider_copies_provider_id"),
        Index("ix_provider_copies_merchant_status", "merchant_id", "status", "created_at"),
        Index("ix_provider_copies_due", "status", "next_attempt_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    provider: Mapped[str] = mapped_column(String(20))  # twilio | vapi
    kind: Mapped[str] = mapped_column(String(20))  # call | recording | message
    provider_id: Mapped[str] = mapped_column(String(64))
    data_class: Mapped[str] = mapped_column(String(30))  # its retention class
    customer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    record_id: Mapped[str | None] = mapped_column(String(40), index=True)  # our call or message
    created_at: Mapped[datetime] = stamped()
    status: Mapped[str] = mapped_column(String(10), default="kept")  # kept | pending | deleted
    reason: Mapped[str | None] = mapped_column(String(20))  # erasure | retention | shop_deletion | not_recorded
    requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(120))  # a status and a provider code, never a body
    redacted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    result: Mapped[str | None] = mapped_column(String(10))  # deleted | gone (the provider no longer had it)


class WebhookEndpoint(MerchantOwned, Base):
    """Where a shop's own systems (a CRM, an automation tool) receive Sera's signed events."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_merchant_created", "merchant_id", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    secret: Mapped[bytes] = mapped_column(Sealed)  # whsec_..., sealed under the shop's key
    created_at: Mapped[datetime] = stamped()
    updated_at: Mapped[datetime] = stamped()
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(String(80))
    # after a rotation, events are signed with the old secret too until then (the receiver switches)
    previous_secret: Mapped[bytes | None] = mapped_column(Sealed)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookDelivery(MerchantOwned, Base):
    """One event for one endpoint; its id is the stable ``webhook-id``. The body is sealed
    (under the customer's key when the event is about one, so erasure shreds it) and is
    dropped once delivered."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "merchant_id", "endpoint_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    payload: Mapped[bytes | None] = mapped_column(Sealed)
    status: Mapped[str] = mapped_column(String(12))  # pending | delivered | failed | erased
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = stamped()
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class UsageRecord(MerchantOwned, Base):
    __tablename__ = "usage_records"
    __table_args__ = (UniqueConstraint("merchant_id", "day", "metric", name="uq_usage_day_metric"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    metric: Mapped[str] = mapped_column(String(30))
    quantity: Mapped[int] = mapped_column(Integer, default=0)


class WebhookReceipt(Base):
    """One row per delivered provider event: a retried delivery finds it and stops."""

    __tablename__ = "webhook_receipts"
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_webhook_provider_event"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(200))
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    topic: Mapped[str | None] = mapped_column(String(80))
    received_at: Mapped[datetime] = stamped()


class AuditEntry(Base):
    """Append-only and hash-chained per chain (a merchant, or "system"). Never personal data."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        UniqueConstraint("chain", "position", name="uq_audit_chain_position"),
        Index("ix_audit_merchant_at", "merchant_id", "at"),
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer)
    merchant_id: Mapped[str | None] = mapped_column(String(40))  # kept after the shop is deleted
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(80))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last entry of each chain; appends lock this row so chains never fork.

    Retention deletes a chain's oldest entries; ``floor_position``/``floor_hash`` then
    say where the kept part starts and what its first entry must link to.
    """

    __tablename__ = "audit_heads"
    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    floor_position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    floor_hash: Mapped[str] = mapped_column(String(64), default="0" * 64, server_default="0" * 64)


class MailMessage(MerchantOwned, Base):
    """One email to the business, built when queued. The message is sealed (under the customer's
    key when it carries a customer's details, so erasure shreds it) and dropped once sent."""

    __tablename__ = "mail_messages"
    __table_args__ = (
        UniqueConstraint("merchant_id", "key", name="uq_mail_messages_key"),
        Index("ix_mail_messages_due", "status", "next_attempt_at"),
        Index("ix_mail_messages_merchant_created", "merchant_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(200))  # idempotency: one mail per key and shop
    template: Mapped[str] = mapped_column(String(60))
    customer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    recipients: Mapped[int] = mapped_column(Integer)
    message: Mapped[bytes | None] = mapped_column(Sealed)  # the whole RFC 5322 message
    status: Mapped[str] = mapped_column(String(12))  # pending | sent | failed | erased
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))  # the server's code and words, never the body
    created_at: Mapped[datetime] = stamped()
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class NotificationContact(MerchantOwned, Base):
    """Someone at the business who is told of events, by email or SMS, per event."""

    __tablename__ = "notification_contacts"
    __table_args__ = (Index("ix_notification_contacts_merchant_created", "merchant_id", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[bytes | None] = mapped_column(Sealed)
    email: Mapped[bytes | None] = mapped_column(Sealed)
    phone: Mapped[bytes | None] = mapped_column(Sealed)
    events: Mapped[dict[str, list[str]]] = mapped_column(JSON)  # event -> channels ("email", "sms")
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "21:00", in the shop's time zone
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    created_at: Mapped[datetime] = stamped()
    updated_at: Mapped[datetime] = stamped()


class Notification(MerchantOwned, Base):
    """The notification log: one row per event, contact and channel (so each is sent once)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("merchant_id", "event_key", "contact_id", "channel", name="uq_notifications_once"),
        Index("ix_notifications_merchant_created", "merchant_id", "created_at", "id"),
        Index("ix_notifications_due", "status", "next_attempt_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event: Mapped[str] = mapped_column(String(40))
    event_key: Mapped[str] = mapped_column(String(200))  # what happened, once: "ticket:tkt_..", "privacy:prq_..:6h"
    contact_id: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(8))  # email | sms
    customer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(12))  # pending | sent | failed | erased
    mail_id: Mapped[str | None] = mapped_column(String(40))
    body: Mapped[bytes | None] = mapped_column(Sealed)  # an SMS's text until sent
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = stamped()
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class UnansweredQuestion(MerchantOwned, Base):
    """A question the agent had no answer to, for the weekly report's topics. The question (and
    its sentence vector, which is derived from it) is sealed under the customer's key when the
    caller is known, so erasure shreds it; it expires with transcripts."""

    __tablename__ = "unanswered_questions"
    __table_args__ = (Index("ix_unanswered_questions_merchant_asked", "merchant_id", "asked_at", "id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # voice | sms | web
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    question: Mapped[bytes] = mapped_column(Sealed)
    vector: Mapped[bytes | None] = mapped_column(Sealed)  # base64 float16 sentence vector


class FeedbackSettings(MerchantOwned, Base):
    """Whether a shop asks for feedback after a conversation, and in what words. Its own table,
    not the shop file's ``outbound`` section (a contract other programs read), so importing a
    shop file leaves it as the merchant set it."""

    __tablename__ = "feedback_settings"
    __table_args__ = (UniqueConstraint("merchant_id", name="uq_feedback_settings_merchant_id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    wording: Mapped[str | None] = mapped_column(String(200))  # None: the default question
    enabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # conversations ended before are not asked
    updated_at: Mapped[datetime] = stamped()


class Feedback(MerchantOwned, Base):
    """A customer's answer to the feedback text: a score from 1 to 5 and any words (sealed under
    the customer's key), with the conversation it was about. Expires with call logs."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("action_id", name="uq_feedback_action_id"),  # one answer per question asked
        Index("ix_feedback_merchant_created", "merchant_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    action_id: Mapped[str | None] = mapped_column(ForeignKey("outbound_actions.id", ondelete="SET NULL"))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[str | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"), index=True)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # the conversation's: voice | sms
    score: Mapped[int] = mapped_column(Integer)
    words: Mapped[bytes | None] = mapped_column(Sealed)
    created_at: Mapped[datetime] = stamped()


# -- billing -------------------------------------------------------------------------------------


class BillingAccount(MerchantOwned, Base):
    """A shop's plan (a key of the deployment's price list) and billing details, sealed under the
    shop's key. A shop without a plan gets no invoice."""

    __tablename__ = "billing_accounts"
    __table_args__ = (UniqueConstraint("merchant_id", name="uq_billing_accounts_merchant_id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    plan: Mapped[str | None] = mapped_column(String(64), index=True)
    company: Mapped[bytes | None] = mapped_column(Sealed)
    email: Mapped[bytes | None] = mapped_column(Sealed)
    address: Mapped[bytes | None] = mapped_column(Sealed)
    tax_id: Mapped[bytes | None] = mapped_column(Sealed)
    created_at: Mapped[datetime] = stamped()
    updated_at: Mapped[datetime] = stamped()


class Invoice(Base):
    """An issued invoice or credit note: a business record, never updated once written.

    Like the audit log it outlives its shop (no foreign key: the operator keeps its records),
    the retention sweep and every erasure: it holds no end-customer data, and the billing
    details as they were at issue are sealed under the shop's records key, which deleting the
    shop does not destroy. ``period`` is set on invoices only, so (merchant, period) is unique
    for them and a restarted run never issues a month twice.
    """

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("merchant_id", "period", name="uq_invoices_merchant_period"),
        UniqueConstraint("number", name="uq_invoices_number"),
        Index("ix_invoices_merchant_issued", "merchant_id", "issued_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))  # invoice | credit_note
    number: Mapped[str] = mapped_column(String(32))
    period: Mapped[str | None] = mapped_column(String(7))  # YYYY-MM, invoices only
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # the last day
    credits_invoice_id: Mapped[str | None] = mapped_column(String(40), index=True)  # credit notes
    plan: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # decimals as strings
    subtotal: Mapped[str] = mapped_column(String(32))  # a Decimal, exact
    tax_rate: Mapped[str | None] = mapped_column(String(16))
    tax_label: Mapped[str | None] = mapped_column(String(40))
    tax: Mapped[str] = mapped_column(String(32))
    total: Mapped[str] = mapped_column(String(32))
    issuer: Mapped[dict[str, Any]] = mapped_column(JSON)  # the operator, as at issue
    billed_to: Mapped[bytes] = mapped_column(Sealed)  # JSON: the shop's billing details at issue
    reason: Mapped[str | None] = mapped_column(String(500))  # why a credit note was issued
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_on: Mapped[date | None] = mapped_column(Date)
    mail_id: Mapped[str | None] = mapped_column(String(40))


class InvoiceCounter(Base):
    """The last number used in each series of this deployment: taken, locked, in the same
    transaction that writes the document, so numbers have no gaps and no duplicates."""

    __tablename__ = "invoice_counters"
    series: Mapped[str] = mapped_column(String(12), primary_key=True)  # invoice | credit_note
    last: Mapped[int] = mapped_column(Integer, default=0)


class ShopSettingsVersion(MerchantOwned, Base):
    """A saved state of the shop's settings: the shop file as it was after a change (orders,
    which hold customers' details, left out), who changed which section, and when."""

    __tablename__ = "shop_settings_versions"
    __table_args__ = (UniqueConstraint("merchant_id", "number", name="uq_shop_settings_versions_number"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, 3... per shop
    section: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(80))  # an audit actor, never a name
    document: Mapped[str] = mapped_column(Text)  # the shop file (YAML)
    restored_from: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = stamped()


class AnalyticsDay(MerchantOwned, Base):
    """A shop's counts for one local day that is over (``sera.reports.rollups``): what the
    analytics page reads instead of counting the day's conversations again. Counts only."""

    __tablename__ = "analytics_days"
    __table_args__ = (UniqueConstraint("merchant_id", "day", name="uq_analytics_days_day"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64))  # the zone the day was counted in
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = stamped()


class IntegrationSettings(MerchantOwned, Base):
    """What a shop lets integrations (webhooks, CRMs) receive beyond ids and contact details.
    Its own table, like ``FeedbackSettings``: a shop file import never turns sharing on."""

    __tablename__ = "integration_settings"
    __table_args__ = (UniqueConstraint("merchant_id", name="uq_integration_settings_merchant_id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    share_interaction_data: Mapped[bool] = mapped_column(Boolean, default=False)  # transcripts, summaries
    updated_at: Mapped[datetime] = stamped()


# -- staff members' own calendars (CalDAV) -------------------------------------------------------


class StaffCalendar(MerchantOwned, Base):
    """A staff member's own calendar (``sera.calendars``): its busy times block slots, and
    Sera's bookings are written to it. Where it is and how to log in are sealed under the
    shop's key (a URL often names the person: Fastmail's carries their address)."""

    __tablename__ = "staff_calendars"
    __table_args__ = (UniqueConstraint("merchant_id", "staff_id", name="uq_staff_calendars_staff"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    url: Mapped[bytes] = mapped_column(Sealed)
    username: Mapped[bytes] = mapped_column(Sealed)
    password: Mapped[bytes] = mapped_column(Sealed)  # an app password, never the account's own
    event_detail: Mapped[str] = mapped_column(String(20), default="service_first_name")  # | service | busy
    status: Mapped[str] = mapped_column(String(12), default="connected")  # connected | error
    last_error: Mapped[str | None] = mapped_column(String(200))  # what the server said, never a body
    refreshed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # busy times last read
    created_at: Mapped[datetime] = stamped()
    updated_at: Mapped[datetime] = stamped()


class CalendarBusyTime(MerchantOwned, Base):
    """A busy range read from a staff member's calendar (times only: no titles), replaced on
    each refresh; the availability search reads these like bookings."""

    __tablename__ = "calendar_busy_times"
    __table_args__ = (Index("ix_calendar_busy_times_window", "merchant_id", "start_at", "end_at", "staff_id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    calendar_id: Mapped[str] = mapped_column(ForeignKey("staff_calendars.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[str] = mapped_column(String(40))
    start_at: Mapped[datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CalendarEventLink(MerchantOwned, Base):
    """An appointment's event in one staff calendar, and the write owed to it: ``pending`` rows
    are done by a job (ids only) that makes the calendar match the appointment as it is then."""

    __tablename__ = "calendar_event_links"
    __table_args__ = (
        UniqueConstraint("appointment_id", "calendar_id", name="uq_calendar_event_links_appointment"),
        Index("ix_calendar_event_links_due", "status", "next_attempt_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    appointment_id: Mapped[str] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
    calendar_id: Mapped[str] = mapped_column(ForeignKey("staff_calendars.id", ondelete="CASCADE"), index=True)
    uid: Mapped[str] = mapped_column(String(120))  # derived from the appointment id: stable across moves
    href: Mapped[str | None] = mapped_column(String(2000))
    state: Mapped[str] = mapped_column(String(12), default="none")  # none | written | removed | conflict
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    written_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = stamped()


class HubspotConnection(MerchantOwned, Base):
    """A shop's HubSpot account: its private-app token (sealed under the shop's key), the portal
    it opens, and the state of the sync the merchant is shown. ``paused_until``: HubSpot asked
    Sera to wait (429 ``Retry-After``) or failed, so the shop's queue waits, in order;
    ``draining_until``: a worker holds the queue (one at a time keeps HubSpot's order Sera's)."""

    __tablename__ = "hubspot_connections"
    __table_args__ = (UniqueConstraint("merchant_id", name="uq_hubspot_connections_merchant_id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token: Mapped[bytes] = mapped_column(Sealed)
    portal_id: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12))  # connected | broken (token refused) | closing (owed deletions)
    connected_at: Mapped[datetime] = stamped()
    last_sync_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))  # HubSpot's words, never a customer's details
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # in a row, for the backoff
    paused_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    draining_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    queued: Mapped[int] = mapped_column(Integer, default=0)  # the last position given in the queue
    updated_at: Mapped[datetime] = stamped()


class HubspotSync(MerchantOwned, Base):
    """One Sera object (a call, an appointment) as written to the shop's HubSpot: one row per
    object, so it is created there once; ``hubspot_id`` once HubSpot made it, so a later change
    updates it. Ids only: what is sent is read from the object when it is sent. ``changes``
    counts the events, so one that arrives while the row is being sent is sent after."""

    __tablename__ = "hubspot_syncs"
    __table_args__ = (
        UniqueConstraint("merchant_id", "kind", "object_id", name="uq_hubspot_syncs_object"),
        Index("ix_hubspot_syncs_queue", "merchant_id", "status", "position"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # call | appointment | erase_call | erase_meeting | erase_contact
    object_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(12))  # pending | synced | failed | erased
    changes: Mapped[int] = mapped_column(Integer, default=1)
    hubspot_id: Mapped[str | None] = mapped_column(String(40))  # the call or meeting at HubSpot
    contact_id: Mapped[str | None] = mapped_column(String(40))  # the HubSpot contact it is associated with
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer)  # the order in the shop's queue; a later change queues it again
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    synced_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
