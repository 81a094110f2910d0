"""Home: the shop's day at a glance, as far as the member's role may read."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sera.reports.glance import glance
from sera.web.api.deps import SeraDep
from sera.web.dashboard.access import DashboardUser, UserDep
from sera.web.dashboard.render import render

router = APIRouter()

# which permission each section of the glance needs: the table decides, not this page
SECTION_ACTIONS = {
    "conversations": "calls.read",
    "bookings": "appointments.read",
    "tickets": "tickets.read",
    "privacy": "privacy.read",
    "outbound": "analytics.read",
    "usage": "analytics.read",
}


def readable_sections(user: DashboardUser) -> frozenset[str]:
    return frozenset(section for section, action in SECTION_ACTIONS.items() if user.can(action))


@router.get("/")
def home(request: Request, sera: SeraDep, user: UserDep) -> Response:
    zone = user.session.timezone
    with sera.uow(user.merchant_id, readonly=True) as reader:
        today = glance(reader, reader.now(), ZoneInfo(zone), readable_sections(user))
        now = reader.now()
    return render(request, "dashboard/home.html", user=user, title="Home", zone=zone, today=today, now=now)
