"""the dashboard team: sessions, invitations, login throttles, second factor

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 23:36:37.123783
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sera.storage.models

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sera.storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sera.storage.models.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )
    op.create_table(
        "team_invitations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.LargeBinary(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("invited_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", sera.storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sera.storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sera.storage.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sera.storage.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_team_invitations_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_team_invitations_token_hash")),
    )
    with op.batch_alter_table("team_invitations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_team_invitations_merchant_id"), ["merchant_id"], unique=False)

    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("created_at", sera.storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sera.storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reauthenticated_at", sera.storage.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sera.storage.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(length=30), nullable=True),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["staff_users.id"],
            name=op.f("fk_dashboard_sessions_member_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_dashboard_sessions_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sessions")),
    )
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_dashboard_sessions_member", ["member_id", "ended_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_dashboard_sessions_merchant_id"), ["merchant_id"], unique=False)

    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login_bidx", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("password_changed_at", sera.storage.models.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("totp_secret", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("totp_enabled_at", sera.storage.models.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("recovery_codes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("preferences", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("removed_at", sera.storage.models.UtcDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_staff_users_login_bidx"), ["login_bidx"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_users_login_bidx"))
        batch_op.drop_column("removed_at")
        batch_op.drop_column("preferences")
        batch_op.drop_column("recovery_codes")
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_enabled_at")
        batch_op.drop_column("totp_secret")
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("login_bidx")

    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_sessions_merchant_id"))
        batch_op.drop_index("ix_dashboard_sessions_member")

    op.drop_table("dashboard_sessions")
    with op.batch_alter_table("team_invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_invitations_merchant_id"))

    op.drop_table("team_invitations")
    op.drop_table("login_throttles")
