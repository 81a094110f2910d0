"""caldav: staff calendars (sealed credentials), cached busy times, events written

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 22:00:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from sera.storage.models import UtcDateTime

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _merchant(table: str) -> list[Any]:
    return [
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f(f"fk_{table}_merchant_id_merchants"), ondelete="CASCADE"
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "staff_calendars",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("staff_id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.LargeBinary(), nullable=False),
        sa.Column("username", sa.LargeBinary(), nullable=False),
        sa.Column("password", sa.LargeBinary(), nullable=False),
        sa.Column("event_detail", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("refreshed_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        *_merchant("staff_calendars"),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_calendars_staff_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_calendars")),
        sa.UniqueConstraint("merchant_id", "staff_id", name="uq_staff_calendars_staff"),
    )
    op.create_index(op.f("ix_staff_calendars_merchant_id"), "staff_calendars", ["merchant_id"])
    op.create_table(
        "calendar_busy_times",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("calendar_id", sa.String(length=40), nullable=False),
        sa.Column("staff_id", sa.String(length=40), nullable=False),
        sa.Column("start_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("end_at", UtcDateTime(timezone=True), nullable=False),
        *_merchant("calendar_busy_times"),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["staff_calendars.id"],
            name=op.f("fk_calendar_busy_times_calendar_id_staff_calendars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_busy_times")),
    )
    op.create_index(op.f("ix_calendar_busy_times_merchant_id"), "calendar_busy_times", ["merchant_id"])
    op.create_index(op.f("ix_calendar_busy_times_calendar_id"), "calendar_busy_times", ["calendar_id"])
    op.create_index(
        "ix_calendar_busy_times_window", "calendar_busy_times", ["merchant_id", "start_at", "end_at", "staff_id"]
    )
    op.create_table(
        "calendar_event_links",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("appointment_id", sa.String(length=40), nullable=False),
        sa.Column("calendar_id", sa.String(length=40), nullable=False),
        sa.Column("uid", sa.String(length=120), nullable=False),
        sa.Column("href", sa.String(length=2000), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("written_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        *_merchant("calendar_event_links"),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_calendar_event_links_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["staff_calendars.id"],
            name=op.f("fk_calendar_event_links_calendar_id_staff_calendars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_event_links")),
        sa.UniqueConstraint("appointment_id", "calendar_id", name="uq_calendar_event_links_appointment"),
    )
    op.create_index(op.f("ix_calendar_event_links_merchant_id"), "calendar_event_links", ["merchant_id"])
    op.create_index(op.f("ix_calendar_event_links_calendar_id"), "calendar_event_links", ["calendar_id"])
    op.create_index("ix_calendar_event_links_due", "calendar_event_links", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("calendar_event_links")
    op.drop_table("calendar_busy_times")
    op.drop_table("staff_calendars")
