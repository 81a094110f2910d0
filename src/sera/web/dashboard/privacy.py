"""Privacy: requests and deadlines, retention periods, the audit log, deleting the shop."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from sera.bootstrap import Sera
from sera.privacy.audit_log import AuditFilter, audit_actions, list_audit_entries, verify_shop_chain
from sera.privacy.erasure import delete_shop
from sera.privacy.requests import Correction, complete_privacy_request
from sera.privacy.retention_settings import (
    DATA_CLASSES,
    RetentionError,
    current_periods,
    preview_periods,
    set_periods,
    validate_periods,
)
from sera.privacy.service import (
    PrivacyRequestError,
    PrivacyRequestNotFoundError,
    export_result,
    list_privacy_requests,
)
from sera.storage.paging import InvalidCursorError, PageRequest
from sera.team import sessions
from sera.web.api.deps import SeraDep
from sera.web.api.v1 import CorrectionIn
from sera.web.dashboard.access import (
    PREFIX,
    DashboardUser,
    ForbiddenError,
    PageNotFoundError,
    cookie_name,
    requires,
    secure_cookies,
)
from sera.web.dashboard.render import render
from sera.web.fields import IdPath

router = APIRouter()
AuditReader = Annotated[DashboardUser, Depends(requires("audit.read"))]
Exporter = Annotated[DashboardUser, Depends(requires("customers.export"))]
PrivacyCompleter = Annotated[DashboardUser, Depends(requires("privacy.complete"))]
PrivacyReader = Annotated[DashboardUser, Depends(requires("privacy.read"))]
RetentionWriter = Annotated[DashboardUser, Depends(requires("retention.write"))]
ShopDeleter = Annotated[DashboardUser, Depends(requires("shop.delete"))]
DONE = {  # fixed texts for what a redirect after a change reports
    "completed": "The request is completed.",
    "retention": "The retention periods are saved: the next sweep deletes by them.",
}
Days = Annotated[str, Form(max_length=10)]
Field = Annotated[str, Form(max_length=320)]


def _privacy_page(
    request: Request,
    sera: SeraDep,
    user: DashboardUser,
    *,
    cursor: str | None = None,
    notice: str | None = None,
    problem: str | None = None,
    entered: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    now = sera.clock()
    with sera.uow(user.merchant_id, readonly=True) as reader:
        try:
            queue = list_privacy_requests(reader, PageRequest(limit=50, cursor=cursor))
        except InvalidCursorError:
            queue = list_privacy_requests(reader, PageRequest(limit=50))
    periods = current_periods(sera, user.merchant_id)
    return render(
        request,
        "dashboard/privacy.html",
        user=user,
        title="Privacy",
        zone=user.session.timezone,
        queue=queue,
        now=now,
        classes=DATA_CLASSES,
        periods=periods,
        entered=entered or {c.name: str(periods[c.name]) for c in DATA_CLASSES},
        errors=errors or {},
        notice=notice,
        problem=problem,
        status_code=status_code,
    )


@router.get("/privacy")
def privacy(
    request: Request,
    sera: SeraDep,
    user: PrivacyReader,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _privacy_page(request, sera, user, cursor=cursor, notice=DONE.get(done or ""))


@router.post("/privacy/requests/{request_id}/complete")
def complete(
    request: Request,
    sera: SeraDep,
    user: PrivacyCompleter,
    request_id: IdPath,
    name: Field = "",
    phone: Field = "",
    email: Field = "",
) -> Response:
    """One click, through the service the API and the CLI use; a correction takes the new details."""
    given = {k: v.strip() for k, v in (("name", name), ("phone", phone), ("email", email)) if v.strip()}
    try:
        correction = Correction(**CorrectionIn.model_validate(given).model_dump()) if given else None
    except ValidationError:
        problem = "The corrected details are not valid: a name up to 200 characters, a phone such as +13125550142."
        return _privacy_page(request, sera, user, problem=problem, status_code=400)
    try:
        complete_privacy_request(sera, user.merchant_id, request_id, actor=user.actor, correction=correction)
    except PrivacyRequestNotFoundError:
        raise PageNotFoundError from None
    except PrivacyRequestError as exc:
        return _privacy_page(request, sera, user, problem=f"Not completed: {exc}.", status_code=409)
    return RedirectResponse(f"{PREFIX}/privacy?done=completed", status_code=303)


@router.get("/privacy/requests/{request_id}/export")
def request_export(
    sera: SeraDep,
    user: Exporter,
    request_id: IdPath,
) -> Response:
    with sera.uow(user.merchant_id) as uow:
        try:
            body = export_result(uow, request_id, actor=user.actor)
        except PrivacyRequestNotFoundError:
            raise PageNotFoundError from None
        except PrivacyRequestError:
            raise PageNotFoundError from None
        uow.commit()
    headers = {"Content-Disposition": f'attachment; filename="{request_id}.json"', "Cache-Control": "no-store"}
    return Response(body, media_type="application/json", headers=headers)


def _typed(recordings_transcripts: str, call_logs: str, abandoned_checkouts: str, audit_logs: str) -> dict[str, str]:
    return {
        "recordings_transcripts": recordings_transcripts,
        "call_logs": call_logs,
        "abandoned_checkouts": abandoned_checkouts,
        "audit_logs": audit_logs,
    }


def _periods(
    request: Request, sera: Sera, user: DashboardUser, recordings: str, call_logs: str, checkouts: str, audit: str
) -> dict[str, int] | Response:
    """The periods as entered, checked as the shop file's are; or the page again with the errors."""
    entered = _typed(recordings, call_logs, checkouts, audit)
    try:
        return validate_periods(entered)
    except RetentionError as exc:
        return _privacy_page(request, sera, user, entered=entered, errors=exc.errors, status_code=400)


@router.post("/privacy/retention/preview")
def retention_preview(
    request: Request,
    sera: SeraDep,
    user: RetentionWriter,
    recordings_transcripts: Days = "",
    call_logs: Days = "",
    abandoned_checkouts: Days = "",
    audit_logs: Days = "",
) -> Response:
    """The effect of new periods, before anything is saved."""
    days = _periods(request, sera, user, recordings_transcripts, call_logs, abandoned_checkouts, audit_logs)
    if isinstance(days, Response):
        return days
    effects = preview_periods(sera, user.merchant_id, days, sera.clock())
    saved = current_periods(sera, user.merchant_id)
    return render(
        request,
        "dashboard/privacy_retention.html",
        user=user,
        title="Retention periods: before you save",
        zone=user.session.timezone,
        effects=effects,
        saved=saved,
        days=days,
    )


@router.post("/privacy/retention")
def retention_save(
    request: Request,
    sera: SeraDep,
    user: RetentionWriter,
    recordings_transcripts: Days = "",
    call_logs: Days = "",
    abandoned_checkouts: Days = "",
    audit_logs: Days = "",
) -> Response:
    days = _periods(request, sera, user, recordings_transcripts, call_logs, abandoned_checkouts, audit_logs)
    if isinstance(days, Response):
        return days
    set_periods(sera, user.merchant_id, days, actor=user.actor)
    return RedirectResponse(f"{PREFIX}/privacy?done=retention", status_code=303)


def _day_start(value: str | None, zone: str, *, after: bool = False) -> datetime | None:
    """A day typed in the filter, as the UTC instant its midnight is in the shop (or the next)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    if after:
        day += timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=ZoneInfo(zone))


@router.get("/privacy/audit")
def audit_log(
    request: Request,
    sera: SeraDep,
    user: AuditReader,
    action: Annotated[str, Query(max_length=60)] = "",
    actor: Annotated[str, Query(max_length=80)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    verify: Annotated[str, Query(max_length=3)] = "",
) -> Response:
    zone = user.session.timezone
    wanted = AuditFilter(
        action=action or None,
        actor=actor or None,
        since=_day_start(since, zone),
        until=_day_start(until, zone, after=True),
    )
    with sera.uow(user.merchant_id, readonly=True) as reader:
        page = list_audit_entries(reader, wanted, limit=50, cursor=cursor)
        actions = audit_actions(reader)
        checked = verify_shop_chain(reader) if verify else None
    return render(
        request,
        "dashboard/privacy_audit.html",
        user=user,
        title="Audit log",
        zone=zone,
        partial="dashboard/_privacy_audit_rows.html",
        page=page,
        actions=actions,
        filters={"action": action, "actor": actor, "since": since, "until": until},
        checked=checked,
    )


@router.get("/privacy/delete-shop")
def delete_shop_page(
    request: Request,
    sera: SeraDep,
    user: ShopDeleter,
) -> Response:
    return _delete_page(request, sera, user)


def _delete_page(
    request: Request, sera: SeraDep, user: DashboardUser, *, error: str | None = None, status_code: int = 200
) -> Response:
    return render(
        request,
        "dashboard/privacy_delete.html",
        user=user,
        title="Delete all shop data",
        zone=user.session.timezone,
        confirmed=sessions.recently_reauthenticated(user.session, sera.clock()),
        error=error,
        status_code=status_code,
    )


@router.post("/privacy/delete-shop")
def delete_shop_now(
    request: Request,
    sera: SeraDep,
    user: ShopDeleter,
    domain: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """The same deletion as Shopify's shop/redact; the member's session goes with the shop."""
    if not sessions.recently_reauthenticated(user.session, sera.clock()):
        raise ForbiddenError("enter your password again before deleting the shop")
    if domain.strip().lower() != user.session.shop_domain.lower():
        error = "That is not this shop's domain: nothing was deleted."
        return _delete_page(request, sera, user, error=error, status_code=400)
    name = user.session.shop_name
    delete_shop(sera, user.merchant_id, actor=user.actor)
    page = render(request, "dashboard/privacy_deleted.html", user=None, title="Shop data deleted", shop_name=name)
    page.delete_cookie(
        cookie_name(request, sera), path="/", secure=secure_cookies(request, sera), httponly=True, samesite="lax"
    )
    return page
