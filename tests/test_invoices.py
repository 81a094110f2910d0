"""Invoices: the deployment's price list, each shop's billing details and plan, monthly invoices
from usage (Decimal, numbered with no gaps, once per shop and month), their PDF and email,
credit notes, the API, the commands, and what they keep after erasure and shop deletion.

Northside Cycles (the owner's and the teammate's shop) is on the Starter plan; Southside
Skates, the outsider's shop, never sees Northside's invoices.
"""

from __future__ import annotations

import io
import mailbox
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select

from sera import cli
from sera.billing.accounts import BillingError, get_billing, set_billing
from sera.billing.invoices import (
    CreditError,
    InvoiceNotFoundError,
    Month,
    Usage,
    compute_lines,
    credit_invoice,
    get_invoice,
    invoice_pdf,
    issue_due,
    issue_invoice,
    issue_month,
)
from sera.billing.pricing import PricingError, UnknownPlanError, load_pricing, parse_pricing
from sera.billing.usage import record_usage
from sera.bootstrap import Sera, bootstrap
from sera.config import ConfigError, new_key_text
from sera.mail.service import send_pending
from sera.privacy.erasure import delete_shop, redact_customer
from sera.privacy.retention import run_retention
from sera.storage.models import AuditEntry, Invoice, InvoiceCounter, Merchant, MerchantPhoneNumber, new_id
from sera.web.app import create_app
from tests.conftest import FakeClock, Personas

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "pricing.example.yaml"
NOVEMBER = Month(2026, 11)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def priced(sera: Sera) -> Sera:
    sera.pricing = load_pricing(EXAMPLE)
    return sera


def _set(sera: Sera, merchant_id: str, **values: str | None) -> None:
    with sera.uow(merchant_id) as uow:
        set_billing(uow, sera.pricing, actor="test", **values)
        uow.commit()


def _on_starter(sera: Sera, merchant_id: str, email: str = "accounts@northside.example") -> None:
    _set(
        sera,
        merchant_id,
        plan="starter",
        company="Northside Cycles LLC",
        email=email,
        address="1 Bike Lane, Chicago, IL",
        tax_id="US-99-1234567",
    )


def _use(sera: Sera, merchant_id: str, day: date, metric: str, quantity: int) -> None:
    with sera.uow(merchant_id) as uow:
        record_usage(uow, day, metric, quantity)
        uow.commit()


def _a_month_of_usage(sera: Sera, merchant_id: str) -> None:
    """260 minutes (200 included) and 540 SMS segments (500 included) in November; a call
    on 1 December belongs to the next invoice."""
    _use(sera, merchant_id, date(2026, 11, 3), "billed_minutes", 200)
    _use(sera, merchant_id, date(2026, 11, 30), "billed_minutes", 60)
    _use(sera, merchant_id, date(2026, 11, 12), "sms_segments_outbound", 400)
    _use(sera, merchant_id, date(2026, 11, 12), "sms_segments_inbound", 140)
    _use(sera, merchant_id, date(2026, 12, 1), "billed_minutes", 999)
    _use(sera, merchant_id, date(2026, 10, 31), "billed_minutes", 999)


def _extra_shops(sera: Sera, count: int) -> list[str]:
    ids = []
    for i in range(count):
        merchant_id = new_id("mer")
        sera.keystore.create_merchant_key(merchant_id)
        with sera.uow(merchant_id) as uow:
            uow.session.add(
                Merchant(id=merchant_id, domain=f"shop-{i}.myshopify.com", name=f"Shop {i}", timezone="UTC")
            )
            uow.commit()
        _set(sera, merchant_id, plan="starter", company=f"Shop {i} Ltd", email=f"billing{i}@shop.example")
        ids.append(merchant_id)
    return ids


def _documents(sera: Sera) -> list[Invoice]:
    with sera.uow(readonly=True) as uow:
        return list(uow.session.execute(select(Invoice).order_by(Invoice.number)).scalars())


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


# -- the price list -------------------------------------------------------------------------------


def test_the_example_price_list_loads_with_exact_decimals() -> None:
    prices = load_pricing(EXAMPLE)
    starter = prices.plan("starter")
    assert starter.per_segment == Decimal("0.012")
    assert starter.per_number == Decimal("1.50")
    assert prices.plan("europe").currency == "EUR"
    assert prices.plan("europe").tax_rate == Decimal("0.21")
    assert prices.plan("free").is_free
    with pytest.raises(UnknownPlanError, match="starter"):
        prices.plan("platinum")


def test_prices_written_as_numbers_are_exact_decimals() -> None:
    prices = parse_pricing("issuer: {name: Op}\nplans:\n  p:\n    monthly_fee: 0.1\n    per_minute: 3\n")
    assert prices.plan("p").monthly_fee == Decimal("0.1")
    assert prices.plan("p").per_minute == Decimal(3)


def _line_of(text: str, words: str) -> int:
    return text[: text.index(words)].count("\n") + 1


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("currency: EUR", "currency: EUX"), "plans.europe.currency: 'EUX' is not an ISO 4217"),
        (('per_minute: "0.07"', 'per_minute: "-0.07"'), "plans.growth.per_minute: must not be negative (got -0.07)"),
        (('monthly_fee: "29.00"', 'monthly_fee: "twenty"'), "plans.starter.monthly_fee: 'twenty' is not a number"),
        (("currency: USD ", "currency: usdollars "), "currency: 'usdollars' is not an ISO 4217"),
    ],
)
def test_a_bad_pricing_file_is_refused_naming_the_line(change: tuple[str, str], words: str) -> None:
    text = EXAMPLE.read_text()
    with pytest.raises(PricingError) as refused:
        parse_pricing(text.replace(change[0], change[1], 1), "pricing.yaml")
    assert f"pricing.yaml line {_line_of(text, change[0])}: {words}" in str(refused.value)


def test_a_pricing_file_that_is_not_yaml_names_the_line() -> None:
    with pytest.raises(PricingError, match=r"p.yaml line 3: not valid YAML"):
        parse_pricing("issuer: {name: Op}\nplans:\n\tp: 1\n", "p.yaml")


def test_sera_does_not_start_with_a_bad_pricing_file(
    sera: Sera, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "pricing.yaml"
    bad.write_text(EXAMPLE.read_text().replace("currency: EUR", "currency: XXX"))
    line = _line_of(EXAMPLE.read_text(), "currency: EUR")
    with pytest.raises(ConfigError, match=rf"line {line}: plans.europe.currency"):
        bootstrap(sera.settings.model_copy(update={"pricing_file": bad}))
    # and `sera serve` stops with the message, before it listens
    monkeypatch.setenv("SERA_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("SERA_ENV", "test")
    monkeypatch.setenv("SERA_MASTER_KEY", new_key_text())
    monkeypatch.setenv("SERA_DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
    monkeypatch.setenv("SERA_KEYSTORE_URL", f"sqlite:///{tmp_path / 'serve-keys.db'}")
    monkeypatch.setenv("SERA_PRICING_FILE", str(bad))
    result = CliRunner().invoke(cli.main, ["serve"])
    assert result.exit_code == 1
    assert f"{bad} line {line}: plans.europe.currency: 'XXX' is not an ISO 4217" in result.output
    monkeypatch.setenv("SERA_PRICING_FILE", str(tmp_path / "missing.yaml"))
    result = CliRunner().invoke(cli.main, ["serve"])
    assert result.exit_code == 1
    assert "cannot be read" in result.output


# -- lines ----------------------------------------------------------------------------------------


def test_lines_bill_usage_beyond_what_the_plan_includes() -> None:
    starter = load_pricing(EXAMPLE).plan("starter")
    computed = compute_lines(
        starter, Usage(minutes=260, segments_inbound=140, segments_outbound=400, numbers=2), NOVEMBER
    )
    by_code = {line["code"]: line for line in computed.lines}
    assert by_code["fee"]["amount"] == "29.00"
    assert (by_code["minutes"]["quantity"], by_code["minutes"]["amount"]) == (60, "5.40")
    assert by_code["minutes"]["detail"] == "260 used, 200 included"
    assert (by_code["segments"]["quantity"], by_code["segments"]["amount"]) == (40, "0.48")
    assert (by_code["numbers"]["quantity"], by_code["numbers"]["amount"]) == (2, "3.00")
    assert computed.total == Decimal("37.88")
    assert computed.tax == Decimal("0.00")


def test_tax_is_computed_once_on_the_subtotal_and_rounded_half_up() -> None:
    europe = load_pricing(EXAMPLE).plan("europe")
    computed = compute_lines(europe, Usage(minutes=205), NOVEMBER)  # 5 x 0.08 = 0.40
    assert computed.subtotal == Decimal("29.40")
    assert computed.tax == Decimal("6.17")  # 6.174
    assert computed.total == Decimal("35.57")


def test_usage_within_the_plan_still_shows_on_the_invoice() -> None:
    computed = compute_lines(load_pricing(EXAMPLE).plan("starter"), Usage(minutes=12), NOVEMBER)
    minutes = next(line for line in computed.lines if line["code"] == "minutes")
    assert (minutes["quantity"], minutes["amount"], minutes["detail"]) == (0, "0.00", "12 used, 200 included")
    assert computed.total == Decimal("29.00")


# -- billing details ------------------------------------------------------------------------------


def test_billing_details_are_sealed_and_changes_audited(priced: Sera, personas: Personas) -> None:
    _on_starter(priced, personas.northside_id)
    with priced.uow(personas.northside_id, readonly=True) as uow:
        assert get_billing(uow).company == "Northside Cycles LLC"
        actions = uow.session.execute(select(AuditEntry.action, AuditEntry.details)).all()
    assert ("billing.updated", {"changed": ["address", "company", "email", "plan", "tax_id"], "plan": "starter"}) in [
        tuple(a) for a in actions
    ]
    raw = priced.db.engine.raw_connection()
    try:
        dump = b"".join(bytes(row[0]) for row in raw.execute("SELECT company FROM billing_accounts").fetchall())
    finally:
        raw.close()
    assert b"Northside" not in dump


def test_billing_refuses_an_unknown_plan_and_a_bad_email(priced: Sera, personas: Personas) -> None:
    with priced.uow(personas.northside_id) as uow:
        with pytest.raises(UnknownPlanError, match="platinum"):
            set_billing(uow, priced.pricing, actor="test", plan="platinum")
        with pytest.raises(BillingError, match="not an email address"):
            set_billing(uow, priced.pricing, actor="test", email="accounts at northside")


# -- issuing --------------------------------------------------------------------------------------


def test_a_month_is_invoiced_once_with_its_pdf_emailed(priced: Sera, personas: Personas) -> None:
    _on_starter(priced, personas.northside_id)
    _a_month_of_usage(priced, personas.northside_id)
    first = issue_invoice(priced, personas.northside_id, NOVEMBER, actor="test")
    assert first.status == "issued" and first.emailed
    assert first.invoice is not None
    assert (first.invoice.number, first.invoice.total, first.invoice.period) == ("INV-000001", "36.38", "2026-11")
    again = issue_invoice(priced, personas.northside_id, NOVEMBER, actor="test")
    assert again.status == "already_issued"
    assert len(_documents(priced)) == 1

    with priced.uow(personas.northside_id, readonly=True) as uow:
        detail, pdf = invoice_pdf(uow, first.invoice.id)
        assert invoice_pdf(uow, first.invoice.id)[1] == pdf  # re-rendered, the same bytes
    assert detail.billed_to["company"] == "Northside Cycles LLC"
    text = _pdf_text(pdf)
    for words in ("Invoice", "INV-000001", "USD 36.38", "Northside Cycles LLC", "260 used, 200 included"):
        assert words in text

    assert send_pending(priced) == 1
    [mail] = list(mailbox.Maildir(priced.settings.mail_dir))
    assert mail["To"] == "accounts@northside.example"
    assert "INV-000001" in mail["Subject"]
    [attachment] = [part for part in mail.walk() if part.get_filename()]
    assert attachment.get_filename() == "INV-000001.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_payload(decode=True) == pdf


def test_a_month_without_usage_is_the_fee_alone_and_free_plans_get_nothing(priced: Sera, personas: Personas) -> None:
    _on_starter(priced, personas.northside_id)
    _set(priced, personas.southside_id, plan="free", company="Southside Skates", email="s@southside.example")
    fee_only = issue_invoice(priced, personas.northside_id, NOVEMBER, actor="test")
    assert fee_only.invoice is not None
    with priced.uow(personas.northside_id, readonly=True) as uow:
        numbers = len(uow.session.execute(select(MerchantPhoneNumber)).all())
        lines = get_invoice(uow, fee_only.invoice.id).lines
    assert numbers == 1
    assert [line["amount"] for line in lines] == ["29.00", "0.00", "0.00", "1.50"]  # the fee and the number
    assert fee_only.invoice.total == "30.50"
    free = issue_invoice(priced, personas.southside_id, NOVEMBER, actor="test")
    assert free.status == "nothing_to_bill"
    assert [d.merchant_id for d in _documents(priced)] == [personas.northside_id]


def test_a_shop_without_a_plan_gets_no_invoice(priced: Sera, personas: Personas) -> None:
    _on_starter(priced, personas.northside_id)
    _set(priced, personas.northside_id, plan=None)
    run = issue_month(priced, NOVEMBER, actor="test")
    assert run.outcomes == []  # only shops with a plan are visited
    assert issue_invoice(priced, personas.southside_id, NOVEMBER, actor="test").status == "no_plan"
    assert _documents(priced) == []


def test_a_plan_missing_from_the_price_list_fails_that_shop_only(priced: Sera, personas: Personas) -> None:
    _on_starter(priced, personas.northside_id)
    _set(priced, personas.southside_id, plan="growth", email="s@southside.example")
    priced.pricing = parse_pricing(EXAMPLE.read_text().replace("  growth:", "  bigger:"))
    run = issue_month(priced, NOVEMBER, actor="test")
    assert run.count("issued") == 1 and run.count("failed") == 1
    failed = next(o for o in run.outcomes if o.status == "failed")
    assert "no plan 'growth'" in (failed.message or "")


def test_a_killed_run_restarted_issues_the_rest_and_none_twice(priced: Sera, personas: Personas) -> None:
    shops = _extra_shops(priced, 6)

    class Killed(BaseException):
        pass

    issued: list[str] = []

    def die_after_three(outcome: object) -> None:
        issued.append(str(outcome))
        if len(issued) == 3:
            raise Killed

    with pytest.raises(Killed):
        issue_month(priced, NOVEMBER, actor="test", on_outcome=die_after_three)
    assert len(_documents(priced)) == 3
    rerun = issue_month(priced, NOVEMBER, actor="test")
    assert (rerun.count("issued"), rerun.count("already_issued")) == (3, 3)
    documents = _documents(priced)
    assert sorted(d.merchant_id for d in documents) == sorted(shops)
    assert [d.number for d in documents] == [f"INV-{n:06d}" for n in range(1, 7)]


def test_a_transaction_that_fails_gives_its_number_back(
    priced: Sera, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between taking a number and committing leaves no gap: the next invoice takes it."""
    first, second = _extra_shops(priced, 2)
    from sera.billing import invoices

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(invoices, "_queue_document_mail", crash)
    with pytest.raises(RuntimeError):
        issue_invoice(priced, first, NOVEMBER, actor="test")
    monkeypatch.undo()
    assert issue_invoice(priced, second, NOVEMBER, actor="test").invoice.number == "INV-000001"  # type: ignore[union-attr]
    assert issue_invoice(priced, first, NOVEMBER, actor="test").invoice.number == "INV-000002"  # type: ignore[union-attr]


def test_two_issuers_at_once_issue_each_invoice_once_without_gaps(priced: Sera, personas: Personas) -> None:
    _extra_shops(priced, 8)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            issue_month(priced, NOVEMBER, actor="test")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    documents = _documents(priced)
    assert [d.number for d in documents] == [f"INV-{n:06d}" for n in range(1, 9)]
    assert len({d.merchant_id for d in documents}) == 8
    with priced.uow(readonly=True) as uow:
        assert uow.session.get(InvoiceCounter, "invoice").last == 8  # type: ignore[union-attr]


def test_the_monthly_job_issues_last_month_once_each_shop_has_finished_it(
    priced: Sera, personas: Personas, clock: FakeClock
) -> None:
    """Chicago's November ends at 06:00 UTC on 1 December: the job's runs before then issue nothing."""
    _on_starter(priced, personas.northside_id)
    clock.now = clock.now.replace(month=12, day=1, hour=3)  # 21:00 on 30 November in Chicago
    assert issue_due(priced, clock.now) == 0
    clock.advance(hours=4)  # 01:00 on 1 December in Chicago
    assert issue_due(priced, clock.now) == 1
    assert issue_due(priced, clock.now) == 0
    [invoice] = _documents(priced)
    assert invoice.period == "2026-11"
    assert invoice.issued_at == clock.now
    assert invoice.due_on == date(2026, 12, 15)


# -- credit notes ---------------------------------------------------------------------------------


def test_a_correction_is_a_credit_note_and_the_invoice_never_changes(priced: Sera, personas: Personas) -> None:
    _on_starter(priced, personas.northside_id)
    _a_month_of_usage(priced, personas.northside_id)
    invoice = issue_invoice(priced, personas.northside_id, NOVEMBER, actor="test").invoice
    assert invoice is not None
    partial = credit_invoice(
        priced, invoice.number, reason="Minutes billed twice", amount=Decimal("5.40"), actor="test"
    )
    assert (partial.number, partial.kind, partial.total, partial.credits_invoice_id) == (
        "CN-000001",
        "credit_note",
        "-5.40",
        invoice.id,
    )
    with pytest.raises(CreditError, match=r"30.98 USD left to credit"):
        credit_invoice(priced, invoice.id, reason="too much", amount=Decimal(40), actor="test")
    rest = credit_invoice(priced, invoice.id, reason="Shop closed", actor="test")
    assert rest.total == "-30.98"
    with pytest.raises(CreditError, match="already fully credited"):
        credit_invoice(priced, invoice.id, reason="again", actor="test")
    with pytest.raises(CreditError, match="is a credit note"):
        credit_invoice(priced, rest.id, reason="a credit of a credit", actor="test")
    with pytest.raises(InvoiceNotFoundError):
        credit_invoice(priced, invoice.id, reason="outsider", actor="test", merchant_id=personas.southside_id)
    [stored] = [d for d in _documents(priced) if d.kind == "invoice"]
    assert (stored.total, stored.number) == ("36.38", "INV-000001")
    with priced.uow(personas.northside_id, readonly=True) as uow:
        _, pdf = invoice_pdf(uow, partial.id)
    text = _pdf_text(pdf)
    for words in ("Credit note", "CN-000001", "INV-000001", "-USD 5.40", "Minutes billed twice"):
        assert words in text


def test_a_full_credit_note_negates_every_line(priced: Sera, personas: Personas) -> None:
    _on_starter(priced, personas.northside_id)
    _a_month_of_usage(priced, personas.northside_id)
    invoice = issue_invoice(priced, personas.northside_id, NOVEMBER, actor="test").invoice
    assert invoice is not None
    note = credit_invoice(priced, invoice.id, reason="Billed in error", actor="test")
    with priced.uow(personas.northside_id, readonly=True) as uow:
        original = get_invoice(uow, invoice.id)
    assert [line["amount"] for line in note.lines] == [str(-Decimal(line["amount"])) for line in original.lines]
    assert note.total == "-36.38"


# -- business records -----------------------------------------------------------------------------


def test_invoices_survive_erasure_retention_and_shop_deletion(
    priced: Sera, personas: Personas, clock: FakeClock
) -> None:
    from sera.customers.service import find_or_create_customer

    _on_starter(priced, personas.northside_id)
    with priced.uow(personas.northside_id) as uow:
        customer = find_or_create_customer(uow, phone="+13125550142", name="Maria Garcia")
        uow.commit()
    invoice = issue_invoice(priced, personas.northside_id, NOVEMBER, actor="test").invoice
    assert invoice is not None
    redact_customer(priced, personas.northside_id, customer.id, actor="test")
    clock.advance(days=3650)
    run_retention(priced, clock.now)
    delete_shop(priced, personas.northside_id, actor="test")
    with priced.uow(readonly=True) as uow:
        assert uow.session.get(Merchant, personas.northside_id) is None
        kept = get_invoice(uow, invoice.id)
        assert kept.total == "30.50"  # the fee and one number
        assert kept.billed_to["company"] == "Northside Cycles LLC"  # the records key outlives the shop
        assert invoice_pdf(uow, invoice.id)[1].startswith(b"%PDF")
    # a correction is still possible; it is kept, not emailed (there is no shop to email)
    note = credit_invoice(priced, invoice.id, reason="Closed account", actor="test")
    assert note.total == "-30.50"


def test_an_invoice_carries_no_end_customer_data(priced: Sera, personas: Personas) -> None:
    from sera.customers.service import find_or_create_customer

    _on_starter(priced, personas.northside_id)
    with priced.uow(personas.northside_id) as uow:
        find_or_create_customer(uow, phone="+13125550142", name="Maria Garcia", email="maria@example.com")
        uow.commit()
    invoice = issue_invoice(priced, personas.northside_id, NOVEMBER, actor="test").invoice
    assert invoice is not None
    with priced.uow(personas.northside_id, readonly=True) as uow:
        detail, pdf = invoice_pdf(uow, invoice.id)
    text = _pdf_text(pdf) + repr(detail)
    for personal in ("Maria", "Garcia", "5550142", "maria@example.com"):
        assert personal not in text


# -- the API --------------------------------------------------------------------------------------


@pytest.fixture
def api(priced: Sera, personas: Personas) -> TestClient:
    return TestClient(create_app(priced))


def test_the_api_lists_reads_and_serves_the_pdf(api: TestClient, priced: Sera, personas: Personas) -> None:
    _on_starter(priced, personas.northside_id)
    invoice = issue_invoice(priced, personas.northside_id, NOVEMBER, actor="test").invoice
    assert invoice is not None
    listed = api.get("/api/v1/invoices", headers=_bearer(personas.teammate_key))  # a viewer key may list
    assert listed.status_code == 200
    [item] = listed.json()["data"]
    assert (item["number"], item["total"], item["pdf_url"]) == (
        "INV-000001",
        "30.50",
        f"/api/v1/invoices/{invoice.id}.pdf",
    )
    one = api.get(f"/api/v1/invoices/{invoice.id}", headers=_bearer(personas.teammate_key)).json()
    assert one["billed_to"]["company"] == "Northside Cycles LLC"
    assert [line["code"] for line in one["lines"]] == ["fee", "minutes", "segments", "numbers"]
    pdf = api.get(item["pdf_url"], headers=_bearer(personas.teammate_key))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert "INV-000001" in _pdf_text(pdf.content)
    with priced.uow(readonly=True) as uow:
        reads = uow.session.execute(
            select(AuditEntry.target_id).where(AuditEntry.action == "api.read", AuditEntry.target_type == "invoice")
        ).all()
    assert len(reads) == 2


def test_another_shops_key_sees_no_invoice(api: TestClient, priced: Sera, personas: Personas) -> None:
    _on_starter(priced, personas.northside_id)
    invoice = issue_invoice(priced, personas.northside_id, NOVEMBER, actor="test").invoice
    assert invoice is not None
    outsider = _bearer(personas.outsider_key)
    assert api.get("/api/v1/invoices", headers=outsider).json()["data"] == []
    assert api.get(f"/api/v1/invoices/{invoice.id}", headers=outsider).status_code == 404
    assert api.get(f"/api/v1/invoices/{invoice.id}.pdf", headers=outsider).status_code == 404
    assert api.get("/api/v1/invoices").status_code == 401


def test_billing_details_over_the_api_need_an_admin_key(api: TestClient, personas: Personas) -> None:
    owner, teammate = _bearer(personas.owner_key), _bearer(personas.teammate_key)
    assert api.get("/api/v1/billing", headers=teammate).status_code == 403
    assert api.put("/api/v1/billing", headers=teammate, json={"plan": "starter"}).status_code == 403
    assert api.get("/api/v1/billing", headers=owner).json()["plan"] is None
    put = api.put(
        "/api/v1/billing",
        headers=owner,
        json={"plan": "growth", "company": "Northside", "email": "a@northside.example"},
    )
    assert put.status_code == 200
    assert put.json()["plan"]["monthly_fee"] == "99.00"
    kept = api.put("/api/v1/billing", headers=owner, json={"tax_id": "EU123"}).json()
    assert (kept["company"], kept["tax_id"], kept["plan"]["key"]) == ("Northside", "EU123", "growth")
    bad_plan = api.put("/api/v1/billing", headers=owner, json={"plan": "platinum"})
    assert bad_plan.status_code == 422 and "platinum" in bad_plan.text
    assert api.put("/api/v1/billing", headers=owner, json={"email": "nope"}).status_code == 422
    outsider = api.get("/api/v1/billing", headers=_bearer(personas.outsider_key)).json()
    assert outsider["company"] is None


# -- the commands ---------------------------------------------------------------------------------


def test_the_commands_issue_once_list_and_credit(
    priced: Sera, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import NORTHSIDE, SOUTHSIDE

    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: priced)
    runner = CliRunner()
    setting = runner.invoke(
        cli.main,
        [
            "billing",
            "set",
            "--shop",
            NORTHSIDE,
            "--plan",
            "starter",
            "--company",
            "Northside",
            "--email",
            "a@n.example",
        ],
    )
    assert setting.exit_code == 0, setting.output
    bad = runner.invoke(cli.main, ["billing", "set", "--shop", SOUTHSIDE, "--plan", "platinum"])
    assert bad.exit_code == 2 and "no plan 'platinum'" in bad.output
    assert runner.invoke(cli.main, ["invoices", "issue", "--month", "2026-13"]).exit_code == 2

    first = runner.invoke(cli.main, ["invoices", "issue", "--month", "2026-11"])
    assert first.exit_code == 0, first.output
    assert "issued INV-000001" in first.output and "1 issued" in first.output
    second = runner.invoke(cli.main, ["invoices", "issue", "--month", "2026-11", "--shop", NORTHSIDE])
    assert second.exit_code == 0
    assert "0 issued, 1 already issued" in second.output and "nothing new to issue" in second.output
    assert len(_documents(priced)) == 1

    credit = runner.invoke(cli.main, ["invoices", "credit", "INV-000001", "--reason", "Goodwill", "--amount", "10"])
    assert credit.exit_code == 0, credit.output
    assert "issued CN-000001  USD -10.00  crediting INV-000001" in credit.output
    listing = runner.invoke(cli.main, ["invoices", "list", "--shop", NORTHSIDE])
    assert listing.output.index("CN-000001") < listing.output.index("INV-000001")
    missing = runner.invoke(cli.main, ["invoices", "credit", "INV-999999", "--reason", "x"])
    assert missing.exit_code == 1 and "no invoice INV-999999" in missing.output
