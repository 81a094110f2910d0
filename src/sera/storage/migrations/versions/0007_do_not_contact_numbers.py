"""do-not-contact numbers: the number and a reason (sealed), newest-first paging

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: entries made before this hold only the blind index, and the API shows their
    # number through the linked customer when it still matches (a migration cannot decrypt).
    with op.batch_alter_table("do_not_contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.LargeBinary(), nullable=True))
        batch_op.create_index("ix_dnc_merchant_created", ["merchant_id", "created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("do_not_contact", schema=None) as batch_op:
        batch_op.drop_index("ix_dnc_merchant_created")
        batch_op.drop_column("reason")
        batch_op.drop_column("phone")
