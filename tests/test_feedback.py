"""Customer feedback texts, end to end through the real paths: the demo shop (Northside Cycles)
asks "How did we do?" after a call or a text conversation ends, through the outbound engine and
the fake Twilio, and the customer's signed SMS answer is recorded, thanked and shown in the API.

Harriet (+13125550170) is a known customer who agreed to texts; it is Friday 27 November 2026,
10:00 in Chicago.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from sera.agent.idle import close_idle_conversations
from sera.bootstrap import Sera
from sera.cli import set_up_demo
from sera.config import Settings
from sera.customers.service import add_do_not_contact, create_customer, record_consent
from sera.feedback.asking import FEEDBACK
from sera.feedback.replies import THANKS, parse_answer
from sera.feedback.report import feedback_summary
from sera.feedback.settings import DEFAULT_WORDING
from sera.outbound.dispatch import dispatch
from sera.privacy.erasure import redact_customer
from sera.privacy.export import export_customer_data
from sera.privacy.retention import sweep_merchant
from sera.storage.models import Conversation, Feedback, OutboundAction
from sera.web.app import create_app
from tests.adapters.twilio.conftest import ACCOUNT_SID, AUTH_TOKEN, Phone, parse_twiml
from tests.conftest import FakeClock, Personas
from tests.fakes.twilio_server import TwilioServer, new_sid
from tests.outbound.conftest import Queue, make_outbox

HARRIET = "+13125550170"


@pytest.fixture
def settings(settings: Settings, fake_twilio: TwilioServer, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_api_base": fake_twilio.url,
            "voice_mode": "gather",
            "jobs_path": tmp_path / "jobs.db",
        }
    )


@pytest.fixture
def shop(sera: Sera, personas: Personas, clock: FakeClock) -> str:
    """The demo shop as ``sera demo`` sets it up: feedback texts on, with the default question."""
    assert set_up_demo(sera).merchant_id == personas.northside_id
    clock.advance(minutes=1)  # conversations that end from now on are asked about
    return personas.northside_id


@pytest.fixture
def http(sera: Sera, shop: str) -> Iterator[TestClient]:
    with TestClient(create_app(sera)) as client:
        yield client


@pytest.fixture
def phone(http: TestClient) -> Phone:
    return Phone(http)


@pytest.fixture
def queue(sera: Sera) -> Queue:
    return Queue(sera, make_outbox(sera))


def customer(sera: Sera, shop: str, number: str = HARRIET, *, consent: bool = True) -> str:
    with sera.uow(shop) as uow:
        found = create_customer(uow, name="Harriet Okonkwo", phone=number, now=sera.clock())
        if consent:
            record_consent(
                uow,
                found.id,
                channel="sms",
                purpose="marketing",
                granted=True,
                source="checkout checkbox",
                actor="test",
                now=sera.clock(),
            )
        uow.commit()
        return found.id


def a_call(phone: Phone, caller: str = HARRIET) -> str:
    sid = new_sid("CA")
    assert phone.call(sid, caller=caller).status_code == 200
    assert phone.say(sid, "what time do you close on saturday", caller=caller).status_code == 200
    assert phone.hang_up(sid, 60).status_code in (200, 204)
    return sid


def feedback_texts(fake: TwilioServer, to: str = HARRIET) -> list[str]:
    return [m["body"] for m in fake.state.messages if m["direction"] == "outbound-api" and m["to"] == to]


def replies(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [m.text or "" for m in parse_twiml(response.text).iter("Message")]


def asked(sera: Sera, shop: str) -> list[OutboundAction]:
    with sera.uow(shop, readonly=True) as uow:
        return list(
            uow.session.execute(
                select(OutboundAction).where(OutboundAction.kind == FEEDBACK).order_by(OutboundAction.created_at)
            ).scalars()
        )


def answers(sera: Sera, shop: str) -> list[tuple[int, str | None]]:
    with sera.uow(shop, readonly=True) as uow:
        rows = uow.session.execute(select(Feedback).order_by(Feedback.created_at)).scalars().all()
        return [(row.score, uow.vault.open(row, "words")) for row in rows]


def get(http: TestClient, key: str, path: str, **params: Any) -> Any:
    response = http.get(f"/api/v1{path}", params=params, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()


def sms_threads(sera: Sera, shop: str) -> int:
    with sera.uow(shop, readonly=True) as uow:
        return int(
            uow.session.execute(
                select(func.count()).select_from(Conversation).where(Conversation.channel == "sms")
            ).scalar_one()
        )


def test_a_call_ends_the_customer_is_asked_and_their_answer_is_recorded(
    sera: Sera, shop: str, phone: Phone, http: TestClient, queue: Queue, fake_twilio: TwilioServer, personas: Personas
) -> None:
    harriet = customer(sera, shop)
    threads = sms_threads(sera, shop)  # the demo's own first conversations
    a_call(phone)
    queue.tick()
    assert feedback_texts(fake_twilio) == [DEFAULT_WORDING]
    [question] = asked(sera, shop)
    assert (question.status, question.customer_id) == ("sent", harriet)

    # Her signed answer is recorded and thanked; the agent never sees it (no text thread begins).
    assert replies(phone.text("4 quick and friendly", sender=HARRIET)) == [THANKS]
    assert answers(sera, shop) == [(4, "quick and friendly")]
    assert sms_threads(sera, shop) == threads

    [listed] = get(http, personas.teammate_key, "/feedback")["data"]  # a viewer may read it
    assert (listed["score"], listed["words"], listed["channel"]) == (4, "quick and friendly", "voice")
    detail = get(http, personas.owner_key, f"/calls/{listed['call_id']}")
    assert detail["feedback"]["score"] == 4 and detail["feedback"]["words"] == "quick and friendly"
    assert get(http, personas.outsider_key, "/feedback")["data"] == []  # another shop sees none of it

    summary = get(
        http,
        personas.owner_key,
        "/feedback/summary",
        since="2026-11-23T00:00:00-06:00",
        until="2026-11-30T00:00:00-06:00",
    )
    assert summary == {"count": 1, "average": 4.0, "by_score": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}}


def test_an_answer_is_recorded_once(
    sera: Sera, shop: str, phone: Phone, queue: Queue, fake_twilio: TwilioServer
) -> None:
    customer(sera, shop)
    threads = sms_threads(sera, shop)  # the demo's own first conversations
    a_call(phone)
    queue.tick()
    sid = new_sid("SM")
    assert replies(phone.text("5 - Sam was great", sender=HARRIET, sid=sid)) == [THANKS]
    assert replies(phone.text("5 - Sam was great", sender=HARRIET, sid=sid)) == []  # Twilio's retry
    second = replies(phone.text("3", sender=HARRIET))  # already answered: an ordinary text for the agent
    assert second and THANKS not in second
    assert answers(sera, shop) == [(5, "Sam was great")]
    assert sms_threads(sera, shop) == threads + 1


def test_stop_after_the_question_is_an_opt_out_not_an_answer(
    sera: Sera, shop: str, phone: Phone, queue: Queue, fake_twilio: TwilioServer
) -> None:
    customer(sera, shop)
    a_call(phone)
    queue.tick()
    assert replies(phone.text("STOP", sender=HARRIET)) == []
    assert replies(phone.text("5", sender=HARRIET)) == []  # a listed number's texts are never answered
    assert answers(sera, shop) == []


def test_no_consent_no_text(sera: Sera, shop: str, phone: Phone, queue: Queue, fake_twilio: TwilioServer) -> None:
    customer(sera, shop, consent=False)
    a_call(phone)
    queue.tick()
    assert feedback_texts(fake_twilio) == []
    assert [(a.status, a.reason) for a in asked(sera, shop)] == [("skipped", "no-consent")]


def test_do_not_contact_no_text(sera: Sera, shop: str, phone: Phone, queue: Queue, fake_twilio: TwilioServer) -> None:
    customer(sera, shop)
    a_call(phone)
    with sera.uow(shop) as uow:
        add_do_not_contact(uow, HARRIET, source="api", now=sera.clock())
        uow.commit()
    queue.tick()
    assert feedback_texts(fake_twilio) == []
    assert [(a.status, a.reason) for a in asked(sera, shop)] == [("skipped", "do-not-contact")]


def test_once_per_customer_per_thirty_days(
    sera: Sera, shop: str, phone: Phone, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    customer(sera, shop)
    a_call(phone)
    queue.tick()
    clock.advance(days=10)
    a_call(phone)
    queue.tick()
    assert len(feedback_texts(fake_twilio)) == 1
    assert [(a.status, a.reason) for a in asked(sera, shop)] == [("sent", "sent"), ("skipped", "recently-asked")]
    clock.advance(days=21)  # 31 days after the first question
    a_call(phone)
    queue.tick()
    assert len(feedback_texts(fake_twilio)) == 2


def test_quiet_hours_hold_the_question_until_morning(
    sera: Sera, shop: str, phone: Phone, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    customer(sera, shop)
    clock.now = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # Friday 22:00 in Chicago
    a_call(phone)
    queue.tick()
    assert feedback_texts(fake_twilio) == []
    [question] = asked(sera, shop)
    assert (question.status, question.reason) == ("scheduled", "quiet-hours-deferred")
    assert question.due_at == datetime(2026, 11, 28, 14, 0, tzinfo=UTC)  # Saturday 08:00 in Chicago
    clock.now = question.due_at
    queue.tick()
    assert feedback_texts(fake_twilio) == [DEFAULT_WORDING]


def test_a_question_that_could_not_go_for_a_day_is_dropped(
    sera: Sera, shop: str, phone: Phone, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    customer(sera, shop)
    a_call(phone)
    dispatch(sera, lambda *_: None, sera.clock())  # planned, but its send job was lost
    clock.advance(hours=25)
    queue.tick()
    assert feedback_texts(fake_twilio) == []
    assert [(a.status, a.reason) for a in asked(sera, shop)] == [("skipped", "expired")]


def test_a_text_conversation_that_went_quiet_is_asked_about(
    sera: Sera, shop: str, phone: Phone, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    customer(sera, shop)
    assert replies(phone.text("what time do you close on saturday", sender=HARRIET))
    clock.advance(hours=25)
    close_idle_conversations(sera, clock.now)
    queue.tick()
    assert feedback_texts(fake_twilio)[-1] == DEFAULT_WORDING
    assert replies(phone.text("2", sender=HARRIET)) == [THANKS]
    assert answers(sera, shop) == [(2, None)]


def test_off_by_default_and_set_through_the_api(
    sera: Sera, personas: Personas, fake_twilio: TwilioServer, queue: Queue, clock: FakeClock
) -> None:
    with TestClient(create_app(sera)) as http:
        phone = Phone(http)
        customer(sera, personas.northside_id)
        assert get(http, personas.owner_key, "/feedback/settings")["enabled"] is False
        a_call(phone)
        queue.tick()
        assert asked(sera, personas.northside_id) == []

        def put(key: str, body: dict[str, Any]) -> httpx.Response:
            return http.put("/api/v1/feedback/settings", json=body, headers={"Authorization": f"Bearer {key}"})

        assert put(personas.teammate_key, {"enabled": True}).status_code == 403
        too_long = "How did we do? " * 12 + "Reply STOP to opt out."
        assert put(personas.owner_key, {"enabled": True, "wording": too_long}).status_code in (400, 422)
        assert put(personas.owner_key, {"enabled": True, "wording": "How did we do? Reply 1-5"}).status_code in (
            400,
            422,
        )  # no way to opt out
        assert get(http, personas.owner_key, "/feedback/settings")["enabled"] is False  # nothing changed
        wording = "Thanks for visiting Northside! How did we do? Reply 1-5. Reply STOP to opt out."
        saved = put(personas.owner_key, {"enabled": True, "wording": wording})
        assert saved.status_code == 200 and saved.json()["question"] == wording
        assert get(http, personas.outsider_key, "/feedback/settings")["enabled"] is False
        queue.tick()
        assert feedback_texts(fake_twilio) == []  # a call that ended before feedback was turned on is not asked
        clock.advance(minutes=5)
        a_call(phone)
        queue.tick()
        assert feedback_texts(fake_twilio) == [wording]


def test_erasure_removes_feedback_and_the_export_has_it(
    sera: Sera, shop: str, phone: Phone, queue: Queue, fake_twilio: TwilioServer
) -> None:
    harriet = customer(sera, shop)
    a_call(phone)
    queue.tick()
    assert replies(phone.text("4 quick and friendly", sender=HARRIET)) == [THANKS]
    with sera.uow(shop, readonly=True) as uow:
        exported = export_customer_data(uow, harriet)["feedback"]
    assert [(f["score"], f["words"], f["channel"]) for f in exported] == [(4, "quick and friendly", "voice")]
    redact_customer(sera, shop, harriet, actor="test")
    assert answers(sera, shop) == []


def test_feedback_expires_with_call_logs(
    sera: Sera, shop: str, phone: Phone, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    customer(sera, shop)
    a_call(phone)
    queue.tick()
    assert replies(phone.text("5", sender=HARRIET)) == [THANKS]
    assert sweep_merchant(sera, shop, clock.now + timedelta(days=364)).deleted["feedback"] == 0
    assert sweep_merchant(sera, shop, clock.now + timedelta(days=366)).deleted["feedback"] == 1
    assert answers(sera, shop) == []


def test_summary_for_the_weekly_report(sera: Sera, shop: str, phone: Phone, queue: Queue, clock: FakeClock) -> None:
    for number, answer in (("+13125550171", "5"), ("+13125550172", "4 thanks!"), ("+13125550173", "5/5")):
        customer(sera, shop, number)
        a_call(phone, caller=number)
        queue.tick()
        assert replies(phone.text(answer, sender=number)) == [THANKS]
    week = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    with sera.uow(shop, readonly=True) as uow:
        summary = feedback_summary(uow, week, week + timedelta(days=7))
        empty = feedback_summary(uow, week - timedelta(days=7), week)
    assert (summary.count, summary.average, summary.by_score) == (3, 4.67, {1: 0, 2: 0, 3: 0, 4: 1, 5: 2})
    assert (empty.count, empty.average) == (0, None)


@pytest.mark.parametrize(
    ("text", "score", "words"),
    [
        ("5", 5, None),
        ("4 thanks!", 4, "thanks!"),
        ("5 - Sam was great", 5, "Sam was great"),
        (" 3. ok ", 3, "ok"),
        ("4/5", 4, None),
        ("1", 1, None),
    ],
)
def test_answers_that_count(text: str, score: int, words: str | None) -> None:
    answer = parse_answer(text)
    assert answer is not None and (answer.score, answer.words) == (score, words)


@pytest.mark.parametrize("text", ["6", "0", "10", "45", "5pm works", "yes", "", "4/10", "about 5"])
def test_texts_that_are_not_answers(text: str) -> None:
    assert parse_answer(text) is None
