"""Who may do what: read from ``permissions.md``, the one table the README shows, the
dashboard's routes and templates ask, and the tests walk role by role.

A check names an action of the table; a name that is not in it fails at import, so a typo
cannot quietly deny (or allow) anything.
"""

from __future__ import annotations

from pathlib import Path

ROLES = ("owner", "admin", "agent", "viewer")
TABLE_FILE = Path(__file__).with_name("permissions.md")
_YES, _NO = "✓", "—"


class UnknownActionError(KeyError):
    """An action the permission table does not have."""


def parse_table(text: str) -> dict[str, frozenset[str]]:
    """Action -> the roles allowed, from the markdown table (``✓`` allows, ``—`` denies)."""
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    if header[2:] != list(ROLES):
        raise ValueError(f"the permission table's role columns must be {', '.join(ROLES)}")
    table: dict[str, frozenset[str]] = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        action = cells[0].strip("`")
        marks = cells[2:]
        if len(marks) != len(ROLES) or set(marks) - {_YES, _NO}:
            raise ValueError(f"the permission table's row for {action} needs one ✓ or — per role")
        table[action] = frozenset(role for role, mark in zip(ROLES, marks, strict=True) if mark == _YES)
    return table


PERMISSIONS = parse_table(TABLE_FILE.read_text(encoding="utf-8"))


def action(name: str) -> str:
    """``name`` checked against the table (at import, where a check is declared)."""
    if name not in PERMISSIONS:
        raise UnknownActionError(name)
    return name


def can(role: str, name: str) -> bool:
    return role in PERMISSIONS[action(name)]


def allowed_actions(role: str) -> frozenset[str]:
    return frozenset(name for name, roles in PERMISSIONS.items() if role in roles)
