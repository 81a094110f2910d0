"""Keyset pagination shared by every list: stable under inserts, fast at any depth."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from sera.storage.models import ID_SHAPE

T = TypeVar("T")
AnySelect = TypeVar("AnySelect", bound="Select[*tuple[Any, ...]]")
MAX_LIMIT = 200
_ROW_ID = re.compile(ID_SHAPE)


class InvalidCursorError(ValueError):
    pass


@dataclass(frozen=True)
class PageRequest:
    limit: int = 50
    cursor: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(at: datetime, row_id: str) -> str:
    raw = json.dumps([at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor holds; anything but a cursor this module made is InvalidCursorError."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        text_at, row_id = json.loads(raw)
        at = datetime.fromisoformat(text_at)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursorError("invalid cursor") from exc
    if at.tzinfo is None or not isinstance(row_id, str) or not _ROW_ID.fullmatch(row_id):
        raise InvalidCursorError("invalid cursor")
    return at, row_id


def keyset(
    stmt: AnySelect,
    time_column: InstrumentedAttribute[datetime],
    id_column: InstrumentedAttribute[str],
    request: PageRequest,
) -> AnySelect:
    """Newest first, filtered by [since, until), one extra row to know if more follow."""
    if request.since is not None:
        stmt = stmt.where(time_column >= request.since)
    if request.until is not None:
        stmt = stmt.where(time_column < request.until)
    if request.cursor:
        at, row_id = decode_cursor(request.cursor)
        stmt = stmt.where(or_(time_column < at, and_(time_column == at, id_column < row_id)))
    limit = max(1, min(request.limit, MAX_LIMIT))
    return stmt.order_by(time_column.desc(), id_column.desc()).limit(limit + 1)


def page_of(rows: Sequence[T], request: PageRequest, key: Any) -> tuple[list[T], str | None]:
    """Cut the extra row and make the cursor for the next page from the last kept row."""
    limit = max(1, min(request.limit, MAX_LIMIT))
    kept = list(rows[:limit])
    if len(rows) <= limit or not kept:
        return kept, None
    at, row_id = key(kept[-1])
    return kept, encode_cursor(at, row_id)
