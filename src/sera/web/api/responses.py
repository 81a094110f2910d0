"""The error responses the API documents, so that a client (and a fuzzer) knows every status it may get."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel


class ErrorOut(BaseModel):
    detail: str


_WHY = {
    400: "The body could not be read as JSON in UTF-8",
    401: "Missing, unknown or revoked API key",
    403: "This needs an admin API key",
    404: "No such record in this shop",
    409: "The request is not in a state that allows this",
    413: "The body is too large",
    503: "Not available on this server",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router: each code with its meaning and the ``{"detail": ...}`` body."""
    return {code: {"model": ErrorOut, "description": _WHY[code]} for code in codes}


def links(status: int, values: str | dict[str, str], *targets: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entry linking the ``status`` response to other operations (``"get /api/v1/tickets/{ticket_id}"``),
    their path parameters taken from this response: ``values`` is the expression for a target's one parameter
    (``"$response.body#/id"``), or one per parameter name. Clients, and a fuzzer's stateful phase, follow them
    to real records."""
    named = {}
    for target in targets:
        method, path = target.split(" ", 1)
        parameters = re.findall(r"\{([^}]+)\}", path)
        name = "_".join([method, *re.findall(r"[a-z]+", path.removeprefix("/api/v1"))])
        pointer = path.replace("~", "~0").replace("/", "~1")
        filled = values if isinstance(values, dict) else {parameters[0]: values}
        named[name] = {"operationRef": f"#/paths/{pointer}/{method}", "parameters": filled}
    return {status: {"links": named}}


def content(status: int, media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entry for a body that is not JSON (a calendar, a download)."""
    return {status: {"content": {media_type: {}}, "description": description}}
