"""The cookie page: every cookie Sera sets, its purpose and lifetime. Open to anyone (the
privacy policy links to it), and the list below is the one a test checks against a browser."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sera.team import sessions
from sera.web.dashboard.access import PLAIN_COOKIE, SECURE_COOKIE
from sera.web.dashboard.render import render

router = APIRouter()


@dataclass(frozen=True)
class Cookie:
    names: tuple[str, ...]
    purpose: str
    lifetime: str
    kind: str


def _hours(seconds: float) -> str:
    return f"{int(seconds // 3600)} hours"


COOKIES = (
    Cookie(
        names=(SECURE_COOKIE, PLAIN_COOKIE),
        purpose=(
            "Keeps you logged in to the dashboard. It holds a random id and nothing else; "
            "the second name is used only over plain http outside this computer, where browsers refuse "
            f"{SECURE_COOKIE}."
        ),
        lifetime=(
            f"{_hours(sessions.ABSOLUTE.total_seconds())} at most; it ends sooner after "
            f"{int(sessions.IDLE.total_seconds() // 60)} minutes idle or when you log out"
        ),
        kind="Strictly necessary",
    ),
)


def cookie_names() -> set[str]:
    return {name for cookie in COOKIES for name in cookie.names}


@router.get("/cookies")
def cookies(request: Request) -> Response:
    return render(request, "dashboard/cookies.html", user=None, title="Cookies", cookies=COOKIES)
