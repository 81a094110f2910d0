"""Dependencies of the merchant API: the caller's key and its unit of work."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sera.access.api_keys import InvalidApiKeyError, Principal, authenticate
from sera.bootstrap import Sera
from sera.observability import AUTH_FAILURES
from sera.storage.database import UnitOfWork
from sera.storage.paging import MAX_LIMIT, InvalidCursorError, Page, PageRequest
from sera.web.fields import Instant

log = logging.getLogger("sera.api")
T = TypeVar("T")
_bearer = HTTPBearer(auto_error=False, description="A key from `sera apikey create`")


def get_sera(request: Request) -> Sera:
    sera: Sera = request.app.state.sera
    return sera


SeraDep = Annotated[Sera, Depends(get_sera)]


def get_principal(
    sera: SeraDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    try:
        return authenticate(sera, credentials.credentials if credentials else None)
    except InvalidApiKeyError as exc:
        AUTH_FAILURES.labels(exc.reason).inc()
        log.warning("api key rejected", extra={"reason": exc.reason})
        raise HTTPException(401, "invalid or missing API key", headers={"WWW-Authenticate": "Bearer"}) from None


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: PrincipalDep) -> Principal:
    """Changes need an admin key; viewer keys only read."""
    if principal.role != "admin":
        raise HTTPException(403, "this needs an admin API key")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def get_reader(sera: SeraDep, principal: PrincipalDep) -> Iterator[UnitOfWork]:
    """A read-only unit of work that can only see the key's own merchant."""
    with sera.uow(principal.merchant_id, readonly=True) as uow:
        yield uow


ReaderDep = Annotated[UnitOfWork, Depends(get_reader)]


def invalid(message: str, *loc: str) -> RequestValidationError:
    """A 422 in FastAPI's own shape, naming the field (its value is not echoed back)."""
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": message}])


def read_page(load: Callable[[], Page[T]]) -> Page[T]:
    """A page of a list; a cursor this API did not return is a 422 naming it."""
    try:
        return load()
    except InvalidCursorError:
        raise invalid("not a cursor this API returned", "query", "cursor") from None


def require_offsets(**times: datetime | None) -> None:
    """Instants compared with stored UTC times need their offset: a naive one is a 422 naming it."""
    for name, value in times.items():
        if value is not None and value.tzinfo is None:
            raise invalid("needs a time zone offset, like 2026-12-01T09:00:00+00:00", "query", name)


def get_page(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_-]+$", description="`next_cursor` of the page before")
    ] = None,
    since: Annotated[Instant | None, Query(description="ISO 8601 with offset, inclusive")] = None,
    until: Annotated[Instant | None, Query(description="ISO 8601 with offset, exclusive")] = None,
) -> PageRequest:
    require_offsets(since=since, until=until)
    return PageRequest(limit=limit, cursor=cursor, since=since, until=until)


PageDep = Annotated[PageRequest, Depends(get_page)]
