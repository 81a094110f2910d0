"""An invoice or credit note as a PDF, with fpdf2.

The PDF is not stored: it is rendered again from the stored document whenever it is asked
for, and the same document always gives the same bytes (the creation date is the issue
time, and fpdf2 derives the file id from the content). So there is one record to keep, and
no copy of the billing details outside the sealed column.

The built-in PDF fonts cover Latin-1 only (no font file to ship or to find on the host):
other characters are written as their closest ASCII form, or "?".
"""

from __future__ import annotations

import unicodedata
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from fpdf import FPDF
from fpdf.enums import XPos, YPos

if TYPE_CHECKING:
    from sera.billing.invoices import InvoiceDetail

TITLES = {"invoice": "Invoice", "credit_note": "Credit note"}


def _latin1(text: str) -> str:
    """What the built-in fonts can draw: Latin-1 as is, anything else folded or replaced."""
    out = []
    for char in text:
        try:
            char.encode("latin-1")
            out.append(char)
        except UnicodeEncodeError:
            folded = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
            out.append(folded or "?")
    return "".join(out)


def money(amount: str | Decimal, currency: str) -> str:
    value = Decimal(amount)
    sign = "-" if value < 0 else ""
    return f"{sign}{currency} {abs(value):,}"


def _day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


class _Document(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4", unit="mm")
        self._footer_text = footer_text
        self.set_auto_page_break(auto=True, margin=20)
        self.set_margins(18, 18, 18)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", size=8)
        self.set_text_color(110)
        self.cell(0, 5, _latin1(self._footer_text), align="L")
        self.cell(0, 5, f"Page {self.page_no()}/{{nb}}", align="R")


def render_pdf(doc: InvoiceDetail) -> bytes:
    """The document as PDF bytes; the same stored document always gives the same bytes."""
    title = TITLES[doc.kind]
    issuer = doc.issuer
    pdf = _Document(f"{issuer.get('name', '')}  {title} {doc.number}")
    pdf.set_title(f"{title} {doc.number}")
    pdf.set_author(_latin1(str(issuer.get("name", ""))))
    pdf.set_creator("Sera")
    pdf.set_producer("Sera (fpdf2)")
    pdf.set_creation_date(doc.issued_at)
    pdf.add_page()
    width = pdf.epw

    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(width / 2, 10, title, new_x=XPos.RIGHT, new_y=YPos.TOP)
    pdf.set_font("Helvetica", "B", 11)
    pdf.multi_cell(width / 2, 5, _latin1(str(issuer.get("name", ""))), align="R", new_x=XPos.LMARGIN)
    pdf.set_font("Helvetica", size=9)
    for text in (issuer.get("address", ""), _labelled("Tax ID", issuer.get("tax_id")), issuer.get("email", "")):
        if text:
            pdf.set_x(pdf.l_margin + width / 2)
            pdf.multi_cell(width / 2, 4.5, _latin1(str(text)), align="R", new_x=XPos.LMARGIN)
    pdf.ln(6)

    facts = [
        ("Number", doc.number),
        ("Issued", _day(doc.issued_at.date())),
        ("Period", f"{_day(doc.period_start)} to {_day(doc.period_end)}"),
        ("Plan", doc.plan_name),
    ]
    if doc.due_on is not None:
        facts.append(("Due", _day(doc.due_on)))
    if doc.credits_number:
        facts.append(("Credits invoice", doc.credits_number))
    if doc.reason:
        facts.append(("Reason", doc.reason))
    top = pdf.get_y()
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(0, 5, "Billed to", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=9)
    billed = doc.billed_to
    for text in (
        billed.get("company"),
        billed.get("address"),
        _labelled("Tax ID", billed.get("tax_id")),
        billed.get("email"),
    ):
        if text:
            pdf.multi_cell(width / 2 - 4, 4.5, _latin1(str(text)), new_x=XPos.LMARGIN)
    left_bottom = pdf.get_y()
    pdf.set_y(top)
    for label, value in facts:
        pdf.set_x(pdf.l_margin + width / 2)
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(28, 5, label)
        pdf.set_font("Helvetica", size=9)
        pdf.multi_cell(width / 2 - 28, 5, _latin1(value), new_x=XPos.LMARGIN)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 8)

    columns = (width * 0.52, width * 0.14, width * 0.16, width * 0.18)
    pdf.set_font("Helvetica", "B", 9)
    pdf.set_fill_color(235)
    for text, col, align in zip(
        ("Description", "Quantity", "Unit price", "Amount"), columns, ("L", "R", "R", "R"), strict=True
    ):
        pdf.cell(col, 7, text, border="B", align=align, fill=True)
    pdf.ln()
    pdf.set_font("Helvetica", size=9)
    for line in doc.lines:
        y = pdf.get_y()
        pdf.multi_cell(columns[0], 5, _latin1(_describe(line)), new_x=XPos.RIGHT, new_y=YPos.TOP)
        after = pdf.get_y()
        pdf.set_xy(pdf.l_margin + columns[0], y)
        pdf.cell(columns[1], 5, str(line["quantity"]), align="R")
        pdf.cell(columns[2], 5, money(line["unit_price"], doc.currency), align="R")
        pdf.cell(columns[3], 5, money(line["amount"], doc.currency), align="R")
        pdf.set_y(max(after, y + 5) + 1.5)

    pdf.ln(2)
    totals = [("Subtotal", doc.subtotal)]
    if doc.tax_rate is not None:
        rate = (Decimal(doc.tax_rate) * 100).normalize()
        totals.append((f"{doc.tax_label or 'Tax'} ({rate:f}%)", doc.tax))
    for label, value in totals:
        pdf.set_x(pdf.l_margin + columns[0] + columns[1])
        pdf.cell(columns[2], 6, _latin1(label), align="R")
        pdf.cell(columns[3], 6, money(value, doc.currency), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "B", 11)
    pdf.set_x(pdf.l_margin + columns[0] + columns[1])
    pdf.cell(columns[2], 8, "Total", border="T", align="R")
    pdf.cell(columns[3], 8, money(doc.total, doc.currency), border="T", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)
    pdf.set_font("Helvetica", size=8)
    pdf.set_text_color(90)
    if doc.tax_rate is None:
        pdf.multi_cell(0, 4, "No tax is charged on this document.", new_x=XPos.LMARGIN)
    pdf.multi_cell(
        0,
        4,
        "Usage is counted per day in the shop's time zone: call minutes per call, rounded up; "
        "SMS segments sent and received.",
        new_x=XPos.LMARGIN,
    )
    return bytes(pdf.output())


def _labelled(label: str, value: object) -> str:
    return f"{label}: {value}" if value else ""


def _describe(line: dict[str, object]) -> str:
    text = str(line["description"])
    detail = line.get("detail")
    return f"{text}\n{detail}" if detail else text
