"""The HubSpot page: owners and admins connect the shop's HubSpot (the token checked with
HubSpot first, never shown again), see the last sync, what waits and what HubSpot refused and
why, and disconnect it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from sera.bootstrap import Sera
from sera.integrations.hubspot import drain
from sera.privacy.erasure import redact_customer
from tests.adapters.hubspot.conftest import a_call, a_customer
from tests.conftest import FakeClock, Personas
from tests.dashboard.conftest import Browser
from tests.fakes.hubspot_server import FakeHubspot


@pytest.fixture
def fake_hubspot(sera: Sera) -> Iterator[FakeHubspot]:
    fake = FakeHubspot().start()
    sera.settings = sera.settings.model_copy(update={"hubspot_api_url": fake.base_url})
    yield fake
    fake.stop()


def after(client: Browser, answer: object) -> str:
    """The page a form's 303 leads to."""
    assert getattr(answer, "status_code", None) == 303, answer
    return client.get(answer.headers["location"]).text  # type: ignore[attr-defined]


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("agent", 403), ("viewer", 403)])
def test_only_owners_and_admins_manage_hubspot(as_role: Callable[[str], Browser], role: str, status: int) -> None:
    assert as_role(role).get("/dashboard/hubspot").status_code == status


def test_hubspot_is_connected_shown_and_disconnected(
    sera: Sera,
    personas: Personas,
    as_role: Callable[[str], Browser],
    fake_hubspot: FakeHubspot,
    clock: FakeClock,
) -> None:
    owner = as_role("owner")
    refused = owner.act("POST", "/dashboard/hubspot", data={"token": "pat-na1-wrong"})
    assert refused.status_code == 422 and "HubSpot refused the token" in refused.text  # type: ignore[attr-defined]
    assert "pat-na1-wrong" not in refused.text  # type: ignore[attr-defined]

    done = after(owner, owner.act("POST", "/dashboard/hubspot", data={"token": fake_hubspot.token}))
    assert "HubSpot is connected" in done and "62515" in done and fake_hubspot.token not in done

    harriet = a_customer(sera, personas.northside_id)
    call = a_call(sera, personas.northside_id, clock, customer_id=harriet)
    fake_hubspot.refuse_next_create("calls", "Property values were not valid")
    drain(sera, personas.northside_id)
    shown = owner.get("/dashboard/hubspot").text
    assert call in shown and "Property values were not valid" in shown
    a_call(sera, personas.northside_id, clock, customer_id=harriet, outcome="ticket")
    fake_hubspot.rate_limit(1, retry_after=30)
    drain(sera, personas.northside_id)
    shown = owner.get("/dashboard/hubspot").text
    assert "rate limit (429)" in shown and "paused until" in shown

    gone = after(owner, owner.act("POST", "/dashboard/hubspot/disconnect"))
    assert "HubSpot is disconnected" in gone and "Not connected" in gone


def test_a_shop_disconnected_with_deletions_owed_is_shown_sending_them(
    sera: Sera, personas: Personas, as_role: Callable[[str], Browser], fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    shop = personas.northside_id
    owner = as_role("owner")
    after(owner, owner.act("POST", "/dashboard/hubspot", data={"token": fake_hubspot.token}))
    harriet = a_customer(sera, shop)
    a_call(sera, shop, clock, customer_id=harriet)
    drain(sera, shop)
    redact_customer(sera, shop, harriet, actor="test")

    gone = after(owner, owner.act("POST", "/dashboard/hubspot/disconnect"))
    assert "Disconnecting: sending the deletions owed to erased customers first" in gone
    assert "Disconnect HubSpot</button>" not in gone
    drain(sera, shop)
    assert "Not connected" in owner.get("/dashboard/hubspot").text
