"""The CRM v3 client against the fake, where HubSpot's answers need translating: a contact that
exists already (409), missing scopes (403), a 429's Retry-After, a 5xx, an object found by its title."""

from __future__ import annotations

import pytest

from sera.adapters.hubspot.client import HubspotClient, hubspot_http
from sera.integrations.hubspot import CrmBusyError, CrmRefusedError, CrmUnauthorizedError
from tests.fakes.hubspot_server import FakeHubspot


@pytest.fixture
def client(fake_hubspot: FakeHubspot) -> HubspotClient:
    return HubspotClient(hubspot_http(), fake_hubspot.token, fake_hubspot.base_url)


def test_a_contact_hubspot_already_holds_is_that_contact(client: HubspotClient, fake_hubspot: FakeHubspot) -> None:
    first = client.create_contact({"email": "harriet@example.com", "phone": "+13125550170"})

    assert client.create_contact({"email": "Harriet@Example.com"}) == first  # 409: "Existing ID: ..."
    assert len(fake_hubspot.objects["contacts"]) == 1
    assert client.find_contact(None, "harriet@example.com") == first
    assert client.find_contact("+13125550199", None) is None


def test_a_call_is_found_by_its_title_and_changed(client: HubspotClient, fake_hubspot: FakeHubspot) -> None:
    properties = {"hs_timestamp": "2026-11-27T15:57:00.000Z", "hs_call_title": "Inbound call with Sera (call_1)"}
    made = client.create_object("calls", properties, None)

    assert client.find_object("calls", "Inbound call with Sera (call_1)") == made
    assert client.find_object("calls", "Inbound call with Sera (call_2)") is None
    client.update_object("calls", made, {"hs_call_status": "COMPLETED"})
    assert fake_hubspot.objects["calls"][made]["properties"]["hs_call_status"] == "COMPLETED"
    with pytest.raises(CrmRefusedError, match="resource not found"):
        client.update_object("calls", "999999", {"hs_call_status": "COMPLETED"})
    with pytest.raises(CrmRefusedError, match="INVALID_OPTION"):
        client.create_object("calls", {**properties, "hs_call_direction": "SIDEWAYS"}, None)


def test_hubspots_refusals_and_limits_are_translated(client: HubspotClient, fake_hubspot: FakeHubspot) -> None:
    fake_hubspot.rate_limit(1, retry_after=7)
    with pytest.raises(CrmBusyError) as busy:
        client.portal_id()
    assert busy.value.rate_limited and busy.value.retry_after == 7
    fake_hubspot.fail_next(503)
    with pytest.raises(CrmBusyError) as down:
        client.portal_id()
    assert not down.value.rate_limited
    fake_hubspot.fail_next(403)
    with pytest.raises(CrmUnauthorizedError, match="required scopes"):
        client.create_contact({"phone": "+13125550170"})
    with pytest.raises(CrmUnauthorizedError, match="Authentication credentials not found"):
        HubspotClient(hubspot_http(), "pat-na1-other", fake_hubspot.base_url).portal_id()
    assert client.portal_id() == "62515"
