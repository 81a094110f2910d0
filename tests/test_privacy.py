"""The privacy engine: erasure by crypto-shredding, access exports, corrections, objections,
retention per data class, and the 48-hour queue."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, insert, select, text

from sera import audit, cli
from sera.bootstrap import Sera
from sera.calls.service import TranscriptLine, save_transcript, start_call
from sera.crypto.envelope import DecryptionError
from sera.customers.service import find_customer, get_customer, is_do_not_contact
from sera.privacy.erasure import redact_customer
from sera.privacy.retention import run_retention, sweep_merchant
from sera.storage.models import AuditEntry, Base, Call, Customer, Order, Transcript
from tests.conftest import FakeClock, Personas
from tests.seed import CALLER_NAME, CALLER_PHONE, TRANSCRIPT_PHRASE, seed_activity


@pytest.fixture
def client(sera: Sera) -> Iterator[TestClient]:
    from sera.web.app import create_app

    with TestClient(create_app(sera)) as test_client:
        yield test_client


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _backup(sera: Sera) -> dict[str, list[dict[str, Any]]]:
    """A database backup: every row of every table, as the database holds them."""
    with sera.db.engine.connect() as conn:
        return {t.name: [dict(r._mapping) for r in conn.execute(select(t))] for t in Base.metadata.sorted_tables}


def _restore(sera: Sera, backup: dict[str, list[dict[str, Any]]]) -> None:
    """Put the old copy back, table by table."""
    tables = Base.metadata.sorted_tables
    with sera.db.engine.begin() as conn:
        for table in reversed(tables):
            conn.execute(delete(table))
        for table in tables:
            if backup[table.name]:
                conn.execute(insert(table), backup[table.name])


def test_crypto_shredding_reaches_old_backups(sera: Sera, personas: Personas) -> None:
    seeded = seed_activity(sera, personas.northside_id)
    backup = _backup(sera)
    redact_customer(sera, personas.northside_id, seeded.customer_id, actor="test")
    _restore(sera, backup)  # an attacker (or an operator) restores yesterday's backup
    sera.keystore._cache.clear()  # a fresh process: nothing remembered
    with sera.uow(personas.northside_id, readonly=True) as uow:
        victim = uow.session.execute(select(Customer).where(Customer.id == seeded.customer_id)).scalar_one()
        with pytest.raises(DecryptionError):
            sera.vault.open(victim, "name")
        transcript = uow.session.execute(
            select(Transcript).where(Transcript.customer_id == seeded.customer_id)
        ).scalar_one()
        with pytest.raises(DecryptionError):
            sera.vault.open(transcript, "content")
        priya = find_customer(uow, phone="+13125550142")  # everyone else's data still opens
        assert priya is not None
        assert get_customer(uow, priya.id).name == "Priya Shah"


def test_erasure_leaves_no_personal_data_but_keeps_counts(sera: Sera, personas: Personas) -> None:
    seeded = seed_activity(sera, personas.northside_id)
    with sera.uow(personas.northside_id) as uow:
        from sera.customers.service import add_do_not_contact

        add_do_not_contact(uow, CALLER_PHONE, source="test", now=sera.clock())
        uow.commit()
    result = redact_customer(sera, personas.northside_id, seeded.customer_id, actor="test")
    assert result.found
    assert result.deleted["customers"] == 1 and result.deleted["transcripts"] == 1
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert find_customer(uow, phone=CALLER_PHONE) is None
        call = uow.session.execute(select(Call).where(Call.id == seeded.call_id)).scalar_one()
        assert call.customer_id is None and call.from_number is None and call.outcome == "ticket"
        assert is_do_not_contact(uow, CALLER_PHONE)  # the objection outlives erasure
        entry = uow.session.execute(select(AuditEntry).where(AuditEntry.action == "customer.erased")).scalar_one()
    assert entry.target_id == seeded.customer_id
    assert CALLER_NAME not in repr(entry.details)


def test_erasing_an_unknown_customer_is_an_audited_no_op(sera: Sera, personas: Personas) -> None:
    result = redact_customer(sera, personas.northside_id, "cus_nobody", actor="test")
    assert not result.found
    with sera.uow(readonly=True) as uow:
        entry = uow.session.execute(select(AuditEntry).where(AuditEntry.action == "customer.erased")).scalar_one()
    assert entry.details["found"] is False


def test_access_request_through_the_api(client: TestClient, sera: Sera, personas: Personas) -> None:
    seed_activity(sera, personas.northside_id)
    created = client.post(
        "/api/v1/privacy-requests", json={"type": "access", "phone": CALLER_PHONE}, headers=_auth(personas.owner_key)
    )
    assert created.status_code == 201
    request = created.json()
    assert request["status"] == "pending"
    done = client.post(f"/api/v1/privacy-requests/{request['id']}/complete", headers=_auth(personas.owner_key))
    assert done.json()["result"] == "export ready"
    export = client.get(f"/api/v1/privacy-requests/{request['id']}/export", headers=_auth(personas.owner_key)).json()
    assert export["customer"]["name"] == CALLER_NAME
    assert TRANSCRIPT_PHRASE in export["calls"][0]["transcript"][1]["text"]
    assert export["tickets"][0]["subject"] == "Repair question"
    assert {r["type"] for r in export["privacy_requests"]} == {"access"}
    with sera.uow(readonly=True) as uow:
        actions = set(uow.session.execute(select(AuditEntry.action)).scalars())
    assert {"privacy_request.completed", "privacy_request.export_downloaded"} <= actions


def test_teammates_and_outsiders_cannot_act(client: TestClient, sera: Sera, personas: Personas) -> None:
    seeded = seed_activity(sera, personas.northside_id)
    body = {"type": "erasure", "customer_id": seeded.customer_id}
    assert client.post("/api/v1/privacy-requests", json=body, headers=_auth(personas.teammate_key)).status_code == 403
    assert client.post("/api/v1/privacy-requests", json=body, headers=_auth(personas.outsider_key)).status_code == 404
    outsider_complete = client.post(
        f"/api/v1/privacy-requests/{seeded.privacy_request_id}/complete", headers=_auth(personas.outsider_key)
    )
    assert outsider_complete.status_code == 404
    assert (
        client.delete(f"/api/v1/customers/{seeded.customer_id}", headers=_auth(personas.outsider_key)).status_code
        == 404
    )
    assert (
        client.patch(
            f"/api/v1/customers/{seeded.customer_id}", json={"name": "X"}, headers=_auth(personas.outsider_key)
        ).status_code
        == 404
    )


def test_correction_and_deletion_through_the_api(client: TestClient, sera: Sera, personas: Personas) -> None:
    seeded = seed_activity(sera, personas.northside_id)
    fixed = client.patch(
        f"/api/v1/customers/{seeded.customer_id}", json={"name": "Bart Quigley"}, headers=_auth(personas.owner_key)
    )
    assert fixed.json()["name"] == "Bart Quigley" and fixed.json()["phone"] == CALLER_PHONE
    bad = client.patch(
        f"/api/v1/customers/{seeded.customer_id}", json={"phone": "12"}, headers=_auth(personas.owner_key)
    )
    assert bad.status_code == 422
    assert (
        client.delete(f"/api/v1/customers/{seeded.customer_id}", headers=_auth(personas.owner_key)).status_code == 204
    )
    assert client.get(f"/api/v1/customers/{seeded.customer_id}", headers=_auth(personas.owner_key)).status_code == 404
    requests = client.get("/api/v1/privacy-requests", headers=_auth(personas.owner_key)).json()["data"]
    assert {(r["type"], r["status"]) for r in requests} >= {("erasure", "completed")}


def test_objection_puts_the_number_on_do_not_contact(client: TestClient, sera: Sera, personas: Personas) -> None:
    seeded = seed_activity(sera, personas.northside_id)
    created = client.post(
        "/api/v1/privacy-requests",
        json={"type": "objection", "customer_id": seeded.customer_id},
        headers=_auth(personas.owner_key),
    ).json()
    client.post(f"/api/v1/privacy-requests/{created['id']}/complete", headers=_auth(personas.owner_key))
    customer = client.get(f"/api/v1/customers/{seeded.customer_id}", headers=_auth(personas.owner_key)).json()
    assert customer["do_not_contact"] is True


def test_overdue_requests_raise_the_metric(
    sera: Sera, personas: Personas, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sera.observability import PRIVACY_OVERDUE

    seed_activity(sera, personas.northside_id)
    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: sera)
    assert CliRunner().invoke(cli.main, ["privacy", "overdue"]).exit_code == 0
    clock.advance(hours=49)
    result = CliRunner().invoke(cli.main, ["privacy", "overdue"])
    assert result.exit_code == 1 and "OVERDUE" in result.output and "access" in result.output
    assert PRIVACY_OVERDUE._value.get() == 1


def _call_at(sera: Sera, merchant_id: str, when_days_ago: int, text_line: str) -> str:
    now = sera.clock()
    with sera.uow(merchant_id) as uow:
        call = start_call(
            uow,
            channel="voice",
            direction="inbound",
            provider="local",
            from_number=None,
            to_number=None,
            started_at=now - timedelta(days=when_days_ago),
        )
        transcript = save_transcript(uow, call, [TranscriptLine("caller", text_line)])
        transcript.created_at = call.started_at
        uow.commit()
        return call.id


def test_retention_deletes_exactly_what_expired(
    sera: Sera, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = _call_at(sera, personas.northside_id, 300, "recent")
    transcript_gone = _call_at(sera, personas.northside_id, 400, "old call, log kept a year? no: 400 days")
    outsider = _call_at(sera, personas.southside_id, 400, "other shop, default 365 days")
    # Northside keeps call logs 500 days but transcripts only 350
    with sera.uow(personas.northside_id) as uow:
        from sera.storage.models import Merchant

        merchant = uow.session.execute(select(Merchant).where(Merchant.id == personas.northside_id)).scalar_one()
        merchant.settings = {**merchant.settings, "retention": {"call_logs": 500, "recordings_transcripts": 350}}
        uow.commit()
    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: sera)
    dry = CliRunner().invoke(cli.main, ["retention", "run", "--dry-run"])
    assert "would delete" in dry.output
    with sera.uow(readonly=True) as uow:
        assert uow.session.execute(select(func.count()).select_from(Transcript)).scalar_one() == 3
    reports = {r.merchant_id: r for r in run_retention(sera, sera.clock(), batch=1)}
    assert reports[personas.northside_id].deleted["transcripts"] == 1
    assert reports[personas.northside_id].deleted["calls"] == 0
    assert reports[personas.southside_id].deleted["calls"] == 1
    with sera.uow(readonly=True) as uow:
        calls = set(uow.session.execute(select(Call.id)).scalars())
        transcripts = set(uow.session.execute(select(Transcript.call_id)).scalars())
        entries = uow.session.execute(select(AuditEntry).where(AuditEntry.action == "retention.swept")).scalars().all()
    assert {kept, transcript_gone} <= calls and outsider not in calls
    assert transcripts == {kept}
    assert len(entries) == 2


def test_retention_sweeps_batch_after_batch_and_only_the_shops_own_rows(sera: Sera, personas: Personas) -> None:
    old = [_call_at(sera, personas.northside_id, 800, f"old call {i}") for i in range(7)]
    recent = [_call_at(sera, personas.northside_id, 10, f"recent call {i}") for i in range(2)]
    outsider = [_call_at(sera, personas.southside_id, 800, "other shop, not swept here") for _ in range(3)]
    with sera.uow(personas.northside_id) as uow:
        from sera.storage.models import Merchant

        merchant = uow.session.execute(select(Merchant).where(Merchant.id == personas.northside_id)).scalar_one()
        merchant.settings = {**merchant.settings, "retention": {"call_logs": 1000}}  # logs outlive transcripts
        for call in uow.session.execute(select(Call).where(Call.id.in_(old + recent))).scalars():
            uow.vault.seal(call, recording_url=f"https://recordings.example/{call.id}")
        uow.commit()
    for other in outsider:
        with sera.uow(personas.southside_id) as uow:
            call = uow.session.execute(select(Call).where(Call.id == other)).scalar_one()
            uow.vault.seal(call, recording_url="https://recordings.example/other")
            uow.commit()

    counted = sweep_merchant(sera, personas.northside_id, sera.clock(), dry_run=True)
    swept = sweep_merchant(sera, personas.northside_id, sera.clock(), batch=3)

    expected = {"recordings": 7, "transcripts": 7, "calls": 0}
    assert {name: counted.deleted[name] for name in expected} == expected
    assert {name: swept.deleted[name] for name in expected} == expected
    with sera.uow(readonly=True) as uow:
        transcribed = set(uow.session.execute(select(Transcript.call_id)).scalars())
        recorded = set(uow.session.execute(select(Call.id).where(Call.recording_url.is_not(None))).scalars())
        calls = set(uow.session.execute(select(Call.id)).scalars())
    assert transcribed == set(recent + outsider)
    assert recorded == set(recent + outsider)
    assert calls == set(old + recent + outsider)


def test_old_audit_entries_are_pruned_and_the_chain_still_verifies(sera: Sera, clock: FakeClock) -> None:
    start = clock.now
    with sera.uow() as uow:
        for i in range(5):
            audit.record(
                uow.session, merchant_id=None, actor="test", action=f"old.{i}", at=start - timedelta(days=800 - i)
            )
        audit.record(uow.session, merchant_id=None, actor="test", action="recent", at=start - timedelta(days=10))
        uow.commit()
    with sera.uow() as uow:
        pruned = [audit.prune(uow.session, audit.SYSTEM_CHAIN, start - timedelta(days=730), batch=2) for _ in range(4)]
        uow.commit()
    assert pruned == [2, 2, 1, 0]
    with sera.uow(readonly=True) as uow:
        actions = list(uow.session.execute(select(AuditEntry.action)).scalars())
        assert actions == ["recent"]
        result = audit.verify_chain(uow.session, audit.SYSTEM_CHAIN)
        assert result.ok, result.problem
        # tampering with what is left is still caught
        uow.session.execute(text("UPDATE audit_entries SET actor = 'x'"))
        assert not audit.verify_chain(uow.session, audit.SYSTEM_CHAIN).ok


def test_nothing_points_at_an_erased_customer(sera: Sera, personas: Personas) -> None:
    seeded = seed_activity(sera, personas.northside_id)
    redact_customer(sera, personas.northside_id, seeded.customer_id, actor="test")
    leftovers = {
        table: rows
        for table, rows in _backup(sera).items()
        if table != "audit_entries" and any(seeded.customer_id in repr(row) for row in rows)
    }
    assert leftovers == {}
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert uow.session.execute(select(func.count()).select_from(Order)).scalar_one() == 5


def test_deleting_a_shop_removes_everything_but_the_other_shops(sera: Sera, personas: Personas) -> None:
    from sera.privacy.erasure import delete_shop
    from sera.storage.models import Merchant

    seed_activity(sera, personas.northside_id)
    seed_activity(sera, personas.southside_id)
    result = delete_shop(sera, personas.northside_id, actor="test")
    assert result.deleted["merchants"] == 1 and result.deleted["calls"] == 1
    leftovers = {
        table: len(rows)
        for table, rows in _backup(sera).items()
        if table not in ("audit_entries", "audit_heads") and any(personas.northside_id in repr(r) for r in rows)
    }
    assert leftovers == {}
    with sera.uow(personas.southside_id, readonly=True) as uow:
        assert uow.session.execute(select(func.count()).select_from(Call)).scalar_one() == 1
        assert find_customer(uow, phone="+12125550177") is not None
    with sera.uow(readonly=True) as uow:
        assert uow.session.execute(select(Merchant.id)).scalars().all() == [personas.southside_id]
        entry = uow.session.execute(select(AuditEntry).where(AuditEntry.action == "shop.deleted")).scalar_one()
    assert entry.chain == "system" and entry.target_id == personas.northside_id
    with pytest.raises(DecryptionError):
        sera.keystore.merchant_key(personas.northside_id)
