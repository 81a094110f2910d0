"""Sera as a Vapi assistant's model: custom-LLM requests as Vapi sends them (an OpenAI body plus
``call``, ``phoneNumber`` and ``customer``), answered in OpenAI's streaming format."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sera.bootstrap import Sera
from sera.calls.service import get_call, list_calls
from sera.merchants.service import import_shop_text
from sera.storage.paging import PageRequest
from tests.adapters.vapi.conftest import HANDOFF, SECRET, load, post
from tests.conftest import DEMO_SHOP, Personas

MODEL_URL = "/vapi/chat/completions"


def ask(client: TestClient, body: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    return client.post(MODEL_URL, content=json.dumps(body).encode(), headers=headers)


def chunks(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    parsed = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and len(c["choices"]) == 1 for c in parsed)
    return parsed


def said(parsed: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in parsed).strip()


def turn(body: dict[str, Any], line: str) -> dict[str, Any]:
    body["messages"].append({"role": "assistant", "content": "(the last reply)"})
    body["messages"].append({"role": "user", "content": line})
    return body


def test_a_shop_can_have_vapi_use_sera_as_its_model(vapi: TestClient, sera: Sera) -> None:
    text = DEMO_SHOP.read_text().replace("agent:\n", "agent:\n  vapi_mode: model\n", 1)
    import_shop_text(sera, text, source="t", actor="t")
    assistant = post(vapi, load("assistant-request")).json()["assistant"]
    model = assistant["model"]
    assert model["provider"] == "custom-llm" and model["url"] == "https://sera.test/vapi"
    assert "messages" not in model  # no prompt, no shop data: Sera answers
    assert [t["type"] for t in model["tools"]] == ["transferCall", "endCall"]
    assert assistant["credentials"] == [{"provider": "custom-llm", "apiKey": SECRET}]


def test_the_reply_streams_in_openai_format_on_the_calls_own_record(
    vapi: TestClient, sera: Sera, personas: Personas
) -> None:
    parsed = chunks(ask(vapi, load("chat-completions")))
    assert parsed[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "8 pm" in said(parsed) and parsed[-1]["choices"][0]["finish_reason"] == "stop"
    post(vapi, load("end-of-call-report"))  # the webhook's report for the same call closes the same record
    with sera.uow(personas.northside_id, readonly=True) as uow:
        calls = list_calls(uow, PageRequest(limit=10)).items
    assert len(calls) == 1 and calls[0].ended_at is not None


def test_a_repeated_request_gets_the_same_answer_and_books_once(
    vapi: TestClient, sera: Sera, personas: Personas
) -> None:
    body = load("chat-completions")
    body["messages"][-1]["content"] = "I'd like to book a tune up next Tuesday"
    assert "Tuesday" in said(chunks(ask(vapi, body)))
    for line in ("2 pm", "Jordan Miles", "yes"):
        body = turn(body, line)
        first = said(chunks(ask(vapi, body)))
    again = said(chunks(ask(vapi, body)))  # Vapi sends the same history again
    assert again == first and "booked" in first.lower()
    from sera.booking.service import list_appointments

    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert len([a for a in list_appointments(uow, PageRequest(limit=10)).items if a.status == "booked"]) == 1


def test_a_transfer_ends_with_vapis_transfer_call(vapi: TestClient) -> None:
    body = load("chat-completions")
    body["messages"][-1]["content"] = "can I speak to a person please"
    parsed = chunks(ask(vapi, body))
    assert "Connecting you" in said(parsed)
    [call] = parsed[-2]["choices"][0]["delta"]["tool_calls"]
    assert call["function"]["name"] == "transferCall"
    assert json.loads(call["function"]["arguments"]) == {"destination": HANDOFF}
    assert parsed[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_bad_requests_are_refused_and_store_nothing(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    assert ask(vapi, load("chat-completions"), secret=None).status_code == 401
    assert ask(vapi, load("chat-completions"), secret="wrong").status_code == 401
    no_call = load("chat-completions")
    del no_call["call"]
    assert ask(vapi, no_call).status_code == 400
    bad_messages = load("chat-completions")
    bad_messages["messages"] = [{"role": "user", "content": {"x": 1}}]
    assert ask(vapi, bad_messages).status_code == 400
    elsewhere = load("chat-completions")
    elsewhere["phoneNumber"]["number"] = "+15555550123"
    assert ask(vapi, elsewhere).status_code in (401, 404)
    not_json = vapi.post(
        MODEL_URL, content=b"{nope", headers={"Content-Type": "application/json", "Authorization": f"Bearer {SECRET}"}
    )
    assert not_json.status_code == 400
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert list_calls(uow, PageRequest(limit=10)).items == []


ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=50),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    st.just("x" * 10_000),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dropped=st.lists(st.sampled_from(["messages", "call", "phoneNumber", "customer", "model", "stream"]), max_size=2),
    replaced=st.dictionaries(
        st.sampled_from(["messages", "call", "customer", "model", "stream", "extra"]), ODD, max_size=2
    ),
    line=st.text(max_size=300),
)
def test_any_mutation_of_a_request_is_answered_without_a_server_error(
    vapi: TestClient, dropped: list[str], replaced: dict[str, Any], line: str
) -> None:
    body = load("chat-completions")
    body["messages"][-1]["content"] = line
    for key in dropped:
        body.pop(key, None)
    body.update(replaced)
    response = ask(vapi, body)
    assert response.status_code < 500, response.text[:300]
    if response.status_code == 200:
        assert response.text.endswith("data: [DONE]\n\n")


def test_a_call_sera_placed_keeps_the_opening_vapi_said_first(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    body = load("chat-completions")
    opening = "Hi Harriet, this is Sam, the automated assistant at Northside Cycles, calling about your cart."
    body["call"]["type"] = "outboundPhoneCall"
    body["messages"][0]["content"] = opening
    assert "8 pm" in said(chunks(ask(vapi, body)))
    with sera.uow(personas.northside_id, readonly=True) as uow:
        [call] = list_calls(uow, PageRequest(limit=10)).items
        record = get_call(uow, call.id)
    assert record.direction == "outbound"
    assert record.transcript is not None and record.transcript[0].text == opening
