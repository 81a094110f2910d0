"""expiring provider tokens: refresh token (sealed), expiry times, refusal

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 05:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sera.storage.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every column is nullable: the tokens already stored do not expire and keep working.
    with op.batch_alter_table("provider_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("secret_expires_at", sera.storage.models.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("refresh_secret", sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column("refresh_expires_at", sera.storage.models.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("refused_at", sera.storage.models.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("provider_accounts", schema=None) as batch_op:
        batch_op.drop_column("refused_at")
        batch_op.drop_column("refresh_expires_at")
        batch_op.drop_column("refresh_secret")
        batch_op.drop_column("secret_expires_at")
