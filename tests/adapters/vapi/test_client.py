"""The outbound client against a local server that answers POST /call like Vapi's API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from sera.adapters.vapi.client import PermanentError, RetryableError, VapiClient
from sera.config import Settings
from tests.fakes.vapi_server import FakeVapi

PHONE_NUMBER_ID = "8d2b6c4e-1a3f-4b5c-9e7d-6f8a0b1c2d3e"
ASSISTANT_ID = "5b0a9f7e-2c4d-4e8b-a1f3-6d9c2e7b4a80"


@pytest.fixture
def fake() -> Iterator[FakeVapi]:
    server = FakeVapi().start()
    yield server
    server.stop()


@pytest.fixture
def client(fake: FakeVapi) -> Iterator[VapiClient]:
    settings = Settings(env="test", vapi_api_base=fake.base_url, vapi_api_key=SecretStr(fake.api_key))
    vapi = VapiClient(settings)
    yield vapi
    vapi.close()


def test_an_outbound_call_is_created(client: VapiClient, fake: FakeVapi) -> None:
    call = client.create_outbound_call(
        customer_number="(312) 555-0177", phone_number_id=PHONE_NUMBER_ID, assistant_id=ASSISTANT_ID
    )

    assert call.status == "queued" and call.phone_number_id == PHONE_NUMBER_ID
    assert len(call.id) == 36
    [request] = fake.requests
    assert request.path == "/call"
    assert request.headers["Authorization"] == f"Bearer {fake.api_key}"
    assert request.body == {
        "phoneNumberId": PHONE_NUMBER_ID,
        "customer": {"number": "+13125550177"},  # the number only: Vapi needs nothing else to dial
        "assistantId": ASSISTANT_ID,
    }


def test_a_transient_assistant_can_be_sent(client: VapiClient, fake: FakeVapi) -> None:
    assistant = {"firstMessage": "Hi, this is Sam from Northside Cycles.", "model": {"provider": "openai"}}

    client.create_outbound_call(
        customer_number="+13125550177", phone_number_id=PHONE_NUMBER_ID, assistant=assistant, name="Reminder"
    )

    assert fake.requests[0].body["assistant"] == assistant
    assert fake.requests[0].body["name"] == "Reminder"


def test_a_wrong_key_is_a_permanent_error(fake: FakeVapi) -> None:
    settings = Settings(env="test", vapi_api_base=fake.base_url, vapi_api_key=SecretStr("the-public-key"))

    with pytest.raises(PermanentError) as refused:
        VapiClient(settings).create_outbound_call(
            customer_number="+13125550177", phone_number_id=PHONE_NUMBER_ID, assistant_id=ASSISTANT_ID
        )

    assert refused.value.status == 401
    assert "Invalid Key" in str(refused.value)


def test_without_a_key_nothing_is_sent(fake: FakeVapi) -> None:
    settings = Settings(env="test", vapi_api_base=fake.base_url)

    with pytest.raises(PermanentError, match="SERA_VAPI_API_KEY"):
        VapiClient(settings).create_outbound_call(
            customer_number="+13125550177", phone_number_id=PHONE_NUMBER_ID, assistant_id=ASSISTANT_ID
        )

    assert fake.requests == []


def test_vapis_validation_errors_are_permanent_and_explained(client: VapiClient, fake: FakeVapi) -> None:
    with pytest.raises(PermanentError) as refused:
        client.create_outbound_call(
            customer_number="+13125550177", phone_number_id="main-line", assistant_id=ASSISTANT_ID
        )

    assert refused.value.status == 400
    assert "phoneNumberId must be a UUID" in str(refused.value)
    assert len(fake.requests) == 1


def test_a_long_name_is_trimmed_to_vapis_limit(client: VapiClient, fake: FakeVapi) -> None:
    client.create_outbound_call(
        customer_number="+13125550177", phone_number_id=PHONE_NUMBER_ID, assistant_id=ASSISTANT_ID, name="x" * 50
    )

    assert fake.requests[0].body["name"] == "x" * 40


def test_a_number_that_is_not_a_phone_number_is_not_sent(client: VapiClient, fake: FakeVapi) -> None:
    with pytest.raises(ValueError, match="phone number"):
        client.create_outbound_call(customer_number="call me", phone_number_id=PHONE_NUMBER_ID, assistant_id="a")

    assert fake.requests == []


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_busy_vapi_is_retryable_and_not_retried_by_the_client(
    client: VapiClient, fake: FakeVapi, status: int
) -> None:
    fake.fail_next(status)

    with pytest.raises(RetryableError) as busy:
        client.create_outbound_call(
            customer_number="+13125550177", phone_number_id=PHONE_NUMBER_ID, assistant_id=ASSISTANT_ID
        )

    assert busy.value.status == status
    assert len(fake.requests) == 1  # placing a call is not idempotent: the job decides whether to try again


def test_an_unreachable_vapi_is_retryable() -> None:
    server = FakeVapi().start()
    base = server.base_url
    server.stop()
    settings = Settings(env="test", vapi_api_base=base, vapi_api_key=SecretStr("k" * 16))

    with pytest.raises(RetryableError):
        VapiClient(settings).create_outbound_call(
            customer_number="+13125550177", phone_number_id=PHONE_NUMBER_ID, assistant_id=ASSISTANT_ID
        )
