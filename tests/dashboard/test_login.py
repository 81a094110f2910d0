"""Logging in to the dashboard: passwords, the second factor, sessions, CSRF and throttling."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import select

from sera.bootstrap import Sera
from sera.storage.models import AuditEntry, DashboardSession
from tests.conftest import FakeClock
from tests.dashboard.conftest import PASSWORD, Browser, Team


def test_the_owner_logs_in_and_sees_their_shop(team: Team, browser: Callable[[], Browser]) -> None:
    client = browser()
    assert client.get("/dashboard/").status_code == 303  # to the login page
    page = client.get("/dashboard/login")
    assert page.status_code == 200 and 'autocomplete="current-password"' in page.text
    client.login(team.owner.email)
    home = client.get("/dashboard/")
    assert "Northside Cycles" in home.text
    cookie = home.request.headers.get("cookie", "")
    assert cookie.startswith("__Host-sera_session=")


def test_the_session_cookie_is_host_only_secure_httponly_lax(team: Team, browser: Callable[[], Browser]) -> None:
    response = browser().post("/dashboard/login", data={"email": team.owner.email, "password": PASSWORD})
    header = response.headers["set-cookie"]
    assert header.startswith("__Host-sera_session=")
    for part in ("Secure", "HttpOnly", "SameSite=lax", "Path=/"):
        assert part.lower() in header.lower()
    assert "domain=" not in header.lower()
    assert len(response.headers.get_list("set-cookie")) == 1  # the only cookie


def test_a_wrong_password_is_refused_audited_and_never_logged(
    sera: Sera, team: Team, browser: Callable[[], Browser]
) -> None:
    response = browser().post("/dashboard/login", data={"email": team.owner.email, "password": "not-the-password!"})
    assert response.status_code == 401
    assert "do not match" in response.text
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        entries = reader.session.execute(select(AuditEntry).where(AuditEntry.action == "login_failed")).scalars().all()
    assert entries and entries[-1].target_id == team.owner.member_id
    assert "not-the-password" not in str(entries[-1].details) and "127.0.0.1" not in str(entries[-1].details)


def test_password_guessing_locks_the_account_with_backoff(
    team: Team, browser: Callable[[], Browser], clock: FakeClock
) -> None:
    client = browser()
    for _ in range(5):
        client.post("/dashboard/login", data={"email": team.owner.email, "password": "guess-guess-guess"})
    locked = client.post("/dashboard/login", data={"email": team.owner.email, "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0  # even the right password waits
    clock.advance(seconds=31)
    assert client.post("/dashboard/login", data={"email": team.owner.email, "password": PASSWORD}).status_code == 303


def test_a_login_replaces_any_session_id_the_browser_had(team: Team, browser: Callable[[], Browser]) -> None:
    client = browser()
    client.cookies.set("__Host-sera_session", "planted-by-an-attacker", domain="sera.test")
    response = client.post("/dashboard/login", data={"email": team.owner.email, "password": PASSWORD})
    assert "planted-by-an-attacker" not in response.headers["set-cookie"]


def test_a_forged_cross_site_request_is_refused(as_role: Callable[[str], Browser]) -> None:
    owner = as_role("owner")
    no_token = owner.post("/dashboard/logout", follow_redirects=False)
    assert no_token.status_code == 403
    cross_site = owner.act("POST", "/dashboard/logout", headers={"Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 403  # type: ignore[attr-defined]
    other_origin = owner.act("POST", "/dashboard/logout", headers={"Origin": "https://evil.example"})
    assert other_origin.status_code == 403  # type: ignore[attr-defined]
    assert owner.act("POST", "/dashboard/logout").status_code == 303  # type: ignore[attr-defined]
    assert owner.get("/dashboard/").status_code == 303  # logged out


def test_sessions_end_when_idle_and_after_twelve_hours(as_role: Callable[[str], Browser], clock: FakeClock) -> None:
    owner = as_role("owner")
    clock.advance(minutes=31)
    assert owner.get("/dashboard/").status_code == 303
    owner = as_role("owner")
    for _ in range(25):  # active all day: 25 half-hours
        clock.advance(minutes=29)
        if owner.get("/dashboard/").status_code != 200:
            break
    assert owner.get("/dashboard/").status_code == 303


def test_next_never_leaves_the_dashboard(team: Team, browser: Callable[[], Browser]) -> None:
    for target in ("https://evil.example/", "//evil.example/dashboard", "/\\evil.example", "/dashboard//evil"):
        response = browser().post(
            "/dashboard/login", data={"email": team.owner.email, "password": PASSWORD, "next": target}
        )
        assert response.headers["location"] == "/dashboard/", target


def test_an_outsider_session_never_opens_another_shop(
    sera: Sera, as_role: Callable[[str], Browser], team: Team
) -> None:
    outsider = as_role("outsider")
    assert "Southside" in outsider.get("/dashboard/").text
    with sera.uow(readonly=True) as reader:
        rows = reader.session.execute(select(DashboardSession)).scalars().all()
    assert {row.merchant_id for row in rows if row.member_id == team.outsider.member_id} == {team.outsider.merchant_id}


def test_an_oversized_form_is_refused_before_it_is_read(as_role: Callable[[str], Browser]) -> None:
    owner = as_role("owner")
    huge = {"email": "x" * 300_000, "password": "y"}
    assert owner.post("/dashboard/login", data=huge).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: streamed
        for _ in range(40):
            yield b"a" * 10_000

    streamed = owner.post(
        "/dashboard/login", content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert streamed.status_code == 413
    assert owner.get("/dashboard/").status_code == 200  # the session is untouched
