"""Configuration: production refuses weak secrets (naming them); development makes its own."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sera.config import ConfigError, load_settings, new_key_text


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [
        "SERA_MASTER_KEY",
        "SERA_SECRET_KEY",
        "SERA_ENV",
        "SERA_PUBLIC_URL",
        "SERA_DATABASE_URL",
    ]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SERA_ENV_FILE", str(tmp_path / "var" / "sera.env"))


def _production(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    monkeypatch.setenv("SERA_ENV", "production")
    defaults = {
        "SERA_MASTER_KEY": new_key_text(),
        "SERA_SECRET_KEY": "k7Hq2pLx9Vt4Rw8Zs1Nb6Mc3Df5Gj0Yh",
        "SERA_PUBLIC_URL": "https://sera.example.com",
    }
    for name, value in {**defaults, **values}.items():
        if value:
            monkeypatch.setenv(name, value)


def test_production_with_good_secrets_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch)
    assert load_settings().is_production


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"SERA_MASTER_KEY": ""}, "SERA_MASTER_KEY is required"),
        ({"SERA_MASTER_KEY": "c2hvcnQ="}, "SERA_MASTER_KEY must decode to 32 bytes"),
        ({"SERA_MASTER_KEY": "A" * 43 + "="}, "SERA_MASTER_KEY is weak"),
        ({"SERA_SECRET_KEY": ""}, "SERA_SECRET_KEY is missing or weak"),
        (
            {"SERA_SECRET_KEY": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
            "SERA_SECRET_KEY is missing or weak",
        ),
        ({"SERA_PUBLIC_URL": "http://sera.example.com"}, "SERA_PUBLIC_URL must be an https:// URL"),
    ],
)
def test_production_refuses_missing_or_weak_secrets(
    monkeypatch: pytest.MonkeyPatch, override: dict[str, str], named: str
) -> None:
    _production(monkeypatch, **override)
    with pytest.raises(ConfigError, match=named):
        load_settings(generate_secrets=True)


def test_production_never_generates_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _production(monkeypatch, SERA_MASTER_KEY="")
    with pytest.raises(ConfigError):
        load_settings(generate_secrets=True)
    assert not (tmp_path / "var" / "sera.env").exists()


def test_development_generates_private_secrets_once(tmp_path: Path) -> None:
    first = load_settings(generate_secrets=True)
    env_file = tmp_path / "var" / "sera.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    second = load_settings(generate_secrets=True)
    assert first.master_key == second.master_key and first.master_key is not None
