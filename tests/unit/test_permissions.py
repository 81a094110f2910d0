"""The permission table: one file the code reads, shown unchanged in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sera.team.permissions import PERMISSIONS, ROLES, TABLE_FILE, UnknownActionError, can, parse_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_shows_the_table_the_code_reads() -> None:
    shown = re.search(r"<!-- permissions: begin -->\n(.*?)\n<!-- permissions: end -->", README.read_text(), re.S)
    assert shown is not None, "the README has lost its permission table"
    assert parse_table(shown.group(1)) == PERMISSIONS
    assert shown.group(1).strip() == TABLE_FILE.read_text().strip()


def test_roles_nest_as_the_issue_says() -> None:
    assert all(can("owner", action) for action in PERMISSIONS)  # the owner may do everything
    # the front desk: calls, appointments, tickets, customers; no settings, exports or deletion
    assert can("agent", "appointments.write") and can("agent", "tickets.write") and can("agent", "customers.correct")
    for action in ("settings.write", "customers.export", "customers.erase", "shop.delete", "retention.write"):
        assert not can("agent", action)
    # the viewer reads and never changes anything, nor exports personal data
    assert not can("viewer", "customers.export")
    writes = {a for a in PERMISSIONS if a.split(".")[1] not in ("read", "play") and a != "analytics.export"}
    assert not any(can("viewer", action) for action in writes)
    assert set(ROLES) == {"owner", "admin", "agent", "viewer"}


def test_an_unknown_action_is_an_error_not_a_denial() -> None:
    with pytest.raises(UnknownActionError):
        can("owner", "calls.raed")


def test_a_table_with_a_missing_mark_does_not_load() -> None:
    broken = "| Action | What | owner | admin | agent | viewer |\n| --- | --- | --- | --- | --- | --- |\n| `x.read` | x | ✓ | ✓ | ✓ |\n"
    with pytest.raises(ValueError, match="one ✓ or — per role"):
        parse_table(broken)
