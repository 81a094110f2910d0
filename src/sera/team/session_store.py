"""Where dashboard sessions are kept: the ``dashboard_sessions`` table, or Redis where
``SERA_REDIS_URL`` is set (several web processes then share them without a database write).

Both keep the same record (a ``DashboardSession``; from Redis it is a detached one) and answer
the same three questions: one session by id, a member's sessions, and "keep this". An ended
session is kept in the table (its end and reason are history) and dropped from Redis.
The store is wired once (``sera.bootstrap``) into the database's sessions, as the clock is, so
``store_of(uow)`` finds it from any unit of work.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Protocol

from redis import Redis
from sqlalchemy import select

from sera.storage.database import UnitOfWork
from sera.storage.models import DashboardSession

SERVICE = "dashboard_sessions"
KEEP_IN_REDIS = timedelta(hours=13)  # a little beyond the absolute limit: the record's own times decide
_FIELDS = ("id", "member_id", "merchant_id", "stage", "csrf_token", "via", "ended_reason")
_TIMES = ("created_at", "last_seen_at", "reauthenticated_at", "ended_at")


class SessionStore(Protocol):
    def get(self, uow: UnitOfWork, sid: str) -> DashboardSession | None: ...

    def keep(self, uow: UnitOfWork, row: DashboardSession) -> None: ...

    def of_member(self, uow: UnitOfWork, member_id: str) -> list[DashboardSession]: ...


class TableSessions:
    """Sessions as rows of the unit of work's transaction (they commit with it)."""

    def get(self, uow: UnitOfWork, sid: str) -> DashboardSession | None:
        return uow.session.get(DashboardSession, sid)

    def keep(self, uow: UnitOfWork, row: DashboardSession) -> None:
        uow.session.add(row)
        uow.session.flush()

    def of_member(self, uow: UnitOfWork, member_id: str) -> list[DashboardSession]:
        return list(
            uow.session.execute(
                select(DashboardSession).where(
                    DashboardSession.member_id == member_id, DashboardSession.ended_at.is_(None)
                )
            ).scalars()
        )


class RedisSessions:
    """Sessions as JSON under ``sera:dashboard:session:<id>``, with a set of ids per member."""

    def __init__(self, url: str, prefix: str = "sera:dashboard:") -> None:
        self.redis = Redis.from_url(url)
        self.prefix = prefix

    def _key(self, sid: str) -> str:
        return f"{self.prefix}session:{sid}"

    def _member(self, member_id: str) -> str:
        return f"{self.prefix}member:{member_id}"

    def get(self, uow: UnitOfWork, sid: str) -> DashboardSession | None:
        raw = self.redis.get(self._key(sid))
        return _load(raw) if raw else None

    def keep(self, uow: UnitOfWork, row: DashboardSession) -> None:
        if row.ended_at is not None:
            with self.redis.pipeline() as pipe:
                pipe.delete(self._key(row.id))
                pipe.srem(self._member(row.member_id), row.id)
                pipe.execute()
            return
        with self.redis.pipeline() as pipe:
            pipe.set(self._key(row.id), _dump(row), ex=KEEP_IN_REDIS)
            pipe.sadd(self._member(row.member_id), row.id)
            pipe.expire(self._member(row.member_id), KEEP_IN_REDIS)
            pipe.execute()

    def _members(self, member_id: str) -> set[Any]:
        found: set[Any] = self.redis.smembers(self._member(member_id))
        return found

    def of_member(self, uow: UnitOfWork, member_id: str) -> list[DashboardSession]:
        ids = sorted(sid.decode() if isinstance(sid, bytes) else str(sid) for sid in self._members(member_id))
        if not ids:
            return []
        found = self.redis.mget([self._key(sid) for sid in ids])
        gone = [sid for sid, raw in zip(ids, found, strict=True) if raw is None]  # expired: forget them
        if gone:
            self.redis.srem(self._member(member_id), *gone)
        return [_load(raw) for raw in found if raw is not None]


def _dump(row: DashboardSession) -> str:
    data: dict[str, Any] = {name: getattr(row, name) for name in _FIELDS}
    for name in _TIMES:
        value = getattr(row, name)
        data[name] = value.isoformat() if value is not None else None
    return json.dumps(data)


def _load(raw: bytes | str) -> DashboardSession:
    data = json.loads(raw)
    times = {name: datetime.fromisoformat(data[name]) if data.get(name) else None for name in _TIMES}
    return DashboardSession(**{name: data.get(name) for name in _FIELDS}, **times)


TABLE = TableSessions()


def store_of(uow: UnitOfWork) -> SessionStore:
    store: SessionStore = uow.session.info.get(SERVICE) or TABLE
    return store
