"""Sending the weekly report: the shop's choice of day and hour, the email, the hourly check.

Invariants:
- One report per shop and week: the mail key is ``report:<week>``, so a second check, a
  second worker or ``sera report`` again queues nothing.
- The email carries counts and scrubbed example questions, never a customer's name or number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from sera.bootstrap import Sera
from sera.reports.service import Week, WeeklyReport, last_week, weekly_report
from sera.storage.database import UnitOfWork
from sera.storage.models import MailMessage, Merchant

log = logging.getLogger("sera.reports")
TEMPLATE = "weekly_report"
NOTIFICATION = "weekly_report"  # the event a notification contact may be told of
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ReportSettingsError(ValueError):
    pass


@dataclass(frozen=True)
class ReportSettings:
    """When a shop gets its weekly report (its ``reports`` settings): local day and hour."""

    enabled: bool = True
    day: str = "monday"
    hour: int = 8

    def checked(self) -> ReportSettings:
        if self.day not in DAYS:
            raise ReportSettingsError(f"day must be one of {', '.join(DAYS)}")
        if not 0 <= self.hour <= 23:
            raise ReportSettingsError("hour must be 0 to 23 (the shop's local time)")
        return self


def report_settings(uow: UnitOfWork) -> ReportSettings:
    settings = uow.session.execute(select(Merchant.settings).where(Merchant.id == uow.merchant_id)).scalar_one()
    return _from(settings or {})


def _from(settings: dict[str, Any]) -> ReportSettings:
    given = settings.get("reports") or {}
    return ReportSettings(
        enabled=bool(given.get("enabled", True)), day=str(given.get("day", "monday")), hour=int(given.get("hour", 8))
    )


def update_report_settings(uow: UnitOfWork, wanted: ReportSettings, *, now: datetime) -> ReportSettings:
    wanted = wanted.checked()
    merchant = uow.session.execute(select(Merchant).where(Merchant.id == uow.merchant_id)).scalar_one()
    merchant.settings = {
        **(merchant.settings or {}),
        "reports": {"enabled": wanted.enabled, "day": wanted.day, "hour": wanted.hour},
    }
    merchant.updated_at = now
    return wanted


def report_context(report: WeeklyReport, public_url: str) -> dict[str, Any]:
    """What the templates show: the report's figures, worded."""
    base = public_url.rstrip("/")
    last_day = report.ends.date().toordinal() - 1
    end = datetime.fromordinal(last_day).date()
    period = f"{report.starts:%-d %B} to {end:%-d %B %Y}"
    return {
        "shop_name": report.shop,
        "week": report.week,
        "period": period,
        "timezone": report.timezone,
        "calls": report.calls,
        "texts": report.texts,
        "web_chats": report.web_chats,
        "bookings": report.bookings,
        "messages_taken": report.messages_taken,
        "recovered_checkouts": report.recovered_checkouts,
        "revenue": ", ".join(f"{cents / 100:,.2f} {cur}" for cur, cents in sorted(report.recovered_revenue.items())),
        "outcomes": sorted(report.outcomes.items(), key=lambda item: -item[1]),
        "busiest_hours": [
            {"label": f"{h.hour:02d}:00-{(h.hour + 1) % 24:02d}:00", "count": h.count} for h in report.busiest_hours
        ],
        "feedback": {
            "available": report.feedback.available,
            "count": report.feedback.count,
            "average": None if report.feedback.average is None else round(report.feedback.average, 1),
        },
        "unanswered": report.unanswered,
        "topics": [
            {"label": t.label, "count": t.count, "example": t.example, "url": base + t.add_faq_path}
            for t in report.topics
        ],
        "more_topics": report.more_topics,
    }


def render_report(report: WeeklyReport, public_url: str) -> str:
    """The report as readable text (what ``sera report`` prints; the email's text part)."""
    from sera.mail.service import render_text

    return render_text(f"{TEMPLATE}.txt", report_context(report, public_url))


def report_recipients(uow: UnitOfWork) -> list[str]:
    """The owner (the shop's email) and the contacts told of the weekly report."""
    from sera.notifications.service import recipients

    owner = uow.session.execute(select(Merchant.email).where(Merchant.id == uow.merchant_id)).scalar()
    return sorted({*([owner] if owner else []), *recipients(uow, NOTIFICATION)})


def mail_report(uow: UnitOfWork, report: WeeklyReport, *, public_url: str, now: datetime) -> str | None:
    """Queue the report's email (once per week: None when it was queued before or nobody is
    there to receive it)."""
    from sera.mail.service import queue_mail

    to = report_recipients(uow)
    if not to:
        log.warning("weekly report not sent: the shop has no email", extra={"merchant_id": uow.merchant_id})
        return None
    context = report_context(report, public_url)
    return queue_mail(uow, key=f"report:{report.week}", to=to, template=TEMPLATE, context=context, now=now)


def _already_queued(uow: UnitOfWork, week: Week) -> bool:
    key = f"report:{week.label}"
    found = uow.session.execute(
        select(MailMessage.id).where(MailMessage.merchant_id == uow.merchant_id, MailMessage.key == key)
    ).first()
    return found is not None


def send_due_reports(sera: Sera, now: datetime) -> list[str]:
    """The hourly check: each shop whose chosen day and hour have come gets last week's report
    (later that day if the check missed the hour). Returns the ids of the shops sent one."""
    with sera.uow(readonly=True) as uow:
        shops = uow.session.execute(
            select(Merchant.id, Merchant.timezone, Merchant.settings).where(Merchant.status == "active")
        ).all()
    sent = []
    for merchant_id, timezone, settings in shops:
        chosen = _from(settings or {})
        zone = ZoneInfo(timezone)
        local = now.astimezone(zone)
        if not chosen.enabled or DAYS[local.weekday()] != chosen.day or local.hour < chosen.hour:
            continue
        try:
            with sera.uow(merchant_id) as uow:
                week = last_week(now, zone)
                if _already_queued(uow, week):
                    continue
                report = weekly_report(uow, week)
                audited(uow, report, actor="system:reports", now=now)
                if mail_report(uow, report, public_url=sera.settings.public_url, now=now):
                    sent.append(merchant_id)
                uow.commit()
        except Exception:  # one shop's failure must not keep the others' reports
            log.exception("weekly report failed", extra={"merchant_id": merchant_id})
    return sent


@dataclass(frozen=True)
class OnDemand:
    report: WeeklyReport
    text: str
    mail_id: str | None  # None: not emailed (asked not to, or already sent for that week)


def report_now(sera: Sera, merchant_id: str, week: str | None, *, email: bool, actor: str) -> OnDemand:
    """``sera report``: the shop's report for ``week`` (last week by default), as text, and
    its email queued unless ``email`` is False. Raises ReportError for a bad week."""
    from sera.reports.service import parse_week, shop_zone

    now = sera.clock()
    with sera.uow(merchant_id) as uow:
        zone = shop_zone(uow)
        chosen = parse_week(week, zone) if week else last_week(now, zone)
        report = weekly_report(uow, chosen)
        audited(uow, report, actor=actor, now=now)
        mail_id = mail_report(uow, report, public_url=sera.settings.public_url, now=now) if email else None
        uow.commit()
    return OnDemand(report, render_report(report, sera.settings.public_url), mail_id)


def audited(uow: UnitOfWork, report: WeeklyReport, *, actor: str, now: datetime) -> None:
    """The report read the week's unanswered questions (sealed): the audit log says so, in counts."""
    from sera import audit

    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="report.built",
        target_type="weekly_report",
        target_id=report.week,
        details={"unanswered_questions": report.unanswered, "topics": len(report.topics) + report.more_topics},
        at=now,
    )
