"""The business is told: a message taken reaches the owner's inbox with what is needed to call
back; contacts choose events and channels; texts wait out quiet hours; privacy deadlines
are told at receipt, 24 h and 6 h before, and when passed, each once; the log shows it all."""

from __future__ import annotations

import mailbox
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from sera.agent.service import Agent, ConversationRef
from sera.bootstrap import Sera
from sera.jobs.wiring import _notification_texts_due, _send_notification_text
from sera.mail.service import send_pending
from sera.notifications.service import ContactInput, add_contact, after_quiet_hours, notify
from sera.privacy.queue import check_overdue
from sera.privacy.service import record_privacy_request
from sera.web.app import create_app
from tests.conftest import FakeClock, Personas
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioServer

OWNER = "hello@northside.example"  # the demo shop's own email
CALLER = "+13125550133"


@pytest.fixture
def texting(sera: Sera, fake_twilio: TwilioServer) -> TwilioServer:
    sera.settings = sera.settings.model_copy(
        update={
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_api_base": fake_twilio.url,
        }
    )
    return fake_twilio


def inbox(sera: Sera) -> list[EmailMessage]:
    """Every mail the business got so far (sent to the Maildir, the embedded default)."""
    send_pending(sera)
    if not sera.settings.mail_dir.exists():
        return []
    found = []
    for kept in mailbox.Maildir(sera.settings.mail_dir):
        parsed = message_from_bytes(kept.as_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append(parsed)
    return sorted(found, key=lambda m: str(m["Date"]))


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def converse(sera: Sera, merchant_id: str, lines: list[str], phone: str = CALLER) -> None:
    agent = Agent(sera)
    ref = ConversationRef(merchant_id, "voice", uuid.uuid4().hex)
    agent.start(ref, caller_phone=phone, shop_number="+13125550100")
    for line in lines:
        agent.reply(ref, line)


def texts_due(sera: Sera) -> None:
    """What the jobs do each minute for notification texts, in this thread."""
    from sera.notifications.service import take_due

    for row_id in take_due(sera, sera.clock()):
        _send_notification_text(sera, row_id)


def test_a_message_taken_by_the_agent_reaches_the_owner_with_what_is_needed_to_call_back(
    sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # Sunday noon in Chicago: closed
    converse(
        sera,
        personas.northside_id,
        ["can I talk to a real person", "ask them to ring me about my wheel", "Sam Rivera", "+1 312 555 0133"],
    )
    [mail] = inbox(sera)
    assert mail["To"] == OWNER
    assert "asked for a person while you were closed" in str(mail["Subject"])
    text = text_of(mail)
    assert "Sam Rivera" in text and "+13125550133" in text and "ring me about my wheel" in text
    html = mail.get_body(preferencelist=("html",))
    assert html is not None and "Sam Rivera" in str(html.get_content())
    assert len(inbox(sera)) == 1  # told once


def test_a_message_left_while_open_is_a_message_not_a_request_for_a_person(sera: Sera, personas: Personas) -> None:
    converse(
        sera, personas.northside_id, ["can I leave a message for Dana", "tell her the saddle fits", "Ines Ortiz", "yes"]
    )
    [mail] = inbox(sera)
    assert str(mail["Subject"]).startswith("New message from Ines Ortiz") and "for Dana" in text_of(mail)


def test_a_customer_name_with_a_line_break_cannot_add_a_recipient(sera: Sera, personas: Personas) -> None:
    with sera.uow(personas.northside_id) as uow:
        notify(
            uow,
            "message_taken",
            key="ticket:injected",
            context={
                "caller_name": "Eve\r\nBcc: thief@evil.example",
                "caller_phone": CALLER,
                "message": "hi",
                "ticket_id": "tkt_1",
            },
            now=sera.clock(),
        )
        uow.commit()
    [mail] = inbox(sera)
    assert mail["Bcc"] is None and mail["To"] == OWNER and "\n" not in str(mail["Subject"])


def test_contacts_choose_their_events_and_channels_and_texts_wait_out_quiet_hours(
    sera: Sera, personas: Personas, clock: FakeClock, texting: TwilioServer
) -> None:
    with sera.uow(personas.northside_id) as uow:
        add_contact(
            uow,
            ContactInput(
                "Dana",
                "dana@northside.example",
                "+13125550166",
                {"message_taken": ["email", "sms"], "privacy_request_received": ["email"]},
                quiet_start="21:00",
                quiet_end="08:00",
            ),
            actor="test",
        )
        uow.commit()
    clock.now = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # Friday 22:00 in Chicago: inside Dana's quiet hours
    converse(
        sera, personas.northside_id, ["can I leave a message", "my order came with a bent wheel", "Ari Cohen", "yes"]
    )
    [mail] = inbox(sera)
    assert mail["To"] == "dana@northside.example"  # the shop named contacts: the owner's address is not told
    texts_due(sera)
    assert texting.state.messages == []  # quiet hours
    clock.now = datetime(2026, 11, 28, 14, 0, 30, tzinfo=UTC)  # 08:00:30 on Saturday
    texts_due(sera)
    [sms] = texting.state.messages
    assert sms["to"] == "+13125550166" and sms["from"] == "+13125550100"
    assert "Ari Cohen" in sms["body"] and "bent wheel" in sms["body"]
    texts_due(sera)
    assert len(texting.state.messages) == 1  # once


def test_quiet_hours_span_midnight() -> None:
    from datetime import time
    from zoneinfo import ZoneInfo

    chicago = ZoneInfo("America/Chicago")
    quiet = (time(21), time(8))
    evening = datetime(2026, 11, 28, 3, 30, tzinfo=UTC)  # 21:30 local
    assert after_quiet_hours(evening, chicago, quiet) == datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    early = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # 06:00 local
    assert after_quiet_hours(early, chicago, quiet) == datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    noon = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)
    assert after_quiet_hours(noon, chicago, quiet) == noon


def test_a_privacy_requests_deadline_is_told_when_it_arrives_near_and_past_each_once(
    sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    with sera.uow(personas.northside_id) as uow:
        record_privacy_request(uow, request_type="erasure", customer_id=None, source="api", now=clock.now, actor="test")
        uow.commit()
    subjects = [str(m["Subject"]) for m in inbox(sera)]
    assert subjects == ["Privacy request received: answer by Sun 29 Nov 2026 10:00 CST · Northside Cycles"]
    seen = 1
    for hours, expected in ((20, None), (25, "due in 23 hours"), (43, "due in 5 hours"), (49, "overdue")):
        clock.now = datetime(2026, 11, 27, 16, 0, tzinfo=UTC) + timedelta(hours=hours)
        check_overdue(sera, clock.now)
        check_overdue(sera, clock.now)  # the sweep running twice tells nobody twice
        mails = inbox(sera)
        if expected is None:
            assert len(mails) == seen
            continue
        seen += 1
        assert len(mails) == seen and any(expected in str(m["Subject"]) for m in mails), expected


def test_the_api_manages_contacts_for_admins_only_and_shows_the_log(sera: Sera, personas: Personas) -> None:
    client = TestClient(create_app(sera))
    owner = {"Authorization": f"Bearer {personas.owner_key}"}
    body: dict[str, Any] = {
        "name": "Dana",
        "email": "dana@northside.example",
        "events": {"ticket_created": ["email"], "weekly_report": ["email"]},
    }
    created = client.post("/api/v1/notification-contacts", json=body, headers=owner)
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    viewer = {"Authorization": f"Bearer {personas.teammate_key}"}
    assert client.get("/api/v1/notification-contacts", headers=viewer).status_code == 403
    outsider = {"Authorization": f"Bearer {personas.outsider_key}"}
    assert client.get(f"/api/v1/notification-contacts/{contact_id}", headers=outsider).status_code == 404
    assert client.delete(f"/api/v1/notification-contacts/{contact_id}", headers=outsider).status_code == 404
    bad = [
        {**body, "events": {"nonsense": ["email"]}},
        {**body, "events": {"ticket_created": ["sms"]}},  # no phone
        {**body, "email": "dana@@northside"},
        {**body, "quiet_start": "21:00"},  # without an end
        {**body, "quiet_start": "25:00", "quiet_end": "08:00"},
        {**body, "phone": "12345"},
    ]
    for payload in bad:
        answer = client.post("/api/v1/notification-contacts", json=payload, headers=owner)
        assert answer.status_code == 422, payload
    with sera.uow(personas.northside_id) as uow:
        notify(
            uow,
            "ticket_created",
            key="ticket:t1",
            context={"ticket_id": "t1", "subject": "s", "description": "d"},
            now=sera.clock(),
        )
        uow.commit()
    send_pending(sera)
    log = client.get("/api/v1/notifications", headers=viewer).json()["data"]
    assert [(n["event"], n["channel"], n["contact_id"], n["status"]) for n in log] == [
        ("ticket_created", "email", contact_id, "sent")
    ]
    assert client.get("/api/v1/notifications", headers=outsider).json()["data"] == []
    mail_log = client.get("/api/v1/mail", headers=viewer).json()["data"]
    assert [(m["template"], m["status"]) for m in mail_log] == [("notification", "sent")]
    replaced = client.put(f"/api/v1/notification-contacts/{contact_id}", json={**body, "events": {}}, headers=owner)
    assert replaced.status_code == 200 and replaced.json()["events"] == {}
    assert client.delete(f"/api/v1/notification-contacts/{contact_id}", headers=owner).status_code == 204
    assert {e["event"] for e in client.get("/api/v1/notification-events", headers=viewer).json()} >= {"message_taken"}


def test_jobs_wiring_queues_due_texts(sera: Sera, personas: Personas) -> None:
    _notification_texts_due(sera)  # no jobs attached: nothing to do, nothing breaks
