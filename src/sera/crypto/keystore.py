"""The key store: merchant and customer data keys, kept apart from the main database.

Invariants:
- Keys are stored wrapped, never in the clear: merchant keys under the master
  keyring, customer keys under their merchant's key.
- Destroying a key deletes its row here and nothing else; the main database (and
  every backup of it) keeps only ciphertext that no remaining key opens.
- The store lives at ``SERA_KEYSTORE_URL``, a different database from the data, so a
  restored data backup does not bring destroyed keys back.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    select,
    update,
)

from sera.clock import Clock
from sera.crypto.envelope import (
    DecryptionError,
    MasterKeyring,
    new_data_key,
    open_bytes,
    seal_bytes,
)
from sera.storage.cache import TtlCache

metadata = MetaData()

merchant_keys = Table(
    "merchant_keys",
    metadata,
    Column("merchant_id", String(40), primary_key=True),
    Column("wrapping_key_id", String(16), nullable=False, index=True),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

customer_keys = Table(
    "customer_keys",
    metadata,
    Column("customer_id", String(40), primary_key=True),
    Column("merchant_id", String(40), nullable=False, index=True),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A deleted shop's own provider secret (e.g. its Twilio auth token), kept only until the
# copies Sera made in that account are deleted there: the shop's key, which sealed it, is gone.
deletion_credentials = Table(
    "deletion_credentials",
    metadata,
    Column("merchant_id", String(40), primary_key=True),
    Column("provider", String(20), primary_key=True),
    Column("account_id", String(100), nullable=True),
    Column("wrapping_key_id", String(16), nullable=False),
    Column("wrapped_secret", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A shop's records key: seals what the operator must keep after the shop is gone (its billing
# details on issued invoices). Wrapped under the master keyring, not the shop's key, so that
# neither erasing a customer nor deleting the shop destroys it.
record_keys = Table(
    "record_keys",
    metadata,
    Column("merchant_id", String(40), primary_key=True),
    Column("wrapping_key_id", String(16), nullable=False, index=True),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

CACHE_SECONDS = 60.0
CACHE_ENTRIES = 50_000


class KeyMissingError(DecryptionError):
    """The key was destroyed (crypto-shredded) or never existed."""


def _merchant_aad(merchant_id: str) -> bytes:
    return f"merchant-key:{merchant_id}".encode()


def _credential_aad(merchant_id: str, provider: str) -> bytes:
    return f"deletion-credential:{merchant_id}:{provider}".encode()


def _record_aad(merchant_id: str) -> bytes:
    return f"record-key:{merchant_id}".encode()


def _customer_aad(merchant_id: str, customer_id: str) -> bytes:
    return f"customer-key:{merchant_id}:{customer_id}".encode()


class KeyStore:
    def __init__(self, engine: Engine, keyring: MasterKeyring, clock: Clock) -> None:
        self.engine = engine
        self.keyring = keyring
        self.clock = clock
        # unwrapped keys; their expiry lets other processes' erasures apply here
        self._cache = TtlCache(CACHE_SECONDS, max_entries=CACHE_ENTRIES)

    def create_schema(self) -> None:
        metadata.create_all(self.engine)

    def forget_cached_keys(self) -> None:
        """Drop the unwrapped keys this process holds (after the store was restored)."""
        self._cache.clear()

    # -- merchant keys -------------------------------------------------------------
    def create_merchant_key(self, merchant_id: str) -> bytes:
        existing = self._load_merchant_key(merchant_id)
        if existing is not None:
            return existing
        key = new_data_key()
        wrapping_id, wrapped = self.keyring.wrap(key, _merchant_aad(merchant_id))
        with self.engine.begin() as conn:
            conn.execute(
                merchant_keys.insert().values(
                    merchant_id=merchant_id,
                    wrapping_key_id=wrapping_id,
                    wrapped_key=wrapped,
                    created_at=self.clock(),
                )
            )
        self._cache.put(f"m:{merchant_id}", key)
        return key

    def merchant_key(self, merchant_id: str) -> bytes:
        key = self._load_merchant_key(merchant_id)
        if key is None:
            raise KeyMissingError(f"no key for merchant {merchant_id}")
        return key

    def _load_merchant_key(self, merchant_id: str) -> bytes | None:
        cached: bytes | None = self._cache.cached(f"m:{merchant_id}")
        if cached is not None:
            return cached
        with self.engine.connect() as conn:
            row = conn.execute(
                select(merchant_keys.c.wrapping_key_id, merchant_keys.c.wrapped_key).where(
                    merchant_keys.c.merchant_id == merchant_id
                )
            ).first()
        if row is None:
            return None
        key = self.keyring.unwrap(row.wrapping_key_id, row.wrapped_key, _merchant_aad(merchant_id))
        self._cache.put(f"m:{merchant_id}", key)
        return key

    def destroy_merchant_key(self, merchant_id: str) -> int:
        """Crypto-shred a whole shop: its key and every customer key under it."""
        with self.engine.begin() as conn:
            conn.execute(delete(customer_keys).where(customer_keys.c.merchant_id == merchant_id))
            count = conn.execute(delete(merchant_keys).where(merchant_keys.c.merchant_id == merchant_id)).rowcount
        self._cache.clear()
        return int(count)

    # -- customer keys -------------------------------------------------------------
    def create_customer_key(self, merchant_id: str, customer_id: str) -> bytes:
        return self.create_customer_keys(merchant_id, [customer_id])[customer_id]

    def create_customer_keys(self, merchant_id: str, customer_ids: list[str]) -> dict[str, bytes]:
        """New data keys for customers, written in one transaction."""
        merchant_key = self.merchant_key(merchant_id)
        keys = {customer_id: new_data_key() for customer_id in customer_ids}
        now = self.clock()
        rows = [
            {
                "customer_id": customer_id,
                "merchant_id": merchant_id,
                "wrapped_key": seal_bytes(merchant_key, key, _customer_aad(merchant_id, customer_id)),
                "created_at": now,
            }
            for customer_id, key in keys.items()
        ]
        with self.engine.begin() as conn:
            conn.execute(customer_keys.insert(), rows)
        for customer_id, key in keys.items():
            self._cache.put(f"c:{customer_id}", key)
        return keys

    def customer_keys(self, merchant_id: str, customer_ids: Iterable[str]) -> dict[str, bytes]:
        """Unwrap many customer keys with one query; destroyed keys are simply absent."""
        found: dict[str, bytes] = {}
        missing: list[str] = []
        for customer_id in set(customer_ids):
            cached = self._cache.cached(f"c:{customer_id}")
            if cached is None:
                missing.append(customer_id)
            else:
                found[customer_id] = cached
        if not missing:
            return found
        merchant_key = self.merchant_key(merchant_id)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(customer_keys.c.customer_id, customer_keys.c.wrapped_key).where(
                    customer_keys.c.merchant_id == merchant_id,
                    customer_keys.c.customer_id.in_(missing),
                )
            ).all()
        for row in rows:
            key = open_bytes(merchant_key, row.wrapped_key, _customer_aad(merchant_id, row.customer_id))
            self._cache.put(f"c:{row.customer_id}", key)
            found[row.customer_id] = key
        return found

    def customer_key(self, merchant_id: str, customer_id: str) -> bytes:
        key = self.customer_keys(merchant_id, [customer_id]).get(customer_id)
        if key is None:
            raise KeyMissingError(f"no key for customer {customer_id}")
        return key

    def destroy_customer_key(self, merchant_id: str, customer_id: str) -> bool:
        with self.engine.begin() as conn:
            count = conn.execute(
                delete(customer_keys).where(
                    customer_keys.c.merchant_id == merchant_id,
                    customer_keys.c.customer_id == customer_id,
                )
            ).rowcount
        self._cache.drop(f"c:{customer_id}")
        return bool(count)

    # -- records keys: the operator's business records, kept past the shop --------
    def records_key(self, merchant_id: str) -> bytes:
        """The shop's records key, made on first use (see ``record_keys``)."""
        cached: bytes | None = self._cache.cached(f"r:{merchant_id}")
        if cached is not None:
            return cached
        with self.engine.begin() as conn:
            row = conn.execute(
                select(record_keys.c.wrapping_key_id, record_keys.c.wrapped_key).where(
                    record_keys.c.merchant_id == merchant_id
                )
            ).first()
            if row is None:
                key = new_data_key()
                wrapping_id, wrapped = self.keyring.wrap(key, _record_aad(merchant_id))
                conn.execute(
                    record_keys.insert().values(
                        merchant_id=merchant_id,
                        wrapping_key_id=wrapping_id,
                        wrapped_key=wrapped,
                        created_at=self.clock(),
                    )
                )
            else:
                key = self.keyring.unwrap(row.wrapping_key_id, row.wrapped_key, _record_aad(merchant_id))
        self._cache.put(f"r:{merchant_id}", key)
        return key

    # -- a deleted shop's provider secrets, until its copies there are deleted -----
    def keep_for_deletion(self, merchant_id: str, provider: str, account_id: str | None, secret: str) -> None:
        """Keep a shop's own provider secret, wrapped under the master keyring, past its shop."""
        wrapping_id, wrapped = self.keyring.wrap(secret.encode(), _credential_aad(merchant_id, provider))
        with self.engine.begin() as conn:
            conn.execute(
                delete(deletion_credentials).where(
                    deletion_credentials.c.merchant_id == merchant_id, deletion_credentials.c.provider == provider
                )
            )
            conn.execute(
                deletion_credentials.insert().values(
                    merchant_id=merchant_id,
                    provider=provider,
                    account_id=account_id,
                    wrapping_key_id=wrapping_id,
                    wrapped_secret=wrapped,
                    created_at=self.clock(),
                )
            )

    def kept_for_deletion(self, merchant_id: str, provider: str) -> tuple[str | None, str] | None:
        """``(account id, secret)`` kept by ``keep_for_deletion``, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(deletion_credentials).where(
                    deletion_credentials.c.merchant_id == merchant_id, deletion_credentials.c.provider == provider
                )
            ).first()
        if row is None:
            return None
        secret = self.keyring.unwrap(row.wrapping_key_id, row.wrapped_secret, _credential_aad(merchant_id, provider))
        return row.account_id, secret.decode()

    def forget_for_deletion(self, merchant_id: str, provider: str) -> bool:
        with self.engine.begin() as conn:
            count = conn.execute(
                delete(deletion_credentials).where(
                    deletion_credentials.c.merchant_id == merchant_id, deletion_credentials.c.provider == provider
                )
            ).rowcount
        return bool(count)

    # -- rotation ------------------------------------------------------------------
    def rotate(self, batch_size: int = 500) -> int:
        """Re-wrap every merchant key not under the primary master, in small batches.

        Each batch commits on its own, so running processes keep working: they hold
        both masters and open whichever wrapped a key.
        """
        primary = self.keyring.primary_id
        rewrapped = 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(
                        merchant_keys.c.merchant_id,
                        merchant_keys.c.wrapping_key_id,
                        merchant_keys.c.wrapped_key,
                    )
                    .where(merchant_keys.c.wrapping_key_id != primary)
                    .limit(batch_size)
                ).all()
                for row in rows:
                    aad = _merchant_aad(row.merchant_id)
                    key = self.keyring.unwrap(row.wrapping_key_id, row.wrapped_key, aad)
                    new_id, wrapped = self.keyring.wrap(key, aad)
                    conn.execute(
                        update(merchant_keys)
                        .where(
                            merchant_keys.c.merchant_id == row.merchant_id,
                            merchant_keys.c.wrapping_key_id == row.wrapping_key_id,
                        )
                        .values(wrapping_key_id=new_id, wrapped_key=wrapped)
                    )
            rewrapped += len(rows)
            if len(rows) < batch_size:
                self._rotate_deletion_credentials(primary)
                self._rotate_record_keys(primary)
                return rewrapped

    def _rotate_deletion_credentials(self, primary: str) -> None:
        """The few secrets kept for deletions at providers, re-wrapped too."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(deletion_credentials).where(deletion_credentials.c.wrapping_key_id != primary)
            ).all()
            for row in rows:
                aad = _credential_aad(row.merchant_id, row.provider)
                new_id, wrapped = self.keyring.wrap(
                    self.keyring.unwrap(row.wrapping_key_id, row.wrapped_secret, aad), aad
                )
                conn.execute(
                    update(deletion_credentials)
                    .where(
                        deletion_credentials.c.merchant_id == row.merchant_id,
                        deletion_credentials.c.provider == row.provider,
                    )
                    .values(wrapping_key_id=new_id, wrapped_secret=wrapped)
                )

    def _rotate_record_keys(self, primary: str) -> None:
        """Records keys, re-wrapped like merchant keys (one per shop that was ever invoiced)."""
        with self.engine.begin() as conn:
            rows = conn.execute(select(record_keys).where(record_keys.c.wrapping_key_id != primary)).all()
            for row in rows:
                aad = _record_aad(row.merchant_id)
                new_id, wrapped = self.keyring.wrap(self.keyring.unwrap(row.wrapping_key_id, row.wrapped_key, aad), aad)
                conn.execute(
                    update(record_keys)
                    .where(record_keys.c.merchant_id == row.merchant_id)
                    .values(wrapping_key_id=new_id, wrapped_key=wrapped)
                )

    def wrapping_key_ids(self) -> dict[str, int]:
        """How many merchant keys each master key wraps (for `sera keys status`)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(merchant_keys.c.wrapping_key_id, merchant_keys.c.merchant_id)).all()
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.wrapping_key_id] = counts.get(row.wrapping_key_id, 0) + 1
        return counts
