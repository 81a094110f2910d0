"""hubspot: a shop's connection (sealed private-app token) and sync state

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sera.storage.models

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = sera.storage.models.UtcDateTime(timezone=True)
    op.create_table(
        "hubspot_connections",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("portal_id", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("connected_at", utc, nullable=False),
        sa.Column("last_sync_at", utc, nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("last_error_at", utc, nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("paused_until", utc, nullable=True),
        sa.Column("draining_until", utc, nullable=True),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_hubspot_connections_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hubspot_connections")),
        sa.UniqueConstraint("merchant_id", name="uq_hubspot_connections_merchant_id"),
    )
    with op.batch_alter_table("hubspot_connections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hubspot_connections_merchant_id"), ["merchant_id"], unique=False)

    op.create_table(
        "hubspot_syncs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("object_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("hubspot_id", sa.String(length=40), nullable=True),
        sa.Column("contact_id", sa.String(length=40), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("queued_at", utc, nullable=False),
        sa.Column("synced_at", utc, nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_hubspot_syncs_merchant_id_merchants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hubspot_syncs")),
        sa.UniqueConstraint("merchant_id", "kind", "object_id", name="uq_hubspot_syncs_object"),
    )
    with op.batch_alter_table("hubspot_syncs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hubspot_syncs_merchant_id"), ["merchant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hubspot_syncs_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_hubspot_syncs_queue", ["merchant_id", "status", "position"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hubspot_syncs", schema=None) as batch_op:
        batch_op.drop_index("ix_hubspot_syncs_queue")
        batch_op.drop_index(batch_op.f("ix_hubspot_syncs_customer_id"))
        batch_op.drop_index(batch_op.f("ix_hubspot_syncs_merchant_id"))
    op.drop_table("hubspot_syncs")

    with op.batch_alter_table("hubspot_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hubspot_connections_merchant_id"))
    op.drop_table("hubspot_connections")
