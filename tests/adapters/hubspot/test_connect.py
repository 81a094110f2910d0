"""Connecting a shop's HubSpot account: the token is checked with HubSpot, kept sealed, never
shown again; HubSpot's refusal is a 400 with its reason; only the shop's admins manage it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from sera import cli
from sera.bootstrap import Sera
from sera.storage.models import AuditEntry, HubspotConnection
from tests.conftest import NORTHSIDE, Personas
from tests.fakes.hubspot_server import FakeHubspot


def test_a_good_token_connects_the_account_and_is_kept_sealed(
    api: TestClient, sera: Sera, personas: Personas, fake_hubspot: FakeHubspot
) -> None:
    answer = api.put("/api/v1/integrations/hubspot", json={"token": fake_hubspot.token})

    assert answer.status_code == 200, answer.text
    assert answer.json()["connected"] is True and answer.json()["portal_id"] == "62515"
    check = fake_hubspot.requests[-1]
    assert (check.method, check.path) == ("GET", "/account-info/v3/details")
    assert check.headers["Authorization"] == f"Bearer {fake_hubspot.token}"
    status = api.get("/api/v1/integrations/hubspot")
    assert status.json()["status"] == "connected" and fake_hubspot.token not in status.text
    with sera.uow(personas.northside_id, readonly=True) as uow:
        row = uow.session.execute(select(HubspotConnection)).scalar_one()
        assert fake_hubspot.token.encode() not in row.token  # sealed
        actions = uow.session.execute(select(AuditEntry.action)).scalars().all()
    assert "hubspot.connected" in actions


def test_a_token_hubspot_refuses_is_a_400_with_its_reason(api: TestClient, fake_hubspot: FakeHubspot) -> None:
    answer = api.put("/api/v1/integrations/hubspot", json={"token": "pat-na1-revoked"})

    assert answer.status_code == 400
    assert "HubSpot refused the token" in answer.json()["detail"]
    assert "Authentication credentials not found" in answer.json()["detail"]  # HubSpot's own words
    assert api.get("/api/v1/integrations/hubspot").json()["status"] == "not_connected"


def test_hubspot_unreachable_when_connecting_is_a_503(api: TestClient, fake_hubspot: FakeHubspot) -> None:
    fake_hubspot.rate_limit(1, retry_after=10)

    answer = api.put("/api/v1/integrations/hubspot", json={"token": fake_hubspot.token})

    assert answer.status_code == 503 and "try again" in answer.json()["detail"]


def test_only_the_shops_admins_manage_it(
    sera: Sera, api: TestClient, personas: Personas, fake_hubspot: FakeHubspot
) -> None:
    assert api.put("/api/v1/integrations/hubspot", json={"token": fake_hubspot.token}).status_code == 200
    for key in (personas.teammate_key, personas.outsider_key):
        headers = {"Authorization": f"Bearer {key}"}
        assert api.delete("/api/v1/integrations/hubspot", headers=headers).status_code in (403, 404)
    viewer = {"Authorization": f"Bearer {personas.teammate_key}"}
    assert api.get("/api/v1/integrations/hubspot", headers=viewer).status_code == 403
    outsider = {"Authorization": f"Bearer {personas.outsider_key}"}
    assert api.get("/api/v1/integrations/hubspot", headers=outsider).json()["status"] == "not_connected"
    assert api.get("/api/v1/integrations/hubspot").json()["status"] == "connected"


def test_disconnecting_forgets_the_token(api: TestClient, sera: Sera, fake_hubspot: FakeHubspot) -> None:
    api.put("/api/v1/integrations/hubspot", json={"token": fake_hubspot.token})

    assert api.delete("/api/v1/integrations/hubspot").status_code == 204
    assert api.get("/api/v1/integrations/hubspot").json()["connected"] is False
    assert api.delete("/api/v1/integrations/hubspot").status_code == 404
    with sera.uow(readonly=True) as uow:
        assert uow.session.execute(select(HubspotConnection)).first() is None


def test_the_command_line_connects_from_stdin_and_shows_the_status(
    sera: Sera, personas: Personas, fake_hubspot: FakeHubspot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_sera", lambda *a, **k: sera)
    runner = CliRunner()

    refused = runner.invoke(cli.main, ["hubspot", "connect", "--shop", NORTHSIDE, "--token-stdin"],
                            input="pat-na1-wrong\n")  # fmt: skip
    assert refused.exit_code == 1 and "HubSpot refused the token" in refused.output
    done = runner.invoke(cli.main, ["hubspot", "connect", "--shop", NORTHSIDE, "--token-stdin"],
                         input=fake_hubspot.token + "\n")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "connected to HubSpot account 62515" in done.output and fake_hubspot.token not in done.output
    shown = runner.invoke(cli.main, ["hubspot", "status", "--shop", NORTHSIDE])
    assert "HubSpot account 62515: connected" in shown.output and "pending:    0" in shown.output


def test_bad_input_is_refused_before_hubspot_is_asked(api: TestClient, fake_hubspot: FakeHubspot) -> None:
    url = "/api/v1/integrations/hubspot"
    for body in ({}, {"token": 5}, {"token": ""}, {"token": "x" * 501}, {"token": "pat", "scopes": []}):
        assert api.put(url, json=body).status_code == 422, body
    for token in ("pat na1", "pat-ñ", "pat\x00", "   "):
        answer = api.put(url, json={"token": token})
        assert answer.status_code == 400 and "one word" in answer.json()["detail"], token
    assert api.put(url, content=b"{not json", headers={"Content-Type": "application/json"}).status_code in (400, 422)
    assert fake_hubspot.requests == []
