"""`sera backup`: the data and the key store are backed up apart, and a restore never brings
back what was erased since (an old key-store backup is refused, erasures are applied again)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from sera import cli
from sera.bootstrap import Sera
from sera.customers.service import find_customer, find_or_create_customer
from sera.privacy.backups import BackupError, create_backup, read_manifest, restore_backup
from sera.privacy.erasure import redact_customer
from sera.storage.models import Customer
from tests.conftest import FakeClock, Personas

HARRIET, PRIYA = "+13125550170", "+13125550171"


def add_customer(sera: Sera, merchant_id: str, name: str, phone: str) -> str:
    with sera.uow(merchant_id) as uow:
        customer_id = find_or_create_customer(uow, name=name, phone=phone).id
        uow.commit()
    return customer_id


def name_of(sera: Sera, merchant_id: str, phone: str) -> str | None:
    with sera.uow(merchant_id, readonly=True) as uow:
        found = find_customer(uow, phone=phone)
        return None if found is None else uow.vault.open(found, "name")


def test_a_restore_brings_back_the_data_but_not_a_customer_erased_since(
    sera: Sera, personas: Personas, tmp_path: Path, clock: FakeClock
) -> None:
    shop = personas.northside_id
    harriet = add_customer(sera, shop, "Harriet Vane", HARRIET)
    add_customer(sera, shop, "Priya Shah", PRIYA)
    made = create_backup(sera, tmp_path / "backup")
    assert {m.part for m in made} == {"data", "keys"}
    assert {p.name for p in (tmp_path / "backup").iterdir()} >= {"data.json", "keys.json"}

    clock.advance(hours=2)
    redact_customer(sera, shop, harriet, actor="test")  # her key is destroyed after the backups
    add_customer(sera, shop, "Sam Lowe", "+13125550172")  # and someone new arrives

    restored = restore_backup(sera, tmp_path / "backup")
    assert restored.reapplied == 1
    assert name_of(sera, shop, PRIYA) == "Priya Shah"  # the data is back
    assert name_of(sera, shop, HARRIET) is None  # but not the erased customer, nor her key
    assert sera.keystore.customer_keys(shop, [harriet]) == {}
    with sera.uow(shop, readonly=True) as uow:
        assert uow.session.execute(select(Customer).where(Customer.id == harriet)).first() is None


def test_a_key_store_backup_older_than_the_erasure_window_is_refused(
    sera: Sera, personas: Personas, tmp_path: Path, clock: FakeClock
) -> None:
    create_backup(sera, tmp_path / "backup", ("keys",))
    clock.advance(hours=49)
    newcomer = add_customer(sera, personas.northside_id, "Sam Lowe", "+13125550172")
    with pytest.raises(BackupError, match="refused: the key-store backup is 49 hours old, older than 48 hours"):
        restore_backup(sera, tmp_path / "backup", ("keys",))
    assert sera.keystore.customer_keys(personas.northside_id, [newcomer]) != {}  # nothing was replaced


def test_a_backup_cut_short_is_refused(sera: Sera, personas: Personas, tmp_path: Path) -> None:
    create_backup(sera, tmp_path / "backup")
    (tmp_path / "backup" / "data.json").unlink()
    with pytest.raises(BackupError, match="no complete data backup"):
        restore_backup(sera, tmp_path / "backup")
    manifest = read_manifest(tmp_path / "backup", "keys")
    (tmp_path / "backup" / manifest.file).unlink()
    with pytest.raises(BackupError, match="incomplete"):
        restore_backup(sera, tmp_path / "backup", ("keys",))


def test_the_backup_commands(
    sera: Sera, personas: Personas, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: sera)
    made = CliRunner().invoke(cli.main, ["backup", "create", str(tmp_path / "b")])
    assert made.exit_code == 0, made.output
    assert "data: " in made.output and "keys: " in made.output
    assert oct((tmp_path / "b").stat().st_mode & 0o777) == "0o700"
    restored = CliRunner().invoke(cli.main, ["backup", "restore", str(tmp_path / "b"), "--yes"])
    assert restored.exit_code == 0, restored.output
    clock.advance(hours=72)
    refused = CliRunner().invoke(cli.main, ["backup", "restore", str(tmp_path / "b"), "--only", "keys", "--yes"])
    assert refused.exit_code == 1 and "refused: the key-store backup is 3.0 days old" in refused.output
