"""The shop's secret-URL calendar feed (for the merchant's calendar app)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response

from sera.booking.calendar import feed_token_valid, shop_feed
from sera.web.api.deps import SeraDep
from sera.web.api.responses import content, errors
from sera.web.fields import IdPath

router = APIRouter(tags=["calendar"])
Token = Annotated[str, Path(pattern=r"^[0-9a-f]{40}$", description="the feed's secret, from /api/v1/calendar-feed")]


@router.get(
    "/calendar/{merchant_id}/{token}.ics",
    response_class=Response,
    responses={**content(200, "text/calendar", "The shop's appointments"), **errors(404)},
)
def calendar_feed(sera: SeraDep, merchant_id: IdPath, token: Token) -> Response:
    secret = sera.settings.secret_key.get_secret_value() if sera.settings.secret_key else ""
    if not secret or not feed_token_valid(secret, merchant_id, token):
        raise HTTPException(404, "not found")
    with sera.uow(merchant_id, readonly=True) as uow:
        body = shop_feed(uow, sera.clock())
    return Response(body, media_type="text/calendar; charset=utf-8")
