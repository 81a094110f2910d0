"""Team: members, roles, invitations and their sessions; and the invitee's page that turns an
emailed link into a member (no login: the link is the credential, good once)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from sera.bootstrap import Sera
from sera.team import invitations, members, sessions
from sera.team.invitations import InvitationNotFoundError
from sera.team.members import MemberNotFoundError, TeamError
from sera.team.passwords import WeakPasswordError
from sera.team.permissions import ROLES
from sera.web.api.deps import SeraDep
from sera.web.dashboard.access import PREFIX, DashboardUser, PageNotFoundError, check_same_site, requires
from sera.web.dashboard.render import render

router = APIRouter()
TeamManager = Annotated[DashboardUser, Depends(requires("team.manage"))]
TeamReader = Annotated[DashboardUser, Depends(requires("team.read"))]


MemberId = Annotated[str, Path(max_length=40)]
InvitationId = Annotated[str, Path(max_length=40)]
SessionId = Annotated[str, Path(max_length=64)]
Token = Annotated[str, Path(max_length=128)]
Role = Annotated[str, Form(max_length=10)]
Password = Annotated[str, Form(max_length=1024)]
NOTICES = {
    "invited": "Invitation sent. It works once, for 72 hours.",
    "revoked": "Invitation revoked: its link no longer works.",
    "role": "Role changed.",
    "removed": "Member removed. Their sessions have ended.",
    "ended": "Session ended.",
}


def _page(request: Request, sera: Sera, user: DashboardUser, *, status_code: int = 200, **context: Any) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        team = members.list_members(reader)
        open_sessions = {member.id: sessions.open_sessions(reader, member.id) for member in team}
        pending = invitations.list_pending(reader)
    return render(
        request,
        "dashboard/team.html",
        user=user,
        title="Team",
        zone=user.session.timezone,
        members=team,
        sessions_of=open_sessions,
        pending=pending,
        roles=ROLES,
        notice=NOTICES.get(request.query_params.get("done", "")),
        status_code=status_code,
        **context,
    )


def _done(what: str) -> Response:
    return RedirectResponse(f"{PREFIX}/team?done={what}", status_code=303)


@router.get("/team")
def team(request: Request, sera: SeraDep, user: TeamReader) -> Response:
    return _page(request, sera, user)


@router.post("/team/invitations")
def invite(
    request: Request,
    sera: SeraDep,
    user: TeamManager,
    email: Annotated[str, Form(max_length=320)],
    role: Role,
) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            invitations.invite(uow, sera, email=email, role=role, actor=user.actor, invited_by=user.member_id)
            uow.commit()
    except TeamError as exc:
        return _page(request, sera, user, status_code=422, invite_error=str(exc), invite_email=email, invite_role=role)
    return _done("invited")


@router.post("/team/invitations/{invitation_id}/revoke")
def revoke(sera: SeraDep, user: TeamManager, invitation_id: InvitationId) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            invitations.revoke(uow, invitation_id, actor=user.actor)
            uow.commit()
    except InvitationNotFoundError:
        raise PageNotFoundError(invitation_id) from None
    return _done("revoked")


@router.post("/team/members/{member_id}/role")
def change_role(
    request: Request,
    sera: SeraDep,
    user: TeamManager,
    member_id: MemberId,
    role: Role,
) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            members.change_role(uow, member_id, role, actor=user.actor)
            uow.commit()
    except MemberNotFoundError:
        raise PageNotFoundError(member_id) from None
    except TeamError as exc:
        return _page(request, sera, user, status_code=422, member_error=str(exc), error_member=member_id)
    return _done("role")


@router.post("/team/members/{member_id}/remove")
def remove(request: Request, sera: SeraDep, user: TeamManager, member_id: MemberId) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            members.remove_member(uow, member_id, actor=user.actor)
            uow.commit()
    except MemberNotFoundError:
        raise PageNotFoundError(member_id) from None
    except TeamError as exc:
        return _page(request, sera, user, status_code=422, member_error=str(exc), error_member=member_id)
    if member_id == user.member_id:  # removed themselves: their own session is over too
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    return _done("removed")


@router.post("/team/members/{member_id}/sessions/{session_id}/end")
def end_session(sera: SeraDep, user: TeamManager, member_id: MemberId, session_id: SessionId) -> Response:
    with sera.uow(user.merchant_id) as uow:
        if not sessions.end_member_session(uow, member_id, session_id, actor=user.actor):
            raise PageNotFoundError(session_id)
        uow.commit()
    return _done("ended")


# -- the invitee's page ------------------------------------------------------------------------


def _invitation_page(request: Request, sera: Sera, token: str, **context: Any) -> Response:
    try:
        invitation = invitations.open_invitation(sera, token)
    except InvitationNotFoundError:
        return render(
            request,
            "dashboard/invitation_invalid.html",
            user=None,
            title="This invitation is not valid",
            status_code=404,
        )
    return render(
        request,
        "dashboard/invitation.html",
        user=None,
        title=f"Join {invitation.shop_name}",
        invitation=invitation,
        **context,
    )


@router.get("/invitations/{token}")
def invitation(request: Request, sera: SeraDep, token: Token) -> Response:
    return _invitation_page(request, sera, token, error=None)


@router.post("/invitations/{token}")
def accept(
    request: Request,
    sera: SeraDep,
    token: Token,
    password: Password,
    confirm: Password,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_same_site(request, sera)
    error = None
    if password != confirm:
        error = "the two passwords are not the same"
    else:
        try:
            invitations.accept(sera, token, password=password, name=name.strip() or None)
        except InvitationNotFoundError:
            return _invitation_page(request, sera, token)
        except (WeakPasswordError, TeamError) as exc:
            error = str(exc)
    if error is not None:
        return _invitation_page(request, sera, token, error=error, name=name, status_code=422)
    return render(request, "dashboard/invitation_done.html", user=None, title="Welcome to the team")
