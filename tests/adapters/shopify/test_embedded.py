"""The embedded app: session tokens from the Shopify admin (App Bridge), and the page's framing rules."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from sera.bootstrap import Sera
from tests.adapters.shopify.conftest import API_KEY, API_SECRET, SHOP, load, post
from tests.conftest import FakeClock
from tests.fakes.shopify_server import FakeShopify

SESSION = "/shopify/app/session"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_session_token_names_the_shop(
    client: TestClient, fake_shopify: FakeShopify, installed: str, clock: FakeClock
) -> None:
    response = client.get(SESSION, headers=bearer(fake_shopify.session_token(SHOP, clock())))
    assert response.status_code == 200
    assert response.json() == {"merchant_id": installed, "shop": SHOP, "user_id": "74553753793"}


def test_the_admin_opens_the_dashboard_framed_by_the_shops_admin_only(
    client: TestClient, fake_shopify: FakeShopify, installed: str, clock: FakeClock
) -> None:
    token = fake_shopify.session_token(SHOP, clock())
    response = client.get("/shopify/app", params={"id_token": token, "shop": SHOP, "host": "YWRtaW4"})
    assert response.status_code == 200 and response.url.path == "/dashboard/"
    policy = response.headers["content-security-policy"]
    assert f"frame-ancestors https://{SHOP} https://admin.shopify.com" in policy
    assert "script-src 'self' 'nonce-" in policy and "https://cdn.shopify.com" in policy
    assert f'<meta name="shopify-api-key" content="{API_KEY}">' in response.text
    assert response.text.index("app-bridge.js") < response.text.index("htmx.min.js")  # App Bridge first
    assert "Today at Lakeside Bikes" in response.text
    assert "set-cookie" not in response.headers  # no cookie in a third-party frame
    assert "Log out" not in response.text  # the admin's own session is the login


def test_the_dashboard_in_the_admin_takes_the_session_token_on_every_request(
    client: TestClient, fake_shopify: FakeShopify, installed: str, clock: FakeClock, shopify_sera: Sera
) -> None:
    from sqlalchemy import select

    from sera.storage.models import AuditEntry

    page = client.get("/dashboard/", headers=bearer(fake_shopify.session_token(SHOP, clock())))
    assert page.status_code == 200 and "Lakeside Bikes" in page.text
    assert 'href="/dashboard/team"' in page.text  # the shop's staff are admins
    assert 'href="/dashboard/settings"' in page.text
    # another token of the same staff account is the same member; a change needs no CSRF token
    # (no cookie carries it) but is refused when the token is forged
    again = client.get("/dashboard/", headers=bearer(fake_shopify.session_token(SHOP, clock())))
    assert again.status_code == 200
    forged = fake_shopify.session_token(SHOP, clock(), secret="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")
    refused = client.get("/dashboard/", headers={**bearer(forged), "HX-Request": "true"}, follow_redirects=False)
    assert refused.status_code == 401 and "/dashboard/embedded/bounce" in refused.headers["hx-redirect"]
    with shopify_sera.uow(installed, readonly=True) as reader:
        added = (
            reader.session.execute(select(AuditEntry).where(AuditEntry.action == "team_member_added")).scalars().all()
        )
    assert len(added) == 1 and added[0].details["via"] == "shopify_admin"


def test_a_reload_inside_the_admin_goes_by_the_bounce_page(client: TestClient, installed: str) -> None:
    reload = client.get("/dashboard/calls?embedded=1&shop=" + SHOP, follow_redirects=False)
    assert reload.status_code == 303
    assert reload.headers["location"].startswith("/dashboard/embedded/bounce?shopify-reload=%2Fdashboard%2Fcalls")
    bounce = client.get(reload.headers["location"])
    assert 'src="https://cdn.shopify.com/shopifycloud/app-bridge.js"' in bounce.text
    assert f'content="{API_KEY}"' in bounce.text


def test_the_page_needs_proof_of_the_shop(client: TestClient, installed: str) -> None:
    assert client.get("/shopify/app", params={"shop": SHOP}).status_code == 401
    assert client.get(SESSION).status_code == 401


def test_a_few_seconds_of_clock_skew_are_forgiven(
    client: TestClient, fake_shopify: FakeShopify, installed: str, clock: FakeClock
) -> None:
    token = fake_shopify.session_token(SHOP, clock(), lifetime=60)
    clock.advance(seconds=63)
    assert client.get(SESSION, headers=bearer(token)).status_code == 200
    early = fake_shopify.session_token(SHOP, clock(), nbf=int(clock().timestamp()) + 3)
    assert client.get(SESSION, headers=bearer(early)).status_code == 200


@pytest.mark.parametrize(
    ("case", "claims"),
    [
        ("expired", {"lifetime": 60, "advance": 70}),
        ("not yet valid", {"nbf_offset": 60}),
        ("another app's audience", {"api_key": "0" * 32}),
        ("another app's secret", {"secret": "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"}),
        ("a shop that did not install Sera", {"shop": "elsewhere.myshopify.com"}),
        ("not a Shopify destination", {"dest": "https://lakeside-bikes.example.com"}),
        ("issuer and destination disagree", {"iss": "https://elsewhere.myshopify.com/admin"}),
        ("a plain http destination", {"dest": f"http://{SHOP}"}),
    ],
)
def test_a_bad_session_token_is_refused(
    client: TestClient, fake_shopify: FakeShopify, installed: str, clock: FakeClock, case: str, claims: dict[str, Any]
) -> None:
    shop = claims.get("shop", SHOP)
    extra = {k: v for k, v in claims.items() if k in ("iss",)}
    if "nbf_offset" in claims:
        extra["nbf"] = int(clock().timestamp()) + claims["nbf_offset"]
    token = fake_shopify.session_token(
        shop,
        clock(),
        lifetime=claims.get("lifetime", 60),
        api_key=claims.get("api_key"),
        secret=claims.get("secret"),
        dest=claims.get("dest"),
        **extra,
    )
    clock.advance(seconds=claims.get("advance", 0))
    assert client.get(SESSION, headers=bearer(token)).status_code == 401, case
    assert client.get("/shopify/app", params={"id_token": token}).status_code == 401, case


def test_a_token_missing_a_claim_is_refused(
    client: TestClient, fake_shopify: FakeShopify, installed: str, clock: FakeClock
) -> None:
    now = int(clock().timestamp())
    token = jwt.encode(
        {"iss": f"https://{SHOP}/admin", "dest": f"https://{SHOP}", "aud": API_KEY, "exp": now + 60, "nbf": now},
        API_SECRET,
        algorithm="HS256",
    )
    assert client.get(SESSION, headers=bearer(token)).status_code == 401
    assert client.get(SESSION, headers=bearer("not-a-jwt")).status_code == 401


def test_an_uninstalled_shops_token_is_refused(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera, clock: FakeClock
) -> None:
    post(client, fake_shopify, "app/uninstalled", load("app/uninstalled"))
    jobs.run_pending()
    assert client.get(SESSION, headers=bearer(fake_shopify.session_token(SHOP, clock()))).status_code == 401
