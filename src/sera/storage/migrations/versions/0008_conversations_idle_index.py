"""conversations: an index for the idle sweep (active conversations by channel and last activity)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 06:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_conversations_idle", "conversations", ["status", "channel", "updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_conversations_idle", table_name="conversations")
