"""Whether a shop asks its customers for feedback, and the question it sends.

The setting lives in its own table rather than in the shop file's ``outbound`` section: that
file is a contract other programs read and write, and importing one replaces every setting it
holds. Off by default; turning it on records the moment, so conversations that ended before
are never asked about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from sera import audit
from sera.calls.messages import sms_segments
from sera.storage.database import UnitOfWork
from sera.storage.models import FeedbackSettings, new_id

DEFAULT_WORDING = "How did we do today? Reply 1-5 (5 = great). Reply STOP to opt out."
MAX_WORDING = 160


class FeedbackSettingsError(ValueError):
    """The wording cannot be sent as asked; nothing was changed."""


@dataclass(frozen=True)
class FeedbackConfig:
    enabled: bool = False
    wording: str | None = None  # None: DEFAULT_WORDING
    enabled_at: datetime | None = None

    @property
    def question(self) -> str:
        return self.wording or DEFAULT_WORDING


def feedback_settings(uow: UnitOfWork) -> FeedbackConfig:
    row = _row(uow)
    if row is None:
        return FeedbackConfig()
    return FeedbackConfig(row.enabled, row.wording, row.enabled_at)


def check_wording(wording: str) -> str:
    """The wording as it will be sent: one SMS segment, with how to opt out."""
    text = " ".join(wording.split())
    if not text:
        raise FeedbackSettingsError("the question must not be empty")
    if len(text) > MAX_WORDING or sms_segments(text) > 1:
        raise FeedbackSettingsError(
            "the question must fit in one text message (160 plain characters, or 70 with emoji or accents)"
        )
    if "STOP" not in text.upper():
        raise FeedbackSettingsError('the question must say how to opt out, e.g. "Reply STOP to opt out."')
    return text


def set_feedback_settings(
    uow: UnitOfWork, *, enabled: bool, wording: str | None, actor: str, now: datetime
) -> FeedbackConfig:
    """Turn feedback texts on or off and set their wording (None: the default). Audited."""
    checked = check_wording(wording) if wording is not None else None
    row = _row(uow)
    if row is None:
        row = FeedbackSettings(id=new_id("fbs"), merchant_id=_merchant(uow), enabled=False)
        uow.session.add(row)
    if enabled and not row.enabled:
        row.enabled_at = now
    row.enabled = enabled
    row.wording = checked
    row.updated_at = now
    uow.session.flush()
    audit.record(
        uow.session,
        merchant_id=row.merchant_id,
        actor=actor,
        action="feedback.settings_changed",
        target_type="merchant",
        target_id=row.merchant_id,
        details={"enabled": enabled, "default_wording": checked is None},
        at=now,
    )
    return FeedbackConfig(row.enabled, row.wording, row.enabled_at)


def _merchant(uow: UnitOfWork) -> str:
    if uow.merchant_id is None:
        raise ValueError("feedback settings belong to one shop: use a merchant-scoped unit of work")
    return uow.merchant_id


def _row(uow: UnitOfWork) -> FeedbackSettings | None:
    return uow.session.execute(select(FeedbackSettings)).scalar_one_or_none()


def start_asking_unless_chosen(uow: UnitOfWork, *, actor: str, now: datetime) -> bool:
    """Turn feedback texts on with the default question, unless the shop already chose (on or
    off): what the demo shop starts with. True when it was turned on."""
    if _row(uow) is not None:
        return False
    set_feedback_settings(uow, enabled=True, wording=None, actor=actor, now=now)
    return True
