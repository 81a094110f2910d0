"""billing details, invoices and credit notes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sera.storage.models import UtcDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_accounts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("plan", sa.String(length=64), nullable=True),
        sa.Column("company", sa.LargeBinary(), nullable=True),
        sa.Column("email", sa.LargeBinary(), nullable=True),
        sa.Column("address", sa.LargeBinary(), nullable=True),
        sa.Column("tax_id", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_billing_accounts_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_accounts")),
        sa.UniqueConstraint("merchant_id", name="uq_billing_accounts_merchant_id"),
    )
    op.create_index(op.f("ix_billing_accounts_merchant_id"), "billing_accounts", ["merchant_id"], unique=False)
    op.create_index(op.f("ix_billing_accounts_plan"), "billing_accounts", ["plan"], unique=False)

    # No foreign key to merchants: invoices are the operator's records and outlive the shop.
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("credits_invoice_id", sa.String(length=40), nullable=True),
        sa.Column("plan", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("subtotal", sa.String(length=32), nullable=False),
        sa.Column("tax_rate", sa.String(length=16), nullable=True),
        sa.Column("tax_label", sa.String(length=40), nullable=True),
        sa.Column("tax", sa.String(length=32), nullable=False),
        sa.Column("total", sa.String(length=32), nullable=False),
        sa.Column("issuer", sa.JSON(), nullable=False),
        sa.Column("billed_to", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("issued_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("mail_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("merchant_id", "period", name="uq_invoices_merchant_period"),
        sa.UniqueConstraint("number", name="uq_invoices_number"),
    )
    op.create_index(op.f("ix_invoices_credits_invoice_id"), "invoices", ["credits_invoice_id"], unique=False)
    op.create_index("ix_invoices_merchant_issued", "invoices", ["merchant_id", "issued_at", "id"], unique=False)

    op.create_table(
        "invoice_counters",
        sa.Column("series", sa.String(length=12), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("series", name=op.f("pk_invoice_counters")),
    )


def downgrade() -> None:
    op.drop_table("invoice_counters")
    op.drop_index("ix_invoices_merchant_issued", table_name="invoices")
    op.drop_index(op.f("ix_invoices_credits_invoice_id"), table_name="invoices")
    op.drop_table("invoices")
    op.drop_index(op.f("ix_billing_accounts_plan"), table_name="billing_accounts")
    op.drop_index(op.f("ix_billing_accounts_merchant_id"), table_name="billing_accounts")
    op.drop_table("billing_accounts")
