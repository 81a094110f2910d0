"""The agent's settings changed one section at a time (the dashboard), every saved change kept.

A section is saved the way ``sera shop import`` saves a file: the whole shop file is written
with that section replaced, read back by the same parser and validator, and imported by the
same service, so a form can store nothing the command would refuse, and a refused change
stores nothing. Every change that altered something is a version: the shop file as it was
after it, who made it, which section, when. Orders are left out of a version (they hold
customers' details; the rest of the shop file holds none), so restoring a version puts back
the agent's settings and leaves the shop's identity, orders, products and retention periods
(which the privacy page owns) as they are now.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy import func, select

from sera import audit
from sera.bootstrap import Sera
from sera.merchants.service import ImportConflictError, import_shop, shop_document, shop_text
from sera.merchants.shop_file import ShopFileError, parse_shop_text
from sera.storage.database import UnitOfWork
from sera.storage.models import ShopSettingsVersion, new_id
from sera.storage.paging import InvalidCursorError, Page, PageRequest

# the dashboard's sections, each the shop file key it replaces
SECTIONS = ("agent", "hours", "closures", "services", "staff", "faq", "policies", "workflows", "outbound")
FIRST = "initial"  # the version kept of the settings as they were before the first change
RESTORE = "restore"
_LINE = re.compile(r"^line (\d+): ")
_FIELD = re.compile(r"^([A-Za-z_][\w]*(?:\.[\w]+)*)(?:: | is required)")
_UNKNOWN = re.compile(r"^unknown key '([^']*)' \(in (.+)\)")


@dataclass(frozen=True)
class Problem:
    """One reason a change was refused: the shop file field it concerns (``services.0.name``,
    or "" for the whole section) and the validator's words."""

    field: str
    message: str


class SettingsError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


class VersionNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class Saved:
    changed: bool
    version: int | None


@dataclass(frozen=True)
class VersionSummary:
    id: str
    number: int
    section: str
    actor: str
    created_at: datetime
    restored_from: int | None


@dataclass(frozen=True)
class DiffLine:
    kind: str  # added | removed | same | hunk
    text: str


@dataclass(frozen=True)
class VersionView:
    version: VersionSummary
    document: str
    previous: int | None  # the number of the version it is compared with
    diff: list[DiffLine]


def current_settings(uow: UnitOfWork) -> dict[str, Any]:
    """The shop file as data, without orders (nothing personal): what the forms show."""
    return shop_document(uow, with_orders=False)


def save_section(sera: Sera, merchant_id: str, section: str, value: Any, *, actor: str) -> Saved:
    """Replace one section of the shop file with ``value`` (shop file data) and import it."""
    if section not in SECTIONS:
        raise ValueError(f"unknown section {section!r}")
    with sera.uow(merchant_id, readonly=True) as reader:
        before = shop_document(reader, with_orders=True)
    return _save(sera, merchant_id, shop_text({**before, section: value}), before, section, actor)


def save_section_text(sera: Sera, merchant_id: str, section: str, fragment: str, *, actor: str) -> Saved:
    """Replace one section with YAML the merchant wrote (workflows); errors name lines of it."""
    if section not in SECTIONS:
        raise ValueError(f"unknown section {section!r}")
    with sera.uow(merchant_id, readonly=True) as reader:
        before = shop_document(reader, with_orders=True)
    head = shop_text({k: v for k, v in before.items() if k != section})
    body = "".join(f"  {line}\n" for line in fragment.splitlines()) if fragment.strip() else ""
    text = f"{head}{section}:{'' if body else ' []'}\n{body}"
    return _save(sera, merchant_id, text, before, section, actor, line_offset=head.count("\n") + 1)


def add_faq_entry(sera: Sera, merchant_id: str, question: str, answer: str, *, actor: str) -> Saved:
    """One more FAQ entry (a question callers asked that the agent could not answer)."""
    with sera.uow(merchant_id, readonly=True) as reader:
        faq = list(current_settings(reader)["faq"])
    return save_section(sera, merchant_id, "faq", [*faq, {"q": question, "a": answer}], actor=actor)


def restore_version(sera: Sera, merchant_id: str, version_id: str, *, actor: str) -> Saved:
    """Put back the agent's settings of an earlier version (a new version records it)."""
    with sera.uow(merchant_id, readonly=True) as reader:
        row = _version_row(reader, version_id)
        number = row.number
        old = yaml.safe_load(row.document)
        before = shop_document(reader, with_orders=True)
    candidate = {**before, **{key: old.get(key, _EMPTY[key]) for key in SECTIONS}}
    return _save(sera, merchant_id, shop_text(candidate), before, RESTORE, actor, restored_from=number)


_EMPTY: dict[str, Any] = {
    "agent": {},
    "hours": {},
    "closures": [],
    "services": [],
    "staff": [],
    "faq": [],
    "policies": {},
    "workflows": [],
    "outbound": {},
}


def _save(
    sera: Sera,
    merchant_id: str,
    text: str,
    before: dict[str, Any],
    section: str,
    actor: str,
    *,
    line_offset: int | None = None,
    restored_from: int | None = None,
) -> Saved:
    try:
        shop = parse_shop_text(text, source=section)
        result = import_shop(sera, shop, actor=actor)
    except ShopFileError as exc:
        raise SettingsError([_problem(p, line_offset) for p in exc.problems]) from None
    except ImportConflictError as exc:
        raise SettingsError([Problem("", str(exc))]) from None
    if not result.changes:
        return Saved(False, None)
    with sera.uow(merchant_id) as uow:
        number = _last_number(uow)
        if number == 0:  # the first change: keep what it changed, to compare with and go back to
            number = _add_version(uow, _without_orders(before), FIRST, actor, None, 1)
        number = _add_version(uow, current_settings(uow), section, actor, restored_from, number + 1)
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor=actor,
            action="settings.restored" if restored_from else "settings.changed",
            target_type="merchant",
            target_id=merchant_id,
            details={"section": section, "version": number, "restored_from": restored_from},
        )
        uow.commit()
    return Saved(True, number)


def _without_orders(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "orders"}


def _add_version(
    uow: UnitOfWork, document: dict[str, Any], section: str, actor: str, restored_from: int | None, number: int
) -> int:
    assert uow.merchant_id is not None
    uow.session.add(
        ShopSettingsVersion(
            id=new_id("ver"),
            merchant_id=uow.merchant_id,
            number=number,
            section=section,
            actor=actor,
            document=shop_text(document),
            restored_from=restored_from,
            created_at=uow.now(),
        )
    )
    uow.session.flush()
    return number


def _last_number(uow: UnitOfWork) -> int:
    return int(uow.session.execute(select(func.coalesce(func.max(ShopSettingsVersion.number), 0))).scalar_one())


def _problem(text: str, line_offset: int | None) -> Problem:
    """The validator's words for a form: the line only when it is a line the merchant wrote."""
    found = _LINE.match(text)
    rest = (text[found.end() :] if found else text).removeprefix("(file): ")
    message = rest
    if found and line_offset is not None and int(found.group(1)) > line_offset:
        message = f"line {int(found.group(1)) - line_offset}: {rest}"
    unknown = _UNKNOWN.match(rest)
    if unknown:
        return Problem(f"{unknown.group(2)}.{unknown.group(1)}", message)
    field = _FIELD.match(rest)
    return Problem(field.group(1) if field else "", message)


# -- history -------------------------------------------------------------------------------------


def _summary(row: ShopSettingsVersion) -> VersionSummary:
    return VersionSummary(row.id, row.number, row.section, row.actor, row.created_at, row.restored_from)


def list_versions(uow: UnitOfWork, request: PageRequest) -> Page[VersionSummary]:
    """Newest first; the cursor is the number of the last version shown."""
    stmt = select(ShopSettingsVersion).order_by(ShopSettingsVersion.number.desc())
    if request.cursor:
        if not request.cursor.isdigit() or len(request.cursor) > 9:
            raise InvalidCursorError("invalid cursor")
        stmt = stmt.where(ShopSettingsVersion.number < int(request.cursor))
    limit = max(1, min(request.limit, 200))
    rows = list(uow.session.execute(stmt.limit(limit + 1)).scalars())
    kept = rows[:limit]
    more = len(rows) > limit
    return Page([_summary(r) for r in kept], str(kept[-1].number) if more and kept else None)


def _version_row(uow: UnitOfWork, version_id: str) -> ShopSettingsVersion:
    row = uow.session.execute(
        select(ShopSettingsVersion).where(ShopSettingsVersion.id == version_id)
    ).scalar_one_or_none()
    if row is None:
        raise VersionNotFoundError(version_id)
    return row


def get_version(uow: UnitOfWork, version_id: str) -> VersionView:
    """A version, and what changed since the one before it."""
    row = _version_row(uow, version_id)
    previous = uow.session.execute(
        select(ShopSettingsVersion)
        .where(ShopSettingsVersion.number < row.number)
        .order_by(ShopSettingsVersion.number.desc())
        .limit(1)
    ).scalar_one_or_none()
    diff = _diff(previous.document if previous else "", row.document)
    return VersionView(_summary(row), row.document, previous.number if previous else None, diff)


def _diff(old: str, new: str) -> list[DiffLine]:
    lines: list[DiffLine] = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=2):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            lines.append(DiffLine("hunk", line))
        elif line.startswith("+"):
            lines.append(DiffLine("added", line[1:]))
        elif line.startswith("-"):
            lines.append(DiffLine("removed", line[1:]))
        else:
            lines.append(DiffLine("same", line[1:]))
    return lines
