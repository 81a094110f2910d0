"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from sera.bootstrap import Sera
from sera.storage import migrate


def test_models_and_migrations_do_not_drift(sera: Sera) -> None:
    assert migrate.drift(sera.db.engine) == []


def test_migrating_twice_is_harmless(sera: Sera) -> None:
    sera.migrate()
    sera.migrate()
    assert migrate.drift(sera.db.engine) == []
