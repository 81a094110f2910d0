"""The merchant API's billing: the shop's plan and billing details (admin keys), and its
invoices and credit notes (any key may list and read them; the PDF too).

Thin: parse, call ``sera.billing``, map errors. Another shop's invoice is a 404.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from sera import audit
from sera.access.api_keys import Principal
from sera.billing.accounts import BillingError, get_billing, set_billing
from sera.billing.invoices import InvoiceNotFoundError, get_invoice, invoice_pdf, list_invoices
from sera.billing.pricing import PricedPlan, UnknownPlanError
from sera.web.api.deps import AdminDep, PageDep, PrincipalDep, ReaderDep, SeraDep, invalid, read_page
from sera.web.api.responses import content, errors, links
from sera.web.api.v1 import ListOut
from sera.web.fields import ID_PATTERN, Line, Text

router = APIRouter(prefix="/api/v1", tags=["billing"], responses=errors(401))
InvoiceId = Annotated[str, Path(pattern=ID_PATTERN, description="an invoice's or credit note's id")]


class PlanOut(BaseModel):
    key: str
    name: str
    currency: str
    monthly_fee: Decimal
    included_minutes: int
    included_segments: int
    per_minute: Decimal
    per_segment: Decimal
    per_number: Decimal | None
    tax_rate: Decimal | None


class BillingOut(BaseModel):
    plan: PlanOut | None = Field(description="the shop's plan from the deployment's price list; none: no invoices")
    company: str | None
    email: str | None = Field(description="where invoices are emailed (the shop's email when empty)")
    address: str | None
    tax_id: str | None


class BillingIn(BaseModel):
    """Fields left out stay as they are; ``null`` clears one."""

    model_config = ConfigDict(extra="forbid")
    plan: Line | None = Field(default=None, max_length=64, description="a plan key of the price list")
    company: Line | None = Field(default=None, max_length=200)
    email: Line | None = Field(default=None, max_length=254)
    address: Text | None = Field(default=None, max_length=500)
    tax_id: Line | None = Field(default=None, max_length=60)


class InvoiceLineOut(BaseModel):
    code: str = Field(description="fee | minutes | segments | numbers | credit")
    description: str
    detail: str | None = Field(description="usage and what the plan includes, or a credit note's reason")
    quantity: int
    unit_price: Decimal
    amount: Decimal


class InvoiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str = Field(description="invoice | credit_note")
    number: str
    period: str | None = Field(description="YYYY-MM (invoices)")
    period_start: date
    period_end: date
    credits_invoice_id: str | None = Field(description="the invoice a credit note corrects")
    plan: str
    currency: str
    subtotal: Decimal
    tax_rate: Decimal | None
    tax_label: str | None
    tax: Decimal
    total: Decimal = Field(description="negative on a credit note")
    issued_at: datetime
    due_on: date | None
    reason: str | None
    pdf_url: str


class InvoiceDetailOut(InvoiceOut):
    lines: list[InvoiceLineOut]
    issuer: dict[str, Any]
    billed_to: dict[str, str | None] = Field(description="the shop's billing details as they were at issue")


def _plan(plan: PricedPlan | None) -> PlanOut | None:
    if plan is None:
        return None
    return PlanOut(**{name: getattr(plan, name) for name in PlanOut.model_fields})


def _audit(sera: SeraDep, principal: Principal, action: str, target_type: str, target_id: str | None) -> None:
    with sera.uow(principal.merchant_id) as uow:
        audit.record(
            uow.session,
            merchant_id=principal.merchant_id,
            actor=principal.actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
        )
        uow.commit()


def _billing_out(sera: SeraDep, view: Any) -> BillingOut:
    plan = sera.pricing.plans.get(view.plan) if view.plan else None
    return BillingOut(plan=_plan(plan), **view.details())


@router.get("/billing", response_model=BillingOut, responses=errors(403))
def billing(sera: SeraDep, principal: AdminDep, uow: ReaderDep) -> BillingOut:
    """The shop's plan and billing details (an admin key; the read is audited)."""
    view = get_billing(uow)
    _audit(sera, principal, "api.read", "billing_account", None)
    return _billing_out(sera, view)


@router.put("/billing", response_model=BillingOut, responses=errors(400, 403))
def update_billing(sera: SeraDep, principal: AdminDep, body: BillingIn) -> BillingOut:
    """Choose a plan from the price list and set the billing details invoices are made out to."""
    given = {name: getattr(body, name) for name in body.model_fields_set}
    with sera.uow(principal.merchant_id) as uow:
        try:
            view = set_billing(uow, sera.pricing, actor=principal.actor, **given)
        except UnknownPlanError as exc:
            raise invalid(str(exc), "body", "plan") from None
        except BillingError as exc:
            raise invalid(str(exc), "body", "email") from None
        uow.commit()
    return _billing_out(sera, view)


def _out(view: Any, model: type[InvoiceOut] = InvoiceOut, **extra: Any) -> Any:
    data = {name: getattr(view, name) for name in InvoiceOut.model_fields if name != "pdf_url"}
    return model(**data, pdf_url=f"/api/v1/invoices/{view.id}.pdf", **extra)


@router.get(
    "/invoices",
    response_model=ListOut[InvoiceOut],
    responses=links(200, "$response.body#/data/0/id", "get /api/v1/invoices/{invoice_id}"),
)
def invoices(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, page: PageDep) -> ListOut[InvoiceOut]:
    """The shop's invoices and credit notes, newest first (by issue time)."""
    found = read_page(lambda: list_invoices(uow, page))
    return ListOut(data=[_out(v) for v in found.items], next_cursor=found.next_cursor)


# Before "/invoices/{invoice_id}": that one would take "inv_x.pdf" as an id (and refuse it).
@router.get(
    "/invoices/{invoice_id}.pdf",
    response_class=Response,
    responses={**errors(404), **content(200, "application/pdf", "The invoice or credit note as a PDF")},
)
def invoice_as_pdf(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, invoice_id: InvoiceId) -> Response:
    """The document as a PDF, rendered from the stored invoice (the same bytes every time)."""
    try:
        detail, pdf = invoice_pdf(uow, invoice_id)
    except InvoiceNotFoundError:
        raise HTTPException(404, "invoice not found") from None
    _audit(sera, principal, "api.read", "invoice", detail.id)
    headers = {"Content-Disposition": f'attachment; filename="{detail.number}.pdf"'}
    return Response(pdf, media_type="application/pdf", headers=headers)


@router.get("/invoices/{invoice_id}", response_model=InvoiceDetailOut, responses=errors(404))
def invoice(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, invoice_id: InvoiceId) -> InvoiceDetailOut:
    """One invoice or credit note with its lines, the issuer and the billing details at issue."""
    try:
        detail = get_invoice(uow, invoice_id)
    except InvoiceNotFoundError:
        raise HTTPException(404, "invoice not found") from None
    _audit(sera, principal, "api.read", "invoice", detail.id)
    out: InvoiceDetailOut = _out(
        detail,
        InvoiceDetailOut,
        lines=[InvoiceLineOut(**line) for line in detail.lines],
        issuer=detail.issuer,
        billed_to=detail.billed_to,
    )
    return out
