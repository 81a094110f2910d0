"""The weekly report and the unanswered questions, for the merchant's own systems and the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from sera import audit
from sera.access.api_keys import Principal
from sera.reports.delivery import DAYS, ReportSettings, ReportSettingsError, report_settings, update_report_settings
from sera.reports.questions import list_unanswered
from sera.reports.service import ReportError, last_week, parse_week, shop_zone, weekly_report
from sera.web.api.deps import AdminDep, PageDep, PrincipalDep, ReaderDep, SeraDep, invalid, read_page
from sera.web.api.responses import errors

router = APIRouter(tags=["merchant API"], responses=errors(401))  # included in sera.web.api.v1


def _audit(sera: SeraDep, principal: Principal, target_type: str, target_id: str | None, count: int) -> None:
    with sera.uow(principal.merchant_id) as uow:
        audit.record(
            uow.session,
            merchant_id=principal.merchant_id,
            actor=principal.actor,
            action="api.read",
            target_type=target_type,
            target_id=target_id,
            details={"count": count},
        )
        uow.commit()


@router.get(
    "/reports/weekly",
)
def weekly(
    sera: SeraDep,
    principal: PrincipalDep,
    uow: ReaderDep,
    week: Annotated[str | None, Query(max_length=10, description="ISO week, e.g. 2026-W48; default: last week")] = None,
) -> dict[str, Any]:
    """The shop's weekly report (the email's figures): counts only, example questions scrubbed."""
    zone = shop_zone(uow)
    try:
        chosen = parse_week(week, zone) if week else last_week(sera.clock(), zone)
    except ReportError as exc:
        raise invalid(str(exc), "query", "week") from None
    report = weekly_report(uow, chosen)
    _audit(sera, principal, "weekly_report", report.week, report.unanswered)
    return report.as_dict()


class UnansweredOut(BaseModel):
    id: str
    text: str
    channel: str
    asked_at: datetime
    call_id: str | None


class UnansweredListOut(BaseModel):
    data: list[UnansweredOut]
    next_cursor: str | None


@router.get(
    "/unanswered-questions",
    response_model=UnansweredListOut,
)
def unanswered_questions(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, page: PageDep) -> UnansweredListOut:
    """The questions the agent could not answer, newest first, in the callers' words."""
    listed = read_page(lambda: list_unanswered(uow, page))
    _audit(sera, principal, "unanswered_question", None, len(listed.items))
    items = [
        UnansweredOut(id=q.id, text=q.text, channel=q.channel, asked_at=q.asked_at, call_id=q.call_id)
        for q in listed.items
    ]
    return UnansweredListOut(data=items, next_cursor=listed.next_cursor)


class ReportSettingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # an hour is a number, never `false`
    enabled: bool = True
    day: str = Field("monday", description=f"one of {', '.join(DAYS)}")
    hour: int = Field(8, ge=0, le=23, description="the shop's local hour")


@router.get("/reports/settings", response_model=ReportSettingsBody)
def get_report_settings(uow: ReaderDep) -> ReportSettingsBody:
    """When the weekly report is emailed (the shop's local day and hour)."""
    chosen = report_settings(uow)
    return ReportSettingsBody(enabled=chosen.enabled, day=chosen.day, hour=chosen.hour)


@router.put("/reports/settings", response_model=ReportSettingsBody, responses=errors(400, 403))
def put_report_settings(sera: SeraDep, principal: AdminDep, body: ReportSettingsBody) -> ReportSettingsBody:
    with sera.uow(principal.merchant_id) as uow:
        try:
            chosen = update_report_settings(
                uow, ReportSettings(body.enabled, body.day.lower(), body.hour), now=sera.clock()
            )
        except ReportSettingsError as exc:
            raise invalid(str(exc), "body", "day") from None
        audit.record(
            uow.session,
            merchant_id=principal.merchant_id,
            actor=principal.actor,
            action="reports.settings_changed",
            target_type="merchant",
            target_id=principal.merchant_id,
            details={"enabled": chosen.enabled, "day": chosen.day, "hour": chosen.hour},
        )
        uow.commit()
    return ReportSettingsBody(enabled=chosen.enabled, day=chosen.day, hour=chosen.hour)


__all__ = ["router"]
