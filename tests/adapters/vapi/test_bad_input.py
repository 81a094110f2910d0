"""Whatever reaches /vapi/webhook with the right secret: never a 5xx, never a half-written record.

The property tests mutate the recorded messages (drop a field, put any JSON value in its
place), post raw bytes, and replay the events of one call duplicated and in any order;
after each, the database must still tell one consistent story.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from sera.agent.service import main_outcome
from sera.billing.usage import usage_report
from sera.bootstrap import Sera
from sera.storage.models import Call, Conversation, WebhookReceipt
from tests.adapters.vapi.conftest import CALL_ID, SECRET, URL, load, post, stored, tool_calls
from tests.conftest import Personas

EVENT_TYPES = ("assistant-request", "tool-calls", "end-of-call-report", "status-update", "transfer-destination-request")
PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside a JSON document a field could be dropped or replaced."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


def _mutate(document: dict[str, Any], path: tuple[Any, ...], replacement: Any, drop: bool) -> dict[str, Any]:
    parent: Any = document
    for part in path[:-1]:
        parent = parent[part]
    if drop and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return document


@st.composite
def mutated_messages(draw: st.DrawFn) -> dict[str, Any]:
    document = load(draw(st.sampled_from(EVENT_TYPES)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        _mutate(document, path, draw(json_values), draw(st.booleans()))
    return document


def assert_consistent(sera: Sera, merchant_id: str) -> None:
    """One story: each call has its conversation, an ended call has an outcome matching its tools',
    and each end-of-call report was counted exactly once."""
    with sera.uow(merchant_id, readonly=True) as uow:
        calls = {c.id: c for c in uow.session.execute(select(Call)).scalars()}
        conversations = uow.session.execute(select(Conversation)).scalars().all()
        assert {c.call_id for c in conversations} == set(calls)
        for conversation in conversations:
            call = calls[str(conversation.call_id)]
            state = json.loads(uow.vault.open(conversation, "state") or "{}")
            assert (conversation.status == "ended") == (call.ended_at is not None)
            if call.ended_at is not None:
                assert call.outcome == main_outcome(state.get("outcomes", []))
        reports = uow.session.execute(
            select(func.count()).select_from(WebhookReceipt).where(WebhookReceipt.topic == "end-of-call-report")
        ).scalar_one()
        counted = sum(d.counts["inbound_calls"] + d.counts["outbound_calls"] for d in usage_report(uow))
        assert counted == reports


# -- plain cases -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"", "application/json", 400),
        (b"[1, 2, 3]", "application/json", 400),
        (b'{"event": "tool-calls"}', "application/json", 400),
        (b'{"message": "tool-calls"}', "application/json", 400),
        (b'{"message": {"type": "speech-update", "status": "started", "role": "assistant"}}', "application/json", 200),
        (json.dumps(load("tool-calls")).encode(), "text/plain", 415),
        (json.dumps(load("tool-calls")).encode(), "application/x-www-form-urlencoded", 415),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
    ],
)
def test_malformed_deliveries_are_client_errors(
    vapi: TestClient, sera: Sera, personas: Personas, body: bytes, content_type: str, status: int
) -> None:
    response = vapi.post(URL, content=body, headers={"Content-Type": content_type, "X-Vapi-Secret": SECRET})

    assert response.status_code == status
    assert stored(sera, personas.northside_id).receipts == 0


def test_huge_bodies(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    report = load("end-of-call-report")
    report["message"]["artifact"]["transcript"] = "AI: hello\n" * 100_000  # 1 MB: a long call, still kept
    assert len(json.dumps(report)) > 1_000_000

    assert post(vapi, report).status_code == 200

    report["message"]["padding"] = "x" * 2_100_000
    assert post(vapi, report).status_code == 413
    assert stored(sera, personas.northside_id).calls == 1


@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        ("tool-calls", ("call",)),
        ("tool-calls", ("call", "id")),
        ("tool-calls", ("toolCallList", 0, "id")),
        ("end-of-call-report", ("call",)),
        ("end-of-call-report", ("call", "id")),
        ("status-update", ("status",)),
        ("status-update", ("call",)),
        ("transfer-destination-request", ("call",)),
        ("assistant-request", ("type",)),
    ],
)
def test_a_missing_field_is_named_and_nothing_is_stored(
    vapi: TestClient, sera: Sera, personas: Personas, event_type: str, field: tuple[Any, ...]
) -> None:
    payload = load(event_type)
    _mutate(payload["message"], field, None, drop=True)
    if field == ("toolCallList", 0, "id"):
        del payload["message"]["toolWithToolCallList"]

    response = post(vapi, payload)

    assert response.status_code == 400
    assert response.json()["error"].startswith("message.") or "call.id is required" in response.json()["error"]
    record = stored(sera, personas.northside_id)
    assert (record.calls, record.conversations, record.receipts) == (0, 0, 0)


def test_values_that_would_not_fit_are_refused(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    for field, value in (("cost", float("inf")), ("cost", -1), ("durationSeconds", 1e300), ("endedAt", "0001-01-01")):
        report = load("end-of-call-report")
        report["message"][field] = value
        assert post(vapi, report).status_code == 400
    too_long = tool_calls(("call_x", "get_hours", {}), call_id="c" * 65)
    assert post(vapi, too_long).status_code == 400
    assert stored(sera, personas.northside_id).calls == 0


# -- properties --------------------------------------------------------------------------------


@PROPERTY
@given(payload=mutated_messages())
def test_any_mutation_of_a_real_message_is_answered_without_a_server_error(
    vapi: TestClient, sera: Sera, personas: Personas, payload: dict[str, Any]
) -> None:
    response = post(vapi, payload)

    assert response.status_code < 500, response.text
    assert_consistent(sera, personas.northside_id)


@PROPERTY
@given(body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_are_answered_without_a_server_error(
    vapi: TestClient, sera: Sera, personas: Personas, body: bytes
) -> None:
    response = vapi.post(URL, content=body, headers={"Content-Type": "application/json", "X-Vapi-Secret": SECRET})

    assert response.status_code < 500
    assert stored(sera, personas.northside_id).receipts == 0


def _one_call(index: int) -> list[dict[str, Any]]:
    call_id = f"{CALL_ID[:-4]}{index:04d}"
    events = [load(name) for name in ("status-update", "transfer-destination-request", "end-of-call-report")]
    in_progress = load("status-update")
    in_progress["message"]["status"] = "in-progress"
    events += [in_progress, tool_calls(("call_1", "search_knowledge", {"query": "parking"}))]
    for event in events:
        event["message"]["call"]["id"] = call_id
    return events


@PROPERTY
@given(data=st.data())
def test_duplicated_and_reordered_events_tell_one_story(
    vapi: TestClient, sera: Sera, personas: Personas, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, 9999), label="call")
    events = _one_call(index)
    deliveries = data.draw(st.lists(st.sampled_from(range(len(events))), min_size=1, max_size=10), label="order")
    call_id = events[0]["message"]["call"]["id"]

    for position in deliveries:
        assert post(vapi, events[position]).status_code == 200

    assert_consistent(sera, personas.northside_id)
    record = stored(sera, personas.northside_id, call_id)
    if 2 in deliveries:  # the end-of-call report arrived: its figures stand, whatever came after
        assert record.call is not None and record.call.duration_s == 161
        assert record.call.ended_at is not None and record.call.ended_at.isoformat().startswith("2026-11-27T16:02:42")
