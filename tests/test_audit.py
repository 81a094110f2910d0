"""The audit log is hash-chained: any change, deletion or reordering is named by `sera audit verify`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from sera import audit, cli
from sera.bootstrap import Sera
from sera.storage.models import AuditEntry
from tests.conftest import Personas


def _write_entries(sera: Sera, merchant_id: str, count: int) -> None:
    with sera.uow(merchant_id) as uow:
        for i in range(count):
            audit.record(uow.session, merchant_id=merchant_id, actor="test", action=f"test.step{i}")
        uow.commit()


def _verify(sera: Sera, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: sera)
    result = CliRunner().invoke(cli.main, ["audit", "verify"])
    return result.exit_code, result.output


def _entry(sera: Sera, merchant_id: str, action: str) -> AuditEntry:
    with sera.uow(readonly=True) as uow:
        return uow.session.execute(
            select(AuditEntry).where(AuditEntry.chain == merchant_id, AuditEntry.action == action)
        ).scalar_one()


def _tamper(sera: Sera, statement: object) -> None:
    with sera.uow() as uow:
        uow.session.execute(statement)  # type: ignore[call-overload]
        uow.commit()


def test_an_intact_log_verifies(sera: Sera, personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_entries(sera, personas.northside_id, 5)
    code, output = _verify(sera, monkeypatch)
    assert code == 0, output
    assert "BROKEN" not in output


def test_a_changed_entry_is_named(sera: Sera, personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_entries(sera, personas.northside_id, 5)
    target = _entry(sera, personas.northside_id, "test.step2")
    _tamper(sera, update(AuditEntry).where(AuditEntry.seq == target.seq).values(actor="someone-else"))
    code, output = _verify(sera, monkeypatch)
    assert code == 1
    assert f"entry #{target.position} (seq {target.seq}, test.step2) was changed" in output


def test_a_deleted_entry_is_named(sera: Sera, personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_entries(sera, personas.northside_id, 5)
    target = _entry(sera, personas.northside_id, "test.step1")
    _tamper(sera, delete(AuditEntry).where(AuditEntry.seq == target.seq))
    code, output = _verify(sera, monkeypatch)
    assert code == 1
    assert f"entry #{target.position} is missing (deleted)" in output


def test_deleting_the_newest_entries_is_detected(
    sera: Sera, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_entries(sera, personas.northside_id, 3)
    target = _entry(sera, personas.northside_id, "test.step2")
    _tamper(sera, delete(AuditEntry).where(AuditEntry.seq == target.seq))
    code, output = _verify(sera, monkeypatch)
    assert code == 1
    assert f"entries after #{target.position - 1} are missing" in output


def test_reordered_entries_are_detected(sera: Sera, personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_entries(sera, personas.northside_id, 4)
    one = _entry(sera, personas.northside_id, "test.step1")
    two = _entry(sera, personas.northside_id, "test.step2")
    _tamper(sera, update(AuditEntry).where(AuditEntry.seq == one.seq).values(position=-1))
    _tamper(sera, update(AuditEntry).where(AuditEntry.seq == two.seq).values(position=one.position))
    _tamper(sera, update(AuditEntry).where(AuditEntry.seq == one.seq).values(position=two.position))
    code, output = _verify(sera, monkeypatch)
    assert code == 1
    assert f"entry #{one.position} (seq {two.seq}, test.step2) does not follow the previous entry" in output


def test_entries_hold_no_personal_data(sera: Sera, personas: Personas) -> None:
    from tests.seed import CALLER_NAME, CALLER_PHONE, seed_activity

    seed_activity(sera, personas.northside_id)
    with sera.uow(readonly=True) as uow:
        rows = uow.session.execute(select(AuditEntry)).scalars().all()
    text = repr([(r.actor, r.action, r.target_type, r.target_id, r.details) for r in rows])
    assert "privacy_request.received" in text
    assert CALLER_NAME not in text and CALLER_PHONE not in text
