"""Which ``applicants`` columns hold sealed personal data, and sealing or opening a row's values.

Every personal value is its own envelope bound to ``applicants.<column>.<user_id>`` (see
``adapters/crypto/envelope.py``), so one field can be re-sealed, and a value copied into another
row or column does not open. E-mail, phone and PAN also get a blind-index column
(``<column>_bidx``) for equality lookups. Protected attributes (gender, marital status,
religion, caste) are sensitive personal data too and are sealed the same way.
"""

from __future__ import annotations

from typing import Any

from application.pii import Binding, ContactKind, PiiProtection

TABLE = "applicants"
PERSONAL = ("full_name", "date_of_birth", "phone", "email", "pan", "address")
PROTECTED = ("gender", "marital_status", "religion", "caste")
SEALED = PERSONAL + PROTECTED
#: Columns with a blind index: column -> what its values are.
INDEXED: dict[str, ContactKind] = {"email": ContactKind.EMAIL, "phone": ContactKind.PHONE,
                                   "pan": ContactKind.PAN}


def index_column(column: str) -> str:
    return f"{column}_bidx"


INDEX_COLUMNS = tuple(index_column(c) for c in INDEXED)


def binding(column: str, user_id: str) -> Binding:
    return Binding(TABLE, column, user_id)


def seal_values(user_id: str, plain: dict[str, str | None], pii: PiiProtection
                ) -> dict[str, str | None]:
    """Sealed column values for ``plain`` (column -> plaintext or ``None``), with the blind
    indexes of the indexed columns. ``None`` stays ``None`` (absent is not secret)."""
    sealed: dict[str, str | None] = {}
    for column, value in plain.items():
        sealed[column] = None if value is None else pii.cipher.seal(value, binding(column, user_id))
        kind = INDEXED.get(column)
        if kind is not None:
            sealed[index_column(column)] = None if value is None else pii.index.digest(kind, value)
    return sealed


def open_values(row: Any, pii: PiiProtection, columns: tuple[str, ...] = SEALED
                ) -> dict[str, str | None]:
    """Plaintext of ``row``'s sealed columns; raises ``PiiCryptoError`` for any value that does
    not open (never returns a value of another row or column)."""
    user_id = row.user_id
    opened: dict[str, str | None] = {}
    for column in columns:
        value = getattr(row, column)
        opened[column] = None if value is None else pii.cipher.open(value, binding(column, user_id))
    return opened
