"""Sera's Twilio REST client against a local server that answers like Twilio's API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sera.adapters.http import HttpClient, PermanentError, RetryableError
from sera.adapters.twilio.client import TwilioClient, client_for, twilio_error_code
from sera.bootstrap import Sera
from sera.merchants.providers import set_provider_account
from tests.adapters.twilio.conftest import ACCOUNT_SID, AUTH_TOKEN, CALLER, PUBLIC, SHOP
from tests.conftest import Personas
from tests.fakes.twilio_server import TwilioServer, new_sid


@pytest.fixture
def twilio(fake_twilio: TwilioServer) -> Iterator[TwilioClient]:
    client = TwilioClient(ACCOUNT_SID, AUTH_TOKEN, api_base=fake_twilio.url, http=HttpClient(backoff=0.001))
    yield client
    client.close()


def test_send_sms_posts_to_the_messages_resource(twilio: TwilioClient, fake_twilio: TwilioServer) -> None:
    sent = twilio.send_sms(to=CALLER, from_=SHOP, body="Your bike is ready.", status_callback=f"{PUBLIC}/cb")
    assert sent.sid.startswith("SM") and len(sent.sid) == 34 and sent.status == "queued" and sent.segments == 1
    [request] = fake_twilio.state.received
    assert (request.method, request.path) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    assert request.form == {
        "To": [CALLER],
        "From": [SHOP],
        "Body": ["Your bike is ready."],
        "StatusCallback": [f"{PUBLIC}/cb"],
    }
    assert request.headers["authorization"].startswith("Basic ")


def test_list_messages_follows_twilios_pages(twilio: TwilioClient, fake_twilio: TwilioServer) -> None:
    for n in range(5):
        twilio.send_sms(to=CALLER, from_=SHOP, body=f"message {n}")
    twilio.send_sms(to="+13125550171", from_=SHOP, body="someone else")
    listed = twilio.list_messages(to=CALLER, limit=4)
    assert [m.body for m in listed] == ["message 4", "message 3", "message 2", "message 1"]
    assert all(m.direction == "outbound-api" and m.to_number == CALLER for m in listed)
    pages = TwilioClient(ACCOUNT_SID, AUTH_TOKEN, api_base=fake_twilio.url)
    assert len(pages._sdk.messages.list(page_size=2, limit=10)) == 6  # three pages through next_page_uri
    assert len(fake_twilio.state.requests_to("/Messages.json", method="GET")) == 1 + 3


def test_place_call_asks_twilio_to_fetch_sera_twiml(twilio: TwilioClient, fake_twilio: TwilioServer) -> None:
    sid = twilio.place_call(
        to=CALLER, from_=SHOP, url=f"{PUBLIC}/twilio/voice", status_callback=f"{PUBLIC}/twilio/voice/status"
    )
    assert sid.startswith("CA") and fake_twilio.state.calls[0]["sid"] == sid
    [request] = fake_twilio.state.requests_to("/Calls.json")
    assert request.form["Url"] == [f"{PUBLIC}/twilio/voice"] and request.form["StatusCallbackEvent"] == ["completed"]


def test_wrong_credentials_are_a_permanent_error(fake_twilio: TwilioServer) -> None:
    client = TwilioClient(ACCOUNT_SID, "wrong", api_base=fake_twilio.url, http=HttpClient(backoff=0.001))
    with pytest.raises(PermanentError) as raised:
        client.send_sms(to=CALLER, from_=SHOP, body="hi")
    assert raised.value.status == 401 and twilio_error_code(raised.value) == 20003
    assert len(fake_twilio.state.received) == 1  # not retried


def test_an_invalid_number_is_a_permanent_error_that_does_not_quote_it(twilio: TwilioClient) -> None:
    with pytest.raises(PermanentError) as raised:
        twilio.send_sms(to="555", from_=SHOP, body="hi")
    assert twilio_error_code(raised.value) == 21211 and "555" not in str(raised.value)


def test_a_server_error_is_retried_then_retryable(twilio: TwilioClient, fake_twilio: TwilioServer) -> None:
    fake_twilio.state.fail_next(500, times=3)
    with pytest.raises(RetryableError) as raised:
        twilio.send_sms(to=CALLER, from_=SHOP, body="hi")
    assert raised.value.status == 500
    assert len(fake_twilio.state.received) == 3  # the wrapper's two retries
    assert fake_twilio.state.messages == []


def test_a_busy_twilio_is_retried_until_it_answers(twilio: TwilioClient, fake_twilio: TwilioServer) -> None:
    fake_twilio.state.fail_next(429, times=2)
    assert twilio.send_sms(to=CALLER, from_=SHOP, body="hi").sid.startswith("SM")
    assert len(fake_twilio.state.received) == 3


def test_an_unreachable_twilio_is_retryable() -> None:
    client = TwilioClient(ACCOUNT_SID, AUTH_TOKEN, api_base="http://127.0.0.1:9", http=HttpClient(backoff=0.001))
    with pytest.raises(RetryableError):
        client.send_sms(to=CALLER, from_=SHOP, body="hi")


def test_a_merchant_with_its_own_account_sends_through_it(
    sera: Sera, personas: Personas, fake_twilio: TwilioServer
) -> None:
    own_sid, own_token = new_sid("AC"), "own-" + AUTH_TOKEN
    fake_twilio.add_account(own_sid, own_token)
    set_provider_account(sera, personas.southside_id, "twilio", account_id=own_sid, secret=own_token, actor="test")
    southside = client_for(sera, personas.southside_id)
    northside = client_for(sera, personas.northside_id)
    assert southside is not None and northside is not None
    southside.send_sms(to=CALLER, from_="+12125550100", body="hi")
    northside.send_sms(to=CALLER, from_=SHOP, body="hi")
    assert [m["account_sid"] for m in fake_twilio.state.messages] == [own_sid, ACCOUNT_SID]


def test_without_credentials_there_is_no_client(sera: Sera, personas: Personas) -> None:
    sera.settings.twilio_account_sid = None
    assert client_for(sera, personas.northside_id) is None
