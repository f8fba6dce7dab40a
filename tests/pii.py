"""Keys for tests that build stores by hand: a fresh random keyring and blind-index key per test
run (the app's own container uses the settings, in tests the dev profile's public keys)."""

from __future__ import annotations

from functools import cache

from adapters.crypto.keys import (
    generate_index_key,
    generate_key_entry,
    parse_index_key,
    parse_keyring,
)
from application.pii import PiiProtection


@cache
def session_pii() -> PiiProtection:
    return PiiProtection(cipher=parse_keyring(generate_key_entry("test")),
                         index=parse_index_key(generate_index_key()))


def pii_settings(*key_ids: str) -> dict[str, str]:
    """``Settings`` overrides with fresh random keys named ``key_ids`` (first seals)."""
    entries = [generate_key_entry(k) for k in key_ids or ("test",)]
    return {"pii_keys": ",".join(entries), "pii_index_key": generate_index_key()}
