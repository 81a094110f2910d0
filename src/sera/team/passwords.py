"""Team members' passwords: argon2id hashes, at least 12 characters, never a common password.

The common-password list is zxcvbn's (49,000 passwords, vendored from the npm registry by
``scripts/vendor-assets``). A password is refused when it is on the list, or when it is a
listed word (four letters or more) with only digits and symbols around it ("Password2026!").
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 takes any length; a megabyte "password" is a denial of service
_LIST = Path(__file__).with_name("vendor") / "language-common" / "passwords.json"
# RFC 9106's second recommended option (memory-constrained): argon2id, t=3, m=64 MiB, p=4
_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)


def use_memory(kib: int) -> None:
    """Hash new passwords with this much memory (``SERA_PASSWORD_HASH_MEMORY_KIB``)."""
    global _HASHER
    if kib != _HASHER.memory_cost:
        _HASHER = PasswordHasher(time_cost=3, memory_cost=kib, parallelism=4)


_PADDING = re.compile(r"^[\W\d_]*(.*?)[\W\d_]*$", re.DOTALL)


class WeakPasswordError(ValueError):
    """A password the policy refuses; the message says why (never repeating it)."""


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    return frozenset(word.lower() for word in json.loads(_LIST.read_text(encoding="utf-8")))


def check_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"use at most {MAX_LENGTH} characters")
    lowered = password.lower()
    core = _PADDING.match(lowered)
    stem = core.group(1) if core else lowered
    if lowered in _common() or (len(stem) >= 4 and stem in _common()) or len(set(lowered)) < 4:
        raise WeakPasswordError("this password is too common: choose one that is not on lists of leaked passwords")


def hash_password(password: str) -> str:
    check_policy(password)
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing or damaged hash never matches."""
    if stored is None or len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)


def burn_time(password: str) -> None:
    """Spend what a verification costs, so an unknown email answers as slowly as a known one."""
    _HASHER.hash(password[:MAX_LENGTH])
