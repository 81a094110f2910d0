"""Backups: the data and the key store, written and restored separately.

Invariants:
- The data backup and the key-store backup are separate files with separate manifests;
  they are meant to be kept apart (a data backup alone is ciphertext for personal data).
- SQLite is copied with its online backup API (a consistent snapshot while Sera runs);
  PostgreSQL with ``pg_dump``/``pg_restore`` (custom format).
- Crypto-shredding reaches a data backup only while no key-store backup holds the destroyed
  key: a key-store backup older than the erasure window (``SERA_KEY_BACKUP_MAX_AGE_HOURS``,
  48 by default) is refused on restore, and after any key-store restore the erasures and shop
  deletions the audit log records since that backup are applied to it again.
- A data restore applies again the erasures and shop deletions made since the data backup
  (read from the database before it is replaced), so erased rows do not come back.
- A manifest is written after its file: a backup cut short has none, and is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, select

from sera.bootstrap import Sera
from sera.privacy.erasure import delete_shop, redact_customer
from sera.storage.database import is_sqlite
from sera.storage.models import AuditEntry

Part = Literal["data", "keys"]
PARTS: tuple[Part, ...] = ("data", "keys")
FORMAT = 1


class BackupError(Exception):
    """A backup could not be made or restored; the message says why."""


@dataclass(frozen=True)
class Manifest:
    part: Part
    created_at: datetime
    backend: str  # sqlite | postgresql
    file: str

    def to_json(self) -> str:
        body = {"format": FORMAT, "part": self.part, "created_at": self.created_at.isoformat()}
        return json.dumps(body | {"backend": self.backend, "file": self.file}, indent=2) + "\n"


def _engine(sera: Sera, part: Part) -> Engine:
    return sera.db.engine if part == "data" else sera.keystore.engine


def create_backup(sera: Sera, directory: Path, parts: tuple[Part, ...] = PARTS) -> list[Manifest]:
    """Write each part into ``directory`` (created, private to this user)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    made = []
    for part in parts:
        engine = _engine(sera, part)
        started = sera.clock()  # what changes while the copy runs counts as after it (a restore applies it again)
        manifest_path = directory / f"{part}.json"
        manifest_path.unlink(missing_ok=True)
        if is_sqlite(engine):
            target = directory / f"{part}.sqlite"
            target.unlink(missing_ok=True)
            raw = engine.raw_connection()
            try:
                destination = sqlite3.connect(target)
                with destination:
                    raw.driver_connection.backup(destination)  # type: ignore[union-attr]
                destination.close()
            finally:
                raw.close()
            manifest = Manifest(part, started, "sqlite", target.name)
        else:
            target = directory / f"{part}.pgdump"
            _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}"], engine)
            manifest = Manifest(part, started, "postgresql", target.name)
        target.chmod(0o600)
        manifest_path.write_text(manifest.to_json())
        manifest_path.chmod(0o600)
        made.append(manifest)
    return made


def read_manifest(directory: Path, part: Part) -> Manifest:
    path = directory / f"{part}.json"
    try:
        body = json.loads(path.read_text())
        manifest = Manifest(part, datetime.fromisoformat(body["created_at"]), body["backend"], body["file"])
    except (OSError, ValueError, KeyError, TypeError):
        raise BackupError(f"no complete {part} backup in {directory}: {path.name} is missing or unreadable") from None
    if body.get("part") != part or not (directory / manifest.file).is_file():
        raise BackupError(f"the {part} backup in {directory} is incomplete: {manifest.file} is missing")
    return manifest


@dataclass(frozen=True)
class Restored:
    parts: list[Manifest]
    reapplied: int  # erasures and shop deletions made since the backups, applied again


def restore_backup(sera: Sera, directory: Path, parts: tuple[Part, ...] = PARTS) -> Restored:
    """Replace the data and/or the key store with the backup's. Stop Sera first."""
    now = sera.clock()
    manifests = [read_manifest(directory, part) for part in parts]
    for manifest in manifests:  # every check before anything is replaced
        if manifest.part == "keys":
            age = now - manifest.created_at
            limit = timedelta(hours=sera.settings.key_backup_max_age_hours)
            if age > limit:
                raise BackupError(
                    f"refused: the key-store backup is {_age(age)} old, older than {_age(limit)} "
                    "(SERA_KEY_BACKUP_MAX_AGE_HOURS). It may hold the keys of customers erased since it "
                    "was made; restoring it would make their data readable again in every data backup. "
                    "Restore a newer key-store backup."
                )
        backend = "sqlite" if is_sqlite(_engine(sera, manifest.part)) else "postgresql"
        if manifest.backend != backend:
            raise BackupError(f"the {manifest.part} backup is of {manifest.backend}, but Sera now runs on {backend}")
    since = min(m.created_at for m in manifests)
    erased = _deletions_since(sera, since)
    for manifest in manifests:
        _replace(_engine(sera, manifest.part), directory / manifest.file, manifest.backend)
    sera.keystore.forget_cached_keys()
    sera.lookups.clear()
    return Restored(manifests, _reapply(sera, erased))


def _deletions_since(sera: Sera, since: datetime) -> list[tuple[str, str | None, str]]:
    """(action, merchant id, target id) of each erasure and shop deletion recorded since ``since``."""
    with sera.uow(readonly=True) as uow:
        rows = uow.session.execute(
            select(AuditEntry.action, AuditEntry.merchant_id, AuditEntry.target_id)
            .where(AuditEntry.action.in_(("customer.erased", "shop.deleted")), AuditEntry.at >= since)
            .order_by(AuditEntry.seq)
        ).all()
    return [(str(action), merchant_id, str(target)) for action, merchant_id, target in rows if target]


def _reapply(sera: Sera, erased: list[tuple[str, str | None, str]]) -> int:
    for action, merchant_id, target in erased:
        if action == "shop.deleted":
            delete_shop(sera, target, actor="system:restore")
        elif merchant_id is not None:
            redact_customer(sera, merchant_id, target, actor="system:restore")
    return len(erased)


def _replace(engine: Engine, file: Path, backend: str) -> None:
    if backend == "sqlite":
        raw = engine.raw_connection()
        try:
            source = sqlite3.connect(file)
            source.backup(raw.driver_connection)  # type: ignore[arg-type]
            source.close()
        finally:
            raw.close()
        engine.dispose()
    else:
        engine.dispose()
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", str(file)], engine)


def _run(command: list[str], engine: Engine) -> None:
    """A PostgreSQL client program against the engine's database (its password in the environment)."""
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (Debian's postgresql-client)")
    url = engine.url.set(drivername="postgresql")
    env = {**os.environ, "PGPASSWORD": url.password or ""} if url.password else dict(os.environ)
    target = url.set(password=None).render_as_string(hide_password=False)
    arguments = [*command, f"--dbname={target}"]  # our own program and settings, no shell
    done = subprocess.run(arguments, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[:500]}")


def _age(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 72 else f"{hours:.0f} hours"
