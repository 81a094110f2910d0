"""The /try page: a merchant talks to their own agent in the browser.

The JSON endpoints are tested directly; the page itself is driven in Debian's
Chromium through a whole booking: book a tune-up, move it, cancel it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from sera.booking.service import AppointmentView, list_appointments
from sera.bootstrap import Sera
from sera.config import Environment
from sera.storage.paging import PageRequest
from sera.web.app import create_app
from tests.conftest import NORTHSIDE, SOUTHSIDE, Personas

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

HANDOFF = "+13125550199"  # the demo shop's handoff number


@pytest.fixture
def client(sera: Sera, personas: Personas) -> Iterator[TestClient]:
    with TestClient(create_app(sera)) as test_client:
        yield test_client


def _start(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/try/conversations", json=body)
    assert response.status_code == 200, response.text
    started: dict[str, Any] = response.json()
    return started


def _say(client: TestClient, conversation_id: str, text: str) -> dict[str, Any]:
    response = client.post(f"/try/conversations/{conversation_id}/messages", json={"text": text})
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def _appointments(sera: Sera, merchant_id: str) -> list[AppointmentView]:
    with sera.uow(merchant_id, readonly=True) as uow:
        return list_appointments(uow, PageRequest()).items


# -- the JSON endpoints ---------------------------------------------------------------------------


def test_a_conversation_greets_answers_and_transfers(client: TestClient) -> None:
    started = _start(client)  # no shop named: the first one imported, Northside
    assert set(started) == {"conversation_id", "reply", "ended"}
    assert "Northside Cycles" in started["reply"]
    assert started["ended"] is False
    answer = _say(client, started["conversation_id"], "how much do you charge for a tune-up")
    assert "$89" in answer["reply"]
    assert (answer["ended"], answer["transfer_to"]) == (False, None)
    handed_over = _say(client, started["conversation_id"], "can I talk to a real person")
    assert (handed_over["ended"], handed_over["transfer_to"]) == (True, HANDOFF)


def test_a_known_caller_number_is_greeted_by_name(client: TestClient) -> None:
    started = _start(client, shop=NORTHSIDE, caller_phone="(312) 555-0143")  # Marcus Lee, order 1043
    assert started["reply"].startswith("Hi Marcus")


def test_the_shop_can_be_chosen(client: TestClient) -> None:
    started = _start(client, shop=SOUTHSIDE)
    assert "Northside" not in started["reply"]


def test_an_unknown_conversation_is_404(client: TestClient, personas: Personas) -> None:
    made_up = f"{personas.northside_id}.{'x' * 32}"
    response = client.post(f"/try/conversations/{made_up}/messages", json={"text": "hello"})
    assert response.status_code == 404
    malformed = client.post("/try/conversations/not-an-id/messages", json={"text": "hello"})
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["loc"] == ["path", "conversation_id"]


def test_another_shops_conversation_cannot_be_continued(client: TestClient, personas: Personas) -> None:
    """The outsider: a Southside conversation's token under Northside's id finds nothing."""
    southside = _start(client, shop=SOUTHSIDE)["conversation_id"]
    token = southside.split(".", 1)[1]
    response = client.post(f"/try/conversations/{personas.northside_id}.{token}/messages", json={"text": "hi"})
    assert response.status_code == 404


def test_invalid_input_is_422(client: TestClient) -> None:
    conversation_id = _start(client)["conversation_id"]
    for body in ({"text": "x" * 10_240}, {"text": ""}, {}, {"text": "hi", "extra": 1}):
        response = client.post(f"/try/conversations/{conversation_id}/messages", json=body)
        assert response.status_code == 422, body
    assert client.post("/try/conversations", json={"caller_phone": "call me maybe"}).status_code == 422


def test_an_unknown_shop_is_404(client: TestClient) -> None:
    assert client.get("/try", params={"shop": "nowhere.myshopify.com"}).status_code == 404
    assert client.post("/try/conversations", json={"shop": "nowhere.myshopify.com"}).status_code == 404


def test_the_page_is_served(client: TestClient) -> None:
    response = client.get("/try", params={"shop": NORTHSIDE})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<label for="message">Your message</label>' in response.text


def test_try_does_not_exist_in_production(sera: Sera, personas: Personas) -> None:
    """Until dashboard login exists, /try would let anyone book as the shop's agent."""
    production = dataclasses.replace(sera, settings=sera.settings.model_copy(update={"env": Environment.PRODUCTION}))
    with TestClient(create_app(production)) as prod:
        assert prod.get("/try").status_code == 404
        assert prod.post("/try/conversations", json={}).status_code == 404
        assert prod.post("/try/conversations/x.y/messages", json={"text": "hi"}).status_code == 404


# -- the page in a browser ------------------------------------------------------------------------


def _agent_turns(page: Page) -> Locator:
    transcript = page.get_by_role("list", name="Conversation")
    return transcript.get_by_role("listitem").filter(has=page.get_by_text("Agent", exact=True))


def _say_in_page(page: Page, text: str) -> str:
    """Type a caller line, send it, and return the agent's answer as the page shows it."""
    from playwright.sync_api import expect

    before = _agent_turns(page).count()
    page.get_by_label("Your message").fill(text)
    page.get_by_role("button", name="Send").click()
    expect(_agent_turns(page)).to_have_count(before + 1)
    return _agent_turns(page).last.inner_text()


@pytest.mark.browser
def test_book_move_and_cancel_a_tune_up_in_the_browser(page: Page, server: str, sera: Sera, personas: Personas) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server}/try?shop={NORTHSIDE}")
    # the page's first request opens a conversation on a busy CI machine: more than the default 5 s
    expect(_agent_turns(page).first).to_contain_text("Thanks for calling Northside Cycles", timeout=15_000)

    for line in ("I'd like to book a tune-up", "next tuesday", "2 pm", "Jordan Miles"):
        _say_in_page(page, line)
    assert "Tuesday, December 1 at 2 pm" in _say_in_page(page, "yes")
    expect(page.get_by_role("list", name="Conversation")).to_contain_text("You're booked for a Tune-up")

    _say_in_page(page, "can I move my tune-up appointment to wednesday at 3")
    moved = _say_in_page(page, "yes")
    assert "moved" in moved and "Wednesday, December 2 at 3 pm" in moved

    _say_in_page(page, "I need to cancel my appointment")
    assert "is cancelled" in _say_in_page(page, "yes")

    (appointment,) = _appointments(sera, personas.northside_id)
    assert (appointment.service, appointment.status) == ("Tune-up", "cancelled")
    assert appointment.start.isoformat() == "2026-12-02T15:00:00-06:00"
    assert appointment.customer is not None and appointment.customer.name == "Jordan Miles"

    _say_in_page(page, "goodbye")
    expect(page.get_by_role("status")).to_have_text("The conversation has ended.")
    expect(page.get_by_label("Your message")).to_be_disabled()


@pytest.mark.browser
def test_a_known_caller_is_transferred_in_the_browser(page: Page, server: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server}/try")
    expect(_agent_turns(page)).to_have_count(1)
    page.get_by_label("Calling from (optional)").fill("+13125550143")
    page.get_by_role("button", name="New conversation").click()
    expect(_agent_turns(page).first).to_contain_text("Hi Marcus")
    _say_in_page(page, "can I talk to a real person")
    expect(page.get_by_role("status")).to_have_text(f"Transferred to {HANDOFF}")
