"""integrations: whether interaction data is shared with integrations; webhook secret rotation

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sera.storage.models

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integration_settings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("share_interaction_data", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sera.storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_integration_settings_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_settings")),
        sa.UniqueConstraint("merchant_id", name="uq_integration_settings_merchant_id"),
    )
    with op.batch_alter_table("integration_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_integration_settings_merchant_id"), ["merchant_id"], unique=False)
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_secret", sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column("previous_secret_until", sera.storage.models.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_column("previous_secret_until")
        batch_op.drop_column("previous_secret")
    with op.batch_alter_table("integration_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integration_settings_merchant_id"))

    op.drop_table("integration_settings")
