"""Who is looking at a dashboard page, and whether they may: the session cookie, CSRF, roles.

Every page route takes ``UserDep`` (any logged-in member of the shop) or a type made with
``requires("action")`` (a member whose role the permission table allows). Nothing else decides
access.

- The cookie is ``__Host-sera_session`` (``Secure``, ``HttpOnly``, ``SameSite=Lax``, path ``/``)
  wherever the browser accepts a secure cookie: https, and http on localhost. Over plain http
  elsewhere (development on a LAN) it is ``sera_session`` without ``Secure``, which is all the
  browser forbids there.
- Inside the Shopify admin the pages are authenticated by App Bridge's session token instead
  (``sera.web.dashboard.embedded``).
- A state-changing request needs the session's CSRF token (the ``X-CSRF-Token`` header, which
  the dashboard's script adds to every htmx request; or the form's ``csrf_token`` field when
  JavaScript is off) and must not come from another site (``Sec-Fetch-Site``/``Origin``).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request

from sera import audit
from sera.bootstrap import Sera
from sera.team import sessions
from sera.team.permissions import action as checked_action
from sera.team.permissions import can
from sera.team.sessions import SessionInfo
from sera.web.api.deps import SeraDep
from sera.web.dashboard import embedded

SECURE_COOKIE = "__Host-sera_session"
PLAIN_COOKIE = "sera_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
PREFIX = "/dashboard"


@dataclass(frozen=True)
class DashboardUser:
    """A logged-in member, as the pages see them."""

    merchant_id: str
    role: str
    member_id: str
    session: SessionInfo

    @property
    def actor(self) -> str:
        return f"team_member:{self.member_id}"

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    def can(self, action: str) -> bool:
        return can(self.role, action)


class LoginRequiredError(Exception):
    """No session (or an ended one): the page answers with the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class ForbiddenError(Exception):
    """A member whose role may not do this, or a request from another site."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PageNotFoundError(Exception):
    """No such thing in this shop (another shop's id is answered the same way)."""


def secure_cookies(request: Request, sera: Sera) -> bool:
    return sera.settings.is_production or request.url.scheme == "https" or (request.url.hostname or "") in LOCAL_HOSTS


def cookie_name(request: Request, sera: Sera) -> str:
    return SECURE_COOKIE if secure_cookies(request, sera) else PLAIN_COOKIE


def session_token(request: Request, sera: Sera) -> str | None:
    return request.cookies.get(cookie_name(request, sera))


def safe_next(value: str | None) -> str:
    """Where to go after login: only a path of the dashboard itself (no open redirect)."""
    if not value:
        return PREFIX + "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX) or "\\" in value or "//" in value:
        return PREFIX + "/"
    return value


def login_url(next_path: str) -> str:
    return f"{PREFIX}/login?next={quote(safe_next(next_path), safe='/')}"


def check_same_site(request: Request, sera: Sera) -> None:
    """A state-changing request from another site is refused, whatever it carries."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise ForbiddenError("this request came from another site")
    origin = request.headers.get("origin")
    if origin is not None:
        own = {f"{request.url.scheme}://{request.url.netloc}", sera.settings.public_url.rstrip("/")}
        if origin not in own:
            raise ForbiddenError("this request came from another site")


async def check_csrf(request: Request, sera: Sera, session: SessionInfo) -> None:
    if request.method in SAFE_METHODS:
        return
    check_same_site(request, sera)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        field = (await request.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise ForbiddenError("this form has expired: reload the page and try again")


async def current_user(request: Request, sera: SeraDep) -> DashboardUser:
    bearer = embedded.bearer_token(request)
    if bearer is not None:  # inside the Shopify admin: App Bridge's session token, no cookie
        admin, request.state.embedded = embedded.authenticate(request, sera, bearer)
        user = DashboardUser(merchant_id=admin.merchant_id, role=admin.role, member_id=admin.member_id, session=admin)
        request.state.dashboard_user = user
        return user
    if embedded.wants_bounce(request):
        raise embedded.EmbeddedRefusedError
    token = session_token(request, sera)
    info = sessions.resume(sera, token) if token else None
    if info is None or info.stage != sessions.FULL:
        raise LoginRequiredError(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    await check_csrf(request, sera, info)
    user = DashboardUser(merchant_id=info.merchant_id, role=info.role, member_id=info.member_id, session=info)
    request.state.dashboard_user = user
    return user


UserDep = Annotated[DashboardUser, Depends(current_user)]


class requires:  # noqa: N801 - a dependency, named as one reads it: requires("settings.write")
    """A dependency: a member whose role may do ``action`` (checked against the table now), else
    403. Name it once per module and use it as a type::

        Editor = Annotated[DashboardUser, Depends(requires("settings.write"))]
        def save(request: Request, user: Editor) -> Response: ...
    """

    def __init__(self, action: str) -> None:
        self.action = checked_action(action)  # tests read it to walk every route role by role

    def __call__(self, user: UserDep) -> DashboardUser:
        if not user.can(self.action):
            raise ForbiddenError("your role does not allow this: ask the shop's owner")
        return user


def Allowed(action: str) -> type[DashboardUser]:  # noqa: N802 - reads as a type in signatures
    """Older spelling of ``Annotated[DashboardUser, Depends(requires(action))]`` (mypy cannot
    read it as a type: prefer a module-level alias)."""
    return Annotated[DashboardUser, Depends(requires(action))]  # type: ignore[return-value]


def audit_read(sera: Sera, user: DashboardUser, target_type: str, ids: list[str]) -> None:
    """A page that shows a person's data is in the audit log, as an API read is (ids only)."""
    with sera.uow(user.merchant_id) as uow:
        audit.record_read(
            uow.session,
            merchant_id=user.merchant_id,
            actor=user.actor,
            action="dashboard.read",
            target_type=target_type,
            ids=ids,
        )
        uow.commit()
