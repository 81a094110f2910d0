"""No personal data and no secret ever reaches a log line."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from sera import cli
from sera.bootstrap import Sera
from sera.observability import RedactingFilter, configure_logging, redact, register_secret
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


@pytest.mark.parametrize(
    "line",
    [
        "Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)",
        "Started server process [12345]",
        "Huey consumer started with 2 thread, PID 23249 at 2026-12-02 04:41:12.971859",
        "job job_01923456789012ab3f4c5d6e7f8a9b0c queued",
        "at 2026-11-27T16:00:00.123+00:00 in 1764259200123 ms",
        "postgresql+psycopg://sera@10.0.0.12:5432/sera ready",
        "Executing sera.jobs.outbound.dispatch: 47711227-8fc3-49f7-9596-9e8d9ca0f92e",
        "GET /api/v1/customers?limit=100 status=200 ms=226.27",
        "order 5623418519745 of Shopify, API version 2025-10, metric sera_http_requests_total",
    ],
)
def test_the_filter_leaves_lines_without_personal_data_intact(line: str) -> None:
    assert redact(line) == line


@pytest.mark.parametrize(
    ("line", "personal"),
    [
        ("caller +1 312 555 0142 rang", "555 0142"),
        ("caller (312) 555-0142 rang", "555-0142"),
        ("caller 3125550142 rang", "3125550142"),
        ("from +44 20 7946 0018 via SMS", "7946 0018"),
        ("reply to priya@example.com please", "priya@example.com"),
        ("card 4111 1111 1111 1111 declined", "4111 1111"),
    ],
)
def test_the_filter_masks_phone_numbers_emails_and_cards(line: str, personal: str) -> None:
    masked = redact(line)
    assert personal not in masked
    assert "[redacted]" in masked
    assert masked.split()[0] == line.split()[0]  # the rest of the line stays


def test_the_filter_masks_registered_secrets(captured: io.StringIO) -> None:
    register_secret("tok-7f3a9c2e5b1d")
    logging.getLogger("sera.test").info("connected", extra={"token": "tok-7f3a9c2e5b1d", "port": 8000})
    entry = json.loads(captured.getvalue())
    assert (entry["token"], entry["port"]) == ("[secret]", 8000)


def test_text_logs_show_time_level_logger_message_and_fields() -> None:
    configure_logging("INFO", "text")
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream := io.StringIO())
    try:
        logging.getLogger("sera.http").info(
            "request",
            extra={"method": "GET", "route": "/api/v1/customers", "note": "two words", "phone": "+13125550142"},
        )
    finally:
        logging.getLogger().handlers.clear()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO    sera\.http: request "
        r'method=GET route=/api/v1/customers note="two words" phone=\[redacted\]\n',
        stream.getvalue(),
    ), stream.getvalue()
