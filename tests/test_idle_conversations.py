"""Conversations end: a web chat that goes quiet is closed after the idle timeout (30 minutes by
default), its call record ending at its last activity, and the calls API shows it; a caller who
writes again starts a new conversation. The sweep runs every five minutes on the job queue."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sera.agent.idle import close_idle_conversations
from sera.agent.service import Agent, ConversationRef
from sera.bootstrap import Sera
from sera.jobs import Jobs
from sera.storage.models import AuditEntry, Call
from sera.web.app import create_app
from tests.conftest import FakeClock, Personas

CALLER = "+13125550170"


@pytest.fixture
def http(sera: Sera, personas: Personas) -> Iterator[TestClient]:
    with TestClient(create_app(sera)) as client:
        yield client


def start(http: TestClient) -> str:
    response = http.post("/try/conversations", json={"caller_phone": CALLER})
    assert response.status_code == 200, response.text
    return str(response.json()["conversation_id"])


def say(http: TestClient, conversation_id: str, text: str) -> dict[str, Any]:
    response = http.post(f"/try/conversations/{conversation_id}/messages", json={"text": text})
    assert response.status_code == 200, response.text
    return dict(response.json())


def calls(http: TestClient, key: str) -> list[dict[str, Any]]:
    """The calls list, oldest first."""
    response = http.get("/api/v1/calls", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def test_a_quiet_web_chat_is_closed_as_abandoned_after_the_timeout_and_not_before(
    http: TestClient, sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    conversation = start(http)
    clock.advance(minutes=2)
    say(http, conversation, "hmm")
    last_word = clock()

    clock.advance(minutes=29, seconds=59)
    assert close_idle_conversations(sera, clock()) == {}
    [call] = calls(http, personas.owner_key)
    assert (call["ended_at"], call["outcome"]) == (None, None)

    clock.advance(seconds=1)  # 30 minutes after the last word
    assert close_idle_conversations(sera, clock()) == {personas.northside_id: 1}
    [call] = calls(http, personas.owner_key)
    assert (call["channel"], call["outcome"]) == ("web", "abandoned")
    assert at(call["ended_at"]) == last_word  # when it went quiet, not when the sweep noticed
    assert call["duration_s"] == 120

    assert close_idle_conversations(sera, clock()) == {}  # run again (or retried): nothing more
    with sera.uow(personas.northside_id, readonly=True) as uow:
        entries = uow.session.execute(
            select(AuditEntry.details).where(AuditEntry.action == "conversations.closed_idle")
        ).scalars()
        assert list(entries) == [{"closed": 1, "channels": {"web": 1}}]


def test_an_ended_conversation_is_left_as_it_ended(
    http: TestClient, sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    agent = Agent(sera)
    ref = ConversationRef(personas.northside_id, "web", "ended-conversation-1")
    agent.start(ref, caller_phone=CALLER)
    clock.advance(minutes=1)
    assert agent.reply(ref, "stop calling me").ended
    goodbye = clock()
    [ended] = calls(http, personas.owner_key)
    assert (ended["outcome"], at(ended["ended_at"])) == ("opted_out", goodbye)

    clock.advance(hours=3)
    assert close_idle_conversations(sera, clock()) == {}
    assert calls(http, personas.owner_key) == [ended]


def test_a_quiet_conversation_keeps_what_it_achieved(
    http: TestClient, sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    conversation = start(http)
    say(http, conversation, "book a brake service saturday at 1pm")
    say(http, conversation, "Grace Liu")
    assert "booked" in say(http, conversation, "yes")["reply"]
    clock.advance(minutes=30)
    close_idle_conversations(sera, clock())
    [call] = calls(http, personas.owner_key)
    assert call["outcome"] == "booked" and call["ended_at"] is not None


def test_writing_after_the_close_starts_a_new_conversation(
    http: TestClient, sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    conversation = start(http)
    say(http, conversation, "book a tune-up next tuesday at 2 pm")  # the agent asks for a name
    clock.advance(minutes=45)
    close_idle_conversations(sera, clock())

    answer = say(http, conversation, "what time do you close on thursday")
    assert "name" not in answer["reply"].lower() and not answer["ended"]  # a fresh conversation answers
    old, new = calls(http, personas.owner_key)
    assert old["outcome"] == "abandoned" and old["ended_at"] is not None
    assert new["ended_at"] is None and at(new["started_at"]) == clock()
    assert new["from"] == CALLER  # the same caller
    detail = http.get(f"/api/v1/calls/{new['id']}", headers={"Authorization": f"Bearer {personas.owner_key}"})
    assert [line["role"] for line in detail.json()["transcript"]] == ["agent", "caller", "agent"]


def test_a_chat_gone_quiet_that_the_sweep_has_not_reached_yet_also_starts_afresh(
    http: TestClient, sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    conversation = start(http)
    say(http, conversation, "hi")
    last_word = clock()
    clock.advance(minutes=31)
    say(http, conversation, "what time do you close on thursday")  # before any sweep ran
    old, new = calls(http, personas.owner_key)
    assert (old["outcome"], at(old["ended_at"])) == ("abandoned", last_word)
    assert (new["ended_at"], at(new["started_at"])) == (None, clock())
    with sera.uow(personas.northside_id, readonly=True) as uow:
        reasons = uow.session.execute(select(Call.ended_reason).order_by(Call.started_at)).scalars().all()
    assert reasons == ["idle-timeout", None]


def test_the_sweep_runs_every_five_minutes_on_the_job_queue(
    jobs: Jobs, sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    agent = Agent(sera)
    ref = ConversationRef(personas.northside_id, "web", "quiet-on-the-queue")
    agent.start(ref, caller_phone=CALLER)
    clock.advance(minutes=30)

    def periodic(moment: datetime) -> list[Any]:
        return [task for task in jobs.huey.read_periodic(moment) if task.name == "conversations.idle"]

    assert periodic(datetime(2026, 11, 27, 16, 7)) == []
    [task] = periodic(datetime(2026, 11, 27, 16, 10))
    jobs.huey.execute(task)
    with sera.uow(personas.northside_id, readonly=True) as uow:
        call = uow.session.execute(select(Call)).scalar_one()
    assert call.outcome == "abandoned" and call.ended_at is not None
