"""Logging in and out: email and password, then the second factor (or setting one up), and
re-entering the password before erasing or deleting anything."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from sera.bootstrap import Sera
from sera.team import sessions
from sera.team.second_factor import SecondFactorError, new_enrollment
from sera.team.sessions import LoginRefusedError, Started
from sera.web.api.deps import SeraDep
from sera.web.dashboard.access import (
    PREFIX,
    ForbiddenError,
    UserDep,
    check_same_site,
    cookie_name,
    safe_next,
    secure_cookies,
    session_token,
)
from sera.web.dashboard.render import render

router = APIRouter()
Email = Annotated[str, Form(max_length=320)]
Password = Annotated[str, Form(max_length=1024)]
Code = Annotated[str, Form(max_length=20)]
Next = Annotated[str, Form(max_length=500)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _with_cookie(response: Response, request: Request, sera: Sera, started: Started) -> Response:
    response.set_cookie(
        cookie_name(request, sera),
        started.token,
        max_age=int(sessions.ABSOLUTE.total_seconds()),
        path="/",
        secure=secure_cookies(request, sera),
        httponly=True,
        samesite="lax",
    )
    return response


def _forget_cookie(response: Response, request: Request, sera: Sera) -> Response:
    response.delete_cookie(
        cookie_name(request, sera), path="/", secure=secure_cookies(request, sera), httponly=True, samesite="lax"
    )
    return response


def _pending(request: Request, sera: Sera, stage: str) -> tuple[sessions.SessionInfo, str] | None:
    return sessions.pending(sera, session_token(request, sera), stage)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "dashboard/login.html", user=None, next=safe_next(next), error=None)


@router.post("/login")
def login(request: Request, sera: SeraDep, email: Email, password: Password, next: Next = "") -> Response:
    check_same_site(request, sera)
    try:
        started = sessions.login(sera, email, password, address=client_address(request))
    except LoginRefusedError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        status = 429 if exc.retry_after else 401
        return render(
            request,
            "dashboard/login.html",
            user=None,
            next=safe_next(next),
            error=str(exc),
            email=email[:320],
            status_code=status,
            headers=headers,
        )
    target = {
        sessions.FULL: safe_next(next),
        sessions.SECOND_FACTOR: f"{PREFIX}/login/code?next={safe_next(next)}",
        sessions.ENROLL: f"{PREFIX}/login/second-factor?next={safe_next(next)}",
    }[started.session.stage]
    return _with_cookie(RedirectResponse(target, status_code=303), request, sera, started)


@router.get("/login/code")
def code_page(request: Request, sera: SeraDep, next: str | None = None) -> Response:
    if _pending(request, sera, sessions.SECOND_FACTOR) is None:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    return render(request, "dashboard/login_code.html", user=None, next=safe_next(next), error=None)


@router.post("/login/code")
def code(request: Request, sera: SeraDep, code: Code, next: Next = "") -> Response:
    check_same_site(request, sera)
    pending = _pending(request, sera, sessions.SECOND_FACTOR)
    if pending is None:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    try:
        started = sessions.complete_second_factor(sera, pending[0].id, code)
    except (SecondFactorError, LoginRefusedError) as exc:
        return render(
            request, "dashboard/login_code.html", user=None, next=safe_next(next), error=str(exc), status_code=401
        )
    return _with_cookie(RedirectResponse(safe_next(next), status_code=303), request, sera, started)


@router.get("/login/second-factor")
def enroll_page(request: Request, sera: SeraDep, next: str | None = None) -> Response:
    pending = _pending(request, sera, sessions.ENROLL)
    if pending is None:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    enrollment = new_enrollment(pending[1])
    return render(request, "dashboard/enroll.html", user=None, next=safe_next(next), enrollment=enrollment, error=None)


@router.post("/login/second-factor")
def enroll(
    request: Request,
    sera: SeraDep,
    secret: Annotated[str, Form(max_length=64, pattern=r"^[A-Z2-7]+=*$")],
    code: Code,
    next: Next = "",
) -> Response:
    check_same_site(request, sera)
    pending = _pending(request, sera, sessions.ENROLL)
    if pending is None:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    try:
        started, codes = sessions.complete_enrollment(sera, pending[0].id, secret, code)
    except (SecondFactorError, LoginRefusedError) as exc:
        enrollment = new_enrollment(pending[1], secret)
        return render(
            request,
            "dashboard/enroll.html",
            user=None,
            next=safe_next(next),
            enrollment=enrollment,
            error=str(exc),
            status_code=400,
        )
    page = render(request, "dashboard/recovery_codes.html", user=None, next=safe_next(next), codes=codes)
    return _with_cookie(page, request, sera, started)


@router.post("/logout")
def logout(request: Request, sera: SeraDep, user: UserDep) -> Response:
    sessions.end(sera, user.session.id, reason="logout", actor=user.actor)
    return _forget_cookie(RedirectResponse(f"{PREFIX}/login", status_code=303), request, sera)


@router.post("/reauthenticate")
def reauthenticate(request: Request, sera: SeraDep, user: UserDep, password: Password, next: Next = "") -> Response:
    """Enter the password again (erasing a customer, deleting the shop); good for five minutes."""
    if not sessions.reauthenticate(sera, user.session.id, password):
        raise ForbiddenError("that password is not right")
    return RedirectResponse(safe_next(next), status_code=303)
