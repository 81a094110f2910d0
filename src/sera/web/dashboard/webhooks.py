"""Webhooks: the shop's endpoints (URL, events, on or off, the last delivery), adding one (its
``whsec_`` secret shown once, in the answer to the form, never in a URL), changing, rotating,
deleting, each endpoint's delivery log with replay; and whether transcripts and summaries go
to integrations. The same services as ``/api/v1/webhook-endpoints``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from sera.bootstrap import Sera
from sera.integrations import webhooks
from sera.integrations.sharing import set_sharing, shares_interaction_data
from sera.integrations.webhooks import DeliveryNotFoundError, EndpointNotFoundError, WebhookError
from sera.storage.paging import InvalidCursorError, PageRequest
from sera.web.api.deps import SeraDep
from sera.web.dashboard.access import PREFIX, DashboardUser, PageNotFoundError, requires
from sera.web.dashboard.render import render

router = APIRouter()
Reader = Annotated[DashboardUser, Depends(requires("webhooks.read"))]
Manager = Annotated[DashboardUser, Depends(requires("webhooks.manage"))]
EndpointId = Annotated[str, Path(max_length=40)]
DeliveryId = Annotated[str, Path(max_length=40)]
Events = Annotated[list[str], Form(max_length=len(webhooks.EVENTS))]
PER_PAGE = 50
MAX_ENDPOINTS = 200  # the page lists them all: a shop has a handful
BADGES = {"delivered": "ok", "pending": "warn", "failed": "danger", "erased": ""}
NOTICES = {
    "saved": "Endpoint saved.",
    "deleted": "Endpoint deleted: it receives nothing more.",
    "replayed": "The delivery is queued again, under the same webhook-id.",
    "shared": "Calls now carry their summary and transcript to your integrations.",
    "unshared": "Calls no longer carry their summary or transcript to your integrations.",
}


def _allow_private(sera: Sera) -> bool:
    return sera.settings.webhooks_allow_private


def _require_https(sera: Sera) -> bool:
    return sera.settings.is_production or not sera.settings.webhooks_allow_private


def _list_page(
    request: Request, sera: Sera, user: DashboardUser, *, status_code: int = 200, **context: Any
) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        endpoints = webhooks.list_endpoints(reader, PageRequest(limit=MAX_ENDPOINTS)).items
        latest = webhooks.latest_deliveries(reader, [e.id for e in endpoints])
        sharing = shares_interaction_data(reader)
    return render(
        request,
        "dashboard/webhooks.html",
        user=user,
        title="Webhooks",
        zone=user.session.timezone,
        endpoints=endpoints,
        latest=latest,
        sharing=sharing,
        events=webhooks.EVENTS,
        badges=BADGES,
        notice=NOTICES.get(request.query_params.get("done", "")),
        status_code=status_code,
        **context,
    )


def _endpoint_page(
    request: Request,
    sera: Sera,
    user: DashboardUser,
    endpoint_id: str,
    *,
    cursor: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        try:
            endpoint = webhooks.get_endpoint(reader, endpoint_id)
            log = webhooks.list_deliveries(reader, endpoint_id, PageRequest(limit=PER_PAGE, cursor=cursor))
        except (EndpointNotFoundError, InvalidCursorError):
            raise PageNotFoundError(endpoint_id) from None
    return render(
        request,
        "dashboard/webhooks_endpoint.html",
        user=user,
        title="Webhook endpoint",
        zone=user.session.timezone,
        partial="dashboard/_webhooks_deliveries.html",
        endpoint=endpoint,
        log=log,
        events=webhooks.EVENTS,
        badges=BADGES,
        notice=NOTICES.get(request.query_params.get("done", "")),
        status_code=status_code,
        **context,
    )


def _to_list(done: str) -> Response:
    return RedirectResponse(f"{PREFIX}/webhooks?done={done}", status_code=303)


def _to_endpoint(endpoint_id: str, done: str) -> Response:
    return RedirectResponse(f"{PREFIX}/webhooks/{endpoint_id}?done={done}", status_code=303)


@router.get("/webhooks")
def endpoints(request: Request, sera: SeraDep, user: Reader) -> Response:
    return _list_page(request, sera, user)


@router.post("/webhooks")
def add(
    request: Request,
    sera: SeraDep,
    user: Manager,
    url: Annotated[str, Form(max_length=2000)] = "",
    events: Events = [],  # noqa: B006 - FastAPI copies a form default
) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            endpoint, secret = webhooks.create_endpoint(
                uow,
                url,
                events,
                actor=user.actor,
                allow_private=_allow_private(sera),
                require_https=_require_https(sera),
            )
            uow.commit()
    except WebhookError as exc:
        return _list_page(request, sera, user, status_code=422, add_error=str(exc), add_url=url, add_events=events)
    # the secret is in this answer only: Sera keeps it sealed and never shows it again
    return _endpoint_page(request, sera, user, endpoint.id, status_code=201, secret=secret, created=True)


@router.post("/webhooks/sharing")
def sharing(sera: SeraDep, user: Manager, share: Annotated[str, Form(max_length=5)] = "") -> Response:
    on = share == "on"
    with sera.uow(user.merchant_id) as uow:
        set_sharing(uow, share=on, actor=user.actor, now=sera.clock())
        uow.commit()
    return _to_list("shared" if on else "unshared")


@router.get("/webhooks/{endpoint_id}")
def endpoint(
    request: Request,
    sera: SeraDep,
    user: Reader,
    endpoint_id: EndpointId,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    return _endpoint_page(request, sera, user, endpoint_id, cursor=cursor)


@router.post("/webhooks/{endpoint_id}")
def change(
    request: Request,
    sera: SeraDep,
    user: Manager,
    endpoint_id: EndpointId,
    events: Events = [],  # noqa: B006 - FastAPI copies a form default
    enabled: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            webhooks.update_endpoint(
                uow,
                endpoint_id,
                actor=user.actor,
                events=events,
                enabled=enabled == "on",
                allow_private=_allow_private(sera),
                require_https=_require_https(sera),
            )
            uow.commit()
    except EndpointNotFoundError:
        raise PageNotFoundError(endpoint_id) from None
    except WebhookError as exc:
        return _endpoint_page(request, sera, user, endpoint_id, status_code=422, change_error=str(exc))
    return _to_endpoint(endpoint_id, "saved")


@router.post("/webhooks/{endpoint_id}/rotate")
def rotate(request: Request, sera: SeraDep, user: Manager, endpoint_id: EndpointId) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            _, secret = webhooks.rotate_secret(uow, endpoint_id, actor=user.actor)
            uow.commit()
    except EndpointNotFoundError:
        raise PageNotFoundError(endpoint_id) from None
    return _endpoint_page(request, sera, user, endpoint_id, secret=secret, rotated=True)


@router.post("/webhooks/{endpoint_id}/delete")
def delete(sera: SeraDep, user: Manager, endpoint_id: EndpointId) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            webhooks.delete_endpoint(uow, endpoint_id, actor=user.actor)
            uow.commit()
    except EndpointNotFoundError:
        raise PageNotFoundError(endpoint_id) from None
    return _to_list("deleted")


@router.post("/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay")
def replay(
    request: Request, sera: SeraDep, user: Manager, endpoint_id: EndpointId, delivery_id: DeliveryId
) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            replayed = webhooks.replay(uow, delivery_id, actor=user.actor)
            if replayed.endpoint_id != endpoint_id:
                raise DeliveryNotFoundError(delivery_id)  # rolled back: a link mixing two endpoints
            uow.commit()
    except (EndpointNotFoundError, DeliveryNotFoundError):
        raise PageNotFoundError(delivery_id) from None
    except WebhookError as exc:
        return _endpoint_page(request, sera, user, endpoint_id, status_code=409, replay_error=str(exc))
    return _to_endpoint(endpoint_id, "replayed")
