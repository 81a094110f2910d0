"""Seals and opens the personal-data columns of model rows.

A row's fields are sealed under its customer's data key when it has a customer
(so erasing that customer is destroying one key), otherwise under its merchant's
key. The associated data binds each ciphertext to table, column and row id.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sera.crypto.envelope import AesGcmCipher, FieldCipher, blind_index, derive_subkey, field_aad
from sera.crypto.keystore import KeyStore
from sera.storage.models import Customer, sealed_columns


class Vault:
    def __init__(self, keystore: KeyStore, cipher: FieldCipher | None = None) -> None:
        self.keystore = keystore
        self.cipher: FieldCipher = cipher or AesGcmCipher()

    # -- keys --------------------------------------------------------------------------------
    def key_for(self, row: Any) -> bytes:
        merchant_id: str = row.merchant_id
        customer_id = row.id if isinstance(row, Customer) else getattr(row, "customer_id", None)
        if customer_id is None:
            return self.keystore.merchant_key(merchant_id)
        return self.keystore.customer_key(merchant_id, customer_id)

    def prefetch(self, merchant_id: str, customer_ids: Iterable[str | None]) -> None:
        """Unwrap the keys of many customers with one key-store query."""
        self.keystore.customer_keys(merchant_id, [c for c in customer_ids if c])

    # -- fields ------------------------------------------------------------------------------
    def seal(self, row: Any, **values: str | None) -> None:
        """Set each named sealed column of ``row`` from its plaintext (None clears it)."""
        key = self.key_for(row)
        table = row.__tablename__
        for column, value in values.items():
            sealed = None if value is None else self.cipher.seal(key, value, field_aad(table, column, row.id))
            setattr(row, column, sealed)

    def open(self, row: Any, column: str) -> str | None:
        sealed: bytes | None = getattr(row, column)
        if sealed is None:
            return None
        return self.cipher.open(self.key_for(row), sealed, field_aad(row.__tablename__, column, row.id))

    def open_many(self, row: Any, *columns: str) -> dict[str, str | None]:
        return {column: self.open(row, column) for column in columns}

    def assign_customer(self, row: Any, customer_id: str | None) -> None:
        """Link a row to a customer, re-sealing its fields under that customer's key."""
        if row.customer_id == customer_id:
            return
        plain = self.open_many(row, *sealed_columns(row.__tablename__))
        row.customer_id = customer_id
        self.seal(row, **plain)

    # -- blind indexes -------------------------------------------------------------------------
    def blind_index(self, merchant_id: str, table: str, column: str, normalized: str) -> str:
        return blind_index(self._column_key(merchant_id, table, column), normalized)

    def phone_index(self, merchant_id: str, e164: str) -> str:
        """The one phone index every table shares, so a number matches across them."""
        return self.blind_index(merchant_id, "customers", "phone", e164)

    def email_index(self, merchant_id: str, email: str) -> str:
        return self.blind_index(merchant_id, "customers", "email", email.strip().lower())

    def _column_key(self, merchant_id: str, table: str, column: str) -> bytes:
        return _derive(self.keystore.merchant_key(merchant_id), f"blind-index:{table}.{column}")


@lru_cache(maxsize=4096)
def _derive(key: bytes, purpose: str) -> bytes:
    return derive_subkey(key, purpose)
