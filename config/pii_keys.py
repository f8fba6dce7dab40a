"""The keyring and blind-index key from settings: the value, or a secret file, or (dev only) the
public development keys.

Both a value and a file may not be set at once (which would win is a question nobody should have
to answer during an incident). The development keys are fixed, not generated, because
``migrate``, ``seed`` and ``serve`` run as separate processes and must agree; they are public,
so the dev profile says so at every start, and prod refuses to run without real keys.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import SecretStr

from adapters.crypto.keys import KeyMaterialError, parse_index_key, parse_keyring
from application.pii import PiiProtection
from config.settings import InsecureConfiguration, Settings

log = logging.getLogger(__name__)

#: Public development keys (base64url of fixed bytes): dev and tests only.
DEV_PII_KEYS = "dev:" + "ZGV2LW9ubHktcGlpLWtleS1wdWJsaWMtbmV2ZXItcHI"
DEV_PII_INDEX_KEY = "ZGV2LW9ubHktYmxpbmQtaW5kZXgta2V5LXB1YmxpYy0"


def pii_protection(settings: Settings) -> PiiProtection:
    """Raises ``InsecureConfiguration`` in prod without keys, ``KeyMaterialError`` for keys that
    cannot be used (the message never quotes them)."""
    settings.check_pii_keys()
    keys = _secret(settings.pii_keys, settings.pii_keys_file, "LOAN_OFFERS_PII_KEYS")
    index = _secret(settings.pii_index_key, settings.pii_index_key_file,
                    "LOAN_OFFERS_PII_INDEX_KEY")
    if keys is None or index is None:
        log.warning("PII is sealed with the PUBLIC development %s: never store real personal "
                    "data this way (set LOAN_OFFERS_PII_KEYS and LOAN_OFFERS_PII_INDEX_KEY)",
                    " and ".join(n for n, v in (("keyring", keys), ("blind-index key", index))
                                 if v is None))
    return PiiProtection(cipher=parse_keyring(keys or DEV_PII_KEYS),
                         index=parse_index_key(index or DEV_PII_INDEX_KEY))


def _secret(value: SecretStr | None, file: Path | None, name: str) -> str | None:
    if value is not None and file is not None:
        raise InsecureConfiguration(f"set {name} or {name}_FILE, not both")
    if file is not None:
        try:
            return file.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyMaterialError(f"{name}_FILE {file}: {exc.strerror or exc}") from None
    return None if value is None else value.get_secret_value()
