"""Erasure, retention and shop deletion reach the copies at Twilio: recordings, texts and call records.

Harriet (a customer) calls the shop, is recorded, and texts it; Sera's replies go out as
TwiML, which Twilio turns into messages of its own and reports to the ``action`` URL. Priya,
another customer, does the same. Each kind of deletion must delete Harriet's copies at
Twilio exactly once, and never touch Priya's.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import select

from sera import cli
from sera.bootstrap import Sera
from sera.customers.service import find_or_create_customer
from sera.merchants.providers import set_provider_account
from sera.merchants.service import import_shop_text
from sera.privacy.copies import copies_of, pending_copies
from sera.privacy.erasure import delete_shop
from sera.privacy.retention import run_retention
from sera.storage.models import AuditEntry, ProviderCopy
from tests.adapters.twilio.conftest import ACCOUNT_SID, SHOP, Phone, parse_twiml, payload
from tests.conftest import DEMO_SHOP, NORTHSIDE, FakeClock, Personas
from tests.fakes.twilio_server import TwilioServer

HARRIET = "+13125550170"
PRIYA = "+13125550171"


def customer(sera: Sera, merchant_id: str, name: str, phone: str) -> str:
    with sera.uow(merchant_id) as uow:
        found = find_or_create_customer(uow, name=name, phone=phone)
        uow.commit()
        return found.id


def converse(phone: Phone, fake: TwilioServer, shop_id: str, caller: str, *, account: str = ACCOUNT_SID) -> set[str]:
    """A recorded call and a text thread with the shop, as Twilio plays them; returns the sids
    of every copy Twilio now holds of it (the call, its recording, the texts both ways)."""
    call = fake.incoming_call(account, caller=caller, to=SHOP)
    assert phone.call(call, caller=caller).status_code == 200
    fake.set_status(call, "completed")
    assert phone.hang_up(call, 42).status_code == 204
    recording = fake.recorded(account, call)
    event = payload("voice_recording_completed", CallSid=call, RecordingSid=recording, AccountSid=account)
    event["RecordingUrl"] = f"https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{recording}"
    assert phone.post(f"/twilio/voice/recording?shop={shop_id}", event).status_code == 204
    texted = fake.received_text(account, sender=caller, to=SHOP, body="what time do you close today")
    answer = phone.text("what time do you close today", sender=caller, sid=texted)
    return {call, recording, texted, *twilio_sends(phone, fake, answer, caller, account)}


def twilio_sends(phone: Phone, fake: TwilioServer, answer: httpx.Response, to: str, account: str) -> set[str]:
    """Twilio sends each ``<Message>`` of the TwiML answer and reports it to the verb's action URL."""
    sids = set()
    for message in parse_twiml(answer.text).iter("Message"):
        sid = fake.received_text(account, sender=SHOP, to=to, body=message.text or "")
        url = urlsplit(message.attrib["action"])
        report = payload("sms_status_delivered", MessageSid=sid, SmsSid=sid, To=to, AccountSid=account)
        assert phone.post(f"{url.path}?{url.query}", report).status_code == 204
        sids.add(sid)
    return sids


def deleted_sids(fake: TwilioServer) -> list[str]:
    return [sid for _, sid in fake.state.deleted]


def audited_deletions(sera: Sera, merchant_id: str) -> list[dict[str, Any]]:
    with sera.uow(readonly=True) as uow:
        rows = uow.session.execute(
            select(AuditEntry.details).where(
                AuditEntry.merchant_id == merchant_id, AuditEntry.action == "provider_copy.deleted"
            )
        )
        return list(rows.scalars())


def sera_cli(sera: Sera, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: sera)
    return CliRunner().invoke(cli.main, list(args))


def erase_through_the_api(http: TestClient, key: str, customer_id: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    created = http.post(
        "/api/v1/privacy-requests", json={"type": "erasure", "customer_id": customer_id}, headers=headers
    )
    assert created.status_code == 201, created.text
    done = http.post(f"/api/v1/privacy-requests/{created.json()['id']}/complete", headers=headers)
    assert done.json()["result"] == "erased"


def test_an_erasure_deletes_the_customers_recording_call_and_texts_at_twilio_once(
    phone: Phone,
    http: TestClient,
    fake_twilio: TwilioServer,
    sera: Sera,
    personas: Personas,
    jobs: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    harriet = customer(sera, personas.northside_id, "Harriet Vane", HARRIET)
    customer(sera, personas.northside_id, "Priya Shah", PRIYA)
    hers = converse(phone, fake_twilio, personas.northside_id, HARRIET)
    priyas = converse(phone, fake_twilio, personas.northside_id, PRIYA)
    assert len(hers) >= 5  # the call, its recording, her text and at least one reply

    erase_through_the_api(http, personas.owner_key, harriet)
    jobs.run_pending()

    assert sorted(deleted_sids(fake_twilio)) == sorted(hers)  # each once, nothing of Priya's
    assert all(fake_twilio.state.holds(sid) for sid in priyas)
    assert not any(fake_twilio.state.holds(sid) for sid in hers)
    audited = audited_deletions(sera, personas.northside_id)
    assert sorted(d["provider_id"] for d in audited) == sorted(hers)
    assert {d["reason"] for d in audited} == {"erasure"} and {d["result"] for d in audited} == {"deleted"}

    report = sera_cli(sera, monkeypatch, "privacy", "report", "--shop", NORTHSIDE)
    assert report.exit_code == 0, report.output
    assert f"customer {harriet}" in report.output
    for sid in hers:
        assert sid in report.output
    assert HARRIET not in report.output and "Harriet" not in report.output

    jobs.run_pending()  # a second run finds nothing to do
    assert len(deleted_sids(fake_twilio)) == len(hers)


def test_retention_deletes_recordings_texts_and_call_records_at_twilio_when_their_period_ends(
    phone: Phone,
    http: TestClient,
    fake_twilio: TwilioServer,
    sera: Sera,
    personas: Personas,
    jobs: Any,
    clock: FakeClock,
) -> None:
    customer(sera, personas.northside_id, "Harriet Vane", HARRIET)
    old = converse(phone, fake_twilio, personas.northside_id, HARRIET)
    [call_sid] = [sid for sid in old if sid.startswith("CA")]
    clock.advance(days=366)  # call logs are kept a year: the call record goes, the recording and texts stay
    recent = converse(phone, fake_twilio, personas.northside_id, PRIYA)
    run_retention(sera, clock())
    jobs.run_pending()
    assert deleted_sids(fake_twilio) == [call_sid]

    clock.advance(days=366)  # two years: the recording and the texts go too
    run_retention(sera, clock())
    jobs.run_pending()
    assert sorted(deleted_sids(fake_twilio)) == sorted(old | {s for s in recent if s.startswith("CA")})
    assert all(fake_twilio.state.holds(sid) for sid in recent if not sid.startswith("CA"))
    assert {d["reason"] for d in audited_deletions(sera, personas.northside_id)} == {"retention"}


def test_deleting_a_shop_deletes_its_copies_in_its_own_twilio_account_then_forgets_the_token(
    phone: Phone,
    http: TestClient,
    fake_twilio: TwilioServer,
    sera: Sera,
    personas: Personas,
    jobs: Any,
    clock: FakeClock,
) -> None:
    own_sid, own_token = "AC" + "1" * 32, "own-token-of-northside"
    fake_twilio.add_account(own_sid, own_token)
    set_provider_account(sera, personas.northside_id, "twilio", account_id=own_sid, secret=own_token, actor="test")
    phone.token = own_token  # the shop's own account signs its webhooks
    customer(sera, personas.northside_id, "Harriet Vane", HARRIET)
    hers = converse(phone, fake_twilio, personas.northside_id, HARRIET, account=own_sid)
    fake_twilio.state.failures.extend([503] * 1000)  # Twilio is down when the shop goes

    delete_shop(sera, personas.northside_id, actor="test")
    jobs.run_pending()
    assert fake_twilio.state.deleted == [] and len(pending_copies(sera)) == len(hers)
    assert sera.keystore.kept_for_deletion(personas.northside_id, "twilio") == (own_sid, own_token)

    fake_twilio.state.failures.clear()
    clock.advance(minutes=5)  # the periodic dispatcher queues them again once their retry is due
    _dispatch_due(sera, jobs)
    assert sorted(deleted_sids(fake_twilio)) == sorted(hers)
    assert pending_copies(sera) == []
    assert sera.keystore.kept_for_deletion(personas.northside_id, "twilio") is None
    assert {c.reason for c in copies_of(sera, personas.northside_id)} == {"shop_deletion"}


def _dispatch_due(sera: Sera, jobs: Any) -> None:
    from sera.jobs.wiring import _copies_due

    _copies_due(sera)
    jobs.run_pending()


def test_a_twilio_that_stays_down_delays_deletion_without_losing_it(
    phone: Phone,
    http: TestClient,
    fake_twilio: TwilioServer,
    sera: Sera,
    personas: Personas,
    jobs: Any,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    harriet = customer(sera, personas.northside_id, "Harriet Vane", HARRIET)
    hers = converse(phone, fake_twilio, personas.northside_id, HARRIET)
    fake_twilio.state.failures.extend([500] * 10_000)
    erase_through_the_api(http, personas.owner_key, harriet)
    for _ in range(13):  # 52 hours of retries
        clock.advance(hours=4)
        _dispatch_due(sera, jobs)
    assert fake_twilio.state.deleted == []
    overdue = sera_cli(sera, monkeypatch, "privacy", "overdue")
    assert overdue.exit_code == 1
    assert overdue.output.count("PENDING DELETION") == len(hers)
    assert "500" in overdue.output
    with sera.uow(readonly=True) as uow:
        attempts = uow.session.execute(select(ProviderCopy.attempts)).scalars().all()
    assert min(attempts) >= 3

    fake_twilio.state.failures.clear()
    clock.advance(hours=1)
    _dispatch_due(sera, jobs)
    assert sorted(deleted_sids(fake_twilio)) == sorted(hers)
    assert sera_cli(sera, monkeypatch, "privacy", "overdue").exit_code == 0


def test_a_message_twilio_will_not_delete_yet_is_redacted_now_and_deleted_later(
    phone: Phone,
    http: TestClient,
    fake_twilio: TwilioServer,
    sera: Sera,
    personas: Personas,
    jobs: Any,
    clock: FakeClock,
) -> None:
    harriet = customer(sera, personas.northside_id, "Harriet Vane", HARRIET)
    hers = converse(phone, fake_twilio, personas.northside_id, HARRIET)
    in_flight = next(sid for sid in hers if sid.startswith("SM"))
    fake_twilio.set_status(in_flight, "sending")
    erase_through_the_api(http, personas.owner_key, harriet)
    jobs.run_pending()
    assert fake_twilio.state.redacted == [in_flight]
    assert sorted(deleted_sids(fake_twilio)) == sorted(hers - {in_flight})
    body = next(m["body"] for m in fake_twilio.state.messages if m["sid"] == in_flight)
    assert body == ""

    fake_twilio.set_status(in_flight, "delivered")
    clock.advance(minutes=2)
    _dispatch_due(sera, jobs)
    assert sorted(deleted_sids(fake_twilio)) == sorted(hers)
    assert fake_twilio.state.redacted == [in_flight]  # redacted once


def test_a_recording_of_a_call_sera_does_not_know_is_ignored_and_logged_without_the_caller(
    phone: Phone,
    http: TestClient,
    fake_twilio: TwilioServer,
    sera: Sera,
    personas: Personas,
    caplog: Any,
) -> None:
    stranger = fake_twilio.incoming_call(ACCOUNT_SID, caller=HARRIET, to=SHOP)
    recording = fake_twilio.recorded(ACCOUNT_SID, stranger)
    event = payload("voice_recording_completed", CallSid=stranger, RecordingSid=recording)
    with caplog.at_level(logging.WARNING):
        response = phone.post(f"/twilio/voice/recording?shop={personas.northside_id}", event)
    assert response.status_code == 204
    assert "recording for a call Sera does not know" in caplog.text and HARRIET not in caplog.text
    with sera.uow(readonly=True) as uow:
        assert uow.session.execute(select(ProviderCopy)).first() is None
    assert fake_twilio.state.holds(recording)


def test_a_recording_of_a_shop_that_does_not_keep_recordings_is_deleted_at_once(
    phone: Phone,
    http: TestClient,
    fake_twilio: TwilioServer,
    sera: Sera,
    personas: Personas,
    jobs: Any,
    clock: FakeClock,
) -> None:
    call = fake_twilio.incoming_call(ACCOUNT_SID, caller=HARRIET, to=SHOP)
    assert phone.call(call, caller=HARRIET).status_code == 200
    shop = yaml.safe_load(DEMO_SHOP.read_text())
    shop["agent"]["record_calls"] = False
    clock.advance(minutes=1)
    import_shop_text(sera, yaml.safe_dump(shop), source="test", actor="test")  # the owner turns recording off mid-call
    fake_twilio.set_status(call, "completed")
    recording = fake_twilio.recorded(ACCOUNT_SID, call)
    event = payload("voice_recording_completed", CallSid=call, RecordingSid=recording)
    assert phone.post(f"/twilio/voice/recording?shop={personas.northside_id}", event).status_code == 204
    jobs.run_pending()
    assert fake_twilio.state.deleted == [("recordings", recording)]
    [copy] = [c for c in copies_of(sera, personas.northside_id) if c.kind == "recording"]
    assert (copy.reason, copy.result) == ("not_recorded", "deleted")
