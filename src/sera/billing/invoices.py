"""Monthly invoices and credit notes.

Invariants:
- An issued document is never changed: there is no update path. A correction is a credit
  note, a negative document with its own number that names the invoice it corrects.
- Numbers are sequential per deployment and series (invoices, credit notes), with no gaps
  and no duplicates: the series' counter row is updated (and so locked) in the transaction
  that writes the document, and a rolled-back transaction gives its number back.
- A shop is invoiced at most once per month: (merchant, period) is unique, and issuing is
  idempotent, so a run killed midway and started again issues the rest and none twice.
  Each shop is issued in its own transaction, with its email queued in that same one.
- Amounts are ``Decimal``, rounded half up to the currency's minor units, line by line; tax
  (when the plan has a rate) is computed once, on the subtotal. Stored as exact strings.
- A document carries no end-customer data: usage counts, the plan, the operator and the
  shop's billing details as they were at issue, sealed under the shop's records key (which
  neither customer erasure nor shop deletion destroys). Documents outlive retention,
  erasure and the shop itself: they are the operator's business records.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError

from sera import audit
from sera.billing.pricing import PricedPlan, PriceList, UnknownPlanError, minor_units
from sera.bootstrap import Sera
from sera.crypto.envelope import field_aad
from sera.storage.database import UnitOfWork, conflict_insert
from sera.storage.models import (
    BillingAccount,
    Invoice,
    InvoiceCounter,
    Merchant,
    MerchantPhoneNumber,
    UsageRecord,
    new_id,
)
from sera.storage.paging import Page, PageRequest, keyset, page_of

log = logging.getLogger("sera.billing")

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
MAIL_TEMPLATE = "invoice_issued"
DUE_DAYS = 2  # the job issues a shop's last month on its 1st and 2nd
CHUNK = 200  # shops read per query by a monthly run; each is issued in its own transaction
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

Status = Literal["issued", "already_issued", "no_plan", "nothing_to_bill", "failed"]


class InvoiceNotFoundError(LookupError):
    pass


class CreditError(ValueError):
    """A credit note that cannot be issued as asked (the message says why)."""


# -- months ---------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH.match(text.strip())
        if not match:
            raise ValueError(f"not a month: {text!r} (expected YYYY-MM, like 2026-11)")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def before(cls, day: date) -> Month:
        """The month before the one ``day`` is in."""
        return cls(day.year - 1, 12) if day.month == 1 else cls(day.year, day.month - 1)

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def label(self) -> str:
        return f"{self.first:%B %Y}"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


# -- lines ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    minutes: int = 0
    segments_inbound: int = 0
    segments_outbound: int = 0
    numbers: int = 0

    @property
    def segments(self) -> int:
        return self.segments_inbound + self.segments_outbound


@dataclass(frozen=True)
class Computed:
    lines: list[dict[str, Any]]
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def _round(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def _line(
    code: str, description: str, quantity: int, unit_price: Decimal, currency: str, detail: str | None = None
) -> dict[str, Any]:
    return {
        "code": code,
        "description": description,
        "detail": detail,
        "quantity": quantity,
        "unit_price": str(unit_price),
        "amount": str(_round(quantity * unit_price, currency)),
    }


def compute_lines(plan: PricedPlan, usage: Usage, month: Month) -> Computed:
    """The invoice's lines, subtotal, tax and total for one month of usage (no I/O)."""
    currency = plan.currency
    lines = [_line("fee", f"{plan.name} plan, {month.label}", 1, plan.monthly_fee, currency)]
    over_minutes = max(0, usage.minutes - plan.included_minutes)
    lines.append(
        _line(
            "minutes",
            "Call minutes beyond those included",
            over_minutes,
            plan.per_minute,
            currency,
            f"{usage.minutes:,} used, {plan.included_minutes:,} included",
        )
    )
    over_segments = max(0, usage.segments - plan.included_segments)
    lines.append(
        _line(
            "segments",
            "SMS segments beyond those included",
            over_segments,
            plan.per_segment,
            currency,
            f"{usage.segments:,} used ({usage.segments_outbound:,} sent, {usage.segments_inbound:,} received), "
            f"{plan.included_segments:,} included",
        )
    )
    if plan.per_number is not None:
        lines.append(_line("numbers", "Phone numbers, a month each", usage.numbers, plan.per_number, currency))
    subtotal = sum((Decimal(line["amount"]) for line in lines), Decimal(0))
    tax = _round(subtotal * plan.tax_rate, currency) if plan.tax_rate is not None else _round(Decimal(0), currency)
    return Computed(lines, _round(subtotal, currency), tax, _round(subtotal + tax, currency))


def month_usage(uow: UnitOfWork, merchant_id: str, month: Month) -> Usage:
    """The month's counters (days in the shop's zone, as recorded) and the shop's numbers now."""
    totals = dict(
        uow.session.execute(
            select(UsageRecord.metric, func.sum(UsageRecord.quantity))
            .where(
                UsageRecord.merchant_id == merchant_id,
                UsageRecord.day >= month.first,
                UsageRecord.day <= month.last,
            )
            .group_by(UsageRecord.metric)
        ).all()
    )
    numbers = uow.session.execute(
        select(func.count()).select_from(MerchantPhoneNumber).where(MerchantPhoneNumber.merchant_id == merchant_id)
    ).scalar_one()
    return Usage(
        minutes=int(totals.get("billed_minutes") or 0),
        segments_inbound=int(totals.get("sms_segments_inbound") or 0),
        segments_outbound=int(totals.get("sms_segments_outbound") or 0),
        numbers=int(numbers),
    )


# -- views ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceView:
    id: str
    merchant_id: str
    kind: str
    number: str
    period: str | None
    period_start: date
    period_end: date
    credits_invoice_id: str | None
    plan: str
    currency: str
    subtotal: str
    tax_rate: str | None
    tax_label: str | None
    tax: str
    total: str
    issued_at: datetime
    due_on: date | None
    reason: str | None


@dataclass(frozen=True)
class InvoiceDetail(InvoiceView):
    lines: list[dict[str, Any]] = field(default_factory=list)
    issuer: dict[str, Any] = field(default_factory=dict)
    billed_to: dict[str, str | None] = field(default_factory=dict)
    plan_name: str = ""
    credits_number: str | None = None


def _view(row: Invoice) -> InvoiceView:
    return InvoiceView(
        id=row.id,
        merchant_id=row.merchant_id,
        kind=row.kind,
        number=row.number,
        period=row.period,
        period_start=row.period_start,
        period_end=row.period_end,
        credits_invoice_id=row.credits_invoice_id,
        plan=row.plan,
        currency=row.currency,
        subtotal=row.subtotal,
        tax_rate=row.tax_rate,
        tax_label=row.tax_label,
        tax=row.tax,
        total=row.total,
        issued_at=row.issued_at,
        due_on=row.due_on,
        reason=row.reason,
    )


def _seal_billed_to(uow: UnitOfWork, row: Invoice, billed_to: dict[str, str | None]) -> None:
    key = _records_key(uow, row.merchant_id)
    text = json.dumps(billed_to, sort_keys=True)
    row.billed_to = uow.vault.cipher.seal(key, text, field_aad(Invoice.__tablename__, "billed_to", row.id))


def _open_billed_to(uow: UnitOfWork, row: Invoice) -> dict[str, str | None]:
    key = _records_key(uow, row.merchant_id)
    text = uow.vault.cipher.open(key, row.billed_to, field_aad(Invoice.__tablename__, "billed_to", row.id))
    opened: dict[str, str | None] = json.loads(text)
    return opened


def _records_key(uow: UnitOfWork, merchant_id: str) -> bytes:
    keystore = uow.vault.keystore
    try:
        return keystore.records_key(merchant_id)
    except IntegrityError:  # another process made it a moment ago
        return keystore.records_key(merchant_id)


def _detail(uow: UnitOfWork, row: Invoice) -> InvoiceDetail:
    credits_number = None
    if row.credits_invoice_id is not None:
        credits_number = uow.session.execute(
            select(Invoice.number).where(Invoice.id == row.credits_invoice_id)
        ).scalar_one_or_none()
    plan_name = str(row.issuer.get("plan_name") or row.plan)
    return InvoiceDetail(
        **_view(row).__dict__,
        lines=list(row.lines),
        issuer={k: v for k, v in row.issuer.items() if k != "plan_name"},
        billed_to=_open_billed_to(uow, row),
        plan_name=plan_name,
        credits_number=credits_number,
    )


def _own(uow: UnitOfWork, stmt: Select[Invoice]) -> Select[Invoice]:
    """Invoices are not merchant-owned rows (they outlive the shop): scope them here."""
    if uow.merchant_id is not None:
        stmt = stmt.where(Invoice.merchant_id == uow.merchant_id)
    return stmt


def list_invoices(uow: UnitOfWork, request: PageRequest) -> Page[InvoiceView]:
    """The shop's invoices and credit notes, newest first."""
    stmt = keyset(_own(uow, select(Invoice)), Invoice.issued_at, Invoice.id, request)
    found = uow.session.execute(stmt).scalars().all()
    items, cursor = page_of([_view(r) for r in found], request, lambda v: (v.issued_at, v.id))
    return Page(items, cursor)


def _find(uow: UnitOfWork, ref: str) -> Invoice:
    """By id or by number; another shop's document is not found."""
    row = uow.session.execute(
        _own(uow, select(Invoice).where((Invoice.id == ref) | (Invoice.number == ref)))
    ).scalar_one_or_none()
    if row is None:
        raise InvoiceNotFoundError(ref)
    return row


def get_invoice(uow: UnitOfWork, ref: str) -> InvoiceDetail:
    return _detail(uow, _find(uow, ref))


def invoice_pdf(uow: UnitOfWork, ref: str) -> tuple[InvoiceDetail, bytes]:
    from sera.billing.pdf import render_pdf

    detail = get_invoice(uow, ref)
    return detail, render_pdf(detail)


# -- issuing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueOutcome:
    merchant_id: str
    month: str
    status: Status
    invoice: InvoiceView | None = None
    message: str | None = None
    emailed: bool = False


def _take_number(uow: UnitOfWork, series: str, prefix: str) -> str:
    """The next number of a series: the counter row is updated (so locked until commit) in the
    caller's transaction, which gives it back if it rolls back."""
    connection = uow.session.connection()
    connection.execute(
        conflict_insert(connection)(InvoiceCounter)
        .values(series=series, last=0)
        .on_conflict_do_nothing(index_elements=["series"])
    )
    last = uow.session.execute(
        update(InvoiceCounter)
        .where(InvoiceCounter.series == series)
        .values(last=InvoiceCounter.last + 1)
        .returning(InvoiceCounter.last)
    ).scalar_one()
    return f"{prefix}{last:06d}"


def _issuer(prices: PriceList, plan_name: str) -> dict[str, Any]:
    issuer = prices.issuer.model_dump() if prices.issuer is not None else {"name": "Sera"}
    return {**issuer, "plan_name": plan_name}


def _shop_zone(merchant: Merchant) -> ZoneInfo:
    try:
        return ZoneInfo(merchant.timezone)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def issue_invoice(sera: Sera, merchant_id: str, month: Month, *, actor: str) -> IssueOutcome:
    """Issue one shop's invoice for one month, once: in one transaction, the number, the row,
    the audit entry and the email with the PDF. A second call finds it and issues nothing."""
    from sera.billing.accounts import get_billing
    from sera.mail.service import MailError

    period = str(month)
    with sera.uow(merchant_id) as uow:
        merchant = uow.session.get(Merchant, merchant_id)
        if merchant is None:
            return IssueOutcome(merchant_id, period, "failed", message="no such shop")
        account = uow.session.execute(select(BillingAccount)).scalar_one_or_none()
        if account is None or account.plan is None:
            return IssueOutcome(merchant_id, period, "no_plan")
        existing = uow.session.execute(
            select(Invoice).where(Invoice.merchant_id == merchant_id, Invoice.period == period)
        ).scalar_one_or_none()
        if existing is not None:
            return IssueOutcome(merchant_id, period, "already_issued", _view(existing))
        try:
            plan = sera.pricing.plan(account.plan)
        except UnknownPlanError as exc:
            return IssueOutcome(merchant_id, period, "failed", message=str(exc))
        computed = compute_lines(plan, month_usage(uow, merchant_id, month), month)
        if plan.is_free and computed.total == 0:
            return IssueOutcome(merchant_id, period, "nothing_to_bill", message="free plan, nothing beyond it")
        number = _take_number(uow, INVOICE, sera.pricing.invoice_prefix)
        # Another issuer may have written this month while this one waited for the counter.
        if uow.session.execute(
            select(Invoice.id).where(Invoice.merchant_id == merchant_id, Invoice.period == period)
        ).first():
            return IssueOutcome(merchant_id, period, "already_issued")
        now = uow.now()
        billing = get_billing(uow)
        issued_on = now.astimezone(_shop_zone(merchant)).date()
        row = Invoice(
            id=new_id("inv"),
            merchant_id=merchant_id,
            kind=INVOICE,
            number=number,
            period=period,
            period_start=month.first,
            period_end=month.last,
            plan=plan.key,
            currency=plan.currency,
            lines=computed.lines,
            subtotal=str(computed.subtotal),
            tax_rate=None if plan.tax_rate is None else str(plan.tax_rate),
            tax_label=None if plan.tax_rate is None else plan.tax_label,
            tax=str(computed.tax),
            total=str(computed.total),
            issuer=_issuer(sera.pricing, plan.name),
            issued_at=now,
            due_on=issued_on + timedelta(days=sera.pricing.payment_terms_days),
        )
        billed_to = {**billing.details(), "shop": merchant.name, "domain": merchant.domain}
        _seal_billed_to(uow, row, billed_to)
        uow.session.add(row)
        uow.flush()
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor=actor,
            action="invoice.issued",
            target_type="invoice",
            target_id=row.id,
            details={"number": number, "period": period, "total": row.total, "currency": row.currency},
        )
        try:
            mail_id = _queue_document_mail(uow, row, billing.email or merchant.email)
        except MailError as exc:  # a bad billing address must not stop the invoice
            log.warning("invoice not emailed", extra={"merchant": merchant_id, "invoice": row.id, "error": str(exc)})
            mail_id = None
        row.mail_id = mail_id
        uow.commit()
    return IssueOutcome(merchant_id, period, "issued", _view(row), emailed=mail_id is not None)


def _queue_document_mail(uow: UnitOfWork, row: Invoice, address: str | None) -> str | None:
    """The document to the shop's billing contact, the PDF attached (key ``invoice:<id>``)."""
    from sera.billing.pdf import TITLES, money, render_pdf
    from sera.mail.service import Attachment, queue_mail

    if not address:
        log.warning("invoice not emailed: the shop has no billing email", extra={"invoice": row.id})
        return None
    detail = _detail(uow, row)
    pdf = render_pdf(detail)
    context = {
        "document": TITLES[row.kind],
        "kind": row.kind,
        "number": row.number,
        "shop_name": detail.billed_to.get("shop") or "",
        "company": detail.billed_to.get("company") or detail.billed_to.get("shop") or "",
        "period": Month(row.period_start.year, row.period_start.month).label,
        "total": money(row.total, row.currency),
        "due_on": f"{row.due_on:%d %B %Y}" if row.due_on else None,
        "issuer": detail.issuer.get("name") or "Sera",
        "credits_number": detail.credits_number,
        "reason": row.reason,
    }
    return queue_mail(
        uow,
        key=f"invoice:{row.id}",
        to=[address],
        template=MAIL_TEMPLATE,
        context=context,
        attachments=[Attachment(filename=f"{row.number}.pdf", content_type="application/pdf", data=pdf)],
        now=uow.now(),
    )


@dataclass
class MonthRun:
    month: str
    outcomes: list[IssueOutcome] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def issued(self) -> list[IssueOutcome]:
        return [o for o in self.outcomes if o.status == "issued"]


def shops_with_plans(sera: Sera, after: str = "", limit: int = CHUNK) -> list[str]:
    with sera.uow(readonly=True) as uow:
        return list(
            uow.session.execute(
                select(BillingAccount.merchant_id)
                .where(BillingAccount.plan.is_not(None), BillingAccount.merchant_id > after)
                .order_by(BillingAccount.merchant_id)
                .limit(limit)
            ).scalars()
        )


def issue_month(
    sera: Sera,
    month: Month,
    *,
    actor: str,
    merchant_ids: Iterable[str] | None = None,
    on_outcome: Callable[[IssueOutcome], None] | None = None,
) -> MonthRun:
    """Issue ``month``'s invoices of every shop with a plan (or of ``merchant_ids``), in bounded
    chunks, each shop in its own transaction. A shop that fails is reported and the run goes
    on; running again issues what is missing and nothing twice."""
    run = MonthRun(str(month))

    def one(merchant_id: str) -> None:
        try:
            outcome = issue_invoice(sera, merchant_id, month, actor=actor)
        except Exception as exc:  # one shop's failure must not stop the others' invoices
            log.exception("invoice failed", extra={"merchant": merchant_id, "period": str(month)})
            outcome = IssueOutcome(merchant_id, str(month), "failed", message=type(exc).__name__)
        run.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    if merchant_ids is not None:
        for merchant_id in merchant_ids:
            one(merchant_id)
        return run
    after = ""
    while chunk := shops_with_plans(sera, after):
        for merchant_id in chunk:
            one(merchant_id)
        after = chunk[-1]
    return run


def issue_due(sera: Sera, now: datetime) -> int:
    """The monthly job: on the 1st or 2nd of its own month (its time zone), each shop with a
    plan gets the invoice of the month before, if it has none. The job runs hourly on the 1st
    and 2nd (UTC), which covers every zone's 1st; a missed hour is caught up by the next."""
    issued = 0
    after = ""
    while chunk := shops_with_plans(sera, after):
        with sera.uow(readonly=True) as uow:
            zone_names = select(Merchant.id, Merchant.timezone).where(Merchant.id.in_(chunk))
            zones = dict(uow.session.execute(zone_names).all())
            done = set(
                uow.session.execute(
                    select(Invoice.merchant_id, Invoice.period).where(
                        Invoice.merchant_id.in_(chunk), Invoice.period.is_not(None)
                    )
                ).all()
            )
        for merchant_id in chunk:
            try:
                zone = ZoneInfo(zones.get(merchant_id) or "UTC")
            except (ValueError, KeyError):
                zone = ZoneInfo("UTC")
            today = now.astimezone(zone).date()
            if today.day > DUE_DAYS:  # its month is not over yet, or long invoiced (the CLI catches up)
                continue
            month = Month.before(today)
            if (merchant_id, str(month)) in done:
                continue
            outcome = issue_month(sera, month, actor="system", merchant_ids=[merchant_id]).outcomes[0]
            issued += outcome.status == "issued"
        after = chunk[-1]
    if issued:
        log.info("invoices issued", extra={"count": issued})
    return issued


# -- credit notes ---------------------------------------------------------------------------------


def credit_invoice(
    sera: Sera,
    ref: str,
    *,
    reason: str,
    actor: str,
    amount: Decimal | None = None,
    merchant_id: str | None = None,
) -> InvoiceDetail:
    """A credit note against an invoice: all of what is left to credit (``amount`` None), or
    ``amount`` (tax included). Never more than the invoice's total less earlier credit notes."""
    from sera.mail.service import MailError

    reason = " ".join(reason.split())
    if not reason:
        raise CreditError("a credit note needs a reason")
    if len(reason) > 500:
        raise CreditError("the reason is longer than 500 characters")
    with sera.uow(merchant_id, readonly=True) as reader:
        invoice = _find(reader, ref)
    owner = invoice.merchant_id
    with sera.uow(owner) as uow:
        if invoice.kind != INVOICE:
            raise CreditError(f"{invoice.number} is a credit note; credit the invoice it corrects")
        number = _take_number(uow, CREDIT_NOTE, sera.pricing.credit_note_prefix)  # serialises credits too
        credited = sum(
            (
                Decimal(t)
                for t in uow.session.execute(
                    select(Invoice.total).where(Invoice.credits_invoice_id == invoice.id)
                ).scalars()
            ),
            Decimal(0),
        )
        currency = invoice.currency
        left = Decimal(invoice.total) + credited  # credit notes are negative
        if left <= 0:
            raise CreditError(f"{invoice.number} is already fully credited")
        if amount is not None:
            amount = _round(Decimal(amount), currency)
            if amount <= 0:
                raise CreditError("the amount to credit must be more than zero")
            if amount > left:
                raise CreditError(f"{invoice.number} has {left} {currency} left to credit, less than {amount}")
        rate = Decimal(invoice.tax_rate) if invoice.tax_rate is not None else None
        if amount is None and credited == 0:
            lines = [_negated(line) for line in invoice.lines]
            subtotal, tax, total = -Decimal(invoice.subtotal), -Decimal(invoice.tax), -Decimal(invoice.total)
        else:
            gross = amount if amount is not None else left
            net = _round(gross / (1 + rate), currency) if rate is not None else gross
            lines = [_line("credit", f"Credit against {invoice.number}", 1, -net, currency, reason)]
            subtotal, tax, total = -net, -(gross - net), -gross
        now = uow.now()
        row = Invoice(
            id=new_id("inv"),
            merchant_id=owner,
            kind=CREDIT_NOTE,
            number=number,
            period=None,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            credits_invoice_id=invoice.id,
            plan=invoice.plan,
            currency=currency,
            lines=lines,
            subtotal=str(subtotal),
            tax_rate=invoice.tax_rate,
            tax_label=invoice.tax_label,
            tax=str(tax),
            total=str(total),
            issuer=dict(invoice.issuer),
            reason=reason,
            issued_at=now,
            due_on=None,
        )
        billed_to = _open_billed_to(uow, invoice)
        _seal_billed_to(uow, row, billed_to)
        uow.session.add(row)
        uow.flush()
        audit.record(
            uow.session,
            merchant_id=owner,
            actor=actor,
            action="credit_note.issued",
            target_type="invoice",
            target_id=row.id,
            details={"number": number, "credits": invoice.number, "total": row.total, "currency": currency},
        )
        shop_exists = uow.session.get(Merchant, owner) is not None
        if shop_exists:  # a deleted shop's credit note is kept, not mailed
            try:
                row.mail_id = _queue_document_mail(uow, row, billed_to.get("email"))
            except MailError as exc:
                log.warning("credit note not emailed", extra={"invoice": row.id, "error": str(exc)})
        uow.commit()
        return _detail(uow, row)


def _negated(line: dict[str, Any]) -> dict[str, Any]:
    return {**line, "amount": str(-Decimal(line["amount"])), "description": f"{line['description']} (credited)"}
