"""analytics days: counts of closed days

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 00:06:10.107767
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sera.storage.models

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_days",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("computed_at", sera.storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_analytics_days_merchant_id_merchants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_days")),
        sa.UniqueConstraint("merchant_id", "day", name="uq_analytics_days_day"),
    )
    with op.batch_alter_table("analytics_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analytics_days_merchant_id"), ["merchant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("analytics_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_days_merchant_id"))

    op.drop_table("analytics_days")
