"""Key material as text: what operators put into a secret and what ``keys generate`` prints.

A keyring is ``kid:key`` entries separated by commas or newlines, current (sealing) key first;
each key is 32 random bytes in base64url. A blind-index key is 32+ bytes in base64url. Lines
starting with ``#`` are comments (a mounted secret file may explain itself).
"""

from __future__ import annotations

import binascii
import os
from datetime import UTC, datetime

from adapters.crypto.blind_index import MIN_KEY_BYTES, HmacBlindIndex
from adapters.crypto.envelope import KEY_BYTES, KEY_ID, AesGcmKeyring, b64url, unb64url


class KeyMaterialError(ValueError):
    """Key text that cannot be used. The message never contains key material."""


def parse_keyring(text: str) -> AesGcmKeyring:
    entries = [e.strip() for line in text.splitlines() if not line.lstrip().startswith("#")
               for e in line.split(",") if e.strip()]
    if not entries:
        raise KeyMaterialError("no PII keys given (expected kid:base64url-key, current first)")
    keys = []
    for number, entry in enumerate(entries, 1):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not KEY_ID.fullmatch(key_id.strip()):
            raise KeyMaterialError(f"PII key entry {number}: expected kid:base64url-key with a "
                                   "kid of 1-32 letters, digits or '-'")
        keys.append((key_id.strip(), _decode(encoded.strip(), f"PII key {key_id.strip()!r}",
                                             KEY_BYTES, exact=True)))
    try:
        return AesGcmKeyring(keys)
    except ValueError as exc:
        raise KeyMaterialError(str(exc)) from None


def parse_index_key(text: str) -> HmacBlindIndex:
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) != 1:
        raise KeyMaterialError("the blind-index key is one base64url value")
    return HmacBlindIndex(_decode(lines[0], "the blind-index key", MIN_KEY_BYTES, exact=False))


def _decode(encoded: str, what: str, size: int, exact: bool) -> bytes:
    try:
        key = unb64url(encoded)
    except (binascii.Error, ValueError):
        raise KeyMaterialError(f"{what} is not base64url") from None
    if len(key) < size or (exact and len(key) != size):
        raise KeyMaterialError(f"{what} has {len(key)} bytes; it needs "
                               f"{'exactly' if exact else 'at least'} {size}")
    return key


def new_key_id(now: datetime | None = None) -> str:
    """``k20261130-3f9a``: sortable by creation day, unique enough to add beside older keys."""
    day = (now or datetime.now(UTC)).strftime("%Y%m%d")
    return f"k{day}-{os.urandom(2).hex()}"


def generate_key_entry(key_id: str | None = None) -> str:
    """A fresh keyring entry ``kid:key`` from the operating system's CSPRNG."""
    key_id = key_id or new_key_id()
    if not KEY_ID.fullmatch(key_id):
        raise KeyMaterialError(f"key id {key_id!r}: use 1-32 letters, digits or '-'")
    return f"{key_id}:{b64url(os.urandom(KEY_BYTES))}"


def generate_index_key() -> str:
    return b64url(os.urandom(MIN_KEY_BYTES))

