"""tickets in the dashboard: ticket assignees and internal notes; where an appointment came from

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sera.storage.models

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee_id", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_tickets_assignee_id_staff_users"),
            "staff_users",
            ["assignee_id"],
            ["id"],
            ondelete="SET NULL",
        )
    # "closed" was the only other status before the dashboard named them
    op.execute("UPDATE tickets SET status = 'resolved' WHERE status = 'closed'")

    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("call_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("booked_by", sa.String(length=80), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_appointments_call_id_calls"), "calls", ["call_id"], ["id"], ondelete="SET NULL"
        )

    op.create_table(
        "ticket_notes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("ticket_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("author_id", sa.String(length=40), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sera.storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["staff_users.id"], name=op.f("fk_ticket_notes_author_id_staff_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_ticket_notes_customer_id_customers"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_ticket_notes_merchant_id_merchants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_notes_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_notes")),
    )
    with op.batch_alter_table("ticket_notes", schema=None) as batch_op:
        batch_op.create_index("ix_ticket_notes_ticket_created", ["ticket_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ticket_notes_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ticket_notes_merchant_id"), ["merchant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ticket_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_notes_merchant_id"))
        batch_op.drop_index(batch_op.f("ix_ticket_notes_customer_id"))
        batch_op.drop_index("ix_ticket_notes_ticket_created")
    op.drop_table("ticket_notes")

    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_appointments_call_id_calls"), type_="foreignkey")
        batch_op.drop_column("booked_by")
        batch_op.drop_column("call_id")

    op.execute("UPDATE tickets SET status = 'closed' WHERE status <> 'open'")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_tickets_assignee_id_staff_users"), type_="foreignkey")
        batch_op.drop_column("assignee_id")
