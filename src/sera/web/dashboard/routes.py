"""The dashboard's routes under ``/dashboard``, and how its refusals are answered."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sera.web.dashboard import (
    account,
    analytics,
    appointments,
    calendars,
    calls,
    cookies,
    customers,
    developer,
    embedded,
    home,
    hubspot,
    login,
    privacy,
    settings,
    team,
    tickets,
    usage,
    webhooks,
)
from sera.web.dashboard.access import PREFIX, ForbiddenError, LoginRequiredError, PageNotFoundError, login_url
from sera.web.dashboard.render import render
from sera.web.fields import ID_PATTERN

_ID = re.compile(ID_PATTERN)


def _ids_have_an_ids_shape(request: Request) -> None:
    """A path id no record can have is the 404 page before any query is made."""
    for name, value in request.path_params.items():
        if name.endswith("_id") and not _ID.match(value):
            raise PageNotFoundError


router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(_ids_have_an_ids_shape)])
for module in (
    login,
    embedded,
    home,
    calls,
    appointments,
    tickets,
    customers,
    analytics,
    settings,
    privacy,
    team,
    account,
    cookies,
    developer,
    webhooks,
    calendars,
    hubspot,
    usage,
):
    router.include_router(module.router)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequiredError)
    target = login_url(exc.next_path if request.method == "GET" else PREFIX + "/")
    if request.headers.get("hx-request") == "true":  # htmx follows this header, not a 303
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ForbiddenError)
    user = getattr(request.state, "dashboard_user", None)
    return render(request, "dashboard/error.html", user=user, title="Not allowed", message=exc.message, status_code=403)


async def _embedded_refused(request: Request, exc: Exception) -> Response:
    """Inside the Shopify admin without a good session token: a page load goes by the bounce
    page for a fresh one; anything else is refused (htmx reloads the page through it)."""
    target = embedded.bounce_url(request, PREFIX)
    if request.method == "GET" and request.headers.get("hx-request") != "true":
        return RedirectResponse(target, status_code=303)
    return Response(status_code=401, headers={"HX-Redirect": target})


async def _not_found(request: Request, exc: Exception) -> Response:
    user = getattr(request.state, "dashboard_user", None)
    return render(
        request,
        "dashboard/error.html",
        user=user,
        title="Not found",
        message="There is nothing here: it may have been deleted, or the link is wrong.",
        status_code=404,
    )


MAX_FORM_BYTES = 256 * 1024  # the largest form is the FAQ or a workflow: a quarter of a megabyte is ample


class FormSizeCap:
    """Refuse a dashboard request body over ``MAX_FORM_BYTES`` with 413 before anything parses
    it, whether it declares its length or streams it (a form is small: it is read whole first)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        too_large = PlainTextResponse("this form is too large", status_code=413)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
            await too_large(scope, receive, send)
            return
        messages: list[Message] = []
        size, more = 0, scope["method"] not in ("GET", "HEAD")
        while more:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            more = message["type"] == "http.request" and message.get("more_body", False)
            if size > MAX_FORM_BYTES:
                await too_large(scope, receive, send)
                return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def install(app: FastAPI) -> None:
    app.add_middleware(FormSizeCap)
    app.include_router(router)
    app.add_exception_handler(LoginRequiredError, _login_required)
    app.add_exception_handler(ForbiddenError, _forbidden)
    app.add_exception_handler(PageNotFoundError, _not_found)
    app.add_exception_handler(embedded.EmbeddedRefusedError, _embedded_refused)
