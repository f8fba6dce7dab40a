"""Encryption at rest of personal data: the ports, their typed failures, and lookup normalisation.

The domain works on plaintext (:class:`~domain.applicant.PersonalDetails`); adapters that store
or cache applicants seal each personal value with a :class:`PiiCipher` before it leaves the
process and open it when it comes back. Lookups by e-mail, phone or PAN go through a
:class:`BlindIndex`: a keyed digest of the normalised value, stored next to the ciphertext, so
equality searches work without decrypting anything and without a plain hash (which anyone could
recompute for every phone number in India).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Binding:
    """Where a sealed value belongs: table (or cache), column (or field) and row key.

    It is authenticated with the value (AES-GCM associated data), so a ciphertext copied to
    another row or column, or swapped between two, fails to open instead of showing the wrong
    person's data.
    """

    table: str
    column: str
    row: str


class PiiCryptoError(Exception):
    """A sealed value could not be opened. Never carries plaintext or key material."""


class MalformedEnvelope(PiiCryptoError):
    """Not a sealed value this service wrote (wrong version, shape or encoding)."""


class UnknownKeyId(PiiCryptoError):
    """Sealed under a key id the keyring does not hold (a retired or foreign key)."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"sealed under key id {key_id!r}, which the keyring does not hold "
                         "(was it retired before `loan-offers keys rotate` finished?)")
        self.key_id = key_id


class IntegrityFailure(PiiCryptoError):
    """The authentication tag did not verify: the ciphertext was altered, or it was moved from
    another row, column or table (its binding differs)."""


class PiiCipher(Protocol):
    """Authenticated encryption of personal values, with several keys.

    Contract:

    * ``seal(plaintext, binding)`` encrypts under the *current* key (the keyring's first) and
      returns a self-describing ASCII envelope naming the key id (``key_id(envelope)``), safe
      to store in a text column or a cache. Sealing the same value twice gives different
      envelopes (random nonce).
    * ``open(envelope, binding)`` returns the plaintext for an envelope sealed by any key of the
      keyring with the *same* binding. It raises :class:`MalformedEnvelope` for anything that is
      not an envelope, :class:`UnknownKeyId` for a key it does not hold, and
      :class:`IntegrityFailure` for a tampered value or another binding. It never returns
      wrong plaintext.
    * ``is_envelope(value)`` tells sealed values from legacy plaintext (migrations); it checks the
      shape only.
    * ``current_key_id`` names the key ``seal`` uses; ``key_ids`` all keys, current first.
    """

    @property
    def current_key_id(self) -> str: ...

    @property
    def key_ids(self) -> tuple[str, ...]: ...

    def seal(self, plaintext: str, binding: Binding) -> str: ...

    def open(self, envelope: str, binding: Binding) -> str: ...

    def key_id(self, envelope: str) -> str: ...

    def is_envelope(self, value: str) -> bool: ...


class ContactKind(StrEnum):
    """The personal values the service can be asked to look an applicant up by."""

    EMAIL = "email"
    PHONE = "phone"
    PAN = "pan"


_NOT_DIGIT = re.compile(r"\D")


def normalise_contact(kind: ContactKind, value: str) -> str:
    """The form a blind index digests, so every spelling of one contact finds the same rows.

    E-mail: trimmed and lower-cased. PAN: trimmed and upper-cased. Phone: digits only, without
    India's country code (``+91 98765 43210``, ``098765 43210`` and ``9876543210`` are one
    number). Returns ``""`` for a value with nothing left (looked up, it finds nothing).
    """
    if kind is ContactKind.EMAIL:
        return value.strip().lower()
    if kind is ContactKind.PAN:
        return value.strip().upper()
    digits = _NOT_DIGIT.sub("", value)
    if len(digits) == 12 and digits.startswith("91"):
        return digits[2:]
    if len(digits) == 11 and digits.startswith("0"):
        return digits[1:]
    return digits


class BlindIndex(Protocol):
    """A keyed, deterministic digest for equality lookups of personal values.

    Contract: ``digest(kind, value)`` is the same for every spelling with the same
    :func:`normalise_contact` form and differs between kinds (an e-mail digest never matches a
    phone digest); ``None`` for a value whose normal form is empty. Without the key nobody can
    compute a digest, so a copied table does not reveal which row holds a known phone number.
    At most 64 ASCII characters.
    """

    def digest(self, kind: ContactKind, value: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class PiiProtection:
    """What a store of applicants needs to keep personal data sealed and findable."""

    cipher: PiiCipher
    index: BlindIndex
