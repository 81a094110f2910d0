"""hubspot_syncs: room for the erasure kinds (erase_call, erase_meeting, erase_contact)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hubspot_syncs", schema=None) as batch_op:
        batch_op.alter_column("kind", existing_type=sa.String(length=12), type_=sa.String(length=20))


def downgrade() -> None:
    op.execute("DELETE FROM hubspot_syncs WHERE kind LIKE 'erase_%'")
    with op.batch_alter_table("hubspot_syncs", schema=None) as batch_op:
        batch_op.alter_column("kind", existing_type=sa.String(length=20), type_=sa.String(length=12))
