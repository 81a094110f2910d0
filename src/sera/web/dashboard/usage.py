"""Usage per day and per month (from the usage records invoices are made from), and the shop's
invoices and credit notes with their PDFs (the same bytes the API serves)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from sera import audit
from sera.billing.invoices import InvoiceNotFoundError, Month, invoice_pdf, list_invoices, month_usage
from sera.billing.usage import usage_by_month, usage_report
from sera.storage.paging import InvalidCursorError, PageRequest
from sera.web.api.deps import SeraDep
from sera.web.dashboard.access import DashboardUser, PageNotFoundError, requires
from sera.web.dashboard.render import render

router = APIRouter()
AnalyticsReader = Annotated[DashboardUser, Depends(requires("analytics.read"))]
BillingReader = Annotated[DashboardUser, Depends(requires("billing.read"))]
PER_PAGE = 50
MONTHS_SHOWN = 12


def _months_back(month: Month, count: int) -> Month:
    index = month.year * 12 + month.month - 1 - count
    return Month(index // 12, index % 12 + 1)


@router.get("/usage")
def usage(
    request: Request,
    sera: SeraDep,
    user: AnalyticsReader,
    month: Annotated[str | None, Query(max_length=7, pattern=r"^\d{4}-\d{2}$")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        today = reader.now().astimezone(ZoneInfo(user.session.timezone)).date()
        this_month = Month(today.year, today.month)
        try:
            shown = Month.parse(month) if month else this_month
        except ValueError:
            raise PageNotFoundError(month) from None
        days = usage_report(reader, shown.first, date.fromordinal(shown.last.toordinal() + 1))
        oldest = _months_back(this_month, MONTHS_SHOWN - 1)
        months = usage_by_month(reader, oldest.first, date.fromordinal(this_month.last.toordinal() + 1))
        current = month_usage(reader, user.merchant_id, this_month)
        invoices = None
        if user.can("billing.read"):
            try:
                invoices = list_invoices(reader, PageRequest(limit=PER_PAGE, cursor=cursor))
            except InvalidCursorError:
                raise PageNotFoundError(cursor) from None
    return render(
        request,
        "dashboard/usage.html",
        user=user,
        title="Usage and invoices",
        zone=user.session.timezone,
        shown=shown,
        previous=_months_back(shown, 1),
        following=_months_back(shown, -1) if shown < this_month else None,
        days=days,
        months=months,
        this_month_usage=current,
        this_month=this_month,
        invoices=invoices,
    )


@router.get("/usage/invoices/{invoice_id}.pdf")
def invoice_as_pdf(
    sera: SeraDep,
    user: BillingReader,
    invoice_id: Annotated[str, Path(max_length=40)],
) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        try:
            detail, pdf = invoice_pdf(reader, invoice_id)
        except InvoiceNotFoundError:
            raise PageNotFoundError(invoice_id) from None
    with sera.uow(user.merchant_id) as uow:
        audit.record(
            uow.session,
            merchant_id=user.merchant_id,
            actor=user.actor,
            action="invoice_downloaded",
            target_type="invoice",
            target_id=detail.id,
        )
        uow.commit()
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{detail.number}.pdf"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
