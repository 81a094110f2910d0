"""provider_copies: the deletion ledger of copies held by Twilio and Vapi

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sera.storage.models import UtcDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_copies",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("data_class", sa.String(length=30), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("record_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("requested_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("due_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=120), nullable=True),
        sa.Column("redacted_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_copies")),
        sa.UniqueConstraint("provider", "kind", "provider_id", name="uq_provider_copies_provider_id"),
    )
    op.create_index("ix_provider_copies_merchant_status", "provider_copies", ["merchant_id", "status", "created_at"])
    op.create_index("ix_provider_copies_due", "provider_copies", ["status", "next_attempt_at"])
    op.create_index(op.f("ix_provider_copies_customer_id"), "provider_copies", ["customer_id"])
    op.create_index(op.f("ix_provider_copies_record_id"), "provider_copies", ["record_id"])


def downgrade() -> None:
    op.drop_table("provider_copies")
