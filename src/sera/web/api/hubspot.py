"""The merchant API's HubSpot connection (``/api/v1/integrations/hubspot``).

Thin: parse, call ``sera.integrations.hubspot``, map errors. Admin keys only; the token goes
in and is never given back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from sera.integrations.hubspot import (
    HubspotError,
    HubspotUnavailableError,
    NotConnectedError,
    connect,
    disconnect,
    status,
)
from sera.web.api.deps import AdminDep, ReaderDep, SeraDep
from sera.web.api.responses import errors

router = APIRouter(prefix="/api/v1", tags=["integrations"], responses=errors(401))

Token = Annotated[
    str,
    Field(
        min_length=1,
        max_length=500,
        description="A HubSpot private app's access token (scopes: crm.objects.contacts.read/write)",
        examples=["pat-na1-11111111-2222-3333-4444-555555555555"],
    ),
]


class HubspotIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    token: Token


class FailureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kind: str = Field(
        description="`call` or `appointment` (`object_id`: Sera's id), or a deletion at HubSpot after an "
        "erasure: `erase_call`, `erase_meeting`, `erase_contact` (`object_id`: HubSpot's id)"
    )
    object_id: str
    error: str | None = Field(description="HubSpot's reason")


class HubspotOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    connected: bool
    status: str = Field(
        description="`connected`, `broken` (HubSpot refused the token: connect again), `closing` "
        "(disconnected, still sending the deletions owed to erased customers; the token is forgotten "
        "after them) or `not_connected`"
    )
    portal_id: str | None = Field(description="the HubSpot account")
    connected_at: datetime | None
    last_sync_at: datetime | None = Field(description="when HubSpot last took a call or an appointment")
    last_error: str | None = Field(description="what went wrong last, in HubSpot's words")
    last_error_at: datetime | None
    paused_until: datetime | None = Field(description="the queue waits until then (HubSpot's rate limit or an outage)")
    pending: int = Field(description="calls, appointments and deletions waiting to be sent, in order")
    failed: int = Field(description="refused by HubSpot (see recent_failures)")
    recent_failures: list[FailureOut]


@router.put("/integrations/hubspot", response_model=HubspotOut, responses=errors(400, 403, 503))
def hubspot_connect(sera: SeraDep, principal: AdminDep, body: HubspotIn) -> HubspotOut:
    """Connect the shop's HubSpot account: the token is checked with HubSpot, then kept sealed.
    Calls and appointments from now on are written to it. A 400 gives HubSpot's reason."""
    try:
        view = connect(sera, principal.merchant_id, body.token, actor=principal.actor)
    except HubspotUnavailableError as exc:
        raise HTTPException(503, str(exc)) from None
    except HubspotError as exc:
        raise HTTPException(400, str(exc)) from None
    return HubspotOut.model_validate(view)


@router.get("/integrations/hubspot", response_model=HubspotOut, responses=errors(403))
def hubspot_status(principal: AdminDep, uow: ReaderDep) -> HubspotOut:
    """The connection and its queue: last sync, what waits, what failed and why (never the token)."""
    return HubspotOut.model_validate(status(uow))


@router.delete("/integrations/hubspot", status_code=204, response_class=Response, responses=errors(403, 404))
def hubspot_disconnect(sera: SeraDep, principal: AdminDep) -> Response:
    """Stop sending to HubSpot and drop what waits to be sent (what HubSpot holds stays there),
    except deletions owed to erased customers: the status is `closing` until they are sent,
    then the token is forgotten."""
    with sera.uow(principal.merchant_id) as uow:
        try:
            disconnect(uow, actor=principal.actor)
        except NotConnectedError:
            raise HTTPException(404, "HubSpot is not connected") from None
        uow.commit()
    return Response(status_code=204)
