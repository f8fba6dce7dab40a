"""A JSON Web Key Set fetched from ``file://`` or ``https://`` and cached by key id.

An unknown ``kid`` triggers one refresh (the identity provider rotated its keys). Concurrent
requests with the same unknown key wait on the refresh already in flight instead of fetching again
or failing, and refreshes are spaced by ``min_refresh_interval_s`` so a stream of tokens with made-up
key ids cannot turn the service into a JWKS-fetching amplifier.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKError, PyJWKSetError

log = logging.getLogger("loan_offers.auth")

Fetcher = Callable[[str], bytes]


def fetch_url(url: str, timeout_s: float = 5.0) -> bytes:
    """Blocking fetch of ``file://`` or ``https://`` (``http://`` only for loopback tests)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).read_bytes()
    if parsed.scheme == "https" or (parsed.scheme == "http"
                                     and parsed.hostname in ("127.0.0.1", "localhost", "::1")):
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        context = ssl.create_default_context() if parsed.scheme == "https" else None
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:
            return response.read(1_000_000)
    raise ValueError(f"JWKS URL must be file:// or https://, got {parsed.scheme or 'no'} scheme")


class JwksCache:
    def __init__(self, url: str, fetcher: Fetcher | None = None,
                 min_refresh_interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._url = url
        self._fetch = fetcher or fetch_url
        self._min_interval = min_refresh_interval_s
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._last_fetch: float | None = None
        self._in_flight: asyncio.Task[None] | None = None
        self.fetches = 0
        # Bumped by every key set loaded: what was verified with an older set is checked again
        # (adapters/auth/token_cache.py), so a withdrawn key stops working on the next reload.
        self.version = 0

    async def key(self, kid: str | None) -> PyJWK | None:
        """The key with this id, refreshing the set once if it is unknown; ``None`` if still
        unknown. A token without ``kid`` matches only a set holding exactly one key."""
        found = self._lookup(kid)
        if found is None and self._may_refresh():
            await self._refresh()
            found = self._lookup(kid)
        return found

    def _lookup(self, kid: str | None) -> PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _may_refresh(self) -> bool:
        if self._in_flight is not None or self._last_fetch is None:
            return True
        return self._clock() - self._last_fetch >= self._min_interval

    async def _refresh(self) -> None:
        if self._in_flight is None:
            self._in_flight = asyncio.ensure_future(self._load())
        task = self._in_flight
        try:
            # shield: one waiter being cancelled must not cancel the fetch the others wait on
            await asyncio.shield(task)
        except Exception as exc:
            log.error("JWKS refresh from %s failed: %s", self._url, exc)
        finally:
            if self._in_flight is task and task.done():
                self._in_flight = None

    async def _load(self) -> None:
        self._last_fetch = self._clock()
        self.fetches += 1
        raw = await asyncio.to_thread(self._fetch, self._url)
        try:
            keyset = PyJWKSet.from_dict(json.loads(raw))
        except (ValueError, PyJWKError, PyJWKSetError) as exc:
            raise ValueError(f"not a usable JWKS: {exc}") from exc
        keys = {k.key_id: k for k in keyset.keys if k.key_id}
        if not keys and len(keyset.keys) == 1:
            keys = {"": keyset.keys[0]}
        self._keys = keys
        self.version += 1
