"""shop settings versions: every saved change of the agent's settings, to compare and restore

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sera.storage.models

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shop_settings_versions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("section", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.Column("created_at", sera.storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_shop_settings_versions_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_settings_versions")),
        sa.UniqueConstraint("merchant_id", "number", name="uq_shop_settings_versions_number"),
    )
    op.create_index(op.f("ix_shop_settings_versions_merchant_id"), "shop_settings_versions", ["merchant_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_shop_settings_versions_merchant_id"), table_name="shop_settings_versions")
    op.drop_table("shop_settings_versions")
