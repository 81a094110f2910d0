"""A session scoped to one merchant cannot read or write another merchant's rows, by construction."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select, update

from sera.billing.usage import record_usage
from sera.bootstrap import Sera
from sera.customers.service import find_customer
from sera.storage.database import MERCHANT, CrossMerchantWriteError, prescoped
from sera.storage.models import Base, Call, Customer, MerchantOwned, Order, Transcript, UsageRecord
from tests.conftest import Personas
from tests.seed import seed_activity

OWNED = sorted(  # in a fixed order: parallel test workers must collect the same tests
    (m.class_ for m in Base.registry.mappers if issubclass(m.class_, MerchantOwned)), key=lambda c: c.__tablename__
)


@pytest.mark.parametrize("model", OWNED, ids=lambda m: m.__tablename__)
def test_every_merchant_table_is_scoped(sera: Sera, personas: Personas, model: type) -> None:
    seed_activity(sera, personas.northside_id)
    seed_activity(sera, personas.southside_id)
    with sera.uow(personas.southside_id, readonly=True) as uow:
        merchants = set(uow.session.execute(select(model.merchant_id)).scalars())  # type: ignore[attr-defined]
        rows = uow.session.execute(select(model)).scalars().all()
    assert merchants <= {personas.southside_id}
    assert all(row.merchant_id == personas.southside_id for row in rows)


def test_even_an_explicit_filter_for_another_merchant_finds_nothing(sera: Sera, personas: Personas) -> None:
    with sera.uow(personas.southside_id, readonly=True) as uow:
        count = uow.session.execute(
            select(func.count()).select_from(Order).where(Order.merchant_id == personas.northside_id)
        ).scalar_one()
        assert count == 0
        assert uow.session.get(Order, _an_order_id(sera, personas.northside_id)) is None


def _an_order_id(sera: Sera, merchant_id: str) -> str:
    with sera.uow(merchant_id, readonly=True) as uow:
        return uow.session.execute(select(Order.id).limit(1)).scalar_one()


def test_a_phone_lookup_never_crosses_shops(sera: Sera, personas: Personas) -> None:
    with sera.uow(personas.southside_id, readonly=True) as uow:
        assert find_customer(uow, phone="+13125550142") is None  # Priya is Northside's


def test_bulk_updates_stay_inside_the_merchant(sera: Sera, personas: Personas) -> None:
    with sera.uow(personas.southside_id) as uow:
        uow.session.execute(update(Customer).values(external_id="touched"))
        uow.commit()
    with sera.uow(personas.northside_id, readonly=True) as uow:
        touched = uow.session.execute(select(Customer).where(Customer.external_id == "touched")).scalars().all()
    assert touched == []


def test_writing_another_merchants_row_is_refused(sera: Sera, personas: Personas) -> None:
    with sera.uow(personas.southside_id) as uow:
        uow.session.add(Customer(id="cus_forged", merchant_id=personas.northside_id))
        with pytest.raises(CrossMerchantWriteError):
            uow.flush()


def test_a_prescoped_statement_must_filter_every_merchant_table_it_reads() -> None:
    with pytest.raises(ValueError, match="customers"):
        prescoped(select(Customer).where(Customer.external_id == "x"))
    with pytest.raises(ValueError, match="transcripts"):
        prescoped(select(Call, Transcript).outerjoin(Transcript).where(Call.merchant_id == MERCHANT))
    prescoped(
        select(Call, Transcript)
        .outerjoin(Transcript, (Transcript.call_id == Call.id) & (Transcript.merchant_id == MERCHANT))
        .where(Call.merchant_id == MERCHANT)
    )


def test_a_prescoped_statement_reads_its_unit_of_works_merchant_only(sera: Sera, personas: Personas) -> None:
    customers = prescoped(select(Customer.merchant_id).where(Customer.merchant_id == MERCHANT))
    seed_activity(sera, personas.northside_id)
    seed_activity(sera, personas.southside_id)
    with sera.uow(personas.southside_id, readonly=True) as uow:
        assert set(uow.run(customers).scalars()) == {personas.southside_id}
        with pytest.raises(RuntimeError, match="own merchant"):
            uow.session.execute(customers, {MERCHANT.key: personas.northside_id})


def test_usage_counters_add_up_per_shop_without_the_orm(sera: Sera, personas: Personas) -> None:
    day = date(2026, 11, 27)
    for merchant_id, minutes in ((personas.northside_id, (2, 3)), (personas.southside_id, (5,))):
        for quantity in minutes:
            with sera.uow(merchant_id) as uow:
                record_usage(uow, day, "billed_minutes", quantity)
                uow.commit()
    with sera.uow(readonly=True) as uow:
        counted = uow.session.execute(select(UsageRecord.merchant_id, UsageRecord.quantity)).all()
    assert sorted(counted) == sorted([(personas.northside_id, 5), (personas.southside_id, 5)])
