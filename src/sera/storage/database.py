"""Engines, merchant-scoped sessions and the unit of work.

Invariants:
- A session opened for a merchant can only read and write that merchant's rows: every
  ORM statement gets ``merchant_id = :merchant`` added on each merchant-owned table,
  and a flush that would write another merchant's row raises. The statements of the
  busiest paths (a caller's turn) are built once with that filter written in
  (``prescoped``), which is checked when they are built and bound on every run.
- A unit of work rolls back unless ``commit()`` is called.
- A new row's timestamps (``stamped()`` columns) the code left empty are set at flush from
  the database's clock, the one clock of its ``Sera``: never the machine's own time.
- On SQLite a writing unit of work starts with ``BEGIN IMMEDIATE``, so concurrent
  writers queue instead of failing half-way; PostgreSQL uses row locks.
- On SQLite the writing units of work of one process also queue on a lock of their own
  first, which hands the database to the next writer the moment it is free. Between
  processes, a writer asks for SQLite's lock again every half millisecond. (SQLite's own
  busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ms ... up to 100 ms between tries, so under
  load a writer waits long past the moment the lock was freed.)
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple, cast

from sqlalchemy import (
    BindParameter,
    CursorResult,
    Engine,
    Executable,
    Result,
    Table,
    bindparam,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, ClauseElement, ColumnElement
from sqlalchemy.sql.selectable import TypedReturnsRows
from sqlalchemy.sql.util import find_tables

from sera.clock import Clock
from sera.storage.models import STAMPED, Base, Merchant, MerchantOwned

if TYPE_CHECKING:
    from sera.crypto.vault import Vault


def rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched."""
    return int(cast(CursorResult[Any], result).rowcount)


class CrossMerchantWriteError(RuntimeError):
    """A session scoped to one merchant tried to write another merchant's row."""


MERCHANT: BindParameter[str] = bindparam("scope_merchant_id")  # the unit of work's merchant, in a prescoped statement
_PRESCOPED = "sera_prescoped"
Statement = TypeVar("Statement", bound=Executable)
Row = TypeVarTuple("Row")


def prescoped(statement: Statement) -> Statement:
    """A statement built once, at import, that filters every merchant-owned table it reads by
    ``MERCHANT`` itself (``Call.merchant_id == MERCHANT``, in the join's ON for an outer join).

    The sessions' per-statement scoping (``with_loader_criteria``, about 0.3 ms a statement)
    is skipped for it, so the busiest paths use these. A merchant-owned table the
    statement reads without that filter is an error here; ``UnitOfWork.run`` binds the
    unit of work's own merchant.
    """
    owned = {mapper.local_table for mapper in Base.registry.mappers if issubclass(mapper.class_, MerchantOwned)}
    filtered: set[Table] = set()
    clause = cast(ClauseElement, statement)
    for element in visitors.iterate(clause):
        if isinstance(element, BinaryExpression) and element.operator is operators.eq:
            column, value = element.left, element.right
            if isinstance(column, ColumnElement) and isinstance(value, BindParameter) and value.key == MERCHANT.key:
                table = getattr(column, "table", None)
                if getattr(column, "name", None) == "merchant_id" and isinstance(table, Table):
                    filtered.add(table)
    unfiltered = {t.name for t in find_tables(clause, include_joins=True) if t in owned and t not in filtered}
    if unfiltered:
        raise ValueError(f"prescoped statement reads {sorted(unfiltered)} without merchant_id == MERCHANT")
    return statement.execution_options(**{_PRESCOPED: True})


BUSY_TIMEOUT_SECONDS = 30  # a writer waiting longer than this for SQLite's lock fails
BUSY_POLL_SECONDS = 0.0005
BUSY_POLL_PATIENCE = 0.1


def conflict_insert(connection: Connection) -> Callable[[Any], postgresql.Insert | sqlite.Insert]:
    """The connection's dialect's ``insert``, which can say what happens ON CONFLICT (one
    statement instead of a savepoint, an insert and a caught IntegrityError)."""
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_SECONDS}, **kwargs)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        driver = conn.connection.driver_connection  # straight to sqlite3: no statement overhead
        if conn.get_execution_options().get("sqlite_begin", "IMMEDIATE") == "IMMEDIATE":
            _begin_immediate(driver)
        else:
            driver.execute("BEGIN DEFERRED")

    return engine


def _begin_immediate(driver: sqlite3.Connection) -> None:
    """Take SQLite's write lock, asking again every BUSY_POLL_SECONDS while another process
    holds it (every 10x as long once it has held it for BUSY_POLL_PATIENCE: a long write)."""
    driver.execute("PRAGMA busy_timeout=0")
    try:
        started = time.monotonic()
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                waited = time.monotonic() - started
                if not error.sqlite_errorname.startswith("SQLITE_BUSY") or waited > BUSY_TIMEOUT_SECONDS:
                    raise
            time.sleep(BUSY_POLL_SECONDS * (1 if waited < BUSY_POLL_PATIENCE else 10))
    finally:
        driver.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def restrict_sqlite_file(engine: Engine) -> None:
    """Only the owner may read a SQLite database file (it holds ciphertext, but still)."""
    database = engine.url.database
    if is_sqlite(engine) and database and database != ":memory:" and Path(database).exists():
        Path(database).chmod(0o600)


def _scope_statements(state: ORMExecuteState) -> None:
    merchant_id = state.session.info.get("merchant_id")
    if merchant_id is None or state.is_column_load or state.is_relationship_load:
        return
    if state.execution_options.get(_PRESCOPED):
        params = state.parameters
        if not isinstance(params, Mapping) or params.get(MERCHANT.key) != merchant_id:
            raise RuntimeError("a prescoped statement runs for its unit of work's own merchant (UnitOfWork.run)")
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            MerchantOwned,
            lambda cls: cls.merchant_id == merchant_id,
            include_aliases=True,
            track_closure_variables=False,
        )
    )


def _check_writes(session: Session, _context: Any, _instances: Any) -> None:
    merchant_id = session.info.get("merchant_id")
    if merchant_id is None:
        return
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, MerchantOwned) and obj.merchant_id != merchant_id:
            raise CrossMerchantWriteError(f"{type(obj).__name__} belongs to another merchant")


def clock_of(session: Session) -> datetime:
    """The time now, as the session's Sera says it is."""
    clock: Clock = session.info["clock"]
    return clock()


def _stamped_columns(cls: type[Base]) -> tuple[str, ...]:
    return _STAMPED_COLUMNS.get(cls) or ()


# each model's stamped() columns, known once every model is mapped
_STAMPED_COLUMNS: dict[type[Base], tuple[str, ...]] = {
    mapper.class_: tuple(c.key for c in mapper.column_attrs if c.columns[0].info.get(STAMPED))
    for mapper in Base.registry.mappers
}


def _stamp_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    now: datetime | None = None
    for obj in session.new:
        for key in _stamped_columns(type(obj)):
            if getattr(obj, key) is None:
                now = now or clock_of(session)
                setattr(obj, key, now)


_MERCHANT_VERSION = prescoped(select(Merchant.updated_at).where(Merchant.id == MERCHANT))


class DatabaseBusyError(RuntimeError):
    """Another writer held the (SQLite) database for longer than BUSY_TIMEOUT_SECONDS."""


class Database:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        # re-entrant: a thread that opens a second writing unit of work inside a first behaves as
        # it would without this lock (SQLite itself decides)
        self.writer_lock: threading.RLock | None = threading.RLock() if is_sqlite(engine) else None
        # what every session carries besides the clock (``sera.bootstrap`` wires them: the
        # dashboard's session store, say), read back from ``session.info``
        self.services: dict[str, Any] = {}
        self._readonly_engine = engine.execution_options(sqlite_begin="DEFERRED")
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False)
        self._readonly_sessions = sessionmaker(bind=self._readonly_engine, expire_on_commit=False)
        event.listen(self._sessions, "do_orm_execute", _scope_statements)
        event.listen(self._readonly_sessions, "do_orm_execute", _scope_statements)
        for factory in (self._sessions, self._readonly_sessions):
            event.listen(factory, "before_flush", _check_writes)
            event.listen(factory, "before_flush", _stamp_new_rows)

    def session(self, merchant_id: str | None = None, *, readonly: bool = False) -> Session:
        factory = self._readonly_sessions if readonly else self._sessions
        session = factory()
        session.info.update(self.services)
        session.info["merchant_id"] = merchant_id
        session.info["clock"] = self.clock
        return session

    def ping(self) -> None:
        with self._readonly_engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


class UnitOfWork:
    """A transaction scoped to one merchant (or none, for system work)."""

    def __init__(self, db: Database, merchant_id: str | None = None, *, readonly: bool = False, vault: Vault) -> None:
        self._db = db
        self.merchant_id = merchant_id
        self.readonly = readonly
        self.vault = vault
        self.session: Session
        self._writer: threading.RLock | None = None

    def __enter__(self) -> UnitOfWork:
        self._writer = None if self.readonly else self._db.writer_lock
        if self._writer is not None and not self._writer.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            raise DatabaseBusyError("the database stayed busy; try again")
        self.session = self._db.session(self.merchant_id, readonly=self.readonly)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.session.close()  # rolls back what was not committed; loaded objects stay readable
        finally:
            if self._writer is not None:
                self._writer.release()

    def run(self, statement: TypedReturnsRows[*Row], **params: Any) -> Result[*Row]:
        """Execute a ``prescoped`` statement for this unit of work's merchant."""
        if self.merchant_id is None:
            raise RuntimeError("a prescoped statement needs a merchant-scoped unit of work")
        return self.session.execute(statement, {**params, MERCHANT.key: self.merchant_id})

    def merchant_version(self) -> datetime:
        """When this merchant's shop last changed (``Merchant.updated_at``): what per-shop caches key on."""
        return self.run(_MERCHANT_VERSION).scalar_one()

    def commit(self) -> None:
        if self.readonly:
            raise RuntimeError("read-only unit of work")
        self.session.commit()

    def now(self) -> datetime:
        return clock_of(self.session)

    def flush(self) -> None:
        self.session.flush()
