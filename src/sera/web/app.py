"""The web application: health, metrics, the merchant API; channels mount here later."""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request, Response, routing
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sera import __version__
from sera.adapters.shopify.routes import router as shopify_app
from sera.adapters.twilio.webhooks import router as twilio_webhooks
from sera.adapters.vapi.webhooks import router as vapi_webhooks
from sera.bootstrap import Sera
from sera.observability import LATENCY, REQUESTS, set_request_id
from sera.storage.text import without_surrogates
from sera.web.api.billing import router as api_billing
from sera.web.api.calendars import router as api_calendars
from sera.web.api.hubspot import router as api_hubspot
from sera.web.api.notifications import router as api_notifications
from sera.web.api.v1 import router as api_v1
from sera.web.api.webhooks import router as api_webhooks
from sera.web.calendar import router as calendar_feed
from sera.web.dashboard import routes as dashboard
from sera.web.home import router as home
from sera.web.home import static_files
from sera.web.try_page import router as try_page

log = logging.getLogger("sera.http")


def _route_template(scope: Scope) -> str:
    """The matched route's pattern (never the concrete path, which may hold ids or numbers)."""
    return str(getattr(scope.get("route"), "path", "unmatched"))


class RequestContext:
    """Request id, metrics and one log line per request (route pattern, no query string).

    A plain ASGI middleware so it sees the route the router chose.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = set_request_id(headers.get(b"x-request-id", b"").decode("latin-1"))
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request failed", extra={"route": _route_template(scope), "method": scope["method"]})
            response = JSONResponse({"detail": "internal error", "request_id": request_id}, status_code=500)
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(route).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                },
            )


def _printable(part: object) -> object:
    return without_surrogates(part) if isinstance(part, str) else part


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A 422 naming each field, without the values: they may be personal data, or text that
    cannot be written back (a lone surrogate in a key is replaced)."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"type": e["type"], "loc": [_printable(part) for part in e["loc"]], "msg": _printable(e["msg"])}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


async def http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own answer, except that a 405's ``Allow`` lists every method of the path (the
    router names only the first route it tried)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code != 405:
        return await http_exception_handler(request, exc)
    methods = {
        method
        for context in routing.iter_route_contexts(request.app.routes)
        if context.path and compile_path(context.path)[0].match(request.url.path)
        for method in getattr(context, "methods", None) or ()
    }
    return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": ", ".join(sorted(methods))})


def create_app(sera: Sera) -> FastAPI:
    app = FastAPI(
        title="Sera",
        version=__version__,
        description="Sera's merchant API. Authenticate with `Authorization: Bearer <api key>`.",
        docs_url=None,  # served by sera.web.home from vendored assets: no CDN
        redoc_url=None,
    )
    app.state.sera = sera

    app.add_middleware(RequestContext)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "The database is not reachable"}})
    def readyz() -> JSONResponse:
        try:
            sera.db.ping()
        except Exception:
            log.warning("database not reachable")
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ready", "database": "ok"})

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(home)
    app.mount("/static", static_files, name="static")
    app.include_router(api_v1)
    app.include_router(api_webhooks)
    app.include_router(api_notifications)
    app.include_router(api_billing)
    app.include_router(api_hubspot)
    app.include_router(api_calendars)
    app.include_router(twilio_webhooks)
    app.include_router(vapi_webhooks)
    app.include_router(shopify_app)
    app.include_router(try_page, include_in_schema=not sera.settings.is_production)
    app.include_router(calendar_feed)
    dashboard.install(app)
    return app
