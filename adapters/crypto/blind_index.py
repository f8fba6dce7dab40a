"""The ``BlindIndex`` port: HMAC-SHA256 over the kind and the normalised value.

The key is separate from the encryption keys (a leaked index key reveals equality, never
plaintext; a leaked data key is not a way to build lookups), and it is not rotated by
``keys rotate`` unless asked to re-index (README, "Encryption at rest").
"""

from __future__ import annotations

import hashlib
import hmac

from application.pii import ContactKind, normalise_contact

MIN_KEY_BYTES = 32


class HmacBlindIndex:
    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the blind-index key needs at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def digest(self, kind: ContactKind, value: str) -> str | None:
        normal = normalise_contact(kind, value)
        if not normal:
            return None
        # The kind is part of the message: an e-mail digest can never match a phone digest.
        message = f"{kind.value}\x00{normal}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
