"""The weekly report and the questions the agent could not answer."""

from __future__ import annotations

import mailbox
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sera.agent.service import Agent, ConversationRef
from sera.bootstrap import Sera
from sera.calls.service import end_call, start_call
from sera.privacy.erasure import redact_customer
from sera.privacy.export import export_customer_data
from sera.privacy.retention import sweep_merchant
from sera.reports.delivery import report_now, send_due_reports
from sera.reports.questions import record_unanswered, scrub
from sera.reports.service import ReportError, last_week, parse_week, weekly_report
from sera.storage.models import UnansweredQuestion
from tests.conftest import NORTHSIDE, FakeClock, Personas

CHICAGO = ZoneInfo("America/Chicago")
UNKNOWN = "Can I bring my dog into the shop?"


def ask(sera: Sera, merchant_id: str, line: str, *, phone: str | None = None, channel: str = "web") -> str:
    agent = Agent(sera)
    ref = ConversationRef(merchant_id, channel, uuid.uuid4().hex)
    agent.start(ref, caller_phone=phone)
    return agent.reply(ref, line).text


def questions(sera: Sera, merchant_id: str) -> list[UnansweredQuestion]:
    with sera.uow(merchant_id, readonly=True) as uow:
        return list(uow.session.execute(select(UnansweredQuestion)).scalars())


# -- recording ---------------------------------------------------------------------------------


def test_a_question_the_shop_cannot_answer_is_recorded_sealed(sera: Sera, personas: Personas) -> None:
    said = ask(sera, personas.northside_id, UNKNOWN)
    assert "not sure" in said  # what the agent says is unchanged
    [row] = questions(sera, personas.northside_id)
    assert row.channel == "web" and row.call_id is not None
    assert UNKNOWN.encode() not in row.question  # sealed at rest
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert uow.vault.open(row, "question") == UNKNOWN


def test_a_question_the_shop_answers_is_not_recorded(sera: Sera, personas: Personas) -> None:
    ask(sera, personas.northside_id, "What are your opening hours on Saturday?")
    assert questions(sera, personas.northside_id) == []


def test_a_shop_that_keeps_no_transcripts_keeps_no_questions(sera: Sera, personas: Personas) -> None:
    from sera.storage.models import Merchant

    with sera.uow(personas.northside_id) as uow:
        merchant = uow.session.get(Merchant, personas.northside_id)
        assert merchant is not None
        settings = dict(merchant.settings)
        settings["agent"] = {**settings.get("agent", {}), "record_calls": False}
        merchant.settings = settings
        merchant.updated_at = sera.clock() + timedelta(seconds=1)
        uow.commit()
    ask(sera, personas.northside_id, UNKNOWN)
    assert questions(sera, personas.northside_id) == []


# -- the report ----------------------------------------------------------------------------------


def test_weeks_are_iso_weeks_in_the_shops_time_zone(clock: FakeClock) -> None:
    week = last_week(clock.now, CHICAGO)  # Friday 27 November 2026: last week is W47
    assert week.label == "2026-W47"
    assert week.starts == datetime(2026, 11, 16, tzinfo=CHICAGO)
    assert week.ends == datetime(2026, 11, 23, tzinfo=CHICAGO)
    for bad in ("2026-48", "2026-W54", "last week"):
        with pytest.raises(ReportError):
            parse_week(bad, CHICAGO)


def _call(sera: Sera, merchant_id: str, at: datetime, *, direction: str = "inbound", outcome: str = "booked") -> None:
    with sera.uow(merchant_id) as uow:
        call = start_call(
            uow, channel="voice", direction=direction, provider="local", from_number="+13125550142",
            to_number=None, started_at=at, customer_id=None, provider_call_id=uuid.uuid4().hex,
        )  # fmt: skip
        end_call(uow, call, ended_at=at + timedelta(minutes=2), outcome=outcome)
        uow.commit()


def test_the_report_counts_the_week_in_local_time(sera: Sera, personas: Personas) -> None:
    week = parse_week("2026-W48", CHICAGO)  # 23-30 November, Chicago
    _call(sera, personas.northside_id, datetime(2026, 11, 23, 5, 30, tzinfo=UTC))  # Sunday 23:30 Chicago: W47
    _call(sera, personas.northside_id, datetime(2026, 11, 23, 15, 10, tzinfo=UTC))  # Monday 09:10
    _call(sera, personas.northside_id, datetime(2026, 11, 24, 15, 40, tzinfo=UTC), outcome="message")  # Tue 09:40
    _call(sera, personas.northside_id, datetime(2026, 11, 24, 20, 0, tzinfo=UTC), direction="outbound")
    _call(sera, personas.southside_id, datetime(2026, 11, 24, 15, 0, tzinfo=UTC))  # another shop's
    with sera.uow(personas.northside_id, readonly=True) as uow:
        report = weekly_report(uow, week)
    assert report.calls == {"inbound": 2, "outbound": 1}
    assert report.outcomes == {"booked": 2, "message": 1}
    assert report.busiest_hours[0].hour == 9 and report.busiest_hours[0].count == 2
    assert sum(report.by_hour) == 2  # inbound only
    assert report.feedback.count == 0


def test_the_report_groups_unanswered_questions_into_topics(sera: Sera, personas: Personas, clock: FakeClock) -> None:
    asked = [
        "Do you have parking near the shop?",
        "Where can I park my car when I visit?",
        "Is there parking at the store?",
        "Do you sell gift cards?",
        "Hi this is Sam Whitaker, can I buy a gift card? Call me on 312 555 0199",
    ]
    with sera.uow(personas.northside_id) as uow:
        for i, text in enumerate(asked):
            record_unanswered(uow, question=text, channel="voice", asked_at=clock.now - timedelta(hours=i),
                              call_id=None, customer_id=None)  # fmt: skip
        uow.commit()
    with sera.uow(personas.northside_id, readonly=True) as uow:
        report = weekly_report(uow, parse_week("2026-W48", CHICAGO))
    assert report.unanswered == 5
    assert [t.count for t in report.topics] == [3, 2]
    assert "park" in report.topics[0].label
    assert "gift" in report.topics[1].label
    everything = str(report.as_dict())
    assert "Sam" not in everything and "Whitaker" not in everything and "555" not in everything
    assert report.topics[0].add_faq_path.startswith("/dashboard/knowledge/new?question=")


def test_scrub_takes_out_what_looks_like_personal_data() -> None:
    assert scrub("this is Sam Whitaker, call me on +1 312 555 0199") == "this is [name], call me on [number]"
    assert scrub("my email is sam@example.com, order 123456") == "my email is [email], order [number]"
    assert scrub("Do you fix 29er wheels?") == "Do you fix 29er wheels?"


# -- on demand, by email, every week -----------------------------------------------------------


@pytest.fixture
def mails(sera: Sera) -> mailbox.Maildir:
    return mailbox.Maildir(sera.settings.mail_dir)


def test_the_demo_question_is_in_sera_report(sera: Sera, personas: Personas, clock: FakeClock) -> None:
    ask(sera, personas.northside_id, UNKNOWN)
    done = report_now(sera, personas.northside_id, "2026-W48", email=True, actor="test")
    assert "QUESTIONS THE AGENT COULD NOT ANSWER: 1" in done.text
    assert "dog" in done.text
    assert "https://sera.test/dashboard/knowledge/new?question=" in done.text
    assert done.mail_id is not None
    again = report_now(sera, personas.northside_id, "2026-W48", email=True, actor="test")
    assert again.mail_id is None  # one email per week


def test_the_report_email_reaches_the_owner(sera: Sera, personas: Personas, clock: FakeClock) -> None:
    from sera.mail.service import send_pending

    ask(sera, personas.northside_id, UNKNOWN)
    report_now(sera, personas.northside_id, "2026-W48", email=True, actor="test")
    assert send_pending(sera) == 1
    [message] = list(mailbox.Maildir(sera.settings.mail_dir))
    assert "2026-W48" in str(message["Subject"]) or "November" in str(message["Subject"])
    body = message.as_string()
    assert "dog" in body


def test_the_weekly_check_sends_on_the_chosen_day_once(sera: Sera, personas: Personas, clock: FakeClock) -> None:
    assert send_due_reports(sera, clock.now) == []  # a Friday
    monday = datetime(2026, 11, 30, 14, 5, tzinfo=UTC)  # Monday 08:05 in Chicago
    assert personas.northside_id in send_due_reports(sera, monday)
    assert personas.northside_id not in send_due_reports(sera, monday + timedelta(hours=1))


def test_sera_report_command(sera: Sera, personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    from sera import cli

    monkeypatch.setattr(cli, "_sera", lambda *a, **k: sera)
    ask(sera, personas.northside_id, UNKNOWN)
    result = CliRunner().invoke(cli.main, ["report", "--shop", NORTHSIDE, "--week", "2026-W48", "--no-email"])
    assert result.exit_code == 0, result.output
    assert "dog" in result.output
    bad = CliRunner().invoke(cli.main, ["report", "--shop", NORTHSIDE, "--week", "2026-W60"])
    assert bad.exit_code != 0 and "week 60" in bad.output


# -- privacy --------------------------------------------------------------------------------------


def test_erasure_export_and_retention_cover_the_questions(sera: Sera, personas: Personas, clock: FakeClock) -> None:
    from sera.customers.service import find_customer

    ask(sera, personas.northside_id, "Hi, my name is Dana Fox.", phone="+13125550142")
    with sera.uow(personas.northside_id) as uow:
        customer = find_customer(uow, phone="+13125550142")
    ask(sera, personas.northside_id, UNKNOWN, phone="+13125550142")
    rows = questions(sera, personas.northside_id)
    if customer is not None:
        with sera.uow(personas.northside_id, readonly=True) as uow:
            exported = export_customer_data(uow, customer.id)
        assert [q["question"] for q in exported["unanswered_questions"]] == [UNKNOWN]
        redact_customer(sera, personas.northside_id, customer.id, actor="test")
        assert questions(sera, personas.northside_id) == []
    else:
        assert len(rows) == 1
    ask(sera, personas.northside_id, UNKNOWN)
    report = sweep_merchant(sera, personas.northside_id, clock.now + timedelta(days=731))
    assert report.deleted["unanswered_questions"] == 1
    assert questions(sera, personas.northside_id) == []


# -- the API ----------------------------------------------------------------------------------------


@pytest.fixture
def client(sera: Sera) -> Iterator[TestClient]:
    from sera.web.app import create_app

    with TestClient(create_app(sera)) as test_client:
        yield test_client


def test_api_weekly_report_and_questions(client: TestClient, sera: Sera, personas: Personas) -> None:
    ask(sera, personas.northside_id, UNKNOWN)
    viewer = {"Authorization": f"Bearer {personas.teammate_key}"}
    outsider = {"Authorization": f"Bearer {personas.outsider_key}"}
    got = client.get("/api/v1/reports/weekly", params={"week": "2026-W48"}, headers=viewer)
    assert got.status_code == 200, got.text
    assert got.json()["unanswered"] == 1 and got.json()["topics"][0]["count"] == 1
    theirs = client.get("/api/v1/reports/weekly", params={"week": "2026-W48"}, headers=outsider)
    assert theirs.status_code == 200 and theirs.json()["unanswered"] == 0
    assert client.get("/api/v1/reports/weekly", params={"week": "soon"}, headers=viewer).status_code == 422
    listed = client.get("/api/v1/unanswered-questions", headers=viewer).json()
    assert [q["text"] for q in listed["data"]] == [UNKNOWN]
    assert client.get("/api/v1/unanswered-questions", headers=outsider).json()["data"] == []
    with sera.uow(personas.northside_id, readonly=True) as uow:
        from sera.storage.models import AuditEntry

        reads = uow.session.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.target_type == "unanswered_question", AuditEntry.merchant_id == personas.northside_id)
        ).scalar_one()
    assert reads == 1


def test_api_report_settings(client: TestClient, sera: Sera, personas: Personas) -> None:
    owner = {"Authorization": f"Bearer {personas.owner_key}"}
    viewer = {"Authorization": f"Bearer {personas.teammate_key}"}
    assert client.get("/api/v1/reports/settings", headers=viewer).json() == {
        "enabled": True,
        "day": "monday",
        "hour": 8,
    }
    body = {"enabled": True, "day": "friday", "hour": 10}
    assert client.put("/api/v1/reports/settings", json=body, headers=viewer).status_code == 403
    assert client.put("/api/v1/reports/settings", json={**body, "day": "someday"}, headers=owner).status_code == 422
    assert client.put("/api/v1/reports/settings", json=body, headers=owner).status_code == 200
    friday = datetime(2026, 11, 27, 16, 5, tzinfo=UTC)  # 10:05 in Chicago
    assert send_due_reports(sera, friday) == [personas.northside_id]
