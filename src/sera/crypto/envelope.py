"""Envelope encryption: a master keyring wraps merchant keys, merchant keys wrap
customer data keys, and data keys seal personal-data fields.

Invariants:
- Every sealed value is AES-256-GCM with associated data that names its table,
  column and row, so a ciphertext copied to another row or column fails to open.
- Wrapped keys carry the id of the key that wrapped them, so a keyring with an old
  and a new master opens both while a rotation is under way.
- Blind indexes are HMAC-SHA256 under a key derived per merchant and column: equal
  values match, nothing else about the value is revealed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_VERSION = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32


class DecryptionError(Exception):
    """A sealed value could not be opened (wrong key, wrong row, or tampered)."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key (never the key itself)."""
    return hashlib.sha256(b"sera-key-id:" + key).hexdigest()[:16]


def seal_bytes(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT_VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_bytes(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if sealed[:1] != FORMAT_VERSION or len(sealed) < 1 + NONCE_BYTES + 16:
        raise DecryptionError("unknown ciphertext format")
    nonce = sealed[1 : 1 + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, sealed[1 + NONCE_BYTES :], aad)
    except InvalidTag as exc:
        raise DecryptionError("ciphertext does not open with this key and context") from exc


def field_aad(table: str, column: str, row_id: str) -> bytes:
    return f"field:{table}.{column}:{row_id}".encode()


class FieldCipher(Protocol):
    """Seals and opens one personal-data field value under a data key."""

    def seal(self, key: bytes, value: str, aad: bytes) -> bytes: ...

    def open(self, key: bytes, sealed: bytes, aad: bytes) -> str: ...


class AesGcmCipher:
    def seal(self, key: bytes, value: str, aad: bytes) -> bytes:
        return seal_bytes(key, value.encode(), aad)

    def open(self, key: bytes, sealed: bytes, aad: bytes) -> str:
        return open_bytes(key, sealed, aad).decode()


@dataclass(frozen=True)
class MasterKeyring:
    """Master keys, the first one primary. Only key ids ever leave this object."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a master keyring needs at least one key")
        for key in self.keys:
            if len(key) != KEY_BYTES:
                raise ValueError("master keys are 32 bytes")

    @property
    def primary_id(self) -> str:
        return key_id(self.keys[0])

    def wrap(self, data_key: bytes, aad: bytes) -> tuple[str, bytes]:
        return self.primary_id, seal_bytes(self.keys[0], data_key, aad)

    def unwrap(self, wrapping_key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        for key in self.keys:
            if key_id(key) == wrapping_key_id:
                return open_bytes(key, wrapped, aad)
        raise DecryptionError(f"master key {wrapping_key_id} is not in the keyring")


def derive_subkey(key: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose.encode()).derive(key)


def blind_index(column_key: bytes, normalized_value: str) -> str:
    """Keyed HMAC of an already-normalised value (E.164 phone, lowercased email)."""
    return hmac.new(column_key, normalized_value.encode(), hashlib.sha256).hexdigest()[:32]
