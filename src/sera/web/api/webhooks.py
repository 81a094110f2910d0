"""The merchant API's webhook endpoints (``/api/v1/webhook-endpoints``) and their deliveries.

Thin: parse, call ``sera.integrations.webhooks``, map errors. Admin keys manage endpoints;
the secret is in the answer to the create only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from sera.integrations.sharing import set_sharing, shares_interaction_data
from sera.integrations.webhooks import (
    EVENTS,
    DeliveryNotFoundError,
    EndpointNotFoundError,
    WebhookError,
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_deliveries,
    list_endpoints,
    replay,
    rotate_secret,
    update_endpoint,
)
from sera.web.api.deps import AdminDep, PageDep, ReaderDep, SeraDep, invalid, read_page
from sera.web.api.responses import errors, links
from sera.web.api.v1 import ListOut
from sera.web.fields import IdPath

router = APIRouter(prefix="/api/v1", tags=["webhooks"], responses=errors(401))

Url = Annotated[str, Field(min_length=1, max_length=2000, examples=["https://crm.example.com/hooks/sera"])]
Events = Annotated[list[str], Field(min_length=1, max_length=len(EVENTS), description=f"any of: {', '.join(EVENTS)}")]
ENDPOINT_OPERATIONS = (
    "get /api/v1/webhook-endpoints/{endpoint_id}",
    "patch /api/v1/webhook-endpoints/{endpoint_id}",
    "delete /api/v1/webhook-endpoints/{endpoint_id}",
    "get /api/v1/webhook-endpoints/{endpoint_id}/deliveries",
    "post /api/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
)


class EndpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    url: str
    events: list[str]
    enabled: bool
    created_at: datetime
    failing_since: datetime | None
    disabled_reason: str | None
    rotation_ends_at: datetime | None = Field(
        default=None, description="after a rotation: events are signed with the previous secret too until then"
    )


class CreatedEndpointOut(EndpointOut):
    secret: str = Field(description="`whsec_...`: verify signatures with it. Shown once.")


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url
    events: Events


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url | None = None
    events: Events | None = None
    enabled: StrictBool | None = None


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str = Field(description="the `webhook-id` the receiver saw (stable across retries)")
    endpoint_id: str
    event_type: str
    status: str = Field(description="`pending`, `delivered`, `failed` (after three days), `erased` (never sent)")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _rules(sera: SeraDep) -> dict[str, bool]:
    allow = sera.settings.webhooks_allow_private
    return {"allow_private": allow, "require_https": sera.settings.is_production or not allow}


@router.post(
    "/webhook-endpoints",
    status_code=201,
    response_model=CreatedEndpointOut,
    responses={**errors(400, 403), **links(201, "$response.body#/id", *ENDPOINT_OPERATIONS)},
)
def create(sera: SeraDep, principal: AdminDep, body: EndpointIn) -> CreatedEndpointOut:
    """Subscribe a URL to events; the answer holds its signing secret, once."""
    with sera.uow(principal.merchant_id) as uow:
        try:
            view, secret = create_endpoint(uow, body.url, body.events, actor=principal.actor, **_rules(sera))
        except WebhookError as exc:
            raise invalid(str(exc), "body") from None
        uow.commit()
    return CreatedEndpointOut(**vars(view), secret=secret)


@router.get(
    "/webhook-endpoints",
    response_model=ListOut[EndpointOut],
    responses={**errors(403), **links(200, "$response.body#/data/0/id", *ENDPOINT_OPERATIONS)},
)
def endpoints(principal: AdminDep, uow: ReaderDep, page: PageDep) -> ListOut[EndpointOut]:
    found = read_page(lambda: list_endpoints(uow, page))
    return ListOut(data=[EndpointOut.model_validate(v) for v in found.items], next_cursor=found.next_cursor)


@router.get("/webhook-endpoints/{endpoint_id}", response_model=EndpointOut, responses=errors(403, 404))
def endpoint(principal: AdminDep, uow: ReaderDep, endpoint_id: IdPath) -> EndpointOut:
    try:
        return EndpointOut.model_validate(get_endpoint(uow, endpoint_id))
    except EndpointNotFoundError:
        raise HTTPException(404, "webhook endpoint not found") from None


@router.patch("/webhook-endpoints/{endpoint_id}", response_model=EndpointOut, responses=errors(400, 403, 404))
def change(sera: SeraDep, principal: AdminDep, endpoint_id: IdPath, body: EndpointPatch) -> EndpointOut:
    """Change the URL or the events, or turn the endpoint off or on (on again clears its failures)."""
    with sera.uow(principal.merchant_id) as uow:
        try:
            view = update_endpoint(
                uow,
                endpoint_id,
                actor=principal.actor,
                url=body.url,
                events=body.events,
                enabled=body.enabled,
                **_rules(sera),
            )
        except EndpointNotFoundError:
            raise HTTPException(404, "webhook endpoint not found") from None
        except WebhookError as exc:
            raise invalid(str(exc), "body") from None
        uow.commit()
    return EndpointOut.model_validate(view)


@router.post(
    "/webhook-endpoints/{endpoint_id}/rotate-secret", response_model=CreatedEndpointOut, responses=errors(403, 404)
)
def rotate(sera: SeraDep, principal: AdminDep, endpoint_id: IdPath) -> CreatedEndpointOut:
    """A new signing secret, in this answer only; for 24 hours events carry a signature under the
    previous secret as well, so the receiver can switch without losing any."""
    with sera.uow(principal.merchant_id) as uow:
        try:
            view, secret = rotate_secret(uow, endpoint_id, actor=principal.actor)
        except EndpointNotFoundError:
            raise HTTPException(404, "webhook endpoint not found") from None
        uow.commit()
    return CreatedEndpointOut(**vars(view), secret=secret)


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204, response_class=Response, responses=errors(403, 404))
def remove(sera: SeraDep, principal: AdminDep, endpoint_id: IdPath) -> Response:
    with sera.uow(principal.merchant_id) as uow:
        try:
            delete_endpoint(uow, endpoint_id, actor=principal.actor)
        except EndpointNotFoundError:
            raise HTTPException(404, "webhook endpoint not found") from None
        uow.commit()
    return Response(status_code=204)


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries",
    response_model=ListOut[DeliveryOut],
    responses={
        **errors(403, 404),
        **links(200, "$response.body#/data/0/id", "post /api/v1/webhook-deliveries/{delivery_id}/replay"),
    },
)
def deliveries(principal: AdminDep, uow: ReaderDep, endpoint_id: IdPath, page: PageDep) -> ListOut[DeliveryOut]:
    """The delivery log, newest last: status, response code, time (bodies are not kept)."""
    try:
        found = read_page(lambda: list_deliveries(uow, endpoint_id, page))
    except EndpointNotFoundError:
        raise HTTPException(404, "webhook endpoint not found") from None
    return ListOut(data=[DeliveryOut.model_validate(v) for v in found.items], next_cursor=found.next_cursor)


@router.post("/webhook-deliveries/{delivery_id}/replay", response_model=DeliveryOut, responses=errors(403, 404, 409))
def replay_delivery(sera: SeraDep, principal: AdminDep, delivery_id: IdPath) -> DeliveryOut:
    """Send a failed delivery again, under the same `webhook-id`."""
    with sera.uow(principal.merchant_id) as uow:
        try:
            view = replay(uow, delivery_id, actor=principal.actor)
        except DeliveryNotFoundError:
            raise HTTPException(404, "webhook delivery not found") from None
        except WebhookError as exc:
            raise HTTPException(409, str(exc)) from None
        uow.commit()
    return DeliveryOut.model_validate(view)


# -- what integrations may receive ---------------------------------------------------------------


class IntegrationSettingsOut(BaseModel):
    share_interaction_data: bool = Field(
        description="when true, `call.completed` carries the call's summary and transcript (off by default)"
    )


class IntegrationSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    share_interaction_data: StrictBool


@router.get("/integration-settings", response_model=IntegrationSettingsOut, responses=errors(403))
def integration_settings_read(principal: AdminDep, uow: ReaderDep) -> IntegrationSettingsOut:
    """Whether call transcripts and summaries go to the shop's integrations (webhooks, CRMs)."""
    return IntegrationSettingsOut(share_interaction_data=shares_interaction_data(uow))


@router.put("/integration-settings", response_model=IntegrationSettingsOut, responses=errors(400, 403))
def integration_settings_write(
    sera: SeraDep, principal: AdminDep, body: IntegrationSettingsIn
) -> IntegrationSettingsOut:
    """Turn "share interaction data with integrations" on or off (admin keys; audited)."""
    with sera.uow(principal.merchant_id) as uow:
        share = set_sharing(uow, share=body.share_interaction_data, actor=principal.actor, now=sera.clock())
        uow.commit()
    return IntegrationSettingsOut(share_interaction_data=share)
