"""The dashboard's personas: Northside's owner, admin, front-desk agent and viewer, and an
outsider (Southside's owner), each a team member with a password, and a logged-in client
for each (a TestClient over https, as the cookie is ``__Host-`` and ``Secure``)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from sera.bootstrap import Sera
from sera.team.members import create_member
from sera.team.session_store import SERVICE, RedisSessions
from sera.web.app import create_app
from tests.conftest import REDIS_URL, Personas

if TYPE_CHECKING:
    from playwright.sync_api import Page

PASSWORD = "velvet-harbour-quince-42"
ROLES = ("owner", "admin", "agent", "viewer")
BASE = "https://sera.test"


@dataclass(frozen=True)
class Member:
    role: str
    email: str
    member_id: str
    merchant_id: str


@dataclass(frozen=True)
class Team:
    owner: Member
    admin: Member
    agent: Member
    viewer: Member
    outsider: Member  # Southside's owner

    def by_role(self, role: str) -> Member:
        member: Member = getattr(self, role)
        return member


@pytest.fixture(autouse=True)
def session_store(sera: Sera) -> Iterator[str]:
    """Dashboard sessions where the deployment would keep them: in Redis when the tests have one
    (``SERA_TEST_REDIS_URL``, as the PostgreSQL and Redis run of CI does), else in the table;
    each test under its own Redis prefix."""
    if not REDIS_URL:
        yield "table"
        return
    store = RedisSessions(REDIS_URL, prefix=f"sera-test:{uuid.uuid4().hex[:12]}:dashboard:")
    sera.db.services[SERVICE] = store
    yield "redis"
    keys = list(store.redis.scan_iter(f"{store.prefix}*"))
    if keys:
        store.redis.delete(*keys)


@pytest.fixture
def team(sera: Sera, personas: Personas) -> Team:
    def add(merchant_id: str, role: str, email: str) -> Member:
        made = create_member(sera, merchant_id, email=email, role=role, password=PASSWORD, actor="test")
        return Member(role=role, email=email, member_id=made.id, merchant_id=merchant_id)

    north = {role: add(personas.northside_id, role, f"{role}@northside.example") for role in ROLES}
    outsider = add(personas.southside_id, "owner", "owner@southside.example")
    return Team(**north, outsider=outsider)


def csrf_of(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


class Browser(TestClient):
    """A TestClient that knows its session's CSRF token, as the dashboard's script does."""

    csrf: str = ""

    def login(self, email: str, password: str = PASSWORD) -> Browser:
        response = self.post("/dashboard/login", data={"email": email, "password": password, "next": "/dashboard/"})
        assert response.status_code == 303, response.text
        home = self.get("/dashboard/")
        assert home.status_code == 200, home.text
        self.csrf = csrf_of(home.text)
        return self

    def act(self, method: str, url: str, **kwargs: object) -> object:
        headers = {"X-CSRF-Token": self.csrf, **dict(kwargs.pop("headers", {}) or {})}  # type: ignore[call-overload]
        return self.request(method, url, headers=headers, follow_redirects=False, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def browser(sera: Sera) -> Iterator[Callable[[], Browser]]:
    """Make as many clients (browsers) as a test needs, each with its own cookies."""
    clients: list[Browser] = []
    app = create_app(sera)

    def make() -> Browser:
        client = Browser(app, base_url=BASE, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def as_role(team: Team, browser: Callable[[], Browser]) -> Callable[[str], Browser]:
    """A logged-in client for a role of Northside (or ``outsider``)."""

    def login(role: str) -> Browser:
        return browser().login(team.by_role(role).email)

    return login


# -- in Debian's Chromium ---------------------------------------------------------------------

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def log_in(page: Page, server: str, email: str, password: str = PASSWORD) -> Page:
    page.goto(f"{server}/dashboard/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/dashboard/**")
    return page


@pytest.fixture
def owner_page(page: Page, server: str, team: Team) -> Page:
    """Northside's owner, logged in to the dashboard in the browser."""
    return log_in(page, server, team.owner.email)


def check_accessibility(page: Page, name: str) -> None:
    """axe-core (vendored from the npm registry) on the page as it is: no serious or critical
    violation; and a screenshot kept in test-artifacts/screenshots/ for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.evaluate(AXE.read_text(encoding="utf-8"))  # through DevTools, so the page's CSP still holds for it
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name}: " + "; ".join(bad)


def no_csp_violations(page: Page) -> list[str]:
    """Collect the page's CSP violations (call before navigating; read the list after)."""
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None)
    return seen
