"""POST /vapi/webhook with Vapi's own server messages: one test per event type, then the rules
that hold across them (the shared secret, unknown numbers, retried and reordered deliveries)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from sera.agent.tools import TOOLS
from sera.billing.usage import usage_report
from sera.booking.service import list_appointments
from sera.bootstrap import Sera
from sera.merchants.providers import set_provider_account
from sera.reports.questions import questions_between
from sera.storage.models import Appointment, Call, Conversation, Merchant, WebhookReceipt
from sera.storage.paging import PageRequest
from tests.adapters.vapi.conftest import (
    CALL_ID,
    CALLER,
    HANDOFF,
    SECRET,
    load,
    post,
    sealed_field,
    stored,
    tool_calls,
)
from tests.conftest import FakeClock, Personas

SATURDAY_10AM = "2026-11-28T10:00"


def usage(sera: Sera, merchant_id: str) -> dict[str, int]:
    with sera.uow(merchant_id, readonly=True) as uow:
        days = usage_report(uow)
    return {metric: count for day in days for metric, count in day.counts.items() if count}


# -- one test per event type ------------------------------------------------------------------


def test_assistant_request_answers_with_the_shops_assistant(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    response = post(vapi, load("assistant-request"))

    assert response.status_code == 200
    assistant = response.json()["assistant"]
    assert assistant["firstMessage"] == "Thanks for calling Northside Cycles, this is Sam. How can I help you today?"
    assert assistant["model"]["provider"] == "openai" and assistant["model"]["model"] == "gpt-4o-mini"
    assert assistant["voice"] == {"provider": "11labs", "voiceId": "burt"}
    names = [t["function"]["name"] for t in assistant["model"]["tools"] if t["type"] == "function"]
    assert names == [tool.name for tool in TOOLS] + ["workflow_group_ride_signup", "workflow_trade_in_quote"]
    assert {t["type"] for t in assistant["model"]["tools"]} == {"function", "transferCall", "endCall"}
    server = {"url": "https://sera.test/vapi/webhook", "headers": {"X-Vapi-Secret": SECRET}, "timeoutSeconds": 10}
    assert assistant["server"] == server
    assert all(t["server"] == server for t in assistant["model"]["tools"] if t["type"] == "function")
    assert set(assistant["serverMessages"]) == {
        "tool-calls",
        "end-of-call-report",
        "status-update",
        "transfer-destination-request",
    }
    prompt = assistant["model"]["messages"][0]["content"]
    for fact in (
        "Northside Cycles",
        "1450 N Milwaukee Ave",
        "Tune-up: $89, about 60 minutes",
        "Bike fitting: $150",
        "Thursday 10 am to 8 pm",
        "Sunday closed",
        "Returns: Unused items can be returned within 30 days",
        "Today is Friday, November 27, 2026",
        "confirm",
        "Never invent prices, policies",
    ):
        assert fact in prompt
    assert stored(sera, personas.northside_id).calls == 0  # answering is read-only


def test_a_recognised_caller_is_greeted_by_first_name(vapi: TestClient) -> None:
    payload = load("assistant-request")
    payload["message"]["customer"]["number"] = "+13125550142"  # Priya Shah, from the demo orders

    assistant = post(vapi, payload).json()["assistant"]

    assert assistant["firstMessage"] == "Hi Priya, thanks for calling Northside Cycles. How can I help?"


def test_tool_calls_run_the_tools_in_the_calls_conversation(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    response = post(vapi, load("tool-calls"))

    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["toolCallId"] == "call_Vz3kP9qL2mXw8RtY5nB1cD4e"
    assert result["name"] == "check_availability"
    assert result["result"].startswith("On Saturday, November 28 I have ")
    record = stored(sera, personas.northside_id)
    assert record.conversations == 1 and record.conversation_status == "active"
    assert record.call is not None
    assert record.call.channel == "voice" and record.call.from_number == CALLER
    assert record.call.to_number == "+13125550100" and record.call.ended_at is None


def test_a_question_vapis_model_found_no_answer_to_is_kept_for_the_weekly_report(
    vapi: TestClient, sera: Sera, personas: Personas
) -> None:
    answered = post(vapi, tool_calls(("call_kn2", "search_knowledge", {"query": "is there a swimming pool upstairs"})))
    assert answered.json()["results"][0]["result"] == "I don't know that."
    post(vapi, tool_calls(("call_kn3", "search_knowledge", {"query": "do you have parking"})))  # the FAQ answers
    with sera.uow(personas.northside_id, readonly=True) as uow:
        asked = questions_between(uow, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert [(q.text, q.channel) for q in asked] == [("is there a swimming pool upstairs", "voice")]
    assert asked[0].call_id == stored(sera, personas.northside_id).call.id  # type: ignore[union-attr]


def test_end_of_call_report_completes_the_call_record(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    post(vapi, tool_calls(("call_kn1", "search_knowledge", {"query": "do you have parking"})))

    response = post(vapi, load("end-of-call-report"))

    assert response.status_code == 200
    call = stored(sera, personas.northside_id).call
    assert call is not None
    assert call.started_at == datetime(2026, 11, 27, 16, 0, 0, 913000, tzinfo=UTC)
    assert call.ended_at == datetime(2026, 11, 27, 16, 2, 42, 101000, tzinfo=UTC)
    assert call.duration_s == 161
    assert call.outcome == "knowledge"
    assert call.transcript is not None
    assert [(line.role, line.text) for line in call.transcript[:2]] == [
        ("agent", "Thanks for calling Northside Cycles, this is Sam. How can I help you today?"),
        ("caller", "Hi, can I get my bike tuned up tomorrow?"),
    ]
    assert len(call.transcript) == 5  # the system prompt and the tool messages are not the conversation
    with sera.uow(personas.northside_id, readonly=True) as uow:
        row = uow.session.execute(select(Call)).scalar_one()
        assert (row.ended_reason, row.cost_cents) == ("customer-ended-call", 18)
    raw_url, url = sealed_field(sera, personas.northside_id, "recording_url")
    assert url == "https://storage.vapi.ai/4f1c2a9e-7b3d-4e6a-9c1f-2d8e5b7a3c10-1795795362410-7d3b9a1e-mono.wav"
    assert raw_url is not None and b"storage.vapi.ai" not in raw_url
    raw_summary, summary = sealed_field(sera, personas.northside_id, "summary")
    assert summary is not None and summary.startswith("The caller asked for a tune-up")
    assert raw_summary is not None and b"tune-up" not in raw_summary
    assert usage(sera, personas.northside_id) == {"inbound_calls": 1, "billed_minutes": 3}
    assert stored(sera, personas.northside_id).conversation_status == "ended"


def test_status_update_opens_and_closes_the_call(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    for status in ("queued", "ringing"):
        payload = load("status-update")
        payload["message"]["status"] = status
        assert post(vapi, payload).status_code == 200
    assert stored(sera, personas.northside_id).calls == 0  # nothing to keep before the call is answered

    in_progress = load("status-update")
    in_progress["message"]["status"] = "in-progress"
    post(vapi, in_progress)
    assert stored(sera, personas.northside_id).conversation_status == "active"

    response = post(vapi, load("status-update"))

    assert response.status_code == 200
    record = stored(sera, personas.northside_id)
    assert record.conversation_status == "ended"
    assert record.call is not None
    assert record.call.ended_at == datetime(2026, 11, 27, 16, 2, 42, 101000, tzinfo=UTC)
    assert record.call.outcome == "abandoned"


def test_transfer_destination_request_gives_the_handoff_number_while_open(
    vapi: TestClient, sera: Sera, personas: Personas
) -> None:
    response = post(vapi, load("transfer-destination-request"))

    assert response.status_code == 200
    assert response.json() == {
        "destination": {"type": "number", "number": HANDOFF, "message": "Connecting you to the team now."}
    }
    post(vapi, load("status-update"))
    call = stored(sera, personas.northside_id).call
    assert call is not None and call.outcome == "transferred"


# -- the rest of each event's behaviour ----------------------------------------------------------


def test_transfer_is_refused_while_the_shop_is_closed(vapi: TestClient, clock: FakeClock) -> None:
    clock.advance(hours=10)  # Friday 20:00 in Chicago: closed until Saturday 9 am

    response = post(vapi, load("transfer-destination-request"))

    assert response.status_code == 200
    body = response.json()
    assert "destination" not in body
    assert "closed" in body["error"] and "Saturday, November 28 at 9 am" in body["error"]
    assert HANDOFF not in response.text


def test_a_retried_tool_call_does_not_book_twice(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    booking = tool_calls(("call_book1", "book_appointment", {"service": "Tune-up", "start": SATURDAY_10AM}))

    first = post(vapi, booking)
    again = post(vapi, booking)

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert "booked" in first.json()["results"][0]["result"]
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert len(list_appointments(uow, PageRequest(limit=10)).items) == 1
        receipts = uow.session.execute(select(WebhookReceipt.event_id)).scalars().all()
    assert receipts == [f"{CALL_ID}:tool-calls:call_book1"]


def test_tool_errors_are_results_not_failures(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    response = post(
        vapi,
        tool_calls(
            ("call_a", "check_availability", {"service": "Tune-up", "date": "tomorrow"}),
            ("call_b", "launch_rocket", {}),
            ("call_c", "book_appointment", "{not json"),
            ("call_d", "get_hours", '{"date": "2026-11-28"}'),  # arguments as a JSON string, as the SDKs send them
        ),
    )

    assert response.status_code == 200
    results = {r["toolCallId"]: r for r in response.json()["results"]}
    assert results["call_a"]["error"] == "date must be YYYY-MM-DD"
    assert results["call_b"]["error"] == "unknown tool 'launch_rocket'"
    assert results["call_c"]["error"] == "arguments are not valid JSON"
    assert results["call_d"]["result"] == "On Saturday, November 28 we're open from 9 am to 5 pm."
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert uow.session.execute(select(Appointment)).first() is None


def test_tool_calls_given_only_as_tool_with_tool_call_list(vapi: TestClient) -> None:
    payload = load("tool-calls")
    del payload["message"]["toolCallList"]

    [result] = post(vapi, payload).json()["results"]

    assert result["toolCallId"] == "call_Vz3kP9qL2mXw8RtY5nB1cD4e" and "On Saturday" in result["result"]


def test_a_duplicated_end_of_call_report_is_counted_once(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    report = load("end-of-call-report")

    assert post(vapi, report).status_code == 200
    assert post(vapi, report).status_code == 200

    assert usage(sera, personas.northside_id) == {"inbound_calls": 1, "billed_minutes": 3}
    assert stored(sera, personas.northside_id).calls == 1


def test_reordered_events_keep_the_reports_figures(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    post(vapi, load("end-of-call-report"))  # the report overtakes everything else
    late_status = load("status-update")
    late_status["message"]["call"]["endedAt"] = "2026-11-27T16:09:00.000Z"
    post(vapi, late_status)
    late_tool = post(
        vapi, tool_calls(("call_late", "book_appointment", {"service": "Tune-up", "start": SATURDAY_10AM}))
    )

    assert late_tool.json()["results"][0]["error"] == "The call has already ended."
    call = stored(sera, personas.northside_id).call
    assert call is not None
    assert call.ended_at == datetime(2026, 11, 27, 16, 2, 42, 101000, tzinfo=UTC)
    assert call.outcome == "abandoned"
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert uow.session.execute(select(Appointment)).first() is None


def test_an_outbound_call_counts_as_outbound_usage(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    report = load("end-of-call-report")
    report["message"]["call"]["type"] = "outboundPhoneCall"
    report["message"]["durationSeconds"] = 59.2

    post(vapi, report)

    assert usage(sera, personas.northside_id) == {"outbound_calls": 1, "billed_minutes": 1}


def test_no_transcript_or_recording_is_kept_for_a_shop_that_does_not_record(
    vapi: TestClient, sera: Sera, personas: Personas
) -> None:
    with sera.uow(personas.northside_id) as uow:
        merchant = uow.session.execute(select(Merchant).where(Merchant.id == personas.northside_id)).scalar_one()
        merchant.settings = {**merchant.settings, "agent": {**merchant.settings["agent"], "record_calls": False}}
        merchant.updated_at = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
        uow.commit()
    assert post(vapi, load("assistant-request")).json()["assistant"]["artifactPlan"] == {"recordingEnabled": False}

    post(vapi, load("end-of-call-report"))

    call = stored(sera, personas.northside_id).call
    assert call is not None and call.transcript == [] and call.duration_s == 161
    assert sealed_field(sera, personas.northside_id, "recording_url") == (None, None)


# -- the shared secret --------------------------------------------------------------------------


def test_a_request_without_the_secret_is_refused_and_nothing_stored(
    vapi: TestClient, sera: Sera, personas: Personas
) -> None:
    for secret in (None, "wrong-secret-value", ""):
        assert post(vapi, load("tool-calls"), secret=secret).status_code == 401
        assert post(vapi, load("end-of-call-report"), secret=secret).status_code == 401
    record = stored(sera, personas.northside_id)
    assert (record.calls, record.conversations, record.receipts) == (0, 0, 0)


def test_the_secret_may_come_as_a_bearer_credential(vapi: TestClient) -> None:
    assert post(vapi, load("tool-calls"), bearer=True).status_code == 200
    assert post(vapi, load("tool-calls"), secret="not-it-at-all", bearer=True).status_code == 401


def test_without_any_configured_secret_everything_is_refused(vapi: TestClient, sera: Sera) -> None:
    sera.settings.vapi_secret = None

    assert post(vapi, load("assistant-request")).status_code == 401
    assert post(vapi, load("assistant-request"), secret="").status_code == 401


def test_a_merchants_own_secret_replaces_seras(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    set_provider_account(sera, personas.northside_id, "vapi", account_id=None, secret="northside-own-secret", actor="t")
    set_provider_account(sera, personas.southside_id, "vapi", account_id=None, secret="southside-own-secret", actor="t")

    assert post(vapi, load("assistant-request")).status_code == 401  # Sera's secret no longer opens Northside
    assert post(vapi, load("tool-calls"), secret="southside-own-secret").status_code == 401  # the outsider
    answer = post(vapi, load("assistant-request"), secret="northside-own-secret")
    assert answer.status_code == 200
    assert answer.json()["assistant"]["server"]["headers"] == {"X-Vapi-Secret": "northside-own-secret"}
    assert stored(sera, personas.northside_id).receipts == 0


def test_an_unknown_number_gets_a_clear_answer(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    request = load("assistant-request")
    request["message"]["phoneNumber"]["number"] = "+13125550111"
    report = load("end-of-call-report")
    report["message"]["phoneNumber"]["number"] = "+13125550111"

    spoken = post(vapi, request)
    refused = post(vapi, report)

    assert spoken.status_code == 200 and "not connected to a shop" in spoken.json()["error"]
    assert refused.status_code == 404 and "not connected to a shop" in refused.json()["error"]
    assert stored(sera, personas.northside_id).calls == 0


def test_nothing_is_stored_across_shops(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    post(vapi, load("tool-calls"))
    post(vapi, load("end-of-call-report"))

    outsider = stored(sera, personas.southside_id)
    assert (outsider.calls, outsider.conversations) == (0, 0)
    with sera.uow(personas.southside_id, readonly=True) as uow:
        assert uow.session.execute(select(Conversation)).first() is None
    assert usage(sera, personas.southside_id) == {}


def test_usage_day_is_the_shops_local_day(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    report = load("end-of-call-report")
    report["message"]["startedAt"] = "2026-11-28T05:30:00.000Z"  # 23:30 on Friday in Chicago
    report["message"]["endedAt"] = "2026-11-28T05:31:10.000Z"
    del report["message"]["durationSeconds"]

    post(vapi, report)

    with sera.uow(personas.northside_id, readonly=True) as uow:
        [day] = usage_report(uow)
    assert day.day == date(2026, 11, 27) and day.counts["billed_minutes"] == 2


def test_concurrent_first_tool_calls_share_one_conversation(vapi: TestClient, sera: Sera, personas: Personas) -> None:
    """Vapi may call two tools at once at the start of a call: both land in one conversation."""
    payloads = [tool_calls((f"call_par{i}", "get_hours", {})) for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda payload: post(vapi, payload).status_code, payloads))

    assert statuses == [200] * 8
    record = stored(sera, personas.northside_id)
    assert (record.calls, record.conversations, record.receipts) == (1, 1, 8)
