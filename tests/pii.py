"""Keys for tests.

``dev_pii()`` is what the dev profile uses without configured keys (``config/pii_keys.py``): the
stores tests build by hand agree with the CLI and the app they also run in the dev profile.
``pii_settings(...)`` gives fresh random keys, for tests of the keys themselves."""

from __future__ import annotations

from functools import cache

from adapters.crypto.keys import (
    generate_index_key,
    generate_key_entry,
    parse_index_key,
    parse_keyring,
)
from application.pii import PiiProtection
from config.pii_keys import DEV_PII_INDEX_KEY, DEV_PII_KEYS


@cache
def dev_pii() -> PiiProtection:
    return PiiProtection(cipher=parse_keyring(DEV_PII_KEYS),
                         index=parse_index_key(DEV_PII_INDEX_KEY))


def pii_settings(*key_ids: str) -> dict[str, str]:
    """``Settings`` overrides with fresh random keys named ``key_ids`` (first seals)."""
    entries = [generate_key_entry(k) for k in key_ids or ("test",)]
    return {"pii_keys": ",".join(entries), "pii_index_key": generate_index_key()}
