"""Every dashboard route, role by role, read from the routes themselves: a page (or change) the
permission table denies a role answers 403 to it, whatever it sends; a page it allows opens.
Nothing here lists the routes by hand, so a new page is covered the day it is added."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from sera.team.permissions import can
from sera.web.dashboard.access import PREFIX, requires
from sera.web.dashboard.routes import install
from tests.dashboard.conftest import ROLES, Browser

# pages for people not logged in: logging in, the cookie list, accepting an invitation
OPEN = {
    "/dashboard/login",
    "/dashboard/login/code",
    "/dashboard/login/second-factor",
    "/dashboard/cookies",
    "/dashboard/invitations/{token}",
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    action: str | None  # None: any member

    def url(self) -> str:
        return re.sub(r"\{[^}]+\}", "not-an-id", self.path)


def _action(dependant: Dependant) -> str | None:
    for sub in dependant.dependencies:
        if isinstance(sub.call, requires):
            return sub.call.action
        found = _action(sub)
        if found:
            return found
    return None


def _routes() -> Iterator[Route]:
    app = FastAPI()
    install(app)
    for context in routing.iter_route_contexts(app.routes):
        route = context.route
        if isinstance(route, APIRoute) and context.path.startswith(PREFIX) and context.path not in OPEN:
            for method in sorted(set(context.methods or ()) - {"HEAD"}):
                yield Route(method, context.path, _action(route.dependant))


ROUTES = sorted(_routes(), key=lambda r: (r.path, r.method))
GUARDED = [r for r in ROUTES if r.action is not None]


def test_every_page_but_the_open_ones_needs_a_login(browser: Callable[[], Browser]) -> None:
    client = browser()
    for route in ROUTES:
        if "embedded" in route.path:
            continue
        response = client.request(route.method, route.url(), follow_redirects=False)
        assert response.status_code in (303, 401, 403), (route, response.status_code)  # 403: no CSRF token either


@pytest.mark.parametrize("role", ROLES)
def test_a_role_the_table_denies_gets_403(role: str, as_role: Callable[[str], Browser]) -> None:
    client = as_role(role)
    denied = [r for r in GUARDED if not can(role, r.action or "")]
    for route in denied:
        response = client.act(route.method, route.url(), data={"anything": "x"})
        assert response.status_code == 403, (role, route, response.status_code)  # type: ignore[attr-defined]


@pytest.mark.parametrize("role", ROLES)
def test_a_role_the_table_allows_opens_each_page(role: str, as_role: Callable[[str], Browser]) -> None:
    client = as_role(role)
    pages = [r for r in ROUTES if r.method == "GET" and "{" not in r.path and "embedded" not in r.path]
    for route in pages:
        if route.action is not None and not can(role, route.action):
            continue
        response = client.get(route.url())
        assert response.status_code == 200, (role, route, response.status_code)


def test_the_walk_sees_the_dashboards_pages() -> None:
    paths = {r.path for r in ROUTES}
    assert {"/dashboard/", "/dashboard/logout"} <= paths
    assert len(GUARDED) >= 5, "the routes lost their permission checks"
