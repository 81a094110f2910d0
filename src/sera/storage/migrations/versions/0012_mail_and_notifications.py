"""mail outbox, business contacts and the notification log

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 21:00:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from sera.storage.models import UtcDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _merchant(table: str) -> list[Any]:
    return [
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f(f"fk_{table}_merchant_id_merchants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "mail_messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("template", sa.String(length=60), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", UtcDateTime(timezone=True), nullable=True),
        *_merchant("mail_messages"),
        sa.UniqueConstraint("merchant_id", "key", name="uq_mail_messages_key"),
    )
    op.create_index(op.f("ix_mail_messages_merchant_id"), "mail_messages", ["merchant_id"])
    op.create_index(op.f("ix_mail_messages_customer_id"), "mail_messages", ["customer_id"])
    op.create_index("ix_mail_messages_due", "mail_messages", ["status", "next_attempt_at"])
    op.create_index("ix_mail_messages_merchant_created", "mail_messages", ["merchant_id", "created_at", "id"])
    op.create_table(
        "notification_contacts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.LargeBinary(), nullable=True),
        sa.Column("email", sa.LargeBinary(), nullable=True),
        sa.Column("phone", sa.LargeBinary(), nullable=True),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("quiet_start", sa.String(length=5), nullable=True),
        sa.Column("quiet_end", sa.String(length=5), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        *_merchant("notification_contacts"),
    )
    op.create_index(op.f("ix_notification_contacts_merchant_id"), "notification_contacts", ["merchant_id"])
    op.create_index(
        "ix_notification_contacts_merchant_created", "notification_contacts", ["merchant_id", "created_at", "id"]
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("contact_id", sa.String(length=40), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("mail_id", sa.String(length=40), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", UtcDateTime(timezone=True), nullable=True),
        *_merchant("notifications"),
        sa.UniqueConstraint("merchant_id", "event_key", "contact_id", "channel", name="uq_notifications_once"),
    )
    op.create_index(op.f("ix_notifications_merchant_id"), "notifications", ["merchant_id"])
    op.create_index(op.f("ix_notifications_customer_id"), "notifications", ["customer_id"])
    op.create_index("ix_notifications_merchant_created", "notifications", ["merchant_id", "created_at", "id"])
    op.create_index("ix_notifications_due", "notifications", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("notification_contacts")
    op.drop_table("mail_messages")
