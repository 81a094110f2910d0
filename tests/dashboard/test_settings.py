"""Agent settings in the dashboard: forms that validate as `sera shop import` does, every change
versioned, audited and restorable, the "try it" panel, and a new FAQ entry from the weekly report."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import pytest
from httpx import Response
from sqlalchemy import select

from sera.bootstrap import Sera
from sera.merchants.service import export_shop
from sera.merchants.settings import current_settings, list_versions
from sera.merchants.shop_file import parse_shop_text
from sera.storage.models import AuditEntry, ShopSettingsVersion
from sera.storage.paging import PageRequest
from tests.conftest import FakeClock
from tests.dashboard.conftest import ROLES, Browser, Team, check_accessibility, no_csp_violations

if TYPE_CHECKING:
    from playwright.sync_api import Page

SCRIPT = "<script>alert(1)</script>"
WRITERS = ("owner", "admin")


def _post(client: Browser, url: str, data: dict[str, str]) -> Response:
    return cast(Response, client.act("POST", url, data=data))


def _settings(sera: Sera, merchant_id: str) -> dict[str, Any]:
    with sera.uow(merchant_id, readonly=True) as reader:
        return current_settings(reader)


def _persona_form(sera: Sera, merchant_id: str, **changes: str) -> dict[str, str]:
    agent = _settings(sera, merchant_id)["agent"]
    form = {f"agent.{k}": agent.get(k) or "" for k in ("name", "greeting", "greeting_known_caller", "greeting_sms")}
    form["agent.record_calls"] = "on"
    return {**form, **{f"agent.{k}": v for k, v in changes.items()}}


def _faq_form(entries: list[dict[str, str]]) -> dict[str, str]:
    form: dict[str, str] = {}
    for i, entry in enumerate(entries):
        form[f"faq.{i}.q"] = entry["q"]
        form[f"faq.{i}.a"] = entry["a"]
    return form


def _versions(sera: Sera, merchant_id: str) -> list[ShopSettingsVersion]:
    with sera.uow(merchant_id, readonly=True) as reader:
        stmt = select(ShopSettingsVersion).order_by(ShopSettingsVersion.number)
        return list(reader.session.execute(stmt).scalars())


# -- who may see and change -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_the_settings_only_if_allowed(role: str, as_role: Callable[[str], Browser]) -> None:
    client = as_role(role)
    page = client.get("/dashboard/settings")
    if role == "agent":
        assert page.status_code == 403
        return
    assert page.status_code == 200
    assert "Thanks for calling Northside Cycles, this is Sam" in page.text
    assert ("Save greeting and persona" in page.text) == (role in WRITERS)
    assert client.get("/dashboard/settings/versions").status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_only_owners_and_admins_change_settings(
    role: str, as_role: Callable[[str], Browser], sera: Sera, team: Team
) -> None:
    client = as_role(role)
    form = _persona_form(sera, team.owner.merchant_id, name="Robin")
    response = _post(client, "/dashboard/settings/agent", form)
    assert response.status_code == (303 if role in WRITERS else 403)
    assert _settings(sera, team.owner.merchant_id)["agent"]["name"] == ("Robin" if role in WRITERS else "Sam")
    assert client.get("/dashboard/knowledge/new").status_code == (200 if role in WRITERS else 403)


def test_the_outsider_sees_their_own_shop_and_never_northsides_versions(
    as_role: Callable[[str], Browser], sera: Sera, team: Team
) -> None:
    owner = as_role("owner")
    _post(owner, "/dashboard/settings/agent", _persona_form(sera, team.owner.merchant_id, name="Robin"))
    version_id = _versions(sera, team.owner.merchant_id)[-1].id
    outsider = as_role("outsider")
    page = outsider.get("/dashboard/settings")
    assert page.status_code == 200 and "Northside" not in page.text
    assert outsider.get(f"/dashboard/settings/versions/{version_id}").status_code == 404
    assert _post(outsider, f"/dashboard/settings/versions/{version_id}/restore", {}).status_code == 404
    assert "Robin" not in outsider.get("/dashboard/settings/versions").text
    assert _settings(sera, team.owner.merchant_id)["agent"]["name"] == "Robin"


def test_a_form_without_the_csrf_token_changes_nothing(
    as_role: Callable[[str], Browser], sera: Sera, team: Team
) -> None:
    client = as_role("owner")
    form = _persona_form(sera, team.owner.merchant_id, name="Robin")
    response = client.post("/dashboard/settings/agent", data=form, follow_redirects=False)
    assert response.status_code == 403
    assert _settings(sera, team.owner.merchant_id)["agent"]["name"] == "Sam"


# -- saving, exactly as an import would ----------------------------------------------------------------


def test_a_saved_greeting_is_what_the_shop_file_says_and_the_import_accepts(
    as_role: Callable[[str], Browser], sera: Sera, team: Team
) -> None:
    client = as_role("admin")
    form = _persona_form(sera, team.owner.merchant_id, greeting="Northside Cycles, Robin speaking.", name="Robin")
    response = _post(client, "/dashboard/settings/agent", form)
    assert response.status_code == 303 and response.headers["location"].startswith("/dashboard/settings?saved=agent")
    assert "Greeting and persona: saved." in client.get(response.headers["location"]).text
    exported = export_shop(sera, "northside-cycles.myshopify.com", actor="test")
    shop = parse_shop_text(exported)  # what the form saved is a valid shop file
    assert shop.agent.greeting == "Northside Cycles, Robin speaking." and shop.agent.name == "Robin"
    assert len(shop.orders) > 0  # the orders (not in the form) were kept


def test_invalid_hours_show_the_validators_words_by_the_field_and_save_nothing(
    as_role: Callable[[str], Browser], sera: Sera, team: Team
) -> None:
    client = as_role("owner")
    before = _settings(sera, team.owner.merchant_id)
    form = {f"hours.{day}": ", ".join(ranges) for day, ranges in before["hours"].items()}
    form["hours.mon"] = "10-18"
    form["hours.sun"] = "12:00-16:00"
    response = _post(client, "/dashboard/settings/hours", form)
    assert response.status_code == 422
    assert "&#39;10-18&#39; is not an opening range like 10:00-18:00" in response.text
    assert 'id="f-hours-mon" name="hours.mon"' in response.text and 'aria-invalid="true"' in response.text
    assert 'value="10-18"' in response.text  # what was typed is shown again
    assert _settings(sera, team.owner.merchant_id)["hours"] == before["hours"]
    assert _versions(sera, team.owner.merchant_id) == []


def test_services_are_added_changed_and_removed_with_numbers_and_references_checked(
    as_role: Callable[[str], Browser], sera: Sera, team: Team
) -> None:
    client = as_role("owner")
    services = _settings(sera, team.owner.merchant_id)["services"]
    form: dict[str, str] = {}
    for i, service in enumerate(services):
        form[f"services.{i}.name"] = service["name"]
        form[f"services.{i}.duration_min"] = str(service["duration_min"])
    form["services.0.remove"] = "on"  # Dana and Luis do tune-ups
    form["services.1.duration_min"] = "zero"
    new = len(services)
    form[f"services.{new}.name"] = "Wheel truing"
    form[f"services.{new}.duration_min"] = "30"
    form[f"services.{new}.price"] = "25.50"
    refused = _post(client, "/dashboard/settings/services", form)
    assert refused.status_code == 422
    assert "services.0.duration_min: Input should be a valid integer" in refused.text
    assert "staff &#39;Dana&#39; names unknown service &#39;Tune-up&#39;" not in refused.text  # one thing at a time
    del form["services.0.remove"]
    refused = _post(client, "/dashboard/settings/services", form)
    assert "services.1.duration_min: Input should be a valid integer" in refused.text
    assert 'id="f-services-1-duration_min" name="services.1.duration_min"' in refused.text
    form["services.1.duration_min"] = "40"
    assert _post(client, "/dashboard/settings/services", form).status_code == 303
    saved = _settings(sera, team.owner.merchant_id)["services"]
    assert [s["name"] for s in saved][-1] == "Wheel truing"
    assert saved[1]["duration_min"] == 40 and saved[-1]["price"] == 25.5
    form[f"services.{new}.remove"] = "on"
    assert _post(client, "/dashboard/settings/services", form).status_code == 303
    assert "Wheel truing" not in [s["name"] for s in _settings(sera, team.owner.merchant_id)["services"]]
    form["services.0.remove"] = "on"
    refused = _post(client, "/dashboard/settings/services", form)
    assert refused.status_code == 422 and "staff &#39;Dana&#39; names unknown service &#39;Tune-up&#39;" in refused.text


def test_a_workflow_with_a_mistake_names_the_line_the_merchant_wrote(
    as_role: Callable[[str], Browser], sera: Sera, team: Team
) -> None:
    client = as_role("owner")
    text = "- name: repair_quote\n  triggers: [quote]\n  action:\n    create_ticket: {subject: Quote}\n  colour: red\n"
    response = _post(client, "/dashboard/settings/workflows", {"workflows": text})
    assert response.status_code == 422
    assert "line 5: unknown key &#39;colour&#39;" in response.text
    good = text.replace("  colour: red\n", "  say_done: " + SCRIPT + "\n")
    assert _post(client, "/dashboard/settings/workflows", {"workflows": good}).status_code == 303
    assert _settings(sera, team.owner.merchant_id)["workflows"][0]["say_done"] == SCRIPT
    page = client.get("/dashboard/settings").text
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_outbound_settings_are_saved(as_role: Callable[[str], Browser], sera: Sera, team: Team) -> None:
    client = as_role("owner")
    form = {
        "outbound.abandoned_checkout.channel": "sms",
        "outbound.abandoned_checkout.delay_min": "90",
        "outbound.abandoned_checkout.max_attempts": "2",
        "outbound.appointment_reminders.enabled": "on",
        "outbound.appointment_reminders.channel": "sms",
        "outbound.appointment_reminders.hours_before": "48",
        "outbound.quiet_hours.start": "20:00",
        "outbound.quiet_hours.end": "09:00",
        "outbound.call_provider": "twilio",
    }
    assert _post(client, "/dashboard/settings/outbound", form).status_code == 303
    outbound = _settings(sera, team.owner.merchant_id)["outbound"]
    assert outbound["abandoned_checkout"]["enabled"] is False and outbound["abandoned_checkout"]["delay_min"] == 90
    assert outbound["appointment_reminders"] == {"enabled": True, "channel": "sms", "hours_before": 48}
    assert outbound["quiet_hours"] == {"start": "20:00", "end": "09:00"}
    form["outbound.quiet_hours.start"] = "8pm"
    refused = _post(client, "/dashboard/settings/outbound", form)
    assert refused.status_code == 422 and "&#39;8pm&#39; is not a time like 21:00" in refused.text


def test_staff_hours_and_closures_are_saved(as_role: Callable[[str], Browser], sera: Sera, team: Team) -> None:
    client = as_role("owner")
    form = {"closures": "2026-12-25\n2027-01-01\n2026-12-26"}
    assert _post(client, "/dashboard/settings/closures", form).status_code == 303
    assert [str(d) for d in _settings(sera, team.owner.merchant_id)["closures"]] == [
        "2026-12-25",
        "2026-12-26",
        "2027-01-01",
    ]
    staff = {
        "staff.0.name": "Dana",
        "staff.0.services": "Tune-up",
        "staff.0.hours": "mon 10:00-14:00\ntue: 12:00-16:00",
    }
    assert _post(client, "/dashboard/settings/staff", staff).status_code == 303
    person = _settings(sera, team.owner.merchant_id)["staff"][0]
    assert person == {
        "name": "Dana",
        "services": ["Tune-up"],
        "hours": {"mon": ["10:00-14:00"], "tue": ["12:00-16:00"]},
    }
    staff["staff.0.services"] = "Unicycle polishing"
    refused = _post(client, "/dashboard/settings/staff", staff)
    assert refused.status_code == 422 and "names unknown service" in refused.text


# -- versions, history, restore, audit ---------------------------------------------------------------


def test_each_change_is_a_version_with_its_difference_and_an_earlier_one_can_be_restored(
    as_role: Callable[[str], Browser], sera: Sera, team: Team, clock: FakeClock
) -> None:
    client = as_role("owner")
    merchant_id = team.owner.merchant_id
    _post(client, "/dashboard/settings/agent", _persona_form(sera, merchant_id, name="Robin"))
    clock.advance(minutes=5)
    faq = _settings(sera, merchant_id)["faq"]
    _post(client, "/dashboard/settings/faq", _faq_form([*faq, {"q": "Do you fix scooters?", "a": "No, bikes only."}]))
    versions = _versions(sera, merchant_id)
    assert [(v.number, v.section) for v in versions] == [(1, "initial"), (2, "agent"), (3, "faq")]
    assert all(v.actor == f"team_member:{team.owner.member_id}" for v in versions)
    assert "Robin" not in versions[0].document and "name: Robin" in versions[1].document
    assert "orders:" not in versions[2].document  # customers' details stay out of the history

    with sera.uow(merchant_id, readonly=True) as reader:
        first_page = list_versions(reader, PageRequest(limit=2))
        rest = list_versions(reader, PageRequest(limit=2, cursor=first_page.next_cursor))
    assert [v.number for v in first_page.items] == [3, 2] and [v.number for v in rest.items] == [1]
    assert rest.next_cursor is None
    assert client.get("/dashboard/settings/versions?cursor=nonsense").status_code == 404
    history = client.get("/dashboard/settings/versions").text
    assert history.index("See version 3") < history.index("See version 2") < history.index("See version 1")
    assert "owner@northside.example" in history
    detail = client.get(f"/dashboard/settings/versions/{versions[2].id}").text
    assert "Changes since version 2" in detail
    assert '<span class="added">+ - q: Do you fix scooters?</span>' in detail

    restored = _post(client, f"/dashboard/settings/versions/{versions[0].id}/restore", {})
    assert restored.status_code == 303 and restored.headers["location"] == "/dashboard/settings?restored=4"
    now = _settings(sera, merchant_id)
    assert now["agent"]["name"] == "Sam" and "Do you fix scooters?" not in [e["q"] for e in now["faq"]]
    assert _versions(sera, merchant_id)[-1].restored_from == 1
    with sera.uow(merchant_id, readonly=True) as reader:
        actions = list(
            reader.session.execute(
                select(AuditEntry.action).where(AuditEntry.action.in_(["settings.changed", "settings.restored"]))
            ).scalars()
        )
    assert actions == ["settings.changed", "settings.changed", "settings.restored"]


def test_saving_an_unchanged_form_makes_no_version(as_role: Callable[[str], Browser], sera: Sera, team: Team) -> None:
    client = as_role("owner")
    response = _post(client, "/dashboard/settings/agent", _persona_form(sera, team.owner.merchant_id))
    assert response.headers["location"].startswith("/dashboard/settings?saved=agent&unchanged=1")
    assert _versions(sera, team.owner.merchant_id) == []
    assert "Greeting and persona: nothing changed." in client.get(response.headers["location"]).text


def test_viewers_read_the_history_but_cannot_restore(as_role: Callable[[str], Browser], sera: Sera, team: Team) -> None:
    _post(as_role("owner"), "/dashboard/settings/agent", _persona_form(sera, team.owner.merchant_id, name="Robin"))
    first = _versions(sera, team.owner.merchant_id)[0]
    viewer = as_role("viewer")
    page = viewer.get(f"/dashboard/settings/versions/{first.id}")
    assert page.status_code == 200 and "Restore version" not in page.text
    assert _post(viewer, f"/dashboard/settings/versions/{first.id}/restore", {}).status_code == 403
    assert as_role("agent").get(f"/dashboard/settings/versions/{first.id}").status_code == 403
    assert _settings(sera, team.owner.merchant_id)["agent"]["name"] == "Robin"


# -- knowledge ---------------------------------------------------------------------------------------


def test_the_weekly_reports_link_opens_a_form_with_the_question(
    as_role: Callable[[str], Browser], sera: Sera, team: Team
) -> None:
    client = as_role("admin")
    form = client.get("/dashboard/knowledge/new", params={"question": "Do you sell " + SCRIPT + "?"})
    assert form.status_code == 200
    assert 'value="Do you sell &lt;script&gt;alert(1)&lt;/script&gt;?"' in form.text
    empty = _post(client, "/dashboard/knowledge", {"question": "Do you sell tubes?", "answer": ""})
    assert empty.status_code == 422 and 'id="answer-error"' in empty.text
    added = _post(client, "/dashboard/knowledge", {"question": "Do you sell tubes?", "answer": "Yes, " + SCRIPT})
    assert added.status_code == 303 and added.headers["location"] == "/dashboard/settings?saved=faq#s-faq"
    assert _settings(sera, team.owner.merchant_id)["faq"][-1] == {"q": "Do you sell tubes?", "a": "Yes, " + SCRIPT}
    page = client.get("/dashboard/settings").text
    assert SCRIPT not in page and "Yes, &lt;script&gt;" in page
    twice = _post(client, "/dashboard/knowledge", {"question": "Do you sell tubes?", "answer": "Again"})
    assert twice.status_code == 422 and "appears twice" in twice.text


# -- the try panel -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [*ROLES, "outsider"])
def test_the_try_panel_talks_to_the_members_own_shop(role: str, as_role: Callable[[str], Browser]) -> None:
    client = as_role(role)
    started = _post(client, "/dashboard/settings/try", {})
    if role in ("agent", "viewer"):  # the panel books and takes messages for real: it is a change
        assert started.status_code == 403
        return
    assert started.status_code == 200
    shop = "Southside" if role == "outsider" else "Northside Cycles"
    assert shop in started.text
    token = re.search(r"/dashboard/settings/try/([A-Za-z0-9_-]+)\"", started.text)
    assert token
    answer = _post(client, f"/dashboard/settings/try/{token.group(1)}", {"text": "Do you have parking?"})
    assert answer.status_code == 200


def test_another_shops_conversation_is_not_found(as_role: Callable[[str], Browser]) -> None:
    owner = as_role("owner")
    started = _post(owner, "/dashboard/settings/try", {}).text
    token = re.search(r"/dashboard/settings/try/([A-Za-z0-9_-]+)\"", started)
    assert token
    outsider = as_role("outsider")
    response = _post(outsider, f"/dashboard/settings/try/{token.group(1)}", {"text": "What did they say?"})
    assert response.status_code == 404


def test_the_try_panel_works_in_production(as_role: Callable[[str], Browser], sera: Sera) -> None:
    from sera.config import Environment

    client = as_role("owner")
    sera.settings = sera.settings.model_copy(update={"env": Environment.PRODUCTION})
    assert client.get("/try").status_code == 404  # the open page stays off
    started = _post(
        client,
        "/dashboard/settings/try",
        {},
    )
    assert started.status_code == 200 and "Thanks for calling Northside Cycles" in started.text


def test_a_wrong_calling_number_is_named_and_starts_nothing(as_role: Callable[[str], Browser]) -> None:
    response = _post(as_role("owner"), "/dashboard/settings/try", {"caller_phone": "not a number"})
    assert response.status_code == 422 and "That is not a phone number" in response.text
    assert 'id="try-composer"' not in response.text


def test_htmx_gets_only_the_panel_and_then_only_the_new_turns(as_role: Callable[[str], Browser]) -> None:
    client = as_role("owner")
    headers = {"HX-Request": "true"}
    started = cast(Response, client.act("POST", "/dashboard/settings/try", data={}, headers=headers))
    assert started.text.lstrip().startswith('<section class="panel try" id="try-panel">')
    token = re.search(r"/dashboard/settings/try/([A-Za-z0-9_-]+)\"", started.text)
    assert token
    answer = cast(
        Response, client.act("POST", f"/dashboard/settings/try/{token.group(1)}", data={"text": "hi"}, headers=headers)
    )
    assert "<h1>" not in answer.text and 'hx-swap-oob="true"' in answer.text and '<li class="caller">' in answer.text


# -- in the browser --------------------------------------------------------------------------------


def test_in_the_browser_a_new_greeting_and_faq_entry_reach_the_try_panel(
    owner_page: Page, server: str, sera: Sera, team: Team
) -> None:
    page = owner_page
    violations = no_csp_violations(page)
    page.goto(f"{server}/dashboard/settings")
    check_accessibility(page, "settings")
    page.get_by_label("Greeting", exact=True).fill("Hello from the new Northside, Robin here.")
    page.get_by_role("button", name="Save greeting and persona").click()
    page.wait_for_url("**/settings?saved=agent*")
    assert page.get_by_role("status").first.inner_text() == "Greeting and persona: saved."
    page.get_by_role("button", name="Start a new conversation").click()
    turns = page.locator("#try-turns li.agent")
    turns.first.wait_for()
    assert "Hello from the new Northside, Robin here." in turns.first.inner_text()

    page.get_by_label("Question", exact=True).last.fill("Can I bring my dog?")
    page.get_by_label("Answer", exact=True).last.fill("Dogs on a lead are welcome in the shop.")
    page.get_by_role("button", name="Save questions and answers").click()
    page.wait_for_url("**/settings?saved=faq*")
    page.get_by_role("button", name="Start a new conversation").click()
    page.locator("#try-turns li.agent").first.wait_for()
    page.get_by_label("Your message").fill("Can I bring my dog?")
    page.get_by_role("button", name="Send").click()
    page.locator("#try-turns li.agent").nth(1).wait_for()
    assert "Dogs on a lead are welcome" in page.locator("#try-turns li.agent").nth(1).inner_text()
    assert page.get_by_label("Your message").input_value() == ""  # ready for the next line

    page.goto(f"{server}/dashboard/settings/versions")
    check_accessibility(page, "settings-versions")
    page.get_by_role("link", name="See version 2").click()
    check_accessibility(page, "settings-version")
    page.get_by_role("button", name="Restore version 2").click()
    page.wait_for_url("**/settings?restored=*")
    page.goto(f"{server}/dashboard/knowledge/new?question=Do%20you%20sell%20tubes%3F")
    assert page.get_by_label("Question").input_value() == "Do you sell tubes?"
    check_accessibility(page, "settings-knowledge")
    assert not violations, violations
