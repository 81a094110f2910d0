"""The second factor: TOTP codes (RFC 6238, any authenticator app), each good once, and
single-use recovery codes for a lost phone.

The TOTP secret is sealed like other personal data; recovery codes are kept as SHA-256
hashes (each has 50 random bits, so a fast hash is enough) and shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import pyotp
import segno

from sera import audit
from sera.storage.database import UnitOfWork
from sera.storage.models import StaffUser

ISSUER = "Sera"
RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # nothing read twice ways (no 0/o, 1/l/i)


class SecondFactorError(ValueError):
    """A code that is wrong, used already, or a second factor not set up."""


@dataclass(frozen=True)
class Enrollment:
    secret: str  # base32, for typing into an app
    uri: str  # otpauth://
    qr_svg: str  # the URI as a QR code, an SVG document


def new_enrollment(email: str, secret: str | None = None) -> Enrollment:
    """A secret to set up (a new one, or the one being set up, to show again after a typo)."""
    secret = secret or pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
    qr = segno.make(uri, error="m")
    return Enrollment(secret=secret, uri=uri, qr_svg=qr.svg_inline(scale=4, dark="#111", light="#fff"))


def _step(uow: UnitOfWork) -> int:
    return int(uow.now().timestamp()) // 30


def _accept(uow: UnitOfWork, row: StaffUser, secret: str, code: str) -> bool:
    """True once per code: a code (this step or the one either side, for clocks that drift)
    newer than the last one taken."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(secret)
    now = _step(uow)
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            if row.totp_last_step is not None and step <= row.totp_last_step:
                return False
            row.totp_last_step = step
            return True
    return False


def _hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


def _new_recovery_codes(row: StaffUser) -> list[str]:
    """Fresh codes for the member (the earlier ones stop working), kept as hashes: returned to be
    shown this once."""
    codes = ["".join(secrets.choice(_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODES)]
    shown = [f"{code[:5]}-{code[5:]}" for code in codes]
    row.recovery_codes = [_hash(code) for code in shown]
    return shown


def enable(uow: UnitOfWork, row: StaffUser, secret: str, code: str, *, actor: str) -> list[str]:
    """Turn the second factor on once the member's app shows the right code; returns the
    recovery codes, shown this once."""
    if not _accept(uow, row, secret, code):
        raise SecondFactorError("that code is not right: check the app shows Sera's current code")
    uow.vault.seal(row, totp_secret=secret)
    row.totp_enabled_at = uow.now()
    codes = _new_recovery_codes(row)
    audit.record(
        uow.session,
        merchant_id=row.merchant_id,
        actor=actor,
        action="team_member_second_factor_enabled",
        target_type="team_member",
        target_id=row.id,
    )
    return codes


def verify(uow: UnitOfWork, row: StaffUser, code: str) -> str:
    """Check a TOTP code or a recovery code (used up); returns which one it was."""
    secret = uow.vault.open(row, "totp_secret")
    if secret is None or row.totp_enabled_at is None:
        raise SecondFactorError("no second factor is set up")
    if _accept(uow, row, secret, code):
        return "totp"
    hashed = _hash(code)
    remaining = list(row.recovery_codes or [])
    for stored in remaining:
        if hmac.compare_digest(stored, hashed):
            remaining.remove(stored)
            row.recovery_codes = remaining
            return "recovery_code"
    raise SecondFactorError("that code is not right, or was used already")


def current_code(secret: str, at_step: int) -> str:
    """The code an app shows at a step (for the demo and the tests, which have no phone)."""
    return pyotp.TOTP(secret).generate_otp(at_step)


def regenerate_recovery_codes(uow: UnitOfWork, row: StaffUser, code: str, *, actor: str) -> list[str]:
    """New recovery codes (the old ones stop working) once the member shows a current code;
    returned to be shown this once."""
    verify(uow, row, code)
    codes = _new_recovery_codes(row)
    audit.record(
        uow.session,
        merchant_id=row.merchant_id,
        actor=actor,
        action="team_member_recovery_codes_regenerated",
        target_type="team_member",
        target_id=row.id,
    )
    return codes
