"""Every dashboard route, fed any input as a logged-in owner would send it (any id, any query,
any form fields, any text): never a server error, never a page that lets script through.

The routes are read from the app (tests/dashboard/test_roles.py walks the same list), so a new
page is fuzzed the day it is added; the API's own routes are fuzzed by schemathesis
(tests/test_fuzz_api.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dashboard.conftest import Browser
from tests.dashboard.test_roles import ROUTES, Route

# text that reaches parsers: ids, dates, numbers, markup, control and surrogate-free unicode
TEXT = st.one_of(
    st.sampled_from(["", "0", "-1", "2026-13-45", "9" * 40, "<script>alert(1)</script>", "' OR 1=1 --", "\x00"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60),
)
FIELDS = st.sampled_from(
    ["q", "email", "password", "role", "status", "note", "text", "name", "phone", "date", "view", "staff",
     "service", "start", "since", "until", "period", "cursor", "days", "domain", "code", "next", "question",
     "answer", "greeting", "channel", "outcome", "assignee", "preset", "table", "zone", "density"]
)  # fmt: skip
# the owner's own session ends (or the shop goes) through these: fuzzed last
ENDING = ("/dashboard/logout", "/dashboard/privacy/delete")


def _url(route: Route, part: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: quote(part or "x", safe=""), route.path)


def test_every_dashboard_route_survives_any_input(as_role: Callable[[str], Browser]) -> None:
    owner = as_role("owner")
    hit: set[Route] = set()

    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(part=TEXT, query=st.dictionaries(FIELDS, TEXT, max_size=4), form=st.dictionaries(FIELDS, TEXT, max_size=6))
    def survives(route: Route, part: str, query: dict[str, str], form: dict[str, str]) -> None:
        url = _url(route, part)
        if route.method == "GET":
            response = owner.get(url, params=query, follow_redirects=False)
        else:
            response = owner.act(route.method, url, params=query, data=form)  # type: ignore[assignment]
        status = response.status_code  # type: ignore[attr-defined]
        unconfigured = status == 503 and route.path.startswith("/dashboard/embedded")  # no Shopify app here
        assert status < 500 or unconfigured, (route, part, query, form, response.text[:300])  # type: ignore[attr-defined]
        assert "<script>alert(1)</script>" not in response.text, (route, "script reflected unescaped")  # type: ignore[attr-defined]
        hit.add(route)

    for route in sorted(ROUTES, key=lambda r: r.path.startswith(ENDING)):  # the session's end comes last
        survives(route)
    assert hit == set(ROUTES)


def test_an_id_no_record_can_have_is_the_not_found_page_on_every_route(as_role: Callable[[str], Browser]) -> None:
    """PostgreSQL refuses a NUL in text: such an id is answered before any query is made."""
    owner = as_role("owner")
    with_ids = [r for r in ROUTES if r.method == "GET" and re.search(r"\{\w+_id\}", r.path)]
    assert with_ids
    for route in with_ids:
        for odd in ("\x00", "a b", "x" * 65):
            response = owner.get(_url(route, odd), follow_redirects=False)
            assert response.status_code == 404, (route, odd, response.status_code)
