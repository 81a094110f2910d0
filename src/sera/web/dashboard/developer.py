"""Developer: the mail log (what ``GET /api/v1/mail`` returns) and the shop's API keys (never
their secrets)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from sera.access.api_keys import list_api_keys
from sera.mail.service import list_mail
from sera.storage.paging import InvalidCursorError, PageRequest
from sera.web.api.deps import SeraDep
from sera.web.dashboard.access import DashboardUser, PageNotFoundError, requires
from sera.web.dashboard.render import render

router = APIRouter()
DeveloperReader = Annotated[DashboardUser, Depends(requires("developer.read"))]
PER_PAGE = 50
# what each mail template is, in words (an unknown one shows its name)
MAIL_KINDS = {
    "notification": "Notification of an event",
    "weekly_report": "Weekly report",
    "invoice_issued": "Invoice or credit note",
    "team_invitation": "Team invitation",
}


@router.get("/developer")
def developer(
    request: Request,
    sera: SeraDep,
    user: DeveloperReader,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        try:
            mail = list_mail(reader, PageRequest(limit=PER_PAGE, cursor=cursor))
        except InvalidCursorError:
            raise PageNotFoundError(cursor) from None
    keys = list_api_keys(sera, user.merchant_id)
    return render(
        request,
        "dashboard/developer.html",
        user=user,
        title="Developer",
        zone=user.session.timezone,
        partial="dashboard/_developer_mail.html",
        mail=mail,
        mail_kinds=MAIL_KINDS,
        keys=keys,
    )
