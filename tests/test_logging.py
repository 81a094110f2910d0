"""No personal data and no secret ever reaches a log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from sera import cli
from sera.bootstrap import Sera
from sera.observability import RedactingFilter, configure_logging, redact
from tests.conftest import NORTHSIDE, Personas
from tests.seed import CALLER_EMAIL, CALLER_NAME, CALLER_PHONE, TRANSCRIPT_PHRASE, seed_activity


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", "json")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    logging.getLogger().handlers.clear()


def test_every_path_logs_without_personal_data(
    sera: Sera, personas: Personas, captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sera.web.app import create_app

    seeded = seed_activity(sera, personas.northside_id)
    auth = {"Authorization": f"Bearer {personas.owner_key}"}
    with TestClient(create_app(sera), raise_server_exceptions=False) as client:
        for path in ["customers", "calls", "tickets", "appointments", "privacy-requests"]:
            client.get(f"/api/v1/{path}", headers=auth)
            client.get(f"/api/v1/{path}?since=2026-01-01T00:00:00%2B00:00&cursor=junk", headers=auth)
        client.get(f"/api/v1/calls/{seeded.call_id}", headers=auth)
        client.get(f"/api/v1/customers/{seeded.customer_id}", headers=auth)
        client.get(f"/api/v1/customers?phone={CALLER_PHONE}&q={CALLER_EMAIL}", headers=auth)
        client.get("/api/v1/customers", headers={"Authorization": f"Bearer {personas.owner_key}x"})
        client.get("/api/v1/customers", headers={"X-Request-ID": CALLER_EMAIL})
    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: sera)
    runner = CliRunner()
    runner.invoke(cli.main, ["shop", "export", NORTHSIDE])
    runner.invoke(cli.main, ["audit", "verify"])

    logs = captured.getvalue()
    assert '"event": "request"' in logs and "api key rejected" in logs  # the paths did log
    secrets = [
        CALLER_NAME,
        CALLER_PHONE,
        "3125550177",
        CALLER_EMAIL,
        TRANSCRIPT_PHRASE,
        "Priya",
        personas.owner_key,
    ]
    assert sera.settings.master_key is not None
    secrets.append(sera.settings.master_key.get_secret_value())
    for secret in secrets:
        assert secret not in logs, f"{secret!r} reached the logs"


def test_the_filter_masks_what_slips_through(captured: io.StringIO) -> None:
    log = logging.getLogger("sera.test")
    log.warning("caller %s at %s", "priya.shah@example.com", "+1 (312) 555-0142")
    log.warning("key sera_abcdef123456_s3cr3tvalue and Bearer abc.def.ghi")
    try:
        raise ValueError("Priya Shah's card 4111 1111 1111 1111")
    except ValueError:
        log.exception("failed")
    logs = captured.getvalue()
    for leaked in ["priya.shah", "555-0142", "s3cr3tvalue", "abc.def.ghi", "Priya Shah", "4111"]:
        assert leaked not in logs
    assert "ValueError (message withheld)" in logs


def test_redact_keeps_ids_and_numbers_that_are_not_personal() -> None:
    assert redact("call call_0a1b2c3d took 182 ms") == "call call_0a1b2c3d took 182 ms"
    assert isinstance(RedactingFilter(), logging.Filter)
