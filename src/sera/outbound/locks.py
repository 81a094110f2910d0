"""Coordination between workers that need no table of their own.

- **The per-action lock** is held by the worker carrying out one intended message, from
  before it reads the action until after it recorded the outcome. It dies with its
  process: a PostgreSQL advisory lock ends with the connection, a ``flock`` with the file
  descriptor. So a free lock on an action left ``sending`` proves its worker is gone,
  and only then is the provider asked what happened. On SQLite every worker shares the
  database file, hence the host, so the lock files sit next to it.
- **The sending-number throttle** hands out send slots per sending number (Twilio takes
  about one message a second per long code). On Redis (several hosts) a Lua script
  reserves the slot atomically; without Redis the job queue is a local SQLite file, so
  every worker is on this host and a locked file per number does the same.

Keys are hashes of ids and numbers: no personal data on disk or in Redis.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from redis import Redis
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from sera.bootstrap import Sera
from sera.storage.database import UnitOfWork, is_sqlite

LOCK_SLOTS = 4096  # lock files: two actions share one only by a rare hash collision (then one waits a moment)
POLL = 0.01


class ActionLocks(Protocol):
    def hold(self, keys: Sequence[str], wait: float) -> AbstractContextManager[set[str]]:
        """Yields the keys whose locks are held, once all are or ``wait`` seconds have passed."""


class Throttle(Protocol):
    def reserve(self, key: str, now: datetime, interval: timedelta) -> datetime:
        """The first free slot at or after ``now`` for ``key``; it is taken (the next one is ``interval`` later)."""


def _digest(value: str, size: int = 8) -> bytes:
    return hashlib.blake2b(value.encode(), digest_size=size, person=b"sera.outbound").digest()


def _poll(take: Callable[[list[str]], set[str]], keys: Sequence[str], wait: float) -> set[str]:
    """Take what is free; retry the rest until ``wait`` runs out (keys in order: no two holders wait on
    each other for long, and never forever)."""
    deadline = time.monotonic() + wait
    held: set[str] = set()
    missing = sorted(set(keys))
    while True:
        held |= take(missing)
        missing = [k for k in missing if k not in held]
        if not missing or time.monotonic() >= deadline:
            return held
        time.sleep(POLL)


class PostgresActionLocks:
    """Transaction-scoped advisory locks on a connection of their own (released by rollback or death)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def hold(self, keys: Sequence[str], wait: float) -> Iterator[set[str]]:
        with self._engine.connect() as conn:

            def take(missing: list[str]) -> set[str]:
                numbers = {int.from_bytes(_digest(k), "big", signed=True): k for k in missing}
                rows = conn.execute(
                    text("SELECT n, pg_try_advisory_xact_lock(n) FROM unnest(CAST(:ns AS bigint[])) AS n"),
                    {"ns": list(numbers)},
                )
                return {numbers[n] for n, got in rows if got}

            try:
                yield _poll(take, keys, wait)
            finally:
                conn.rollback()


class FileActionLocks:
    """``flock`` on one of ``LOCK_SLOTS`` files; each hold opens its own descriptors, so threads exclude too."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._directory = directory

    @contextmanager
    def hold(self, keys: Sequence[str], wait: float) -> Iterator[set[str]]:
        slots = {k: int.from_bytes(_digest(k), "big") % LOCK_SLOTS for k in keys}
        opened: dict[int, int] = {}  # slot -> descriptor holding its lock

        def take(missing: list[str]) -> set[str]:
            for slot in sorted({slots[k] for k in missing} - set(opened)):
                fd = os.open(self._directory / f"{slot:04x}.lock", os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                opened[slot] = fd
            return {k for k in missing if slots[k] in opened}

        try:
            yield _poll(take, keys, wait)
        finally:
            for fd in opened.values():
                os.close(fd)  # releases its flock


# Slot arithmetic in whole microseconds since the epoch, exact and the same on every backend.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _moment(micros: int) -> datetime:
    return _EPOCH + micros * _MICROSECOND


# Lua numbers are doubles (exact for microsecond timestamps) that tostring() would print in
# scientific notation: every number crosses to Redis through string.format('%d').
_RESERVE = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local taken = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, taken)
local ttl = math.floor((slot + interval - now) / 1000) + 60000
redis.call('SET', KEYS[1], string.format('%d', slot + interval), 'PX', string.format('%d', ttl))
return string.format('%d', slot)
"""


class RedisThrottle:
    """Keys live under the job queue's name, like the queue itself (one Redis can serve several Seras)."""

    def __init__(self, url: str, namespace: str = "sera") -> None:
        self._redis = Redis.from_url(url)
        self._script = self._redis.register_script(_RESERVE)
        self._prefix = f"{namespace}:outbound:rate:"

    def reserve(self, key: str, now: datetime, interval: timedelta) -> datetime:
        name = self._prefix + _digest(key, 12).hex()
        slot = self._script(keys=[name], args=[_micros(now), interval // _MICROSECOND])
        return _moment(int(slot))


class FileThrottle:
    """One small file per sending number holding the next free slot, read and written under ``flock``."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._directory = directory

    def reserve(self, key: str, now: datetime, interval: timedelta) -> datetime:
        fd = os.open(self._directory / f"{_digest(key, 12).hex()}.rate", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 32, 0).strip()
            slot = max(_micros(now), int(raw) if raw.isdigit() else 0)
            following = str(slot + interval // _MICROSECOND).encode().ljust(32)
            os.pwrite(fd, following, 0)
            return _moment(slot)
        finally:
            os.close(fd)  # releases the flock


_shared_lock = threading.Lock()  # one of each per process: a Redis connection pool is worth reusing
_file_locks: dict[Path, FileActionLocks] = {}
_file_throttles: dict[Path, FileThrottle] = {}
_redis_throttles: dict[tuple[str, str], RedisThrottle] = {}


def _sqlite_directory(engine: Engine) -> Path:
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:":
        return Path(tempfile.gettempdir()) / f"sera-{os.getpid()}"
    path = Path(database)
    return path.with_name(path.name + ".locks")


def one_at_a_time(uow: UnitOfWork, purpose: str) -> None:
    """Transactions of the shop with this purpose queue behind each other until they end: SQLite's
    write lock already does this; PostgreSQL takes a transaction-scoped advisory lock."""
    if uow.session.get_bind().dialect.name != "sqlite":
        key = f"sera.outbound.{purpose}:{uow.merchant_id}"
        uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def action_locks(sera: Sera) -> ActionLocks:
    """Where the database is: advisory locks on PostgreSQL, lock files beside a SQLite database."""
    engine = sera.db.engine
    if not is_sqlite(engine):
        return PostgresActionLocks(engine)
    directory = _sqlite_directory(engine) / "actions"
    with _shared_lock:
        return _file_locks.setdefault(directory, FileActionLocks(directory))


def throttle(sera: Sera, namespace: str = "sera") -> Throttle:
    """Redis when the queue is on Redis (workers on several hosts), else files beside the local queue;
    ``namespace`` is the queue's name."""
    url = sera.settings.redis_url
    with _shared_lock:
        if url:
            key = (url, namespace)
            return _redis_throttles.get(key) or _redis_throttles.setdefault(key, RedisThrottle(url, namespace))
        directory = Path(str(sera.settings.jobs_path) + ".locks") / "rates"
        return _file_throttles.setdefault(directory, FileThrottle(directory))
