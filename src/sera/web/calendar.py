"""The shop's secret-URL calendar feed (for the merchant's calendar app)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from sera.booking.calendar import feed_token_valid, shop_feed
from sera.web.api.deps import SeraDep

router = APIRouter(tags=["calendar"])


@router.get("/calendar/{merchant_id}/{token}.ics", response_class=Response)
def calendar_feed(sera: SeraDep, merchant_id: str, token: str) -> Response:
    secret = sera.settings.secret_key.get_secret_value() if sera.settings.secret_key else ""
    if not secret or not feed_token_valid(secret, merchant_id, token):
        raise HTTPException(404, "not found")
    with sera.uow(merchant_id, readonly=True) as uow:
        body = shop_feed(uow, sera.clock())
    return Response(body, media_type="text/calendar; charset=utf-8")
