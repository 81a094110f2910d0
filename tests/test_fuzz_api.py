"""The whole HTTP surface under schemathesis, run as an outside client would run it: the
`st` command against the served OpenAPI document, every operation, every phase (the
document's examples, boundary values, generated valid and invalid requests, then stateful
sequences that follow the document's links and the ones schemathesis infers, so that ids
reach real records), once with each persona's key.

Checks: no server error; only documented status codes, content types and bodies; a request
the document calls invalid is refused; a method a path does not have is a 405 naming the
ones it has.

The quick profile runs in `make test`; `SERA_FUZZ=deep` (`.ci/run`) runs more examples.
Routes that are not in the document are listed in FUZZED_ELSEWHERE with the test that
fuzzes each, and a test fails on any route in neither.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi import routing
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from sera.booking.service import book_appointment
from sera.bootstrap import Sera
from sera.customers.service import record_objection
from tests.conftest import ROOT, Personas
from tests.fakes.hubspot_server import FakeHubspot
from tests.seed import seed_activity

DEEP = os.environ.get("SERA_FUZZ") == "deep"
MAX_EXAMPLES = 64 if DEEP else 12
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "unsupported_method",
    "allow_header_conformance",
]  # not positive_data_acceptance: a number phonenumbers rejects, an id no record has, a cursor this API did
# not return are valid to the schema and still refused (422, 404): no JSON Schema can say which are real

# Routes outside the OpenAPI document, and the test that fuzzes each.
TWILIO = "tests/adapters/twilio/test_properties.py::"
SHOPIFY = "tests/adapters/shopify/test_properties.py::"
PAGES = "tests/test_home.py::test_pages_and_static_files_answer_any_url_without_a_server_error"
DASHBOARD_FUZZ = "tests/dashboard/test_fuzz.py"
FUZZED_ELSEWHERE = {
    "/openapi.json": PAGES,
    "/": PAGES,
    "/docs": PAGES,
    "/redoc": PAGES,
    "/static": PAGES,
    **dict.fromkeys(
        [
            "/twilio/voice",
            "/twilio/voice/turn",
            "/twilio/voice/no-input",
            "/twilio/voice/dial-end",
            "/twilio/voice/relay-end",
            "/twilio/voice/whisper",
            "/twilio/voice/message",
            "/twilio/voice/outbound",
            "/twilio/voice/amd",
            "/twilio/voice/status",
            "/twilio/voice/recording",
            "/twilio/sms",
            "/twilio/sms/status",
        ],
        TWILIO + "test_signed_odd_fields_never_break_an_endpoint",
    ),
    "/twilio/bare": TWILIO + "test_random_bytes_are_refused_without_a_trace",
    "/twilio/relay/{shop}": "tests/adapters/twilio/test_relay.py::test_any_frames_leave_the_records_whole",
    "/vapi/webhook": "tests/adapters/vapi/test_bad_input.py::test_any_mutation_of_a_real_message_is_answered_without_a_server_error",
    "/vapi/chat/completions": "tests/adapters/vapi/test_model.py::test_any_mutation_of_a_request_is_answered_without_a_server_error",
    **dict.fromkeys(
        ["/shopify/install", "/shopify/callback", "/shopify/app", "/shopify/app/session"],
        SHOPIFY + "test_the_app_routes_never_fail",
    ),
    "/shopify/webhooks": SHOPIFY + "test_the_webhook_endpoint_never_fails",
}


def _seed(sera: Sera, merchant_id: str) -> None:
    """One record of every kind, so that the document's links lead somewhere."""
    seeded = seed_activity(sera, merchant_id)
    with sera.uow(merchant_id) as uow:
        start = datetime(2026, 12, 1, 11, tzinfo=ZoneInfo("America/Chicago"))
        book_appointment(uow, service_name="Tune-up", start=start, customer_id=seeded.customer_id, now=sera.clock())
        record_objection(uow, "+13125550188", source="api", reason=None, actor="test", now=sera.clock())
        uow.commit()


def _requests_served() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "sera_http_requests"
        for sample in metric.samples
        if sample.name == "sera_http_requests_total"
    )


@pytest.mark.slow
@pytest.mark.parametrize("persona", ["owner", "teammate"])
def test_schemathesis_finds_nothing(
    persona: str, server: str, sera: Sera, personas: Personas, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(sera, personas.northside_id)
    hubspot = FakeHubspot().start()  # connecting checks the token with HubSpot: a fake that refuses it
    monkeypatch.setattr(sera.settings, "hubspot_api_url", hubspot.base_url)
    key = personas.owner_key if persona == "owner" else personas.teammate_key
    command = [
        str(Path(sys.executable).parent / "st"),
        "run",
        f"{server}/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",  # Python 3.11's compiler is not thread-safe: schemathesis' own workers crash at random (seen here)
        "--seed",
        os.environ.get("SERA_FUZZ_SEED", str(int(time.time()) // 86400)),  # one seed a day: repeatable
        "--report-dir",
        str(tmp_path),
    ]
    before, started = _requests_served(), time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, timeout=280, cwd=tmp_path, check=False)
    served, elapsed = _requests_served() - before, time.monotonic() - started
    links = re.search(r"API Links:\s+(.+)", run.stdout)
    summary = f"schemathesis as the {persona}: {served:.0f} requests in {elapsed:.0f} s; links {links and links[1]}"
    print(summary)
    hubspot.stop()
    assert run.returncode == 0, f"{summary}\n{run.stdout[-30000:]}\n{run.stderr[-5000:]}"
    assert "Stateful" in run.stdout  # the phase that reaches real records ran
    if DEEP:
        assert served >= 2500, summary


def test_every_route_is_fuzzed(sera: Sera) -> None:
    """Each route is in the document (fuzzed above) or listed with a test that fuzzes it."""
    from sera.web.app import create_app

    app = create_app(sera)
    documented = {re.sub(r"\{[^}]+\}", "{}", path) for path in TestClient(app).get("/openapi.json").json()["paths"]}
    for context in routing.iter_route_contexts(app.routes):
        if re.sub(r"\{[^}]+\}", "{}", context.path) in documented:
            continue
        if context.path.startswith("/dashboard/"):  # every dashboard route, walked from the app
            assert "def test_every_dashboard_route_survives_any_input(" in (ROOT / DASHBOARD_FUZZ).read_text()
            continue
        assert context.path in FUZZED_ELSEWHERE, f"{context.path} is neither in the OpenAPI document nor fuzzed"
        file, test = FUZZED_ELSEWHERE[context.path].split("::")
        assert f"def {test}(" in (ROOT / file).read_text(), FUZZED_ELSEWHERE[context.path]
