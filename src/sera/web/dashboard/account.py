"""Your account: your sessions, your password, your second factor and your preferences (kept
on the server, never in a cookie). Every member has one, whatever their role."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from sera.bootstrap import Sera
from sera.team import members, sessions
from sera.team.members import TeamError
from sera.team.passwords import WeakPasswordError
from sera.team.second_factor import SecondFactorError, new_enrollment
from sera.web.api.deps import SeraDep
from sera.web.dashboard.access import PREFIX, DashboardUser, PageNotFoundError, UserDep
from sera.web.dashboard.render import render

router = APIRouter()
Password = Annotated[str, Form(max_length=1024)]
Code = Annotated[str, Form(max_length=20)]
SessionId = Annotated[str, Path(max_length=64)]
NOTICES = {
    "ended": "Session ended.",
    "password": "Password changed. Your other sessions have ended.",
    "preferences": "Preferences saved.",
}


@lru_cache(maxsize=1)
def time_zones() -> list[str]:
    return sorted(zone for zone in available_timezones() if "/" in zone or zone == "UTC")


def _page(request: Request, sera: Sera, user: DashboardUser, *, status_code: int = 200, **context: Any) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        me = members.get_member(reader, user.member_id)
        preferences = members.preferences_of(reader, user.member_id)
        mine = sessions.open_sessions(reader, user.member_id)
    return render(
        request,
        "dashboard/account.html",
        user=user,
        title="Your account",
        zone=user.session.timezone,
        me=me,
        preferences=preferences,
        sessions=mine,
        zones=time_zones(),
        notice=NOTICES.get(request.query_params.get("done", "")),
        status_code=status_code,
        **context,
    )


def _done(what: str) -> Response:
    return RedirectResponse(f"{PREFIX}/account?done={what}", status_code=303)


@router.get("/account")
def account(request: Request, sera: SeraDep, user: UserDep) -> Response:
    return _page(request, sera, user)


@router.post("/account/sessions/{session_id}/end")
def end_session(sera: SeraDep, user: UserDep, session_id: SessionId) -> Response:
    """End another of your sessions (this one ends with "Log out")."""
    if session_id == user.session.id:
        raise PageNotFoundError(session_id)
    with sera.uow(user.merchant_id) as uow:
        if not sessions.end_member_session(uow, user.member_id, session_id, actor=user.actor):
            raise PageNotFoundError(session_id)
        uow.commit()
    return _done("ended")


@router.post("/account/password")
def change_password(
    request: Request, sera: SeraDep, user: UserDep, current: Password, new: Password, confirm: Password
) -> Response:
    error = "the two new passwords are not the same" if new != confirm else None
    if error is None:
        try:
            with sera.uow(user.merchant_id) as uow:
                members.change_password(
                    uow, user.member_id, current=current, new=new, actor=user.actor, keep_session=user.session.id
                )
                uow.commit()
        except (TeamError, WeakPasswordError) as exc:
            error = str(exc)
    if error is not None:
        return _page(request, sera, user, status_code=422, password_error=error)
    return _done("password")


@router.post("/account/preferences")
def preferences(
    request: Request,
    sera: SeraDep,
    user: UserDep,
    timezone: Annotated[str, Form(max_length=64)] = "",
    density: Annotated[str, Form(max_length=10)] = "normal",
    analytics: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            members.update_preferences(
                uow,
                user.member_id,
                timezone=timezone or None,
                density=density,
                analytics=analytics == "on",
                actor=user.actor,
            )
            uow.commit()
    except TeamError as exc:
        return _page(request, sera, user, status_code=422, preferences_error=str(exc))
    return _done("preferences")


def _my_email(sera: Sera, user: DashboardUser) -> tuple[str, bool]:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        me = members.get_member(reader, user.member_id)
    return me.email, me.second_factor


@router.get("/account/second-factor")
def enroll_page(request: Request, sera: SeraDep, user: UserDep) -> Response:
    email, on = _my_email(sera, user)
    if on:
        return _done("")
    return render(
        request,
        "dashboard/enroll.html",
        user=user,
        next=f"{PREFIX}/account",
        enrollment=new_enrollment(email),
        error=None,
    )


@router.post("/account/second-factor")
def enroll(
    request: Request,
    sera: SeraDep,
    user: UserDep,
    secret: Annotated[str, Form(max_length=64, pattern=r"^[A-Z2-7]+=*$")],
    code: Code,
) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            codes = members.enable_second_factor(uow, user.member_id, secret, code, actor=user.actor)
            uow.commit()
    except (SecondFactorError, TeamError) as exc:
        email, _ = _my_email(sera, user)
        return render(
            request,
            "dashboard/enroll.html",
            user=user,
            next=f"{PREFIX}/account",
            enrollment=new_enrollment(email, secret),
            error=str(exc),
            status_code=400,
        )
    return render(request, "dashboard/recovery_codes.html", user=user, next=f"{PREFIX}/account", codes=codes)


@router.post("/account/recovery-codes")
def regenerate(request: Request, sera: SeraDep, user: UserDep, code: Code) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            codes = members.regenerate_recovery_codes(uow, user.member_id, code, actor=user.actor)
            uow.commit()
    except SecondFactorError as exc:
        return _page(request, sera, user, status_code=422, codes_error=str(exc))
    return render(request, "dashboard/recovery_codes.html", user=user, next=f"{PREFIX}/account", codes=codes)
