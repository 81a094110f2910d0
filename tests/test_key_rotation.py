"""`sera keys rotate`: every key moves to the new master; the old one keeps working meanwhile."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from sera import cli
from sera.bootstrap import Sera, bootstrap
from sera.config import Settings, new_key_text
from sera.crypto.envelope import DecryptionError
from sera.customers.service import find_customer, get_customer
from tests.conftest import Personas


def _name_of_priya(instance: Sera, merchant_id: str) -> str | None:
    with instance.uow(merchant_id, readonly=True) as uow:
        found = find_customer(uow, phone="+13125550142")
        assert found is not None
        return get_customer(uow, found.id).name


def test_rotation_rewraps_every_key_under_the_new_master(
    settings: Settings, sera: Sera, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = settings.master_key
    assert old is not None
    new = new_key_text()
    only_new = bootstrap(settings.model_copy(update={"master_key": SecretStr(new)}))
    with pytest.raises(DecryptionError):
        _name_of_priya(only_new, personas.northside_id)  # not rotated yet

    sera.keystore.keep_for_deletion("mer_gone", "twilio", "AC" + "2" * 32, "a deleted shop's token")
    both = bootstrap(settings.model_copy(update={"master_key": SecretStr(f"{new},{old.get_secret_value()}")}))
    assert _name_of_priya(both, personas.northside_id) == "Priya Shah"  # old master still opens
    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: both)
    result = CliRunner().invoke(cli.main, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "re-wrapped 2 merchant keys" in result.output

    only_new = bootstrap(settings.model_copy(update={"master_key": SecretStr(new)}))
    assert _name_of_priya(only_new, personas.northside_id) == "Priya Shah"
    assert set(only_new.keystore.wrapping_key_ids()) == {only_new.keystore.keyring.primary_id}
    kept = only_new.keystore.kept_for_deletion("mer_gone", "twilio")  # a secret kept for deletions moved too
    assert kept == ("AC" + "2" * 32, "a deleted shop's token")
    only_old = bootstrap(settings)
    only_old.keystore._cache.clear()
    with pytest.raises(DecryptionError):
        _name_of_priya(only_old, personas.northside_id)
    for instance in (only_new, both, only_old):
        instance.close()
