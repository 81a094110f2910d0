"""The webhooks page: owners and admins list, add (the secret shown once), change, rotate and
delete endpoints, read each one's delivery log and replay a delivery; and turn on sharing of
transcripts with integrations. Other roles are refused; another shop's ids are not found."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from sera.bootstrap import Sera
from sera.integrations import webhooks
from sera.integrations.sharing import shares_interaction_data
from sera.storage.models import WebhookDelivery, WebhookEndpoint
from sera.storage.paging import PageRequest
from sera.support.service import create_ticket
from tests.conftest import FakeClock
from tests.dashboard.conftest import Browser, Team, check_accessibility

if TYPE_CHECKING:
    from playwright.sync_api import Page

HOOK = "https://hooks.northside-crm.com/sera"
SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


@pytest.fixture(autouse=True)
def allowed_hosts(sera: Sera) -> None:
    sera.settings.webhooks_allow_private = False  # the URLs here are public names; nothing is sent


def add(client: Browser, url: str = HOOK, events: tuple[str, ...] = ("ticket.created",)) -> Any:
    return client.act("POST", "/dashboard/webhooks", data={"url": url, "events": list(events)})


def endpoint_id(sera: Sera, merchant_id: str) -> str:
    with sera.uow(merchant_id, readonly=True) as reader:
        [endpoint] = webhooks.list_endpoints(reader, PageRequest(limit=10)).items
    return endpoint.id


def a_ticket(sera: Sera, merchant_id: str, clock: FakeClock) -> None:
    with sera.uow(merchant_id) as uow:
        create_ticket(uow, subject="Wobbly wheel", description="", tags=[], customer_id=None, now=clock())
        uow.commit()


def failed_delivery(sera: Sera, merchant_id: str) -> str:
    """The endpoint's one delivery, as three days of failures leave it."""
    with sera.uow(merchant_id) as uow:
        row = uow.session.query(WebhookDelivery).one()
        row.status, row.attempts, row.last_status_code, row.next_attempt_at = "failed", 30, 503, None
        uow.commit()
        return row.id


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("agent", 403), ("viewer", 403)])
def test_only_owners_and_admins_see_the_webhooks_page(
    as_role: Callable[[str], Browser], role: str, status: int
) -> None:
    client = as_role(role)
    page = client.get("/dashboard/webhooks")
    assert page.status_code == status
    assert ('href="/dashboard/webhooks"' in client.get("/dashboard/").text) == (status == 200)  # in the menu
    if status == 403:
        assert add(client).status_code == 403
        assert client.act("POST", "/dashboard/webhooks/sharing", data={"share": "on"}).status_code == 403


def test_the_owner_adds_an_endpoint_and_sees_its_secret_once(
    as_role: Callable[[str], Browser], sera: Sera, team: Team, clock: FakeClock
) -> None:
    owner = as_role("owner")
    refused = add(owner, url="https://10.0.0.7/hook")
    assert refused.status_code == 422 and "private, loopback or link-local" in refused.text
    assert add(owner, events=()).status_code == 422

    created = add(owner, events=("ticket.created", "appointment.booked"))
    assert created.status_code == 201
    [secret] = SECRET.findall(created.text)
    assert "shown this once" in created.text
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:  # the secret that signs
        [row] = reader.session.query(WebhookEndpoint).all()
        assert reader.vault.open(row, "secret") == secret
    listing = owner.get("/dashboard/webhooks")
    assert HOOK in listing.text and "appointment.booked, ticket.created" in listing.text and "None yet" in listing.text
    detail = owner.get(f"/dashboard/webhooks/{row.id}")
    assert detail.status_code == 200 and HOOK in detail.text
    assert "whsec_" not in listing.text and "whsec_" not in detail.text  # never again

    a_ticket(sera, team.owner.merchant_id, clock)
    assert ">pending<" in owner.get("/dashboard/webhooks").text  # the last delivery's status


def test_the_owner_changes_rotates_and_deletes_an_endpoint(
    as_role: Callable[[str], Browser], sera: Sera, team: Team
) -> None:
    owner = as_role("owner")
    add(owner)
    endpoint = endpoint_id(sera, team.owner.merchant_id)
    path = f"/dashboard/webhooks/{endpoint}"

    saved = owner.act("POST", path, data={"events": ["ticket.updated", "call.completed"]})  # "enabled" unchecked
    assert saved.status_code == 303 and saved.headers["location"].endswith("?done=saved")
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        view = webhooks.get_endpoint(reader, endpoint)
    assert (view.events, view.enabled) == (["call.completed", "ticket.updated"], False)
    assert owner.act("POST", path, data={"enabled": "on"}).status_code == 422  # no event left
    assert owner.act("POST", path, data={"events": ["call.exploded"], "enabled": "on"}).status_code == 422

    rotated = owner.act("POST", f"{path}/rotate")
    assert rotated.status_code == 200 and len(SECRET.findall(rotated.text)) == 1
    assert "previous one as well" in rotated.text
    assert "signs too until" in owner.get(path).text and "whsec_" not in owner.get(path).text

    deleted = owner.act("POST", f"{path}/delete")
    assert deleted.status_code == 303 and owner.get(path).status_code == 404
    assert HOOK not in owner.get("/dashboard/webhooks").text


def test_the_delivery_log_and_replay_enqueue_the_delivery_again(
    as_role: Callable[[str], Browser], sera: Sera, team: Team, clock: FakeClock, jobs: Any
) -> None:
    owner = as_role("owner")
    add(owner)
    endpoint = endpoint_id(sera, team.owner.merchant_id)
    a_ticket(sera, team.owner.merchant_id, clock)
    jobs.huey.flush()  # the first attempt is not the subject here
    delivery = failed_delivery(sera, team.owner.merchant_id)
    log = owner.get(f"/dashboard/webhooks/{endpoint}")
    assert delivery in log.text and ">failed<" in log.text and ">503<" in log.text and ">Replay<" in log.text
    partial = owner.get(f"/dashboard/webhooks/{endpoint}", headers={"HX-Request": "true"})
    assert partial.text.startswith('<div id="delivery-log">') and delivery in partial.text  # htmx: the log alone

    replayed = owner.act("POST", f"/dashboard/webhooks/{endpoint}/deliveries/{delivery}/replay")
    assert replayed.status_code == 303 and replayed.headers["location"].endswith("?done=replayed")
    assert jobs.huey.pending_count() == 1  # handed to the queue at once, under the same id
    [task] = jobs.huey.pending()
    assert task.name == webhooks.DELIVER_JOB and task.args == (delivery,)
    assert ">pending<" in owner.get(f"/dashboard/webhooks/{endpoint}").text
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        assert webhooks.get_endpoint(reader, endpoint).id == endpoint
        [row] = reader.session.query(WebhookDelivery).all()
        assert (row.id, row.status) == (delivery, "pending")


def test_an_outsider_gets_404_on_another_shops_endpoint_and_delivery(
    as_role: Callable[[str], Browser], sera: Sera, team: Team, clock: FakeClock, jobs: Any
) -> None:
    add(as_role("owner"))
    endpoint = endpoint_id(sera, team.owner.merchant_id)
    a_ticket(sera, team.owner.merchant_id, clock)
    delivery = failed_delivery(sera, team.owner.merchant_id)
    jobs.huey.flush()
    outsider = as_role("outsider")
    path = f"/dashboard/webhooks/{endpoint}"
    assert outsider.get(path).status_code == 404
    assert outsider.act("POST", path, data={"events": ["ticket.created"], "enabled": "on"}).status_code == 404
    assert outsider.act("POST", f"{path}/rotate").status_code == 404
    assert outsider.act("POST", f"{path}/delete").status_code == 404
    assert outsider.act("POST", f"{path}/deliveries/{delivery}/replay").status_code == 404
    assert HOOK not in outsider.get("/dashboard/webhooks").text
    assert jobs.huey.pending_count() == 0
    owner = as_role("owner")
    assert owner.get(path).status_code == 200 and ">failed<" in owner.get(path).text


def test_the_sharing_toggle(as_role: Callable[[str], Browser], sera: Sera, team: Team) -> None:
    owner = as_role("owner")
    assert "they do not go now" in owner.get("/dashboard/webhooks").text
    on = owner.act("POST", "/dashboard/webhooks/sharing", data={"share": "on"})
    assert on.status_code == 303
    assert "they go now" in owner.get("/dashboard/webhooks?done=shared").text
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        assert shares_interaction_data(reader)
    with sera.uow(team.outsider.merchant_id, readonly=True) as reader:
        assert not shares_interaction_data(reader)
    owner.act("POST", "/dashboard/webhooks/sharing", data={})  # the box unchecked
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        assert not shares_interaction_data(reader)


def test_the_webhooks_pages_in_the_browser(owner_page: Page, server: str) -> None:
    owner_page.get_by_role("link", name="Webhooks").click()
    owner_page.wait_for_url("**/dashboard/webhooks")
    check_accessibility(owner_page, "webhooks")
    owner_page.get_by_label("URL").fill(HOOK)
    owner_page.get_by_label("ticket.created").check()
    owner_page.get_by_role("button", name="Add the endpoint").click()
    assert owner_page.locator("#signing-secret").inner_text().startswith("whsec_")
    check_accessibility(owner_page, "webhooks-endpoint")
