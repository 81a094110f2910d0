"""Phone numbers: parsed for a region, stored and compared as E.164."""

from __future__ import annotations

import phonenumbers


class InvalidPhoneError(ValueError):
    pass


def region_of_locale(locale: str) -> str:
    """'en-US' -> 'US'; a locale without a region falls back to US."""
    parts = locale.replace("_", "-").split("-")
    return parts[1].upper() if len(parts) > 1 and len(parts[1]) == 2 else "US"


def normalize_phone(text: str, region: str = "US") -> str:
    try:
        number = phonenumbers.parse(str(text), region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneError("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneError("not a valid phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def try_normalize_phone(text: str | None, region: str = "US") -> str | None:
    if not text:
        return None
    try:
        return normalize_phone(text, region)
    except InvalidPhoneError:
        return None
