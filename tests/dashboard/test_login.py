"""Logging in to the dashboard: passwords, the second factor, sessions, CSRF and throttling."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from sera.bootstrap import Sera
from sera.storage.models import AuditEntry, DashboardSession, StaffUser
from sera.team.second_factor import current_code, enable
from sera.team.session_store import RedisSessions
from sera.team.sessions import open_sessions
from tests.conftest import REDIS_URL, FakeClock
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
    with sera.uow(team.outsider.merchant_id, readonly=True) as reader:
        assert len(open_sessions(reader, team.outsider.member_id)) == 1
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:  # Northside's pages never list it
        assert open_sessions(reader, team.outsider.member_id) == []


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


def test_sessions_live_where_the_deployment_keeps_them(
    sera: Sera, team: Team, browser: Callable[[], Browser], session_store: str
) -> None:
    """The table, or Redis where configured: the same login, the same end at logout."""
    client = browser().login(team.owner.email)
    with sera.uow(readonly=True) as reader:
        rows = reader.session.execute(select(DashboardSession)).scalars().all()
    assert len(rows) == (1 if session_store == "table" else 0)  # in Redis, nothing in the table
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        [open_session] = open_sessions(reader, team.owner.member_id)
    assert client.act("POST", "/dashboard/logout").status_code == 303  # type: ignore[attr-defined]
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        assert open_sessions(reader, team.owner.member_id) == []
    assert client.get("/dashboard/").status_code == 303
    assert open_session.id


def test_redis_keeps_a_session_as_the_table_does() -> None:
    """The Redis store round-trips every field, lists a member's sessions and forgets an ended one."""
    if not REDIS_URL:
        pytest.skip("no Redis for the tests (SERA_TEST_REDIS_URL)")
    store = RedisSessions(REDIS_URL, prefix=f"sera-test:{uuid.uuid4().hex[:12]}:dashboard:")
    now = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    row = DashboardSession(
        id="a" * 64, member_id="mem_1", merchant_id="mer_1", stage="full", csrf_token="t", via="password",
        created_at=now, last_seen_at=now, reauthenticated_at=None, ended_at=None, ended_reason=None,
    )  # fmt: skip
    uow: Any = None  # the Redis store needs no unit of work
    store.keep(uow, row)
    again = store.get(uow, row.id)
    assert again is not None and (again.member_id, again.created_at, again.stage) == ("mem_1", now, "full")
    assert [r.id for r in store.of_member(uow, "mem_1")] == [row.id]
    again.ended_at, again.ended_reason = now, "logout"
    store.keep(uow, again)
    assert store.get(uow, row.id) is None and store.of_member(uow, "mem_1") == []


def test_second_factor_codes_are_throttled_like_passwords(
    sera: Sera, team: Team, browser: Callable[[], Browser], clock: FakeClock
) -> None:
    secret = pyotp.random_base32()
    with sera.uow(team.owner.merchant_id) as uow:
        member = uow.session.get(StaffUser, team.owner.member_id)
        assert member is not None
        enable(uow, member, secret, current_code(secret, int(clock().timestamp()) // 30), actor="test")
        uow.commit()
    clock.advance(seconds=30)  # past the code the set-up used
    client = browser()
    started = client.post("/dashboard/login", data={"email": team.owner.email, "password": PASSWORD})
    assert started.headers["location"].startswith("/dashboard/login/code")
    for wrong in ("000000", "111111", "222222", "333333", "444444"):
        assert client.post("/dashboard/login/code", data={"code": wrong}).status_code == 401
    right = current_code(secret, int(clock().timestamp()) // 30)
    locked = client.post("/dashboard/login/code", data={"code": right})
    assert locked.status_code == 401 and "too many failed attempts" in locked.text  # even the right code waits
    clock.advance(seconds=31)
    right = current_code(secret, int(clock().timestamp()) // 30)
    assert client.post("/dashboard/login/code", data={"code": right}).status_code == 303
