"""Whatever Shopify (or anyone holding the app secret) signs, the webhook endpoint never
answers 5xx, and the jobs behind it never crash: bodies and headers are random, the HMAC
is always valid. The app's own pages (install, OAuth callback, the embedded page and its
session) never answer 5xx either, whatever query string and token reach them."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from sera.adapters.shopify.events import process_event
from sera.adapters.shopify.payloads import (
    PayloadError,
    parse_checkout,
    parse_customer_request,
    parse_order,
    parse_product,
    parse_product_deletion,
)
from sera.bootstrap import Sera
from sera.storage.models import ShopifyEvent
from tests.adapters.shopify.conftest import SHOP, URL, load
from tests.adapters.shopify.test_webhooks import TOPICS
from tests.fakes.shopify_server import FakeShopify

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def mutated_payload(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A recorded payload with some fields replaced, dropped or nulled (or a random object)."""
    topic = draw(st.sampled_from(TOPICS))
    if draw(st.booleans()):
        return topic, draw(st.dictionaries(st.text(max_size=12), json_values, max_size=6))
    payload = load(topic)
    for key in draw(st.lists(st.sampled_from(sorted(payload)), max_size=5, unique=True)):
        action = draw(st.sampled_from(["replace", "drop", "null"]))
        if action == "drop":
            payload.pop(key)
        else:
            payload[key] = None if action == "null" else draw(json_values)
    return topic, payload


header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
topics = st.sampled_from(TOPICS) | st.sampled_from(["orders/paid", "APP/UNINSTALLED", "", " checkouts/create "])
shops = st.one_of(
    st.just(SHOP), st.just(SHOP), st.sampled_from(["unknown.myshopify.com", "evil.example.com", ""]), header_text
)


@SETTINGS
@given(
    payload=mutated_payload(),
    topic=topics,
    shop=shops,
    event_id=st.none() | header_text,
    raw=st.none() | st.binary(max_size=200),
)
def test_the_webhook_endpoint_never_fails(
    client: TestClient,
    fake_shopify: FakeShopify,
    installed: str,
    sera: Sera,
    payload: tuple[str, dict[str, Any]],
    topic: str,
    shop: str,
    event_id: str | None,
    raw: bytes | None,
) -> None:
    body, headers = fake_shopify.webhook(payload[0], raw if raw is not None else payload[1], SHOP)
    headers.update({"X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": shop})
    if event_id is None:
        headers.pop("X-Shopify-Event-Id")
    else:
        headers["X-Shopify-Event-Id"] = event_id
    response = client.post(URL, content=body, headers=headers)
    assert response.status_code < 500, response.text
    event(f"{response.status_code} {response.json().get('outcome', '') if response.status_code == 200 else ''}")
    with sera.uow(readonly=True) as uow:
        pending = uow.session.execute(select(ShopifyEvent.merchant_id, ShopifyEvent.id)).all()
    for merchant_id, event_row in pending:  # what the jobs would do; none may raise
        event(f"job {process_event(sera, merchant_id, event_row)}")


@settings(max_examples=300, deadline=None)
@given(payload=mutated_payload())
def test_payload_readers_fail_only_with_payload_error(payload: tuple[str, dict[str, Any]]) -> None:
    topic, body = payload
    readers = {
        "checkouts": parse_checkout,
        "orders": parse_order,
        "products": parse_product_deletion if topic == "products/delete" else parse_product,
        "customers": parse_customer_request,
    }
    reader = readers.get(topic.split("/")[0])
    if reader is None:
        return
    with contextlib.suppress(PayloadError):
        reader(body)


APP_ROUTES = ["/shopify/install", "/shopify/callback", "/shopify/app", "/shopify/app/session"]
query_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
query_keys = st.sampled_from(["shop", "timestamp", "code", "state", "host", "id_token", "embedded", "session"])
query_values = query_text | st.sampled_from([SHOP, "evil.example.com", "", "0", "-1", "99999999999999999999", "1"])


@SETTINGS
@given(
    path=st.sampled_from(APP_ROUTES),
    params=st.dictionaries(query_keys | query_text.filter(bool), query_values, max_size=6),
    signed=st.booleans(),
    bearer=st.none() | header_text,
)
def test_the_app_routes_never_fail(
    client: TestClient,
    fake_shopify: FakeShopify,
    installed: str,
    path: str,
    params: dict[str, str],
    signed: bool,
    bearer: str | None,
) -> None:
    query = fake_shopify.sign_query(params) if signed else urlencode(params)
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    response = client.get(f"{path}?{query}", headers=headers, follow_redirects=False)
    assert response.status_code < 500, response.text
    event(str(response.status_code))
