"""SQLite writers in different processes (here: different engines on one file) queue for the
write lock: a writer that finds it taken asks again until it is free, and gives up with
SQLite's own error after the busy timeout."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from sera.storage import database
from sera.storage.database import make_engine


def _engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER)"))
    return engine


def _hold_lock(engine: Engine, seconds: float, held: threading.Event) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        held.set()
        time.sleep(seconds)


def test_a_writer_waits_for_another_process_and_then_writes(tmp_path: Path) -> None:
    first, second = _engine(tmp_path / "db.sqlite"), _engine(tmp_path / "db.sqlite")
    held = threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(first, 0.2, held))
    holder.start()
    held.wait()
    with second.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
        busy_timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    holder.join()
    with second.connect() as conn:
        assert conn.execute(text("SELECT n FROM t ORDER BY rowid")).scalars().all() == [1, 2]
    assert busy_timeout == database.BUSY_TIMEOUT_SECONDS * 1000  # SQLite's own wait is back for statements


def test_a_writer_gives_up_after_the_busy_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_SECONDS", 0.05)
    first, second = _engine(tmp_path / "db.sqlite"), _engine(tmp_path / "db.sqlite")
    held = threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(first, 0.5, held))
    holder.start()
    held.wait()
    with pytest.raises(sqlite3.OperationalError, match="database is locked") as raised, second.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
    holder.join()
    assert raised.value.sqlite_errorname == "SQLITE_BUSY"
