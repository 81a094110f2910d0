"""Field types for everything that enters over HTTP: a value no field can hold is a 422 naming it."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, BeforeValidator

from sera.storage.models import ID_SHAPE
from sera.storage.text import text_problem

ID_PATTERN = f"^{ID_SHAPE}$"


def _storable(multiline: bool) -> AfterValidator:
    def check(value: str) -> str:
        problem = text_problem(value, multiline=multiline)
        if problem:
            raise ValueError(f"text {problem}")
        return value

    return AfterValidator(check)


Text = Annotated[str, _storable(multiline=True)]
"""Free text (a message, details): tabs and line breaks allowed."""
Line = Annotated[str, _storable(multiline=False)]
"""One line: a name, a number, an email, a domain."""
IdPath = Annotated[str, Path(pattern=ID_PATTERN, description="a record's id")]
"""A record id in a path: anything else is a 422 before a query is made."""


def _iso(value: object) -> object:
    """Dates and times come as ISO 8601 text; a bare number (which pydantic would read as
    seconds since 1970) is refused."""
    if isinstance(value, str) and not _ISO_START.match(value):
        raise ValueError("not an ISO 8601 date, like 2026-12-01")
    return value


_ISO_START = re.compile(r"^\d{4}-\d{2}-\d{2}")
Instant = Annotated[datetime, BeforeValidator(_iso)]
Day = Annotated[date, BeforeValidator(_iso)]
