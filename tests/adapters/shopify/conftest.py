"""Shopify as it talks to Sera: a fake Shopify (OAuth, Admin GraphQL) and recorded webhook
payloads (fixtures/<topic>.json, the topic's "/" as "_"), signed the way Shopify signs them.

Every fixture belongs to Lakeside Bikes (lakeside-bikes.myshopify.com), installed through
the OAuth flow against the fake, and to its shopper Harriet Okonkwo (+13125550188), on
Friday 27 November 2026 around 10:00 in Chicago: the test clock's time.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from sera.bootstrap import Sera
from sera.merchants.service import merchant_id_for_domain
from sera.storage.models import Base
from sera.web.app import create_app
from tests.conftest import FakeClock
from tests.fakes.shopify_server import FakeShopify

FIXTURES = Path(__file__).parent / "fixtures"
API_KEY = "4c3f5e1b9a2d8c7e6f0a1b2c3d4e5f60"
API_SECRET = "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"
SHOP = "lakeside-bikes.myshopify.com"
SHOPPER_PHONE = "+13125550188"
SHOPPER_EMAIL = "harriet.okonkwo@example.com"
SHOPPER_NAME = "Harriet Okonkwo"
SHOPIFY_CUSTOMER = "shopify:7066823540929"
URL = "/shopify/webhooks"


def load(topic: str) -> dict[str, Any]:
    """A fresh copy of the recorded payload for a topic such as ``checkouts/create``."""
    document: dict[str, Any] = json.loads((FIXTURES / f"{topic.replace('/', '_')}.json").read_text())
    return copy.deepcopy(document)


@pytest.fixture
def fake_shopify(clock: FakeClock) -> Iterator[FakeShopify]:
    """Shopify on the tests' clock: its tokens expire when the test moves time on."""
    fake = FakeShopify(api_key=API_KEY, api_secret=API_SECRET, clock=clock).start()
    fake.add_shop(SHOP, "Lakeside Bikes", timezone="America/Chicago", currency="USD")
    yield fake
    fake.stop()


@pytest.fixture
def shopify_sera(sera: Sera, fake_shopify: FakeShopify) -> Sera:
    """Sera with the Shopify app configured and its Admin API calls going to the fake."""
    sera.settings = sera.settings.model_copy(
        update={
            "shopify_api_key": API_KEY,
            "shopify_api_secret": SecretStr(API_SECRET),
            "shopify_admin_base": fake_shopify.base_url,
        }
    )
    return sera


@pytest.fixture
def client(shopify_sera: Sera) -> Iterator[TestClient]:
    with TestClient(create_app(shopify_sera)) as test_client:
        yield test_client


def install(client: TestClient, fake: FakeShopify, shop: str = SHOP) -> httpx.Response:
    """The merchant's browser through the whole install: Sera → Shopify's grant → Sera's callback."""
    start = client.get("/shopify/install", params={"shop": shop}, follow_redirects=False)
    assert start.status_code == 302, start.text
    granted = httpx.get(start.headers["location"], follow_redirects=False)  # the merchant clicks Install
    assert granted.status_code == 302, granted.text
    back = httpx.URL(granted.headers["location"])
    return client.get(f"{back.path}?{back.query.decode()}", follow_redirects=False)


@pytest.fixture
def installed(client: TestClient, fake_shopify: FakeShopify, jobs: Any, shopify_sera: Sera) -> str:
    """Lakeside Bikes installed through OAuth, its webhooks registered; its merchant id."""
    response = install(client, fake_shopify)
    assert response.status_code == 302, response.text
    jobs.run_pending()
    merchant_id = merchant_id_for_domain(shopify_sera, SHOP)
    assert merchant_id is not None
    return merchant_id


def post(
    client: TestClient,
    fake: FakeShopify,
    topic: str,
    payload: Any,
    *,
    shop: str = SHOP,
    event_id: str | None = None,
    secret: str | None = None,
) -> httpx.Response:
    body, headers = fake.webhook(topic, payload, shop, event_id=event_id, secret=secret)
    return client.post(URL, content=body, headers=headers)


def row_counts(sera: Sera) -> dict[str, int]:
    """Rows in every table: what "nothing was done" is checked against."""
    with sera.uow(readonly=True) as uow:
        return {
            table.name: uow.session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }
