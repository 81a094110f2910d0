"""HubSpot: the shop's connection (its account, the last sync, what waits, what HubSpot refused
and why), connecting with a private app's token and disconnecting. The same services as
``/api/v1/integrations/hubspot``; the token is never shown, not even to who typed it."""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from sera.bootstrap import Sera
from sera.integrations.hubspot import HubspotError, NotConnectedError, connect, disconnect, status
from sera.web.api.deps import SeraDep
from sera.web.dashboard.access import PREFIX, DashboardUser, requires
from sera.web.dashboard.render import render

router = APIRouter()
Manager = Annotated[DashboardUser, Depends(requires("hubspot.manage"))]
NOTICES = {
    "connected": "HubSpot is connected: calls and bookings from now on go to it.",
    "disconnected": "HubSpot is disconnected: nothing more goes to it but deletions owed to erased customers.",
}
BADGES = {"connected": "ok", "broken": "danger", "closing": "warn", "not_connected": ""}
LABELS = {"connected": "Connected", "broken": "Token refused: connect again"}
LABELS |= {"closing": "Disconnecting: sending the deletions owed to erased customers first"}


def _page(request: Request, sera: Sera, user: DashboardUser, *, status_code: int = 200, **context: Any) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        view = status(reader)
    return render(
        request,
        "dashboard/hubspot.html",
        user=user,
        title="HubSpot",
        zone=user.session.timezone,
        view=view,
        badges=BADGES,
        labels=LABELS,
        notice=NOTICES.get(request.query_params.get("done", "")),
        status_code=status_code,
        **context,
    )


@router.get("/hubspot")
def hubspot_page(request: Request, sera: SeraDep, user: Manager) -> Response:
    return _page(request, sera, user)


@router.post("/hubspot")
def hubspot_connect(
    request: Request, sera: SeraDep, user: Manager, token: Annotated[str, Form(max_length=500)] = ""
) -> Response:
    try:
        connect(sera, user.merchant_id, token, actor=user.actor)
    except HubspotError as exc:
        return _page(request, sera, user, status_code=422, connect_error=str(exc))
    return RedirectResponse(f"{PREFIX}/hubspot?done=connected", status_code=303)


@router.post("/hubspot/disconnect")
def hubspot_disconnect(sera: SeraDep, user: Manager) -> Response:
    with sera.uow(user.merchant_id) as uow, suppress(NotConnectedError):  # already gone: the page says so
        disconnect(uow, actor=user.actor)
        uow.commit()
    return RedirectResponse(f"{PREFIX}/hubspot?done=disconnected", status_code=303)
