"""Checkouts from Shopify's payloads: the shapes real checkouts come in (no phone, no
consent, malformed numbers, other currencies), duplicates and out-of-order updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from sera.adapters.shopify.payloads import parse_checkout
from sera.bootstrap import Sera
from sera.checkouts.retention import sweep_all_checkouts
from sera.checkouts.service import (
    CheckoutRecorded,
    complete_checkout,
    customer_checkouts,
    open_checkouts,
    record_checkout,
)
from sera.privacy.erasure import redact_customer
from sera.storage.models import Checkout, Consent, Customer
from tests.adapters.shopify.conftest import SHOPPER_EMAIL, SHOPPER_PHONE, load
from tests.conftest import FakeClock, Personas


def record(sera: Sera, merchant_id: str, payload: dict[str, Any]) -> CheckoutRecorded:
    with sera.uow(merchant_id) as uow:
        recorded = record_checkout(uow, parse_checkout(payload), now=sera.clock())
        uow.commit()
        return recorded


def stored(sera: Sera, merchant_id: str) -> list[tuple[Checkout, dict[str, str | None]]]:
    with sera.uow(merchant_id, readonly=True) as uow:
        rows = uow.session.execute(select(Checkout).order_by(Checkout.created_at)).scalars().all()
        return [(row, uow.vault.open_many(row, "name", "phone", "email", "recovery_url")) for row in rows]


def consents(sera: Sera, merchant_id: str) -> list[tuple[str, bool]]:
    with sera.uow(merchant_id, readonly=True) as uow:
        rows = uow.session.execute(select(Consent).order_by(Consent.recorded_at)).scalars()
        return [(c.channel, c.granted) for c in rows]


def anonymous(payload: dict[str, Any]) -> dict[str, Any]:
    for key in ("phone", "sms_marketing_phone", "email", "customer", "shipping_address", "billing_address"):
        payload[key] = None
    return payload


def test_a_checkout_without_a_phone_is_linked_by_email(sera: Sera, personas: Personas) -> None:
    payload = load("checkouts/create")
    payload["phone"] = payload["sms_marketing_phone"] = payload["customer"]["phone"] = None
    payload["shipping_address"]["phone"] = None
    record(sera, personas.northside_id, payload)
    [(row, fields)] = stored(sera, personas.northside_id)
    assert fields["phone"] is None and fields["email"] == SHOPPER_EMAIL
    assert row.customer_id is not None and row.phone_bidx is None


def test_a_checkout_nobody_can_be_found_for_is_kept_under_the_shop_key(sera: Sera, personas: Personas) -> None:
    recorded = record(sera, personas.northside_id, anonymous(load("checkouts/create")))
    [(row, fields)] = stored(sera, personas.northside_id)
    assert recorded.customer_id is None and row.customer_id is None
    assert fields["recovery_url"] is not None and fields["phone"] is None
    assert consents(sera, personas.northside_id) == []


def test_no_consent_stated_means_no_consent_recorded(sera: Sera, personas: Personas) -> None:
    payload = load("checkouts/create")
    for key in ("buyer_accepts_marketing", "buyer_accepts_sms_marketing"):
        payload.pop(key)
    for key in ("sms_marketing_consent", "email_marketing_consent"):
        payload["customer"].pop(key)
    record(sera, personas.northside_id, payload)
    assert consents(sera, personas.northside_id) == []


def test_the_checkbox_counts_when_shopify_gives_no_customer_state(sera: Sera, personas: Personas) -> None:
    payload = load("checkouts/create")
    payload["customer"].pop("sms_marketing_consent")
    payload["buyer_accepts_sms_marketing"] = False
    record(sera, personas.northside_id, payload)
    assert ("sms", False) in consents(sera, personas.northside_id)


def test_a_withdrawn_consent_is_recorded_as_a_new_row(sera: Sera, personas: Personas, clock: FakeClock) -> None:
    record(sera, personas.northside_id, load("checkouts/create"))
    later = load("checkouts/update")
    later["customer"]["sms_marketing_consent"]["state"] = "unsubscribed"
    record(sera, personas.northside_id, later)
    assert [c for c in consents(sera, personas.northside_id) if c[0] == "sms"] == [("sms", True), ("sms", False)]


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        (("12345", None, "(312) 555-0188"), SHOPPER_PHONE),  # the checkout's own is junk: the address's is used
        (("not a number", "+1 999 000", "555-555-SHIP"), None),
        ((None, None, "020 7946 0958"), "+442079460958"),  # no country code: the address's country (GB)
    ],
)
def test_malformed_numbers_are_skipped(
    sera: Sera, personas: Personas, numbers: tuple[str | None, ...], expected: str | None
) -> None:
    payload = load("checkouts/create")
    payload["phone"], payload["sms_marketing_phone"], payload["shipping_address"]["phone"] = numbers
    payload["customer"]["phone"] = None
    if expected and expected.startswith("+44"):
        payload["shipping_address"]["country_code"] = "GB"
    record(sera, personas.northside_id, payload)
    [(_, fields)] = stored(sera, personas.northside_id)
    assert fields["phone"] == expected


def test_another_currency_is_kept_as_shopify_states_it(sera: Sera, personas: Personas) -> None:
    payload = load("checkouts/create")
    payload["presentment_currency"] = "EUR"
    payload["total_price"] = "1089.5"
    record(sera, personas.northside_id, payload)
    [(row, _)] = stored(sera, personas.northside_id)
    assert (row.currency, row.total_cents) == ("EUR", 108950)


def test_an_unusable_currency_or_amount_is_left_empty(sera: Sera, personas: Personas) -> None:
    payload = load("checkouts/create")
    payload["presentment_currency"] = payload["currency"] = "dollars"
    payload["total_price"] = "lots"
    record(sera, personas.northside_id, payload)
    [(row, _)] = stored(sera, personas.northside_id)
    assert (row.currency, row.total_cents) == (None, None)


def test_the_same_delivery_twice_is_one_checkout(sera: Sera, personas: Personas) -> None:
    first = record(sera, personas.northside_id, load("checkouts/create"))
    second = record(sera, personas.northside_id, load("checkouts/create"))
    assert first.created and not second.created and first.checkout_id == second.checkout_id
    assert len(stored(sera, personas.northside_id)) == 1
    assert len(consents(sera, personas.northside_id)) == 2
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert len(uow.session.execute(select(Customer).where(Customer.external_id.is_not(None))).all()) == 1


def test_an_update_older_than_the_stored_one_is_ignored(sera: Sera, personas: Personas) -> None:
    record(sera, personas.northside_id, load("checkouts/update"))
    late = record(sera, personas.northside_id, load("checkouts/create"))
    assert late.stale
    [(row, _)] = stored(sera, personas.northside_id)
    assert len(row.items) == 1 and row.total_cents == 114900


def test_a_completed_checkout_is_not_reopened(sera: Sera, personas: Personas, clock: FakeClock) -> None:
    payload = load("checkouts/update")
    payload["completed_at"] = "2026-11-27T09:45:00-06:00"
    record(sera, personas.northside_id, payload)
    again = load("checkouts/update")
    again["updated_at"] = "2026-11-27T09:50:00-06:00"
    record(sera, personas.northside_id, again)
    [(row, _)] = stored(sera, personas.northside_id)
    assert row.completed_at == datetime(2026, 11, 27, 15, 45, tzinfo=UTC)


def test_open_checkouts_are_what_recovery_acts_on(sera: Sera, personas: Personas, clock: FakeClock) -> None:
    record(sera, personas.northside_id, load("checkouts/create"))
    with sera.uow(personas.northside_id) as uow:
        assert open_checkouts(uow, older_than=timedelta(minutes=60), now=clock()) == []
        waiting = open_checkouts(uow, older_than=timedelta(minutes=10), now=clock())
        assert len(waiting) == 1
        complete_checkout(
            uow,
            source="shopify",
            external_id=None,
            token="7f8e1d9c2b3a4f5e6d7c8b9a0f1e2d3c",
            order_ref="1",
            completed_at=clock(),
            now=clock(),
        )
        assert open_checkouts(uow, older_than=timedelta(minutes=10), now=clock()) == []


def test_erasing_the_customer_erases_their_checkouts(sera: Sera, personas: Personas) -> None:
    recorded = record(sera, personas.northside_id, load("checkouts/create"))
    assert recorded.customer_id is not None
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert customer_checkouts(uow, recorded.customer_id)[0]["email"] == SHOPPER_EMAIL
    redact_customer(sera, personas.northside_id, recorded.customer_id, actor="test")
    assert stored(sera, personas.northside_id) == []


def test_checkouts_leave_after_the_shops_retention_period(sera: Sera, personas: Personas, clock: FakeClock) -> None:
    record(sera, personas.northside_id, load("checkouts/create"))
    record(sera, personas.southside_id, load("checkouts/create"))
    clock.advance(days=89)
    assert sweep_all_checkouts(sera, clock()) == {personas.northside_id: 0, personas.southside_id: 0}
    clock.advance(days=2)
    swept = sweep_all_checkouts(sera, clock())
    assert swept == {personas.northside_id: 1, personas.southside_id: 1}
    assert stored(sera, personas.northside_id) == []


def test_one_shops_checkouts_are_invisible_to_another(sera: Sera, personas: Personas) -> None:
    record(sera, personas.northside_id, load("checkouts/create"))
    assert stored(sera, personas.southside_id) == []


def test_the_daily_job_sweeps_expired_checkouts(sera: Sera, personas: Personas, clock: FakeClock, jobs: Any) -> None:
    record(sera, personas.northside_id, load("checkouts/create"))
    clock.advance(days=91)
    jobs.enqueue("checkouts.retention")
    jobs.run_pending()
    assert stored(sera, personas.northside_id) == []
