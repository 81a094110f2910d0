"""Personal data is sealed at rest, bound to its row, and findable only by blind index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text, update

from sera.bootstrap import Sera, bootstrap
from sera.config import Settings, new_key_text
from sera.crypto.envelope import DecryptionError
from sera.customers.service import find_customer, get_customer
from sera.storage.models import Base, Customer
from tests.conftest import PG_URL, Personas
from tests.seed import (
    CALLER_EMAIL,
    CALLER_NAME,
    CALLER_PHONE,
    TICKET_PHRASE,
    TRANSCRIPT_PHRASE,
    seed_activity,
)

# Every seeded secret of the demo shop's order customers and of a caller.
PLAINTEXT = [
    "Priya Shah",
    "priya.shah@example.com",
    "+13125550142",
    "3125550142",
    "Marcus Lee",
    "elena.rossi@example.com",
    "Olivia Outsider",
    CALLER_NAME,
    CALLER_PHONE,
    CALLER_EMAIL,
    TRANSCRIPT_PHRASE,
    TICKET_PHRASE,
    "clicking noise",
]


def _dump_storage(sera: Sera) -> bytes:
    """Every byte the main database holds: the raw SQLite files, or every PostgreSQL row."""
    if PG_URL:
        chunks: list[bytes] = []
        with sera.db.engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in conn.execute(text(f'SELECT * FROM "{table.name}"')):
                    chunks.append(repr(tuple(row)).encode())
                    chunks.extend(bytes(v) for v in row if isinstance(v, bytes | memoryview))
        return b"\n".join(chunks)
    sera.db.engine.dispose()  # checkpoint the WAL so the main file holds everything
    path = Path(sera.settings.database_url.removeprefix("sqlite:///"))
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    dump = "\n".join(sqlite3.connect(path).iterdump()).encode()
    return data + dump


def test_no_personal_data_in_plaintext_anywhere(sera: Sera, personas: Personas) -> None:
    seed_activity(sera, personas.northside_id)
    storage = _dump_storage(sera)
    for secret in PLAINTEXT:
        assert secret.encode() not in storage, f"{secret!r} stored in plaintext"
    # and the key store holds only wrapped keys (no master key, no plaintext)
    keystore = Path(sera.settings.keystore_url.removeprefix("sqlite:///")).read_bytes()
    assert sera.settings.master_key is not None
    assert sera.settings.master_key.get_secret_value().encode() not in keystore


def test_blind_index_finds_a_customer_by_phone_and_email(sera: Sera, personas: Personas) -> None:
    with sera.uow(personas.northside_id, readonly=True) as uow:
        by_phone = find_customer(uow, phone="+13125550142")
        by_email = find_customer(uow, email="PRIYA.SHAH@example.com")
        assert by_phone is not None and by_email is not None and by_phone.id == by_email.id
        assert get_customer(uow, by_phone.id).name == "Priya Shah"


def test_the_same_phone_has_different_indexes_in_different_shops(sera: Sera, personas: Personas) -> None:
    a = sera.vault.phone_index(personas.northside_id, "+13125550142")
    b = sera.vault.phone_index(personas.southside_id, "+13125550142")
    assert a != b


def test_a_ciphertext_copied_to_another_row_does_not_open(sera: Sera, personas: Personas) -> None:
    with sera.uow(personas.northside_id) as uow:
        priya = find_customer(uow, phone="+13125550142")
        marcus = find_customer(uow, phone="+13125550143")
        assert priya is not None and marcus is not None
        uow.session.execute(update(Customer).where(Customer.id == marcus.id).values(name=priya.name))
        uow.commit()
    with sera.uow(personas.northside_id, readonly=True) as uow:
        row = uow.session.execute(select(Customer).where(Customer.id == marcus.id)).scalar_one()
        with pytest.raises(DecryptionError):
            sera.vault.open(row, "name")


def test_a_ciphertext_moved_to_another_column_does_not_open(sera: Sera, personas: Personas) -> None:
    with sera.uow(personas.northside_id) as uow:
        priya = find_customer(uow, phone="+13125550142")
        assert priya is not None
        priya.email = priya.name
        uow.commit()
    with sera.uow(personas.northside_id, readonly=True) as uow:
        row = uow.session.execute(select(Customer).where(Customer.id == priya.id)).scalar_one()
        assert sera.vault.open(row, "name") == "Priya Shah"
        with pytest.raises(DecryptionError):
            sera.vault.open(row, "email")


def test_a_different_master_key_opens_nothing(settings: Settings, sera: Sera, personas: Personas) -> None:
    stranger = bootstrap(settings.model_copy(update={"master_key": SecretStr(new_key_text())}))
    with pytest.raises(DecryptionError), stranger.uow(personas.northside_id, readonly=True) as uow:
        find_customer(uow, phone="+13125550142")
    stranger.close()
