"""What text can be stored: whole Unicode, without control characters.

Checked where text enters (API fields, the shop file), so that a value no backend can hold is
refused with its field's name instead of failing half-way through a write: UTF-8 (and so
every ciphertext and PostgreSQL) cannot hold a lone surrogate, PostgreSQL refuses NUL, and
the other control characters are never part of a name, a number or a message.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # tab and line breaks allowed
_CONTROL_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def without_surrogates(value: str) -> str:
    """``value`` with each lone surrogate replaced by U+FFFD, so that it can be written out."""
    return _SURROGATE.sub("\ufffd", value)


def text_problem(value: str, *, multiline: bool = True) -> str | None:
    """Why ``value`` cannot be stored, or None. ``multiline`` text may hold tabs and line breaks."""
    if _SURROGATE.search(value):
        return "is not valid Unicode (it holds a lone surrogate)"
    if (_CONTROL_IN_TEXT if multiline else _CONTROL_IN_LINE).search(value):
        return "holds a control character"
    return None
