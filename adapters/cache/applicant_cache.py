"""Applicant cache on aiocache: an in-process first level and an optional shared second level.

What is cached (README "Caching" has the table): applicants (credit profile, PII, behaviour
counters), key ``applicant:{user_id}``. The offer-history aggregates have their own cache
(``history_cache``: kept until the next write for the user); this cache forwards its
invalidations there.

L1 is an in-process ``SimpleMemoryCache`` holding the frozen domain objects themselves (no
serialisation on a hit); ``l1_ttl=0`` turns L1 off. L2 is Redis (``LOAN_OFFERS_REDIS_URL``),
holding JSON text under the ``loan-offers:`` prefix, readable with ``redis-cli``.

Invalidation: ``invalidate(user_id)`` drops the user's entries on both levels (applicant
data changed, or an offer of theirs was accepted or declined); ``invalidate_many`` for imports;
``invalidate_all`` for a new pricing policy. With Redis, each invalidation is also published
to the other processes, which drop the keys from their L1 (``invalidation_bus``); whatever that
best-effort broadcast misses lives at most ``l1_ttl`` seconds (5 s by default).

Personal data is never cached as plaintext, on either level: an applicant's personal details and
protected attributes are sealed (``PiiCipher``, bound to ``cache/applicant.personal/{user_id}``)
when it is put. L1 keeps the frozen applicant with those fields blanked next to the envelope,
L2 the JSON with ``personal_sealed`` in place of ``personal`` and ``protected``; a hit opens
the envelope (one AES-GCM decryption of ~200 bytes, README "Encryption at rest" has the cost).
An entry that does not open (a retired key, another user's entry) is a miss.

Fails open: a backend error, timeout or outage is logged, counted (``stats.errors``) and treated
as a miss or a no-op; it never fails a request. After an L2 error, reads and fills skip Redis
for ``retry_after`` seconds (a slow or dead Redis then costs nothing), then the next operation
probes it again, so a restarted Redis is used again without restarting the service.
Invalidations always try Redis.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, TypeVar

from aiocache.base import BaseCache

from adapters.cache.invalidation_bus import RedisInvalidationBus
from adapters.codecs import applicant_from_dict, applicant_to_dict
from application.pii import Binding, PiiCipher, PiiCryptoError
from application.ports import HistoryCache
from domain.applicant import Applicant, PersonalDetails, ProtectedAttributes

log = logging.getLogger(__name__)
T = TypeVar("T")

#: aiocache namespace of the Redis level: every key this service writes starts with
#: ``loan-offers:`` (``invalidate_all`` deletes exactly those).
REDIS_NAMESPACE = "loan-offers"
REDIS_PREFIX = f"{REDIS_NAMESPACE}:"
#: Keys per Redis DEL / SCAN batch.
BATCH = 500


class CacheStats:
    """Counters read by the metrics adapter and ``/readyz``."""

    def __init__(self) -> None:
        self.hits = {"l1": 0, "l2": 0}
        self.misses = 0
        self.errors = 0
        self.skipped = 0        # L2 operations skipped while Redis was failing
        self.invalidations = 0  # keys dropped by invalidate*

    # The cache reports through these (the metrics adapter overrides them to export too).
    def hit(self, level: str) -> None:
        self.hits[level] = self.hits.get(level, 0) + 1

    def miss(self) -> None:
        self.misses += 1

    def error(self, operation: str) -> None:
        self.errors += 1

    def skip(self) -> None:
        self.skipped += 1


def _identity(value: Any) -> Any:
    return value


#: Stand-ins for the sealed fields of an applicant held in L1 (never returned to a caller).
_BLANK_PERSONAL = PersonalDetails(full_name="", date_of_birth=date.min)
_BLANK_PROTECTED = ProtectedAttributes()


@dataclass(frozen=True, slots=True)
class _SealedApplicant:
    """An applicant as L1 holds it: everything but personal data, and that data sealed."""

    applicant: Applicant
    sealed: str


class _ApplicantSealer:
    """Seals and opens the personal part of cached applicants."""

    def __init__(self, cipher: PiiCipher) -> None:
        self._cipher = cipher

    @staticmethod
    def _binding(user_id: str) -> Binding:
        return Binding("cache", "applicant.personal", user_id)

    def seal(self, applicant: Applicant) -> _SealedApplicant:
        d = applicant_to_dict(applicant)
        plain = json.dumps({"personal": d["personal"], "protected": d["protected"]},
                           separators=(",", ":"))
        return _SealedApplicant(
            replace(applicant, personal=_BLANK_PERSONAL, protected=_BLANK_PROTECTED),
            self._cipher.seal(plain, self._binding(applicant.user_id)))

    def open(self, held: _SealedApplicant, user_id: str) -> Applicant:
        """Bound to the user id asked for, not the one the entry claims: an entry copied under
        another user's key does not open."""
        if held.applicant.user_id != user_id:
            raise ValueError("cache entry of another user")
        parts = json.loads(self._cipher.open(held.sealed, self._binding(user_id)))
        personal = dict(parts["personal"])
        personal["date_of_birth"] = date.fromisoformat(personal["date_of_birth"])
        return replace(held.applicant, personal=PersonalDetails(**personal),
                       protected=ProtectedAttributes(**parts["protected"]))

    def to_json(self, held: _SealedApplicant) -> dict[str, Any]:
        d = applicant_to_dict(held.applicant)
        del d["personal"], d["protected"]
        d["personal_sealed"] = held.sealed
        return d

    def from_json(self, d: dict[str, Any]) -> _SealedApplicant:
        d = dict(d)
        sealed = d.pop("personal_sealed")
        d["personal"] = {"full_name": "", "date_of_birth": date.min.isoformat()}
        d["protected"] = {}
        return _SealedApplicant(applicant_from_dict(d), sealed)


class AiocacheApplicantCache:
    """The ``ApplicantCache`` port. ``l2`` is an aiocache ``RedisCache`` (or any aiocache
    backend); values are written to it as text whatever its serializer (no double encoding)."""

    def __init__(self, l1: BaseCache, l1_ttl: float, l2: BaseCache | None = None,
                 l2_ttl: float = 300.0, stats: CacheStats | None = None,
                 on_error: Callable[[str, BaseException], None] | None = None,
                 retry_after: float = 1.0, monotonic: Callable[[], float] = time.monotonic,
                 bus: RedisInvalidationBus | None = None,
                 history: HistoryCache | None = None, *, cipher: PiiCipher) -> None:
        self._sealer = _ApplicantSealer(cipher)
        self._l1 = l1 if l1_ttl > 0 else None  # aiocache reads ttl=0 as "forever": 0 means off
        self._l1_ttl = l1_ttl
        self._l2, self._l2_ttl = l2, l2_ttl
        self._history = history  # its invalidations go along with ours
        self.stats = stats or CacheStats()
        self._on_error = on_error
        self._retry_after = retry_after
        self._monotonic = monotonic
        self._l2_down_until = 0.0
        self._bus = bus

    async def start(self) -> None:
        """Listen for other processes' invalidations (needs a running event loop)."""
        if self._bus is not None and self._l1 is not None:
            self._bus.start(self._drop_local)

    async def stop(self) -> None:
        if self._bus is not None:
            await self._bus.stop()

    async def _drop_local(self, keys: Iterable[str] | None) -> None:
        if self._l1 is None:
            return
        if keys is None:
            await self._safe("clear", self._l1.clear())
            return
        for key in keys:
            await self._safe("delete", self._l1.delete(key))

    @staticmethod
    def key(user_id: str) -> str:
        return f"applicant:{user_id}"

    # --- applicants -------------------------------------------------------------------------

    async def get(self, user_id: str) -> Applicant | None:
        return self._open(await self._get(self.key(user_id), self._sealer.from_json), user_id)

    # --- the steps of ``get``, for a caller reading Redis itself (``combined_read``) ---------

    async def get_local(self, user_id: str) -> Applicant | None:
        """L1 only: the applicant on a hit (counted), ``None`` otherwise (not counted)."""
        held = await self._get_l1(self.key(user_id))
        return None if held is None else self._open(held, user_id)

    def l2_key(self, user_id: str) -> str | None:
        """The Redis key of the user's entry, or ``None`` when there is no Redis level or it
        is skipped after an error (the caller then uses ``get``)."""
        if self._l2 is None or self._monotonic() < self._l2_down_until:
            return None
        return self._l2.build_key(self.key(user_id))

    async def from_l2(self, user_id: str, raw: bytes | str | None) -> Applicant | None:
        """What ``get`` returns once L1 missed and Redis answered ``raw`` for ``l2_key``."""
        self._l2_down_until = 0.0
        held = await self._decode_l2(self.key(user_id), raw, self._sealer.from_json)
        return self._open(held, user_id)

    def l2_failed(self, operation: str, exc: BaseException) -> None:
        """A caller's read of ``l2_key`` failed: count it (an error and a miss, as ``get``
        would), skip Redis for ``retry_after``."""
        self._count_error(operation, exc)
        self.stats.miss()
        self._l2_down_until = self._monotonic() + self._retry_after

    def _open(self, held: _SealedApplicant | None, user_id: str) -> Applicant | None:
        if held is None:
            return None
        try:
            return self._sealer.open(held, user_id)
        except (PiiCryptoError, ValueError, KeyError, TypeError) as exc:  # a miss, see above
            self._count_error("open", exc)
            return None

    async def put(self, applicant: Applicant) -> None:
        await self._put(self.key(applicant.user_id), self._sealer.seal(applicant),
                        self._sealer.to_json, self._l2_ttl)

    # --- invalidation -----------------------------------------------------------------------

    async def invalidate(self, user_id: str) -> None:
        await self.invalidate_many((user_id,))

    async def invalidate_many(self, user_ids: Iterable[str]) -> None:
        users = list(dict.fromkeys(user_ids))
        if self._history is not None:
            await self._history.invalidate_many(users)
        keys = [self.key(u) for u in users]
        if self._l1 is not None:
            for key in keys:
                await self._safe("delete", self._l1.delete(key))
        if self._l2 is not None:
            for start in range(0, len(keys), BATCH):
                names = [self._l2.build_key(k) for k in keys[start:start + BATCH]]
                await self._safe_l2("delete", lambda n=names: self._l2.raw("delete", *n),
                                    probe=True)
        await self._publish(keys)
        self.stats.invalidations += len(keys)

    async def invalidate_all(self) -> None:
        """Drop every entry: L1 of this process, and every ``loan-offers:`` key in Redis
        (SCAN, not KEYS, so Redis keeps serving while it runs) but the history cache's
        persistent keys."""
        if self._history is not None:
            await self._history.invalidate_all()
        if self._l1 is not None:
            await self._safe("clear", self._l1.clear())
        if self._l2 is not None:
            await self._safe_l2("clear", self._clear_l2, probe=True)
        await self._publish(None)

    async def _publish(self, keys: list[str] | None) -> None:
        if self._bus is not None:
            bus = self._bus
            await self._safe_l2("publish", lambda: bus.publish(keys), probe=True)

    async def _clear_l2(self) -> None:
        assert self._l2 is not None
        client = self._l2.client  # aiocache has no SCAN; its clear() uses KEYS
        keep = self._history.persistent_keys if self._history is not None else frozenset()
        batch: list[bytes] = []
        async for name in client.scan_iter(match=f"{REDIS_PREFIX}*", count=BATCH):
            if name in keep:
                continue
            batch.append(name)
            if len(batch) >= BATCH:
                await client.delete(*batch)
                self.stats.invalidations += len(batch)
                batch = []
        if batch:
            await client.delete(*batch)
            self.stats.invalidations += len(batch)

    async def health(self) -> str:
        """For ``/readyz``: ``disabled`` (no shared level), ``ok``, or ``down``. Probes Redis
        even inside the retry gap, without counting a failure as a cache error."""
        if self._l2 is None:
            return "disabled"
        try:
            await self._l2.exists("health-probe")
        except Exception:  # a probe reports, it does not raise
            return "down"
        return "ok"

    # --- the two levels ---------------------------------------------------------------------

    async def _get(self, key: str, decode: Callable[[dict[str, Any]], T]) -> T | None:
        hit = await self._get_l1(key)
        if hit is not None:
            return hit
        if self._l2 is None:
            self.stats.miss()
            return None
        raw = await self._safe_l2("get", lambda: self._l2.get(key, loads_fn=_identity))
        return await self._decode_l2(key, raw, decode)

    async def _get_l1(self, key: str) -> Any:
        if self._l1 is None:
            return None
        hit = await self._safe("get", self._l1.get(key))
        if hit is not None:
            self.stats.hit("l1")
        return hit

    async def _decode_l2(self, key: str, raw: bytes | str | None,
                         decode: Callable[[dict[str, Any]], T]) -> T | None:
        """Redis's answer ``raw`` after an L1 miss: the value (kept in L1 too), or a miss."""
        if raw is not None:
            try:
                value = decode(json.loads(raw))
            except (ValueError, KeyError, TypeError) as exc:  # foreign or old format: a miss
                self._count_error("decode", exc)
            else:
                self.stats.hit("l2")
                if self._l1 is not None:
                    await self._safe("set", self._l1.set(key, value, ttl=self._l1_ttl))
                return value
        self.stats.miss()
        return None

    async def _put(self, key: str, value: Any, encode: Callable[[Any], dict[str, Any]],
                   ttl: float) -> None:
        if self._l1 is not None:
            await self._safe("set", self._l1.set(key, value, ttl=self._l1_ttl))
        if self._l2 is not None:
            text = json.dumps(encode(value), separators=(",", ":"))
            await self._safe_l2("set", lambda: self._l2.set(key, text, ttl=ttl,
                                                            dumps_fn=_identity))

    async def _safe_l2(self, operation: str, call: Callable[[], Awaitable[Any]],
                       probe: bool = False) -> Any:
        """Run an L2 operation unless Redis failed within ``retry_after`` seconds (``probe``
        runs it anyway). Success closes the gap at once."""
        if not probe and self._monotonic() < self._l2_down_until:
            self.stats.skip()
            return None
        failed = False

        def note_failure(_operation: str, _exc: BaseException) -> None:
            nonlocal failed
            failed = True

        result = await self._safe(operation, call(), note_failure)
        self._l2_down_until = self._monotonic() + self._retry_after if failed else 0.0
        return result

    async def _safe(self, operation: str, awaitable: Awaitable[T],
                    on_failure: Callable[[str, BaseException], None] | None = None) -> T | None:
        try:
            return await awaitable
        except Exception as exc:  # fail open: the database is the source of truth
            self._count_error(operation, exc)
            if on_failure is not None:
                on_failure(operation, exc)
            return None

    def _count_error(self, operation: str, exc: BaseException) -> None:
        self.stats.error(operation)
        log.warning("cache %s failed, continuing without cache: %r", operation, exc)
        if self._on_error is not None:
            self._on_error(operation, exc)
