"""AES-256-GCM envelopes: ``v1.<kid>.<nonce>.<ciphertext>``, the ``PiiCipher`` port.

* ``v1``: the format version, so a later format can be introduced next to this one;
* ``kid``: the key id (``[A-Za-z0-9-]{1,32}``), so any key of the keyring can open it and
  ``keys rotate`` finds what an older key sealed with a plain ``LIKE 'v1.kid.%'``;
* ``nonce``: 96 random bits (base64url, no padding), fresh for every value. With random nonces
  one key may seal about 2**32 values before the collision risk reaches NIST's 2**-32 bound
  (SP 800-38D 8.3); rotate well before that;
* ``ciphertext``: the AES-GCM output with its 128-bit tag (base64url, no padding).

The associated data is the version, the key id and the value's :class:`~application.pii.Binding`
(table, column, row key), length-prefixed so no two bindings encode alike: a value moved to
another row or column, or with its header edited, fails the tag check.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from application.pii import Binding, IntegrityFailure, MalformedEnvelope, UnknownKeyId

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID = re.compile(r"[A-Za-z0-9-]{1,32}")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Strict: base64url alphabet only (``validate``), padding restored here."""
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def associated_data(key_id: str, binding: Binding) -> bytes:
    parts = (VERSION, key_id, binding.table, binding.column, binding.row)
    return b"".join(len(p.encode()).to_bytes(4, "big") + p.encode() for p in parts)


class AesGcmKeyring:
    """The ``PiiCipher`` port: the first key seals, every key opens."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._aead: dict[str, AESGCM] = {}
        for key_id, key in keys:
            if not KEY_ID.fullmatch(key_id):
                raise ValueError(f"key id {key_id!r}: use 1-32 letters, digits or '-'")
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id!r} has {len(key)} bytes; AES-256 needs {KEY_BYTES}")
            if key_id in self._aead:
                raise ValueError(f"key id {key_id!r} appears twice in the keyring")
            self._aead[key_id] = AESGCM(key)
        self._current = keys[0][0]
        self._prefix = f"{VERSION}.{self._current}."

    @property
    def current_key_id(self) -> str:
        return self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._aead)

    def seal(self, plaintext: str, binding: Binding) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self._current].encrypt(
            nonce, plaintext.encode("utf-8"), associated_data(self._current, binding))
        return f"{self._prefix}{b64url(nonce)}.{b64url(sealed)}"

    def open(self, envelope: str, binding: Binding) -> str:
        key_id, nonce, sealed = self._split(envelope)
        aead = self._aead.get(key_id)
        if aead is None:
            raise UnknownKeyId(key_id)
        try:
            plain = aead.decrypt(nonce, sealed, associated_data(key_id, binding))
        except InvalidTag:
            raise IntegrityFailure(
                f"sealed value of {binding.table}.{binding.column} for row {binding.row!r} "
                "failed authentication: altered, or moved from another row or column") from None
        return plain.decode("utf-8")

    def key_id(self, envelope: str) -> str:
        return self._split(envelope)[0]

    def is_envelope(self, value: str) -> bool:
        try:
            self._split(value)
        except MalformedEnvelope:
            return False
        return True

    @staticmethod
    def _split(envelope: str) -> tuple[str, bytes, bytes]:
        parts = envelope.split(".")
        if len(parts) != 4 or parts[0] != VERSION or not KEY_ID.fullmatch(parts[1]):
            raise MalformedEnvelope(f"not a {VERSION} envelope (expected "
                                    f"{VERSION}.<kid>.<nonce>.<ciphertext>)")
        try:
            nonce, sealed = unb64url(parts[2]), unb64url(parts[3])
        except (binascii.Error, ValueError):
            raise MalformedEnvelope("envelope nonce or ciphertext is not base64url") from None
        if len(nonce) != NONCE_BYTES or len(sealed) < TAG_BYTES:
            raise MalformedEnvelope("envelope nonce or ciphertext has the wrong length")
        return parts[1], nonce, sealed
